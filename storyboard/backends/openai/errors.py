"""OpenAI's errors, mapped to the runner's failures in one place (`map_error`), with every key
redacted from what a failure carries; the server's wait hints (`parse_retry_after`)."""

from __future__ import annotations

import email.utils
import math
import re
import time
from typing import Any

from storyboard.errors import FatalFailure, FrameFailure, RequestFailed, TransientFailure

_MESSAGE_LIMIT = 300
# Anything shaped like an OpenAI key, whole or partly starred out as 401 messages echo it.
_KEY_PATTERN = re.compile(r"\bsk-[A-Za-z0-9_*\-]{6,}")


def parse_retry_after(headers: Any) -> float | None:
    """Return the server's wait hint in seconds: `retry-after-ms`, else `retry-after`."""
    if headers is None:
        return None
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            delay = float(value) / divisor
        except ValueError:
            continue
        if math.isfinite(delay):
            return max(delay, 0.0)
    value = headers.get("retry-after")
    if value:
        try:
            when = email.utils.parsedate_tz(value)
            if when is not None:
                return max(email.utils.mktime_tz(when) - time.time(), 0.0)
        except (TypeError, ValueError, OverflowError):
            pass
    return None


def redact(text: str, key: str | None) -> str:
    """Return the text with the key, and anything shaped like an OpenAI key, blanked out."""
    if key:
        text = text.replace(key, "<redacted>")
    return _KEY_PATTERN.sub("sk-<redacted>", text)


def _short(message: str, key: str | None) -> str:
    """Return a message fit for a manifest: one line, bounded, without any key in it."""
    message = " ".join(redact(message, key).split())
    if len(message) > _MESSAGE_LIMIT:
        message = message[: _MESSAGE_LIMIT - 1] + "…"
    return message


def _scrub(e: Exception, key: str | None) -> None:
    """Redact the key in the SDK exception itself: it rides along as the failure's `__cause__`."""
    e.args = tuple(redact(a, key) if isinstance(a, str) else a for a in e.args)
    if isinstance(getattr(e, "message", None), str):
        e.message = redact(e.message, key)  # type: ignore[attr-defined]
    body = getattr(e, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        body["message"] = redact(body["message"], key)
    elif isinstance(body, str):
        e.body = redact(body, key)  # type: ignore[attr-defined]


def _server_message(e: Any) -> str:
    """Return the server's own error message, not the SDK's `Error code: ...` wrapper."""
    body = e.body
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
        return body["message"]
    if isinstance(body, str) and body.strip() and not body.lstrip().startswith("<"):
        return f"HTTP {e.status_code}: {body.strip().splitlines()[0]}"
    return f"HTTP {e.status_code} from the server"


def _sent_nothing(e: BaseException) -> bool:
    """Tell whether a connection failure surely happened before the request left."""
    import httpx2

    cause = e.__cause__
    # No connection was ever made (or none was free): the server cannot have seen the request.
    return isinstance(cause, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout)


def map_error(e: Exception, key: str | None = None) -> RequestFailed:
    """Map an SDK exception to the failure the runner acts on (the one place that does)."""
    import openai

    if isinstance(e, RequestFailed):
        return e
    _scrub(e, key)
    if isinstance(e, openai.APIConnectionError):  # includes APITimeoutError
        cause = type(e.__cause__).__name__ if e.__cause__ is not None else None
        timed_out = isinstance(e, openai.APITimeoutError)
        if _sent_nothing(e):
            what = "timed out connecting" if timed_out else "could not connect"
            return TransientFailure(
                f"{what} to the server; the request was not sent",
                ambiguous=False,
                type="timeout" if timed_out else "connection_error",
                code=cause,
            )
        what = "timed out waiting for" if timed_out else "lost the connection to"
        return TransientFailure(
            f"{what} the server after sending the request; it may have made (and billed) the image",
            ambiguous=True,
            type="timeout" if timed_out else "connection_error",
            code=cause,
        )
    if isinstance(e, openai.APIStatusError):
        status = e.status_code
        fields: dict[str, Any] = {
            "type": e.type,
            "code": e.code,
            "status": status,
            "request_id": e.request_id,
        }
        message = _short(_server_message(e), key)
        if status in (408, 409) or status >= 500:
            return TransientFailure(message, retry_after=parse_retry_after(e.response.headers), **fields)
        if status == 429:
            if "insufficient_quota" in (e.code, e.type):
                return FatalFailure(message, **fields)
            return TransientFailure(message, retry_after=parse_retry_after(e.response.headers), **fields)
        if status in (401, 403):
            return FatalFailure(message, **fields)
        # Moderation (`moderation_blocked`, `content_policy_violation`) and every other 4xx:
        # the same request would get the same answer, so this frame fails alone.
        return FrameFailure(message, **fields)
    if isinstance(e, openai.APIError):
        # A malformed or mid-stream error with no status: nothing says a retry would help.
        return FrameFailure(_short(e.message, key), type=e.type or "api_error", code=e.code, status=None)
    return FrameFailure(_short(str(e) or type(e).__name__, key), type="client_error", code=type(e).__name__)
