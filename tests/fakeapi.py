"""A fake OpenAI Images API served over real HTTP on 127.0.0.1, for the tests and bench/.

It enforces the rules of the real API (reference/openai-images-api.md §3, §4, §6, §8), returns real
images, records every request, and injects faults, latency, rate limits and quota on demand.
Run it alone with `python tests/fakeapi.py --port 8765 --latency 0.5`.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import json
import math
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image, ImageDraw

# The literal list of `openai/types/image_model.py` (SDK 3.54); test_fakeapi.py checks it still matches.
KNOWN_MODELS: tuple[str, ...] = (
    "gpt-image-1.5",
    "gpt-image-2",
    "gpt-image-2-2026-04-21",
    "gpt-image-2.5-sunburst",
    "gpt-image-2.5-sunburst-2026-09-08",
    "gpt-image-2.5-flare",
    "gpt-image-2.5-flare-2026-09-08",
    "gpt-image-2.6-sunburst",
    "gpt-image-2.6-flare",
    "gpt-image-1",
    "gpt-image-1-mini",
    "chatgpt-image-latest",
    "dall-e-2",
    "dall-e-3",
)

IMAGE_PATHS: dict[str, str] = {
    "/v1/images/generations": "generation",
    "/v1/images/edits": "edit",
    "/v1/images/variations": "variation",
}
IMAGE_KINDS = frozenset(IMAGE_PATHS.values())
LEGACY_PREFIX = "/v1/legacy-files/"

FAULT_KEYS = frozenset({
    "status", "code", "type", "message", "param", "retry_after", "drop", "hang", "headers", "body",
    "trickle", "delay", "junk", "bytes", "redirect", "chunked",
})
# A fault is one of these; the other keys refine it.
FAULT_KINDS = ("status", "drop", "hang", "trickle", "delay", "junk", "redirect")
# 200 answers that lie (`{"junk": KIND}`): what a broken proxy or a hostile server sends instead of an image.
JUNK_KINDS = ("invalid_json", "data_not_list", "null", "list", "no_data", "bad_item", "bad_base64", "not_image",
              "huge", "html")
# What `fault_rate` draws from unless `fault_mix` says otherwise: the transient failures a runner must survive.
DEFAULT_FAULT_MIX: tuple[dict[str, Any], ...] = (
    {"status": 500},
    {"status": 502},
    {"status": 429, "retry_after": 0.01},
    {"drop": "before"},
    {"drop": "after"},
)

_GPT_QUALITIES = ("auto", "low", "medium", "high")
_FIXED_GPT_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
_OUTPUT_FORMATS = ("png", "jpeg", "webp")
_CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
# Plausible output tokens per 1024x1024 image (gpt-image-1's published counts); only `usage` needs them.
_TOKENS_PER_MEGAPIXEL = {"low": 272, "medium": 1056, "auto": 1056, "high": 4160, "xhigh": 6240, "max": 8320}
_TOKENS_PER_INPUT_IMAGE = 323

_COMMON_GPT = frozenset(
    {"model", "prompt", "n", "size", "quality", "background", "complexity", "output_format",
     "output_compression", "partial_images", "stream", "safety_identifier", "user", "frame_count",
     "frame_duration_ms", "svg"}
)
_GEN_GPT_PARAMS = _COMMON_GPT | {"moderation"}
_EDIT_GPT_PARAMS = _COMMON_GPT | {"image", "mask", "markup", "input_fidelity"}
_GEN_DALLE_PARAMS = frozenset({"model", "prompt", "n", "size", "quality", "response_format", "user"})
# quality: CreateImageEditRequest lists it (standard among its values) for every model
_EDIT_DALLE_PARAMS = frozenset({"model", "prompt", "n", "size", "quality", "response_format", "user", "image", "mask"})
_VARIATION_PARAMS = frozenset({"model", "n", "size", "response_format", "user", "image"})


@dataclass(frozen=True)
class ModelProfile:
    """What the fake server accepts from one model."""

    legacy: bool  # DALL·E: url responses, no usage, no GPT-only parameters
    sizes: tuple[str, ...] | None  # None: the gpt-image-2 family rule (any WxH within limits, or auto)
    qualities: tuple[str, ...]
    prompt_limit: int
    max_n: int = 10
    max_edit_images: int = 16  # 0: no edits
    variations: bool = False
    style: bool = False
    markup: bool = False
    input_fidelity: tuple[str, ...] = ()


_GPT2 = ModelProfile(legacy=False, sizes=None, qualities=_GPT_QUALITIES, prompt_limit=32000)
_GPT25 = ModelProfile(
    legacy=False, sizes=None, qualities=(*_GPT_QUALITIES, "xhigh", "max"), prompt_limit=32000, markup=True
)
_GPT1 = ModelProfile(
    legacy=False, sizes=_FIXED_GPT_SIZES, qualities=_GPT_QUALITIES, prompt_limit=32000,
    input_fidelity=("high", "low"),
)
_GPT1_MINI = ModelProfile(
    legacy=False, sizes=_FIXED_GPT_SIZES, qualities=_GPT_QUALITIES, prompt_limit=32000, input_fidelity=("low",)
)
_DALLE3 = ModelProfile(
    legacy=True, sizes=("1024x1024", "1792x1024", "1024x1792"), qualities=("standard", "hd"),
    prompt_limit=4000, max_n=1, max_edit_images=0, style=True,
)
_DALLE2 = ModelProfile(
    legacy=True, sizes=("256x256", "512x512", "1024x1024"), qualities=("standard",), prompt_limit=1000,
    max_edit_images=1, variations=True,
)


def profile_for(model: str, extra_models: set[str] | frozenset[str] = frozenset()) -> ModelProfile | None:
    """Return the profile of a model name, or None when the server does not know it."""
    if model == "dall-e-3":
        return _DALLE3
    if model == "dall-e-2":
        return _DALLE2
    if model == "gpt-image-1-mini":
        return _GPT1_MINI
    if model in ("gpt-image-1", "gpt-image-1.5", "chatgpt-image-latest"):
        return _GPT1
    if model in ("gpt-image-2", "gpt-image-2-2026-04-21"):
        return _GPT2
    if model in KNOWN_MODELS:  # the 2.5 and 2.6 families
        return _GPT25
    if model in extra_models:
        return _GPT25  # extra models get the most permissive GPT profile
    return None


class ApiError(Exception):
    """An error response: HTTP status plus the API's {"error": {...}} fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """Return the JSON envelope the real API sends."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass
