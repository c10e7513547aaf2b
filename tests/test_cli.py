"""The command line end to end, on the draft backend (and once against the fake API): files, manifest,
re-runs, artists' edits, renumbering, exit codes and exact messages."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeImagesAPI
from stories import png_bytes, write_png, write_story
from typer.testing import CliRunner, Result

from storyboard.backends import registry
from storyboard.cli import app

BACKENDS = ", ".join(registry.names()[:-1]) + " or " + registry.names()[-1]  # the installed ones

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))

STORY = """\
title: Robot Dog
size: "1:1"
vars:
  style: soft watercolor
characters:
  rex:
    description: a small silver robot dog
    reference: refs/rex.png
frames:
  - id: lab
    prompt: "{{ rex }} wakes up in a lab. {{ style }}"
    caption: Rex wakes up.
    notes: "WIDE. Slow push in."
  - id: city
    prompt: "a busy city street. {{ style }}"
    takes: 2
    pick: 2
  - id: night
    edit: lab
    prompt: the same lab at night
  - id: wider
    outpaint: {from: night, extend: right, by: 0.5}
    prompt: the lab continues into a workshop
  - prompt: "an id-less closing frame. {{ style }}"
"""
FRAMES = ["01-lab.png", "02-city.png", "03-night.png", "04-wider.png", "05.png"]
TAKES = ["02-city-01.png", "02-city-02.png"]
# SPEC §5: every key a manifest entry of a frame must have.
ENTRY_KEYS = {
    "number", "id", "take", "picked", "file", "sha256", "kind", "prompt", "revised_prompt", "caption", "notes",
    "text", "choices", "duration", "model", "size", "quality", "options", "inputs", "status", "reason", "error",
    "attempts", "seconds", "usage", "cost_usd", "request_id",
}  # fmt: skip


def sb(*args: object, env: dict[str, str] | None = None) -> Result:
    """Invoke the CLI in-process; a bug (any exception but an exit) fails the test with its traceback."""
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200", **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def picked(out: Path) -> dict[str, dict[str, Any]]:
    """Return the picked entry of each frame, by file stem (01-lab, 05)."""
    return {Path(e["file"]).stem: e for e in manifest(out)["frames"] if e["picked"]}


def run(story: Path, out: Path, *more: object) -> Result:
    return sb("run", story, "-o", out, "--backend", "draft", *more)


def edit_story(story: Path, old: str, new: str) -> None:
    text = story.read_text()
    assert text.count(old) == 1, old
    story.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Result]:
    """One draft run of STORY, shared by the tests that only read it (or copy it first).

    Module-scoped, so it is set up before the autouse environment guard: `--backend draft` keeps it offline."""
    folder = tmp_path_factory.mktemp("first")
    write_png(folder / "refs" / "rex.png")
    story = write_story(folder, STORY)
    return folder, run(story, folder / "out")


@pytest.fixture
def work(first: tuple[Path, Result], tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the first run: (story, out), for tests that run again or change files."""
    folder = tmp_path / "w"
    shutil.copytree(first[0], folder)
    return folder / "story.yaml", folder / "out"


# -- run: the files written ----------------------------------------------------------------


def test_run_writes_numbered_frames_takes_and_the_sheet(first: tuple[Path, Result]) -> None:
    folder, result = first
    out = folder / "out"
    assert result.exit_code == 0, result.output
    assert listing(out / "frames") == FRAMES
    assert listing(out / "takes") == TAKES
    assert (out / "frames" / "02-city.png").read_bytes() == (out / "takes" / "02-city-02.png").read_bytes()
    assert (out / "takes" / "02-city-01.png").read_bytes() != (out / "takes" / "02-city-02.png").read_bytes()
    assert (out / "index.html").is_file()
    ref = png_bytes()
    kept = out / "inputs" / f"{hashlib.sha256(ref).hexdigest()}.png"  # the reference, by hash
    assert kept.read_bytes() == ref
    assert len(listing(out / "inputs")) == 2  # and the outpaint's mask
    from PIL import Image

    sizes = {}
    for name in FRAMES:
        with Image.open(out / "frames" / name) as im:
            sizes[name] = im.size
    assert sizes == {
        "01-lab.png": (1024, 1024), "02-city.png": (1024, 1024), "03-night.png": (1024, 1024),
        "04-wider.png": (1536, 1024), "05.png": (1024, 1024),
    }  # fmt: skip
    lines = result.stderr.splitlines()
    assert lines[0].startswith(
        f"5/5 frames in {out}  ·  6 new image(s), 0 cached, 0 failed, 0 skipped  ·  $0.00  ·  "
    )
    assert lines[1] == f"Contact sheet: {out / 'index.html'}"


