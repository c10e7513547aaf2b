"""Exports: share a finished board as storyboard PDF pages, comic pages, an MP4 or GIF/WebP animatic, a sheet PNG or a ZIP.

Rendered from `DIR/manifest.json` and the images it names alone; nothing is requested. Each
format lives in its own module; this one picks the file name, writes it atomically and reports
progress and warnings through callbacks (library code never prints).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePath
from typing import IO, Any, Literal

from storyboard.errors import UsageError
from storyboard.export.board import load_board
from storyboard.export.job import ExportJob, ExportOptions, ProgressFn, WarnFn
from storyboard.output import fs

ExportKind = Literal["pdf", "comic", "mp4", "gif", "webp", "sheet", "zip"]
KINDS: tuple[ExportKind, ...] = ("pdf", "comic", "mp4", "gif", "webp", "sheet", "zip")
EXPORTS = "exports"

_SUFFIX: dict[str, str] = {
    "pdf": ".pdf",
    "comic": "-comic.pdf",
    "mp4": ".mp4",
    "gif": ".gif",
    "webp": ".webp",
    "sheet": "-sheet.png",
    "zip": ".zip",
}


def export(
    out_dir: Path,
    kind: ExportKind,
    dest: Path | None = None,
    *,
    options: ExportOptions | None = None,
    progress: ProgressFn | None = None,
    warn: WarnFn | None = None,
) -> Path:
    """Write DIR's board as `kind` (atomically) and return the file written.

    `progress(done, total)` is called as frames are drawn; `warn(sentence)` for what the user
    should know (a frame without a usable duration, text in a script no font covers).
    """
    out_dir = Path(out_dir)
    if kind not in _SUFFIX:
        raise UsageError(f"unknown export kind {kind!r}. Choose one of: {', '.join(KINDS)}.")
    options = options or ExportOptions()
    options.check()
    board = load_board(out_dir)
    if not board.with_images:
        n = len(board.frames)
        raise UsageError(
            f"{out_dir}: nothing to export: no frame has an image "
            f"({n} frame{'s' if n != 1 else ''} in the manifest). "
            "Run the story first, or fix the failed frames and run it again."
        )
    target = default_destination(out_dir, board.manifest, kind)
    if dest is not None:
        dest = Path(dest)
        # `-o some/folder` means "put it in there, under its usual name".
        target = dest / target.name if dest.is_dir() else dest
    job = ExportJob(board, options, target, progress or (lambda done, total: None), warn or (lambda message: None))
    for message in board.warnings:
        job.warn(message)
    # Its own exports/ folder is DIR's: a symlink there that leads out is refused, not followed.
    fs.write_with(target, lambda f: _writer(kind)(f, job), root=Path(out_dir) if dest is None else None)
    for message in board.unreadable:
        job.warn(message)
    return target


def _writer(kind: str) -> Callable[[IO[bytes], ExportJob], None]:
    """Return the function that writes one format (imported late: each pulls its own libraries)."""
    if kind == "pdf":
        from storyboard.export.pdf import write_pdf

        return write_pdf
    if kind == "comic":
        from storyboard.export.comic import write_comic

        return write_comic
    if kind == "mp4":
        from storyboard.export.video import write_mp4

        return write_mp4
    if kind in ("gif", "webp"):
        from storyboard.export.animation import write_animation

        return lambda f, job: write_animation(f, job, "GIF" if kind == "gif" else "WEBP")
    if kind == "sheet":
        from storyboard.export.sheet import write_sheet_png

        return write_sheet_png
    from storyboard.export.archive import write_zip

    return write_zip


def default_destination(out_dir: Path, manifest: dict[str, Any], kind: ExportKind) -> Path:
    """Return DIR/exports/<story file stem><suffix>, e.g. exports/robot-dog-sheet.png."""
    story_file = (manifest.get("story") or {}).get("file") or ""
    # The manifest keeps the path as the user typed it, maybe with Windows separators.
    stem = PurePath(str(story_file).replace("\\", "/")).stem or Path(out_dir).resolve().name or "storyboard"
    return Path(out_dir) / EXPORTS / f"{stem}{_SUFFIX[kind]}"
