"""The command line: the only place that prints, reads the environment or exits.

Every `StoryboardError` becomes one message on stderr and the exit code of SPEC §7.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from storyboard.errors import StoryboardError, UsageError

app = typer.Typer(
    name="storyboard",
    help="Turn a YAML story into a storyboard: chained image prompts, numbered frames, an HTML contact sheet.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals could hold the API key
    rich_markup_mode=None,
)

F = TypeVar("F", bound=Callable[..., Any])


def _err(message: str) -> None:
    typer.echo(message, err=True)


def handles_errors(fn: F) -> F:
    """Turn StoryboardError into `Error: ...` and its exit code; the one place that does."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StoryboardError as e:
            lines = e.message.splitlines()
            if len(lines) > 1:
                _err(f"Error: {len(lines)} problems:")
                for line in lines:
                    _err(f"  {line}")
            else:
                _err(f"Error: {e.message}")
            raise typer.Exit(e.exit_code) from None

    return wrapper  # type: ignore[return-value]


# -- the environment ---------------------------------------------------------------------


def _backend_choice(backend: str, quiet: bool) -> tuple[str, str | None]:
    """Return (backend name, base-URL host) per SPEC §4's `auto` rule."""
    from urllib.parse import urlparse

    key, base = os.environ.get("OPENAI_API_KEY"), os.environ.get("OPENAI_BASE_URL")
    if backend == "auto":
        if key or base:
            backend = "openai"
        else:
            if not quiet:
                _err("No OPENAI_API_KEY or OPENAI_BASE_URL: drawing offline draft frames (--backend draft).")
            backend = "draft"
    if backend == "draft":
        return "draft", None
    if backend != "openai":
        raise UsageError(f"unknown backend {backend!r}; use auto, openai or draft.")
    if not key and not base:
        raise UsageError("OPENAI_API_KEY is not set. Export it, or use --backend draft.")
    host = urlparse(base).netloc if base else "api.openai.com"
    return "openai", host or "api.openai.com"


def _make_backend(name: str) -> Any:
    from storyboard.backends import get_backend

    if name == "draft":
        return get_backend("draft")
    return get_backend(
        "openai",
        api_key=os.environ.get("OPENAI_API_KEY") or None,
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        organization=os.environ.get("OPENAI_ORG_ID") or None,
        project=os.environ.get("OPENAI_PROJECT_ID") or None,
    )


def _load_plan(story: Path, backend: str, model: str | None, quiet: bool) -> Any:
    from storyboard.plan import build_plan
    from storyboard.story import load_story

    loaded = load_story(story)
    name, host = _backend_choice(backend, quiet)
    plan = build_plan(loaded, backend=name, host=host, model_override=model)
    if not quiet:
        for w in plan.warnings:
            _err(f"Warning: {w}")
    return plan


def _selection(plan: Any, only: str | None, force: bool) -> tuple[set[int] | None, set[int]]:
    if not only:
        if force:
            return None, {j.index for j in plan.jobs}
        return None, set()
    chosen: set[int] = set()
    for name in [x.strip() for x in only.split(",") if x.strip()]:
        job = plan.by_id(name)
        if job is None and name.isdigit():
            job = next((j for j in plan.frames if j.number == int(name)), None)
        if job is None:
            ids = ", ".join(j.id for j in plan.frames if j.id) or "none"
            raise UsageError(f"--only {name}: no frame has that id or number (ids: {ids}).")
        chosen.add(job.index)
    return chosen, (set(chosen) if force else set())


# -- commands ------------------------------------------------------------------------------

