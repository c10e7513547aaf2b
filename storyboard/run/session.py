"""One run, end to end: lock the output folder, find what must be kept, run the plan, place the
frames, write the manifest and the contact sheet. Ctrl-C once stops starting requests (those in
flight are paid for: they finish and are saved); twice abandons them."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storyboard import __version__
from storyboard.backends import Backend
from storyboard.errors import DiskError, FatalFailure, OutputDirError, StorageError
from storyboard.output.folder import hold
from storyboard.output.frames import attach_edited_takes, place, place_edited_takes, prune
from storyboard.output.kept import changed_requests, survey
from storyboard.output.manifest import build_manifest, write_manifest
from storyboard.output.store import Store
from storyboard.plan import Plan
from storyboard.results import RunStats, Status, TakeResult
from storyboard.run.options import Event, RunOptions
from storyboard.run.runner import Runner
from storyboard.run.verify import Verified
from storyboard.story import LoadedStory


@dataclass
class Outcome:
    """What a run did, for the command line to report."""

    manifest: dict[str, Any]
    stats: RunStats
    exit_code: int
    fatal: FatalFailure | None = None
    interrupted: bool = False
    # Requests an earlier run journalled as sent whose image never arrived (entries with
    # `lost: true` arrived but could not be saved): reported once, then settled.
    unfinished: list[dict[str, Any]] = field(default_factory=list)
    sheet: Path | None = None
    storage_error: OSError | None = None  # the run stopped: the output folder could not be written
    lost: list[TakeResult] = field(default_factory=list)  # received (paid for) but not saved
    # Journal keys to mark as reported once the report is out: the earlier runs' unanswered
    # requests, and this run's attempts reported as possibly billed twice.
    to_settle: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the output folder held that the user should hear


def default_out_dir(loaded: LoadedStory) -> Path:
    """Return ./outputs/<story file name without .yaml>/ in the working directory."""
    return Path.cwd() / "outputs" / loaded.name


def story_path(loaded: LoadedStory, out_dir: Path) -> str:
    """Return where the story stands seen from the output folder (stable when both move together)."""
    return os.path.relpath(loaded.path.resolve(), Path(out_dir).resolve())


def check_owner(out_dir: Path, previous: dict[str, Any] | None, loaded: LoadedStory) -> None:
    """Refuse a folder whose manifest belongs to another story file, naming both and a free folder."""
    if not previous:
        return
    story = previous.get("story", {})
    theirs = story.get("path") or Path(str(story.get("file") or "")).name
    mine = story_path(loaded, out_dir) if story.get("path") else loaded.path.name
    if theirs and theirs != mine:
        other = _shown(Path(out_dir) / theirs) if story.get("path") else str(story.get("file") or theirs)
        free = _free_folder(Path("outputs") / loaded.name, out_dir)
        raise OutputDirError(
            f"{out_dir} holds the storyboard of {other}, not of {loaded.path}. "
            f"Choose another folder with -o (e.g. -o {free})."
        )


def _shown(path: Path) -> str:
    """Return a path as a person would type it here: relative to the working directory when inside it."""
    real = Path(os.path.normpath(Path(path).absolute()))
    try:
        return str(real.relative_to(Path.cwd()))
    except ValueError:
        return str(real)


def _free_folder(base: Path, refused: Path) -> Path:
    """Return `base`, or `base-2`, `base-3`...: the first that does not exist and is not `refused`."""
    candidate, n = base, 2
    while candidate.exists() or candidate.absolute() == Path(refused).absolute():
        candidate, n = base.with_name(f"{base.name}-{n}"), n + 1
    return candidate


def run_plan(
    plan: Plan,
    out_dir: Path,
    backend: Backend,
    options: RunOptions,
    *,
    on_event: Event | None = None,
    on_interrupt: Callable[[int], None] | None = None,
    write_sheet: bool = True,
    report: Callable[[Outcome], None] | None = None,
) -> Outcome:
    """Run a plan into `out_dir` and return what happened (blocking; owns the event loop).

    `report` is called with the outcome while the folder is still held; only after it returns are
    the earlier runs' unanswered requests marked as reported, so a kill before then reports them
    again next time instead of never."""
    out_dir = Path(out_dir)
    with hold(out_dir) as held:
        check_owner(out_dir, held.previous, plan.loaded)
        outcome = asyncio.run(_run(plan, out_dir, backend, options, held.previous, on_event, on_interrupt, write_sheet))
        outcome.notes[:0] = held.notes
        if report is not None:
            report(outcome)
        if outcome.to_settle:
            store = Store(out_dir)
            try:
                store.settle(outcome.to_settle)
            except OSError:
                pass  # not settled: reported again by the next run, which is safe
            finally:
                store.close()
        return outcome


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
    # Edited and locked frames are replaced only when chosen with --only and --force.
    replace = options.force if options.selected is not None else set()
    keeping = survey(plan, out_dir, previous, store, write=True, replace=replace)
    kept = keeping.kept

    def thumbnail(r: TakeResult, received: Verified) -> None:
        # Made from the pixels the runner decoded to verify the image, in a worker thread, while
        # other requests are in flight, so the sheet finds them made.
        from storyboard.sheet.render import thumbnail_ahead

        if r.image is not None:
            thumbnail_ahead(out_dir, received.pixels, r.image.sha256)

    def reduced(received: Verified) -> Verified:
        # The thumbnail's first step, on the decoding thread: there the pixels are still in the
        # CPU's cache (a fifth of the cost later), and what waits for its thumbnail is small.
        from storyboard.sheet.render import shrink

        return dataclasses.replace(received, pixels=shrink(received.pixels))

    runner = Runner(plan, out_dir, backend, options, kept=kept, on_event=on_event,
                    on_image=thumbnail if write_sheet else None, on_decoded=reduced if write_sheet else None)
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

    lost = [r for rs in results.values() for r in rs if r.lost]
    try:
        placed = place(plan, results, out_dir, store, previous, {i.sha256 for i in keeping.edited_takes.values()})
        edited_takes = place_edited_takes(plan, keeping.edited_takes, out_dir, store)
        run_info = {
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(time.monotonic() - t0, 3),
            "tool_version": __version__,
            "backend": plan.backend,
            "base_url_host": plan.host,
            **_backend_facts(plan),
            "interrupted": runner.stopping and runner.fatal is None,
            "possibly_paid_without_image": len(unfinished),
        }
        manifest = build_manifest(plan, results, placed, previous, run_info, runner.stats)
        manifest["story"]["path"] = story_path(plan.loaded, out_dir)
        attach_edited_takes(manifest, plan, edited_takes)
        _restore_carried(manifest, out_dir, store)
        set_aside = prune(out_dir, _named_files(manifest), store, _shown_shas(manifest))
        write_manifest(out_dir, manifest)
        sheet = None
        if write_sheet:
            from storyboard.sheet.render import write_sheet as render

            sheet = render(out_dir, manifest)
    except OSError as e:
        raise StorageError(storage_report(out_dir, e, lost)) from None
    finally:
        store.close()

    stopped = runner.fatal is not None or runner.storage_error is not None
    return Outcome(
        manifest, runner.stats, exit_code(plan, results, stopped=stopped, interrupted=runner.stopping),
        runner.fatal, runner.stopping and not stopped, unfinished, sheet, runner.storage_error, lost,
        [e["sent"] for e in unfinished] + runner.retried_ambiguous,
        notes=list(dict.fromkeys(store.damaged + runner.store.damaged + keeping.notes + set_aside + changed_requests(
            plan, kept, {i: rs[plan.jobs[i].pick - 1].image for i, rs in results.items()}))),
    )


def exit_code(plan: Plan, results: dict[int, list[TakeResult]], *, stopped: bool, interrupted: bool) -> int:
    """Return the exit code: 1 when the run was stopped (by the provider, or a full disk), 130
    when interrupted, else from the takes' statuses: 1 when a take failed or was skipped (the
    other takes of a kept frame were never wanted: they do not count), 0 when none did."""
    if stopped:
        return 1
    if interrupted:
        return 130
    for job in plan.jobs:
        takes = results.get(job.index)
        if not takes or takes[job.pick - 1].status.kept:
            continue
        if any(r.status in (Status.FAILED, Status.SKIPPED) for r in takes):
            return 1
    return 0


def storage_report(out_dir: Path, e: OSError, lost: list[TakeResult]) -> str:
    """Say that the output folder could not be written, what is kept and what was lost."""
    import errno

    full = e.errno in (errno.ENOSPC, errno.EDQUOT)
    if full:
        what = "the disk is full."
    elif isinstance(e, DiskError):  # it names the file and what to do: a folder where a frame goes, ...
        what = str(e.args[0] if e.args else e).rstrip(".") + "."
    else:
        what = f"{out_dir} cannot be written ({e.strerror or e})."
    text = f"the run stopped: {what} Every image that arrived and was saved is kept"
    if lost:
        names = ", ".join(r.job.name + (f" take {r.take}" if r.job.takes > 1 else "") for r in lost)
        text += (f"; {len(lost)} image(s) were received but could not be saved ({names}): they were paid for, "
                 "and the next run requests them again")
    return text + (". Free some space (or choose another -o) and run the same command again." if full
                   else ". Then run the same command again.")


def _named_files(manifest: dict[str, Any]) -> set[str]:
    """Return every file the manifest names under frames/, takes/ and characters/."""
    names = {e.get(k) for e in manifest["frames"] for k in ("file", "take_file")}
    names |= {(e.get("edited_take") or {}).get("file") for e in manifest["frames"]}
    names |= {(c.get("sheet") or {}).get("file") for c in manifest["characters"]}
    return {n for n in names if n}


def _shown_shas(manifest: dict[str, Any]) -> set[str]:
    """Return the sha256 of every image the manifest shows (an edit carried to its frame's new name among them)."""
    shas = {e.get("sha256") for e in manifest["frames"]}
    shas |= {(e.get("edited_take") or {}).get("sha256") for e in manifest["frames"]}
    shas |= {(c.get("sheet") or {}).get("sha256") for c in manifest["characters"]}
    return {s for s in shas if isinstance(s, str)}


def _restore_carried(manifest: dict[str, Any], out_dir: Path, store: Store) -> None:
    """Entries carried from an earlier run (`--only`) may have been renumbered: put their files
    in place from the store."""
    from storyboard.output import fs

    for e in manifest["frames"]:
        for k in ("file", "take_file"):
            name, sha = e.get(k), e.get("sha256")
            if not name or not sha or (out_dir / name).exists():
                continue
            obj = store.object_path(sha, name.rsplit(".", 1)[-1])
            if obj.exists():
                fs.copy(obj, out_dir / name, root=out_dir)


def _backend_facts(plan: Plan) -> dict[str, Any]:
    """Return what the sheet shows about the backend, so it renders from the manifest alone:
    `backend_label` (where images came from), `notice` ({tag, text} or null) and `free`."""
    from storyboard.backends.plugin import Identity

    plugin = plan.plugin
    notice = plugin.notice
    return {
        "backend_label": plugin.describe(Identity(plan.backend, plan.host)),
        "notice": {"tag": notice.tag, "text": notice.text} if notice else None,
        "free": plugin.free,
    }
