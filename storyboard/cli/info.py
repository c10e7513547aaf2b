"""Commands that write or show things beside a run: `new`, `models`, `schema`, `write`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from storyboard.cli.app import app, handles_errors
from storyboard.errors import UsageError


@app.command()
@handles_errors
def new(
    name: Annotated[str, typer.Argument(help="Name of the story (file NAME.yaml), e.g. my-comic.", metavar="NAME",
                                        show_default=False)],
) -> None:
    """Write a starter story to NAME.yaml."""
    import shlex

    from storyboard.starter import starter

    if not name.strip() or name.endswith(("/", os.sep)):
        raise UsageError(f"{name!r} is no story name; give one, e.g. `storyboard new my-comic`.")
    path = Path(name if name.endswith((".yaml", ".yml")) else f"{name}.yaml")
    if any(len(os.fsencode(part)) > 255 for part in path.parts):
        raise UsageError(f"{name[:40]!r}...: a name is at most 255 bytes on most disks; choose a shorter one.")
    if path.is_dir():
        raise UsageError(f"{path} is a folder; choose another name.")
    blocking = next((p for p in (path.parent, *path.parent.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise UsageError(f"{blocking} is a file, not a folder; choose another place for {path}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as f:  # "x": never overwrite a story, even in a race
            f.write(starter(path.stem))
    except FileExistsError:
        raise UsageError(f"{path} exists; choose another name.") from None
    except OSError as e:
        raise UsageError(f"cannot write {path} ({e.strerror}); choose another place.") from None
    typer.echo(f"wrote {path}. Try: storyboard run {shlex.quote(str(path))} --backend draft")


@app.command()
@handles_errors
def models() -> None:
    """Model profiles of every installed backend: sizes, qualities, features, price estimate, shutdown date."""
    from datetime import date

    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table

    from storyboard.backends import registry
    from storyboard.models import estimate_cost

    plugins = registry.installed()
    today = date.today()
    rows = []
    for b in plugins:
        for p in b.profiles():
            rule = p.size_rule
            sizes = f"any WxH ({rule.step}px steps, ≤{rule.max_edge})" if rule else ", ".join(p.sizes)
            quality = "medium" if "medium" in p.qualities else (p.default_quality or "medium")
            cost = None if b.free else estimate_cost(p, "3:2", quality)
            price = "free" if b.free else ("?" if cost is None else f"${cost:.3f} ({quality})")
            shut = "" if p.shutdown is None else f"{p.shutdown}{' (retired)' if p.shutdown <= today else ''}"
            rows.append({"model": p.name, "backend": b.name, "sizes": sizes, "qualities": " ".join(p.qualities),
                         "edits": "yes" if p.edits else "no", "refs": str(p.max_inputs) if p.references else "no",
                         "variations": p.variations, "3:2 image": price, "shutdown": shut, "licence": p.licence or ""})
    console = Console()
    # The table's natural width: each column's widest cell, a space either side and a rule between.
    widths = [max(cell_len(str(v)) for v in (col, *(r[col] for r in rows))) for col in (rows[0] if rows else ())]
    if rows and sum(widths) + 3 * len(widths) + 1 <= console.width:  # the table only where it fits whole
        table = Table(title="Image models (prices are estimates)", title_justify="left")
        for col in rows[0]:
            table.add_column(col, no_wrap=True)  # the names people type are never cut, nor any other cell
        for row in rows:
            table.add_row(*row.values())
        console.print(table)
    else:
        # A narrow terminal: one block per model, so no name is ever cut.
        typer.echo("Image models (prices are estimates)")
        for row in rows:
            typer.echo(f"\n{row['model']}  ({row['backend']})")
            typer.echo(f"  sizes: {row['sizes']}")
            typer.echo(f"  qualities: {row['qualities']}")
            typer.echo(f"  edits: {row['edits']}  refs: {row['refs']}  variations: {row['variations']}")
            typer.echo(f"  3:2 image: {row['3:2 image']}" + (f"  shutdown: {row['shutdown']}" if row["shutdown"] else ""))
            if row["licence"]:
                typer.echo(f"  licence: {row['licence']}")
    for b in plugins:
        if not b.profiles():
            what = "a stand-in that draws any backend's models" if b.previews else "no model profiles of its own"
            typer.echo(f"{b.name}: {what}{', free' if b.free else ''}.")


@app.command()
@handles_errors
def schema() -> None:
    """Print the JSON Schema of the story format (for editor completion)."""
    from storyboard.story import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@app.command()
@handles_errors
def write(
    premise: Annotated[
        str, typer.Argument(help="What the story is about, in a sentence or two.", metavar="PREMISE", show_default=False)
    ],
    frames: Annotated[int, typer.Option("--frames", metavar="N", help="How many frames.")] = 8,
    branches: Annotated[bool, typer.Option("--branches", help="Write a choose-your-own-adventure with choices and endings.")] = False,
    out: Annotated[Path | None, typer.Option("-o", "--out", metavar="FILE", help="Where to write the story [default: a name from the title].")] = None,
    model: Annotated[str, typer.Option("--model", metavar="MODEL", help="The chat model that drafts the story.")] = "gpt-5.1",
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
    import shlex

    typer.echo(f"wrote {path}. Try: storyboard run {shlex.quote(str(path))} --backend draft")

