"""An adventure as a comic gamebook: one frame a page, its passage under the panel, then its choices.

Each choice reads "Follow the light: turn to page 4" and links to that page. The panel takes
the page's width (at most ~60 % of its height) and leaves the room the words need below it;
a long passage is set smaller (down to the minimum size) and, past that, cut and reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from storyboard.export.comic_balloons import TextLine
from storyboard.export.comic_draw import CAPTION, INK, OUTLINE_PT, text_line
from storyboard.export.comic_layout import Box, Sheet, Slot

if TYPE_CHECKING:
    from fpdf import FPDF

    from storyboard.export.board import Frame
    from storyboard.export.comic_draw import PdfMeasure

SIZES = (11.0, 10.0, 9.0, 8.0, 7.0)  # the passage's sizes, tried largest first
GAP = 12.0
PAD = (8.0, 6.0)
MIN_PANEL = 0.3  # the panel keeps at least this share of the page's height
CHOICE_COLOUR = (38, 86, 150)


@dataclass(frozen=True)
class Section:
    """One gamebook page: the frame's panel, and its words as (text, target id or '') lines at `size`."""

    slot: Slot
    size: float
    lines: tuple[tuple[str, str], ...]
    cut: bool

    @property
    def lead(self) -> float:
        """Return the distance between baselines."""
        return self.size * 1.3


def sections(frames: list[Frame], sheet: Sheet, measure: PdfMeasure, aspects: list[float]) -> list[Section]:
    """Return one page per frame, in reading order: its panel's slot and the words set under it."""
    page_of = {fr.ident: i + 1 for i, fr in enumerate(frames) if fr.ident}
    out = []
    for i, frame in enumerate(frames):
        area = sheet.areas[0] if i == 0 else sheet.areas[1]
        room = area.h * (1 - MIN_PANEL) - GAP
        for size in SIZES:
            lines = _lines(frame, area.w, measure, page_of, size)
            if _height(frame, lines, size) <= room:
                break
        cut = _height(frame, lines, size) > room
        while cut and lines and _height(frame, lines, size) > room:
            lines = _shorter(lines, measure, area.w, size)
        needed = _height(frame, lines, size) + GAP
        h = max(area.h * MIN_PANEL, min(area.w / aspects[i], area.h * 0.62, area.h - needed))
        w = min(area.w, h * aspects[i])
        slot = Slot(i, i, 0, Box(area.x + (area.w - w) / 2, area.y, w, h))
        out.append(Section(slot, size, tuple(lines), cut))
    return out


def _lines(frame: Frame, width: float, measure: PdfMeasure, page_of: dict[str, int], size: float) -> list[tuple[str, str]]:
    """Return the passage's lines and each choice's lines as (text, target id or '')."""
    out: list[tuple[str, str]] = []
    if frame.passage:
        out += [(line, "") for line in measure.wrap(frame.passage, width - 2 * PAD[0], size)]
    for label, goto in frame.choices:
        where = f"turn to page {page_of[goto]}." if goto in page_of else "(this choice leads nowhere)."
        text = f"{label}: {where}" if label else where[:1].upper() + where[1:]
        out += [(line, goto or " ") for line in measure.wrap("→ " + text, width, size, True)]
    return out


def _height(frame: Frame, lines: list[tuple[str, str]], size: float) -> float:
    """Return the height the words take: the passage's box, a gap, the choices."""
    passage = sum(1 for _, goto in lines if not goto)
    choices = len(lines) - passage
    box = passage * size * 1.3 + 2 * PAD[1] if passage else 0.0
    return box + (GAP if passage and choices else 0.0) + choices * size * 1.3


def _shorter(lines: list[tuple[str, str]], measure: PdfMeasure, width: float, size: float) -> list[tuple[str, str]]:
    """Drop the passage's last line, ending the one before in an ellipsis (choices are never cut)."""
    passage = [i for i, (_, goto) in enumerate(lines) if not goto]
    if len(passage) <= 1:
        return [line for line in lines if line[1]]  # no passage left to cut: keep the choices alone
    last, keep = passage[-1], passage[-2]
    text = lines[keep][0].rstrip()
    while text and measure.width(text + "…", size) > width - 2 * PAD[0]:
        text = text[:-1].rstrip()
    return [(text + "…", "") if i == keep else line for i, line in enumerate(lines) if i != last]


def draw_text(pdf: FPDF, section: Section, sheet: Sheet, measure: PdfMeasure, links: dict[str, int]) -> None:
    """Draw the passage in a narration box under the panel, then the choices, each linked to its page."""
    area = sheet.areas[1]
    lead = section.lead
    y = section.slot.box.bottom + GAP
    passage = [text for text, goto in section.lines if not goto]
    if passage:
        height = len(passage) * lead + 2 * PAD[1]
        pdf.set_fill_color(*CAPTION)
        pdf.set_draw_color(*INK)
        pdf.set_line_width(OUTLINE_PT * 0.8)
        pdf.rect(area.x, y, area.w, height, style="DF")
        for i, text in enumerate(passage):
            box = Box(area.x + PAD[0], y + PAD[1] + i * lead, area.w - 2 * PAD[0], lead)
            text_line(pdf, TextLine(text, box, section.size, False, "start"))
        y += height + GAP
    for text, goto in section.lines:
        if not goto:
            continue
        text_line(pdf, TextLine(text, Box(area.x, y, area.w, lead), section.size, True, "start"), CHOICE_COLOUR)
        if goto in links:
            pdf.link(area.x, y, measure.width(text, section.size, True), lead, links[goto])
        y += lead
