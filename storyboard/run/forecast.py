"""What a run would do, without doing it: each take of each job as cached, new or stale (with
the reason), what it waits for, and what it would cost. `storyboard plan` prints this; the
spend guard sums it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from storyboard import requests
from storyboard.errors import FrameFailure
from storyboard.output.frames import entry_identity, job_identity
from storyboard.output.kept import changed_requests, survey
from storyboard.output.manifest import read_previous
from storyboard.output.store import Store
from storyboard.plan import Job, Plan
from storyboard.results import Image
from storyboard.run.cache import reusable, stored_image
from storyboard.run.options import RunOptions

COMPARED = ("prompt", "model", "size", "quality", "options")


class Outlook(StrEnum):
    """What a run would do with one take."""

    CACHED = "cached"  # reused from the store
    NEW = "new"  # requested: never made
    STALE = "stale"  # requested: made before, but its request changed
    EDITED = "edited"  # kept: an artist's file
    LOCKED = "locked"  # kept: `lock: true`

    @property
    def sends(self) -> bool:
        """Tell whether the take sends a request (and costs its estimate)."""
        return self in (Outlook.NEW, Outlook.STALE)


@dataclass
class Row:
    """One take as a run would treat it."""

    job: Job
    take: int
    status: Outlook
    reason: str
    waits_for: list[str]  # the jobs whose images this one needs (its edges in the graph)
    estimate: float | None


def forecast(plan: Plan, out_dir: Path, options: RunOptions | None = None) -> list[Row]:
    """Return a row per take of every job the run would touch, in plan order."""
    out_dir = Path(out_dir)
    options = options or RunOptions()
    previous = read_previous(out_dir) or {}
    store = Store(out_dir, read_only=True)
    replace = options.force if options.selected is not None else set()
    kept = survey(plan, out_dir, previous, store, replace=replace).kept
    wanted = {j.index for j in plan.wanted(options.selected)}
    prev = {entry_identity(e): e for e in previous.get("frames", []) if e.get("picked")}
    prev_run = previous.get("run") or {}
    prev_backend = prev_run.get("backend")
    moved = prev_backend == plan.backend and prev_run.get("base_url_host") != plan.host
    server_change = f"made on {prev_run.get('base_url_host')}; {plan.host} requests it anew" if moved else None
    images: dict[int, Image | None] = {}
    rows: list[Row] = []

    def image_of(i: int) -> Image | None:
        if i not in images:
            images[i] = None
            _visit(plan.jobs[i])
        return images[i]

    def _visit(job: Job) -> None:
        deps = [plan.jobs[d].name for d in job.deps]
        waits = [plan.jobs[d].name for d in job.deps if image_of(d) is None]
        out: list[Row] = []
        if job.index in kept:
            k = kept[job.index]
            images[job.index] = k.image
            reason = f"keeps the {'hand-edited' if k.status == 'edited' else 'locked'} image"
            if changed_requests(plan, {job.index: k}, {d: image_of(d) for d in job.deps}):
                reason += f"; its request changed: --only {job.id or job.number} --force replaces it"
            out.append(Row(job, job.pick, Outlook(k.status), reason, [], 0.0))
        elif waits:
            out += [Row(job, t, Outlook.NEW, "its source is not made yet", waits, job.estimate) for t in range(1, job.takes + 1)]
        else:
            sources = {d: images[d] for d in job.deps}
            try:
                request = requests.assemble(plan, job, sources).request  # type: ignore[arg-type]
            except FrameFailure as e:
                out.append(Row(job, 1, Outlook.NEW, f"will fail: {e.message}", deps, job.estimate))
            else:
                for t in range(1, job.takes + 1):
                    _, key = requests.for_take(plan, job, t, request)
                    record = reusable(store, key, forced=job.index in options.force)
                    if record is not None:
                        if t == job.pick:
                            images[job.index] = stored_image(store, record)
                        out.append(Row(job, t, Outlook.CACHED, "in the store", deps, 0.0))
                    else:
                        old = prev.get(job_identity(job))
                        reason = _why_stale(old, job, request, prev_backend, plan.backend) if old else "not made yet"
                        reason = server_change or reason
                        out.append(Row(job, t, Outlook.STALE if old else Outlook.NEW, reason, deps, job.estimate))
        if job.index in wanted:
            rows.extend(out)

    for j in plan.jobs:
        image_of(j.index)
    order = {j.index: n for n, j in enumerate(plan.jobs)}
    rows.sort(key=lambda r: (order[r.job.index], r.take))
    return rows


def _why_stale(old: dict[str, Any], job: Job, request: Any, prev_backend: str | None, backend: str) -> str:
    if prev_backend and prev_backend != backend:
        return f"made on the {prev_backend} backend; {backend} requests it anew"
    changed = [k for k in COMPARED if (old.get(k) or None) != ((getattr(request, k, None) if k != "options" else request.options) or None)]
    old_inputs = [i.get("sha256") for i in old.get("inputs") or [] if i.get("role") != "mask"]
    new_inputs = [i.sha256 for i in request.images]
    if job.kind != "outpaint" and old_inputs != new_inputs:
        changed.append("input images")
    if not changed and (old.get("take") or 1) != job.pick:
        return "pick changed"
    return (", ".join(changed) + " changed") if changed else "not in the store"


def new_cost(rows: list[Row]) -> tuple[float, int]:
    """Return the estimated cost of the rows that will send requests, and how many can't be priced."""
    todo = [r for r in rows if r.status.sends]
    return sum(r.estimate or 0.0 for r in todo), sum(1 for r in todo if r.estimate is None)
