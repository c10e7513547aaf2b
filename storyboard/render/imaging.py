"""Image bytes in, image bytes out: type sniffing, sizes, outpaint canvases and masks (thumbnails: storyboard.sheet.thumbs).

Pillow is imported inside the functions, so importing this module costs nothing. Functions
that decode raise `ValueError` with a readable sentence when the bytes are not an image.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

MAX_MASK_BYTES = 4 * 1024 * 1024  # the edits endpoint refuses larger masks
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_NAMES = {"png": "PNG", "jpg": "JPEG", "webp": "WebP", "gif": "GIF"}


def sniff(data: bytes) -> tuple[str, str] | None:
    """Return (media type, extension) of PNG, JPEG, WebP or GIF bytes by magic number, else None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif", "gif"
    return None


def _open(data: bytes) -> Image.Image:
    """Open image bytes lazily (only the header is read until pixels are needed)."""
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"not a readable image ({len(data):,} bytes): {e}") from e


def _upright(img: Image.Image) -> Image.Image:
    """Return the first frame, loaded and turned as its EXIF orientation says."""
    from PIL import ImageOps

    try:
        img.seek(0)
        img.load()
        return ImageOps.exif_transpose(img)
    except (OSError, ValueError, SyntaxError) as e:
        raise ValueError(f"the image could not be decoded: {e}") from e


def _save_png(img: Image.Image) -> bytes:
    """Encode as PNG (deterministic: Pillow writes no timestamp)."""
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _has_alpha(img: Image.Image) -> bool:
    """Tell whether an image carries transparency (an alpha band or a tRNS chunk)."""
    return img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info


def _rgb_or_rgba(img: Image.Image) -> Image.Image:
    """Convert any mode to RGB, or RGBA when the image has transparency."""
    if img.mode in ("RGB", "RGBA"):
        return img
    if _has_alpha(img):
        return img.convert("RGBA")
    return img.convert("RGB")


def dimensions(data: bytes) -> tuple[int, int]:
    """Return (width, height) as a viewer shows the image (EXIF rotation applied), from its header."""
    img = _open(data)
    width, height = img.size
    if img.format == "PNG" and "exif" not in img.info:
        return width, height  # no eXIf before the pixels; Pillow's getexif would decode them all to look after
    try:
        orientation = img.getexif().get(0x0112)
    except (OSError, ValueError, SyntaxError):
        orientation = None
    return (height, width) if orientation in _ROTATED else (width, height)


def outpaint_canvas(
    source: bytes, canvas: tuple[int, int], box: tuple[int, int, int, int]
) -> tuple[bytes, bytes]:
    """Return (canvas PNG, mask PNG): the source placed at `box` on a transparent canvas, and its mask.

    The source is scaled to the box when their sizes differ. The mask is fully transparent
    (alpha 0: the model paints) outside the box and opaque (alpha 255: kept) over it.
    """
    from PIL import Image

    left, top, right, bottom = box
    if right <= left or bottom <= top:
        raise ValueError(f"outpaint box {box} is empty")
    img = _upright(_open(source)).convert("RGBA")
    size = (right - left, bottom - top)
    if img.size != size:
        img = img.resize(size, Image.Resampling.LANCZOS)
    out = Image.new("RGBA", canvas, (0, 0, 0, 0))
    out.paste(img, (left, top))
    mask = Image.new("RGBA", canvas, (0, 0, 0, 0))
    mask.paste((0, 0, 0, 255), box)
    return _save_png(out), _save_png(mask)


def square_png(data: bytes, side: int = 1024) -> bytes:
    """Centre-crop to a square and resize to `side` px, as an RGBA PNG (dall-e-2 variations)."""
    from PIL import Image

    img = _upright(_open(data)).convert("RGBA")
    w, h = img.size
    s = min(w, h)
    crop = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
    img = img.resize((side, side), Image.Resampling.LANCZOS, box=crop)
    png = _save_png(img)
    if len(png) > MAX_MASK_BYTES:  # the legacy endpoint takes under 4 MB: squeeze harder
        out = io.BytesIO()
        img.save(out, "PNG", optimize=True)
        png = out.getvalue()
    return png


def check_mask(mask: bytes, source_size: tuple[int, int]) -> str | None:
    """Return what is wrong with a mask for a source of `source_size` as a sentence, or None."""
    kind = sniff(mask)
    if kind is None or kind[0] != "image/png":
        what = f"a {_NAMES[kind[1]]}, not a PNG" if kind else "not an image"
        return f"the mask is {what}; save it as a PNG with transparency where the image may change."
    if len(mask) > MAX_MASK_BYTES:
        return f"the mask is {len(mask) / 1e6:.1f} MB; the API takes masks under 4 MB."
    try:
        img = _open(mask)
    except ValueError:
        return "the mask is not a readable PNG; save it again as a PNG with transparency."
    if not _has_alpha(img):
        return (
            f"the mask has no alpha channel (mode {img.mode}); the model edits where the mask is "
            "fully transparent, so save it as RGBA with that area transparent."
        )
    if img.size != tuple(source_size):
        mw, mh = img.size
        sw, sh = source_size
        return f"the mask is {mw}x{mh} but the source image is {sw}x{sh}; they must be the same size."
    try:
        low, _ = img.convert("RGBA").getchannel("A").getextrema()
    except (OSError, ValueError, SyntaxError):
        return "the mask is not a readable PNG; save it again as a PNG with transparency."
    if low != 0:
        return (
            "the mask has no fully transparent pixel, so nothing would change; make the area "
            "to repaint fully transparent (alpha 0)."
        )
    return None


def to_png(data: bytes) -> bytes:
    """Re-encode any image Pillow reads (GIF, BMP, TIFF, ...) as PNG, keeping transparency."""
    return _save_png(_rgb_or_rgba(_upright(_open(data))))
