"""Images in and out of a local pipeline: decoding a request's inputs, and encoding the result as PNG
bytes that depend on the pixels alone (no timestamps, no metadata), so equal pictures are equal files."""

from __future__ import annotations

import io
from typing import Any

NEUTRAL = (127, 127, 127)  # what a transparent area of a source is shown to the model as


def decode(data: bytes) -> Any:
    """Return the PIL image of encoded bytes, upright per its EXIF orientation."""
    from PIL import Image, ImageOps

    img = Image.open(io.BytesIO(data))
    img.load()
    return ImageOps.exif_transpose(img)


def source_rgb(data: bytes, size: tuple[int, int]) -> tuple[Any, Any | None]:
    """Return the chain source as RGB at `size` (transparent parts, an outpaint's new area, neutral
    grey), and where it has pixels of its own (L, white there; None when it has them everywhere):
    the grey is nobody's, so the paste-back never blends it in."""
    from PIL import Image

    img = decode(data)
    own = None
    if _has_alpha(img):
        rgba = img.convert("RGBA")
        alpha = rgba.getchannel("A")
        flat = Image.new("RGB", rgba.size, NEUTRAL)
        flat.paste(rgba, mask=alpha)
        img = flat
        own = alpha.point(lambda a: 255 if a >= 128 else 0)
        if own.getextrema() == (255, 255):
            own = None
        elif own.size != size:
            own = own.resize(size, Image.Resampling.NEAREST)
    else:
        img = img.convert("RGB")
    if img.size != size:
        img = img.resize(size, Image.Resampling.LANCZOS)
    return img, own


def _has_alpha(img: Any) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)


def paint_mask(data: bytes, size: tuple[int, int]) -> Any:
    """Turn a storyboard mask (transparent where the image may change) into diffusers' (white there)."""
    from PIL import Image

    img = decode(data)
    alpha = img.convert("RGBA").getchannel("A")
    mask = alpha.point(lambda a: 255 if a < 128 else 0)
    if mask.size != size:
        mask = mask.resize(size, Image.Resampling.NEAREST)
    return mask


def keep_unmasked(source: Any, made: Any, mask: Any, own: Any | None = None) -> Any:
    """Return what an inpainting pipeline made with the source's own pixels put back wherever the
    mask keeps them (black in diffusers' mask). The pipeline sends the whole picture through its
    VAE, which shifts every pixel a little: without this an edit of the sky would also soften the
    artist's street, and an outpaint would redraw the frame it extends.

    The seam is soft on the painted side only: a few pixels in from the mask's edge, the model's
    pixels are blended with the source's (half and half at the edge), so an edit does not end on a
    hard line, and every pixel the mask keeps is the source's exactly. Where the source has no
    pixels of its own (`own`: an outpaint's new area), the model's stand alone, to the edge."""
    from PIL import Image, ImageChops, ImageFilter

    made = made.convert("RGB")
    if made.size != source.size:
        made = made.resize(source.size, Image.Resampling.LANCZOS)
    if mask.size != source.size:
        mask = mask.resize(source.size, Image.Resampling.NEAREST)
    paint = mask.convert("L").point(lambda v: 255 if v >= 128 else 0)
    radius = max(1, max(source.size) // 128)  # 8 pixels on a 1024 frame: the ramp is ~20 wide
    blend = ImageChops.multiply(paint, paint.filter(ImageFilter.GaussianBlur(radius)))
    if own is not None:
        blend = ImageChops.lighter(blend, ImageChops.subtract(paint, own.convert("L")))
    return Image.composite(made, source.convert("RGB"), blend)


def reference_rgb(data: bytes) -> Any:
    """Return a reference image as RGB, its size kept (the pipeline fits it)."""
    from PIL import Image

    img = decode(data)
    if _has_alpha(img):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img.convert("RGB")


def png_bytes(img: Any) -> bytes:
    """Encode as PNG deterministically: the same pixels always give the same bytes."""
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def is_black(img: Any) -> bool:
    """Return whether every pixel is black (what a safety checker leaves of a flagged image)."""
    return img.convert("L").getextrema() == (0, 0)
