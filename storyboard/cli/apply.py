"""`storyboard apply`: write the changes saved from the contact sheet into the story file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from storyboard.cli.app import StoryArg, app, err, handles_errors


@app.command()
@handles_errors
def apply(
    story: StoryArg,
    changes: Annotated[
        Path, typer.Argument(help="The changes file the sheet saved (<story>.changes.json).", show_default=False)
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the diff; write nothing.")] = False,
) -> None:
    """Write changes saved from the contact sheet (picks, order, captions, notes, dialogue, locks) into the story."""
    from storyboard.editor.apply import apply_changes
    from storyboard.editor.changes import read_changes

    parsed = read_changes(changes)
    out = apply_changes(story, parsed, dry_run=dry_run)
    if out.changed:
        typer.echo(out.diff, nl=False)
    if parsed.story_file and Path(parsed.story_file).name != story.name and out.stale:
        err(f"Note: {changes.name} was saved from the sheet of {Path(parsed.story_file).name}, not {story.name}.")
    elif out.stale and (out.applied or out.refused):
        err(f"Note: {story.name} changed since the sheet was made; each change applies only where the story "
            "still says what the sheet showed.")
    for line in out.refused:
        err(f"Refused: {line}")
    n = len(out.applied)
    if out.changed and dry_run:
        err(f"Would apply {n} change{'s' if n != 1 else ''} to {story} (--dry-run: nothing written).")
    elif out.changed:
        err(f"Applied {n} change{'s' if n != 1 else ''} to {story} (the old version: {out.backup}).")
        err(f"Next: storyboard run {_quote(story)}   (storyboard plan {_quote(story)} shows what it would send)")
    elif out.already and not out.refused:
        err(f"Already applied: {story} has every change in {changes.name}; nothing to do.")
    elif not out.refused:
        err(f"{changes.name} holds no changes; nothing to do.")
    if out.refused:
        err(f"{len(out.refused)} change{'s' if len(out.refused) != 1 else ''} refused; {story} "
            + ("has the others." if out.changed and not dry_run else "is unchanged." if not out.changed else "would have the others."))
        raise typer.Exit(1)


def _quote(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))
