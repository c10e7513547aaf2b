"""Comic page layout: frames set as rows of panels on printed pages, in reading order.

A row's panels share one height, so each panel's width follows its frame's aspect, and a row
spans the page's width. Rows and page breaks are chosen together (a small dynamic program):
rows near a third of the page tall, pages filled, a row never split across pages, and a frame
with `page_break` starting a page. With right-to-left reading the rows run from the right.
Pure geometry in points, top-left origin; nothing is drawn here.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_PER_ROW = 4
GUTTER_X = 10.0  # between panels of a row
GUTTER_Y = 12.0  # between rows
MIN_ROW_H = 120.0  # a row of several panels is never flatter than this
MAX_ROW_SHARE = 0.62  # one panel alone is at most this share of the page's height
MAX_PER_PAGE = 16
_PAGE_COST = 0.35  # what one more page costs, against rows off their ideal height
_FILL_WEIGHT = 15.0  # an unfilled page (not the last of a run) costs this times its empty share squared
MIN_SCALE = 0.92  # a page's rows may be set this much narrower to fit it
_SHRINK_WEIGHT = 0.25  # what setting them at MIN_SCALE costs
_SPREAD_MAX = 1.0  # empty space spread between rows, at most this many gutters' worth per gap


@dataclass(frozen=True)
class Box:
    """A rectangle in points: left, top, width, height."""

    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        """Return the right edge."""
        return self.x + self.w

    @property
    def bottom(self) -> float:
        """Return the bottom edge."""
        return self.y + self.h

    def inset(self, d: float) -> Box:
        """Return the box shrunk by `d` on every side."""
        return Box(self.x + d, self.y + d, max(0.0, self.w - 2 * d), max(0.0, self.h - 2 * d))

    def overlaps(self, other: Box) -> bool:
        """Tell whether two boxes share any area."""
        return self.x < other.right and other.x < self.right and self.y < other.bottom and other.y < self.bottom

    def holds(self, other: Box, slack: float = 0.01) -> bool:
        """Tell whether `other` lies inside this box."""
        return (
            other.x >= self.x - slack
            and other.y >= self.y - slack
            and other.right <= self.right + slack
            and other.bottom <= self.bottom + slack
        )


@dataclass(frozen=True)
class Sheet:
    """A page's size and its panel areas: the first page's (under the title) and every other page's."""

    w: float
    h: float
    areas: tuple[Box, Box]
    title_lines: tuple[str, ...]


@dataclass(frozen=True)
class Slot:
    """Where one frame's panel goes: its index in reading order, page, row on that page, and box."""

    index: int
    page: int
    row: int
    box: Box


@dataclass(frozen=True)
class _Row:
    start: int
    end: int
    h: float  # at full size
    total: float  # the sum of its panels' aspects
    capped: bool  # one tall panel held below the area's width
    cost: float

    def height(self, scale: float) -> float:
        """Return the row's height when the page's rows span `scale` of the area's width."""
        if self.capped:
            return self.h * scale
        return self.h - (1 - scale) * self._full_w / self.total

    @property
    def _full_w(self) -> float:
        return self.h * self.total + GUTTER_X * (self.end - self.start - 1)

    def width(self, scale: float) -> float:
        """Return the width the row's panels and gutters take at `scale`."""
        return self.height(scale) * self.total + GUTTER_X * (self.end - self.start - 1)


@dataclass(frozen=True)
class _Page:
    rows: tuple[_Row, ...]
    scale: float  # rows span this share of the area's width (1 unless shrunk a little to fit)


def paginate(aspects: list[float], breaks: list[bool], areas: tuple[Box, Box], *, rtl: bool = False) -> list[list[Slot]]:
    """Lay out frames (their width/height aspects, in reading order) as pages of panel slots.

    `breaks[i]` starts a new page at frame i; `areas` are the first page's panel area (below
    the title) and every other page's.
    """
    n = len(aspects)
    if n == 0:
        return []
    aspects = [min(max(a, 0.2), 5.0) for a in aspects]
    starts = [0] + [i for i in range(1, n) if breaks[i]] + [n]
    pages: list[_Page] = []
    for s, e in zip(starts, starts[1:], strict=False):
        pages += _chapter(aspects, s, e, areas, first=not pages, final=e == n)
    out = []
    for p, page in enumerate(pages):
        area = areas[0] if p == 0 else areas[1]
        out.append(_place(page, aspects, area, p, spread=p < len(pages) - 1, rtl=rtl))
    return out


