"""`storyboard apply`: the contact sheet's changes written into the story file, comments and
layout kept, diffs that touch only the changed lines, refusals that name their reason."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from storyboard.cli import app
from storyboard.editor import yamltext
from storyboard.editor.apply import apply_changes
from storyboard.editor.changes import FORMAT, parse_changes, read_changes
from storyboard.story import load_story

ROOT = Path(__file__).resolve().parent.parent
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))


def doc(*changes: tuple[str, str, Any, Any], order: tuple[list[str], list[str]] | None = None, **story: Any) -> dict:
    """Return a changes document holding `changes` as (frame, field, before, after)."""
    d: dict[str, Any] = {
        "format": FORMAT,
        "version": 1,
        "story": story,
        "changes": [dict(zip(("frame", "field", "before", "after"), c, strict=True)) for c in changes],
    }
    if order is not None:
        d["order"] = {"before": order[0], "after": order[1]}
    return d


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def run_apply(story: Path, document: dict, *extra: str) -> Any:
    """Save a changes file beside the story and run `storyboard apply` on it."""
    changes = story.with_name(story.stem + ".changes.json")
    changes.write_text(json.dumps(document), encoding="utf-8")
    return CliRunner().invoke(app, ["apply", str(story), str(changes), *extra], catch_exceptions=False)


def diff_lines(diff: str) -> tuple[list[str], list[str]]:
    """Return the removed and added lines of a unified diff."""
    lines = diff.splitlines()[2:]
    return ([ln[1:] for ln in lines if ln.startswith("-")], [ln[1:] for ln in lines if ln.startswith("+")])


COMMENTED = """\
# A story with comments everywhere: they stay, and move with their frames.
title: Comments   # the title
size: "3:2"
quality: low

frames:
  # Act 1 opens here
  - id: lab         # first
    prompt: the lab, wide     # the prompt
    caption: Rex wakes.
    takes: 2
    # a note about lab, indented as its keys
  # about the street
  - id: street
    prompt: "the street"
    takes: 3

  # --- Act 2 ---
  # night is the turning point
  - id: night
    prompt: 'night'
    caption: 'It is late'
    dialogue:
      - mira: We have to go.
      - rex: "Woof"   # rex agrees
  - prompt: an id-less frame
    caption: no id
  - {id: flow, prompt: a flow frame,  caption: flow}
