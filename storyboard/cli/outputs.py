"""Commands on an output folder: `gallery`, `export`, `gc`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from storyboard.cli.app import DirArg, app, err, handles_errors
from storyboard.cli.common import output_folder
from storyboard.errors import UsageError

# What each export writes, by the extension a file given with -o must have.
EXPORT_SUFFIXES = {"pdf": (".pdf",), "comic": (".pdf",), "mp4": (".mp4",), "gif": (".gif",), "webp": (".webp",), "sheet": (".png",), "zip": (".zip",)}


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
    pdf: Annotated[bool, typer.Option("--pdf", help="Storyboard pages with real text: every caption, note and dialogue line.")] = False,
    comic: Annotated[bool, typer.Option("--comic", help="Comic pages: panels in rows, speech balloons, caption boxes (a PDF and a PNG per page).")] = False,
    mp4: Annotated[bool, typer.Option("--mp4", help="An H.264 animatic (durations, camera moves) with an .srt beside it; needs the [video] extra.")] = False,
    gif: Annotated[bool, typer.Option("--gif", help="An animatic GIF.")] = False,
    webp: Annotated[bool, typer.Option("--webp", help="An animatic WebP.")] = False,
    sheet: Annotated[bool, typer.Option("--sheet", help="One contact-sheet PNG.")] = False,
    zip_: Annotated[bool, typer.Option("--zip", help="The shareable folder as a ZIP.")] = False,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", metavar="PATH", help="Where to write: a file, or a folder (a name without an extension is one, made if new).")
    ] = None,
    layout: Annotated[str, typer.Option("--layout", metavar="6|3|1", help="PDF: 6 frames a landscape page, 3 beside a notes column, or 1.")] = "6",
    paper: Annotated[str, typer.Option("--paper", metavar="a4|letter", help="PDF and comic: a4 or letter.")] = "a4",
    rtl: Annotated[bool, typer.Option("--rtl", help="Comic: read right to left (manga): panels and balloons mirrored.")] = False,
    fps: Annotated[int, typer.Option("--fps", metavar="N", help="MP4: frames a second.")] = 24,
    burn_captions: Annotated[bool, typer.Option("--burn-captions", help="MP4: draw captions and dialogue into the picture too.")] = False,
    audio: Annotated[Path | None, typer.Option("--audio", metavar="FILE", help="MP4: a sound track (else silent).")] = None,
    crossfade: Annotated[float, typer.Option("--crossfade", metavar="SECONDS", help="MP4: seconds of crossfade at the end of each frame.")] = 0.0,
) -> None:
    """Share a storyboard: PDF pages, comic pages, an MP4/GIF/WebP animatic, a sheet PNG or a ZIP (into DIR/exports/)."""
    import sys

    from storyboard.export.core import export as do_export
    from storyboard.export.job import ExportOptions

    output_folder(out_dir)
    chosen = (("pdf", pdf), ("comic", comic), ("mp4", mp4), ("gif", gif), ("webp", webp), ("sheet", sheet), ("zip", zip_))
    kinds = [k for k, on in chosen if on]
    if not kinds:
        raise UsageError("choose what to export: --pdf, --comic, --mp4, --gif, --webp, --sheet or --zip.")
    if rtl and "comic" not in kinds:
        raise UsageError("--rtl sets the reading direction of comic pages; add --comic.")
    if output is not None and output.is_file() and not output.suffix:
        raise UsageError(f"-o {output}: a file without an extension is there already; name the export with its "
                         "extension (e.g. .pdf), or give a folder.")
    if output is not None and not output.exists() and not output.is_symlink() and not output.suffix:
        try:  # `-o share`: no extension, so a folder (a file without one would open in nothing)
            output.mkdir(parents=True)
        except OSError as e:
            raise UsageError(f"-o {output}: cannot make that folder ({e.strerror}); choose another.") from None
    if output is not None and len(kinds) > 1 and not output.is_dir():
        raise UsageError("-o names one file; with several exports, give a folder or export one at a time.")
    if output is not None and not output.is_dir() and output.suffix:
        allowed = EXPORT_SUFFIXES.get(kinds[0], ())
        if allowed and output.suffix.lower() not in allowed:
            raise UsageError(f"-o {output}: --{kinds[0]} writes a {allowed[0]} file, not {output.suffix}; "
                             f"name it {output.with_suffix(allowed[0]).name}.")
    options = ExportOptions(
        layout=layout, paper=paper.lower(), fps=fps, burn_captions=burn_captions, audio=audio, crossfade=crossfade, rtl=rtl  # type: ignore[arg-type]
    )
    live = sys.stderr.isatty()
    said: set[str] = set()

    def say_once(message: str) -> None:  # several exports find the same damaged frame: one warning
        if message not in said:
            said.add(message)
            err(f"Warning: {message}")

    for k in kinds:

        def progress(done: int, total: int, k: str = k) -> None:
            if live:
                typer.echo(f"\r{k}: {done}/{total} frames", nl=done == total, err=True)

        path = do_export(out_dir, k, output, options=options, progress=progress, warn=say_once)  # type: ignore[arg-type]
        typer.echo(str(path))
        if k == "comic":
            from storyboard.export.comic import written_pages

            for page in written_pages(path):
                typer.echo(str(page))
        if k == "mp4":
            typer.echo(str(path.with_suffix(".srt")))
            _relink_sheet(out_dir, path)


def _relink_sheet(out_dir: Path, video: Path) -> None:
    """Re-render DIR's contact sheet so it links the animatic just written into DIR/exports/."""
    from storyboard.output.manifest import load_manifest
    from storyboard.sheet.render import write_sheet

    if video.parent.resolve() == (out_dir / "exports").resolve() and (out_dir / "index.html").is_file():
        write_sheet(out_dir, load_manifest(out_dir))


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
