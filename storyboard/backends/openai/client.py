"""The OpenAI Images backend: one `ImageRequest` in, one `GeneratedImage` out.

Talks to `/v1/images/*` through the `openai` SDK with its retries off (the runner retries),
and maps every SDK error to the `RequestFailed` family in one place (`errors.map_error`).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from storyboard.backends import GeneratedImage, ImageRequest, InputImage
from storyboard.backends.openai import DEFAULT_BASE_URL, base_url_problem, host_of, shown_url
from storyboard.backends.openai.errors import clean, map_error
from storyboard.backends.openai.profiles import OpenAIProfile, get_profile
from storyboard.errors import FatalFailure, FrameFailure, TransientFailure, UsageError
from storyboard.media import FORMATS

if TYPE_CHECKING:  # openai is imported lazily: `storyboard --help` must not pay for it
    from openai import AsyncOpenAI
    from openai._legacy_response import LegacyAPIResponse

    from storyboard.backends.openai.response import Answer

# Every attempt's overall deadline, headers and body together (a server that trickles a byte at a
# time is a timeout, not a hang); also the longest silence. Generous: a large image takes minutes.
DEFAULT_TIMEOUT = 300.0
# No answer is read past this: a 3840x2160 PNG is ~25 MB, ~33 MB as base64 (see transport.py).
MAX_RESPONSE_BYTES = 64 * 1024 * 1024

# Local OpenAI-compatible servers want some bearer token; the SDK refuses to start without one.
PLACEHOLDER_KEY = "sk-no-key-required"
_FileTuple = tuple[str, bytes, str]


class _Secret:
    """Hold the API key so that no repr, traceback or log line can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        """Return the key itself, for the SDK only."""
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


def url_secrets(base_url: str) -> tuple[str, ...]:
    """Return the credentials a base URL carries (user, password): blanked wherever a server echoes them."""
    parts = urlsplit(base_url)
    return tuple(x for x in (parts.password, parts.username) if x)


