"""Commands on an output folder: `gallery`, `export`, `gc`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from storyboard.cli.app import app, handles_errors
from storyboard.errors import UsageError


@app.command()
@handles_errors
def gallery(
    out_dir: Annotated[Path, typer.Argument(help="An output folder (with manifest.json).", show_default=False)],
    template: Annotated[Path | None, typer.Option("--template", help="A Jinja2 template to use instead of the default.")] = None,
) -> None:
    """Re-render the contact sheet from manifest.json alone."""
    from storyboard.output.manifest import load_manifest
    from storyboard.sheet.render import write_sheet

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
    from storyboard.export.core import export as do_export

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
    from storyboard.output.gc import collect

    removed, freed = collect(out_dir, keep=keep)
    typer.echo(f"removed {removed} cached image(s), {freed / 1e6:.1f} MB freed")

