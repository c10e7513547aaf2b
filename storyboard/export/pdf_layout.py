"""Where everything goes on the storyboard PDF's pages, decided before anything is drawn.

Each frame is a cell: a panel (the image's box) and a text block (pdf_text). Cells sit in
rows (three to a row in layout "6", one in "3" and "1"); a row that does not fit what is left
of a page starts the next one (a grid page's panels may shrink a little first, so one more row
fits), and a text block taller than a whole page goes on there, line by line. Nothing is ever
cut. No image is decoded here: only its aspect is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from storyboard.export.pdf_text import Line, Typesetter
from storyboard.render import pdfdoc

if TYPE_CHECKING:
    from storyboard.export.board import Board, Frame


@dataclass
class Placed:
    """A frame's panel and/or text lines placed on a page (x, y: top left of the cell, in pt)."""

    frame: Frame
    x: float
    y: float
    panel: tuple[float, float, float, float] | None  # dx, dy, w, h inside the cell; None on a continuation
    text_dx: float
    text_dy: float
    text_w: float
    lines: list[Line]


@dataclass
class Page:
    """One page: the cells on it, and whether it carries the title block."""

    cells: list[Placed] = field(default_factory=list)
    title_block: list[Line] = field(default_factory=list)


@dataclass(frozen=True)
class Geometry:
    """A layout on a paper: page size, content box, cells per row and per page, where panel and text go."""

    orientation: Literal["portrait", "landscape"]
    page_w: float
    page_h: float
    margin: float
    cols: int
    rows: int
    gap_x: float
    gap_y: float
    cell_w: float
    panel_w: float
    panel_h: float
    beside: bool  # text beside the panel (True) or under it
    scale: float  # type size against STYLES (one frame a page sets larger type)
    col_w: float  # beside: the panel column's width
    slot: float  # a row's height when its text is short

    @property
    def top(self) -> float:
        """Return the y where a page's content starts (below the running head)."""
        return self.margin + 22

    @property
    def bottom(self) -> float:
        """Return the y where a page's content ends (above the footer)."""
        return self.page_h - self.margin - 16

    @property
    def panel_dx(self) -> float:
        """Return the panel's left edge inside a cell (centred in its column)."""
        return (self.panel_col - self.panel_w) / 2 if self.beside else (self.cell_w - self.panel_w) / 2

    def box(self, aspect: float) -> tuple[float, float, float]:
        """Return (dx, w, h) of the panel of a frame of `aspect`.

        Under the text, panels are one size (the board's aspect; other frames fit inside it).
        Beside the text, each frame gets its own: as wide as the column or as tall as a row
        allows, so a portrait frame fills the row's height.
        """
        if not self.beside:
            return self.panel_dx, self.panel_w, self.panel_h
        h = min(self.slot, self.col_w / aspect)
        return (self.col_w - h * aspect) / 2, h * aspect, h

    @property
    def under_panel(self) -> bool:
        """Tell whether text under the panel keeps to the panel's width (it does unless that is narrow)."""
        return not self.beside and self.panel_w >= self.cell_w * 0.6

    @property
    def text_dx(self) -> float:
        """Return the text block's left edge inside a cell."""
        if self.beside:
            return self.panel_col + 14
        return self.panel_dx if self.under_panel else 0.0

    @property
    def panel_col(self) -> float:
        """Return the width of the panel column when text sits beside it."""
        return self.col_w if self.beside else self.panel_w

    @property
    def text_w(self) -> float:
        """Return the text block's width."""
        return self.panel_w if self.under_panel else self.cell_w - self.text_dx


TITLE_RESERVE = 46.0  # room the first page's title block takes beyond the running head, usually
_TEXT_RESERVE = {"6": 78.0, "3": 0.0, "1": 96.0}  # room kept under each panel for its text, usually


def geometry(layout: str, paper: str, aspect: float) -> Geometry:
    """Return the geometry of a layout for frames of the board's most common `aspect` (w / h)."""
    orientation: Literal["portrait", "landscape"] = "portrait" if layout == "3" else "landscape"
    short, long = pdfdoc.PAPERS[paper]
    page_w, page_h = (long, short) if orientation == "landscape" else (short, long)
    margin = 32.0
    cols, rows, gap_x, gap_y = {"6": (3, 2, 16.0, 14.0), "3": (1, 3, 0.0, 16.0), "1": (1, 1, 0.0, 0.0)}[layout]
    content_w = page_w - 2 * margin
    cell_w = (content_w - (cols - 1) * gap_x) / cols
    body = page_h - 2 * margin - 38 - TITLE_RESERVE
    slot = (body - (rows - 1) * gap_y) / rows
    beside = layout == "3" or (layout == "1" and aspect < 1.2)
    if beside:
        max_w = cell_w * (0.45 if layout == "3" else 0.58)
        max_h = slot
    else:
        max_w, max_h = cell_w, slot - _TEXT_RESERVE[layout]
    panel_w = min(max_w, max_h * aspect)
    scale = 1.2 if layout == "1" else 1.0
    return Geometry(
        orientation, page_w, page_h, margin, cols, rows, gap_x, gap_y, cell_w, panel_w, panel_w / aspect, beside, scale,
        max_w, slot,
    )


Row = list[tuple["Frame", list[Line], tuple[float, float, float]]]  # (frame, text lines, panel box) per cell
GRID_LEAST = 0.8  # a grid page's panels may shrink this far to keep one more row of long text on it
SINGLE_LEAST = 0.55  # one frame a page: a long text takes room from the picture down to this


