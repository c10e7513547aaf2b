"""`storyboard validate` and `storyboard plan`: what a story would do, nothing sent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from storyboard.cli.app import (
    AssetsOpt,
    BackendOpt,
    DeviceOpt,
    ForceOpt,
    ModelOpt,
    OffloadOpt,
    OnlyOpt,
    OutOpt,
    StoryArg,
    app,
    err,
    handles_errors,
)
from storyboard.cli.common import assets, load_plan, selection
from storyboard.errors import StoryboardError


@app.command()
@handles_errors
def validate(
    stories: Annotated[list[Path], typer.Argument(help="Story files.", metavar="STORY", show_default=False)],
    backend: BackendOpt = "auto",
    assets_dirs: AssetsOpt = None,
    device: DeviceOpt = None,
    offload: OffloadOpt = False,
) -> None:
    """Check story files; nothing is sent, nothing written."""
    from storyboard.errors import StoryError
    from storyboard.story.adventure import summary as adventure_summary

    bad: list[str] = []
    allowed = assets(assets_dirs)
    for story in stories:
        try:
            plan = load_plan(story, backend, None, quiet=True, assets_dirs=allowed)
        except StoryError as e:
            bad.append(e.message)
            continue
        for w in plan.warnings:
            err(f"Warning: {story}: {w}")
        n = len(plan.frames)
        extra = adventure_summary(plan.loaded)
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
    assets_dirs: AssetsOpt = None,
    device: DeviceOpt = None,
    offload: OffloadOpt = False,
) -> None:
    """Show each request: frame, kind, model, size, what it waits for, cached/new/stale and why, cost."""
    from storyboard.run.forecast import forecast
    from storyboard.run.options import RunOptions
    from storyboard.run.session import default_out_dir

    p = load_plan(story, backend, model, quiet=False, assets_dirs=assets(assets_dirs))
    out_dir = out or default_out_dir(p.loaded)
    selected, forced = selection(p, only, force)
    rows = forecast(p, out_dir, RunOptions(selected=selected, force=forced))
    print_plan(p, rows, out_dir)


PLAN_COLUMNS = ("frame", "take", "kind", "model", "size", "quality", "waits for", "status", "why", "est. $")


RICH_ROWS = 300  # past this, rich's layout costs seconds: a plain listing of the same columns


def print_plan(p: Any, rows: list[Any], out_dir: Path, *, err: bool = False) -> None:
    """Print the plan's table and its total (on stderr with `err`, e.g. above a question)."""
    from storyboard.run.forecast import new_cost

    title = f"{p.loaded.story.title}  ({p.backend}{' @ ' + p.host if p.host else ''})"
    cells = [_plan_cells(r, p.plugin.settings_text(r.job)) for r in rows]
    if len(cells) <= RICH_ROWS:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left")
        for col in PLAN_COLUMNS:
            table.add_column(col, justify="right" if col in ("take", "est. $") else "left")
        for c in cells:
            table.add_row(*c)
        console = Console(width=max(120, Console().width), stderr=err)
        console.print(table)
        say = console.print
    else:
        widths = [max(len(col), *(len(c[i]) for c in cells)) for i, col in enumerate(PLAN_COLUMNS)]
        lines = [title, "  ".join(col.ljust(w) for col, w in zip(PLAN_COLUMNS, widths, strict=True))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(c, widths, strict=True)).rstrip() for c in cells]
        typer.echo("\n".join(lines), err=err)

        def say(text: str) -> None:
            typer.echo(text, err=err)
    cost, unpriced = new_cost(rows)
    todo = sum(1 for r in rows if r.status in ("new", "stale"))
    tail = f" + {unpriced} unpriced" if unpriced else ""
    say(f"{todo} request(s) to send, {len(rows) - todo} kept or cached; estimated ${cost:.2f}{tail} (estimate).  Output: {out_dir}")


def _plan_cells(r: Any, settings: str | None = None) -> tuple[str, ...]:
    """Return one plan row as text, in PLAN_COLUMNS order (the backend's settings, e.g. a local
    model's steps, in the quality column)."""
    j = r.job
    take = f"{r.take}/{j.takes}" + ("*" if j.takes > 1 and r.take == j.pick else "")
    est = "?" if r.estimate is None else f"{r.estimate:.3f}"
    if r.status in ("cached", "edited", "locked"):
        est = "-"
    kind = "character" if j.character else j.kind + (" + refs" if j.references else "")
    return (j.name, take, kind, j.model, j.size or "?", settings or j.quality or "", ", ".join(r.waits_for), r.status, r.reason, est)

