"""Image media types, in one place: the types storyboard keeps and their file extensions, the
names an `output_format` option or a server uses for them, and Pillow's names to encode them."""

from __future__ import annotations

# Media type -> file extension of the image types storyboard keeps (bytes are never re-encoded).
EXT = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
MEDIA = {ext: media for media, ext in EXT.items()}
# A format's name as an API says it (`output_format`) -> media type; gif and svg only as answers.
FORMATS = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "svg": "image/svg+xml",
}
PIL_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP", "image/gif": "GIF"}
