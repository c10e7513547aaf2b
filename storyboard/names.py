"""How a storyboard's frames are named and numbered on disk, in one place: `frames/NN-id.ext`,
`takes/NN-id-KK.ext` (and `takes/NN-id-edited.ext`), `characters/NAME.ext`, numbers zero padded
to the digits of the frame count (at least 2), so that name order is story order."""

from __future__ import annotations

EDITED = "edited"  # the take name of an artist's file kept when its frame was requested again


def digits(count: int) -> int:
    """Return the width of frame numbers in a story of `count` frames."""
    return max(2, len(str(max(count, 0))))


def number(n: int, width: int) -> str:
    """Return a frame number as written in names and labels: zero padded to `width`."""
    return f"{n:0{width}d}"


def stem(n: int, frame_id: str | None, width: int) -> str:
    """Return a frame's file stem: "03-city", or "03" for a frame without an id."""
    return number(n, width) + (f"-{frame_id}" if frame_id else "")


def frame_file(stem: str, ext: str) -> str:
    """Return the path (relative to DIR) of a frame's picked image."""
    return f"frames/{stem}.{ext}"


def take_file(stem: str, take: int | str, ext: str) -> str:
    """Return the path of one take: its number (two digits), or EDITED."""
    return f"takes/{stem}-{take if isinstance(take, str) else f'{take:02d}'}.{ext}"


def character_file(name: str, ext: str) -> str:
    """Return the path of a character's generated reference sheet."""
    return f"characters/{name}.{ext}"
