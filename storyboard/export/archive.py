"""The shareable folder as a ZIP: frames, takes, sheet and manifest, and the animatics the sheet links
(exports/*.mp4 with their .srt); not the store, the other exports, set-aside/ or any symlink."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import IO, TYPE_CHECKING

from storyboard.output.frames import SET_ASIDE
from storyboard.output.manifest import MANIFEST

if TYPE_CHECKING:
    from storyboard.export.job import ExportJob

EXPORTS = "exports"
# Already-compressed images gain nothing from deflate; storing them is faster.
_STORED = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".avif", ".mp4"}


def _zip_skipped(name: str) -> bool:
    """Tell whether a file or folder name stays out of the ZIP (store, temp and lock files)."""
    return name.startswith(".") or name.endswith((".lock", ".tmp")) or name == "lock"


def zip_members(out_dir: Path, skip: Path | None = None) -> list[tuple[Path, str]]:
    """List (file, name in the ZIP) for the shareable folder: no .cache/, set-aside/ or lock file, and
    of exports/ only the animatics (with their subtitles) that the sheet links."""
    out_dir = Path(out_dir)
    top = out_dir.resolve().name or "storyboard"
    skip_resolved = skip.resolve() if skip is not None else None
    files: list[tuple[Path, str]] = []
    folders: list[tuple[Path, str]] = []
    for root, dirs, names in os.walk(out_dir):
        rel = Path(root).relative_to(out_dir)
        dirs[:] = sorted(d for d in dirs if not _zip_skipped(d) and not (rel == Path(".") and d == SET_ASIDE))
        if rel == Path(EXPORTS):
            dirs[:] = []
            films = {Path(n).stem for n in names if n.endswith(".mp4")}
            names = [n for n in names if Path(n).stem in films and n.endswith((".mp4", ".srt"))]
        for name in sorted(names):
            path = Path(root) / name
            if _zip_skipped(name) or path.is_symlink() or not path.is_file() or path.resolve() == skip_resolved:
                continue
            arcname = "/".join((top, *rel.parts, name))
            # index.html and manifest.json first, so a listing starts with what to open.
            (files if rel == Path(".") else folders).append((path, arcname))
    order = {"index.html": 0, MANIFEST: 1}
    files.sort(key=lambda m: (order.get(m[0].name, 2), m[1]))
    return files + folders


def write_zip(f: IO[bytes], job: ExportJob) -> None:
    """Write the shareable folder as a ZIP with one top folder named after DIR."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, arcname in zip_members(job.board.out_dir, job.target):
            stored = path.suffix.lower() in _STORED
            zf.write(path, arcname, compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