def paginate(board: Board, geo: Geometry, ts: Typesetter, date: str) -> list[Page]:
    """Lay the board's frames out into pages (the first with the title block)."""
    first = Page(title_block=ts.title_block(board, geo.page_w - 2 * geo.margin, date))
    pages = [first]
    y = geo.margin + sum(line.height for line in first.title_block) + 14
    aspect = geo.panel_w / geo.panel_h
    least = 1.0 if geo.beside else SINGLE_LEAST if geo.rows == 1 else GRID_LEAST
    frames = board.frames
    rows: list[Row] = [
        [(f, ts.block(board, f, geo.text_w), geo.box(_aspect(f, aspect))) for f in frames[i : i + geo.cols]]
        for i in range(0, len(frames), geo.cols)
    ]
    here: list[Row] = []  # the rows of the current page, placed once the page is full
    placed = 0  # rows already on the current page (a text carried over from the page before counts)
    for row in rows:
        full = placed + len(here) >= geo.rows
        if (here or placed) and (full or _scale(geo, [*here, row], geo.bottom - y, least) is None):
            if here:
                _place(pages[-1], geo, here, y, _scale(geo, here, geo.bottom - y, least) or 1.0)
            pages.append(Page())
            y, here, placed = geo.top, [], 0
        here.append(row)
        if len(here) == 1 and _scale(geo, here, geo.bottom - y, least) is None:
            # Taller than a whole page: set at the smallest picture, the text going on over the page.
            y = _overflow(pages, geo, ts, row, y, least)
            here, placed = [], 1
    if here:
        _place(pages[-1], geo, here, y, _scale(geo, here, geo.bottom - y, least) or 1.0)
    return pages


def _row_height(geo: Geometry, row: Row, k: float) -> float:
    """Return a row's height with its panels scaled by k."""
    return max(_cell_height(geo, lines, box[2] * k) for _, lines, box in row)


def _scale(geo: Geometry, rows: list[Row], room: float, least: float) -> float | None:
    """Return the panel scale (1, or down to `least`) at which the rows fit `room`, or None."""
    gaps = geo.gap_y * (len(rows) - 1)
    if sum(_row_height(geo, r, 1.0) for r in rows) + gaps <= room:
        return 1.0
    lo, hi = least, 1.0
    if sum(_row_height(geo, r, lo) for r in rows) + gaps > room:
        return None
    for _ in range(20):  # heights grow with k; find the largest k that fits
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sum(_row_height(geo, r, mid) for r in rows) + gaps <= room else (lo, mid)
    return lo


def _scaled(box: tuple[float, float, float], k: float) -> tuple[float, float, float, float]:
    """Return a panel box (dx, dy, w, h) scaled by k about its middle."""
    dx, w, h = box
    return dx + w * (1 - k) / 2, 0.0, w * k, h * k


def _place(page: Page, geo: Geometry, rows: list[Row], y: float, k: float) -> None:
    """Put rows on a page from y down, their panels scaled by k."""
    for row in rows:
        for col, (frame, lines, box) in enumerate(row):
            panel = _scaled(box, k)
            text_dy = 0.0 if geo.beside else panel[3] + 6
            page.cells.append(Placed(frame, geo.margin + col * (geo.cell_w + geo.gap_x), y, panel, geo.text_dx, text_dy, geo.text_w, lines))
        y += _row_height(geo, row, k) + geo.gap_y


def _overflow(pages: list[Page], geo: Geometry, ts: Typesetter, row: Row, y: float, k: float) -> float:
    """Place a row taller than a page: what fits here, the rest of each text block on the next page(s)."""
    pending: list[tuple[Frame, int, list[Line]]] = []
    for col, (frame, lines, box) in enumerate(row):
        panel = _scaled(box, k)
        text_dy = 0.0 if geo.beside else panel[3] + 6
        kept, rest = _split(lines, geo.bottom - y - text_dy)
        x = geo.margin + col * (geo.cell_w + geo.gap_x)
        pages[-1].cells.append(Placed(frame, x, y, panel, geo.text_dx, text_dy, geo.text_w, kept))
        if rest:
            pending.append((frame, col, rest))
    y = geo.bottom + geo.gap_y
    while pending:  # in the same column, under a "(continued)" head
        pages.append(Page())
        y = geo.top
        carried, tallest = [], 0.0
        for frame, col, rest in pending:
            head = ts.meta(frame, geo.text_w, continued=True)
            kept, more = _split(rest, geo.bottom - y - head.height)
            x = geo.margin + col * (geo.cell_w + geo.gap_x)
            pages[-1].cells.append(Placed(frame, x, y, None, geo.text_dx, 0.0, geo.text_w, [head, *kept]))
            tallest = max(tallest, head.height + sum(line.height for line in kept))
            if more:
                carried.append((frame, col, more))
        pending = carried
        y += tallest + geo.gap_y
    return y


def _aspect(frame: Frame, common: float) -> float:
    """Return a frame's width / height (kept within 1:3 to 3:1), or the board's for a frame without size."""
    size = frame.size if frame.path is not None else None
    return min(max(size[0] / size[1], 1 / 3), 3.0) if size else common


def _cell_height(geo: Geometry, lines: list[Line], panel_h: float) -> float:
    """Return the height of a cell with these text lines and a panel this tall."""
    text = sum(line.height for line in lines)
    return max(panel_h, text) if geo.beside else panel_h + 6 + text


def _split(lines: list[Line], room: float) -> tuple[list[Line], list[Line]]:
    """Return the lines that fit in `room` pt, and the rest (at least one line is kept)."""
    used = 0.0
    for i, line in enumerate(lines):
        used += line.height
        if used > room and i > 0:
            return lines[:i], lines[i:]
    return lines, []
