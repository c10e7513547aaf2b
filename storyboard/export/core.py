"""Exports: share a finished storyboard as PDF pages, a GIF/WebP animatic, one sheet PNG or a ZIP.

Rendered from `DIR/manifest.json` and the images it names alone; nothing is requested.
"""

from __future__ import annotations

import os
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import IO, TYPE_CHECKING, Any, Literal

from storyboard.errors import UsageError
from storyboard.output.manifest import MANIFEST, load_manifest, picked_entries
from storyboard.render.fonts import is_rtl

if TYPE_CHECKING:
    from PIL import Image, ImageDraw, ImageFont

ExportKind = Literal["pdf", "gif", "webp", "sheet", "zip"]
KINDS: tuple[ExportKind, ...] = ("pdf", "gif", "webp", "sheet", "zip")
EXPORTS = "exports"
DEFAULT_DURATION = 2.0
ANIMATIC_MAX_SIDE = 1024

_SUFFIX: dict[str, str] = {
    "pdf": ".pdf",
    "gif": ".gif",
    "webp": ".webp",
    "sheet": "-sheet.png",
    "zip": ".zip",
}

# A4 landscape at 150 dpi (297 x 210 mm).
_PDF_DPI = 150
_PAGE = (1754, 1240)
_PER_PAGE = (3, 2)

_INK = (28, 28, 30)
_GREY = (96, 96, 100)
_FAINT = (150, 150, 155)
_RULE = (200, 200, 204)
_MATTE = (236, 236, 238)
_EMPTY = (247, 247, 248)
_ALERT = (176, 32, 40)
_WHITE = (255, 255, 255)

# A frame whose image did not arrive is an empty panel; this is what it says.
_STATUS_WORD = {"failed": "FAILED", "skipped": "SKIPPED"}

Entry = dict[str, Any]
Frame = tuple[Entry, Path | None]


def export(out_dir: Path, kind: ExportKind, dest: Path | None = None) -> Path:
    """Write DIR's storyboard as `kind` (atomically) and return the file written."""
    out_dir = Path(out_dir)
    if kind not in _SUFFIX:
        raise UsageError(f"unknown export kind {kind!r}. Choose one of: {', '.join(KINDS)}.")
    manifest = load_manifest(out_dir)
    frames = [(e, _image_path(out_dir, e)) for e in picked_entries(manifest)]
    if not any(path for _, path in frames):
        raise UsageError(
            f"{out_dir}: nothing to export: no frame has an image "
            f"({len(frames)} frame{'s' if len(frames) != 1 else ''} in the manifest). "
            "Run the story first, or fix the failed frames and run it again."
        )
    target = default_destination(out_dir, manifest, kind)
    if dest is not None:
        dest = Path(dest)
        # `-o some/folder` means "put it in there, under its usual name".
        target = dest / target.name if dest.is_dir() else dest
    writers: dict[str, Callable[[IO[bytes]], None]] = {
        "pdf": lambda f: _write_pdf(f, manifest, frames),
        "gif": lambda f: _write_animatic(f, frames, "GIF"),
        "webp": lambda f: _write_animatic(f, frames, "WEBP"),
        "sheet": lambda f: _write_sheet(f, manifest, frames),
        "zip": lambda f: _write_zip(f, out_dir, skip=target),
    }
    _write_atomically(target, writers[kind])
    return target


def default_destination(out_dir: Path, manifest: dict[str, Any], kind: ExportKind) -> Path:
    """Return DIR/exports/<story file stem><suffix>, e.g. exports/robot-dog-sheet.png."""
    story_file = (manifest.get("story") or {}).get("file") or ""
    # The manifest keeps the path as the user typed it, maybe with Windows separators.
    stem = PurePath(str(story_file).replace("\\", "/")).stem or Path(out_dir).resolve().name or "storyboard"
    return Path(out_dir) / EXPORTS / f"{stem}{_SUFFIX[kind]}"


# --- files -------------------------------------------------------------------------------


