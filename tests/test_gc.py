"""`storyboard gc`: unused images leave the store; used ones and the newest N per frame stay."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from storyboard.cli import app

STORY = """\
title: GC
frames:
  - id: a
    prompt: a lighthouse at dawn
  - id: b
    prompt: a boat in a storm
"""


def run(story: Path, out: Path) -> None:
    result = CliRunner().invoke(app, ["run", str(story), "-o", str(out), "--backend", "draft", "--quiet"])
    assert result.exit_code == 0, result.output


def objects(out: Path) -> set[str]:
    return {p.stem for p in (out / ".cache" / "objects").glob("*/*.*")}


def test_gc_drops_what_no_manifest_entry_uses(tmp_path: Path) -> None:
    story, out = tmp_path / "story.yaml", tmp_path / "out"
    story.write_text(STORY)
    run(story, out)
    first = objects(out)
    story.write_text(STORY.replace("at dawn", "at dusk").replace("in a storm", "at rest"))
    run(story, out)
    assert len(objects(out)) == 4  # two old images, two new

    kept = CliRunner().invoke(app, ["gc", str(out), "--keep", "2"])
    assert kept.exit_code == 0 and kept.stdout.startswith("removed 0 cached image(s)")
    assert len(objects(out)) == 4

    result = CliRunner().invoke(app, ["gc", str(out)])
    assert result.exit_code == 0
    assert result.stdout.startswith("removed 2 cached image(s)")
    assert objects(out).isdisjoint(first)
    # the frames still re-run from the store: nothing is requested again
    run(story, out)
    import json

    totals = json.loads((out / "manifest.json").read_text())["totals"]["run"]
    assert (totals["images"], totals["cached"]) == (0, 2)


def test_gc_of_a_folder_without_manifest_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["gc", str(tmp_path)])
    assert result.exit_code == 2
    assert "no manifest here" in result.stderr


def test_gc_keeps_an_artists_edited_take(tmp_path: Path) -> None:
    from PIL import Image

    story, out = tmp_path / "story.yaml", tmp_path / "out"
    story.write_text(STORY)
    run(story, out)
    Image.new("RGB", (64, 64), (200, 30, 30)).save(out / "frames" / "01-a.png")
    edit = (out / "frames" / "01-a.png").read_bytes()
    forced = CliRunner().invoke(app, ["run", str(story), "-o", str(out), "--backend", "draft", "--quiet",
                                      "--only", "a", "--force", "--yes"])
    assert forced.exit_code == 0, forced.output
    assert (out / "takes" / "01-a-edited.png").read_bytes() == edit

    assert CliRunner().invoke(app, ["gc", str(out)]).exit_code == 0
    story.write_text(STORY.replace("    prompt: a lighthouse at dawn\n", "    prompt: a lighthouse at dawn\n    pick: edited\n"))
    run(story, out)
    assert (out / "frames" / "01-a.png").read_bytes() == edit
    assert (out / "takes" / "01-a-edited.png").read_bytes() == edit