StoryArg = Annotated[Path, typer.Argument(help="The story file (.yaml).", show_default=False)]
OutOpt = Annotated[Path | None, typer.Option("-o", "--out", help="Output folder [default: ./outputs/<story>/].")]
BackendOpt = Annotated[str, typer.Option("--backend", help="auto, openai or draft.")]
ModelOpt = Annotated[str | None, typer.Option("--model", help="Use this model for every frame.")]
OnlyOpt = Annotated[str | None, typer.Option("--only", help="Frame ids (or numbers), comma-separated; their sources run too.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Request the chosen frames again (never discards edited or locked ones).")]
BudgetOpt = Annotated[float | None, typer.Option("--budget", help="Refuse plans above this many USD; stop spending at it.")]
IpmOpt = Annotated[float | None, typer.Option("--ipm", help="Images per minute at most (rate-limit tiers).")]


@app.command()
@handles_errors
def run(
    story: StoryArg,
    out: OutOpt = None,
    jobs: Annotated[int | None, typer.Option("-j", "--jobs", help="Requests in flight at most [default: the story's parallel].")] = None,
    sequential: Annotated[bool, typer.Option("--sequential", help="One request at a time, in story order.")] = False,
    backend: BackendOpt = "auto",
    model: ModelOpt = None,
    only: OnlyOpt = None,
    force: ForceOpt = False,
    budget: BudgetOpt = None,
    ipm: IpmOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before spending.")] = False,
    open_: Annotated[bool, typer.Option("--open", help="Open the contact sheet when done.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")] = False,
) -> None:
    """Run a story: request every frame not already made, save the frames, write the contact sheet."""
    from storyboard.pipeline import default_out_dir, run_plan
    from storyboard.preview import new_cost, preview
    from storyboard.runner import RunOptions

    plan = _load_plan(story, backend, model, quiet)
    s = plan.loaded.story
    out_dir = out or default_out_dir(plan.loaded)
    if jobs is not None and jobs < 1:
        raise UsageError("-j must be 1 or more.")
    selected, forced = _selection(plan, only, force)
    asks = force and not only and not yes and sys.stdin.isatty()
    if asks and not typer.confirm("--force without --only requests every frame again (edited and locked frames are kept). Continue?"):
        raise typer.Exit(1)
    options = RunOptions(
        parallel=1 if sequential else (jobs or s.parallel),
        ipm=ipm or s.images_per_minute,
        budget=budget if budget is not None else s.budget,
        selected=selected,
        force=forced,
    )
    # Pricing the plan builds every request once more: only when a budget or a person asks.
    asks_first = not yes and sys.stdin.isatty() and sys.stderr.isatty()
    priced = plan.backend != "draft" and (options.budget is not None or asks_first)
    rows = preview(plan, out_dir, options) if priced else []
    cost, unpriced = new_cost(rows)
    if options.budget is not None and priced:
        from storyboard.errors import BudgetError

        if unpriced:
            raise BudgetError(f"{unpriced} request(s) use a model without a known price, so --budget cannot hold. Drop --budget or use a known model (storyboard models).")
        if cost > options.budget + 1e-9:
            raise BudgetError(f"the plan's new requests are estimated at ${cost:.2f}, above the budget of ${options.budget:.2f}. Raise --budget, or run fewer frames with --only.")
    if cost > 1.0 and asks_first:
        _print_plan(plan, rows, out_dir)
        if not typer.confirm(f"These new requests are estimated at ${cost:.2f}. Send them?"):
            raise typer.Exit(1)

    from storyboard.progress import Progress

    progress = Progress(plan, enabled=not quiet and not json_out)
    with progress:
        outcome = run_plan(plan, out_dir, _make_backend(plan.backend), options, on_event=progress.event,
                           on_interrupt=progress.interrupt)
    _report(outcome, out_dir, quiet, json_out)
    if open_ and outcome.sheet:
        import webbrowser

        webbrowser.open(outcome.sheet.resolve().as_uri())
    raise typer.Exit(outcome.exit_code)


