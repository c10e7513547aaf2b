"""Commands on an output folder: `gallery`, `export`, `gc`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from storyboard.cli.app import DirArg, app, handles_errors
from storyboard.cli.common import output_folder
from storyboard.errors import UsageError

# What each export writes, by the extension a file given with -o must have.
EXPORT_SUFFIXES = {"pdf": (".pdf",), "gif": (".gif",), "webp": (".webp",), "sheet": (".png",), "zip": (".zip",)}


@app.command()
@handles_errors
def gallery(
    out_dir: DirArg,
    template: Annotated[
        Path | None,
        typer.Option("--template", metavar="FILE", help="A Jinja2 template to use instead of the default (README: its names)."),
    ] = None,
) -> None:
    """Re-render the contact sheet from manifest.json alone."""
    from jinja2 import TemplateError

    from storyboard.output.manifest import load_manifest
    from storyboard.sheet.render import write_sheet

    manifest = load_manifest(output_folder(out_dir))
    if template is not None and not template.is_file():
        raise UsageError(f"--template {template}: no such file.")
    try:
        path = write_sheet(out_dir, manifest, template=template)
    except TemplateError as e:
        if template is None:
            raise  # the shipped template: a bug, not the user's
        line = getattr(e, "lineno", None)
        where = f"{template}:{line}" if line else str(template)
        raise UsageError(f"--template {where}: {e.message or type(e).__name__}. The names a sheet template "
                         "can use are listed in the README (Contact sheet templates).") from None
    typer.echo(str(path))


@app.command()
@handles_errors
def export(
    out_dir: DirArg,
    pdf: Annotated[bool, typer.Option("--pdf", help="Storyboard pages, six frames to an A4 landscape page.")] = False,
    gif: Annotated[bool, typer.Option("--gif", help="An animatic GIF.")] = False,
    webp: Annotated[bool, typer.Option("--webp", help="An animatic WebP.")] = False,
    sheet: Annotated[bool, typer.Option("--sheet", help="One contact-sheet PNG.")] = False,
    zip_: Annotated[bool, typer.Option("--zip", help="The shareable folder as a ZIP.")] = False,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", metavar="PATH", help="Where to write (a file, or a folder).")
    ] = None,
) -> None:
    """Share a storyboard: PDF pages, GIF/WebP animatics, a sheet PNG or a ZIP (into DIR/exports/)."""
    from storyboard.export.core import export as do_export

    output_folder(out_dir)
    kinds = [k for k, on in (("pdf", pdf), ("gif", gif), ("webp", webp), ("sheet", sheet), ("zip", zip_)) if on]
    if not kinds:
        raise UsageError("choose what to export: --pdf, --gif, --webp, --sheet or --zip.")
    if output is not None and len(kinds) > 1 and not output.is_dir():
        raise UsageError("-o names one file; with several exports, give a folder or export one at a time.")
    if output is not None and not output.is_dir() and output.suffix:
        allowed = EXPORT_SUFFIXES.get(kinds[0], ())
        if allowed and output.suffix.lower() not in allowed:
            raise UsageError(f"-o {output}: --{kinds[0]} writes a {allowed[0]} file, not {output.suffix}; "
                             f"name it {output.with_suffix(allowed[0]).name}.")
    for k in kinds:
        typer.echo(str(do_export(out_dir, k, output)))  # type: ignore[arg-type]


@app.command()
@handles_errors
def gc(
    out_dir: DirArg,
    keep: Annotated[int, typer.Option("--keep", metavar="N", help="Also keep the newest N images of each frame.")] = 0,
) -> None:
    """Drop cached images that no manifest entry uses (keeping the newest N per frame)."""
    from storyboard.output.gc import collect

    if keep < 0:
        raise UsageError("--keep must be 0 or more.")
    removed, freed = collect(output_folder(out_dir), keep=keep)
    typer.echo(f"removed {removed} cached image(s), {freed / 1e6:.1f} MB freed")