def test_manifest_has_every_key_of_the_spec(first: tuple[Path, Result]) -> None:
    folder, _ = first
    out = folder / "out"
    m = manifest(out)
    assert list(m)[:6] == ["schema_version", "story", "run", "totals", "characters", "frames"]
    assert m["schema_version"] == 1
    assert m["story"] == {
        "title": "Robot Dog", "file": str(folder / "story.yaml"), "sha256": sha(folder / "story.yaml"),
        "path": "../story.yaml",
    }  # fmt: skip
    assert {"started", "finished", "tool_version", "backend", "base_url_host"} <= set(m["run"])
    assert (m["run"]["backend"], m["run"]["base_url_host"]) == ("draft", None)
    for scope in ("run", "all"):
        t = m["totals"][scope]
        assert {"requests", "images", "failures", "cost_usd"} <= set(t)
        assert (t["requests"], t["images"], t["failures"], t["cost_usd"]) == (6, 6, 0, 0.0)
    ref_sha = hashlib.sha256(png_bytes()).hexdigest()
    assert m["characters"] == [
        {
            "name": "rex",
            "description": "a small silver robot dog",
            "references": [{"file": f"inputs/{ref_sha}.png", "sha256": ref_sha, "source": "refs/rex.png"}],
            "sheet": None,
        }
    ]

    entries = m["frames"]
    assert [(e["number"], e["id"], e["take"], e["picked"]) for e in entries] == [
        (1, "lab", 1, True), (2, "city", 1, False), (2, "city", 2, True), (3, "night", 1, True),
        (4, "wider", 1, True), (5, None, 1, True),
    ]  # fmt: skip
    for e in entries:
        assert set(e) >= ENTRY_KEYS, ENTRY_KEYS - set(e)
        assert e["sha256"] == sha(out / e["file"])
        assert (e["status"], e["reason"], e["error"], e["revised_prompt"]) == ("ok", None, None, None)
        assert (e["model"], e["quality"], e["options"], e["choices"], e["text"]) == (
            "gpt-image-2",
            "medium",
            {},
            [],
            None,
        )
        assert e["duration"] is None  # the story gives none: exports time each frame by its words
    by = {(e["id"], e["take"]): e for e in entries}
    lab, night, wider = by[("lab", 1)], by[("night", 1)], by[("wider", 1)]
    assert [e["kind"] for e in entries] == [
        "generate",
        "generate",
        "generate",
        "edit",
        "outpaint",
        "generate",
    ]
    assert lab["prompt"] == "a small silver robot dog wakes up in a lab. soft watercolor"  # as sent
    assert (lab["caption"], lab["notes"], lab["size"]) == (
        "Rex wakes up.",
        "WIDE. Slow push in.",
        "1024x1024",
    )
    assert [(i["role"], i["sha256"]) for i in lab["inputs"]] == [("reference", ref_sha)]
    assert [(i["role"], i["frame"], i["sha256"]) for i in night["inputs"]] == [
        ("source", "lab", lab["sha256"])
    ]
    assert [i["role"] for i in wider["inputs"]] == ["source", "mask"]
    assert wider["inputs"][0]["sha256"] == night["sha256"]
    assert (wider["size"], by[("city", 1)]["file"], by[("city", 2)]["file"]) == (
        "1536x1024", "takes/02-city-01.png", "frames/02-city.png",
    )  # fmt: skip