# after the frames
characters: {}
"""


# -- the round trip --------------------------------------------------------------------------


@pytest.mark.parametrize("story", PIPELINES, ids=lambda p: p.name)
def test_a_round_trip_writes_every_example_story_back_byte_for_byte(story: Path) -> None:
    text = story.read_text(encoding="utf-8")
    data, y = yamltext.load_rt(text)
    assert yamltext.dump(y, data) == text


@pytest.mark.parametrize("story", PIPELINES, ids=lambda p: p.name)
def test_a_no_op_changes_file_gives_an_empty_diff_on_every_example_story(story: Path, tmp_path: Path) -> None:
    copy = write(tmp_path / story.name, story.read_text(encoding="utf-8"))
    for folder in ("masks", "refs"):  # copies: a symlink out of the story's folder is refused
        shutil.copytree(ROOT / "pipelines" / folder, tmp_path / folder)
    loaded = load_story(copy)
    ids = [f.id or f"#{i + 1}" for i, f in enumerate(loaded.story.frames)]
    same = [
        (k, field, value, value)
        for k, f in zip(ids, loaded.story.frames, strict=True)
        for field, value in (("pick", f.pick), ("caption", f.caption), ("notes", f.notes), ("lock", f.lock))
    ]
    out = apply_changes(copy, parse_changes(doc(*same, order=(ids, ids))))
    assert out.diff == "" and not out.written and not (tmp_path / f"{story.name}.bak").exists()
    assert copy.read_text(encoding="utf-8") == story.read_text(encoding="utf-8")


def test_the_indentation_is_the_file_s_own(tmp_path: Path) -> None:
    head = "title: Wide\nvars:\n    style: ink\nframes:\n"
    story = write(tmp_path / "wide.yaml", head + "-   id: a\n    prompt: x\n    dialogue:\n    -   mira: Hi.\n")
    data, _ = yamltext.load_rt(story.read_text())
    assert yamltext.guess_indent(data) == yamltext.Indent(mapping=4, sequence=4, offset=0)
    out = apply_changes(story, parse_changes(doc(("a", "dialogue", [{"speaker": "mira", "line": "Hi."}],
                                                     [{"speaker": "mira", "line": "Hi."}, {"speaker": "rex", "line": "No"}]))))
    assert story.read_text() == (
        head + "-   id: a\n    prompt: x\n    dialogue:\n    -   mira: Hi.\n    -   rex: \"No\"\n"
    ), out.diff


# -- edits -----------------------------------------------------------------------------------


def test_a_caption_change_touches_one_line_and_keeps_every_comment(tmp_path: Path) -> None:
    story = write(tmp_path / "c.yaml", COMMENTED)
    res = run_apply(story, doc(("lab", "caption", "Rex wakes.", "Rex wakes up, slowly.")))
    assert res.exit_code == 0, res.stderr
    assert diff_lines(res.stdout) == (["    caption: Rex wakes."], ["    caption: Rex wakes up, slowly."])
    assert story.read_text() == COMMENTED.replace("caption: Rex wakes.", "caption: Rex wakes up, slowly.")
    assert (tmp_path / "c.yaml.bak").read_text() == COMMENTED
    assert "Applied 1 change to" in res.stderr and "c.yaml.bak" in res.stderr


def test_every_field_of_a_frame(tmp_path: Path) -> None:
    story = write(tmp_path / "c.yaml", COMMENTED)
    out = apply_changes(story, parse_changes(doc(
        ("street", "pick", 1, 3),
        ("lab", "lock", False, True),
        ("night", "caption", "It is late", "It is later"),
        ("night", "dialogue", [{"speaker": "mira", "line": "We have to go."}, {"speaker": "rex", "line": "Woof"}],
         [{"speaker": "mira", "line": "We must go."}, {"speaker": "rex", "line": "Woof"}]),
        ("#4", "notes", None, "WIDE.\nSlow push in."),
        ("flow", "caption", "flow", "a new flow caption"),
    )))
    assert out.refused == [] and len(out.applied) == 6
    removed, added = diff_lines(out.diff)
    assert removed == [
        "    caption: 'It is late'",
        "      - mira: We have to go.",
        "  - {id: flow, prompt: a flow frame,  caption: flow}",
    ]
    assert added == [
        "    lock: true",
        "    pick: 3",
        "    caption: 'It is later'",  # the old value's quotes
        "      - mira: We must go.",
        "    notes: |-",
        "      WIDE.",
        "      Slow push in.",
        "  - {id: flow, prompt: a flow frame, caption: a new flow caption}",
    ]
    text = story.read_text()
    # A key added at the end of a frame goes above the comments that close it.
    assert "    takes: 2\n    lock: true\n    # a note about lab" in text
    assert "    takes: 3\n    pick: 3\n\n  # --- Act 2 ---" in text
    f = load_story(story).story.frames
    assert (f[1].pick, f[0].lock, f[2].lines[0], f[3].notes) == (3, True, ("mira", "We must go."), "WIDE.\nSlow push in.")


def test_dialogue_lines_added_and_removed_in_place_keep_the_others_comments(tmp_path: Path) -> None:
    story = write(tmp_path / "c.yaml", COMMENTED)
    go, woof = {"speaker": "mira", "line": "We have to go."}, {"speaker": "rex", "line": "Woof"}
    # a line before rex's, and one at the end; then mira's first line goes
    res = run_apply(story, doc(("night", "dialogue", [go, woof],
                                [go, {"speaker": "kid", "line": "Wait for me!"}, woof, {"speaker": "mira", "line": "No"}])))
    assert res.exit_code == 0, res.stderr
    assert diff_lines(res.stdout) == ([], ["      - kid: Wait for me!", '      - mira: "No"'])
    text = story.read_text()
    assert '      - kid: Wait for me!\n      - rex: "Woof"   # rex agrees\n      - mira: "No"\n' in text
    res = run_apply(story, doc(("night", "dialogue", [go, {"speaker": "kid", "line": "Wait for me!"}, woof,
                                                      {"speaker": "mira", "line": "No"}],
                                [{"speaker": "kid", "line": "Wait for me!"}, woof, {"speaker": "mira", "line": "No"}])))
    assert res.exit_code == 0, res.stderr
    assert diff_lines(res.stdout) == (["      - mira: We have to go."], [])
    lines = load_story(story).story.frames[2].lines
    assert lines == [("kid", "Wait for me!"), ("rex", "Woof"), ("mira", "No")]
    assert '      - rex: "Woof"   # rex agrees' in story.read_text()
    # A frame's first dialogue, where its last key was: above the blank line and comment that close it.
    story = write(tmp_path / "d.yaml", "title: T\nframes:\n  - id: a\n    prompt: x\n    caption: A.\n\n  # next\n"
                                       "  - id: b\n    prompt: y\n")
    res = run_apply(story, doc(("a", "dialogue", [], [{"speaker": "rex", "line": "Woof."}])))
    assert res.exit_code == 0, res.stderr
    assert story.read_text() == ("title: T\nframes:\n  - id: a\n    prompt: x\n    caption: A.\n    dialogue:\n"
                                 "      - rex: Woof.\n\n  # next\n  - id: b\n    prompt: y\n")


NIGHT_RAIN = """\
title: T
frames:
  - id: rain
    prompt: rain
    dialogue:
      - vendor: Under the awning, quick!
      - mira: "No"   # quoted: a bare No is false to YAML 1.1

  # the last frame
  - id: end
    prompt: end
