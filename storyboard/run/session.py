"""One run, end to end: lock the output folder, find what must be kept, run the plan, place the
frames, write the manifest and the contact sheet. Ctrl-C once stops starting requests (those in
flight are paid for: they finish and are saved); twice abandons them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storyboard import __version__
from storyboard.backends import Backend
from storyboard.errors import FatalFailure, OutputDirError
from storyboard.output.frames import find_kept, place, prune
from storyboard.output.manifest import build_manifest, read_previous, write_manifest
from storyboard.output.store import Store, dir_lock
from storyboard.plan import Plan
from storyboard.run.runner import Event, Runner, RunOptions, RunStats
from storyboard.story import LoadedStory


@dataclass
class Outcome:
    """What a run did, for the command line to report."""

    manifest: dict[str, Any]
    stats: RunStats
    exit_code: int
    fatal: FatalFailure | None = None
    interrupted: bool = False
    unfinished: list[dict[str, Any]] = field(default_factory=list)  # journalled, never answered
    sheet: Path | None = None


def default_out_dir(loaded: LoadedStory) -> Path:
    """Return ./outputs/<story file name without .yaml>/ in the working directory."""
    return Path.cwd() / "outputs" / loaded.name


def story_path(loaded: LoadedStory, out_dir: Path) -> str:
    """Return where the story stands seen from the output folder (stable when both move together)."""
    return os.path.relpath(loaded.path.resolve(), Path(out_dir).resolve())


def check_owner(out_dir: Path, previous: dict[str, Any] | None, loaded: LoadedStory) -> None:
    """Refuse a folder whose manifest belongs to another story file."""
    if not previous:
        return
    story = previous.get("story", {})
    theirs = story.get("path") or Path(str(story.get("file") or "")).name
    mine = story_path(loaded, out_dir) if story.get("path") else loaded.path.name
    if theirs and theirs != mine:
        raise OutputDirError(
            f"{out_dir} holds the storyboard of {Path(str(story.get('file') or theirs)).name}, not {loaded.path.name}. "
            f"Choose another folder with -o (e.g. -o outputs/{loaded.name})."
        )


def run_plan(
    plan: Plan,
    out_dir: Path,
    backend: Backend,
    options: RunOptions,
    *,
    on_event: Event | None = None,
    on_interrupt: Callable[[int], None] | None = None,
    write_sheet: bool = True,
) -> Outcome:
    """Run a plan into `out_dir` and return what happened (blocking; owns the event loop)."""
    out_dir = Path(out_dir)
    previous = read_previous(out_dir)
    check_owner(out_dir, previous, plan.loaded)
    with dir_lock(out_dir):
        return asyncio.run(_run(plan, out_dir, backend, options, previous, on_event, on_interrupt, write_sheet))


async def _run(
    plan: Plan,
    out_dir: Path,
    backend: Backend,
    options: RunOptions,
    previous: dict[str, Any] | None,
    on_event: Event | None,
    on_interrupt: Callable[[int], None] | None,
    write_sheet: bool,
) -> Outcome:
    store = Store(out_dir)
    unfinished = store.unfinished()
    if unfinished:
        store.settle([e["sent"] for e in unfinished])
    kept = find_kept(plan, out_dir, previous, store)
    # Thumbnails are made as images arrive, while requests are in flight, so the sheet finds them made
    # instead of making them all at the end. One thread: the event loop keeps a core (Pillow releases the GIL).
    thumbs = ThreadPoolExecutor(max_workers=1, thread_name_prefix="thumbs") if write_sheet else None

    def event(kind: str, r: Any) -> None:
        if thumbs is not None and kind == "ok" and r.image is not None:
            from storyboard.sheet.render import thumbnail_ahead

            thumbs.submit(thumbnail_ahead, out_dir, store.object_path(r.image.sha256, r.image.ext), r.image.sha256)
        if on_event is not None:
            on_event(kind, r)

    runner = Runner(plan, out_dir, backend, options, kept=kept, on_event=event)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    interrupts = 0

    def interrupted() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            runner.stop()
        else:
            runner.abort()
        if on_interrupt:
            on_interrupt(interrupts)

    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, interrupted)
    try:
        results = await runner.run()
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGINT)
        await backend.aclose()

    runner.stats.seconds = time.monotonic() - t0  # type: ignore[attr-defined]
    placed = place(plan, results, out_dir, store)
    run_info = {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - t0, 3),
        "tool_version": __version__,
        "backend": plan.backend,
        "base_url_host": plan.host,
        "interrupted": runner.stopping and runner.fatal is None,
        "possibly_paid_without_image": len(unfinished),
    }
    manifest = build_manifest(plan, results, placed, previous, run_info, runner.stats)
    manifest["story"]["path"] = story_path(plan.loaded, out_dir)
    _restore_carried(manifest, out_dir, store)
    prune(out_dir, _named_files(manifest), store)
    write_manifest(out_dir, manifest)
    sheet = None
    if thumbs is not None:
        thumbs.shutdown(wait=True, cancel_futures=True)  # the sheet makes any still queued, in parallel
    if write_sheet:
        from storyboard.sheet.render import write_sheet as render

        sheet = render(out_dir, manifest)

    ran = [r for rs in results.values() for r in rs]
    exit_code = 0
    if any(r.status in ("failed", "skipped") and r.reason != "frame is edited" and r.reason != "frame is locked" for r in ran):
        exit_code = 1
    if runner.fatal is not None:
        exit_code = 1
    elif runner.stopping:
        exit_code = 130
    return Outcome(manifest, runner.stats, exit_code, runner.fatal, runner.stopping and runner.fatal is None, unfinished, sheet)


def _named_files(manifest: dict[str, Any]) -> set[str]:
    """Return every file the manifest names under frames/, takes/ and characters/."""
    names = {e.get(k) for e in manifest["frames"] for k in ("file", "take_file")}
    names |= {(c.get("sheet") or {}).get("file") for c in manifest["characters"]}
    return {n for n in names if n}


def _restore_carried(manifest: dict[str, Any], out_dir: Path, store: Store) -> None:
    """Entries carried from an earlier run (`--only`) may have been renumbered: put their files
    in place from the store."""
    import shutil

    for e in manifest["frames"]:
        for k in ("file", "take_file"):
            name, sha = e.get(k), e.get("sha256")
            if not name or not sha or (out_dir / name).exists():
                continue
            obj = store.object_path(sha, name.rsplit(".", 1)[-1])
            if obj.exists():
                (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(obj, out_dir / name)
