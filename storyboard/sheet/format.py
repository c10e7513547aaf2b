"""How the sheet writes values: money, durations, dates, counts and links."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote


def url(path: str | None) -> str | None:
    """Quote a manifest path for use in src/href; it stays relative to DIR."""
    if not path:
        return None
    # Quoting ':' and a leading '/' keeps every link inside the folder, whatever the manifest says.
    return quote(path.lstrip("/"), safe="/-_.~")


def money(value: Any, estimated: bool) -> str:
    """Return a USD amount: three decimals under ten cents, "≈" before an estimate."""
    if value is None:
        return "unknown"
    value = float(value)
    text = f"${value:,.3f}" if 0 < value < 0.1 else f"${value:,.2f}"
    return ("≈" + text) if estimated and value else text


def duration(seconds: Any) -> str:
    """Return a duration as 4.2 s, 3 min 12 s or 1 h 5 min."""
    if seconds is None:
        return "—"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(round(s), 60)
    if m < 60:
        return f"{m} min {s} s"
    h, m = divmod(m, 60)
    return f"{h} h {m} min"


def date(iso: str | None) -> str:
    """Return an ISO 8601 time as "14 Mar 2026, 09:31 UTC"."""
    if not iso:
        return ""
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    zone = " UTC" if when.utcoffset() is not None and not when.utcoffset() else ""
    return f"{when.day} {when:%b %Y, %H:%M}{zone}"


def count(n: int, word: str, plural: str | None = None) -> str:
    """Return "1 frame", "2 frames"."""
    return f"{n} {word if n == 1 else plural or word + 's'}"
