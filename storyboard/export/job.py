"""What an export is asked to do: the options, and the job each format's writer gets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from storyboard.errors import UsageError
from storyboard.export.board import Board

Layout = Literal["6", "3", "1"]
LAYOUTS: tuple[Layout, ...] = ("6", "3", "1")
ProgressFn = Callable[[int, int], None]  # (frames done, frames in all)
WarnFn = Callable[[str], None]


@dataclass(frozen=True)
class ExportOptions:
    """How to export: PDF layout and paper, comic reading direction, animatic frame rate, captions, audio, crossfades."""

    layout: Layout = "6"
    paper: Literal["a4", "letter"] = "a4"
    fps: int = 24
    burn_captions: bool = False
    audio: Path | None = None
    crossfade: float = 0.0  # seconds, taken from the end of the outgoing frame
    rtl: bool = False  # comic: panels and balloons read right to left (manga)

    def check(self) -> None:
        """Raise UsageError naming the flag when an option is out of range."""
        if self.layout not in LAYOUTS:
            raise UsageError(f"--layout {self.layout}: choose 6 (frames a page), 3 (with a notes column) or 1.")
        if self.paper not in ("a4", "letter"):
            raise UsageError(f"--paper {self.paper}: choose a4 or letter.")
        if not 1 <= self.fps <= 120:
            raise UsageError(f"--fps {self.fps}: choose a frame rate from 1 to 120 (24 is film's).")
        if not 0 <= self.crossfade <= 10:
            raise UsageError(f"--crossfade {self.crossfade:g}: give 0 to 10 seconds.")
        if self.audio is not None and not Path(self.audio).is_file():
            raise UsageError(f"--audio {self.audio}: no such file.")


@dataclass
class ExportJob:
    """What a format's writer gets: the board, the options, the target path and the callbacks."""

    board: Board
    options: ExportOptions
    target: Path
    progress: ProgressFn
    warn: WarnFn
