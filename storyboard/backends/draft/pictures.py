"""The pictures a draft panel draws in (a chain's source, references): decoded, scaled and
flattened onto paper once per image and size, since a reference appears in many frames."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from storyboard.backends import InputImage
from storyboard.backends.draft.palette import PAPER

if TYPE_CHECKING:
    from PIL import Image


def shape(image: InputImage) -> float | None:
    """Return an input image's width / height, or None when it cannot be read."""
    from storyboard.render.imaging import dimensions

    try:
        w, h = dimensions(image.data)
    except ValueError:
        return None
    return w / h if h else None


# Decoded, scaled inputs by hash: a reference appears in many frames of a run.
_CACHE: OrderedDict[tuple[object, ...], Image.Image | None] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def fitted(
    image: InputImage,
    size: tuple[int, int],
    *,
    crop: tuple[int, int, int, int] | None = None,
    canvas: tuple[int, int] | None = None,
    exact: bool = False,
) -> Image.Image | None:
    """Return the image scaled to `size` (`exact`) or within it, on paper; None if unreadable.

    With `crop` and `canvas`: when the image is the prepared outpaint canvas (its size is
    `canvas`), only the part under `crop` is used; an unprepared source is used whole.
    """
    key = (image.sha256, size, crop, canvas, exact)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    pic = _decode_scaled(image.data, size, crop, canvas, exact)
    with _CACHE_LOCK:
        _CACHE[key] = pic
        while len(_CACHE) > 48:
            _CACHE.popitem(last=False)
    return pic


def _decode_scaled(
    data: bytes,
    size: tuple[int, int],
    crop: tuple[int, int, int, int] | None,
    canvas: tuple[int, int] | None,
    exact: bool,
) -> Image.Image | None:
    """Decode and scale an image, flattening transparency onto paper."""
    from PIL import Image, ImageOps

    try:
        img = Image.open(io.BytesIO(data))
        if img.format == "JPEG" and crop is None:
            img.draft("RGB", size)  # decode at a reduced scale: much faster
        img = ImageOps.exif_transpose(img)
        if crop is not None and canvas is not None and img.size == canvas:
            img = img.crop(crop)
        img = img.convert("RGBA")
    except (OSError, ValueError, SyntaxError):
        return None
    w, h = max(1, size[0]), max(1, size[1])
    if not exact:
        scale = min(w / img.width, h / img.height)
        w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
    img = img.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=2.0)
    flat = Image.new("RGB", (w, h), PAPER)
    flat.paste(img, (0, 0), img)
    return flat