"""


def test_a_moved_line_takes_its_comment_and_a_new_speaker_keeps_the_words_as_written(tmp_path: Path) -> None:
    story = write(tmp_path / "s.yaml", NIGHT_RAIN)
    vendor, mira = {"speaker": "vendor", "line": "Under the awning, quick!"}, {"speaker": "mira", "line": "No"}
    out = apply_changes(story, parse_changes(doc(("rain", "dialogue", [vendor, mira], [mira, vendor]))))
    # mira's line goes first with its quoting and comment; the blank line and the comment of the
    # next frame stay where they were, after the frame's last line
    assert story.read_text() == NIGHT_RAIN.replace(
        '      - vendor: Under the awning, quick!\n      - mira: "No"   # quoted: a bare No is false to YAML 1.1\n',
        '      - mira: "No"   # quoted: a bare No is false to YAML 1.1\n      - vendor: Under the awning, quick!\n'), out.diff
    # mira's words given to the kid: the line is edited where it stands, quoted as it was
    apply_changes(story, parse_changes(doc(("rain", "dialogue", [mira, vendor],
                                            [{"speaker": "kid", "line": "No"}, vendor]))))
    assert '      - kid: "No"   # quoted: a bare No is false to YAML 1.1\n      - vendor: Under' in story.read_text()
    assert load_story(story).story.frames[0].lines == [("kid", "No"), ("vendor", "Under the awning, quick!")]
    # the last line replaced by a new one (another speaker, other words): the tail still closes the frame
    apply_changes(story, parse_changes(doc(("rain", "dialogue", [{"speaker": "kid", "line": "No"}, vendor],
                                            [{"speaker": "kid", "line": "No"}, {"speaker": "rex", "line": "Woof."}]))))
    assert story.read_text().endswith("      - rex: Woof.\n\n  # the last frame\n  - id: end\n    prompt: end\n")


def test_a_key_added_or_dropped_at_a_frame_s_end_leaves_the_next_frame_s_comment_after_it(tmp_path: Path) -> None:
    story = write(tmp_path / "s.yaml", NIGHT_RAIN.replace("  - id: end\n    prompt: end\n",
                                                          "  - id: end\n    prompt: end\n    caption: c   # about c\n"))
    apply_changes(story, parse_changes(doc(("rain", "lock", False, True), ("end", "caption", "c", None))))
    assert story.read_text() == NIGHT_RAIN.replace(
        '1.1\n\n  # the last frame', '1.1\n    lock: true\n\n  # the last frame')  # and "# about c" went with c


def test_removing_a_caption_notes_or_lock_drops_the_key(tmp_path: Path) -> None:
    story = write(tmp_path / "s.yaml", "title: T\nframes:\n  - id: a\n    prompt: x\n    caption: c\n    lock: true\n\n  # b\n  - id: b\n    prompt: y\n")
    out = apply_changes(story, parse_changes(doc(("a", "caption", "c", None), ("a", "lock", True, False))))
    assert story.read_text() == "title: T\nframes:\n  - id: a\n    prompt: x\n\n  # b\n  - id: b\n    prompt: y\n", out.diff


@pytest.mark.parametrize("value", ["No", "no", "on", "yes", "16:9", "1:30.5", "010", "=", "~", "null", "2026-01-01", "3.0", " padded"])
def test_a_new_value_a_yaml_1_1_reader_would_misread_is_quoted(tmp_path: Path, value: str) -> None:
    story = write(tmp_path / "s.yaml", "title: T\nframes:\n  - id: a\n    prompt: x\n    caption: plain\n")
    apply_changes(story, parse_changes(doc(("a", "caption", "plain", value))))
    text = story.read_text()
    # PyYAML (YAML 1.1) and the story loader both read the string back.
    assert yaml.safe_load(text)["frames"][0]["caption"] == value
    assert load_story(story).story.frames[0].caption == value
    assert re.search(r"caption: \"", text), text


def test_a_long_prompt_is_never_folded(tmp_path: Path) -> None:
    prompt = "a robot dog " * 40
    story = write(tmp_path / "s.yaml", f"title: T\nframes:\n  - id: a\n    prompt: {prompt.strip()}\n    caption: c\n")
    apply_changes(story, parse_changes(doc(("a", "caption", "c", ("a caption " * 20).strip()))))
    lines = story.read_text().splitlines()
    assert lines[3] == f"    prompt: {prompt.strip()}" and lines[4] == "    caption: " + ("a caption " * 20).strip()


def test_crlf_a_bom_and_the_file_mode_are_kept(tmp_path: Path) -> None:
    story = tmp_path / "s.yaml"
    story.write_bytes(b"\xef\xbb\xbftitle: T\r\nframes:\r\n  - id: a\r\n    prompt: x\r\n    caption: c\r\n")
    os.chmod(story, 0o640)
    apply_changes(story, parse_changes(doc(("a", "caption", "c", "d"))))
    assert story.read_bytes() == b"\xef\xbb\xbftitle: T\r\nframes:\r\n  - id: a\r\n    prompt: x\r\n    caption: d\r\n"
    assert story.stat().st_mode & 0o777 == 0o640


def test_a_symlinked_story_is_edited_where_it_points(tmp_path: Path) -> None:
    real = write(tmp_path / "real.yaml", "title: T\nframes:\n  - id: a\n    prompt: x\n    caption: c\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    apply_changes(link, parse_changes(doc(("a", "caption", "c", "d"))))
    assert link.is_symlink() and "caption: d" in real.read_text()


# -- moves -------------------------------------------------------------------------------------


def test_frames_move_with_their_comments(tmp_path: Path) -> None:
    story = write(tmp_path / "c.yaml", COMMENTED)
    order = ["lab", "street", "night", "#4", "flow"]
    res = run_apply(story, doc(order=(order, ["night", "lab", "street", "#4", "flow"])))
    assert res.exit_code == 0, res.stderr
    text = story.read_text()
    assert text.index("# --- Act 2 ---\n  # night is the turning point\n  - id: night") < text.index("# Act 1 opens here\n  - id: lab")
    assert "caption: Rex wakes.\n    takes: 2\n    # a note about lab, indented as its keys\n" in text
    assert "  # about the street\n  - id: street" in text
    assert text.startswith("# A story with comments") and text.endswith("# after the frames\ncharacters: {}\n")
    assert sorted(text.splitlines()) == sorted(COMMENTED.splitlines())  # lines moved, none changed
    assert [f.id for f in load_story(story).story.frames] == ["night", "lab", "street", None, "flow"]


def test_a_flow_sequence_of_frames_moves_too(tmp_path: Path) -> None:
    story = write(tmp_path / "f.yaml", "title: T\nframes: [{id: a, prompt: x}, {id: b, prompt: y}]\n")
    apply_changes(story, parse_changes(doc(order=(["a", "b"], ["b", "a"]))))
    assert [f.id for f in load_story(story).story.frames] == ["b", "a"]


def test_an_id_less_frame_keeps_its_name_as_others_move_past_it(tmp_path: Path) -> None:
    story = write(tmp_path / "s.yaml", "title: T\nframes:\n  - id: a\n    prompt: x\n  - prompt: y\n    caption: no id\n  - id: c\n    prompt: z\n")
    out = apply_changes(story, parse_changes(doc(("#2", "caption", "no id", "still no id"), order=(["a", "#2", "c"], ["c", "a", "#2"]))))
    assert out.refused == []
    frames = load_story(story).story.frames
    assert [(f.id, f.caption) for f in frames] == [("c", None), ("a", None), (None, "still no id")]


# -- anchors, aliases, merge keys ----------------------------------------------------------------


ANCHORED = """\
title: Anchors
frames:
  - &shot
    id: a
    prompt: the lab
    caption: &cap Rex wakes.
    takes: 2
  - <<: *shot
    id: b
    prompt: the street
  - id: c
    prompt: night
    caption: *cap
  - id: d
    prompt: day
    dialogue: &lines
      - mira: Go.
  - id: e
    prompt: dusk
    dialogue: *lines
