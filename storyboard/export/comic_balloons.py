"""Lettering a comic panel: a caption box at its top and one speech balloon per dialogue line.

Items go along the panel's reading path: the caption in the top corner where reading starts,
then each balloon to the right of the one before it (a little lower), or below all of them
when the row is full, so the order reads left to right and top down; everything is laid out in
reading coordinates and mirrored for right-to-left. Text is wrapped to a balloon of pleasing
shape, set smaller (down to the minimum size) until every item fits the panel without touching
another; what still does not fit is cut with an ellipsis and reported. Each balloon's outline
is one polygon: an oval (a superellipse around the text) with its tail folded in. Pure
geometry in points; `Measure` is how the caller's fonts measure and wrap text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal, Protocol

from storyboard.export.comic_layout import Box

Side = Literal["start", "end"]  # toward where reading starts (left, or right with --rtl) or ends
Point = tuple[float, float]

SIZES = (9.0, 8.5, 8.0, 7.5, 7.0)  # lettering sizes tried, largest first; the last is the minimum
LEADING = 1.18  # baseline to baseline, as a share of the size (lettering is set tight)
NAME_SHARE = 0.82  # a speaker's name is set this much smaller, in bold
PAD = 5.0  # balloons keep this far inside the panel's border
GAP = 4.0  # between two items
TAIL = 11.0  # how far a tail reaches below its balloon
_POWER = 2.6  # the oval's superellipse exponent: 2 is an ellipse, higher is squarer
_STRETCH = 2 ** (1 / _POWER)  # a text box's corners touch a superellipse this much larger
_BALLOON_PAD = (5.0, 2.5)  # room between the text and the oval, across and down
_CAPTION_PAD = (4.0, 3.0)
_SHAPE = 3.6  # the width/height of a wrapped balloon's text we aim at
_SHARES = (0.6, 0.94)  # a balloon's widest share of the panel: first tried, then when nothing fits
_POINTS = 72  # points on an oval's outline


class Measure(Protocol):
    """How the document's fonts measure and break text (lettering family; bold for names)."""

    def width(self, text: str, size: float, bold: bool = False) -> float:
        """Return the width of one line."""
        ...

    def wrap(self, text: str, width: float, size: float, bold: bool = False) -> list[str]:
        """Break text into lines at most `width` wide."""
        ...


@dataclass(frozen=True)
class Speech:
    """One dialogue line to letter: who says it, which way its tail points, whether to name them."""

    speaker: str
    line: str
    side: Side
    named: bool


@dataclass(frozen=True)
class TextLine:
    """One line of lettering: its text, the box it is set in (centred, or from the start), size, weight."""

    text: str
    box: Box
    size: float
    bold: bool = False
    align: Literal["centre", "start"] = "centre"


@dataclass(frozen=True)
class Placed:
    """A lettered item on the page: a caption box or a balloon (its outline, tail folded in)."""

    kind: Literal["caption", "balloon"]
    body: Box  # the caption's rectangle, or the box around the balloon's oval
    outline: tuple[Point, ...]  # a closed polygon: the caption's rectangle, or oval and tail
    lines: tuple[TextLine, ...]
    tip: Point | None = None  # where a balloon's tail points


@dataclass
class Lettering:
    """A panel's lettering: the items in reading order, the size set, and what had to be cut."""

    items: list[Placed]
    size: float
    cut: bool = False
    left_out: int = 0  # balloons (dialogue lines) not shown at all


@dataclass
class _Block:
    """An item sized but not yet placed (reading coordinates)."""

    kind: Literal["caption", "balloon"]
    lines: list[str]
    name: str  # the speaker's name line ('' for none)
    side: Side
    size: float
    text_w: float
    text_h: float
    body_w: float
    body_h: float

    @property
    def foot_h(self) -> float:
        """Return the height it takes with its tail."""
        return self.body_h + (TAIL if self.kind == "balloon" else 0.0)


def letter(panel: Box, caption: str, speeches: list[Speech], measure: Measure, *, rtl: bool = False) -> Lettering:
    """Letter a panel: fit the caption and balloons inside it, in reading order, none touching another."""
    if not caption and not speeches:
        return Lettering([], SIZES[0])
    for size in SIZES:
        for share in _SHARES:
            blocks = _blocks(caption, speeches, measure, size, panel, share)
            spots = _flow(blocks, panel)
            if spots is not None:
                return Lettering(_finish(blocks, spots, panel, rtl), size)
    return _cut(caption, speeches, measure, panel, rtl)


