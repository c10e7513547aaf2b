"""Thumbnails: small copies of every image a manifest names, in `DIR/thumbs/<sha256>.jpg` (or
`.webp` for an image with transparency, which JPEG cannot hold).

The one place storyboard makes thumbnails (the sheet, and the run as images arrive). A thumbnail
is named by its image's hash, so it is made once per image however often the sheet is rebuilt.
"""

from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard import threads
from storyboard.output import fs

# The long side of a thumbnail. The API's sides (1024, 1536) are multiples of it, so their thumbnails
# are an exact box average of 2x2 or 3x3 pixels (Image.reduce): ~1 ms, where a resampling step to any
# other size costs as much again (a quarter of the CPU a run spends on each received image).
THUMB_MAX = 512
THUMBS = "thumbs"
_SHA = re.compile(r"[0-9a-f]{64}")
_EXTS = ("jpg", "webp")


@dataclass(frozen=True)
class Thumb:
    """A small copy of one image: its URL relative to DIR and its pixel size."""

    src: str
    width: int
    height: int


def thumb_size(width: int, height: int, max_side: int = THUMB_MAX) -> tuple[int, int]:
    """Return the size of a thumbnail of a width x height image (never enlarged)."""
    factor = _exact_factor(width, height, max_side)
    if factor:
        return -(-width // factor), -(-height // factor)  # what Image.reduce(factor) makes
    scale = min(1.0, max_side / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _exact_factor(width: int, height: int, max_side: int = THUMB_MAX) -> int | None:
    """Return n when the long side is n times `max_side` (n >= 2): the thumbnail is then a reduction."""
    long = max(width, height)
    return long // max_side if long >= 2 * max_side and long % max_side == 0 else None


def make_thumbnails(out_dir: Path, manifest: dict[str, Any], *, workers: int = 4) -> dict[str, Thumb]:
    """Make `thumbs/<sha256>.jpg|webp` for every image the manifest names, once per image hash."""
    out_dir = Path(out_dir)
    images = manifest_images(out_dir, manifest)
    thumbs: dict[str, Thumb] = {}
    todo: list[tuple[str, str]] = []
    for sha, (file, width, height) in images.items():
        found = existing_thumb(out_dir, sha)
        if found is not None:
            # The size follows from the manifest, so an existing thumbnail is never opened.
            size = thumb_size(width, height) if width and height else _image_size(found)
            if size:
                thumbs[sha] = Thumb(f"{THUMBS}/{found.name}", *size)
                continue
        todo.append((sha, file))
    if not todo:
        return thumbs
    fs.mkdir(out_dir / THUMBS, root=out_dir)

    def job(item: tuple[str, str]) -> tuple[str, Thumb | None]:
        sha, file = item
        made = make_thumb(out_dir / file, out_dir / THUMBS / sha)
        return sha, Thumb(f"{THUMBS}/{made[0].name}", *made[1]) if made else None

    # Pillow releases the GIL while decoding and resizing, so a few threads really run in parallel.
    n = max(1, min(workers, threads.cores(), len(todo)))
    with ThreadPoolExecutor(max_workers=n) as pool:
        for sha, thumb in pool.map(job, todo):
            if thumb is not None:
                thumbs[sha] = thumb
    return thumbs


def existing_thumb(out_dir: Path, sha: str) -> Path | None:
    """Return the thumbnail already made of an image, or None."""
    for ext in _EXTS:
        path = Path(out_dir) / THUMBS / f"{sha}.{ext}"
        if path.is_file():
            return path
    return None


def thumbnail_ahead(out_dir: Path, pixels: Any, sha: str) -> None:
    """Make the thumbnail of an image from its decoded pixels as soon as it arrives, so
    `write_sheet` finds it made (the image is not decoded a second time)."""
    if existing_thumb(out_dir, sha) is None:
        fs.mkdir(Path(out_dir) / THUMBS, root=Path(out_dir))
        write_thumb(pixels, Path(out_dir) / THUMBS / sha)


def shrink(pixels: Any) -> Any:
    """Return decoded pixels reduced to their thumbnail's size where that is an exact box average
    (the API's sizes: see THUMB_MAX), else the pixels themselves; `write_thumb` takes either.

    The run calls this where it decoded the image, while the pixels are still in the CPU's cache:
    there the reduction costs a fifth of what it costs later, on the thumbnail's own thread, and
    what waits for its thumbnail is a ninth of the memory."""
    factor = _exact_factor(*pixels.size)
    if factor is None or pixels.mode not in ("RGB", "RGBA", "L", "LA"):
        return pixels
    return pixels.reduce(factor)


def manifest_images(out_dir: Path, manifest: dict[str, Any]) -> dict[str, tuple[str, int | None, int | None]]:
    """Map sha256 -> (file, width, height) for frames, takes, character sheets and input files."""
    images: dict[str, tuple[str, int | None, int | None]] = {}

    def add(file: str | None, sha: str | None, width: Any = None, height: Any = None) -> None:
        if not file:
            return
        if not (isinstance(sha, str) and _SHA.fullmatch(sha)):
            # A hash is the thumbnail's name; never trust a malformed one with a path.
            sha = _file_sha(out_dir / file)
            if sha is None:
                return
        if sha not in images or images[sha][1] is None:
            ok = isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0
            images[sha] = (file, width if ok else None, height if ok else None)

    for e in manifest.get("frames", []):
        add(e.get("file"), e.get("sha256"), e.get("width"), e.get("height"))
        edited = e.get("edited_take")
        if isinstance(edited, dict):
            add(edited.get("file"), edited.get("sha256"), edited.get("width"), edited.get("height"))
    for c in manifest.get("characters", []) or []:
        sheet = c.get("sheet") or {}
        add(sheet.get("file"), sheet.get("sha256"), sheet.get("width"), sheet.get("height"))
        for ref in c.get("references", []) or []:
            add(ref.get("file"), ref.get("sha256"))
    for e in manifest.get("frames", []):
        for inp in e.get("inputs", []) or []:
            add(inp.get("file"), inp.get("sha256"))
    return images


def make_thumb(src: Path, stem: Path) -> tuple[Path, tuple[int, int]] | None:
    """Write a thumbnail of the image file `src` as `stem` + .jpg or .webp; return its path and
    size, or None when `src` cannot be read."""
    from PIL import Image, ImageOps

    try:
        with Image.open(src) as im:
            size = im.size
            if im.getexif().get(0x0112) in (5, 6, 7, 8):  # shown turned a quarter: as the manifest says
                size = size[::-1]
            if im.format == "JPEG":
                # JPEG decodes at 1/2..1/8 scale directly: most of the speed-up for large photos.
                im.draft("RGB", thumb_size(*im.size))
            im.load()
            # A photo turned by its EXIF orientation (a hand-edited frame from a phone) shows upright.
            return write_thumb(ImageOps.exif_transpose(im), stem, thumb_size(*size))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def write_thumb(im: Any, stem: Path, target: tuple[int, int] | None = None) -> tuple[Path, tuple[int, int]] | None:
    """Write a thumbnail of decoded pixels (a PIL image) atomically as `stem` + .jpg (opaque) or
    .webp (with transparency), `target` in size (by default, `thumb_size` of the pixels'); return
    its path and size."""
    from PIL import Image

    try:
        target = target or thumb_size(*im.size)
        alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
        mode = "RGBA" if alpha else "RGB"
        img = im if im.mode == mode else im.convert(mode)
        exact = _exact_factor(*img.size) if thumb_size(*img.size) == target else None
        factor = exact or min(img.width // target[0], img.height // target[1])
        if factor >= 2:
            # An exact box average: the thumbnail itself, or just above it; from there a bilinear
            # step looks as good as LANCZOS at half its cost.
            img = img.reduce(factor)
        if img.size != target:
            img = img.resize(target, Image.Resampling.BILINEAR if factor >= 2 else Image.Resampling.LANCZOS)
        # JPEG q85 takes ~1 ms where WebP takes 3.5; only transparency needs WebP.
        ext = "webp" if alpha else "jpg"
        dest = stem.with_name(f"{stem.name}.{ext}")

        def encode(f: Any) -> None:
            if alpha:
                img.save(f, "WEBP", quality=80, method=2)
            else:
                img.save(f, "JPEG", quality=85)

        # Not durable: a thumbnail lost to a power cut is made again.
        fs.write_with(dest, encode, root=dest.parent.parent, durable=False)
        return dest, target
    except (OSError, ValueError):
        return None


def _file_sha(path: Path) -> str | None:
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError:
        return None


def _image_size(path: Path) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(path) as im:  # reads the header only
            return im.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