class RequestRecord:
    """One request as the server received and answered it."""

    index: int
    method: str
    path: str
    kind: str  # generation | edit | variation | legacy-file | responses | other
    headers: dict[str, str]
    started: float
    request_id: str
    peer: tuple[str, int] = ("", 0)  # the client's address: same port, same kept-alive connection
    body: bytes = b""
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, list[tuple[str, str, bytes]]] = field(default_factory=dict)
    finished: float | None = None
    status: int | None = None
    outcome: str | None = None  # ok | error | dropped-before | dropped-after
    fault: dict[str, Any] | None = None
    error_code: str | None = None
    images: int = 0  # images produced (billed) for this request

    @property
    def params(self) -> dict[str, Any]:
        """Return the request's parameters: the JSON object, or the multipart form fields."""
        return self.json if isinstance(self.json, dict) else dict(self.form)

    @property
    def model(self) -> str | None:
        """Return the `model` parameter, if any."""
        value = self.params.get("model")
        return value if isinstance(value, str) else None

    @property
    def prompt(self) -> str | None:
        """Return the `prompt` parameter, if any."""
        value = self.params.get("prompt")
        return value if isinstance(value, str) else None

    @property
    def seconds(self) -> float | None:
        """Return how long the server took over this request."""
        return None if self.finished is None else self.finished - self.started