def _blocks(caption: str, speeches: list[Speech], measure: Measure, size: float, panel: Box, share: float) -> list[_Block]:
    """Size every item at one lettering size, its width at most `share` of the panel."""
    blocks = []
    inner = panel.inset(PAD)
    if caption:
        max_w = min(panel.w * max(share, 0.75), panel.w) - 2 * _CAPTION_PAD[0]
        blocks.append(_sized("caption", caption, "", "start", measure, size, max_w))
    for s in speeches:
        max_w = ((inner.w * share) / 2 - _BALLOON_PAD[0]) / _STRETCH * 2
        blocks.append(_sized("balloon", s.line, s.speaker if s.named else "", s.side, measure, size, max_w))
    return blocks


def _sized(kind: Literal["caption", "balloon"], text: str, name: str, side: Side, measure: Measure, size: float, max_w: float) -> _Block:
    """Wrap one item's text to a good measure no wider than `max_w` and size its box."""
    lead = size * LEADING
    name_size = size * NAME_SHARE
    max_w = max(max_w, size * 2)
    natural = measure.width(text, size)
    if natural <= max_w and (natural <= size * 15 or kind == "caption"):
        lines = [text] if "\n" not in text else measure.wrap(text, max_w, size)
    else:
        aim = math.sqrt(natural * lead * _SHAPE)
        lines = measure.wrap(text, min(max_w, max(aim, size * 6)), size)
    text_w = max([measure.width(line, size) for line in lines] + [measure.width(name, name_size, True) if name else 0.0])
    text_h = len(lines) * lead + (name_size * LEADING if name else 0.0)
    return _with_box(_Block(kind, lines, name, side, size, text_w, text_h, 0.0, 0.0))


def _with_box(b: _Block) -> _Block:
    """Return the block with its box sized around its text."""
    if b.kind == "caption":
        return replace(b, body_w=b.text_w + 2 * _CAPTION_PAD[0], body_h=b.text_h + 2 * _CAPTION_PAD[1])
    return replace(
        b, body_w=b.text_w * _STRETCH + 2 * _BALLOON_PAD[0], body_h=b.text_h * _STRETCH + 2 * _BALLOON_PAD[1]
    )


def _flow(blocks: list[_Block], panel: Box) -> list[Box] | None:
    """Place the items' footprints along the reading path (reading coordinates), or None when they do not fit."""
    area = panel.inset(PAD)
    placed: list[Box] = []
    for b in blocks:
        w, h = b.body_w, b.foot_h
        if b.kind == "caption":
            spots = [Box(panel.x, panel.y, w, h)]  # against the border, in the corner where reading starts
        else:
            spots = []
            lowest = max((p.bottom for p in placed), default=area.y - GAP)
            if placed:
                prev = placed[-1]
                left = max(prev.right + GAP, area.x)
                x = max(left, area.right - w) if b.side == "end" else left
                step = min(prev.h * 0.45, 18.0)
                spots += [Box(x, max(prev.y + step, area.y), w, h), Box(x, max(prev.y, area.y), w, h)]
            x = area.right - w if b.side == "end" else area.x
            spots.append(Box(x, lowest + GAP, w, h))
        room = area if b.kind == "balloon" else panel
        spot = next((s for s in spots if room.holds(s) and not any(_near(s, p) for p in placed)), None)
        if spot is None:
            return None
        placed.append(spot)
    return placed


def _near(a: Box, b: Box) -> bool:
    """Tell whether two footprints come closer than GAP."""
    return a.inset(-GAP / 2 + 0.01).overlaps(b.inset(-GAP / 2 + 0.01))