"""


def test_anchors_aliases_and_merge_keys_are_never_written_into(tmp_path: Path) -> None:
    story = write(tmp_path / "a.yaml", ANCHORED)
    res = run_apply(story, doc(
        ("a", "pick", 1, 2),
        ("b", "caption", "Rex wakes.", "B"),
        ("b", "pick", 1, 2),
        ("c", "caption", "Rex wakes.", "C"),
        ("e", "dialogue", [{"speaker": "mira", "line": "Go."}], [{"speaker": "mira", "line": "Stop."}]),
        ("d", "notes", None, "n"),
        order=(["a", "b", "c", "d", "e"], ["b", "a", "c", "d", "e"]),
    ))
    assert res.exit_code == 1
    refused = [ln for ln in res.stderr.splitlines() if ln.startswith("Refused:")]
    assert refused == [
        'Refused: frame a: pick 1 -> 2: refused, the frame is an anchor (&shot) that other parts of the story reuse; edit it by hand',
        'Refused: frame b: caption "Rex wakes." -> "B": refused, its caption comes from a merge key (`<<:`) that other frames share; edit it by hand',
        'Refused: frame c: caption "Rex wakes." -> "C": refused, its caption carries the anchor &cap, which other keys reuse; edit it by hand',
        'Refused: frame e: dialogue "mira: Go." -> "mira: Stop.": refused, its dialogue carries the anchor &lines, which other keys reuse; edit it by hand',
        "Refused: frame order: refused, a frame would come before the anchor (&name) it reuses; move the frames by hand",
    ]
    # What could be written was: b's own pick, d's notes.
    assert diff_lines(res.stdout) == ([], ["    pick: 2", "    notes: n"])
    assert "5 changes refused" in res.stderr


# -- versions, conflicts, repeats ----------------------------------------------------------------


ALIGNED = """\
# Aligned by hand, the way some people like it.
title:    Aligned
size:     "3:2"
characters:
  mira: { description: a girl in a yellow raincoat }   # cast