def test_a_relative_output_folder_is_relative_to_where_the_user_is(
    work: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    story, _ = work
    monkeypatch.chdir(story.parent)
    assert run(Path("story.yaml"), Path("rel"), "-q").exit_code == 0
    assert listing(story.parent / "rel" / "frames") == FRAMES
    assert {".cache", "frames", "index.html", "inputs", "manifest.json", "takes", "thumbs"} <= set(listing(story.parent / "rel"))
    assert sb("gallery", "rel").exit_code == 0
    assert not (story.parent / "rel" / "rel").exists()


def test_rerun_sends_nothing(work: tuple[Path, Path]) -> None:
    story, out = work
    before = {n: sha(out / "frames" / n) for n in FRAMES}
    result = run(story, out)
    assert result.exit_code == 0
    m = manifest(out)
    assert (m["totals"]["run"]["requests"], m["totals"]["run"]["images"]) == (0, 0)
    assert (m["totals"]["all"]["requests"], m["totals"]["all"]["images"]) == (6, 6)
    assert {e["status"] for e in m["frames"]} == {"cached"}
    assert {n: sha(out / "frames" / n) for n in FRAMES} == before
    assert "0 new image(s), 6 cached" in result.stderr


def test_changing_pick_runs_nothing_and_switches_the_frame_file(work: tuple[Path, Path]) -> None:
    story, out = work
    edit_story(story, "pick: 2", "pick: 1")
    result = run(story, out)
    assert result.exit_code == 0
    assert manifest(out)["totals"]["run"]["requests"] == 0
    assert (out / "frames" / "02-city.png").read_bytes() == (out / "takes" / "02-city-01.png").read_bytes()
    city = [(e["take"], e["picked"], e["file"]) for e in manifest(out)["frames"] if e["id"] == "city"]
    assert city == [(1, True, "frames/02-city.png"), (2, False, "takes/02-city-02.png")]


def test_hand_edited_frame_survives_and_feeds_its_chain(work: tuple[Path, Path]) -> None:
    story, out = work
    before = picked(out)
    painted = png_bytes(1024, 1024, (20, 60, 200))
    (out / "frames" / "01-lab.png").write_bytes(painted)
    result = run(story, out)
    assert result.exit_code == 0
    after = picked(out)
    assert (out / "frames" / "01-lab.png").read_bytes() == painted
    assert (after["01-lab"]["status"], after["01-lab"]["sha256"]) == (
        "edited",
        hashlib.sha256(painted).hexdigest(),
    )
    # frames chained from it are drawn again from the artist's image: new drafts
    assert after["03-night"]["inputs"][0]["sha256"] == after["01-lab"]["sha256"]
    assert after["03-night"]["sha256"] != before["03-night"]["sha256"]
    assert after["04-wider"]["sha256"] != before["04-wider"]["sha256"]
    assert (after["03-night"]["status"], after["04-wider"]["status"]) == ("ok", "ok")
    assert (after["02-city"]["status"], after["05"]["status"]) == ("cached", "cached")
    assert manifest(out)["totals"]["run"]["requests"] == 2
    # and it stays edited, sending nothing, on the next run
    run(story, out)
    assert picked(out)["01-lab"]["status"] == "edited"
    assert manifest(out)["totals"]["run"]["requests"] == 0
    assert (out / "frames" / "01-lab.png").read_bytes() == painted


def test_inserting_a_frame_renumbers_the_files_after_it(work: tuple[Path, Path]) -> None:
    story, out = work
    before = {n: sha(out / "frames" / n) for n in FRAMES}
    edit_story(story, "frames:\n", "frames:\n  - id: intro\n    prompt: an opening title card\n")
    result = run(story, out)
    assert result.exit_code == 0
    assert listing(out / "frames") == [
        "01-intro.png",
        "02-lab.png",
        "03-city.png",
        "04-night.png",
        "05-wider.png",
        "06.png",
    ]
    assert listing(out / "takes") == ["03-city-01.png", "03-city-02.png"]
    assert [sha(out / "frames" / n) for n in listing(out / "frames")[1:]] == list(before.values())
    assert manifest(out)["totals"]["run"]["requests"] == 1  # only the new frame


def test_hand_edits_are_carried_to_new_names_and_stored_when_removed(work: tuple[Path, Path]) -> None:
    story, out = work
    lab, closing = png_bytes(1024, 1024, (20, 60, 200)), png_bytes(1024, 1024, (20, 160, 60))
    (out / "frames" / "01-lab.png").write_bytes(lab)
    (out / "frames" / "05.png").write_bytes(closing)
    edit_story(story, "frames:\n", "frames:\n  - id: intro\n    prompt: an opening title card\n")
    edit_story(story, '  - prompt: "an id-less closing frame. {{ style }}"\n', "")
    assert run(story, out).exit_code == 0
    assert listing(out / "frames") == [
        "01-intro.png",
        "02-lab.png",
        "03-city.png",
        "04-night.png",
        "05-wider.png",
    ]
    assert (out / "frames" / "02-lab.png").read_bytes() == lab
    assert picked(out)["02-lab"]["status"] == "edited"
    digest = hashlib.sha256(closing).hexdigest()  # never seen by a run, removed from frames/: stored first
    assert (out / ".cache" / "objects" / digest[:2] / f"{digest}.png").read_bytes() == closing


def test_removing_a_frame_removes_its_file_but_keeps_its_image(work: tuple[Path, Path]) -> None:
    story, out = work
    city = [e["sha256"] for e in manifest(out)["frames"] if e["id"] == "city"]
    edit_story(
        story, '  - id: city\n    prompt: "a busy city street. {{ style }}"\n    takes: 2\n    pick: 2\n', ""
    )
    result = run(story, out)
    assert result.exit_code == 0
    assert listing(out / "frames") == ["01-lab.png", "02-night.png", "03-wider.png", "04.png"]
    assert listing(out / "takes") == []
    for digest in city:
        assert (out / ".cache" / "objects" / digest[:2] / f"{digest}.png").is_file()
    assert manifest(out)["totals"]["run"]["requests"] == 0


def test_lock_keeps_the_image_after_its_prompt_changes(work: tuple[Path, Path]) -> None:
    story, out = work
    lab = sha(out / "frames" / "01-lab.png")
    edit_story(story, "    caption: Rex wakes up.\n", "    caption: Rex wakes up.\n    lock: true\n")
    edit_story(story, "wakes up in a lab", "wakes up in a barn")
    result = run(story, out)
    assert result.exit_code == 0
    entry = picked(out)["01-lab"]
    assert (entry["status"], entry["sha256"], sha(out / "frames" / "01-lab.png")) == ("locked", lab, lab)
    assert manifest(out)["totals"]["run"]["requests"] == 0  # night's input is the same image: cached
    # unlocked, the changed prompt is requested
    edit_story(story, "    lock: true\n", "")
    run(story, out)
    entry = picked(out)["01-lab"]
    assert (entry["status"], entry["prompt"]) == (
        "ok",
        "a small silver robot dog wakes up in a barn. soft watercolor",
    )
    assert entry["sha256"] != lab


def test_a_draft_run_then_an_openai_run_sends_every_request_and_never_writes_the_key(
    work: tuple[Path, Path], fake_env: FakeImagesAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    story, out = work
    canary = "sk-test-CANARY-7f3a9c1e5b2d4"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    result = sb("run", story, "-o", out, "--backend", "openai", "--yes")
    assert result.exit_code == 0, result.output
    sent = fake_env.image_requests()
    assert len(sent) == 6  # nothing drawn offline is reused for a paid request
    assert {r.headers.get("authorization") for r in sent} == {f"Bearer {canary}"}
    assert sorted(r.kind for r in sent) == ["edit", "edit", "edit", "generation", "generation", "generation"]
    m = manifest(out)
    assert (m["run"]["backend"], m["run"]["base_url_host"]) == ("openai", f"127.0.0.1:{fake_env.port}")
    assert {e["status"] for e in m["frames"]} == {"ok"}
    assert m["totals"]["run"]["requests"] == 6
    assert canary not in result.output
    leaks = [p for p in out.rglob("*") if p.is_file() and canary.encode() in p.read_bytes()]
    assert leaks == []


# -- validate ------------------------------------------------------------------------------


def test_validate_ok(work: tuple[Path, Path]) -> None:
    story, _ = work
    result = sb("validate", story, "--backend", "draft")
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"{story}: ok (5 frames)\n", "")


BAD = """\
title: T
sise: 3:2
frames:
  - id: a
    prompt: x
    pick: 2
"""


def test_validate_bad_lists_every_problem_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_story(tmp_path, BAD, "bad.yaml")
    write_story(
        tmp_path,
        "title: T\nframes:\n  - prompt: '{{ nope }}'\n  - edit: previous\n    prompt: y\n",
        "worse.yaml",
    )
    write_story(tmp_path, STORY.replace("    reference: refs/rex.png\n", ""), "good.yaml")
    result = sb("validate", "good.yaml", "bad.yaml", "worse.yaml", "--backend", "draft")
    assert result.exit_code == 2
    assert result.stdout == "good.yaml: ok (5 frames)\n"
    assert result.stderr == (
        "Error: 3 problems:\n"
        "  bad.yaml:2:1: sise: unknown key (did you mean `size`?)\n"
        "  bad.yaml:6:11: frames[0].pick: pick 2 but the frame has 1 take(s); pick from 1 to 1\n"
        "  worse.yaml:3:13: frames[0].prompt: frame 1: `nope` is undefined; define it under `vars:` or `characters:`\n"
    )
    assert listing(tmp_path) == ["bad.yaml", "good.yaml", "worse.yaml"]


def test_validate_bad_in_a_real_process(tmp_path: Path) -> None:
    """Exit code 2, the message alone on stderr, no traceback."""
    write_story(tmp_path, BAD, "bad.yaml")
    proc = subprocess.run(
        [sys.executable, "-m", "storyboard", "validate", "bad.yaml", "--backend", "draft"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (
        "Error: 2 problems:\n"
        "  bad.yaml:2:1: sise: unknown key (did you mean `size`?)\n"
        "  bad.yaml:6:11: frames[0].pick: pick 2 but the frame has 1 take(s); pick from 1 to 1\n"
    )


def test_run_of_a_bad_story_writes_nothing(tmp_path: Path) -> None:
    story = write_story(tmp_path, BAD.replace("sise: 3:2\n", ""))
    result = run(story, tmp_path / "out")
    assert result.exit_code == 2
    assert (
        result.stderr
        == f"Error: {story}:5:11: frames[0].pick: pick 2 but the frame has 1 take(s); pick from 1 to 1\n"
    )
    assert not (tmp_path / "out").exists()


# -- plan ----------------------------------------------------------------------------------


def plan_rows(output: str) -> list[dict[str, str]]:
    """Parse the plan table: one dict per row, by column name."""
    lines = [line for line in output.splitlines() if "│" in line or "┃" in line]
    header = [c.strip() for c in re.split(r"[┃]", lines[0])[1:-1]]
    return [dict(zip(header, (c.strip() for c in line.split("│")[1:-1]), strict=True)) for line in lines[1:]]


def test_plan_before_any_run(tmp_path: Path) -> None:
    write_png(tmp_path / "refs" / "rex.png")
    story = write_story(tmp_path, STORY)
    result = sb("plan", story, "-o", tmp_path / "out", "--backend", "draft")
    assert result.exit_code == 0
    rows = plan_rows(result.stdout)
    assert [
        (r["frame"], r["take"], r["kind"], r["size"], r["waits for"], r["status"], r["why"]) for r in rows
    ] == [
        ("01-lab", "1/1", "generate + refs", "1024x1024", "", "new", "not made yet"),
        ("02-city", "1/2", "generate", "1024x1024", "", "new", "not made yet"),
        ("02-city", "2/2*", "generate", "1024x1024", "", "new", "not made yet"),
        ("03-night", "1/1", "edit", "1024x1024", "01-lab", "new", "its source is not made yet"),
        ("04-wider", "1/1", "outpaint", "1536x1024", "03-night", "new", "its source is not made yet"),
        ("05", "1/1", "generate", "1024x1024", "", "new", "not made yet"),
    ]
    assert result.stdout.splitlines()[-1] == (
        f"6 request(s) to send, 0 kept or cached; estimated $0.00 (estimate).  Output: {tmp_path / 'out'}"
    )
    assert not (tmp_path / "out").exists()  # plan writes nothing


def test_plan_shows_cached_stale_and_why(work: tuple[Path, Path]) -> None:
    story, out = work
    edit_story(story, "wakes up in a lab", "wakes up in a barn")
    edit_story(story, "prompt: the same lab at night", "prompt: the same lab at dawn")
    (out / "frames" / "05.png").write_bytes(png_bytes(32, 32))
    rows = {
        (r["frame"], r["take"]): r
        for r in plan_rows(sb("plan", story, "-o", out, "--backend", "draft").stdout)
    }
    assert {k: (r["status"], r["why"], r["waits for"]) for k, r in rows.items()} == {
        ("01-lab", "1/1"): ("stale", "prompt changed", ""),
        ("02-city", "1/2"): ("cached", "in the store", ""),
        ("02-city", "2/2*"): ("cached", "in the store", ""),
        ("03-night", "1/1"): ("new", "its source is not made yet", "01-lab"),
        ("04-wider", "1/1"): ("new", "its source is not made yet", "03-night"),
        ("05", "1/1"): ("edited", "keeps the hand-edited image", ""),
    }


def test_plan_on_another_backend_is_stale_with_the_reason(work: tuple[Path, Path]) -> None:
    story, out = work
    result = sb("plan", story, "-o", out, "--backend", "openai")
    assert result.exit_code == 0
    rows = plan_rows(result.stdout)
    assert rows[0]["status"] == "stale"
    assert rows[0]["why"] == "made on the draft backend; openai requests it anew"
    assert float(rows[0]["est. $"]) > 0


# -- the other commands ----------------------------------------------------------------------


def test_schema_is_json_schema_of_the_story() -> None:
    result = sb("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert {"title", "model", "size", "quality", "parallel", "vars", "characters", "frames"} <= set(
        schema["properties"]
    )
    frame = schema["$defs"]["Frame"]["properties"]
    assert {
        "id",
        "prompt",
        "caption",
        "notes",
        "takes",
        "pick",
        "edit",
        "mask",
        "outpaint",
        "variation",
        "lock",
    } <= set(frame)
    refs = set(re.findall(r'"\$ref": "#/\$defs/(\w+)"', result.stdout))
    assert refs and refs <= set(schema["$defs"])  # every reference resolves


def test_models_lists_profiles_with_their_shutdown_dates() -> None:
    result = sb("models")
    assert result.exit_code == 0
    rows = {r["model"]: r for r in plan_rows(result.stdout)}
    assert rows["gpt-image-2"]["shutdown"] == ""
    assert rows["gpt-image-2"]["edits"] == "yes"
    assert rows["dall-e-3"]["shutdown"].startswith("2026-05-12")
    assert rows["gpt-image-1"]["shutdown"].startswith("2026-10-23")
    assert rows["gpt-image-1.5"]["shutdown"].startswith("2026-12-01")


@pytest.mark.parametrize("columns", ["80", "120", "149", "150", "200"])
def test_models_never_cut_a_model_name(columns: str) -> None:
    """The names are what a user types into `model:`: whole at any width (one block per model when narrow)."""
    from storyboard.backends import registry

    result = sb("models", env={"COLUMNS": columns})
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= int(columns)
    cells = {line.split("│")[1].strip() if "│" in line else line.split("  (")[0] for line in lines}
    names = [p.name for b in registry.installed() for p in b.profiles()]
    assert "gpt-image-2.5-sunburst-2026-09-08" in names
    for name in names:
        assert name in cells, name
    assert "…" not in result.stdout


def test_new_writes_a_story_that_validates_and_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = sb("new", "my-film")
    assert (result.exit_code, result.stdout) == (
        0,
        "wrote my-film.yaml. Try: storyboard run my-film.yaml --backend draft\n",
    )
    assert sb("validate", "my-film.yaml", "--backend", "draft").stdout == "my-film.yaml: ok (3 frames)\n"
    result = sb("run", "my-film.yaml", "--backend", "draft", "-q")
    assert (result.exit_code, result.output) == (0, "")
    out = tmp_path / "outputs" / "my-film"  # the default DIR
    assert listing(out / "frames") == ["01-opening.png", "02-outside.png", "03-night.png"]
    again = sb("new", "my-film")
    assert (again.exit_code, again.stderr) == (2, "Error: my-film.yaml exists; choose another name.\n")


def test_gallery_rerenders_from_the_manifest(work: tuple[Path, Path]) -> None:
    _, out = work
    (out / "index.html").unlink()
    result = sb("gallery", out)
    assert (result.exit_code, result.stdout) == (0, f"{out / 'index.html'}\n")
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "Rex wakes up." in html and "frames/01-lab.png" in html


def test_gallery_without_a_manifest(tmp_path: Path) -> None:
    result = sb("gallery", tmp_path)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {tmp_path / 'manifest.json'}: no manifest here. Run `storyboard run STORY -o {tmp_path}` first.\n"
    )


@pytest.mark.parametrize(
    ("flag", "name", "magic"),
    [
        ("--pdf", "story.pdf", b"%PDF"),
        ("--gif", "story.gif", b"GIF89a"),
        ("--webp", "story.webp", b"RIFF"),
        ("--sheet", "story-sheet.png", b"\x89PNG"),
        ("--zip", "story.zip", b"PK\x03\x04"),
    ],
)
def test_export(first: tuple[Path, Result], flag: str, name: str, magic: bytes) -> None:
    out = first[0] / "out"
    result = sb("export", out, flag)
    assert (result.exit_code, result.stdout) == (0, f"{out / 'exports' / name}\n")
    assert (out / "exports" / name).read_bytes().startswith(magic)


def test_export_to_a_chosen_file_and_without_a_kind(first: tuple[Path, Result], tmp_path: Path) -> None:
    out = first[0] / "out"
    target = tmp_path / "board.pdf"
    assert sb("export", out, "--pdf", "-o", target).exit_code == 0
    assert target.read_bytes().startswith(b"%PDF")
    result = sb("export", out)
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: choose what to export: --pdf, --comic, --mp4, --gif, --webp, --sheet or --zip.\n",
    )


# -- refusals: exit 2, one message, nothing sent or written ----------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "zz"], "--only zz: no frame has that id or number (ids: lab, city, night, wider)."),
        (["--only", "lab,9"], "--only 9: no frame has that id or number (ids: lab, city, night, wider)."),
        (["-j", "0"], "-j must be 1 or more."),
        # Every installed backend is named (draft and openai at least).
        (["--backend", "cloud"], "unknown backend 'cloud'; use auto, " + BACKENDS + "."),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    write_png(tmp_path / "refs" / "rex.png")
    story = write_story(tmp_path, STORY)
    more = [] if "--backend" in args else ["--backend", "draft"]
    result = sb("run", story, "-o", tmp_path / "out", *more, *args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")
    assert not (tmp_path / "out").exists()


def test_a_missing_story(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = sb("run", "nope.yaml", "--backend", "draft")
    assert (result.exit_code, result.stderr) == (2, "Error: nope.yaml: no such file. Check the path.\n")
    assert listing(tmp_path) == []


def test_openai_backend_without_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    write_png(tmp_path / "refs" / "rex.png")
    story = write_story(tmp_path, STORY)
    result = sb("run", story, "-o", tmp_path / "out", "--backend", "openai")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "Error: OPENAI_API_KEY is not set. Export it, or use --backend draft.\n"
    assert not (tmp_path / "out").exists()


def test_a_folder_of_another_story_is_refused(work: tuple[Path, Path]) -> None:
    story, out = work
    other = story.with_name("other.yaml")
    shutil.copy(story, other)
    before = (out / "manifest.json").read_bytes()
    result = run(other, out)
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {out} holds the storyboard of {story}, not of {other}. "
        "Choose another folder with -o (e.g. -o outputs/other).\n"
    )
    assert (out / "manifest.json").read_bytes() == before


def test_a_folder_of_a_story_of_the_same_name_elsewhere_names_both_and_a_free_folder(
    work: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    story, out = work
    monkeypatch.chdir(story.parent)
    twin = write_story(story.parent / "act2", "title: T\nframes:\n  - prompt: x\n")
    (story.parent / "outputs" / "story").mkdir(parents=True)  # taken: the suggestion moves on
    result = sb("run", "act2/story.yaml", "-o", "out", "--backend", "draft")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == (
        "Error: out holds the storyboard of story.yaml, not of act2/story.yaml. "
        "Choose another folder with -o (e.g. -o outputs/story-2).\n"
    )
    assert twin.is_file() and not (story.parent / "outputs" / "story-2").exists()


def test_a_plan_over_budget_is_refused_before_sending(
    work: tuple[Path, Path], fake_env: FakeImagesAPI
) -> None:
    story, out = work
    result = sb("run", story, "-o", out, "--backend", "openai", "--budget", "0.01")
    assert result.exit_code == 2
    assert re.fullmatch(
        r"Error: the plan's new requests are estimated at \$0\.\d\d, above the budget of \$0\.01\. "
        r"Raise --budget, or run fewer frames with --only\.\n",
        result.stderr,
    ), result.stderr
    assert fake_env.image_requests() == []


def test_a_budget_cannot_hold_over_an_unpriced_model(tmp_path: Path, fake_env: FakeImagesAPI) -> None:
    write_png(tmp_path / "refs" / "rex.png")
    story = write_story(tmp_path, STORY)
    result = sb(
        "run", story, "-o", tmp_path / "out", "--backend", "openai", "--model", "flux-dev", "--budget", "5"
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "Warning: every frame: unknown model flux-dev: sizes and options are not checked, cost unknown\n"
        "Error: 6 request(s) use a model without a known price, so --budget cannot hold. "
        "Drop --budget or use a known model (storyboard models).\n"
    )
    assert fake_env.image_requests() == []
    assert not (tmp_path / "out").exists()


# -- documentation and start-up ------------------------------------------------------------


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if not re.search(r"^#+ .*\b(commands|usage|command line)\b", readme, re.I | re.M):
        pytest.skip("README.md has no commands section yet")
    commands = sorted(c.name or c.callback.__name__ for c in app.registered_commands)  # type: ignore[union-attr]
    missing = [c for c in commands if not re.search(rf"storyboard {c}\b", readme)]
    assert missing == []


def _schema_keys() -> set[str]:
    from storyboard.story import json_schema

    schema = json_schema()
    keys = set(schema["properties"])
    for definition in schema["$defs"].values():
        keys |= set(definition.get("properties", {}))
    return keys


def test_every_story_key_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert {"dialogue", "camera", "balloon", "page_break", "seed", "sheet_prompt", "duration"} <= _schema_keys()
    assert sorted(k for k in _schema_keys() if f"`{k}`" not in readme) == []


def test_the_readme_story_validates_as_written(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = re.search(r"## A story\n\n```yaml\n(.*?)```", readme, re.S)
    assert example is not None
    write_png(tmp_path / "refs" / "rex.png")
    story = write_story(tmp_path, example.group(1))
    result = sb("validate", story, "--backend", "draft")
    assert (result.exit_code, result.stdout) == (0, f"{story}: ok (5 frames)\n"), result.output


def test_every_name_of_the_sheet_template_is_in_the_readme(first: tuple[Path, Result]) -> None:
    """`gallery --template` users write against these names: the README lists them all."""
    from storyboard.sheet.render import make_thumbnails, sheet_context

    out = first[0] / "out"
    context = sheet_context(manifest(out), make_thumbnails(out, manifest(out)))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Contact sheet templates", 1)[1].split("\n## ", 1)[0]
    names = set(context) | {"inline"} | {k for f in context["frames"] for k in f}
    assert sorted(n for n in names if f"`{n}`" not in section and f"`{n}(" not in section) == []


# -- the example stories ---------------------------------------------------------------------


@pytest.mark.parametrize("story", PIPELINES, ids=[p.stem for p in PIPELINES])
def test_example_story_validates_and_runs_on_the_draft_backend(story: Path, tmp_path: Path) -> None:
    result = sb("validate", story, "--backend", "draft")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{story}: ok (")
    result = run(story, tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    m = manifest(tmp_path / "out")
    shown = [e for e in m["frames"] if e["picked"]]
    assert {e["status"] for e in m["frames"]} == {"ok"}
    assert [e["file"] for e in shown] == [f"frames/{n}" for n in listing(tmp_path / "out" / "frames")]
