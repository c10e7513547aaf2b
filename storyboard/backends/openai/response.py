"""An Images API answer read as the untrusted bytes it is: JSON of the documented shape or a failed
attempt with one message (never a traceback), every server-given field cleaned of secrets."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from storyboard.backends.openai.errors import clean
from storyboard.errors import TransientFailure

_PROMPT_LIMIT = 32_000  # the longest prompt any model takes: a revised prompt is never longer


@dataclass(frozen=True)
class Answer:
    """The parts of an answer the backend uses: one image's base64 or URL, and what came with it."""

    b64_json: str | None
    url: str | None
    revised_prompt: str | None
    output_format: str | None
    usage: dict[str, Any] | None


def _junk(what: str, request_id: str | None) -> TransientFailure:
    # The server says it answered: it may have made (and billed) the image it failed to send.
    return TransientFailure(f"the server's answer {what}", ambiguous=True, type="invalid_response",
                            code="bad_answer", request_id=request_id)


def read_answer(content: bytes, request_id: str | None, secrets: Iterable[str | None] = ()) -> Answer:
    """Parse a 200's body; raise TransientFailure (ambiguous) unless it holds an image."""
    secrets = tuple(secrets)
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        head = content[:40].decode("utf-8", "replace")
        raise _junk(f"is not JSON (it begins {clean(head, secrets, 60)!r})", request_id) from None
    if not isinstance(body, dict):
        raise _junk(f"is {_kind(body)}, not a JSON object", request_id)
    data = body.get("data")
    if not isinstance(data, list):
        raise _junk("has no list of images (`data` is " + ("missing" if data is None else _kind(data)) + ")",
                    request_id)
    if not data:
        raise _junk("holds no image (`data` is empty)", request_id)
    first = data[0]
    if not isinstance(first, dict):
        raise _junk(f"holds {_kind(first)} where an image belongs (`data[0]`)", request_id)
    b64, url = first.get("b64_json"), first.get("url")
    if not (isinstance(b64, str) and b64) and not (isinstance(url, str) and url):
        raise _junk("holds no image (`data[0]` has neither b64_json nor url)", request_id)
    fmt = body.get("output_format")
    revised = first.get("revised_prompt")
    return Answer(
        b64_json=b64 if isinstance(b64, str) and b64 else None,
        url=url if isinstance(url, str) and url and not (isinstance(b64, str) and b64) else None,
        revised_prompt=clean(revised, secrets, _PROMPT_LIMIT) if isinstance(revised, str) else None,
        output_format=fmt.lower() if isinstance(fmt, str) and len(fmt) < 10 else None,
        usage=_usage(body.get("usage"), secrets),
    )


def decode_image(b64: str, request_id: str | None) -> bytes:
    """Decode an answer's base64 image; raise TransientFailure (ambiguous) when it is not base64."""
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise _junk("holds an image that is not valid base64", request_id) from None


def _usage(value: Any, secrets: tuple[str | None, ...], depth: int = 0) -> dict[str, Any] | None:
    """Keep the numbers of a `usage` object (and its details), nothing else a server might put there."""
    if not isinstance(value, dict) or depth > 2:
        return None
    kept: dict[str, Any] = {}
    for name, item in list(value.items())[:32]:
        name = clean(name, secrets, 64) or ""
        if isinstance(item, bool):
            continue
        if isinstance(item, int | float):
            kept[name] = item
        elif isinstance(item, dict):
            nested = _usage(item, secrets, depth + 1)
            if nested is not None:
                kept[name] = nested
    return kept


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {list: "a list", str: "a string", dict: "an object", bool: "a boolean"}.get(type(value), "a number")