def _finish(blocks: list[_Block], spots: list[Box], panel: Box, rtl: bool) -> list[Placed]:
    """Build each item's outline and text lines at its spot, mirrored for right-to-left reading."""
    out = []
    for b, spot in zip(blocks, spots, strict=True):
        body = Box(spot.x, spot.y, b.body_w, b.body_h)
        pad = _CAPTION_PAD if b.kind == "caption" else (0.0, 0.0)
        tx = body.x + (body.w - b.text_w) / 2 if b.kind == "balloon" else body.x + pad[0]
        ty = body.y + (body.h - b.text_h) / 2
        lines = []
        lead = b.size * LEADING
        if b.name:
            name_lead = b.size * NAME_SHARE * LEADING
            lines.append(TextLine(b.name, Box(tx, ty, b.text_w, name_lead), b.size * NAME_SHARE, True))
            ty += name_lead
        align: Literal["centre", "start"] = "start" if b.kind == "caption" else "centre"
        for line in b.lines:
            lines.append(TextLine(line, Box(tx, ty, b.text_w, lead), b.size, False, align))
            ty += lead
        if b.kind == "caption":
            outline: list[Point] = [(body.x, body.y), (body.right, body.y), (body.right, body.bottom), (body.x, body.bottom)]
            tip = None
        else:
            outline, tip = _balloon_outline(body, b.side)
        item = Placed(b.kind, body, tuple(outline), tuple(lines), tip)
        out.append(_mirror(item, panel) if rtl else item)
    return out


def _balloon_outline(body: Box, side: Side) -> tuple[list[Point], Point]:
    """Return an oval filling `body` with a tail below it toward `side`, as one polygon, and the tail's tip."""
    cx, cy, a, b = body.x + body.w / 2, body.y + body.h / 2, body.w / 2, body.h / 2
    sign = -1.0 if side == "start" else 1.0
    base = cx + sign * 0.35 * a
    half = min(6.0, 0.28 * a)
    tip_x = base + sign * TAIL * 0.55
    tip = (min(max(tip_x, body.x + 1.0), body.right - 1.0), body.bottom + TAIL)
    points: list[Point] = []
    inserted = False
    for i in range(_POINTS):
        t = 2 * math.pi * i / _POINTS
        c, s = math.cos(t), math.sin(t)
        x = cx + a * math.copysign(abs(c) ** (2 / _POWER), c)
        y = cy + b * math.copysign(abs(s) ** (2 / _POWER), s)
        if s > 0 and base - half < x < base + half:  # the bottom arc where the tail joins
            if not inserted:
                points.append(tip)
                inserted = True
            continue
        points.append((x, y))
    return points, tip


def _mirror(item: Placed, panel: Box) -> Placed:
    """Return an item reflected across the panel's vertical centre line (right-to-left reading)."""
    axis = panel.x + panel.right

    def box(b: Box) -> Box:
        return Box(axis - b.right, b.y, b.w, b.h)

    return Placed(
        item.kind,
        box(item.body),
        tuple((axis - x, y) for x, y in reversed(item.outline)),
        tuple(replace(line, box=box(line.box)) for line in item.lines),
        (axis - item.tip[0], item.tip[1]) if item.tip else None,
    )


def _cut(caption: str, speeches: list[Speech], measure: Measure, panel: Box, rtl: bool) -> Lettering:
    """Letter at the smallest size, dropping lines (ending in an ellipsis) until the items fit."""
    size = SIZES[-1]
    blocks = _blocks(caption, speeches, measure, size, panel, _SHARES[-1])
    every = len(blocks)
    while blocks:
        spots = _flow(blocks, panel)
        if spots is not None:
            return Lettering(_finish(blocks, spots, panel, rtl), size, cut=True, left_out=every - len(blocks))
        longest = max(range(len(blocks)), key=lambda i: (len(blocks[i].lines), i))
        b = blocks[longest]
        if len(b.lines) <= 1:
            blocks.pop()  # every item is down to one line: the last ones cannot be shown at all
            continue
        lines = b.lines[:-1]
        lines[-1] = _with_ellipsis(lines[-1], b.text_w, measure, size)
        blocks[longest] = _resized(b, lines, measure)
    return Lettering([], size, cut=True, left_out=len(speeches))


def _with_ellipsis(line: str, width: float, measure: Measure, size: float) -> str:
    """Return the line ending in an ellipsis, shortened to stay within `width`."""
    line = line.rstrip()
    while line and measure.width(line + "…", size) > width:
        line = line[:-1].rstrip()
    return line + "…"


def _resized(b: _Block, lines: list[str], measure: Measure) -> _Block:
    """Return a block with new lines, its box sized again."""
    name_size = b.size * NAME_SHARE
    text_w = max([measure.width(line, b.size) for line in lines] + [measure.width(b.name, name_size, True) if b.name else 0.0])
    text_h = len(lines) * b.size * LEADING + (name_size * LEADING if b.name else 0.0)
    return _with_box(replace(b, lines=lines, text_w=text_w, text_h=text_h))