def _image_path(out_dir: Path, entry: Entry) -> Path | None:
    """Return the existing image file of an entry, or None (no image, missing, or outside DIR)."""
    name = entry.get("file")
    if not name or not isinstance(name, str):
        return None
    path = out_dir / name
    try:
        # A manifest is data: never let it point an export at files outside DIR.
        path.resolve().relative_to(out_dir.resolve())
    except ValueError:
        return None
    return path if path.is_file() else None


def _write_atomically(target: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through a hidden temp file beside `target`, then rename it into place."""
    from storyboard.output import fs

    fs.write_with(target, write)


def _open_rgb(path: Path | None) -> Image.Image | None:
    """Open an image as RGB (transparency over white), or None when it cannot be read."""
    if path is None:
        return None
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                flat = Image.new("RGB", rgba.size, _WHITE)
                flat.paste(rgba, mask=rgba.getchannel("A"))
                return flat
            return im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        # A hand-edited file can be anything; one bad frame must not sink the export.
        return None


# --- text --------------------------------------------------------------------------------


def _font(size: int, text: str = "", bold: bool = False) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Return a font of `size` px that covers the script of `text`."""
    from storyboard.render.fonts import load_font

    return load_font(size, text, bold=bold)


def _printable(text: str, font: Any) -> str:
    """Return text the font can draw without raising (bitmap fonts are Latin-1 only)."""
    from PIL import ImageFont

    if isinstance(font, ImageFont.FreeTypeFont):
        return text
    return text.encode("latin-1", "replace").decode("latin-1")


def _ellipsis(font: Any) -> str:
    """Return the ellipsis the font can draw."""
    from PIL import ImageFont

    return "…" if isinstance(font, ImageFont.FreeTypeFont) else "..."


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int, max_lines: int) -> list[str]:
    """Wrap text to `width`, at most `max_lines` lines, the last one ending in … when cut."""
    from storyboard.render.fonts import wrap_text

    if max_lines <= 0 or not text.strip():
        return []
    lines = [line for line in wrap_text(draw, _printable(text, font), font, width) if line.strip()]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = _fit_line(draw, lines[-1], font, width, cut=True)
    return lines


def _line_height(font: Any) -> int:
    """Return the distance between baselines of `font`."""
    from PIL import ImageFont

    if isinstance(font, ImageFont.FreeTypeFont):
        ascent, descent = font.getmetrics()
        return int((ascent + descent) * 1.08)
    return int(font.getbbox("Ag")[3] * 1.3)


def _text_block(
    draw: ImageDraw.ImageDraw,
    x: int,
    y: int,
    width: int,
    text: str,
    size: int,
    fill: tuple[int, int, int],
    max_lines: int,
) -> int:
    """Draw wrapped text (right-aligned when right-to-left) and return the y below it."""
    font = _font(size, text)
    step = _line_height(font)
    for line in _wrap(draw, text, font, width, max_lines):
        # Per line, so English notes followed by an Arabic line each sit on their own side.
        lx = x + width - int(draw.textlength(line, font=font)) if is_rtl(line) else x
        draw.text((lx, y), line, font=font, fill=fill)
        y += step
    return y


def _fit_line(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int, cut: bool = False) -> str:
    """Return text cut (with …) to one line of at most `width` px; `cut` says it was cut already."""
    text = _printable(text, font).rstrip()
    if not cut and draw.textlength(text, font=font) <= width:
        return text
    dots = _ellipsis(font)
    while text and draw.textlength(text + dots, font=font) > width:
        text = text[:-1].rstrip()
    return text + dots


# --- panels ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Look:
    """Type sizes and text budget of one frame cell."""

    meta: int
    caption: int
    notes: int
    caption_lines: int
    with_notes: bool


def _panel_aspect(frames: list[Frame]) -> float:
    """Return the most common width/height of the frames with images, kept within 1:2 to 2.4:1."""
    aspects: Counter[float] = Counter()
    for entry, path in frames:
        w, h = entry.get("width"), entry.get("height")
        if path and isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
            aspects[round(w / h, 3)] += 1
    aspect = aspects.most_common(1)[0][0] if aspects else 1.5
    return min(max(aspect, 0.5), 2.4)


