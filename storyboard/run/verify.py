"""Received images are verified: the bytes must decode, whole, as the image type the backend
announced. A 200 whose bytes are not an image (junk, HTML, a truncated PNG) is a failed attempt,
never a saved frame. The image is decoded once; the decoded pixels go on to the thumbnail."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from storyboard.errors import TransientFailure
from storyboard.render import imaging
from storyboard.results import EXT

if TYPE_CHECKING:
    from PIL.Image import Image as Pixels

_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height


class BadImage(TransientFailure):
    """The server answered, but its bytes are not the image it announced."""

    def __init__(self, message: str, **kw: Any) -> None:
        # The server says it did the work, so it may have billed it: a retry may be billed twice.
        super().__init__(message, type="invalid_image", ambiguous=True, **kw)


@dataclass(frozen=True)
class Verified:
    """A received image that decoded whole: its type, its size as a viewer shows it, its pixels."""

    media_type: str
    ext: str
    width: int
    height: int
    pixels: Pixels


def verify(data: bytes, announced: str | None) -> Verified:
    """Decode `data` whole; raise BadImage unless it is a PNG, JPEG, WebP or GIF of the announced type."""
    from PIL import Image, UnidentifiedImageError

    kind = imaging.sniff(data)
    if kind is None:
        head = data[:16].decode("ascii", "replace").strip() or "nothing"
        raise BadImage(f"the server answered with {len(data):,} bytes that are not an image (they begin {head!r})")
    media = kind[0]
    if announced and announced != media and announced in EXT:
        raise BadImage(f"the server announced {announced} but sent {media} bytes")
    try:
        img = Image.open(io.BytesIO(data))
        img.load()  # the whole image: a truncated or corrupt one fails here, not in the sheet
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise BadImage(f"the server sent a {kind[1].upper()} that does not decode ({e})") from None
    width, height = img.size
    if media != "image/png" or "exif" in img.info:
        try:
            if img.getexif().get(0x0112) in _ROTATED:
                width, height = height, width
        except (OSError, ValueError, SyntaxError):
            pass
    return Verified(media, EXT[media], width, height, img)
