"""An adventure as a comic gamebook: one frame a page, its passage under the panel, then its choices.

Each choice reads "Follow the light: turn to page 4" and links to that page. The panel takes
the page's width (at most ~60 % of its height) and leaves the room the words need below it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from storyboard.export.comic_balloons import TextLine
from storyboard.export.comic_draw import CAPTION, INK, OUTLINE_PT, text_line
from storyboard.export.comic_layout import Box, Sheet, Slot

if TYPE_CHECKING:
    from fpdf import FPDF

    from storyboard.export.board import Frame
    from storyboard.export.comic_draw import PdfMeasure

SIZE = 10.0
LEAD = SIZE * 1.3
GAP = 12.0
PAD = (8.0, 6.0)
CHOICE_COLOUR = (38, 86, 150)


def pages(frames: list[Frame], sheet: Sheet, measure: PdfMeasure, aspects: list[float]) -> list[list[Slot]]:
    """Return one page per frame, in reading order, each with its panel's slot."""
    page_of = {fr.ident: i + 1 for i, fr in enumerate(frames) if fr.ident}
    out = []
    for i, frame in enumerate(frames):
        area = sheet.areas[0] if i == 0 else sheet.areas[1]
        words = _lines(frame, area.w, measure, page_of)
        needed = sum(h for _, h, _ in words) + (2 * PAD[1] if frame.passage else 0.0) + GAP * 2
        h = max(60.0, min(area.w / aspects[i], area.h * 0.62, area.h - needed))
        w = min(area.w, h * aspects[i])
        out.append([Slot(i, i, 0, Box(area.x + (area.w - w) / 2, area.y, w, h))])
    return out


def _lines(frame: Frame, width: float, measure: PdfMeasure, page_of: dict[str, int]) -> list[tuple[str, float, str]]:
    """Return the passage's lines and each choice's lines as (text, height, target id or '')."""
    out: list[tuple[str, float, str]] = []
    if frame.passage:
        out += [(line, LEAD, "") for line in measure.wrap(frame.passage, width - 2 * PAD[0], SIZE)]
    for label, goto in frame.choices:
        where = f"turn to page {page_of[goto]}" if goto in page_of else "(this choice leads nowhere)"
        text = f"{label}: {where}." if label else f"Turn to page {page_of.get(goto, '?')}."
        out += [(line, LEAD, goto) for line in measure.wrap("→ " + text, width, SIZE, True)]
    return out


def draw_text(
    pdf: FPDF, frame: Frame, box: Box, sheet: Sheet, measure: PdfMeasure, page_of: dict[str, int], links: dict[str, int]
) -> None:
    """Draw the passage in a narration box under the panel, then the choices, each linked to its page."""
    area = sheet.areas[1]
    words = _lines(frame, area.w, measure, page_of)
    y = box.bottom + GAP
    passage = [(t, h) for t, h, goto in words if not goto]
    if passage:
        height = sum(h for _, h in passage) + 2 * PAD[1]
        pdf.set_fill_color(*CAPTION)
        pdf.set_draw_color(*INK)
        pdf.set_line_width(OUTLINE_PT * 0.8)
        pdf.rect(area.x, y, area.w, height, style="DF")
        ty = y + PAD[1]
        for text, h in passage:
            text_line(pdf, TextLine(text, Box(area.x + PAD[0], ty, area.w - 2 * PAD[0], h), SIZE, False, "start"))
            ty += h
        y += height + GAP
    for text, h, goto in words:
        if not goto:
            continue
        line = TextLine(text, Box(area.x, y, area.w, h), SIZE, True, "start")
        text_line(pdf, line, CHOICE_COLOUR)
        if goto in links:
            pdf.link(area.x, y, measure.width(text, SIZE, True), h, links[goto])
        y += h