def _row(aspects: list[float], start: int, end: int, area: Box) -> _Row | None:
    """Return frames [start, end) as one row spanning the area, or None when too flat."""
    k = end - start
    total = sum(aspects[start:end])
    h = (area.w - GUTTER_X * (k - 1)) / total
    if k > 1 and h < MIN_ROW_H:
        return None
    cap = area.h * MAX_ROW_SHARE if k == 1 else area.h
    w = area.w
    if h > cap:
        h = cap
        w = h * total + GUTTER_X * (k - 1)
    target = (area.h - 2 * GUTTER_Y) / 3
    cost = ((h - target) / target) ** 2 + 2.0 * ((area.w - w) / area.w) ** 2
    return _Row(start, end, h, total, w < area.w - 0.01, cost)


def _chapter(aspects: list[float], s: int, e: int, areas: tuple[Box, Box], *, first: bool, final: bool) -> list[_Page]:
    """Break frames [s, e) (no page break inside) into pages of rows at the least cost.

    Only the comic's last page may stay part empty at no cost: one before a page break is a
    full page like any other.
    """
    best: dict[int, tuple[float, list[_Page]]] = {e: (0.0, [])}
    for i in range(e - 1, s - 1, -1):
        area = areas[0] if first and i == s else areas[1]
        found: tuple[float, list[_Page]] | None = None
        for cost, page in _pages_from(aspects, i, e, area, final):
            end = page.rows[-1].end
            total = cost + best[end][0]
            if found is None or total < found[0]:
                found = (total, [page, *best[end][1]])
        assert found is not None  # one panel alone always fits a page
        best[i] = found
    return best[s][1]


def _pages_from(aspects: list[float], i: int, e: int, area: Box, final: bool) -> list[tuple[float, _Page]]:
    """Return every way to fill one page from frame i (rows that fit), each with its cost.

    Rows a little too tall for the page together may be set a little narrower (MIN_SCALE),
    all by the same share, so that they fit.
    """
    out: list[tuple[float, _Page]] = []

    def grow(rows: list[_Row], slope: float, offset: float, cost: float) -> None:
        # The rows' heights at scale f add up to slope * f - offset (each is linear in f).
        at = rows[-1].end if rows else i
        gaps = GUTTER_Y * (len(rows) - 1)
        scale = min(1.0, (area.h - gaps + offset) / slope) if rows else 1.0
        if rows:
            used = slope * scale - offset + gaps
            empty = max(0.0, area.h - used) / area.h
            fill = 0.0 if at == e and final else _FILL_WEIGHT * empty**2
            shrink = _SHRINK_WEIGHT * (1 - scale) / (1 - MIN_SCALE)
            out.append((cost + fill + shrink + _PAGE_COST, _Page(tuple(rows), scale)))
        if at == e or at - i >= MAX_PER_PAGE:
            return
        for k in range(1, MAX_PER_ROW + 1):
            if at + k > e or at + k - i > MAX_PER_PAGE:
                break
            row = _row(aspects, at, at + k, area)
            if row is None:
                continue
            a, b = _linear(row)
            if (slope + a) * MIN_SCALE - (offset + b) + GUTTER_Y * len(rows) > area.h + 0.01:
                continue
            rows.append(row)
            grow(rows, slope + a, offset + b, cost + row.cost)
            rows.pop()

    grow([], 0.0, 0.0, 0.0)
    if not out:  # a single panel taller than the area: shrink it to the area
        row = _row(aspects, i, i + 1, area)
        assert row is not None
        out.append((row.cost + _PAGE_COST, _Page((row,), min(1.0, area.h / row.h))))
    return out


def _linear(row: _Row) -> tuple[float, float]:
    """Return (a, b) such that the row's height at scale f is a * f - b."""
    return row.height(1.0) - row.height(0.0), -row.height(0.0)


def _place(page: _Page, aspects: list[float], area: Box, number: int, *, spread: bool, rtl: bool) -> list[Slot]:
    """Turn a page's rows into panel boxes: rows centred, empty space shared between them on full pages."""
    rows, scale = page.rows, page.scale
    used = sum(r.height(scale) for r in rows) + GUTTER_Y * (len(rows) - 1)
    gap = GUTTER_Y
    if spread and len(rows) > 1:
        gap += max(0.0, min((area.h - used) / (len(rows) - 1), GUTTER_Y * _SPREAD_MAX))
    slots = []
    y = area.y
    for r, row in enumerate(rows):
        h = row.height(scale)
        x = area.x + (area.w - row.width(scale)) / 2
        for i in range(row.start, row.end):
            w = h * aspects[i]
            box = Box(x, y, w, h)
            if rtl:
                box = Box(2 * area.x + area.w - x - w, y, w, h)
            slots.append(Slot(i, number, r, box))
            x += w + GUTTER_X
        y += h + gap
    return slots