frames:
  - id:       gate
    prompt:   "{{ mira }} at the gate"
    caption:  Mira arrives.
    notes:    WIDE
  - id:       rain
    prompt:   "rain falls"
    caption:  Then the rain.
    dialogue:
      - mira:   Run!
"""


def test_a_story_aligned_by_hand_changes_only_where_the_changes_are(tmp_path: Path) -> None:
    story = write(tmp_path / "a.yaml", ALIGNED)
    res = run_apply(story, doc(("rain", "caption", "Then the rain.", "Then, the rain."), ("gate", "notes", "WIDE", "WIDE, low"),
                               ("rain", "dialogue", [{"speaker": "mira", "line": "Run!"}], [{"speaker": "mira", "line": "Run, now!"}])))
    assert res.exit_code == 0, res.stderr
    assert story.read_text() == (ALIGNED.replace("caption:  Then the rain.", "caption:  Then, the rain.")
                                 .replace("notes:    WIDE", "notes:    WIDE, low").replace("- mira:   Run!", "- mira:   Run, now!"))


def test_changes_from_an_older_story_apply_where_their_before_still_holds(tmp_path: Path) -> None:
    story = write(tmp_path / "s.yaml", "title: T\nframes:\n  - id: a\n    prompt: x\n    caption: new by hand\n  - id: b\n    prompt: y\n    caption: b\n")
    res = run_apply(story, doc(("a", "caption", "old", "from the sheet"), ("b", "caption", "b", "B"), sha256="0" * 64))
    assert res.exit_code == 1
    assert 'Refused: frame a: caption "old" -> "from the sheet": refused, the story now has caption "new by hand" (the sheet showed "old")' in res.stderr
    assert "s.yaml changed since the sheet was made" in res.stderr
    assert "caption: new by hand" in story.read_text() and "caption: B" in story.read_text()


IDLESS = """\
title: T
frames:
  - id: a
    prompt: x
  - prompt: the first without an id
  - prompt: the second without an id
  - id: b
    prompt: y
