"""Captions burned into the animatic's picture: each cue set once on a dark band, pasted while it shows."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storyboard.render import fonts
from storyboard.render import text as typeset

if TYPE_CHECKING:
    from PIL import Image

    from storyboard.export.board import Board
    from storyboard.export.subtitles import Cue

_MAX_LINES = 4  # beyond this the type gets smaller (down to a legible minimum), never cut


@dataclass
class Overlay:
    """One cue's text on a translucent band, and where it goes on the picture."""

    image: Image.Image
    x: int
    margin: int  # from the bottom of the picture shown

    def apply(self, picture: Image.Image, bottom: int | None = None) -> Image.Image:
        """Return the picture with the band pasted on (a copy: the shot's picture may be reused),
        above the bottom of the frame's own picture (`bottom`: where a letterboxed one ends)."""
        out = picture.copy()
        end = picture.height if bottom is None else min(bottom, picture.height)
        out.paste(self.image, (self.x, max(0, end - self.image.height - self.margin)), self.image)
        return out


class Overlays:
    """The burned-in captions of an animatic, set lazily and kept only while their cue can show."""

    def __init__(self, board: Board, cues: list[Cue], size: tuple[int, int], warn: Callable[[str], None]) -> None:
        from storyboard.export.board import uncovered_warnings

        self.cues = cues
        self.starts = [c.start for c in cues]
        self.size = size
        self.current: tuple[int, Overlay] | None = None
        for message in uncovered_warnings(board, fonts.not_drawn(c.text for c in cues), "the burned-in captions"):
            warn(message)

    def at(self, seconds: float) -> Overlay | None:
        """Return the overlay of the cue showing at `seconds`, or None."""
        i = bisect.bisect_right(self.starts, seconds + 1e-9) - 1
        if i < 0 or seconds >= self.cues[i].end - 1e-9:
            return None
        if self.current is None or self.current[0] != i:
            self.current = (i, _set(self.cues[i].text, self.size))
        return self.current[1]


def _set(text: str, size: tuple[int, int]) -> Overlay:
    """Set a cue's text, centred, on a band across the lower part of the picture."""
    from PIL import Image, ImageDraw

    width, height = size
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    base = max(12, round(min(width, height * 1.6) / 30))
    room = width * 0.86
    for px in range(base, 11, -2):
        font = fonts.load_font(px, text)
        lines = typeset.wrap(scratch, text, font, room)
        if len(lines) <= _MAX_LINES:
            break
    step = typeset.line_height(font, 1.25)
    pad = max(4, px // 2)
    band_w = round(max(typeset.measure(scratch, line, font) for line in lines) + 2 * pad)
    band_h = round(step * len(lines) + 2 * pad)
    band = Image.new("RGBA", (min(width, band_w), min(height, band_h)), (0, 0, 0, 150))
    draw = ImageDraw.Draw(band)
    typeset.draw_lines(draw, lines, font, 0, band.width, pad, step, (255, 255, 255, 255), align="centre")
    return Overlay(band, (width - band.width) // 2, round(height * 0.06))
