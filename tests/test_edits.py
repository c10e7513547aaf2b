"""Nothing an artist made is overwritten, nothing paid for is lost: hand edits against lost,
damaged and newer manifests, a run stopped between its frames and its manifest, edits that keep
the file size, damaged store objects and key records, and `-o` into someone else's folder."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from pathlib import Path

import pytest
from fakeapi import FakeImagesAPI
from PIL import Image
from test_fs import draft
from test_runner import cli, frames_of, manifest, picked, requested, run_story, stderr_lines, write_story
from typer.testing import CliRunner

from storyboard.cli import app
from storyboard.run import session


def painted(colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (1024, 1024)) -> bytes:
    """Return a PNG as an artist would save it over a frame."""
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def padded_to(data: bytes, length: int) -> bytes:
    """Return the PNG `data` grown to exactly `length` bytes with a text chunk (same pixels)."""
    pad = length - len(data) - 12 - len(b"Comment\0")
    assert pad >= 0, (len(data), length)
    body = b"tEXt" + b"Comment\0" + b"x" * pad
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    end = data.rindex(b"IEND") - 4
    return data[:end] + chunk + data[end:]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored(out: Path) -> set[str]:
    """Return the sha256 of every object in the store."""
    return {p.name.split(".")[0] for p in (out / ".cache" / "objects").rglob("*.*")}


def drafted(tmp_path: Path, text: str) -> tuple[Path, Path]:
    """Write `text` as story.yaml, run it on the draft backend into out/; return (story, out)."""
    story, out = tmp_path / "story.yaml", tmp_path / "out"
    story.write_text(text)
    assert draft(story, out).exit_code == 0
    return story, out


def rerun(story: Path, out: Path) -> object:
    """Run the story again, its warnings in the output (draft() is quiet)."""
    return CliRunner().invoke(app, ["run", str(story), "-o", str(out), "--backend", "draft"])


# -- hand edits and the manifest ------------------------------------------------------------------

DAMAGE = {
    "deleted": None,
    "truncated": lambda text: text[: len(text) // 2],
    "frames-not-a-list": lambda text: json.dumps({**json.loads(text), "frames": "abc"}),
    "number-a-string": lambda text: text.replace('"number": 2,', '"number": "two",', 1),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_an_edit_survives_a_lost_or_damaged_manifest(fake_env: FakeImagesAPI, tmp_path: Path, damage: str) -> None:
    out = tmp_path / "out"
    story = write_story(tmp_path, frames_of("a", "b", "c"))
    assert run_story(story, out).exit_code == 0
    others = {i: (out / picked(out)[i]["file"]).read_bytes() for i in "ac"}
    edit = painted()
    (out / "frames" / "02-b.png").write_bytes(edit)
    change = DAMAGE[damage]
    if change is None:
        (out / "manifest.json").unlink()
    else:
        (out / "manifest.json").write_text(change((out / "manifest.json").read_text()))
    damaged = (out / "manifest.json").read_bytes() if change else None

    result = cli("run", story, "-o", out)

    assert result.exit_code == 0, result.stderr
    assert len(fake_env.image_requests()) == 3  # a and c come from the store
    assert (out / "frames" / "02-b.png").read_bytes() == edit
    entries = picked(out)
    assert {i: e["status"] for i, e in entries.items()} == {"a": "cached", "b": "edited", "c": "cached"}
    assert {i: (out / entries[i]["file"]).read_bytes() for i in "ac"} == others
    assert sha(edit) in stored(out)
    if damaged is not None:
        copy = f".cache/manifests/{sha(damaged)}.json"
        assert (out / copy).read_bytes() == damaged
        assert any(line.startswith(f"Warning: {out / 'manifest.json'} is damaged (") and copy in line
                   for line in stderr_lines(result))


def test_a_manifest_from_a_newer_storyboard_is_refused_not_replaced(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    out = tmp_path / "out"
    story = write_story(tmp_path, frames_of("a", "b"))
    assert run_story(story, out).exit_code == 0
    newer = json.dumps({**manifest(out), "schema_version": 2, "something_new": [1, 2]})
    (out / "manifest.json").write_text(newer)
    files = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and ".cache" not in p.parts}
    message = ("Error: manifest.json was written by a newer storyboard (schema_version 2; this one reads 1). "
               "Upgrade storyboard (pip install -U storyboard-chain), or choose another folder with -o.")

    for command in (["run", story, "-o", out], ["plan", story, "-o", out], ["gallery", out],
                    ["export", out, "--pdf"], ["gc", out]):
        result = cli(*command)
        assert (result.exit_code, stderr_lines(result)[-1:]) == (2, [message]), command
    assert fake_env.image_requests()[2:] == []
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and ".cache" not in p.parts} == files


def test_an_edited_idless_frame_whose_prompt_changed_is_kept(tmp_path: Path) -> None:
    text = "title: T\nframes:\n  - prompt: a lighthouse\n  - prompt: a boat\n  - prompt: a gull\n"
    story, out = drafted(tmp_path, text)
    edit = painted()
    (out / "frames" / "02.png").write_bytes(edit)
    story.write_text(text.replace("a boat", "a ship"))

    assert draft(story, out).exit_code == 0

    assert (out / "frames" / "02.png").read_bytes() == edit
    entries = [e for e in manifest(out)["frames"] if e["picked"]]
    assert [e["status"] for e in entries] == ["cached", "edited", "cached"]
    assert sha(edit) in stored(out)


@pytest.mark.parametrize("change", ["renamed", "removed"])
def test_an_edited_frame_renamed_or_removed_is_set_aside_said_and_survives_gc(tmp_path: Path, change: str) -> None:
    text = "title: T\nframes:\n  - id: lab\n    prompt: a lab\n  - id: city\n    prompt: a city\n"
    story, out = drafted(tmp_path, text)
    edit, again = painted(), painted((10, 90, 200))
    (out / "frames" / "02-city.png").write_bytes(edit)
    story.write_text(text.replace("id: city", "id: city-day") if change == "renamed" else text.split("  - id: city")[0])

    result = rerun(story, out)
    assert result.exit_code == 0
    assert ("frames/02-city.png was edited by hand and its frame is no longer in the story (renamed or removed): "
            "it is kept as set-aside/02-city.png") in " ".join(result.output.split())
    assert (out / "set-aside" / "02-city.png").read_bytes() == edit and not (out / "frames" / "02-city.png").exists()
    assert CliRunner().invoke(app, ["gc", str(out)]).exit_code == 0
    assert (out / "set-aside" / "02-city.png").read_bytes() == edit  # gc empties the store, never set-aside/

    # The same name set aside again with other bytes: a second file, the first untouched.
    story.write_text(text)
    assert draft(story, out).exit_code == 0
    (out / "frames" / "02-city.png").write_bytes(again)
    story.write_text(text.split("  - id: city")[0])
    assert draft(story, out).exit_code == 0
    assert (out / "set-aside" / "02-city.png").read_bytes() == edit
    assert (out / "set-aside" / "02-city-2.png").read_bytes() == again


@pytest.mark.parametrize("broken", ["truncated", "gif"])
def test_an_edit_that_is_no_usable_image_is_set_aside_never_chained_from(tmp_path: Path, broken: str) -> None:
    text = "title: T\nframes:\n  - id: lab\n    prompt: a lab\n  - id: city\n    edit: lab\n    prompt: now a city\n"
    story, out = drafted(tmp_path, text)
    ours = (out / "frames" / "01-lab.png").read_bytes()
    if broken == "truncated":
        bad = painted((200, 30, 30))[:-40]  # cut short: the header still reads
    else:
        buf = io.BytesIO()
        Image.new("RGB", (1024, 1024), (200, 30, 30)).save(buf, "GIF")
        bad = buf.getvalue()
    (out / "frames" / "01-lab.png").write_bytes(bad)

    result = rerun(story, out)

    assert result.exit_code == 0
    words = " ".join(result.output.split())
    assert "frames/01-lab.png was edited by hand but " in words and "it is kept as set-aside/01-lab.png" in words
    assert (out / "set-aside" / "01-lab.png").read_bytes() == bad
    assert (out / "frames" / "01-lab.png").read_bytes() == ours  # storyboard's image, shown and chained from again
    assert [e["status"] for e in manifest(out)["frames"]] == ["cached", "cached"]


def test_an_edited_frame_keeps_its_other_bought_takes(tmp_path: Path) -> None:
    text = "title: T\nframes:\n  - id: market\n    prompt: a market\n    takes: 3\n"
    story, out = drafted(tmp_path, text)
    takes = {p.name: p.read_bytes() for p in (out / "takes").iterdir()}
    (out / "frames" / "01-market.png").write_bytes(painted())

    assert draft(story, out).exit_code == 0

    entries = manifest(out)["frames"]
    assert [(e["take"], e["status"]) for e in entries] == [(1, "edited"), (2, "cached"), (3, "cached")]
    others = {n: b for n, b in takes.items() if not n.endswith("-01.png")}
    assert {p.name: p.read_bytes() for p in (out / "takes").iterdir() if p.name in others} == others  # still there, shown


@pytest.mark.parametrize("ids", [True, False])
def test_an_edit_carried_to_its_frame_s_new_number_is_not_also_set_aside(tmp_path: Path, ids: bool) -> None:
    lab, city = ("  - id: lab\n    prompt: a lab\n", "  - id: city\n    prompt: a city\n") if ids else (
        "  - prompt: a lab\n", "  - prompt: a city\n")
    story, out = drafted(tmp_path, "title: T\nframes:\n" + lab + city)
    edit = painted()
    old = sorted((out / "frames").iterdir())[1]
    old.write_bytes(edit)
    story.write_text("title: T\nframes:\n  - prompt: an intro\n" + lab + city)  # everything moves up one

    result = rerun(story, out)

    assert result.exit_code == 0 and "set-aside" not in result.output
    assert not (out / "set-aside").exists()
    assert (out / "frames" / ("03-city.png" if ids else "03.png")).read_bytes() == edit


def test_an_edit_of_a_take_file_is_set_aside_and_said_never_lost(tmp_path: Path) -> None:
    story, out = drafted(tmp_path, "title: T\nframes:\n  - id: car\n    prompt: a car\n    takes: 3\n")
    take = (out / "takes" / "01-car-02.png").read_bytes()
    edit = painted()
    (out / "takes" / "01-car-02.png").write_bytes(edit)

    result = rerun(story, out)

    assert result.exit_code == 0
    assert "takes/01-car-02.png was edited by hand" in " ".join(result.output.split())
    assert (out / "set-aside" / "01-car-02.png").read_bytes() == edit
    assert (out / "takes" / "01-car-02.png").read_bytes() == take
    assert CliRunner().invoke(app, ["gc", str(out)]).exit_code == 0
    assert (out / "set-aside" / "01-car-02.png").read_bytes() == edit


def test_an_unusable_file_saved_over_a_good_edit_keeps_showing_the_good_edit(tmp_path: Path) -> None:
    story, out = drafted(tmp_path, "title: T\nframes:\n  - id: lab\n    prompt: a lab\n")
    good = painted()
    (out / "frames" / "01-lab.png").write_bytes(good)
    assert draft(story, out).exit_code == 0
    (out / "frames" / "01-lab.png").write_bytes(painted((9, 9, 9))[:-40])  # cut short

    assert draft(story, out).exit_code == 0

    assert (out / "frames" / "01-lab.png").read_bytes() == good
    assert [e["status"] for e in manifest(out)["frames"]] == ["edited"]


def retold(when: str) -> list[dict[str, object]]:
    """Return frames a, b, c with prompts changed."""
    return [{**f, "prompt": f"{f['prompt']}, {when}"} for f in frames_of("a", "b", "c")]


def test_a_run_stopped_between_its_frames_and_its_manifest_marks_nothing_edited(
    fake_env: FakeImagesAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    assert run_story(write_story(tmp_path, frames_of("a", "b", "c")), out).exit_code == 0
    story = write_story(tmp_path, retold("at night"))

    class Killed(Exception):
        pass

    def killed(*_: object) -> None:
        raise Killed  # the frames are written; the manifest never is

    with monkeypatch.context() as m:
        m.setattr(session, "write_manifest", killed)
        with pytest.raises(Killed):
            run_story(story, out)
    assert all(e["prompt"].endswith("watercolor") for e in picked(out).values())  # the old manifest

    assert run_story(story, out).exit_code == 0
    assert {e["status"] for e in picked(out).values()} == {"cached"}
    assert len(fake_env.image_requests()) == 6
    # Prompt changes still count: nothing was taken for an artist's edit.
    assert run_story(write_story(tmp_path, retold("at dawn")), out).exit_code == 0
    assert sorted(requested(fake_env, since=6)) == ["a", "b", "c"]


def test_an_edit_that_keeps_the_file_size_is_still_an_edit(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    out = tmp_path / "out"
    story = write_story(tmp_path, frames_of("a"))
    assert run_story(story, out).exit_code == 0
    frame = out / "frames" / "01-a.png"
    edit = padded_to(painted(size=(64, 64)), frame.stat().st_size)
    assert len(edit) == frame.stat().st_size and edit != frame.read_bytes()
    frame.write_bytes(edit)

    assert run_story(story, out).exit_code == 0
    assert picked(out)["a"]["status"] == "edited"
    assert frame.read_bytes() == edit


# -- the store: damaged objects and records ------------------------------------------------------------


def object_of(out: Path, frame: str) -> Path:
    """Return the store object of a frame's picked image."""
    entry = picked(out)[frame]
    return next((out / ".cache" / "objects").rglob(f"{entry['sha256']}.*"))


