"""One contact-sheet PNG: the title, then a grid of numbered, captioned frames (Pillow)."""

from __future__ import annotations

from typing import IO, TYPE_CHECKING

from storyboard.export.board import uncovered_warnings
from storyboard.export.palette import ALERT, EMPTY, FAINT, GREY, INK, MATTE, RULE, WHITE
from storyboard.render import fonts
from storyboard.render import text as typeset
from storyboard.render.fonts import load_font

if TYPE_CHECKING:
    from PIL import Image, ImageDraw

    from storyboard.export.board import Frame
    from storyboard.export.job import ExportJob


_COLS = 4
_CELL_W = 400
_MARGIN, _GAP_X, _GAP_Y = 56, 32, 36
_TEXT_H = 88
_HEADER_H = 124


def write_sheet_png(f: IO[bytes], job: ExportJob) -> None:
    """Write the sheet PNG, drawing the frames one at a time."""
    from PIL import Image, ImageDraw

    board = job.board
    frames = board.frames
    shown = [board.title, board.summary(), *(f"{f.label} {f.ident} {f.caption}" for f in frames)]
    for message in uncovered_warnings(board, fonts.not_drawn(shown), "the sheet PNG"):
        job.warn(message)
    cols = min(_COLS, len(frames))
    rows = -(-len(frames) // cols)
    aspect = min(max(board.aspect(), 0.5), 2.4)
    panel_w = min(_CELL_W, int(_CELL_W * 1.25 * aspect))
    panel_h = int(panel_w / aspect)
    cell_h = panel_h + _TEXT_H
    width = 2 * _MARGIN + cols * _CELL_W + (cols - 1) * _GAP_X
    height = _MARGIN + _HEADER_H + rows * cell_h + (rows - 1) * _GAP_Y + _MARGIN // 2

    sheet = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(sheet)
    title_font = load_font(40, board.title, bold=True)
    typeset.draw_text(draw, (_MARGIN, _MARGIN - 8), typeset.fit(draw, board.title, title_font, width - 2 * _MARGIN), title_font, INK)
    summary = board.summary()
    typeset.draw_text(draw, (_MARGIN, _MARGIN + 48), summary, load_font(20, summary), GREY)
    draw.line((_MARGIN, _MARGIN + 88, width - _MARGIN, _MARGIN + 88), fill=INK, width=2)

    top = _MARGIN + _HEADER_H
    for i, frame in enumerate(frames):
        row, col = divmod(i, cols)
        x = _MARGIN + col * (_CELL_W + _GAP_X) + (_CELL_W - panel_w) // 2
        y = top + row * (cell_h + _GAP_Y)
        _draw_cell(sheet, draw, frame, (x, y, panel_w, panel_h))
        job.progress(i + 1, len(frames))
    sheet.save(f, format="PNG", optimize=False)


def _draw_cell(sheet: Image.Image, draw: ImageDraw.ImageDraw, frame: Frame, box: tuple[int, int, int, int]) -> None:
    """Draw one frame: its panel at `box`, then the number line and two lines of caption under it."""
    from PIL import ImageOps

    x, y, w, h = box
    image = frame.open((w, h))
    if image is not None:
        draw.rectangle((x, y, x + w - 1, y + h - 1), fill=MATTE)
        image = ImageOps.contain(image, (w, h))
        sheet.paste(image, (x + (w - image.width) // 2, y + (h - image.height) // 2))
        draw.rectangle((x, y, x + w - 1, y + h - 1), outline=INK, width=2)
    else:
        _draw_empty(draw, frame, box)
    ty = _draw_meta_line(draw, frame, x, y + h + 8, w, 17)
    if frame.caption:
        font = load_font(19, frame.caption)
        typeset.draw_block(draw, frame.caption, font, x, x + w, ty, INK, max_lines=2)


def _draw_meta_line(draw: ImageDraw.ImageDraw, frame: Frame, x: int, y: int, w: int, size: int) -> int:
    """Draw the number badge, the frame id and the duration/take; return the y below the line."""
    font = load_font(size, frame.label, bold=True)
    left, top, right, bottom = draw.textbbox((0, 0), frame.label, font=font)
    pad = max(4, size // 3)
    badge_h = size + pad
    badge_w = max(badge_h, right - left + 2 * pad)
    draw.rounded_rectangle((x, y, x + badge_w, y + badge_h), radius=pad, fill=INK)
    typeset.draw_text(draw, (x + badge_w / 2, y + badge_h / 2), frame.label, font, WHITE, "mm")
    details = [f"{frame.duration:g}s"]
    takes = frame.entry.get("takes")
    if isinstance(takes, int) and takes > 1:
        details.append(f"take {frame.entry.get('take')}/{takes}")
    if frame.status in ("edited", "locked"):
        details.append(frame.status)
    right_text = " · ".join(details)
    small = load_font(size - 3, right_text)
    right_w = int(typeset.measure(draw, right_text, small))
    mid = y + badge_h / 2
    typeset.draw_text(draw, (x + w, mid), right_text, small, FAINT, "rm")
    room = w - badge_w - right_w - 3 * pad
    if frame.ident and room > 20:
        id_font = load_font(size - 3, frame.ident)
        typeset.draw_text(draw, (x + badge_w + pad, mid), typeset.fit(draw, frame.ident, id_font, room), id_font, GREY, "lm")
    return y + badge_h + pad


def _draw_empty(draw: ImageDraw.ImageDraw, frame: Frame, box: tuple[int, int, int, int]) -> None:
    """Draw the panel of a frame without an image: a crossed box saying what happened."""
    x, y, w, h = box
    draw.rectangle((x, y, x + w - 1, y + h - 1), fill=EMPTY, outline=FAINT, width=2)
    # A cross, as on a paper storyboard's unfilled panel, so it reads as empty at a glance.
    draw.line((x, y, x + w - 1, y + h - 1), fill=RULE, width=1)
    draw.line((x, y + h - 1, x + w - 1, y), fill=RULE, width=1)
    word, reason = frame.status_word, frame.missing_reason
    head = load_font(21, word, bold=True)
    small = load_font(16, reason)
    lines = typeset.wrap(draw, reason, small, w - 2 * max(12, w // 12), 3) if reason else []
    step = typeset.line_height(small)
    block_h = typeset.line_height(head) + step * len(lines)
    ty = y + (h - block_h) / 2
    widest = max([typeset.measure(draw, word, head), *(typeset.measure(draw, s, small) for s in lines)])
    # Paper behind the words so the cross does not run through them.
    draw.rectangle((x + (w - widest) / 2 - 10, ty - 6, x + (w + widest) / 2 + 10, ty + block_h + 4), fill=EMPTY)
    typeset.draw_text(draw, (x + w / 2, ty), word, head, ALERT, "ma")
    typeset.draw_lines(draw, lines, small, x, x + w, ty + typeset.line_height(head), step, GREY, align="centre")
