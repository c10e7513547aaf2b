"""Text set on Pillow images: measure, wrap to a width, fit on a line, draw lines in either direction.

One typesetter for everything drawn with Pillow: draft panels, the sheet PNG, burned-in
captions, comic PNG pages. Fonts come from `render.fonts.load_font`; Pillow's bitmap fallback
font knows Latin-1 only, so every function here degrades instead of raising on other text.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from PIL import ImageDraw, ImageFont

    Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
    Colour = tuple[int, int, int] | tuple[int, int, int, int]

ELLIPSIS = "…"

# A break may come after any of these (wide characters break anywhere, as CJK text does).
_WIDE = r"\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0003ffff"
# A no-break space (U+00A0) joins what it stands between into one piece.
_TOKEN = re.compile(rf"[^\S\u00a0]+|[{_WIDE}][、。，．！？）」』】〕〉》・ー…,.!?)\]」]*|(?:[^\s{_WIDE}]|\u00a0)+")


def tokens(paragraph: str) -> list[str]:
    """Split a paragraph into the pieces a line may break between: words, spaces, single wide characters."""
    return _TOKEN.findall(paragraph)


def is_rtl(text: str) -> bool:
    """Tell whether text's first strongly directional character is right to left (Arabic, Hebrew)."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


def _is_bitmap(font: Font) -> bool:
    """Tell whether a font is Pillow's bitmap fallback (Latin-1 only)."""
    from PIL import ImageFont

    return not isinstance(font, ImageFont.FreeTypeFont)


def printable(text: str, font: Font) -> str:
    """Return text the font can draw without raising (a bitmap font gets '?' for other characters)."""
    if not _is_bitmap(font):
        return text
    return text.encode("latin-1", "replace").decode("latin-1")


def measure(draw: ImageDraw.ImageDraw, text: str, font: Font) -> float:
    """Return the advance width of text in pixels (never raises)."""
    try:
        return draw.textlength(printable(text, font), font=font)
    except (UnicodeError, ValueError, OSError):
        return len(text) * getattr(font, "size", 10) * 0.6


def line_height(font: Font, factor: float = 1.3) -> int:
    """Return the distance between baselines: `factor` times the font size."""
    size = getattr(font, "size", None)
    if size is None:  # a bitmap font without a size: from its glyph box
        size = font.getbbox("Ag")[3]
    return max(1, round(size * factor))


def wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, width: float, max_lines: int | None = None) -> list[str]:
    """Wrap text into lines at most `width` px wide, keeping paragraphs (a blank line stays).

    With `max_lines`, the text is cut to that many lines and the last one ends in an ellipsis.
    Words wider than a line are broken per character; CJK text breaks between characters,
    keeping closing punctuation with the character before it.
    """
    limit = max_lines if max_lines is not None and max_lines > 0 else None
    lines: list[str] = []

    def full() -> bool:
        return limit is not None and len(lines) > limit

    for paragraph in text.splitlines():
        line = ""
        for token in _TOKEN.findall(paragraph):
            if full():
                break
            if token.isspace():
                line += " " if line else ""
                continue
            if measure(draw, line + token, font) <= width:
                line += token
                continue
            if line.strip():
                lines.append(line.rstrip())
            line = ""
            for ch in token:  # a word wider than the line is broken per character
                if line and measure(draw, line + ch, font) > width:
                    lines.append(line)
                    line = ""
                    if full():
                        break
                line += ch
        lines.append(line.rstrip())
        if full():
            break
    if limit is not None and len(lines) > limit:
        lines = lines[:limit]
        lines[-1] = fit(draw, lines[-1], font, width, cut=True)
    return lines


def fit(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: Font,
    width: float,
    *,
    keep: Literal["start", "end"] = "start",
    cut: bool = False,
) -> str:
    """Return text shortened with an ellipsis to one line of at most `width` px.

    `keep="end"` drops characters from the front instead (a path's file name is its telling
    end); `cut=True` says the text was cut already, so it gets the ellipsis even if it fits.
    """
    text = text.strip()
    if not cut and measure(draw, text, font) <= width:
        return text
    dots = ELLIPSIS if not _is_bitmap(font) else "..."
    while text and measure(draw, (dots + text) if keep == "end" else (text + dots), font) > width:
        text = text[1:].lstrip() if keep == "end" else text[:-1].rstrip()
    return dots + text if keep == "end" else text + dots


def draw_text(
    draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, font: Font, fill: Colour, anchor: str = "la"
) -> None:
    """Draw one line of text; a bitmap font gets what it can draw, and never raises."""
    x, y = xy
    if _is_bitmap(font) and anchor[0] in "rm":  # a bitmap font takes no anchor: place it by hand
        x -= measure(draw, text, font) / (1 if anchor[0] == "r" else 2)
    try:
        if _is_bitmap(font):
            draw.text((x, y), printable(text, font), font=font, fill=fill)
        else:
            draw.text((x, y), text, font=font, fill=fill, anchor=anchor)
    except (UnicodeError, ValueError, OSError):
        pass  # a font that cannot draw this at all: the rest of the picture still matters


def draw_lines(
    draw: ImageDraw.ImageDraw,
    lines: list[str],
    font: Font,
    left: float,
    right: float,
    y: float,
    step: float,
    fill: Colour,
    align: Literal["start", "centre"] = "start",
) -> float:
    """Draw lines from `y` down, each at its start side (right for right-to-left); return the next y."""
    for line in lines:
        if align == "centre":
            draw_text(draw, ((left + right) / 2, y), line, font, fill, "ma")
        elif is_rtl(line):
            # Per line, so English notes followed by an Arabic line each sit on their own side.
            draw_text(draw, (right, y), line, font, fill, "ra")
        else:
            draw_text(draw, (left, y), line, font, fill, "la")
        y += step
    return y


def draw_block(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: Font,
    left: float,
    right: float,
    y: float,
    fill: Colour,
    *,
    step: float | None = None,
    max_lines: int | None = None,
    align: Literal["start", "centre"] = "start",
) -> float:
    """Wrap text to the span left..right, draw it from `y` down and return the y below it."""
    lines = wrap(draw, text, font, right - left, max_lines) if text.strip() else []
    return draw_lines(draw, lines, font, left, right, y, step or line_height(font), fill, align)
