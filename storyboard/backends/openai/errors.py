"""OpenAI's errors, mapped to the runner's failures in one place (`map_error`), with every key
redacted from what a failure carries (`redact`, `clean`: every field a server gives is cleaned at
this boundary, since a careless or hostile server may echo the key anywhere)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from storyboard.errors import FatalFailure, FrameFailure, RequestFailed, TransientFailure, Unreachable
from storyboard.ratelimits import parse_limits, parse_retry_after

__all__ = ["clean", "map_error", "parse_retry_after", "redact"]

_MESSAGE_LIMIT = 300
_FIELD_LIMIT = 120  # a code, a type, a request id: short words, never paragraphs
# Anything shaped like an OpenAI key, whole or partly starred out as 401 messages echo it.
_KEY_PATTERN = re.compile(r"\bsk-[A-Za-z0-9_*\-]{6,}")
_DNS = ("name or service not known", "nodename nor servname", "getaddrinfo", "name resolution",
        "no address associated", "no such host")


def redact(text: str, key: str | None = None, *secrets: str | None) -> str:
    """Return the text with the key and the other secrets, and anything shaped like an OpenAI key,
    blanked out."""
    for secret in (key, *secrets):
        if secret and len(secret) >= 4:  # a 1-3 character "password" would blank half the text
            text = text.replace(secret, "<redacted>")
    return _KEY_PATTERN.sub("sk-<redacted>", text)


def clean(value: Any, secrets: Iterable[str | None] = (), limit: int = _FIELD_LIMIT) -> str | None:
    """Return a server-given field fit for a file: a string, one line, bounded, no secret in it."""
    if value is None:
        return None
    text = " ".join(redact(str(value), None, *secrets).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(message: str, key: str | None, secrets: Iterable[str | None] = ()) -> str:
    """Return a message fit for a manifest: one line, bounded, without any key in it."""
    return clean(message, (key, *secrets), _MESSAGE_LIMIT) or ""


def _scrub(e: Exception, key: str | None, secrets: Iterable[str | None] = ()) -> None:
    """Redact the key in the SDK exception itself: it rides along as the failure's `__cause__`."""
    secrets = tuple(secrets)
    e.args = tuple(redact(a, key, *secrets) if isinstance(a, str) else a for a in e.args)
    for name in ("message", "code", "type", "param", "request_id"):
        if isinstance(getattr(e, name, None), str):
            setattr(e, name, redact(getattr(e, name), key, *secrets))
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        for name, value in body.items():
            if isinstance(value, str):
                body[name] = redact(value, key, *secrets)
    elif isinstance(body, str):
        e.body = redact(body, key, *secrets)  # type: ignore[attr-defined]


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


def _unreachable(e: BaseException, host: str | None, hint: str) -> Unreachable | None:
    """Return the failure of a server that cannot be reached at all (refused, no such host), if so."""
    import httpx2

    cause = e.__cause__
    if not isinstance(cause, httpx2.ConnectError | httpx2.ConnectTimeout):
        return None
    chain: list[BaseException] = []
    link: BaseException | None = cause
    while link is not None and len(chain) < 8:  # httpx2 -> httpcore2 -> anyio's OSError -> the socket's
        chain.append(link)
        link = link.__cause__ or link.__context__
    text = " ".join(str(x) for x in chain).lower()
    if isinstance(cause, httpx2.ConnectTimeout):
        why = "timed out connecting"
    elif "refused" in text or any(isinstance(x, ConnectionRefusedError) for x in chain):
        why = "connection refused"
    elif any(marker in text for marker in _DNS):
        why = "no such host"
    else:
        why = "could not connect"
    return Unreachable(f"cannot reach {host or 'the server'} ({why}). {hint}", host=host,
                       type="connection_error", code=type(cause).__name__)


def map_error(
    e: Exception,
    key: str | None = None,
    *,
    secrets: Iterable[str | None] = (),
    host: str | None = None,
    hint: str = "Check OPENAI_BASE_URL, or use --backend draft for offline drafts.",
) -> RequestFailed:
    """Map an SDK exception to the failure the runner acts on (the one place that does).

    `secrets` (the key, a base-URL password) are blanked from every field; `host` and `hint` make
    the sentence that stops a run whose server cannot be reached."""
    import openai

    from storyboard.backends.openai.transport import TooLarge

    if isinstance(e, RequestFailed):
        return e
    secrets = tuple(secrets)
    _scrub(e, key, secrets)
    if isinstance(e, openai.APIConnectionError) and isinstance(e.__cause__, TooLarge):
        return TransientFailure(str(e.__cause__), ambiguous=True, type="invalid_response", code="too_large")
    if isinstance(e, openai.APIConnectionError):  # includes APITimeoutError
        cause = type(e.__cause__).__name__ if e.__cause__ is not None else None
        timed_out = isinstance(e, openai.APITimeoutError)
        unreachable = _unreachable(e, host, hint)
        if unreachable is not None:
            return unreachable
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
        every = (key, *secrets)
        fields: dict[str, Any] = {
            "type": clean(e.type if isinstance(e.type, str) else None, every),
            "code": clean(e.code if isinstance(e.code, str | int) else None, every),
            "status": status,
            "request_id": clean(e.request_id, every),
            "limits": parse_limits(e.response.headers),
        }
        message = _short(_server_message(e), key, secrets)
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
        every = (key, *secrets)
        return FrameFailure(_short(e.message, key, secrets), type=clean(e.type, every) or "api_error",
                            code=clean(e.code, every), status=None)
    return FrameFailure(_short(str(e) or type(e).__name__, key, secrets), type="client_error", code=type(e).__name__)