def _panel_size(cell_w: int, max_h: int, aspect: float) -> tuple[int, int]:
    """Return the largest panel of `aspect` that fits cell_w x max_h."""
    w = min(cell_w, int(max_h * aspect))
    return w, int(w / aspect)


def _notes_text(entry: Entry) -> str:
    """Return the notes, on-image text and choices of an entry as one block."""
    parts = [str(entry[k]) for k in ("notes", "text") if entry.get(k)]
    choices = entry.get("choices") or []
    if isinstance(choices, list) and choices:
        labels = [
            f"{c.get('label', '')} → {c.get('goto', '')}".strip() for c in choices if isinstance(c, dict)
        ]
        parts.append("Choices: " + "; ".join(labels))
    return "\n".join(parts)


def _draw_cell(
    page: Image.Image,
    draw: ImageDraw.ImageDraw,
    frame: Frame,
    box: tuple[int, int, int, int],
    text_bottom: int,
    look: _Look,
) -> None:
    """Draw one frame: its panel at `box`, then number, caption (and notes) under it."""
    from PIL import ImageOps

    entry, path = frame
    x, y, w, h = box
    image = _open_rgb(path)
    if image is not None:
        draw.rectangle((x, y, x + w - 1, y + h - 1), fill=_MATTE)
        image = ImageOps.contain(image, (w, h))
        page.paste(image, (x + (w - image.width) // 2, y + (h - image.height) // 2))
        draw.rectangle((x, y, x + w - 1, y + h - 1), outline=_INK, width=2)
    else:
        _draw_empty_panel(draw, entry, path, box, look)

    ty = y + h + max(6, look.meta // 2)
    ty = _draw_meta_line(draw, entry, x, ty, w, look.meta)
    caption = str(entry.get("caption") or "")
    if caption:
        ty = _text_block(draw, x, ty, w, caption, look.caption, _INK, look.caption_lines) + 4
    notes = _notes_text(entry) if look.with_notes else ""
    if notes:
        font = _font(look.notes, notes)
        room = (text_bottom - ty) // max(1, _line_height(font))
        _text_block(draw, x, ty, w, notes, look.notes, _GREY, room)


def _draw_meta_line(draw: ImageDraw.ImageDraw, entry: Entry, x: int, y: int, w: int, size: int) -> int:
    """Draw the number badge, the frame id and duration/take; return the y below the line."""
    number = str(entry.get("number") or "?")
    font = _font(size, number, bold=True)
    left, top, right, bottom = draw.textbbox((0, 0), number, font=font)
    pad = max(4, size // 3)
    badge_h = size + pad
    badge_w = max(badge_h, right - left + 2 * pad)
    draw.rounded_rectangle((x, y, x + badge_w, y + badge_h), radius=pad, fill=_INK)
    draw.text(
        (x + (badge_w - (right - left)) // 2 - left, y + (badge_h - (bottom - top)) // 2 - top),
        number,
        font=font,
        fill=_WHITE,
    )
    details = []
    duration = _duration(entry)
    details.append(f"{duration:g}s")
    if (entry.get("takes") or 1) > 1:
        details.append(f"take {entry.get('take')}/{entry.get('takes')}")
    if entry.get("status") in ("edited", "locked"):
        details.append(str(entry["status"]))
    right_text = " · ".join(details)
    small = _font(max(10, size - 3), right_text)
    right_w = int(draw.textlength(right_text, font=small))
    text_y = y + (badge_h - _line_height(small)) // 2 + 1
    draw.text((x + w - right_w, text_y), right_text, font=small, fill=_FAINT)
    ident = str(entry.get("id") or "")
    if ident:
        id_font = _font(max(10, size - 3), ident)
        room = w - badge_w - right_w - 3 * pad
        if room > 20:
            draw.text(
                (x + badge_w + pad, text_y), _fit_line(draw, ident, id_font, room), font=id_font, fill=_GREY
            )
    return y + badge_h + pad


def _draw_empty_panel(
    draw: ImageDraw.ImageDraw,
    entry: Entry,
    path: Path | None,
    box: tuple[int, int, int, int],
    look: _Look,
) -> None:
    """Draw the panel of a frame without an image: what happened and why."""
    x, y, w, h = box
    draw.rectangle((x, y, x + w - 1, y + h - 1), fill=_EMPTY, outline=_FAINT, width=2)
    # A cross, as on a paper storyboard's unfilled panel, so it reads as empty at a glance.
    draw.line((x, y, x + w - 1, y + h - 1), fill=_RULE, width=1)
    draw.line((x, y + h - 1, x + w - 1, y), fill=_RULE, width=1)
    status = str(entry.get("status") or "")
    word = _STATUS_WORD.get(status, "NO IMAGE")
    error = entry.get("error") if isinstance(entry.get("error"), dict) else None
    message = str((error or {}).get("message") or "")
    # The short reason ("moderation", "budget") and the provider's own sentence, when both exist.
    reason = "\n".join(dict.fromkeys(s for s in (str(entry.get("reason") or ""), message) if s))
    if not reason and entry.get("file") and path is None:
        reason = f"{entry['file']} is missing"
    elif not reason and path is not None:
        reason = f"{path.name} could not be read"
    inner = w - 2 * max(12, w // 12)
    head = _font(look.caption + 2, word, bold=True)
    head_w = int(draw.textlength(word, font=head))
    lines_font = _font(look.notes, reason)
    lines = _wrap(draw, reason, lines_font, inner, 4) if reason else []
    step = _line_height(lines_font)
    block_h = _line_height(head) + step * len(lines)
    ty = y + (h - block_h) // 2
    # White behind the words so the cross does not run through them.
    widest = max([head_w, *(int(draw.textlength(s, font=lines_font)) for s in lines)])
    draw.rectangle(
        ((x + (w - widest) // 2) - 10, ty - 6, (x + (w + widest) // 2) + 10, ty + block_h + 4), fill=_EMPTY
    )
    draw.text((x + (w - head_w) // 2, ty), word, font=head, fill=_ALERT)
    ty += _line_height(head)
    for line in lines:
        lw = int(draw.textlength(line, font=lines_font))
        draw.text((x + (w - lw) // 2, ty), line, font=lines_font, fill=_GREY)
        ty += step


def _duration(entry: Entry) -> float:
    """Return an entry's animatic duration in seconds (DEFAULT_DURATION when unset or bad)."""
    value = entry.get("duration")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return DEFAULT_DURATION


def _runtime(frames: list[Frame]) -> str:
    """Return the animatic running time of the frames with images, as m:ss."""
    seconds = round(sum(_duration(e) for e, path in frames if path))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _title(manifest: dict[str, Any]) -> str:
    """Return the story title, or a stand-in when the manifest has none."""
    return str((manifest.get("story") or {}).get("title") or "Untitled storyboard")


def _summary(manifest: dict[str, Any], frames: list[Frame]) -> str:
    """Return the one-line summary under a title: frames, running time, date."""
    n = len(frames)
    parts = [f"{n} frame{'s' if n != 1 else ''}", f"running time {_runtime(frames)}"]
    finished = str((manifest.get("run") or {}).get("finished") or "")[:10]
    if finished:
        parts.append(finished)
    return " · ".join(parts)


# --- PDF ---------------------------------------------------------------------------------


def _write_pdf(f: IO[bytes], manifest: dict[str, Any], frames: list[Frame]) -> None:
    """Write storyboard pages: A4 landscape, 3x2 frames a page, header and footer."""
    cols, rows = _PER_PAGE
    per_page = cols * rows
    chunks = [frames[i : i + per_page] for i in range(0, len(frames), per_page)]
    pages = [_pdf_page(manifest, frames, chunk, i + 1, len(chunks)) for i, chunk in enumerate(chunks)]
    pages[0].save(
        f,
        format="PDF",
        save_all=True,
        append_images=pages[1:],
        resolution=_PDF_DPI,
        # 4:4:4 keeps thin coloured text sharp; Pillow stores RGB pages as JPEG.
        quality=90,
        subsampling=0,
        title=_title(manifest),
        creator="storyboard",
    )


def _pdf_page(
    manifest: dict[str, Any], frames: list[Frame], chunk: list[Frame], number: int, count: int
) -> Image.Image:
    """Render one storyboard page."""
    from PIL import Image, ImageDraw

    width, height = _PAGE
    page = Image.new("RGB", _PAGE, _WHITE)
    draw = ImageDraw.Draw(page)
    margin = 72

    # Header: title on the left, what it is on the right, a rule under both.
    summary = _summary(manifest, frames)
    small = _font(20, summary)
    summary_w = int(draw.textlength(summary, font=small))
    title = _title(manifest)
    title_font = _font(40, title, bold=True)
    title_line = _fit_line(draw, title, title_font, width - 2 * margin - summary_w - 40)
    draw.text((margin, margin - 8), title_line, font=title_font, fill=_INK)
    draw.text((width - margin - summary_w, margin + 14), summary, font=small, fill=_GREY)
    draw.line((margin, margin + 52, width - margin, margin + 52), fill=_INK, width=2)

    # Footer: the story file on the left, the page number on the right.
    foot_y = height - margin - 4
    draw.line((margin, foot_y - 14, width - margin, foot_y - 14), fill=_RULE, width=1)
    story_file = PurePath(str((manifest.get("story") or {}).get("file") or "")).name
    left = f"{story_file} · storyboard" if story_file else "storyboard"
    left_font = _font(18, left)
    draw.text((margin, foot_y), _printable(left, left_font), font=left_font, fill=_FAINT)
    page_label = f"Page {number} of {count}"
    page_font = _font(18, page_label)
    draw.text(
        (width - margin - int(draw.textlength(page_label, font=page_font)), foot_y),
        page_label,
        font=page_font,
        fill=_GREY,
    )

    cols, rows = _PER_PAGE
    top, bottom = margin + 84, foot_y - 40
    gap_x, gap_y = 44, 40
    cell_w = (width - 2 * margin - (cols - 1) * gap_x) // cols
    cell_h = (bottom - top - (rows - 1) * gap_y) // rows
    look = _Look(meta=20, caption=22, notes=18, caption_lines=2, with_notes=True)
    # Room for a number line, two caption lines and two note lines under every panel.
    panel_w, panel_h = _panel_size(cell_w, cell_h - 126, _panel_aspect(frames))
    _draw_grid(page, draw, chunk, cols, (margin, top), (cell_w, cell_h), (gap_x, gap_y), (panel_w, panel_h), look)
    return page


def _draw_grid(
    image: Any, draw: Any, frames: list[Frame], cols: int, origin: tuple[int, int], cell: tuple[int, int],
    gap: tuple[int, int], panel: tuple[int, int], look: _Look,
) -> None:
    """Draw frames row by row into a grid of cells, each panel centred in its cell, text below."""
    for i, frame in enumerate(frames):
        row, col = divmod(i, cols)
        cx = origin[0] + col * (cell[0] + gap[0])
        cy = origin[1] + row * (cell[1] + gap[1])
        box = (cx + (cell[0] - panel[0]) // 2, cy, panel[0], panel[1])
        _draw_cell(image, draw, frame, box, cy + cell[1], look)


# --- sheet -------------------------------------------------------------------------------


def _write_sheet(f: IO[bytes], manifest: dict[str, Any], frames: list[Frame]) -> None:
    """Write one contact-sheet PNG: title, then a grid of numbered, captioned frames."""
    from PIL import Image, ImageDraw

    cols = min(4, len(frames))
    rows = -(-len(frames) // cols)
    margin, gap_x, gap_y = 56, 32, 36
    cell_w = 400
    look = _Look(meta=17, caption=19, notes=15, caption_lines=2, with_notes=False)
    panel_w, panel_h = _panel_size(cell_w, int(cell_w * 1.25), _panel_aspect(frames))
    text_h = 88
    cell_h = panel_h + text_h
    header_h = 124
    width = 2 * margin + cols * cell_w + (cols - 1) * gap_x
    height = margin + header_h + rows * cell_h + (rows - 1) * gap_y + margin // 2

    sheet = Image.new("RGB", (width, height), _WHITE)
    draw = ImageDraw.Draw(sheet)
    title = _title(manifest)
    title_font = _font(40, title, bold=True)
    draw.text(
        (margin, margin - 8),
        _fit_line(draw, title, title_font, width - 2 * margin),
        font=title_font,
        fill=_INK,
    )
    summary = _summary(manifest, frames)
    draw.text((margin, margin + 48), summary, font=_font(20, summary), fill=_GREY)
    draw.line((margin, margin + 88, width - margin, margin + 88), fill=_INK, width=2)

    top = margin + header_h
    _draw_grid(sheet, draw, frames, cols, (margin, top), (cell_w, cell_h), (gap_x, gap_y), (panel_w, panel_h), look)
    sheet.save(f, format="PNG", optimize=False)


# --- animatics ---------------------------------------------------------------------------


def _write_animatic(f: IO[bytes], frames: list[Frame], fmt: Literal["GIF", "WEBP"]) -> None:
    """Write the picked frames with images as an animation, each for its duration, looping."""
    from PIL import Image, ImageOps

    shown: list[Image.Image] = []
    durations: list[int] = []
    canvas_size: tuple[int, int] | None = None
    for entry, path in frames:
        image = _open_rgb(path)
        if image is None:
            continue
        if canvas_size is None:
            # The first frame sets the canvas: its aspect, at most ANIMATIC_MAX_SIDE on its long side.
            scale = min(1.0, ANIMATIC_MAX_SIDE / max(image.size))
            canvas_size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        fitted = ImageOps.contain(image, canvas_size, method=Image.Resampling.LANCZOS)
        canvas = Image.new("RGB", canvas_size, (0, 0, 0))
        canvas.paste(fitted, ((canvas_size[0] - fitted.width) // 2, (canvas_size[1] - fitted.height) // 2))
        # Each GIF frame gets its own adaptive palette: frames of a story rarely share colours.
        shown.append(canvas.quantize(colors=256, method=Image.Quantize.MEDIANCUT) if fmt == "GIF" else canvas)
        durations.append(round(_duration(entry) * 1000))
    if not shown:
        raise UsageError("nothing to export: no frame image could be read. Run the story again.")
    options: dict[str, Any] = (
        {"optimize": False, "disposal": 1} if fmt == "GIF" else {"quality": 85, "method": 4}
    )
    shown[0].save(
        f,
        format=fmt,
        save_all=True,
        append_images=shown[1:],
        duration=durations if len(durations) > 1 else durations[0],
        loop=0,
        **options,
    )


# --- ZIP ---------------------------------------------------------------------------------

# Already-compressed images gain nothing from deflate; storing them is faster.
_STORED = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".avif"}


def _zip_skipped(name: str) -> bool:
    """Tell whether a file or folder name stays out of the ZIP (store, temp and lock files)."""
    return name.startswith(".") or name.endswith((".lock", ".tmp")) or name == "lock"


def zip_members(out_dir: Path, skip: Path | None = None) -> list[tuple[Path, str]]:
    """List (file, name in the ZIP) for the shareable folder: no .cache/, exports/ or lock file."""
    out_dir = Path(out_dir)
    top = out_dir.resolve().name or "storyboard"
    skip_resolved = skip.resolve() if skip is not None else None
    files: list[tuple[Path, str]] = []
    folders: list[tuple[Path, str]] = []
    for root, dirs, names in os.walk(out_dir):
        rel = Path(root).relative_to(out_dir)
        dirs[:] = sorted(d for d in dirs if not _zip_skipped(d) and not (rel == Path(".") and d == EXPORTS))
        for name in sorted(names):
            path = Path(root) / name
            if _zip_skipped(name) or not path.is_file() or path.resolve() == skip_resolved:
                continue
            arcname = "/".join((top, *rel.parts, name))
            # index.html and manifest.json first, so a listing starts with what to open.
            (files if rel == Path(".") else folders).append((path, arcname))
    order = {"index.html": 0, MANIFEST: 1}
    files.sort(key=lambda m: (order.get(m[0].name, 2), m[1]))
    return files + folders


def _write_zip(f: IO[bytes], out_dir: Path, skip: Path | None) -> None:
    """Write the shareable folder as a ZIP with one top folder named after DIR."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, arcname in zip_members(out_dir, skip):
            stored = path.suffix.lower() in _STORED
            zf.write(path, arcname, compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
