"""Drawing a comic page on an fpdf2 document: panels (or labelled empty ones), balloons, captions.

Lettering is set in the shipped lettering font (family "comic"; shaped, with the sans and
system fonts as fallbacks for other scripts), so every word is real, selectable text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storyboard.export.comic_balloons import TextLine
from storyboard.render import pdfdoc
from storyboard.render.text import is_rtl

if TYPE_CHECKING:
    from collections.abc import Callable

    from fpdf import FPDF

    from storyboard.export.board import Frame
    from storyboard.export.comic_balloons import Lettering
    from storyboard.export.comic_layout import Box, Sheet

Colour = tuple[int, int, int]
INK: Colour = (22, 22, 26)
PAPER: Colour = (255, 255, 255)
CAPTION: Colour = (255, 241, 194)  # the pale yellow of a narration box
EMPTY: Colour = (246, 246, 247)
RULE: Colour = (204, 204, 208)
GREY: Colour = (104, 104, 110)
ALERT: Colour = (176, 32, 40)
BORDER_PT = 1.1
OUTLINE_PT = 0.8


class PdfMeasure:
    """Measure and wrap lettering with the document's own fonts (what `comic_balloons.Measure` asks)."""

    def __init__(self, pdf: FPDF, family: str = "comic") -> None:
        self.pdf = pdf
        self.family = family

    def _font(self, size: float, bold: bool) -> None:
        self.pdf.set_font(self.family, "B" if bold else "", size)

    def width(self, text: str, size: float, bold: bool = False) -> float:
        """Return the width of one line of text at `size`."""
        self._font(size, bold)
        return pdfdoc.text_width(self.pdf, text)

    def wrap(self, text: str, width: float, size: float, bold: bool = False) -> list[str]:
        """Break text into lines of at most `width` at `size` (blank lines dropped)."""
        self._font(size, bold)
        return [line for line in pdfdoc.wrap(self.pdf, text, width) if line.strip()] or [""]


def page_furniture(pdf: FPDF, sheet: Sheet, number: int, count: int, title: str, *, big: bool = False) -> None:
    """Draw the title (first page) and the page number at the foot of the page (`big` in a gamebook)."""
    if title:
        pdf.set_font("comic", "B", 20)
        pdf.set_text_color(*INK)
        for i, line in enumerate(sheet.title_lines):
            pdf.set_xy(sheet.areas[1].x, sheet.areas[1].y + i * 24)
            pdfdoc.cell(pdf, sheet.areas[1].w, 24, line, align="C")
    pdf.set_font("sans", "B" if big else "", 11 if big else 8)
    pdf.set_text_color(*(INK if big else GREY))
    pdf.set_xy(0, sheet.h - 31)
    pdfdoc.cell(pdf, sheet.w, 12, f"{number}" if count > 1 else "", align="C")


def panel(pdf: FPDF, frame: Frame, box: Box, lettering: Lettering) -> Callable[[], None] | None:
    """Draw a frame's picture filling its panel box (or a labelled empty panel), then the border.

    Returns what to draw over the lettering afterwards: an empty panel's label, when the balloons
    leave no room for it below them (why a frame failed is never hidden), else None."""
    px = (round(box.w / 72 * pdfdoc.IMAGE_DPI), round(box.h / 72 * pdfdoc.IMAGE_DPI))
    image = frame.open(px)
    on_top = None
    if image is None:
        on_top = _empty(pdf, frame, box, lettering)
    else:
        # The box has the frame's aspect; an image edited to another shape is fitted inside it on white.
        scale = min(box.w / image.width, box.h / image.height)
        w, h = image.width * scale, image.height * scale
        pdfdoc.place_image(pdf, image, box.x + (box.w - w) / 2, box.y + (box.h - h) / 2, w, h)
        image.close()
    pdf.set_draw_color(*INK)
    pdf.set_line_width(BORDER_PT)
    pdf.rect(box.x, box.y, box.w, box.h, style="D")
    return on_top


