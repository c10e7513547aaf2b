"""`storyboard run`: the job, and its report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from storyboard.cli.app import (
    AssetsOpt,
    BackendOpt,
    BudgetOpt,
    DeviceOpt,
    ForceOpt,
    IpmOpt,
    ModelOpt,
    OffloadOpt,
    OnlyOpt,
    OutOpt,
    StoryArg,
    app,
    err,
    handles_errors,
)
from storyboard.cli.common import assets, load_plan, make_backend, selection
from storyboard.errors import UsageError

ASK_ABOVE_USD = 1.0  # new requests estimated above this are shown and asked for (or refused without a terminal)


@app.command()
@handles_errors
def run(
    story: StoryArg,
    out: OutOpt = None,
    jobs: Annotated[int | None, typer.Option("-j", "--jobs", metavar="N", help="Requests in flight at most [default: the story's parallel].")] = None,
    sequential: Annotated[bool, typer.Option("--sequential", help="One request at a time, in story order.")] = False,
    backend: BackendOpt = "auto",
    model: ModelOpt = None,
    only: OnlyOpt = None,
    force: ForceOpt = False,
    budget: BudgetOpt = None,
    ipm: IpmOpt = None,
    max_wait: Annotated[float, typer.Option("--max-wait", metavar="MIN", help="Stop the run (nothing lost) when the server asks to wait longer than this many minutes.")] = 15.0,
    device: DeviceOpt = None,
    offload: OffloadOpt = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before spending or downloading a model.")] = False,
    open_: Annotated[bool, typer.Option("--open", help="Open the contact sheet when done.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
    assets_dirs: AssetsOpt = None,
) -> None:
    """Run a story: request every frame not already made, save the frames, write the contact sheet."""
    import math

    from storyboard.cli.plan import print_plan
    from storyboard.cli.progress import BackendEvents
    from storyboard.run.budget import Budget
    from storyboard.run.forecast import forecast, new_cost
    from storyboard.run.options import RunOptions
    from storyboard.run.session import default_out_dir, run_plan

    if jobs is not None and sequential:
        raise UsageError("-j and --sequential contradict each other; give one (--sequential is -j 1).")
    if jobs is not None and jobs < 1:
        raise UsageError("-j must be 1 or more.")
    if not max_wait >= 0:
        raise UsageError("--max-wait must be 0 or more minutes.")
    if ipm is not None and not (ipm > 0 and math.isfinite(ipm)):
        raise UsageError("--ipm must be above 0 (images per minute), e.g. --ipm 5.")
    if budget is not None and not (budget >= 0 and math.isfinite(budget)):
        raise UsageError("--budget must be 0 or more (USD), e.g. --budget 2.50.")
    plan = load_plan(story, backend, model, quiet, assets(assets_dirs))
    s = plan.loaded.story
    out_dir = out or default_out_dir(plan.loaded)
    selected, forced = selection(plan, only, force)
    events = BackendEvents()
    # a missing key is refused before anything is priced or asked
    sender = make_backend(plan, {"device": device, "offload": offload, "progress": events})
    if not quiet:
        events.target = lambda e, d: err(f"Downloading {d['model']} ...") if e == "downloading" else None
    _prepare(sender, plan, yes, terminal=sys.stdin.isatty())
    terminal = sys.stdin.isatty() and sys.stderr.isatty()
    if only and forced:
        _confirm_replacing(plan, out_dir, forced, yes, terminal)
    if force and only is None and not yes and not plan.free:  # a free backend (drafts) has nothing to ask about
        _confirm_force_all(plan, terminal)
    options = RunOptions(
        parallel=1 if sequential else (jobs or s.parallel),
        ipm=ipm or s.images_per_minute,
        budget=budget if budget is not None else s.budget,
        selected=selected,
        force=forced,
        max_wait=max_wait * 60,
    )
    # Pricing builds every request once more: only for a budget, or to know whether to ask first.
    priced = not plan.free and (options.budget is not None or not yes)
    rows = forecast(plan, out_dir, options) if priced else []
    cost, unpriced = new_cost(rows)
    if priced:
        Budget(options.budget).check_plan(cost, unpriced)
    if cost > ASK_ABOVE_USD and not yes:
        # Story files are shared: a story's own `budget:` is no consent, only the command line is.
        if terminal:
            print_plan(plan, rows, out_dir, err=True)
            if not typer.confirm(f"These new requests are estimated at ${cost:.2f}. Send them?", err=True):
                raise typer.Exit(1)
        elif budget is None:
            raise UsageError(
                f"the new requests are estimated at ${cost:.2f}, above ${ASK_ABOVE_USD:.0f}, and without a terminal "
                "there is no one to ask. Nothing was sent. Add --yes to send them, or --budget USD to cap the spend."
            )

    from storyboard.cli.progress import Progress

    progress = Progress(plan, enabled=not quiet and not json_out)
    events.target = progress.backend_event
    with progress:
        # Reported while the folder is held: an earlier run's unanswered requests are marked as
        # reported only once this report is out.
        outcome = run_plan(plan, out_dir, sender, options, on_event=progress.event,
                           on_interrupt=progress.interrupt,
                           report=lambda o: (progress.close(), _report(o, out_dir, quiet, json_out)))
    if open_ and outcome.sheet:
        _open(outcome.sheet)
    raise typer.Exit(outcome.exit_code)


def _prepare(engine: Any, plan: Any, yes: bool, *, terminal: bool) -> None:
    """Let the backend get ready before the run (a local model's first download), asking where it must."""
    prepare = getattr(engine, "prepare", None)
    if prepare is None:
        return

    def confirm(question: str) -> bool:
        if yes:
            return True
        if not terminal:
            raise UsageError(f"{question} There is no terminal to ask in: add --yes to go ahead.")
        return typer.confirm(question, err=True)

    prepare([j.model for j in plan.jobs], confirm)


def _confirm_replacing(plan: Any, out_dir: Path, forced: set[int], yes: bool, terminal: bool) -> None:
    """Name the edited and locked frames `--only ... --force` would replace, and ask (or --yes)."""
    from storyboard.output.kept import replacing

    found = replacing(plan, out_dir, forced)
    if not found or yes:
        return
    question = (f"--force replaces {found}. An edited frame's file is kept as its take takes/NN-<id>-edited.<ext> "
                "(`pick: edited` shows it again).")
    if not terminal:
        raise UsageError(f"{question} Add --yes to go ahead.")
    if not typer.confirm(f"{question} Continue?", err=True):
        raise typer.Exit(1)


def _confirm_force_all(plan: Any, terminal: bool) -> None:
    """Ask before `--force` without `--only` buys every frame again; without a terminal, refuse (or --yes)."""
    takes = sum(j.takes for j in plan.jobs)
    what = f"--force without --only sends all {takes} request(s) of this story again, each paid for again"
    if not terminal:
        raise UsageError(f"{what}, and without a terminal there is no one to ask. Nothing was sent. Add --yes to go "
                         "ahead, or choose frames with --only ID,...")
    if not typer.confirm(f"{what} (edited and locked frames are kept). Continue?", err=True):
        raise typer.Exit(1)


def _open(sheet: Path) -> None:
    """Open the contact sheet in a browser, or say there is none."""
    import webbrowser

    try:
        opened = webbrowser.open(sheet.resolve().as_uri())
    except webbrowser.Error:
        opened = False
    if not opened:
        err(f"Note: no web browser found to open the contact sheet (--open); open {sheet} yourself.")


def _report(outcome: Any, out_dir: Path, quiet: bool, json_out: bool) -> None:
    m = outcome.manifest
    t = m["totals"]["run"]
    if json_out:
        typer.echo(json.dumps({"out_dir": str(out_dir), "exit_code": outcome.exit_code, "totals": m["totals"],
                               "sheet": str(outcome.sheet) if outcome.sheet else None,
                               "frames": [{k: e.get(k) for k in ("number", "id", "take", "picked", "file", "status", "reason")}
                                          for e in m["frames"]]}, indent=1))
    fatal = outcome.fatal
    if fatal is not None and (fatal.code == "wait_too_long" or fatal.type == "connection_error"):
        err(f"Error: {fatal.message}")  # the run stopped itself: the sentence says why and what to do
    elif fatal is not None:
        err(f"Error: the provider stopped the run: {_fatal_sentence(fatal)} Frames already received are kept.")
    if outcome.storage_error is not None:
        from storyboard.run.session import storage_report

        err(f"Error: {storage_report(out_dir, outcome.storage_error, outcome.lost)}")
    for note in outcome.notes:
        err(f"Warning: {note}")
    never = [e for e in outcome.unfinished if not e.get("lost")]
    lost = len(outcome.unfinished) - len(never)
    if never:
        err(f"Note: {len(never)} request(s) of an earlier run were sent but their images never arrived; "
             "they may have been billed.")
    if lost:
        err(f"Note: {lost} image(s) an earlier run received could not be saved (the output folder could not be "
            "written); they were paid for, and are requested again.")
    if quiet:
        return
    picked = [e for e in m["frames"] if e.get("picked")]
    # Frames the stop left unrequested (and the one whose failure is the Error above) are one line, not one each.
    stopped = [e for e in picked if (e["status"] == "skipped" and e.get("reason") == "run stopped")
               or (fatal is not None and e["status"] == "failed" and e.get("reason") == fatal.message)]
    for e in picked:
        if e["status"] in ("failed", "skipped") and e not in stopped:
            err(f"  frame {e['number']:>2} {e.get('id') or ''}: {e['status']}: {e.get('reason')}")
    if stopped:
        err(f"  {len(stopped)} frame(s) not made: the run stopped (run the same command again to make them)")
    ok = sum(1 for e in picked if e["status"] in ("ok", "cached", "edited", "locked"))
    cost = f"${t['cost_usd']:.2f}{' (estimate)' if t.get('cost_estimated') else ''}"
    kept = sum(1 for e in picked if e["status"] in ("edited", "locked"))
    kept_text = f"{kept} kept (edited by hand or locked), " if kept else ""
    err(f"{ok}/{len(picked)} frames in {out_dir}  ·  {t['images']} new image(s), {t['cached']} cached, {kept_text}"
         f"{t['failures']} failed, {t['skipped']} skipped  ·  {cost}  ·  {t.get('seconds') or 0:.1f}s")
    if t.get("possibly_billed_twice"):
        err(f"Note: {t['possibly_billed_twice']} retry(ies) followed a failure after the server may have done the "
            "work (a dropped connection, a timeout, an image that did not decode); the provider may have billed "
            "those twice.")
    if outcome.interrupted:
        err("Interrupted: finished frames are saved; run the same command again to continue.")
    if outcome.sheet:
        err(f"Contact sheet: {outcome.sheet}")


def _fatal_sentence(e: Any) -> str:
    if e.code == "insufficient_quota":
        return "the account has no quota left (insufficient_quota). Add credit or raise the limit, then run again."
    if e.status == 401:
        return "the API key was refused (401). Check OPENAI_API_KEY."
    if e.status == 403:
        return f"permission denied (403): {e.message}"
    return e.message