def _report(outcome: Any, out_dir: Path, quiet: bool, json_out: bool) -> None:
    m = outcome.manifest
    t = m["totals"]["run"]
    if json_out:
        typer.echo(json.dumps({"out_dir": str(out_dir), "exit_code": outcome.exit_code, "totals": m["totals"],
                               "sheet": str(outcome.sheet) if outcome.sheet else None,
                               "frames": [{k: e.get(k) for k in ("number", "id", "take", "picked", "file", "status", "reason")}
                                          for e in m["frames"]]}, indent=1))
    if outcome.fatal is not None:
        _err(f"Error: the provider stopped the run: {_fatal_sentence(outcome.fatal)} Frames already received are kept.")
    if outcome.unfinished:
        _err(f"Note: {len(outcome.unfinished)} request(s) of an earlier run were sent but their images never arrived; "
             "they may have been billed.")
    if quiet:
        return
    picked = [e for e in m["frames"] if e.get("picked")]
    for e in picked:
        if e["status"] in ("failed", "skipped"):
            _err(f"  frame {e['number']:>2} {e.get('id') or ''}: {e['status']}: {e.get('reason')}")
    ok = sum(1 for e in picked if e["status"] in ("ok", "cached", "edited", "locked"))
    cost = f"${t['cost_usd']:.2f}{' (estimate)' if t.get('cost_estimated') else ''}"
    _err(f"{ok}/{len(picked)} frames in {out_dir}  ·  {t['images']} new image(s), {t['cached']} cached, "
         f"{t['failures']} failed, {t['skipped']} skipped  ·  {cost}  ·  {t.get('seconds') or 0:.1f}s")
    if t.get("possibly_billed_twice"):
        _err(f"Note: {t['possibly_billed_twice']} retry(ies) followed a dropped connection after the server may have "
             "done the work; the provider may have billed those twice.")
    if outcome.interrupted:
        _err("Interrupted: finished frames are saved; run the same command again to continue.")
    if outcome.sheet:
        _err(f"Contact sheet: {outcome.sheet}")


def _fatal_sentence(e: Any) -> str:
    if e.code == "insufficient_quota":
        return "the account has no quota left (insufficient_quota). Add credit or raise the limit, then run again."
    if e.status == 401:
        return "the API key was refused (401). Check OPENAI_API_KEY."
    if e.status == 403:
        return f"permission denied (403): {e.message}"
    return e.message


@app.command()
@handles_errors
def validate(
    stories: Annotated[list[Path], typer.Argument(help="Story files.", show_default=False)],
    backend: BackendOpt = "auto",
) -> None:
    """Check story files; nothing is sent, nothing written."""
    from storyboard.adventure import summary as adventure_summary
    from storyboard.errors import StoryError

    bad: list[str] = []
    for story in stories:
        try:
            plan = _load_plan(story, backend, None, quiet=True)
        except StoryError as e:
            bad.append(e.message)
            continue
        for w in plan.warnings:
            _err(f"Warning: {story}: {w}")
        n = len(plan.frames)
        extra = adventure_summary(plan)
        typer.echo(f"{story}: ok ({n} frame{'s' if n != 1 else ''}{extra})")
    if bad:
        raise StoryboardError("\n".join(line for m in bad for line in m.splitlines()))




@app.command()
@handles_errors
def plan(
    story: StoryArg,
    out: OutOpt = None,
    backend: BackendOpt = "auto",
    model: ModelOpt = None,
    only: OnlyOpt = None,
    force: ForceOpt = False,
) -> None:
    """Show each request: frame, kind, model, size, what it waits for, cached/new/stale and why, cost."""
    from storyboard.pipeline import default_out_dir
    from storyboard.preview import preview
    from storyboard.runner import RunOptions

    p = _load_plan(story, backend, model, quiet=False)
    out_dir = out or default_out_dir(p.loaded)
    selected, forced = _selection(p, only, force)
    rows = preview(p, out_dir, RunOptions(selected=selected, force=forced))
    _print_plan(p, rows, out_dir)


