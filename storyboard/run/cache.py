"""The cache decision: whether a take reuses an image the store holds for its request key, and
that image. One rule for `run` and `plan`: a forced job reuses nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from storyboard.output import fs
from storyboard.output.store import Record, Store
from storyboard.render import imaging
from storyboard.results import Image

if TYPE_CHECKING:
    from storyboard.plan import Job, Plan


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


def bought_take(store: Store, plan: Plan, job: Job, take: int, sources: dict[int, Image]) -> tuple[str, Record] | None:
    """Return (request key, record) of a take the store holds whole, as this run would request it;
    None when it holds none or the request cannot be made (a kept frame's other takes)."""
    from storyboard import requests
    from storyboard.errors import FrameFailure

    try:
        request = requests.assemble(plan, job, sources).request
    except FrameFailure:
        return None
    key = requests.for_take(plan, job, take, request)[1]
    record = store.get(key)
    return (key, record) if record is not None else None