class OpenAIBackend:
    """Send image requests to the OpenAI Images API or an OpenAI-compatible server."""

    name = "openai"

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        if base_url is not None and (problem := base_url_problem(base_url)):
            raise UsageError(problem)  # before anything is sent: not a "may have billed twice" later
        if api_key is None and base_url is not None:
            api_key = PLACEHOLDER_KEY
        self._api_key = _Secret(api_key) if api_key else None
        # Always explicit, so the SDK cannot pick another URL from the environment and the
        # host in every request key is the host really asked.
        self._base_url = _Secret(base_url or DEFAULT_BASE_URL)  # it may hold a password
        self.host: str | None = host_of(self.base_url)
        self.organization = organization
        self.project = project
        self.timeout = timeout  # the overall deadline of one attempt (see DEFAULT_TIMEOUT)
        self.max_bytes = max_bytes
        # Blanked from every field a server gives back; held like the key, out of any repr.
        self._redact = tuple(_Secret(x) for x in (*url_secrets(self._base_url.get()), *((api_key,) if api_key else ())))
        self._hint = ("Check OPENAI_BASE_URL (is the server running?), or use --backend draft for offline drafts."
                      if base_url else "Check the network connection, or use --backend draft for offline drafts.")
        self._client: AsyncOpenAI | None = None

    def __repr__(self) -> str:
        return f"OpenAIBackend(host={self.host!r})"

    @property
    def base_url(self) -> str:
        """Return the base URL, any password in it replaced."""
        return shown_url(self._base_url.get())

    @property
    def _secrets(self) -> tuple[str, ...]:
        return tuple(x.get() for x in self._redact)

    def _get_client(self) -> AsyncOpenAI:
        """Return the SDK client, building it on first use."""
        if self._client is None:
            import httpx2
            import openai

            from storyboard.backends.openai.transport import capped_transport

            # A dead host should fail in seconds, a slow image may take minutes. The overall deadline
            # (in `generate`) comes first; the read timeout behind it only catches what it cannot.
            timeout = httpx2.Timeout(self.timeout + 1.0, connect=min(self.timeout, 5.0))
            try:
                self._client = openai.AsyncOpenAI(
                    api_key=self._api_key.get() if self._api_key else None,
                    base_url=self._base_url.get(),
                    organization=self.organization,
                    project=self.project,
                    timeout=timeout,
                    max_retries=0,  # the runner retries: one mechanism for attempts and pacing
                    # No answer is read past the cap: a gigabyte of junk is a failed attempt.
                    http_client=openai.DefaultAsyncHttpxClient(transport=capped_transport(self.max_bytes),
                                                               timeout=timeout),
                )
            except openai.OpenAIError as e:
                raise FatalFailure(
                    "OPENAI_API_KEY is not set. Export it, or use --backend draft.", type="configuration"
                ) from e
        return self._client

    async def generate(self, request: ImageRequest) -> GeneratedImage:
        """Send one request and return its image (see `Backend.generate`)."""
        import openai

        from storyboard.backends.openai.response import read_answer
        from storyboard.ratelimits import parse_limits

        client = self._get_client()
        key = self._api_key.get() if self._api_key else None
        try:
            async with asyncio.timeout(self.timeout):  # headers and body, however slowly they come
                if request.kind == "generate":
                    raw = await self._generate(client, request)
                elif request.kind == "variation" and _legacy(request):
                    raw = await self._variation(client, request)
                else:
                    # A variation on a GPT image model is an edit: the planner already wrote the
                    # "a variation of this image" instruction into the prompt.
                    raw = await self._edit(client, request)
                content = raw.http_response.content
        except TimeoutError:
            raise TransientFailure(
                f"the server sent no whole answer within {self.timeout:g} s; it may have made (and billed) "
                "the image", ambiguous=True, type="timeout", code="deadline",
            ) from None
        except openai.OpenAIError as e:
            raise map_error(e, key=key, secrets=self._secrets, host=self.host, hint=self._hint) from e
        request_id = clean(raw.headers.get("x-request-id"), self._secrets)
        limits = parse_limits(raw.headers)
        answer = read_answer(content, request_id, self._secrets)
        return await self._image_of(answer, request_id, limits)

    async def _generate(self, client: AsyncOpenAI, request: ImageRequest) -> LegacyAPIResponse[Any]:
        """Call `images.generate` with exactly what the request carries."""
        core: dict[str, Any] = {"model": request.model, "prompt": request.prompt, "n": 1}
        _add_common(core, request)
        args = _call_args(client.images.generate, core, request.options)
        return await client.images.with_raw_response.generate(**args)

    async def _edit(self, client: AsyncOpenAI, request: ImageRequest) -> LegacyAPIResponse[Any]:
        """Call `images.edit`: source first, then references, and the mask if any."""
        if not request.images:
            raise FrameFailure(
                f"a {request.kind} needs an input image", type="invalid_request", code="no_image"
            )
        files = [_file(i) for i in request.images]
        core: dict[str, Any] = {
            "model": request.model,
            "prompt": request.prompt,
            # One file goes as the `image` field, a list as repeated `image[]` fields.
            "image": files[0] if len(files) == 1 else files,
            "n": 1,
        }
        if request.mask is not None:
            core["mask"] = _file(request.mask)
        _add_common(core, request)
        args = _call_args(client.images.edit, core, request.options)
        return await client.images.with_raw_response.edit(**args)

    async def _variation(self, client: AsyncOpenAI, request: ImageRequest) -> LegacyAPIResponse[Any]:
        """Call the retired `images.create_variation`, which compatible servers may still serve."""
        if not request.images:
            raise FrameFailure("a variation needs an input image", type="invalid_request", code="no_image")
        core: dict[str, Any] = {
            "model": request.model,
            "image": _file(request.images[0]),
            "n": 1,
            "response_format": "b64_json",
        }
        if request.size is not None:
            core["size"] = request.size
        args = _call_args(client.images.create_variation, core, request.options)
        with warnings.catch_warnings():
            # The SDK marks the method deprecated; the call is deliberate. Only creating the
            # coroutine happens in here: filters are process-wide, so no await inside.
            warnings.simplefilter("ignore", DeprecationWarning)
            # What `with_raw_response` does, without hiding the call (and its warning) in a coroutine.
            pending = client.images.create_variation(**args, extra_headers={"X-Stainless-Raw-Response": "true"})
        return await pending

    async def _image_of(self, answer: Answer, request_id: str | None, limits: Any = None) -> GeneratedImage:
        """Turn a checked answer into a `GeneratedImage`, fetching a returned URL at once."""
        from storyboard.backends.openai.download import download
        from storyboard.backends.openai.response import decode_image

        if answer.b64_json is not None:
            data = decode_image(answer.b64_json, request_id)
        else:
            assert answer.url is not None
            # Legacy URLs expire (an hour on OpenAI): fetch now or lose a paid image.
            data = await download(answer.url, request_id, deadline=self.timeout, max_bytes=self.max_bytes)
        media_type = FORMATS.get(answer.output_format or "") or sniff_media_type(data)
        return GeneratedImage(
            data=data,
            media_type=media_type,
            revised_prompt=answer.revised_prompt,
            usage=answer.usage,
            request_id=request_id,
            limits=limits,
        )

    async def aclose(self) -> None:
        """Close the SDK client if one was made."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


def _file(image: InputImage) -> _FileTuple:
    """Return the (filename, bytes, media type) tuple a multipart upload takes."""
    return (image.filename, image.data, image.media_type)


def _legacy(request: ImageRequest) -> bool:
    """Tell whether the model is a legacy DALL·E one: it is asked for base64 and may answer with URLs."""
    profile = get_profile(request.model)
    return isinstance(profile, OpenAIProfile) and profile.legacy


def _add_common(core: dict[str, Any], request: ImageRequest) -> None:
    """Add size and quality only when the request carries them; legacy models get base64 back."""
    if request.size is not None:
        core["size"] = request.size
    if request.quality is not None:
        core["quality"] = request.quality
    if _legacy(request):
        core["response_format"] = "b64_json"


def _call_args(method: Callable[..., Any], core: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Merge options into the call: SDK parameters by name, newer ones through `extra_body`."""
    clash = sorted(set(core) & set(options))
    if clash:
        # The planner owns these fields; an option must not silently override them.
        raise FrameFailure(
            f"options may not set {', '.join(clash)}", type="invalid_request", code="option_conflict"
        )
    known = _parameters(getattr(method, "__func__", method))
    args = dict(core)
    extra = {}
    for name, value in options.items():
        if name in known and not name.startswith("extra_") and name != "timeout":
            args[name] = value
        else:
            # A parameter the server takes before this SDK version knows it.
            extra[name] = value
    if extra:
        args["extra_body"] = extra
    return args


@functools.lru_cache(maxsize=8)
def _parameters(function: Callable[..., Any]) -> frozenset[str]:
    """Return the names an SDK method takes (read once per method: ~0.3 ms a call otherwise)."""
    return frozenset(inspect.signature(function).parameters) - {"self"}


def sniff_media_type(data: bytes) -> str:
    """Return the media type that an image's magic numbers announce."""
    from storyboard.render.imaging import sniff

    kind = sniff(data)
    return kind[0] if kind else "application/octet-stream"
