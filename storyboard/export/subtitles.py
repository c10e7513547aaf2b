"""The animatic's subtitles: captions and dialogue as cues timed within their frame, and the .srt file.

A frame's caption and dialogue lines share its time in order, each in proportion to its
length (one reading speed for all), never shorter than MIN_CUE (lines are grouped into fewer cues when the frame is too
short for one each); cues never overlap. Reading speed above READING_CPS is worth a warning, and a
frame with no `duration:` of its own is held long enough to be read at that speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol


class Frame(Protocol):
    """What subtitles need of a frame (export.board.Frame has it)."""

    @property
    def name(self) -> str: ...  # how messages name it
    @property
    def caption(self) -> str: ...
    @property
    def dialogue(self) -> list[tuple[str, str]]: ...  # (speaker, line) pairs


MIN_CUE = 0.8  # seconds: about the shortest a subtitle can be read at all
READING_CPS = 17.0  # characters a second an adult reads subtitles at comfortably


@dataclass(frozen=True)
class Cue:
    """One subtitle: shown from `start` to `end` (seconds), its text and the frame it belongs to."""

    start: float
    end: float
    text: str
    frame: Frame


def frame_units(frame: Frame) -> list[str]:
    """Return what a frame says, in order: its caption, then each dialogue line as 'SPEAKER: line'."""
    units = [frame.caption] if frame.caption else []
    units += [f"{who.upper()}: {line}" if who else line for who, line in frame.dialogue]
    return units


def _groups(units: list[str], count: int) -> list[list[str]]:
    """Split units, in order, into `count` groups of about equal length."""
    if count >= len(units):
        return [[u] for u in units]
    total = sum(len(u) for u in units)
    groups: list[list[str]] = [[]]
    done = 0
    for i, unit in enumerate(units):
        left_groups = count - len(groups)
        left_units = len(units) - i
        # Start a new group when this one has its share, or when each unit left needs its own group.
        if groups[-1] and left_groups > 0 and (done >= total * len(groups) / count or left_units <= left_groups):
            groups.append([])
        groups[-1].append(unit)
        done += len(unit)
    return groups


def frame_cues(frame: Frame, start: float, end: float) -> list[Cue]:
    """Return the cues of one frame shown from `start` to `end` seconds."""
    units = frame_units(frame)
    length = end - start
    if not units or length <= 0:
        return []
    count = max(1, min(len(units), int(length // MIN_CUE)))
    texts = ["\n".join(g) for g in _groups(units, count)]
    cues, t = [], start
    for i, (text, seconds) in enumerate(zip(texts, _share([len(x) for x in texts], length), strict=True)):
        stop = end if i == len(texts) - 1 else t + seconds
        cues.append(Cue(t, stop, text, frame))
        t = stop
    return cues


def _share(lengths: list[int], total: float) -> list[float]:
    """Split `total` seconds in proportion to `lengths` (one reading speed for all), none under MIN_CUE."""
    least = min(MIN_CUE, total / len(lengths))
    fixed: set[int] = set()
    while True:
        free = total - least * len(fixed)
        chars = sum(n for i, n in enumerate(lengths) if i not in fixed) or 1
        times = [least if i in fixed else free * n / chars for i, n in enumerate(lengths)]
        short = {i for i, t in enumerate(times) if i not in fixed and t < least}
        if not short:
            return times
        fixed |= short


def reading_warnings(cues: list[Cue]) -> list[str]:
    """Return one warning per frame whose cues read faster than READING_CPS."""
    worst: dict[int, tuple[Frame, float]] = {}
    for cue in cues:
        cps = len(cue.text.replace("\n", " ")) / max(cue.end - cue.start, 1e-3)
        key = id(cue.frame)
        if cps > READING_CPS and cps > worst.get(key, (cue.frame, 0.0))[1]:
            worst[key] = (cue.frame, cps)
    return [
        f"{frame.name}: its subtitles read at {cps:.0f} characters a second ({READING_CPS:g} is comfortable); "
        "give the frame a longer `duration:` or shorten its caption and dialogue."
        for frame, cps in worst.values()
    ]


def readable_duration(frame: Frame, least: float, most: float) -> float:
    """Return how long a frame is shown when its story gives no `duration:`: `least` seconds, or the
    shortest half-second step above it at which none of its cues reads faster than READING_CPS
    (never over `most`)."""
    units = frame_units(frame)
    if not units:
        return least
    seconds = max(least, math.ceil(len(" ".join(units)) / READING_CPS * 2) / 2)
    while seconds < most and reading_warnings(frame_cues(frame, 0.0, seconds)):
        seconds += 0.5  # a short line's cue kept at MIN_CUE takes time from the others
    return min(seconds, most)


def _stamp(ms: int) -> str:
    """Return an SRT time stamp, HH:MM:SS,mmm."""
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def to_srt(cues: list[Cue]) -> str:
    """Return the cues as SubRip text (numbered, times in milliseconds, a blank line after each)."""
    blocks, previous_end = [], 0
    for cue in cues:
        # Rounded to whole milliseconds without ever starting before the previous cue ends.
        start = max(previous_end, round(cue.start * 1000))
        end = max(start + 1, round(cue.end * 1000))
        previous_end = end
        text = "\n".join(line for line in cue.text.splitlines() if line.strip())
        blocks.append(f"{len(blocks) + 1}\n{_stamp(start)} --> {_stamp(end)}\n{text}\n")
    return "\n".join(blocks)