PLAN_COLUMNS = ("frame", "take", "kind", "model", "size", "quality", "waits for", "status", "why", "est. $")
RICH_ROWS = 300  # past this, rich's layout costs seconds: a plain listing of the same columns


def _print_plan(p: Any, rows: list[Any], out_dir: Path) -> None:
    from storyboard.preview import new_cost

    title = f"{p.loaded.story.title}  ({p.backend}{' @ ' + p.host if p.host else ''})"
    cells = [_plan_cells(r) for r in rows]
    if len(cells) <= RICH_ROWS:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for col in PLAN_COLUMNS:
            table.add_column(col, justify="right" if col in ("take", "est. $") else "left")
        for c in cells:
            table.add_row(*c)
        console = Console(width=max(120, Console().width))
        console.print(table)
        say = console.print
    else:
        widths = [max(len(col), *(len(c[i]) for c in cells)) for i, col in enumerate(PLAN_COLUMNS)]
        lines = [title, "  ".join(col.ljust(w) for col, w in zip(PLAN_COLUMNS, widths, strict=True))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip() for c in cells]
        typer.echo("\n".join(lines))
        say = typer.echo
    cost, unpriced = new_cost(rows)
    todo = sum(1 for r in rows if r.status in ("new", "stale"))
    tail = f" + {unpriced} unpriced" if unpriced else ""
    say(f"{todo} request(s) to send, {len(rows) - todo} kept or cached; estimated ${cost:.2f}{tail} (estimate).  Output: {out_dir}")


def _plan_cells(r: Any) -> tuple[str, ...]:
    """Return one plan row as text, in PLAN_COLUMNS order."""
    j = r.job
    take = f"{r.take}/{j.takes}" + ("*" if j.takes > 1 and r.take == j.pick else "")
    est = "?" if r.estimate is None else f"{r.estimate:.3f}"
    if r.status in ("cached", "edited", "locked"):
        est = "-"
    kind = "character" if j.character else j.kind + (" + refs" if j.references else "")
    return (j.name, take, kind, j.model, j.size or "?", j.quality or "", ", ".join(r.waits_for), r.status, r.reason, est)


@app.command()
@handles_errors
def gallery(
    out_dir: Annotated[Path, typer.Argument(help="An output folder (with manifest.json).", show_default=False)],
    template: Annotated[Path | None, typer.Option("--template", help="A Jinja2 template to use instead of the default.")] = None,
) -> None:
    """Re-render the contact sheet from manifest.json alone."""
    from storyboard.manifest import load_manifest
    from storyboard.sheet import write_sheet

    manifest = load_manifest(out_dir)
    if template is not None and not template.is_file():
        raise UsageError(f"--template {template}: no such file.")
    path = write_sheet(out_dir, manifest, template=template)
    typer.echo(str(path))


@app.command()
@handles_errors
def export(
    out_dir: Annotated[Path, typer.Argument(help="An output folder (with manifest.json).", show_default=False)],
    pdf: Annotated[bool, typer.Option("--pdf", help="Storyboard pages, six frames to an A4 landscape page.")] = False,
    gif: Annotated[bool, typer.Option("--gif", help="An animatic GIF.")] = False,
    webp: Annotated[bool, typer.Option("--webp", help="An animatic WebP.")] = False,
    sheet: Annotated[bool, typer.Option("--sheet", help="One contact-sheet PNG.")] = False,
    zip_: Annotated[bool, typer.Option("--zip", help="The shareable folder as a ZIP.")] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Where to write (a file, or a folder).")] = None,
) -> None:
    """Share a storyboard: PDF pages, GIF/WebP animatics, a sheet PNG or a ZIP (into DIR/exports/)."""
    from storyboard.export import export as do_export

    kinds = [k for k, on in (("pdf", pdf), ("gif", gif), ("webp", webp), ("sheet", sheet), ("zip", zip_)) if on]
    if not kinds:
        raise UsageError("choose what to export: --pdf, --gif, --webp, --sheet or --zip.")
    if output is not None and len(kinds) > 1 and not output.is_dir():
        raise UsageError("-o names one file; with several exports, give a folder or export one at a time.")
    for k in kinds:
        typer.echo(str(do_export(out_dir, k, output)))  # type: ignore[arg-type]