def _empty(pdf: FPDF, frame: Frame, box: Box, lettering: Lettering) -> Callable[[], None] | None:
    """Draw a crossed, pale panel saying which frame it is and why it has no picture."""
    pdf.set_fill_color(*EMPTY)
    pdf.rect(box.x, box.y, box.w, box.h, style="F")
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.5)
    pdf.line(box.x, box.y, box.right, box.bottom)
    pdf.line(box.x, box.bottom, box.right, box.y)
    # The label sits under the lettering, in the space left, so balloons never cover it.
    top = max([box.y] + [max(p[1] for p in item.outline) + 4 for item in lettering.items])
    room = box.bottom - top
    pdf.set_font("sans", "", 7.5)
    reason = frame.missing_reason
    inner = box.w - 16
    every = [line for line in pdfdoc.wrap(pdf, reason, inner) if line.strip()] if reason else []
    if room < 12 + 10 + 9.5 * len(every) + 6:
        return lambda: _label_over(pdf, frame, box, every)
    block = 12 + 10 + 9.5 * len(every)
    y = top + max(0.0, (room - block) / 2)
    pdf.set_fill_color(*EMPTY)
    widest = max([pdfdoc.text_width(pdf, s) for s in every] + [60.0])
    pdf.rect(box.x + (box.w - widest) / 2 - 6, y - 3, widest + 12, block + 6, style="F")
    _label_words(pdf, frame, box, y, every)
    return None


def _label_over(pdf: FPDF, frame: Frame, box: Box, lines: list[str], most: int = 4) -> None:
    """Draw an empty panel's label on a band across its foot, over the balloons that fill it."""
    if len(lines) > most:
        lines = [*lines[: most - 1], lines[most - 1].rstrip(" .") + "…"]
    block = 12 + 10 + 9.5 * len(lines)
    y = box.bottom - block - 8
    pdf.set_fill_color(*EMPTY)
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.5)
    pdf.rect(box.x + 4, y - 3, box.w - 8, block + 6, style="DF")
    _label_words(pdf, frame, box, y, lines)


def _label_words(pdf: FPDF, frame: Frame, box: Box, y: float, lines: list[str]) -> None:
    """Set an empty panel's words from `y` down, centred: FAILED (or SKIPPED, NO IMAGE), its name, why."""
    pdf.set_font("sans", "B", 10)
    pdf.set_text_color(*ALERT)
    pdf.set_xy(box.x, y)
    pdfdoc.cell(pdf, box.w, 12, frame.status_word, align="C")
    pdf.set_font("sans", "", 7.5)
    pdf.set_text_color(*GREY)
    pdf.set_xy(box.x, y + 12)
    pdfdoc.cell(pdf, box.w, 10, frame.name, align="C")
    for i, line in enumerate(lines):
        pdf.set_xy(box.x + 8, y + 22 + 9.5 * i)
        pdfdoc.cell(pdf, box.w - 16, 9.5, line, align="C")


def lettering(pdf: FPDF, letters: Lettering) -> None:
    """Draw a panel's caption box and balloons, outlines first and then their words."""
    pdf.set_draw_color(*INK)
    for item in letters.items:
        if item.kind == "caption":
            pdf.set_fill_color(*CAPTION)
            pdf.set_line_width(OUTLINE_PT * 0.8)
            pdf.rect(item.body.x, item.body.y, item.body.w, item.body.h, style="DF")
        else:
            pdf.set_fill_color(*PAPER)
            pdf.set_line_width(OUTLINE_PT)
            pdf.polygon(list(item.outline), style="DF")
        for line in item.lines:
            text_line(pdf, line)


def text_line(pdf: FPDF, line: TextLine, colour: Colour = INK) -> None:
    """Set one line of lettering in its box: centred, or from the side its own script starts."""
    pdf.set_font("comic", "B" if line.bold else "", line.size)
    pdf.set_text_color(*colour)
    pdf.set_xy(line.box.x, line.box.y)
    align = "C" if line.align == "centre" else ("R" if is_rtl(line.text) else "L")
    pdfdoc.cell(pdf, line.box.w, line.box.h, line.text, align=align)