def test_a_truncated_store_object_never_replaces_a_good_frame(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    out = tmp_path / "out"
    story = write_story(tmp_path, frames_of("a", "b"))
    assert run_story(story, out).exit_code == 0
    good = (out / "frames" / "01-a.png").read_bytes()
    obj = object_of(out, "a")
    obj.write_bytes(obj.read_bytes()[:100])

    result = cli("run", story, "-o", out)

    assert result.exit_code == 0, result.stderr
    assert len(fake_env.image_requests()) == 2  # the frame file still had the bytes: nothing bought twice
    assert (out / "frames" / "01-a.png").read_bytes() == good
    assert obj.read_bytes() == good
    rel = obj.relative_to(out).as_posix()
    assert f"Warning: {rel} is damaged (its bytes no longer match its sha256)" in stderr_lines(result)
    assert f"Warning: {rel} was put back from frames/01-a.png" in stderr_lines(result)


def test_a_damaged_store_object_with_no_good_copy_is_requested_again(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    out = tmp_path / "out"
    story = write_story(tmp_path, frames_of("a", "b"))
    assert run_story(story, out).exit_code == 0
    obj = object_of(out, "a")
    data = bytearray(obj.read_bytes())
    data[-20] ^= 0xFF  # one flipped bit: same size
    obj.write_bytes(bytes(data))
    (out / "frames" / "01-a.png").unlink()  # and no frame file holds a good copy

    result = cli("run", story, "-o", out)

    assert result.exit_code == 0, result.stderr
    assert requested(fake_env, since=2) == ["a"]
    rel = obj.relative_to(out).as_posix()
    assert f"Warning: {rel} is damaged (its bytes no longer match its sha256)" in stderr_lines(result)
    entry = picked(out)["a"]
    assert entry["status"] == "ok"
    assert sha((out / entry["file"]).read_bytes()) == entry["sha256"]


@pytest.mark.parametrize("record", ["[]", '{"sha256": 5}', "{not json", '{"sha256": "../../x", "ext": "png", "media_type": "image/png"}'])
def test_a_key_record_of_the_wrong_shape_counts_as_missing(fake_env: FakeImagesAPI, tmp_path: Path, record: str) -> None:
    out = tmp_path / "out"
    story = write_story(tmp_path, frames_of("a", "b"))
    assert run_story(story, out).exit_code == 0
    key = picked(out)["a"]["key"]
    path = out / ".cache" / "keys" / key[:2] / f"{key}.json"
    path.write_text(record)

    result = cli("run", story, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert requested(fake_env, since=2) == ["a"]
    assert f"Warning: .cache/keys/{key[:2]}/{key}.json is damaged (not a key record)" in stderr_lines(result)
    path.write_text(record)
    assert cli("gc", out).exit_code == 0


# -- -o into a folder that is not a storyboard's ------------------------------------------------------


def test_a_non_empty_folder_without_a_manifest_is_refused(tmp_path: Path) -> None:
    story = write_story(tmp_path, frames_of("a"))
    out = tmp_path / "site"
    (out / "frames").mkdir(parents=True)
    (out / "index.html").write_text("<h1>my site</h1>")
    (out / "frames" / "01-a.png").write_bytes(painted())
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    result = rerun(story, out)

    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"Error: {out} is not empty (frames, index.html) and holds no storyboard (no manifest.json): a run would "
        f"overwrite and remove its files. Choose an empty or new folder with -o, e.g. -o {tmp_path / 'site-storyboard'}."
    )
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_folder_holding_only_desktop_litter_counts_as_empty(tmp_path: Path) -> None:
    story = write_story(tmp_path, frames_of("a"))
    out = tmp_path / "out"
    out.mkdir()
    for name in (".DS_Store", "Thumbs.db", ".gitkeep"):
        (out / name).write_bytes(b"x")
    assert draft(story, out).exit_code == 0
    assert (out / "manifest.json").is_file() and (out / ".DS_Store").read_bytes() == b"x"


def test_a_folder_whose_run_was_killed_before_its_first_manifest_is_still_a_storyboard(tmp_path: Path) -> None:
    story, out = write_story(tmp_path, frames_of("a")), tmp_path / "out"
    assert draft(story, out).exit_code == 0
    (out / "manifest.json").unlink()
    (out / "index.html").unlink()
    assert draft(story, out).exit_code == 0  # .cache/ says whose folder it is


@pytest.mark.parametrize(
    "frames, problem",
    [
        ('"abc"', 'frames: expected a list, got "abc"'),
        ('[{"number": "x", "picked": true}]', 'frames[0].number: expected an integer, got "x"'),
        ('[{"picked": "yes", "file": 3}]', 'frames[0].picked: expected true or false, got "yes"'),
    ],
)
def test_gallery_and_export_refuse_a_manifest_with_wrong_types(tmp_path: Path, frames: str, problem: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text(f'{{"schema_version": 1, "frames": {frames}}}')
    for command in (["gallery", str(out)], ["export", str(out), "--gif"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        assert problem in result.stderr and "Run the story again to rebuild it" in result.stderr.replace("run the", "Run the")


# -- replacing an edited or locked frame on request (issue 12, item 2) ----------------------------------


def test_only_force_replaces_an_edited_frame_and_keeps_the_edit_as_a_take(
    fake_env: FakeImagesAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # the plan's table on one line per row
    out = tmp_path / "out"
    frames = frames_of("a", "b", "c")
    assert run_story(write_story(tmp_path, frames), out).exit_code == 0
    edit = painted()
    (out / "frames" / "02-b.png").write_bytes(edit)
    frames[1]["prompt"] = "b: the robot dog, now in oils"
    story = write_story(tmp_path, frames)

    # Its request changed: plan and run say so, and name the way out; nothing is requested.
    result = cli("run", story, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert len(fake_env.image_requests()) == 3
    assert ("Warning: frame 2 b is edited by hand and its request changed since, so it keeps the artist's image. "
            "To replace it, run with --only b --force (the edit is kept as a take).") in stderr_lines(result)
    shown = cli("plan", story, "-o", out)
    assert "keeps the hand-edited image; its request changed: --only b --force replaces it" in shown.stdout

    # Without a terminal, replacing it needs --yes.
    refused = cli("run", story, "-o", out, "--only", "b", "--force")
    assert refused.exit_code == 2
    assert stderr_lines(refused) == [
        "Error: --force replaces frame 2 b (edited by hand). An edited frame's file is kept as its take "
        "takes/NN-<id>-edited.<ext> (`pick: edited` shows it again). Add --yes to go ahead."
    ]
    assert len(fake_env.image_requests()) == 3

    result = cli("run", story, "-o", out, "--only", "b", "--force", "--yes")
    assert result.exit_code == 0, result.stderr
    assert requested(fake_env, since=3) == ["b"]
    b = picked(out)["b"]
    assert b["status"] == "ok" and sha((out / "frames" / "02-b.png").read_bytes()) == b["sha256"]
    assert (out / "takes" / "02-b-edited.png").read_bytes() == edit
    assert b["edited_take"] == {"file": "takes/02-b-edited.png", "sha256": sha(edit), "media_type": "image/png",
                                "width": 1024, "height": 1024}
    assert sha(edit) in stored(out)

    # The take stays through later runs, and moves with its frame.
    story = write_story(tmp_path, frames_of("z") + frames)
    assert cli("run", story, "-o", out).exit_code == 0
    assert requested(fake_env, since=4) == ["z"]
    assert (out / "takes" / "03-b-edited.png").read_bytes() == edit
    assert not (out / "takes" / "02-b-edited.png").exists()

    # `pick: edited` shows the artist's file again; `pick: 1` the new image.
    frames[1]["pick"] = "edited"
    story = write_story(tmp_path, frames_of("z") + frames)
    assert cli("run", story, "-o", out).exit_code == 0
    assert (out / "frames" / "03-b.png").read_bytes() == edit
    assert picked(out)["b"]["status"] == "edited"
    frames[1]["pick"] = 1
    story = write_story(tmp_path, frames_of("z") + frames)
    assert cli("run", story, "-o", out).exit_code == 0
    assert sha((out / "frames" / "03-b.png").read_bytes()) == b["sha256"]
    assert picked(out)["b"]["status"] == "cached"
    assert len(fake_env.image_requests()) == 5  # nothing more was bought
    assert (out / "takes" / "03-b-edited.png").read_bytes() == edit


def test_only_force_replaces_a_locked_frame_which_then_stays_locked(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    out = tmp_path / "out"
    frames = frames_of("a", "b")
    frames[0]["lock"] = True
    assert run_story(write_story(tmp_path, frames), out).exit_code == 0
    frames[0]["prompt"] = "a: the robot dog, now in oils"
    story = write_story(tmp_path, frames)
    result = cli("run", story, "-o", out)
    assert ("Warning: frame 1 a is locked and its request changed since, so it keeps its image. To replace it, "
            "remove `lock: true`, or run with --only a --force.") in stderr_lines(result)

    result = cli("run", story, "-o", out, "--only", "a", "--force", "--yes")
    assert result.exit_code == 0, result.stderr
    assert requested(fake_env, since=2) == ["a"]
    new = picked(out)["a"]["sha256"]
    frames[0]["prompt"] = "a: the robot dog, in charcoal"
    assert cli("run", write_story(tmp_path, frames), "-o", out).exit_code == 0
    assert len(fake_env.image_requests()) == 3
    assert (picked(out)["a"]["status"], picked(out)["a"]["sha256"]) == ("locked", new)


def test_force_without_only_never_replaces_an_edited_frame(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    out = tmp_path / "out"
    story = write_story(tmp_path, frames_of("a", "b"))
    assert run_story(story, out).exit_code == 0
    edit = painted()
    (out / "frames" / "01-a.png").write_bytes(edit)
    result = cli("run", story, "-o", out, "--force", "--yes")
    assert result.exit_code == 0, result.stderr
    assert requested(fake_env, since=2) == ["b"]
    assert (out / "frames" / "01-a.png").read_bytes() == edit
    assert not (out / "takes").exists()


def test_pick_edited_without_an_edited_take_says_so(tmp_path: Path) -> None:
    story = tmp_path / "story.yaml"
    story.write_text("title: T\nframes:\n  - id: a\n    prompt: a lighthouse\n    pick: edited\n")
    result = draft(story, tmp_path / "out")
    assert result.exit_code == 0
    assert ("Warning: frame 1 a: `pick: edited`, but it has no hand-edited take (one is kept when "
            "`--only a --force` replaces an edited frame); showing take 1.") in result.stderr.splitlines()
    story.write_text("title: T\nframes:\n  - id: a\n    prompt: a lighthouse\n    pick: editd\n")
    result = draft(story, tmp_path / "out")
    assert result.exit_code == 2
    assert "frames[0].pick: Input should be a valid integer" in result.stderr


def test_the_story_folder_itself_as_dir_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    story = write_story(tmp_path, frames_of("a"))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["run", str(story), "-o", ".", "--backend", "draft"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"Error: . is not empty (story.yaml) and holds no storyboard (no manifest.json): a run would overwrite and "
        f"remove its files. Choose an empty or new folder with -o, e.g. -o {tmp_path.parent / (tmp_path.name + '-storyboard')}."
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["story.yaml"]
