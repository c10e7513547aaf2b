"""The cache decision: whether a take reuses an image the store holds for its request key, and
that image. One rule for `run` and `plan`: a forced job reuses nothing."""

from __future__ import annotations

from storyboard.output import fs
from storyboard.output.store import Record, Store
from storyboard.render import imaging
from storyboard.results import Image


def reusable(store: Store, key: str, *, forced: bool) -> Record | None:
    """Return the store's record for `key`, unless the job is forced (`--force`) or has none."""
    return None if forced else store.get(key)


def stored_image(store: Store, record: Record) -> Image:
    """Return the stored image a record names (its size read from the header if not recorded)."""
    path = store.object_path(record.sha256, record.ext)
    w, h = record.meta.get("width"), record.meta.get("height")
    if not w or not h:
        w, h = imaging.dimensions(fs.read(path))
    return Image(path, record.sha256, record.ext, record.media_type, w, h)