"""
SHEET_ORDER = ["a", "#2", "#3", "b"]


@pytest.mark.parametrize(
    ("edit", "lands_on"),
    [
        # A frame with an id added above: the frames without one are found again between a and b.
        (lambda t: t.replace("  - prompt: the first", "  - id: new\n    prompt: added by hand\n  - prompt: the first"), "the second"),
        # A frame without an id added elsewhere, after b: the two between a and b are as they were.
        (lambda t: t + "  - prompt: an epilogue\n", "the second"),
        # Between a and b, still two frames without an id: the second is the second.
        (lambda t: t.replace("title: T\nframes:\n", "title: T\nframes:\n  - id: z\n    prompt: first now\n"), "the second"),
    ],
)
def test_a_change_to_a_frame_without_an_id_follows_it_when_frames_are_added_around_it(
    tmp_path: Path, edit: Any, lands_on: str
) -> None:
    story = write(tmp_path / "s.yaml", edit(IDLESS))
    res = run_apply(story, doc(("#3", "notes", None, "CLOSE on her face"), order=(SHEET_ORDER, SHEET_ORDER), sha256="0" * 64))
    assert res.exit_code == 0, res.stderr
    frames = load_story(story).story.frames
    assert [f.prompt for f in frames if f.notes] == [f"{lands_on} without an id"]


def test_a_change_to_a_frame_without_an_id_is_refused_when_it_cannot_be_told_which_it_is(tmp_path: Path) -> None:
    # A third frame without an id added between a and b: which one the sheet showed as #3 is unknown.
    text = IDLESS.replace("  - id: b", "  - prompt: added by hand   # no id\n  - id: b")
    story = write(tmp_path / "s.yaml", text)
    res = run_apply(story, doc(("#3", "notes", None, "CLOSE"), ("#3", "lock", False, True), ("b", "caption", None, "B"),
                               order=(SHEET_ORDER, SHEET_ORDER), sha256="0" * 64))
    assert res.exit_code == 1
    assert res.stderr.count("which frame it is now cannot be told; make the change by hand, or give the frame an id") == 2
    after = story.read_text()
    assert "notes" not in after and "lock" not in after and "caption: B" in after  # the rest is applied


def test_a_change_for_a_frame_removed_since_is_refused_and_the_others_apply(tmp_path: Path) -> None:
    story = write(tmp_path / "s.yaml", "title: T\nframes:\n  - id: a\n    prompt: x\n")
    res = run_apply(story, doc(("gone", "caption", None, "x"), ("a", "caption", None, "A"), ("#3", "notes", None, "n"),
                               order=(["a", "gone", "#3"], ["a", "gone", "#3"]), sha256="0" * 64))
    assert res.exit_code == 1
    assert 'frame gone: caption null -> "x": refused, no frame has the id gone in s.yaml' in res.stderr
    assert "frame #3: notes null -> \"n\": refused, frames were added or removed" in res.stderr
    assert "caption: A" in story.read_text()


def test_applying_twice_is_a_no_op(tmp_path: Path) -> None:
    story = write(tmp_path / "c.yaml", COMMENTED)
    order = ["lab", "street", "night", "#4", "flow"]
    document = doc(("lab", "caption", "Rex wakes.", "Rex!"), ("street", "pick", 1, 2),
                   order=(order, ["street", "lab", "night", "#4", "flow"]))
    assert run_apply(story, document).exit_code == 0
    once = story.read_bytes()
    backup = (tmp_path / "c.yaml.bak").read_bytes()
    res = run_apply(story, document)
    assert res.exit_code == 0 and res.stdout == ""
    assert "Already applied" in res.stderr
    assert story.read_bytes() == once and (tmp_path / "c.yaml.bak").read_bytes() == backup == COMMENTED.encode()


def test_dry_run_prints_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    story = write(tmp_path / "c.yaml", COMMENTED)
    res = run_apply(story, doc(("lab", "caption", "Rex wakes.", "Rex!")), "--dry-run")
    assert res.exit_code == 0 and "+    caption: Rex!" in res.stdout and "--dry-run: nothing written" in res.stderr
    assert story.read_text() == COMMENTED and not (tmp_path / "c.yaml.bak").exists()


# -- bad input: exit 2, one message, the story untouched -----------------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (doc(("nope", "caption", None, "x")), 'frame nope: caption null -> "x": no frame has the id nope in c.yaml'),
        (doc(("#9", "caption", None, "x")), 'frame #9: caption null -> "x": no frame is numbered 9 in c.yaml'),
        (doc(("street", "pick", 1, 4)), "frame street: pick 1 -> 4: frame street has 3 takes; take 4 does not exist"),
        (doc(("lab", "colour", 1, 2)), "changes[0].field: 'colour' is not one of pick, caption, notes, dialogue, lock"),
        (doc(("lab", "pick", 1, "two")), 'changes[0].after: a take number from 1, or "edited"'),
        ({"format": FORMAT, "version": 2, "changes": []}, "version 2 was saved by a newer storyboard"),
        ({"changes": []}, "not a storyboard changes file"),
    ],
)
def test_bad_changes_exit_2_with_one_message(tmp_path: Path, document: dict, message: str) -> None:
    story = write(tmp_path / "c.yaml", COMMENTED)
    res = run_apply(story, document)
    assert res.exit_code == 2 and message in res.stderr, res.stderr
    assert res.stderr.startswith("Error: ") and "Traceback" not in res.stderr
    assert story.read_text() == COMMENTED and not (tmp_path / "c.yaml.bak").exists()


def test_a_changes_file_nested_too_deeply_is_one_message(tmp_path: Path) -> None:
    story = write(tmp_path / "c.yaml", COMMENTED)
    deep = write(tmp_path / "deep.json", "[" * 200_000 + "]" * 200_000)
    res = CliRunner().invoke(app, ["apply", str(story), str(deep)])
    assert res.exit_code == 2 and res.stderr.strip() == f"Error: {deep}: nested too deeply for a changes file. Save it again from the sheet."


def test_a_story_ruamel_cannot_read_round_trip_is_one_message(tmp_path: Path) -> None:
    story = write(tmp_path / "t.yaml", "title: T\nframes:\n  - id: a\n    prompt: x\n    caption:\tone\n")  # a tab after the key
    res = run_apply(story, doc(("a", "caption", "one", "two")))
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    assert f"Error: {story}:5:13: apply cannot edit this line as written" in res.stderr and "Nothing written." in res.stderr


def test_a_malformed_file_says_where(tmp_path: Path) -> None:
    story = write(tmp_path / "c.yaml", COMMENTED)
    bad = write(tmp_path / "bad.json", '{"format": "storyboard-changes",\n "version": 1,,}')
    res = CliRunner().invoke(app, ["apply", str(story), str(bad)])
    assert res.exit_code == 2 and f"Error: {bad}:2:15: not valid JSON" in res.stderr
    with pytest.raises(Exception, match="no such file"):
        read_changes(tmp_path / "missing.json")


@pytest.mark.parametrize(
    "value",
    ["two\nlines", "tab\there", "bell\x07", "cr\r\nlf", "  indented\nsecond", "trailing \nspace", "ends\n\n", "\u2028sep",
     "é ü 日本語 🐕", "#not a comment", "a: b", "- dash", "{{ braces }}", "'quotes' and \"quotes\""],
)
def test_any_text_is_written_so_that_it_reads_back_the_same(tmp_path: Path, value: str) -> None:
    story = write(tmp_path / "s.yaml", "title: T\nframes:\n  - id: a\n    prompt: x\n    caption: plain\n    notes: plain\n")
    out = apply_changes(story, parse_changes(doc(("a", "caption", "plain", value), ("a", "notes", "plain", value))))
    assert out.refused == [] and len(out.applied) == 2
    frame = load_story(story).story.frames[0]
    assert (frame.caption, frame.notes) == (value, value)
    assert yaml.safe_load(story.read_text())["frames"][0]["caption"] == value


FLOW_HOSTILE = ["?! What was that", ":) a happy dog", "a, b", "[x]", "{y}", "#tag", "- dash", "a: b", "x ? y", "No", "it's"]


@pytest.mark.parametrize("value", FLOW_HOSTILE)
def test_any_text_written_into_a_flow_style_frame_reads_back_the_same(tmp_path: Path, value: str) -> None:
    # `{id: a, caption: x}` and `[{mira: x}]`: text plain in a block (`?!`, `:)`, `a, b`) is not plain there.
    text = "title: T\nframes:\n  - {id: a, prompt: 'x, y', caption: plain, notes: No way}\n  - id: b\n    prompt: z\n    dialogue: [{mira: Hi}]\n"
    story = write(tmp_path / "s.yaml", text)
    lines = [{"speaker": value, "line": value}, {"speaker": "mira", "line": "Hi"}]
    res = run_apply(story, doc(("a", "caption", "plain", value), ("b", "dialogue", [{"speaker": "mira", "line": "Hi"}], lines)))
    assert res.exit_code == 0, res.stderr
    frames = load_story(story).story.frames
    assert (frames[0].caption, frames[0].notes, frames[0].prompt) == (value, "No way", "x, y")  # untouched stay as they were
    assert frames[1].lines == [(value, value), ("mira", "Hi")]
    assert "{id: a, prompt: 'x, y', caption: " in story.read_text() and "notes: No way}" in story.read_text()


def test_any_speaker_of_a_new_line_reads_back_the_same(tmp_path: Path) -> None:
    # typed in the sheet's speaker field: a YAML 1.1 reader must not find `No:` false nor `16:9:` a number
    speakers = ["No", "on", "16:9", "null", "~", "a: b", "#x", "- y", "&anc", "*ali", "{z}", "[1]", " pad ", "x\ny", "it's"]
    story = write(tmp_path / "s.yaml", "title: T\nframes:\n  - id: a\n    prompt: x\n")
    after = [{"speaker": s, "line": f"line {i}"} for i, s in enumerate(speakers)]
    out = apply_changes(story, parse_changes(doc(("a", "dialogue", [], after))))
    assert out.refused == [] and len(out.applied) == 1
    assert load_story(story).story.frames[0].lines == [(d["speaker"], d["line"]) for d in after]
    assert [next(iter(d)) for d in yaml.safe_load(story.read_text())["frames"][0]["dialogue"]] == speakers
    # and each line given to another of them (in place: the words stay), the same
    renamed = [{"speaker": speakers[-1 - i], "line": d["line"]} for i, d in enumerate(after)]
    out = apply_changes(story, parse_changes(doc(("a", "dialogue", after, renamed))))
    assert out.refused == [] and len(out.applied) == 1
    assert load_story(story).story.frames[0].lines == [(d["speaker"], d["line"]) for d in renamed]
    assert [next(iter(d)) for d in yaml.safe_load(story.read_text())["frames"][0]["dialogue"]] == speakers[::-1]


@pytest.mark.parametrize("edit", ["reworded", "removed"])
def test_a_dialogue_line_another_frame_reuses_is_never_edited_nor_removed(tmp_path: Path, edit: str) -> None:
    # `&hi` is one line in two frames: rewording or removing it in a would change b's dialogue too
    text = ("title: T\nframes:\n  - id: a\n    prompt: x\n    dialogue:\n      - &hi {mira: Hi.}\n      - rex: Woof\n"
            "  - id: b\n    prompt: y\n    dialogue:\n      - *hi\n")
    story = write(tmp_path / "s.yaml", text)
    before = [{"speaker": "mira", "line": "Hi."}, {"speaker": "rex", "line": "Woof"}]
    after = [{"speaker": "mira", "line": "Hello."}, before[1]] if edit == "reworded" else [before[1]]
    out = apply_changes(story, parse_changes(doc(("a", "dialogue", before, after))))
    assert len(out.refused) == 1
    assert out.refused[0].endswith("refused, a line of its dialogue carries an anchor that other keys reuse; edit it by hand")
    assert story.read_text() == text
