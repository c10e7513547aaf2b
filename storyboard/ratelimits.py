"""What a server says about its rate limits with an answer: the `x-ratelimit-*` headers (a limit,
what remains of it, and how long until it is whole again, for requests and for tokens), the
wait hints of a 429 or 503 (`retry-after-ms`, `retry-after` in seconds or as an HTTP date), and
the tokens an answer's usage says it used (what the `-tokens` limit counts).

Parsed here once for every HTTP backend; the run's pacer (run/pacing.py) acts on them."""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


@dataclass(frozen=True)
class Limit:
    """One limit as of an answer: its size, what remains, seconds until it is whole again."""

    limit: int | None
    remaining: int | None
    reset: float | None


@dataclass(frozen=True)
class Limits:
    """The limits one answer reported (either may be None when the server did not say)."""

    requests: Limit | None = None
    tokens: Limit | None = None


def parse_duration(text: str | None) -> float | None:
    """Return seconds for a duration as rate-limit headers write it (`20ms`, `1s`, `6m0s`, `1h2m3.5s`, or
    a plain number of seconds); None when it is not one."""
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        return value if math.isfinite(value) and value >= 0 else None
    total, at = 0.0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != at:
            return None
        total += float(match.group(1)) * _UNIT[match.group(2)]
        at = match.end()
    return total if at == len(text) and at else None


def _integer(text: str | None) -> int | None:
    try:
        value = int(float(text)) if text is not None else None
    except ValueError:
        return None
    return value if value is None or value >= 0 else None


def parse_limits(headers: Mapping[str, str] | None) -> Limits | None:
    """Return the `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` of an answer, or None."""
    if headers is None:
        return None
    found: dict[str, Limit | None] = {}
    for kind in ("requests", "tokens"):
        limit = _integer(headers.get(f"x-ratelimit-limit-{kind}"))
        remaining = _integer(headers.get(f"x-ratelimit-remaining-{kind}"))
        reset = parse_duration(headers.get(f"x-ratelimit-reset-{kind}"))
        found[kind] = Limit(limit, remaining, reset) if (limit, remaining, reset) != (None, None, None) else None
    if found["requests"] is None and found["tokens"] is None:
        return None
    return Limits(found["requests"], found["tokens"])


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Return the server's wait hint in seconds: `retry-after-ms`, else `retry-after` (seconds or an
    HTTP date); None without a usable one. No ceiling: a long wait is the runner's to judge."""
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
                return max(email.utils.mktime_tz(when) - (time.time() if now is None else now), 0.0)
        except (TypeError, ValueError, OverflowError):
            pass
    return None


def tokens_used(usage: Mapping[str, Any] | None) -> float | None:
    """Return the tokens an answer's usage says the request used (what the -tokens limit counts)."""
    total = (usage or {}).get("total_tokens")
    return float(total) if isinstance(total, int | float) and not isinstance(total, bool) else None