@app.command()
@handles_errors
def gc(
    out_dir: Annotated[Path, typer.Argument(help="An output folder.", show_default=False)],
    keep: Annotated[int, typer.Option("--keep", help="Also keep the newest N images of each frame.")] = 0,
) -> None:
    """Drop cached images that no manifest entry uses (keeping the newest N per frame)."""
    from storyboard.gc import collect

    removed, freed = collect(out_dir, keep=keep)
    typer.echo(f"removed {removed} cached image(s), {freed / 1e6:.1f} MB freed")


@app.command()
@handles_errors
def new(
    name: Annotated[str, typer.Argument(help="Name of the story (file NAME.yaml).", show_default=False)],
) -> None:
    """Write a starter story to NAME.yaml."""
    from storyboard.starter import starter

    path = Path(name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    if path.exists():
        raise UsageError(f"{path} exists; choose another name.")
    path.write_text(starter(path.stem), encoding="utf-8")
    typer.echo(f"wrote {path}. Try: storyboard run {path} --backend draft")


@app.command()
@handles_errors
def models() -> None:
    """Model profiles: sizes, qualities, features, price estimate, shutdown date."""
    from datetime import date

    from rich.console import Console
    from rich.table import Table

    from storyboard import models as registry

    table = Table(title="Image models (prices are estimates)", title_justify="left")
    for col in ("model", "sizes", "qualities", "edits", "refs", "variations", "1536x1024 medium", "shutdown"):
        table.add_column(col)
    today = date.today()
    for p in registry.all_profiles():
        sizes = "any WxH (16px steps, ≤3840)" if p.flexible_sizes else ", ".join(p.sizes)
        price = registry.estimate_cost(p, "1536x1024", "medium" if "medium" in p.qualities else (p.default_quality or ""))
        shut = "" if p.shutdown is None else (f"{p.shutdown} (retired)" if p.shutdown <= today else str(p.shutdown))
        table.add_row(p.name, sizes, " ".join(p.qualities), "yes" if p.edits else "no",
                      str(p.max_inputs) if p.references else "no", p.variations, "?" if price is None else f"${price:.3f}", shut)
    Console(width=max(120, Console().width)).print(table)


@app.command()
@handles_errors
def schema() -> None:
    """Print the JSON Schema of the story format (for editor completion)."""
    from storyboard.story import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@app.command()
@handles_errors
def write(
    premise: Annotated[str, typer.Argument(help="What the story is about, in a sentence or two.", show_default=False)],
    frames: Annotated[int, typer.Option("--frames", help="How many frames.")] = 8,
    branches: Annotated[bool, typer.Option("--branches", help="Write a choose-your-own-adventure with choices and endings.")] = False,
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Where to write the story [default: a name from the title].")] = None,
    model: Annotated[str, typer.Option("--model", help="The chat model that drafts the story.")] = "gpt-5.1",
) -> None:
    """Draft a story file with a chat model (Responses API, structured output); validated before it is written."""
    from storyboard.writer import write_story

    key, base = os.environ.get("OPENAI_API_KEY"), os.environ.get("OPENAI_BASE_URL")
    if not key and not base:
        raise UsageError("`storyboard write` needs a chat model: set OPENAI_API_KEY (or OPENAI_BASE_URL for a local server).")
    if frames < 1 or frames > 60:
        raise UsageError("--frames takes 1 to 60.")
    path = write_story(premise, frames=frames, branches=branches, out=out, model=model,
                       api_key=key or None, base_url=base or None)
    typer.echo(f"wrote {path}. Try: storyboard run {path} --backend draft")


def main() -> None:
    """Run the command line."""
    app()