@dataclass
class _Reply:
    """What the handler should do: write a response, or close the socket without one."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: str | None = None  # before | after
    delay: float = 0.0  # seconds before the status line (slow headers)
    trickle: float | None = None  # seconds between single bytes of the body
    stream_bytes: int | None = None  # a body this long, streamed (and never held) instead of `body`
    chunked: bool = False  # stream it with Transfer-Encoding: chunked, no Content-Length


def _json_reply(status: int, obj: Any, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, json.dumps(obj, separators=(",", ":")).encode(), "application/json", headers or {})


def _retry_headers(seconds: float) -> dict[str, str]:
    # retry-after-ms keeps tests in milliseconds; retry-after stays a standard integer, rounded up.
    return {"retry-after-ms": str(max(0, round(seconds * 1000))), "retry-after": str(max(0, math.ceil(seconds)))}


def go_duration(seconds: float) -> str:
    """Format seconds as the rate-limit headers do (Go's time.Duration): 20ms, 1.5s, 6m0s, 1h2m3s."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{int(minutes)}m{text}"
    return text


def check_fault(fault: dict[str, Any] | None) -> None:
    """Raise ValueError for a fault spec the server would not understand."""
    if fault is None:
        return
    if not isinstance(fault, dict):
        raise ValueError(f"a fault must be a dict or None, not {fault!r}")
    unknown = set(fault) - FAULT_KEYS
    if unknown:
        raise ValueError(f"unknown fault keys {sorted(unknown)}; known: {sorted(FAULT_KEYS)}")
    kinds = [k for k in FAULT_KINDS if k in fault and not (k == "status" and "junk" in fault)]
    if len(kinds) != 1:
        raise ValueError(f"a fault needs exactly one of {', '.join(FAULT_KINDS)}: {fault!r}")
    if "drop" in fault and fault["drop"] not in ("before", "after"):
        raise ValueError(f"drop must be 'before' or 'after': {fault!r}")
    if "junk" in fault and fault["junk"] not in JUNK_KINDS:
        raise ValueError(f"junk must be one of {', '.join(JUNK_KINDS)}: {fault!r}")


# --- images -------------------------------------------------------------------------------------------


def _colour(seed: bytes) -> tuple[int, int, int]:
    digest = hashlib.sha256(seed).digest()
    return digest[0], digest[1], digest[2]


@lru_cache(maxsize=64)
def render_image(width: int, height: int, fmt: str, rgb: tuple[int, int, int], transparent: bool = False) -> bytes:
    """Encode a simple picture once per (size, format, colour); callers stamp it per request."""
    mode = "RGBA" if transparent else "RGB"
    fill = (*rgb, 255) if transparent else rgb
    img = Image.new(mode, (width, height), fill)
    draw = ImageDraw.Draw(img)
    inverse = tuple(255 - c for c in rgb)
    # A diagonal band, so a frame is not a flat swatch and orientation is visible in thumbnails.
    draw.polygon([(0, height), (width // 3, 0), (width // 2, 0), (width // 6, height)], fill=inverse)
    if transparent:
        border = max(1, min(width, height) // 8)
        draw.rectangle([0, 0, width - 1, border], fill=(0, 0, 0, 0))
    out = io.BytesIO()
    if fmt == "png":
        img.save(out, "PNG", compress_level=1)
    elif fmt == "jpeg":
        img.save(out, "JPEG", quality=80)
    else:
        # xmp forces the extended (VP8X) layout, in which extra chunks such as our stamp are legal.
        img.save(out, "WEBP", quality=80, method=0, xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    return out.getvalue()


def stamp_image(data: bytes, fmt: str, tag: str) -> bytes:
    """Return the image with `tag` embedded as metadata, so every response has distinct bytes."""
    raw = tag.encode()
    if fmt == "png":
        chunk_data = b"Comment\x00" + raw
        chunk = struct.pack(">I", len(chunk_data)) + b"tEXt" + chunk_data
        chunk += struct.pack(">I", zlib.crc32(b"tEXt" + chunk_data) & 0xFFFFFFFF)
        return data[:-12] + chunk + data[-12:]  # IEND is always the last 12 bytes
    if fmt == "jpeg":
        # After SOI and the JFIF APP0 segment, which strict readers expect first.
        at = 4 + struct.unpack(">H", data[4:6])[0] if data[2:4] == b"\xff\xe0" else 2
        return data[:at] + b"\xff\xfe" + struct.pack(">H", len(raw) + 2) + raw + data[at:]
    if fmt == "webp":
        payload = raw + (b"\x00" if len(raw) % 2 else b"")
        out = data + b"RQID" + struct.pack("<I", len(raw)) + payload
        return out[:4] + struct.pack("<I", len(out) - 8) + out[8:]
    raise ValueError(f"cannot stamp format {fmt!r}")


def sniff_image(data: bytes) -> str | None:
    """Return png, jpeg or webp from the file's magic bytes, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


# --- request parsing ----------------------------------------------------------------------------------


_DISPOSITION_NAME = re.compile(r'(?:^|;)\s*name="((?:[^"\\]|\\.)*)"')
_DISPOSITION_FILENAME = re.compile(r'(?:^|;)\s*filename="((?:[^"\\]|\\.)*)"')


def parse_multipart(
    body: bytes, content_type: str
) -> tuple[dict[str, str], dict[str, list[tuple[str, str, bytes]]]]:
    """Split a multipart/form-data body into text fields and files (name -> [(filename, type, bytes)])."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ApiError(400, "Invalid multipart/form-data body: the Content-Type has no boundary.")
    delimiter = b"--" + match.group(1).encode()
    form: dict[str, str] = {}
    files: dict[str, list[tuple[str, str, bytes]]] = {}
    parts = body.split(delimiter)
    if len(parts) < 3:
        raise ApiError(400, "Invalid multipart/form-data body: no parts found.")
    for part in parts[1:]:
        if part.startswith(b"--"):
            break  # the closing delimiter
        part = part.removeprefix(b"\r\n")
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:
            raise ApiError(400, "Invalid multipart/form-data body: a part has no header block.")
        content = content.removesuffix(b"\r\n")  # the CRLF belongs to the next delimiter
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name_match = _DISPOSITION_NAME.search(disposition)
        if not name_match:
            raise ApiError(400, "Invalid multipart/form-data body: a part has no field name.")
        name = name_match.group(1)
        filename_match = _DISPOSITION_FILENAME.search(disposition)
        if filename_match is not None:
            ctype = headers.get("content-type", "application/octet-stream")
            files.setdefault(name, []).append((filename_match.group(1), ctype, content))
        else:
            form[name] = content.decode("utf-8", "replace")
    return form, files


def _param_root(name: str) -> str:
    # Multipart spells arrays and objects as image[] and svg[model]; the parameter is the root name.
    return name.split("[", 1)[0]


def _supported(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


# --- the server ---------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Parse HTTP, hand the request to FakeImagesAPI, write or drop the reply."""

    protocol_version = "HTTP/1.1"  # keep-alive: the SDK reuses connections
    disable_nagle_algorithm = True  # otherwise delayed ACKs stall each response by ~40 ms
    server: _HTTPServer

    def setup(self) -> None:
        """Register the connection, so stop() can close it even while idle."""
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        """Forget the connection."""
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing: test output stays clean."""

    def do_GET(self) -> None:
        """Handle a GET request."""
        self._handle()

    def do_POST(self) -> None:
        """Handle a POST request."""
        self._handle()

    def do_PUT(self) -> None:
        """Handle a PUT request."""
        self._handle()

    def do_DELETE(self) -> None:
        """Handle a DELETE request."""
        self._handle()

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _stream(self, head: bytes, length: int, *, chunked: bool = False) -> None:
        """Write `head`, then filler up to `length` bytes, never holding the whole body."""

        def write(piece: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)

        write(head[:length])
        left = length - min(len(head), length)
        chunk = b"A" * (1 << 16)
        while left > 0 and not self.server.fake._stopping.is_set():
            piece = chunk[: min(left, len(chunk))]
            write(piece)
            left -= len(piece)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _handle(self) -> None:
        fake = self.server.fake
        headers = {k.lower(): v for k, v in self.headers.items()}
        rec = fake._new_record(self.command, self.path.split("?", 1)[0], headers)
        rec.peer = (str(self.client_address[0]), int(self.client_address[1]))
        try:
            rec.body = self._read_body()
            reply = fake._route(rec)
        except Exception as exc:  # a bug in the fake must show up as a 500, not a hung client
            reply = _json_reply(500, ApiError(500, f"fake server bug: {exc!r}", type="server_error").body())
        try:
            if reply.drop:
                rec.outcome = f"dropped-{reply.drop}"
                self.close_connection = True
                return
            rec.status = reply.status
            rec.outcome = "ok" if reply.status < 400 else "error"
            if reply.delay and not fake._sleep(reply.delay):
                rec.outcome = "dropped-before"
                self.close_connection = True
                return
            length = reply.stream_bytes if reply.stream_bytes is not None else len(reply.body)
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            if reply.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(length))
            headers = {"x-request-id": rec.request_id, **{k.lower(): v for k, v in reply.headers.items()}}
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if reply.stream_bytes is not None:
                self._stream(reply.body, reply.stream_bytes, chunked=reply.chunked)
            elif reply.trickle is not None:
                for i in range(len(reply.body)):
                    if not fake._sleep(reply.trickle):
                        self.close_connection = True
                        return
                    self.wfile.write(reply.body[i:i + 1])
            else:
                # Recorded as finished before the last write: a client that has read the answer
                # always finds its record complete.
                fake._finish(rec)
                self.wfile.write(reply.body)
        except OSError:
            self.close_connection = True  # the client went away; the record keeps what we meant to send
        finally:
            fake._finish(rec)


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its FakeImagesAPI."""

    daemon_threads = True
    # socketserver's backlog of 5 stalls (or resets) connections when more clients connect at once
    request_queue_size = 256
    fake: FakeImagesAPI


class FakeImagesAPI:
    """A fake OpenAI Images API on 127.0.0.1; a context manager; knobs may be changed while it runs."""

    def __init__(
        self,
        *,
        port: int = 0,
        latency: float | Callable[[RequestRecord], float] = 0.0,
        ipm: int | None = None,
        window_seconds: float = 60.0,
        quota_images: int | None = None,
        fault_rate: float = 0.0,
        seed: int | None = None,
    ) -> None:
        self.port = port
        self.latency = latency
        self.ipm = ipm
        self.window_seconds = window_seconds
        self.quota_images = quota_images
        self.fault_rate = fault_rate
        self.fault_mix: list[dict[str, Any]] = [dict(f) for f in DEFAULT_FAULT_MIX]
        self.extra_models: set[str] = set()
        self.extra_params: set[str] = set()  # parameter names accepted beyond the model's own
        # A compatible server that answers legacy models with URLs whatever response_format asks.
        self.urls_always = False
        self.responses_reply: dict[str, Any] | Callable[[RequestRecord], dict[str, Any]] = {
            "error": {
                "message": "The fake API has no canned reply for /v1/responses: set FakeImagesAPI.responses_reply.",
                "type": "invalid_request_error",
                "param": None,
                "code": "not_found",
            }
        }
        self.responses_status: int | None = None  # None: 404 when the reply holds "error", else 200
        # Rate limits as real servers report them: the x-ratelimit-* triples on every image answer while
        # a limit is set, and on a 429 the hint named by retry_hint: "ms" (retry-after-ms and
        # retry-after), "seconds" (retry-after alone, whole seconds), "date" (an HTTP date), "none".
        self.ratelimit_headers = True
        # Sent instead of the triples the limits make, e.g. a generous requests-per-minute triple while
        # `ipm` (images per minute, which no header reports) is what binds, as on OpenAI.
        self.fixed_ratelimit_headers: dict[str, str] | None = None
        # "window": at most `ipm` images in any `window_seconds` (slots free as old ones age out);
        # "bucket": a bucket of `ipm` images refilled continuously over `window_seconds`, as OpenAI's.
        self.limiter = "window"
        self.retry_hint = "ms"
        self.token_limit: int | None = None  # output tokens allowed per window (the -tokens triple)
        # Server-given fields that echo the caller's bearer token back: any of "code", "message",
        # "request_id", "revised_prompt", "type". A hostile or careless server; nothing may reach a file.
        self.echo_key: set[str] = set()
        # Faults of the legacy URL downloads, one per GET (status, drop, trickle, delay, redirect:
        # "self" for a loop, else the Location to send), and the URL put in a legacy response.
        self.legacy_faults: list[dict[str, Any] | None] = []
        self.legacy_url: Callable[[str], str] | None = None
        self.urls_always = False  # answer legacy models with a URL even when b64_json was asked (some servers do)
        # Accept HTTP Basic credentials (what httpx sends for a base URL with user:password@) as a key.
        self.basic_auth_ok = False
        self._faults: list[dict[str, Any] | None] | Callable[[int, RequestRecord], dict[str, Any] | None] = []
        self._seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._legacy_files: dict[str, bytes] = {}
        self._counter = 0  # request ids are never reused, even across reset()
        self.reset()

    # -- lifecycle

    def start(self) -> FakeImagesAPI:
        """Bind 127.0.0.1 and serve in a daemon thread."""
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", self.port), _Handler)
        httpd.fake = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-images-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection, waking sleeping handlers."""
        httpd = self._httpd
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            # Idle keep-alive connections would otherwise go on answering after stop().
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FakeImagesAPI:
        """Start the server."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop the server."""
        self.stop()

    @property
    def base_url(self) -> str:
        """Return the URL to give the SDK, e.g. http://127.0.0.1:PORT/v1."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- knobs and state

    @property
    def faults(self) -> list[dict[str, Any] | None] | Callable[[int, RequestRecord], dict[str, Any] | None]:
        """Return the faults still to come (a list, consumed one per image request), or the fault callable."""
        return self._faults

    @faults.setter
    def faults(
        self, value: list[dict[str, Any] | None] | Callable[[int, RequestRecord], dict[str, Any] | None]
    ) -> None:
        if not callable(value):
            value = list(value)
            for fault in value:
                check_fault(fault)
        with self._lock:
            self._faults = value

    @property
    def seed(self) -> int | None:
        """Return the seed of the random fault injection."""
        return self._seed

    @seed.setter
    def seed(self, value: int | None) -> None:
        with self._lock:
            self._seed = value
            self._rng = random.Random(value)

    def reset(self) -> None:
        """Forget recorded requests, counters, the rate-limit window and billing; knobs stay."""
        with self._lock:
            self.requests: list[RequestRecord] = []
            self._image_index = 0
            self._in_flight = getattr(self, "_in_flight", 0)
            self._max_in_flight = self._in_flight
            self._billed = 0
            self._reserved = getattr(self, "_reserved", 0)
            self._window: deque[float] = deque()
            self._token_window: deque[tuple[float, int]] = deque()
            self._bucket: tuple[float, float] | None = None  # (images available, when), "bucket" limiter

    def image_requests(self) -> list[RequestRecord]:
        """Return the generation, edit and variation requests, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.kind in IMAGE_KINDS]

    @property
    def in_flight(self) -> int:
        """Return how many image requests are being handled now."""
        return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """Return the peak number of image requests handled at once."""
        return self._max_in_flight

    @property
    def billed(self) -> int:
        """Return the images the server did the work for (ok responses and drops after work)."""
        return self._billed

    # -- plumbing used by the handler

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _new_record(self, method: str, path: str, headers: dict[str, str]) -> RequestRecord:
        kind = IMAGE_PATHS.get(path) if method == "POST" else None
        if kind is None:
            if method == "GET" and path.startswith(LEGACY_PREFIX):
                kind = "legacy-file"
            elif method == "POST" and path == "/v1/responses":
                kind = "responses"
            else:
                kind = "other"
        with self._lock:
            self._counter += 1
            rec = RequestRecord(
                index=len(self.requests), method=method, path=path, kind=kind, headers=headers,
                started=time.monotonic(), request_id=f"req_{self._counter}",
            )
            self.requests.append(rec)
            if kind in IMAGE_KINDS:
                self._in_flight += 1
                self._max_in_flight = max(self._max_in_flight, self._in_flight)
        return rec

    def _finish(self, rec: RequestRecord) -> None:
        with self._lock:
            if rec.finished is not None:
                return  # once per request
            rec.finished = time.monotonic()
            if rec.kind in IMAGE_KINDS:
                self._in_flight -= 1

    def _next_fault(self, rec: RequestRecord) -> dict[str, Any] | None:
        with self._lock:
            index = self._image_index
            self._image_index += 1
            faults = self._faults
            fault: dict[str, Any] | None = None
            if callable(faults):
                pass
            elif faults:
                fault = faults.pop(0)
                check_fault(fault)  # entries appended directly to .faults skipped the setter's check
            elif self.fault_rate > 0 and self._rng.random() < self.fault_rate:
                fault = dict(self._rng.choice(self.fault_mix))
        if callable(faults):
            fault = faults(index, rec)  # called outside the lock: it may inspect the server
            check_fault(fault)
        return fault

    def _sleep(self, seconds: float) -> bool:
        """Wait, unless the server stops first; return False when it stopped."""
        return not self._stopping.wait(seconds) if seconds > 0 else not self._stopping.is_set()

    # -- routing

    def _route(self, rec: RequestRecord) -> _Reply:
        reply = self._answer(rec)
        if "request_id" in self.echo_key and self._token(rec):
            reply.headers = {**reply.headers, "x-request-id": f"req_{self._token(rec)}"}
        return reply

    def _answer(self, rec: RequestRecord) -> _Reply:
        if rec.kind == "legacy-file":
            return self._legacy_file(rec)
        if rec.kind == "other":
            return self._error(rec, ApiError(404, f"Invalid URL ({rec.method} {rec.path})"))
        fault = self._next_fault(rec) if rec.kind in IMAGE_KINDS else None
        rec.fault = fault
        try:
            self._check_auth(rec)
            if fault is not None and "junk" in fault:
                return self._junk(fault)
            if fault is not None and "status" in fault:
                return self._fault_reply(rec, fault)
            if fault is not None and "drop" in fault and fault["drop"] == "before":
                return _Reply(drop="before")
            if fault is not None and "hang" in fault:
                self._sleep(float(fault["hang"]))
                return _Reply(drop="before")  # a black hole: nothing done, nothing billed
            self._parse_body(rec)
            if rec.kind == "responses":
                return self._responses(rec)
            reply = self._image(rec, drop_after=fault is not None and fault.get("drop") == "after")
        except ApiError as err:
            return self._error(rec, err)
        if fault is not None and "trickle" in fault:
            reply.trickle = float(fault["trickle"])  # the work is done (and billed); its answer crawls
        if fault is not None and "delay" in fault:
            reply.delay = float(fault["delay"])  # done, but the status line comes late
        return reply

    def _token(self, rec: RequestRecord) -> str:
        """Return the caller's secret: the bearer key, or the password of Basic credentials."""
        scheme, _, token = rec.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError):
                return base64.b64decode(token.strip()).decode("utf-8", "replace").partition(":")[2]
            return ""
        return token.strip() if scheme.lower() == "bearer" else ""

    def _error(self, rec: RequestRecord, err: ApiError) -> _Reply:
        token = self._token(rec)
        if token and self.echo_key & {"code", "message", "type"}:
            body = err.body()
            if "code" in self.echo_key:
                body["error"]["code"] = f"invalid_key_{token}"
            if "type" in self.echo_key:
                body["error"]["type"] = f"error_{token}"
            if "message" in self.echo_key:
                body["error"]["message"] = f"{err.message} (your key: {token})"
            rec.error_code = body["error"]["code"]
            return _json_reply(err.status, body, err.headers)
        rec.error_code = err.code
        return _json_reply(err.status, err.body(), err.headers)

    def _junk(self, fault: dict[str, Any]) -> _Reply:
        """Answer with a body that is not what the API sends (`status` defaults to 200)."""
        status, kind = int(fault.get("status", 200)), fault["junk"]
        if kind == "invalid_json":
            return _Reply(status, b'{"created": 1, "data": [{"b64_json": "iVBORw0KGgo', "application/json")
        if kind == "html":
            return _Reply(status, b"<html><body>Welcome to the captive portal</body></html>", "text/html")
        if kind == "huge":
            head = b'{"created": 1, "data": [{"b64_json": "'
            reply = _Reply(status, head, "application/json", stream_bytes=int(fault.get("bytes", 1 << 30)))
            reply.chunked = bool(fault.get("chunked"))  # no Content-Length to warn the client
            return reply
        bodies: dict[str, Any] = {
            "data_not_list": {"created": 1, "data": "an image"},
            "null": None,
            "list": [{"b64_json": "iVBORw0KGgo="}],
            "no_data": {"created": 1},
            "bad_item": {"created": 1, "data": [42]},
            "bad_base64": {"created": 1, "data": [{"b64_json": "!!! not base64 !!!"}]},
            "not_image": {"created": 1, "data": [{"b64_json": base64.b64encode(b"hello, not an image").decode()}]},
        }
        return _json_reply(status, bodies[kind])

    def _legacy_file(self, rec: RequestRecord) -> _Reply:
        with self._lock:
            fault = self.legacy_faults.pop(0) if self.legacy_faults else None
        rec.fault = fault
        if fault is not None:
            check_fault(fault)
            if "status" in fault:
                return self._error(rec, ApiError(int(fault["status"]), "Legacy image download failed.",
                                                 type="server_error"))
            if "drop" in fault:
                return _Reply(drop="before")
            if "hang" in fault:
                self._sleep(float(fault["hang"]))
                return _Reply(drop="before")
            if "redirect" in fault:
                target = rec.path if fault["redirect"] == "self" else str(fault["redirect"])
                return _Reply(302, b"", "text/plain", {"Location": target})
        data = self._legacy_files.get(rec.path[len(LEGACY_PREFIX):].removesuffix(".png"))
        if data is None:
            return self._error(rec, ApiError(404, "This legacy image URL does not exist.", code="not_found"))
        reply = _Reply(200, data, "image/png")
        if fault is not None and "trickle" in fault:
            reply.trickle = float(fault["trickle"])
        if fault is not None and "delay" in fault:
            reply.delay = float(fault["delay"])
        return reply

    def _check_auth(self, rec: RequestRecord) -> None:
        auth = rec.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if self.basic_auth_ok and scheme.lower() == "basic" and token.strip():
            return
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code="invalid_api_key",
            )

    def _fault_reply(self, rec: RequestRecord, fault: dict[str, Any]) -> _Reply:
        status = int(fault["status"])
        headers = dict(fault.get("headers") or {})
        if fault.get("retry_after") is not None:
            headers.update(_retry_headers(float(fault["retry_after"])))
        if "body" in fault:
            body = fault["body"]
            if isinstance(body, (dict, list)):
                return _json_reply(status, body, headers)
            raw = body.encode() if isinstance(body, str) else bytes(body)
            return _Reply(status, raw, "text/plain", headers)
        if status == 502:
            # What a proxy in front of the API really sends: HTML, not JSON.
            html = b"<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>"
            rec.error_code = None
            return _Reply(status, html, "text/html", headers)
        message, type_, code = {
            400: ("Bad request.", "invalid_request_error", None),
            401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
            403: ("Country, region, or territory not supported.", "request_forbidden",
                  "unsupported_country_region_territory"),
            404: ("Not found.", "invalid_request_error", "not_found"),
            408: ("Request timed out.", "invalid_request_error", "timeout"),
            409: ("The request conflicted with another request.", "invalid_request_error", "conflict"),
            429: ("Rate limit reached for images per minute. Please try again later.", "requests",
                  "rate_limit_exceeded"),
            503: ("The engine is currently overloaded, please try again later.", "server_error", None),
        }.get(status, ("The server had an error while processing your request. Sorry about that!",
                       "server_error", None))
        code = fault.get("code", code)
        if code == "insufficient_quota":
            message, type_ = (
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
            )
        err = ApiError(
            status, fault.get("message", message), type=fault.get("type", type_), param=fault.get("param"),
            code=code, headers=headers,
        )
        return self._error(rec, err)

    def _parse_body(self, rec: RequestRecord) -> None:
        ctype = rec.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            rec.form, rec.files = parse_multipart(rec.body, ctype)
            return
        if not rec.body:
            rec.json = {}
            return
        try:
            rec.json = json.loads(rec.body)
        except ValueError:
            raise ApiError(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
                "your HTTP library correctly.)",
            ) from None

    def _responses(self, rec: RequestRecord) -> _Reply:
        reply = self.responses_reply(rec) if callable(self.responses_reply) else self.responses_reply
        status = self.responses_status or (404 if reply.get("error") else 200)
        return _json_reply(status, reply)

    # -- the images endpoints

    def _image(self, rec: RequestRecord, *, drop_after: bool) -> _Reply:
        job = self._validate(rec)
        n = job["n"]
        limits = self._admit(n, self._output_tokens(job))
        reserved = n  # released below unless the work is done and billed
        try:
            if re.search(r"\bFORBIDDEN\b", job["prompt"]):
                if job["profile"].legacy:
                    raise ApiError(
                        400,
                        "Your request was rejected as a result of our safety system. Your prompt may contain "
                        "text that is not allowed by our safety system.",
                        code="content_policy_violation",
                    )
                raise ApiError(
                    400,
                    "Your request was rejected by the safety system. If you believe this is an error, contact "
                    "us at help.openai.com and include the request ID.",
                    type="image_generation_user_error",
                    code="moderation_blocked",
                )
            latency = self.latency(rec) if callable(self.latency) else self.latency
            if not self._sleep(float(latency)):
                return _Reply(drop="before")  # stopping: the work never finished
            body = self._make_response(rec, job)
            with self._lock:
                self._billed += n
                self._reserved -= n
                reserved = 0
            rec.images = n
        finally:
            if reserved:
                with self._lock:
                    self._reserved -= reserved
        if drop_after:
            return _Reply(drop="after")
        return _json_reply(200, body, limits)

    def _output_tokens(self, job: dict[str, Any]) -> int:
        per_image = _TOKENS_PER_MEGAPIXEL.get(job["quality"], 1056) * job["width"] * job["height"] / (1024 * 1024)
        return round(per_image) * job["n"]

    def _limit_headers(self, now: float) -> dict[str, str]:
        """Return the x-ratelimit-* triples: limit, remaining, and the time until all of it is back."""
        headers: dict[str, str] = {}
        if not self.ratelimit_headers:
            return headers
        if self.fixed_ratelimit_headers is not None:
            return dict(self.fixed_ratelimit_headers)
        if self.ipm is not None:
            if self.limiter == "bucket":
                level = self._bucket_level(now)
                remaining, reset = math.floor(level), (self.ipm - level) * self.window_seconds / self.ipm
            else:
                window = self._window
                remaining = self.ipm - len(window)
                reset = window[-1] + self.window_seconds - now if window else 0.0
            headers.update({
                "x-ratelimit-limit-requests": str(self.ipm),
                "x-ratelimit-remaining-requests": str(max(0, remaining)),
                "x-ratelimit-reset-requests": go_duration(reset),
            })
        if self.token_limit is not None:
            used = sum(t for _, t in self._token_window)
            reset = self._token_window[-1][0] + self.window_seconds - now if self._token_window else 0.0
            headers.update({
                "x-ratelimit-limit-tokens": str(self.token_limit),
                "x-ratelimit-remaining-tokens": str(max(0, self.token_limit - used)),
                "x-ratelimit-reset-tokens": go_duration(reset),
            })
        return headers

    def _bucket_level(self, now: float) -> float:
        assert self.ipm is not None
        level, at = self._bucket if self._bucket is not None else (float(self.ipm), now)
        return min(float(self.ipm), level + (now - at) * self.ipm / self.window_seconds)

    def _request_wait(self, now: float, n: int) -> float | None:
        """Return how long until `n` images fit the request limit, or None when they fit now."""
        assert self.ipm is not None
        if n > self.ipm:
            return self.window_seconds
        if self.limiter == "bucket":
            level = self._bucket_level(now)
            return None if level >= n else (n - level) * self.window_seconds / self.ipm
        window = self._window
        if len(window) + n <= self.ipm:
            return None
        return window[len(window) + n - self.ipm - 1] + self.window_seconds - now

    def _hint(self, wait: float) -> dict[str, str]:
        if self.retry_hint == "ms":
            return _retry_headers(wait)
        if self.retry_hint == "seconds":
            return {"retry-after": str(max(0, math.ceil(wait)))}
        if self.retry_hint == "date":
            import email.utils

            return {"retry-after": email.utils.formatdate(time.time() + wait, usegmt=True)}
        return {}

    def _admit(self, n: int, tokens: int = 0) -> dict[str, str]:
        """Apply the images-per-minute and token windows and the quota, reserving `n` images; return
        the rate-limit headers of the answer."""
        with self._lock:
            now = time.monotonic()
            window = self._window
            while window and window[0] <= now - self.window_seconds:
                window.popleft()
            while self._token_window and self._token_window[0][0] <= now - self.window_seconds:
                self._token_window.popleft()
            wait = self._request_wait(now, n) if self.ipm is not None else None
            if wait is not None:
                used = len(window) if self.limiter == "window" else self.ipm - math.floor(self._bucket_level(now))
                raise ApiError(
                    429,
                    f"Rate limit reached for images per minute: Limit {self.ipm}, Used {used}, "
                    f"Requested {n}. Please try again in {wait:.3f}s.",
                    type="requests",
                    code="rate_limit_exceeded",
                    headers={**self._limit_headers(now), **self._hint(wait)},
                )
            if self.token_limit is not None:
                used = sum(t for _, t in self._token_window)
                if used + tokens > self.token_limit:
                    wait, freed = self.window_seconds, 0
                    for at, spent in self._token_window:
                        freed += spent
                        if used - freed + tokens <= self.token_limit:
                            wait = at + self.window_seconds - now
                            break
                    raise ApiError(
                        429,
                        f"Rate limit reached for tokens per min (TPM): Limit {self.token_limit}, Used {used}, "
                        f"Requested {tokens}. Please try again in {wait:.3f}s.",
                        type="tokens",
                        code="rate_limit_exceeded",
                        headers={**self._limit_headers(now), **self._hint(wait)},
                    )
            if self.quota_images is not None and self._billed + self._reserved + n > self.quota_images:
                raise ApiError(
                    429,
                    "You exceeded your current quota, please check your plan and billing details.",
                    type="insufficient_quota",
                    code="insufficient_quota",
                )
            if self.ipm is not None:
                self._window.extend([now] * n)
                self._bucket = (self._bucket_level(now) - n, now)
            if self.token_limit is not None:
                self._token_window.append((now, tokens))
            self._reserved += n
            return self._limit_headers(now)

    def _validate(self, rec: RequestRecord) -> dict[str, Any]:
        """Check a request against the model's rules; return what the response needs."""
        kind = rec.kind
        multipart = bool(rec.form or rec.files)
        if kind in ("edit", "variation") and not multipart:
            raise ApiError(400, f"The fake API takes {kind}s as multipart/form-data only (as the SDK sends them).")
        if kind == "generation" and not isinstance(rec.json, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        params: dict[str, Any] = dict(rec.params)
        for name in rec.files:
            params.setdefault(name, None)
        present = {_param_root(k): k for k in params if params[k] is not None or k in rec.files}

        model = params.get("model")
        if model is None:
            raise ApiError(
                400, "Missing required parameter: 'model'. (This fake server demands an explicit model.)",
                param="model", code="missing_required_parameter",
            )
        if not isinstance(model, str):
            raise ApiError(400, "Invalid type for 'model': expected a string.", param="model", code="invalid_type")
        profile = profile_for(model, self.extra_models)
        if profile is None:
            raise ApiError(
                400, f"The model '{model}' does not exist or you do not have access to it.", param="model",
                code="model_not_found",
            )
        if kind == "edit" and profile.max_edit_images == 0:
            raise ApiError(400, f"Image edits are not supported for the model '{model}'.", param="model",
                           code="invalid_value")
        if kind == "variation" and not profile.variations:
            raise ApiError(400, f"Image variations are only supported for 'dall-e-2', not '{model}'.",
                           param="model", code="invalid_value")

        if kind == "variation":
            allowed = _VARIATION_PARAMS
        elif kind == "edit":
            allowed = _EDIT_DALLE_PARAMS if profile.legacy else _EDIT_GPT_PARAMS
        else:
            allowed = (_GEN_DALLE_PARAMS | ({"style"} if profile.style else set())) if profile.legacy \
                else _GEN_GPT_PARAMS
        for root, raw_name in present.items():
            if root not in allowed and root not in self.extra_params:
                raise ApiError(400, f"Unknown parameter: '{raw_name}'.", param=raw_name, code="unknown_parameter")

        prompt = ""
        if kind != "variation":
            prompt = params.get("prompt")
            if prompt is None or prompt == "":
                raise ApiError(400, "Missing required parameter: 'prompt'.", param="prompt",
                               code="missing_required_parameter")
            if not isinstance(prompt, str):
                raise ApiError(400, "Invalid type for 'prompt': expected a string.", param="prompt",
                               code="invalid_type")
            if len(prompt) > profile.prompt_limit:
                raise ApiError(
                    400,
                    f"Invalid 'prompt': string too long. Expected a string with maximum length "
                    f"{profile.prompt_limit}, but got a string with length {len(prompt)} instead.",
                    param="prompt", code="string_above_max_length",
                )

        def as_int(name: str, default: int | None) -> int | None:
            value = params.get(name)
            if value is None:
                return default
            if multipart and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
                return int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ApiError(400, f"Invalid type for '{name}': expected an integer.", param=name,
                               code="invalid_type")
            return value

        def as_choice(name: str, choices: tuple[str, ...], default: str | None) -> str | None:
            value = params.get(name)
            if value is None:
                return default
            if value not in choices:
                raise ApiError(400, f"Invalid value: '{value}'. Supported values are: {_supported(choices)}.",
                               param=name, code="invalid_value")
            return value

        def as_bool(name: str) -> bool:
            value = params.get(name)
            if isinstance(value, str) and multipart:
                return value.lower() == "true"
            return bool(value)

        n = as_int("n", 1)
        assert n is not None
        if n < 1:
            raise ApiError(400, f"Invalid 'n': integer below minimum value. Expected a value >= 1, but got {n} "
                           "instead.", param="n", code="integer_below_min_value")
        if profile.max_n == 1 and n != 1:
            raise ApiError(400, "You must provide n=1 for this model.", param="n", code="invalid_value")
        if n > profile.max_n:
            raise ApiError(400, f"Invalid 'n': integer above maximum value. Expected a value <= {profile.max_n}, "
                           f"but got {n} instead.", param="n", code="integer_above_max_value")

        size = params.get("size")
        if size is None:
            size = "1024x1024" if profile.legacy else "auto"
        width, height = self._check_size(size, profile)

        quality = as_choice("quality", profile.qualities, profile.qualities[0])
        if kind == "variation":
            quality = "standard"
        response_format = as_choice("response_format", ("url", "b64_json"), "url") if profile.legacy else "b64_json"
        if profile.legacy and self.urls_always:
            response_format = "url"
        as_choice("style", ("vivid", "natural"), "vivid")
        as_choice("moderation", ("auto", "low"), "auto")
        as_choice("complexity", ("low", "medium", "high"), None)
        output_format = as_choice("output_format", _OUTPUT_FORMATS, "png") or "png"
        if profile.legacy:
            output_format = "png"
        compression = as_int("output_compression", None)
        if compression is not None:
            if output_format not in ("jpeg", "webp"):
                raise ApiError(400, "output_compression is only supported for the 'jpeg' and 'webp' output "
                               "formats.", param="output_compression", code="invalid_value")
            if not 0 <= compression <= 100:
                raise ApiError(400, "Invalid 'output_compression': expected a value between 0 and 100.",
                               param="output_compression", code="invalid_value")
        background = as_choice("background", ("auto", "opaque", "transparent"), "auto")
        if background == "transparent" and output_format not in ("png", "webp"):
            raise ApiError(400, "Transparent background requires output_format 'png' or 'webp'.",
                           param="background", code="invalid_value")
        for name in ("frame_count", "frame_duration_ms"):
            if name in present:
                raise ApiError(400, f"'{name}' is only supported with output_format 'gif'.", param=name,
                               code="invalid_value")
        if "svg" in present:
            raise ApiError(400, "'svg' is only supported with output_format 'svg'.", param=present["svg"],
                           code="invalid_value")
        partial = as_int("partial_images", None)
        if partial is not None and not 0 <= partial <= 3:
            raise ApiError(400, "Invalid 'partial_images': expected a value between 0 and 3.",
                           param="partial_images", code="invalid_value")
        if as_bool("stream"):
            raise ApiError(400, "stream=true is not implemented by this fake server.", param="stream",
                           code="unsupported_value")
        fidelity = params.get("input_fidelity")
        if fidelity is not None:
            if not profile.input_fidelity:
                raise ApiError(400, f"input_fidelity is not supported for the model '{model}'; omit it.",
                               param="input_fidelity", code="unsupported_parameter")
            as_choice("input_fidelity", profile.input_fidelity, None)

        input_images = 0
        if kind in ("edit", "variation"):
            input_images = self._check_files(rec, profile, kind)
        return {
            "profile": profile, "model": model, "prompt": prompt, "n": n, "width": width, "height": height,
            "quality": "medium" if quality == "auto" else quality, "response_format": response_format,
            "output_format": output_format, "background": "opaque" if background == "auto" else background,
            "input_images": input_images,
        }

    def _check_size(self, size: Any, profile: ModelProfile) -> tuple[int, int]:
        if not isinstance(size, str):
            raise ApiError(400, "Invalid type for 'size': expected a string.", param="size", code="invalid_type")
        if profile.sizes is not None and size not in profile.sizes:
            raise ApiError(400, f"Invalid value: '{size}'. Supported values are: {_supported(profile.sizes)}.",
                           param="size", code="invalid_value")
        if size == "auto":
            return 1024, 1024
        match = re.fullmatch(r"(\d{1,5})x(\d{1,5})", size)
        if not match:
            raise ApiError(400, f"Invalid value: '{size}'. Use 'auto' or WIDTHxHEIGHT, e.g. '1536x864'.",
                           param="size", code="invalid_value")
        width, height = int(match.group(1)), int(match.group(2))
        if profile.sizes is None:
            problem = None
            if width % 16 or height % 16:
                problem = "width and height must both be multiples of 16"
            elif max(width, height) > 3 * min(width, height):
                problem = "the aspect ratio must be between 1:3 and 3:1"
            elif not 655_360 <= width * height <= 8_294_400:
                problem = "the total pixel count must be between 655,360 and 8,294,400"
            elif max(width, height) > 3840:
                problem = "each edge must be at most 3840 pixels"
            if problem:
                raise ApiError(400, f"Invalid size '{size}': {problem}.", param="size", code="invalid_value")
        return width, height

    def _check_files(self, rec: RequestRecord, profile: ModelProfile, kind: str) -> int:
        images = rec.files.get("image", []) + rec.files.get("image[]", [])
        if not images:
            raise ApiError(400, "Missing required parameter: 'image'.", param="image",
                           code="missing_required_parameter")
        limit = 1 if kind == "variation" else profile.max_edit_images
        if len(images) > limit:
            raise ApiError(400, f"Too many images: got {len(images)}, this model takes at most {limit}.",
                           param="image", code="invalid_value")
        first_size: tuple[int, int] | None = None
        for i, (_name, _ctype, data) in enumerate(images):
            fmt = sniff_image(data)
            size = _image_size(data) if fmt else None
            if fmt is None or size is None or len(data) >= 50 * 1024 * 1024:
                raise ApiError(400, f"Invalid image file or mode for image {i + 1}, please check your image file.",
                               param="image", code="invalid_image_file")
            if profile.legacy and (fmt != "png" or size[0] != size[1] or len(data) >= 4 * 1024 * 1024):
                raise ApiError(400, f"Image {i + 1} must be a square PNG smaller than 4 MB for this model.",
                               param="image", code="invalid_image_file")
            if first_size is None:
                first_size = size
        assert first_size is not None
        masks = rec.files.get("mask", [])
        markups = rec.files.get("markup", [])
        if markups and not profile.markup:
            raise ApiError(400, "markup is supported from GPT Image 2.5 on.", param="markup",
                           code="unsupported_parameter")
        if markups and masks:
            raise ApiError(400, "markup cannot be combined with mask.", param="markup", code="invalid_value")
        for name, overlays in (("mask", masks), ("markup", markups)):
            if len(overlays) > 1:
                raise ApiError(400, f"Only one {name} is allowed.", param=name, code="invalid_value")
            if not overlays:
                continue
            data = overlays[0][2]
            if sniff_image(data) != "png" or (name == "mask" and len(data) >= 4 * 1024 * 1024):
                raise ApiError(400, f"Invalid {name}: it must be a PNG file (a mask smaller than 4 MB).",
                               param=name, code="invalid_image_file")
            if not _has_alpha(data):
                raise ApiError(400, f"Invalid {name} image format - {name} image missing alpha channel.",
                               param=name, code="invalid_image_file")
            overlay_size = _image_size(data) or (0, 0)
            if overlay_size != first_size:
                raise ApiError(
                    400,
                    f"Invalid {name}: its size {overlay_size[0]}x{overlay_size[1]} differs from the image's "
                    f"{first_size[0]}x{first_size[1]}; they must have the same dimensions.",
                    param=name, code="invalid_value",
                )
        return len(images)

    def _make_response(self, rec: RequestRecord, job: dict[str, Any]) -> dict[str, Any]:
        fmt = job["output_format"]
        seed = job["prompt"].encode() if job["prompt"] else rec.files.get("image", [("", "", b"")])[0][2]
        template = render_image(job["width"], job["height"], fmt, _colour(seed), job["background"] == "transparent")
        data: list[dict[str, Any]] = []
        for i in range(job["n"]):
            blob = stamp_image(template, fmt, f"{rec.request_id}/{i}")
            item: dict[str, Any] = {}
            if job["response_format"] == "url":
                file_id = f"{rec.request_id}-{i}"
                with self._lock:
                    self._legacy_files[file_id] = blob
                url = f"{self.base_url}/legacy-files/{file_id}.png"
                item["url"] = self.legacy_url(url) if self.legacy_url is not None else url
            else:
                item["b64_json"] = base64.b64encode(blob).decode()
            if job["model"] == "dall-e-3":
                item["revised_prompt"] = f"A detailed illustration: {job['prompt']}"
            if "revised_prompt" in self.echo_key:
                item["revised_prompt"] = f"A detailed illustration for {self._token(rec)}: {job['prompt']}"
            data.append(item)
        body: dict[str, Any] = {"created": int(time.time()), "data": data}
        if job["profile"].legacy:
            return body  # DALL·E responses carried neither usage nor the echoed settings
        text_tokens = max(1, len(job["prompt"]) // 4)
        image_tokens = _TOKENS_PER_INPUT_IMAGE * job["input_images"]
        per_image = _TOKENS_PER_MEGAPIXEL[job["quality"]] * job["width"] * job["height"] / (1024 * 1024)
        output_tokens = round(per_image) * job["n"]
        body.update(
            usage={
                "input_tokens": text_tokens + image_tokens,
                "output_tokens": output_tokens,
                "total_tokens": text_tokens + image_tokens + output_tokens,
                "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens},
            },
            size=f"{job['width']}x{job['height']}",
            quality=job["quality"],
            output_format=fmt,
            background=job["background"],
        )
        return body


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as img:  # reads the header only
            return img.size
    except Exception:
        return None


def _has_alpha(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    except Exception:
        return False


def main(argv: list[str] | None = None) -> None:
    """Serve the fake API until interrupted, printing its base URL first."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per image request")
    parser.add_argument("--latency-max", type=float, default=None,
                        help="if set, latency is drawn uniformly from [--latency, --latency-max]")
    parser.add_argument("--ipm", type=int, default=None, help="images allowed per --window seconds")
    parser.add_argument("--window", type=float, default=60.0, help="rate-limit window in seconds")
    parser.add_argument("--quota", type=int, default=None, help="images billed before insufficient_quota")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of image requests given a fault")
    parser.add_argument("--seed", type=int, default=None, help="seed for random faults and latencies")
    parser.add_argument("--extra-model", action="append", default=[], help="accept this model name too")
    args = parser.parse_args(argv)
    server = FakeImagesAPI(
        port=args.port, ipm=args.ipm, window_seconds=args.window, quota_images=args.quota,
        fault_rate=args.fault_rate, seed=args.seed,
    )
    if args.latency_max is not None:
        rng = random.Random(args.seed)
        low, high = args.latency, args.latency_max
        server.latency = lambda _rec: rng.uniform(low, high)
    else:
        server.latency = args.latency
    server.extra_models.update(args.extra_model)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # bench stops us with SIGTERM; still print the summary

    signal.signal(signal.SIGTERM, on_term)
    with server:
        print(server.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            print(f"{len(server.image_requests())} image requests, {server.billed} images billed, "
                  f"peak {server.max_in_flight} in flight", file=sys.stderr)


if __name__ == "__main__":
    main()
