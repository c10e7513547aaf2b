"""Saving what arrives: each image (verified by run/verify.py) stored durably (bytes, then its key's record,
then the journal's "done"), with what it cost; the input files copied into `DIR/inputs/`. What
cannot be written (a full disk) is said in a few words, and a take received but not saved is
marked lost: paid for, and requested again by the next run."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

from storyboard import models
from storyboard.backends import GeneratedImage
from storyboard.output import fs
from storyboard.output.store import Store
from storyboard.plan import Job
from storyboard.results import Image, Status, TakeResult
from storyboard.run.verify import Verified


def account(job: Job, r: TakeResult, image: GeneratedImage, seconds: float, free: bool) -> dict[str, Any]:
    """Fill a take's cost, timing and server facts from its answer; return the store's record of them."""
    cost = models.cost_from_usage(job.profile, image.usage) if image.usage else None
    estimated = cost is None and not free  # a free backend costs exactly 0
    if cost is None:
        cost = job.estimate
    r.seconds, r.usage, r.cost_usd, r.cost_estimated = round(seconds, 3), image.usage, cost, estimated
    r.request_id, r.revised_prompt = image.request_id, image.revised_prompt
    r.details = dict(image.details or {})
    return {
        "attempts": r.attempts, "seconds": r.seconds, "usage": image.usage, "cost_usd": cost,
        "cost_estimated": estimated, "request_id": image.request_id, "revised_prompt": image.revised_prompt,
        "frame": job.name, "take": r.take, "model": job.model, **({"details": r.details} if r.details else {}),
    }


def store(store: Store, key: str, data: bytes, received: Verified, meta: dict[str, Any]) -> Image:
    """Write a verified image to the store durably (bytes, then the key's record) and journal it done."""
    record = store.put(key, data, received.ext, received.media_type,
                       {**meta, "width": received.width, "height": received.height})
    store.journal("done", key)
    path = store.object_path(record.sha256, received.ext)
    return Image(path, record.sha256, received.ext, received.media_type, received.width, received.height)


def mark_lost(r: TakeResult, e: OSError) -> None:
    """Mark a take whose image arrived (and was paid for) but could not be written."""
    r.status, r.lost = Status.FAILED, True
    r.reason = f"received but not saved: {problem(e)}; paid for, and requested again by the next run"
    r.error = {"type": "storage", "code": e.__class__.__name__, "message": problem(e)}


def copy_inputs(out_dir: Path, copies: dict[str, bytes]) -> None:
    """Copy a job's input files into DIR/inputs/ by hash, so the folder is complete on its own."""
    for name, data in copies.items():
        path = out_dir / name
        if not path.exists():
            fs.write(path, data, root=out_dir, durable=False)


def problem(e: OSError) -> str:
    """Say what went wrong writing the output folder, in a few words."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    return f"the output folder cannot be written ({e.strerror or e})"
