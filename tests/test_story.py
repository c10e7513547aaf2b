"""The story format: every problem of a file, in one message, as file:line:column: key path: what and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from stories import write_png, write_story

from storyboard.errors import StoryError
from storyboard.story import MAX_STORY_BYTES, RESERVED, json_schema, load_story

MINIMAL = """\
title: T
frames:
  - prompt: x
"""


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in tmp_path, so messages name `story.yaml` as a user would type it."""
    monkeypatch.chdir(tmp_path)
    write_png(tmp_path / "refs" / "rex.png")
    write_png(tmp_path / "masks" / "sky.png", 1024, 1024)
    (tmp_path / "notes.png").write_text("not an image", encoding="utf-8")
    return tmp_path


def problems_of(text: str) -> list[str]:
    """Load story.yaml written from `text` (in the current folder) and return its problem lines."""
    write_story(Path.cwd(), text)
    with pytest.raises(StoryError) as err:
        load_story("story.yaml")
    lines = [str(p) for p in err.value.problems]
    assert err.value.message == "\n".join(lines)  # the one message the CLI prints
    return lines


# Each row: a story, and exactly the lines its message has (file:line:column: key path: message).
CASES = [
    pytest.param(
        """\
        title: T
        frames:
          - id: a
             prompt: x
        """,
        [
            "story.yaml:4:6: not valid YAML: this line is indented deeper than the key above it (YAML reads it as "
            "more of that value); line it up with the keys above"
        ],
        id="yaml-indentation",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - prompt: "never closed
        """,
        ["story.yaml:3:13: not valid YAML: the double quote that opens this value is not closed on its line, so "
         "YAML reads on to the end of the file; close it at the end of the value"],
        id="yaml-unclosed-quote",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - prompt: "a dog
            caption: x
          - prompt: b
            caption: "y"
        """,
        ["story.yaml:3:13: not valid YAML: the double quote that opens this value is not closed on its line, so "
         "YAML reads on to line 6; close it at the end of the value"],
        id="yaml-unclosed-quote-read-on-to-the-next",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - prompt: 'it's a dog'   # an apostrophe
            caption: 'it''s fine'
        """,
        ["story.yaml:3:13: not valid YAML: an apostrophe inside single quotes ends the value there; write it twice "
         "(`it''s`) or put the value in double quotes: - prompt: \"it's a dog\""],
        id="yaml-apostrophe-in-single-quotes",
    ),
    pytest.param(
        "- a\n- b\n",
        [
            "story.yaml:1:1: a story is a mapping with `title:` and `frames:`. Start from `storyboard new NAME`."
        ],
        id="not-a-mapping",
    ),
    pytest.param(
        """\
        frames:
          - prompt: x
        """,
        ["story.yaml:1:1: title: required key is missing"],
        id="missing-title",
    ),
    pytest.param(
        """\
        title: T
        frames: []
        """,
        ["story.yaml:2:9: frames: a story needs at least one frame, e.g. `frames: [{prompt: a lighthouse at dusk}]`"],
        id="no-frames",
    ),
    pytest.param(
        """\
        title: T
        parallel: many
        frames: {a: 1}
        """,
        [
            "story.yaml:2:11: parallel: Input should be a valid integer, unable to parse string as an integer (got str 'many')",
            "story.yaml:3:9: frames: Input should be a valid list (got dict \"{'a': 1}\")",
        ],
        id="wrong-types-top",
    ),
    pytest.param(
        """\
        title: T
        vars:
          style: [a, b]
        characters:
          rex:
            description: a dog
            reference: 5
        frames:
          - prompt: x
            takes: two
            lock: maybe
        """,
        [
            "story.yaml:3:10: vars.style: a var is text, a number or true/false (not a list or a mapping)",
            "story.yaml:7:16: characters.rex.reference: reference file `5` not found (paths are relative to the story's folder)",
            "story.yaml:10:12: frames[0].takes: Input should be a valid integer, unable to parse string as an integer (got str 'two')",
            "story.yaml:11:11: frames[0].lock: Input should be a valid boolean, unable to interpret input (got str 'maybe')",
        ],
        id="wrong-types-nested-one-line-per-key",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - prompt: x
            takes: 11
          - prompt: y
            pick: 0
            duration: -1
        """,
        [
            "story.yaml:4:12: frames[0].takes: Input should be less than or equal to 10",
            "story.yaml:6:11: frames[1].pick: Input should be greater than or equal to 1",
            "story.yaml:7:15: frames[1].duration: Input should be greater than 0",
        ],
        id="out-of-range",
    ),
    pytest.param(
        """\
        title: T
        sise: 3:2
        frames:
          - prompt: x
        """,
        ["story.yaml:2:1: sise: unknown key (did you mean `size`?)"],
        id="unknown-key-top",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - prompt: x
            captoin: hi
        """,
        ["story.yaml:4:5: frames[0].captoin: unknown key (did you mean `caption`?)"],
        id="unknown-key-frame",
    ),
    pytest.param(
        """\
        title: T
        characters:
          rex:
            description: a dog
            refrence: refs/rex.png
        frames:
          - prompt: x
        """,
        ["story.yaml:5:5: characters.rex.refrence: unknown key (did you mean `reference`?)"],
        id="unknown-key-character",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - id: a
            prompt: x
          - prompt: y
            outpaint: {from: a, extend: right, by: 0.5, bye: 1}
        """,
        ["story.yaml:6:49: frames[1].outpaint.bye: unknown key (did you mean `by`?)"],
        id="unknown-key-outpaint",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - prompt: x
            zzzz: 1
        """,
        [
            "story.yaml:4:5: frames[0].zzzz: unknown key; valid keys: balloon, camera, caption, characters, choices, "
            "dialogue, duration, edit, id, lock, mask, model, notes, options, outpaint, page_break, pick, prompt, "
            "quality, seed, size, takes, text, variation"
        ],
        id="unknown-key-no-near-lists-valid",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - id: City Night
            prompt: x
          - prompt: y
            outpaint: {from: a, extend: sideways, by: 3}
        """,
        [
            "story.yaml:3:9: frames[0].id: an id uses only a-z, 0-9, _ and - (e.g. `city-night`)",
            "story.yaml:6:33: frames[1].outpaint.extend: Input should be 'left', 'right', 'up', 'down' or 'all'",
            "story.yaml:6:47: frames[1].outpaint.by: Input should be less than or equal to 2",
        ],
        id="bad-values",
    ),
    pytest.param(
        """\
        title: T
        title: U
        frames:
          - prompt: x
            prompt: y
        """,
        [
            "story.yaml:2:1: title: duplicate key; the later one would silently win",
            "story.yaml:5:5: frames[0].prompt: duplicate key; the later one would silently win",
        ],
        id="duplicate-yaml-keys",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - id: lab
            prompt: x
          - id: lab
            prompt: y
          - id: previous
            prompt: z
        """,
        [
            "story.yaml:5:9: frames[1].id: duplicate id `lab` (also frame 1); ids must be unique",
            "story.yaml:7:9: frames[2].id: `previous` is reserved as a chain source; choose another id",
        ],
        id="duplicate-and-reserved-ids",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - id: lab
            prompt: x
          - edit: lbb
            prompt: y
          - variation: nowhere
          - outpaint: {from: labb, extend: up, by: 0.5}
            prompt: z
        """,
        [
            "story.yaml:5:11: frames[1].edit: `lbb` names no frame id (did you mean `lab`?)",
            "story.yaml:7:16: frames[2].variation: `nowhere` names no frame id",
            "story.yaml:8:22: frames[3].outpaint.from: `labb` names no frame id (did you mean `lab`?)",
        ],
        id="unknown-chain-sources",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - id: a
            edit: c
            prompt: x
          - id: b
            edit: a
            prompt: y
          - id: c
            edit: b
            prompt: z
        """,
        ["story.yaml:3:5: frames[0]: chain cycle a -> c -> b -> a; a frame cannot depend on itself"],
        id="cycle",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - id: a
            edit: a
            prompt: x
        """,
        ["story.yaml:3:5: frames[0]: chain cycle a -> a; a frame cannot depend on itself"],
        id="self-cycle",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - id: a
            edit: b
            prompt: x
          - id: b
            edit: a
            prompt: y
          - id: c
            edit: a
            prompt: z
          - id: d
            edit: d
            prompt: w
        """,
        ["story.yaml:3:5: frames[0]: chain cycle a -> b -> a; a frame cannot depend on itself",
         "story.yaml:12:5: frames[3]: chain cycle d -> d; a frame cannot depend on itself"],
        id="two-cycles-at-once",  # both in one message, each once (c only leads into one)
    ),
    pytest.param(
        """\
        title: T
        frames:
          - {id: lab, prompt: a lab, captoin: Rex}
          - {id: city, edit: labb, prompt: c}
          - {id: loop, edit: loop, prompt: x}
        """,
        ["story.yaml:3:30: frames[0].captoin: unknown key (did you mean `caption`?)",
         "story.yaml:4:22: frames[1].edit: `labb` names no frame id (did you mean `lab`?)",
         "story.yaml:5:5: frames[2]: chain cycle loop -> loop; a frame cannot depend on itself"],
        id="a-cycle-with-other-problems",  # one message, not one round each
    ),
    pytest.param(
        """\
        title: T
        characters: {rex: {description: a dog}}
        frames:
          - {id: lab, prompt: "{{ rexx }} in a lab, {{ range(2) | list }}", captoin: Rex}
        """,
        ["story.yaml:4:23: frames[0].prompt: frame 1 lab: `rexx` is undefined (did you mean `rex`?)",
         "story.yaml:4:69: frames[0].captoin: unknown key (did you mean `caption`?)"],
        id="an-unknown-name-with-other-problems",  # what planning would say, said in the same message
    ),
    pytest.param(
        """\
        title: T
        frames:
          - edit: previous
            prompt: x
        """,
        ["story.yaml:3:11: frames[0].edit: the first frame has no previous frame"],
        id="previous-on-first-frame",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - id: a
            prompt: x
            choices: [{label: go, goto: b}]
          - id: b
            edit: previous
            prompt: y
        """,
        [
            "story.yaml:7:11: frames[1].edit: `previous` has no meaning in a story with choices; name the frame id"
        ],
        id="previous-with-choices",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - prompt: x
            takes: 2
            pick: 3
        """,
        ["story.yaml:5:11: frames[0].pick: pick 3 but the frame has 2 take(s); pick from 1 to 2"],
        id="pick-over-takes",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - prompt: x
            mask: masks/sky.png
        """,
        ["story.yaml:4:11: frames[0].mask: `mask` goes with `edit:` (an outpaint makes its own mask)"],
        id="mask-without-edit",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - id: a
            prompt: x
          - outpaint: {from: a, extend: right, by: 0.5}
            size: 1024x1024
            prompt: y
        """,
        [
            "story.yaml:6:11: frames[1].size: an outpaint's size follows from its source and `by`; remove `size`"
        ],
        id="size-on-outpaint",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - id: a
            prompt: x
          - edit: a
            variation: a
            prompt: y
        """,
        ["story.yaml:6:16: frames[1].variation: a frame chains one way only; it has edit and variation"],
        id="two-chains",
    ),
    pytest.param(
        """\
        title: T
        frames:
          - caption: no prompt
        """,
        ["story.yaml:3:5: frames[0]: `prompt` is missing; every frame but a variation needs one"],
        id="missing-prompt",
    ),
    pytest.param(
        """\
        title: T
        characters:
          rex:
            description: a dog
            reference: refs/nope.png
          bob:
            description: a man
            reference: [refs/rex.png, notes.png]
          ann:
            description: a girl
            reference: [generate, refs/rex.png]
        frames:
          - id: a
            prompt: x
          - edit: a
            mask: masks/none.png
            prompt: y
          - edit: a
            mask: notes.png
            prompt: z
          - edit: pics/none.png
            prompt: w
        """,
        [
            "story.yaml:5:16: characters.rex.reference: reference file `refs/nope.png` not found (paths are relative to the story's folder)",
            "story.yaml:8:31: characters.bob.reference[1]: reference file `notes.png` is not a PNG, JPEG or WebP image",
            "story.yaml:11:16: characters.ann.reference: `generate` stands alone; give files or `generate`",
            "story.yaml:16:11: frames[1].mask: mask file `masks/none.png` not found (paths are relative to the story's folder)",
            "story.yaml:19:11: frames[2].mask: mask file `notes.png` is not a PNG, JPEG or WebP image",
            "story.yaml:21:11: frames[3].edit: source file `pics/none.png` not found (paths are relative to the story's folder)",
        ],
        id="files",
    ),
    pytest.param(
        """\
        title: T
        vars:
          frame: x
          2nd: y
          my-var: z
          class: w
          rex: v
        characters:
          previous:
            description: a ghost
          rex:
            description: a dog
        frames:
          - prompt: x
        """,
        [
            "story.yaml:3:3: vars.frame: `frame` is a reserved name in prompts; rename it (e.g. `frame_`)",
            "story.yaml:4:3: vars.2nd: `2nd` must be a Python-style identifier (letters, digits, _) to be used in prompts",
            "story.yaml:5:3: vars.my-var: `my-var` must be a Python-style identifier (letters, digits, _) to be used in prompts",
            "story.yaml:6:3: vars.class: `class` must be a Python-style identifier (letters, digits, _) to be used in prompts",
            "story.yaml:9:3: characters.previous: `previous` is a reserved name in prompts; rename it (e.g. `previous_`)",
            "story.yaml:11:3: characters.rex: `rex` is both a var and a character; rename one",
        ],
        id="names",
    ),
    pytest.param(
        """\
        title: T
        characters:
          rex:
            description: a dog
        frames:
          - prompt: x
            characters: [rexx]
          - id: a
            prompt: y
            choices: [{label: go, goto: aa}]
        """,
        [
            "story.yaml:7:17: frames[0].characters: unknown character `rexx` (did you mean `rex`?)",
            "story.yaml:10:33: frames[1].choices[0].goto: goto `aa` names no frame id (did you mean `a`?)",
        ],
        id="unknown-character-and-goto",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_problems(here: Path, text: str, expected: list[str]) -> None:
    import textwrap

    assert problems_of(textwrap.dedent(text)) == expected


def test_every_problem_of_a_file_in_one_message(here: Path) -> None:
    """Several semantic problems of different kinds are all listed, in file order."""
    lines = problems_of(
        """\
title: T
vars:
  vars: x
frames:
  - id: a
    edit: previous
    prompt: x
  - id: a
    prompt: y
    takes: 2
    pick: 5
  - edit: zz
    mask: nope.png
    prompt: z
"""
    )
    assert lines == [
        "story.yaml:3:3: vars.vars: `vars` is a reserved name in prompts; rename it (e.g. `vars_`)",
        "story.yaml:6:11: frames[0].edit: the first frame has no previous frame",
        "story.yaml:8:9: frames[1].id: duplicate id `a` (also frame 1); ids must be unique",
        "story.yaml:11:11: frames[1].pick: pick 5 but the frame has 2 take(s); pick from 1 to 2",
        "story.yaml:12:11: frames[2].edit: `zz` names no frame id",
        "story.yaml:13:11: frames[2].mask: mask file `nope.png` not found (paths are relative to the story's folder)",
    ]


def test_schema_and_chain_problems_together(here: Path) -> None:
    lines = problems_of(
        """\
title: T
frames:
  - id: a
    promt: x
  - edit: zz
    prompt: y
"""
    )
    assert lines == [
        "story.yaml:4:5: frames[0].promt: unknown key (did you mean `prompt`?)",
        "story.yaml:5:11: frames[1].edit: `zz` names no frame id",
    ]


def test_an_invalid_frame_keeps_its_id_for_the_chain_checks(here: Path) -> None:
    lines = problems_of("title: T\nframes:\n  - id: a\n    promt: x\n  - edit: a\n    prompt: y\n")
    assert lines == ["story.yaml:4:5: frames[0].promt: unknown key (did you mean `prompt`?)"]


@pytest.mark.parametrize("name", sorted(RESERVED))
def test_every_reserved_name_is_refused_as_a_var(here: Path, name: str) -> None:
    lines = problems_of(f"title: T\nvars:\n  {name}: x\nframes:\n  - prompt: x\n")
    assert lines == [
        f"story.yaml:3:3: vars.{name}: `{name}` is a reserved name in prompts; rename it (e.g. `{name}_`)"
    ]


# -- the file itself -----------------------------------------------------------------------


def test_missing_file(here: Path) -> None:
    with pytest.raises(StoryError) as err:
        load_story("nope.yaml")
    assert err.value.message == "nope.yaml: no such file. Check the path."


def test_folder(here: Path) -> None:
    with pytest.raises(StoryError) as err:
        load_story("refs")
    assert err.value.message == "refs: is a folder; give a story .yaml file."


def test_empty_file(here: Path) -> None:
    for text in ("", "\n\n", "# only a comment\n"):
        (here / "story.yaml").write_text(text)
        with pytest.raises(StoryError) as err:
            load_story("story.yaml")
        assert err.value.message == "story.yaml:1:1: the file is empty. Start from `storyboard new NAME`."


def test_binary_file(here: Path) -> None:
    (here / "story.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)))
    with pytest.raises(StoryError) as err:
        load_story("story.yaml")
    assert err.value.message == "story.yaml: is a binary file, not a YAML story."


def test_not_utf8(here: Path) -> None:
    (here / "story.yaml").write_bytes("title: caf\u00e9\nframes:\n  - prompt: x\n".encode("latin-1"))
    with pytest.raises(StoryError) as err:
        load_story("story.yaml")
    assert err.value.message == (
        "story.yaml:1:11: not UTF-8 text (a character saved in another encoding, e.g. Latin-1 or Windows-1252); "
        "save the file as UTF-8."
    )
    (here / "story.yaml").write_bytes("title: T\nframes:\n  - prompt: ça \u00e9t\u00e9\n".encode("latin-1"))
    with pytest.raises(StoryError) as err:
        load_story("story.yaml")
    assert err.value.message.startswith("story.yaml:3:13: not UTF-8 text")


def test_utf16_says_to_save_as_utf8(here: Path) -> None:
    """Windows Notepad's "Unicode" is UTF-16: say so, rather than "binary"."""
    for encoding in ("utf-16", "utf-16-be"):
        data = "title: T\nframes:\n  - prompt: x\n".encode(encoding)
        (here / "story.yaml").write_bytes(data if data[:2] in (b"\xff\xfe", b"\xfe\xff") else b"\xfe\xff" + data)
        with pytest.raises(StoryError) as err:
            load_story("story.yaml")
        assert err.value.message == (
            "story.yaml: is UTF-16 text; save it as UTF-8 (in most editors: Save As, Encoding UTF-8)."
        )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_an_endless_file_is_refused_not_read_into_memory() -> None:
    with pytest.raises(StoryError) as err:
        load_story("/dev/zero")
    assert err.value.message == "/dev/zero: holds more than 2,000,000 bytes; a story file is at most 2,000,000."


def test_huge_file_is_refused_before_parsing(here: Path) -> None:
    # Valid YAML of more than the limit: refused by size, not parsed (a parse would take seconds).
    body = MINIMAL + "# " + "x" * MAX_STORY_BYTES + "\n"
    (here / "story.yaml").write_text(body)
    with pytest.raises(StoryError) as err:
        load_story("story.yaml")
    size = len(body.encode())
    assert err.value.message == f"story.yaml: is {size:,} bytes; a story file is at most 2,000,000."


def test_alias_bomb_is_refused_fast(here: Path) -> None:
    """A 400-byte "billion laughs" expands to 10^7 values: refused, not walked for minutes."""
    lines = ["title: T", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    (here / "story.yaml").write_text("\n".join(lines) + "\nframes:\n  - prompt: x\n")
    with pytest.raises(StoryError) as err:  # refused by the count of values, before the walk could take hours
        load_story("story.yaml")
    assert err.value.message == (
        "story.yaml:7:1: a5: the story expands to more than 200,000 values (each use of an alias `*name` counts)"
    )


def test_alias_inside_its_own_anchor(here: Path) -> None:
    (here / "story.yaml").write_text("title: T\nvars: &v {style: *v}\nframes:\n  - prompt: x\n")
    with pytest.raises(StoryError) as err:
        load_story("story.yaml")
    assert err.value.message == (
        "story.yaml:2:7: vars.style: a YAML alias (`*name`) inside its own anchor (`&name`); a story cannot contain itself"
    )


def test_anchors_and_aliases_are_fine(here: Path) -> None:
    path = write_story(
        here,
        """\
        title: T
        options: &opts {output_format: webp}
        frames:
          - prompt: a
            options: *opts
          - prompt: b
            options: *opts
        """,
    )
    assert [f.options for f in load_story(path).story.frames] == [{"output_format": "webp"}] * 2


def test_bom_and_dates_are_fine(here: Path) -> None:
    """A UTF-8 BOM (Windows editors) loads; a date-like var stays the text written."""
    (here / "story.yaml").write_bytes(
        b"\xef\xbb\xbf" + b"title: T\nvars:\n  day: 2026-01-01\nframes:\n  - prompt: x\n"
    )
    loaded = load_story("story.yaml")
    assert loaded.story.vars == {"day": "2026-01-01"}


def test_valid_story_keeps_positions_and_hash(here: Path) -> None:
    import hashlib

    path = write_story(
        here,
        """\
        title: Robot Dog
        size: "16:9"
        characters:
          rex:
            description: a small silver robot dog
            reference: refs/rex.png
        frames:
          - id: lab
            prompt: "{{ rex }} wakes up"
          - id: night
            edit: lab
            mask: masks/sky.png
            prompt: the same lab at night
          - outpaint: {from: night, extend: all, by: 0.25}
            prompt: more
          - variation: refs/rex.png
        """,
    )
    loaded = load_story(path)
    assert loaded.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [f.kind for f in loaded.story.frames] == ["generate", "edit", "outpaint", "variation"]
    assert [f.source for f in loaded.story.frames] == [None, "lab", "night", "refs/rex.png"]
    assert loaded.problem(("frames", 1, "mask"), "m").line == 12


def test_json_schema_names_every_frame_key() -> None:
    schema = json_schema()
    frame = schema["$defs"]["Frame"]
    assert frame["additionalProperties"] is False
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
        "size",
        "model",
        "quality",
        "options",
        "lock",
        "characters",
        "duration",
    } <= set(frame["properties"])
    assert "from" in schema["$defs"]["Outpaint"]["properties"]  # the alias, as written in YAML
    assert schema["required"] == ["title", "frames"]


# -- YAML 1.2 scalars: what a writer types unquoted means what it says ---------------------------


def test_yaml_12_scalars_in_sizes_vars_captions_and_dialogue(here: Path) -> None:
    from storyboard.story.templating import Renderer

    path = write_story(
        here,
        """\
        title: T
        size: 16:9
        vars:
          aspect: 9:16
          answer: no
          switch: on
          room: 010
          price: 2.50
          eq: =
          count: 3
          day: 2026-01-01
        frames:
          - prompt: "{{ aspect }} {{ answer }} {{ switch }} {{ room }} {{ price }} {{ eq }} {{ count + 1 }} {{ day }}"
            size: 9:16
            caption: 010
            notes: on
            dialogue:
              - mira: No
              - rex: =
              - 007: 1:30
          - prompt: =
            caption: =
            lock: yes
        """,
    )
    loaded = load_story(path)
    s = loaded.story
    assert (s.size, s.frames[0].size) == ("16:9", "9:16")
    assert {k: str(v) for k, v in s.vars.items()} == {
        "aspect": "9:16", "answer": "no", "switch": "on", "room": "010", "price": "2.50", "eq": "=", "count": "3",
        "day": "2026-01-01",
    }  # fmt: skip
    assert s.vars["room"] == 10 and s.vars["count"] == 3  # YAML 1.2 numbers: 010 is ten, not octal eight
    assert (s.frames[0].caption, s.frames[0].notes, s.frames[1].caption, s.frames[1].prompt) == ("010", "on", "=", "=")
    assert s.frames[0].lines == [("mira", "No"), ("rex", "="), ("007", "1:30")]
    assert s.frames[1].lock is True
    assert Renderer(loaded).prompt(0) == "9:16 no on 010 2.50 = 4 2026-01-01"


def test_yaml_12_numbers_and_booleans(here: Path) -> None:
    import yaml

    from storyboard.story.yaml12 import loader

    text = "a: [1, -2, 0o17, 0x1F, 1.5, .5, 1e3, -.inf, true, False, 1:30, 0b10, 1_000, yes, Off, ~, null]\n"
    got = yaml.load(text, Loader=loader())["a"]  # noqa: S506
    assert got[:10] == [1, -2, 15, 31, 1.5, 0.5, 1000.0, float("-inf"), True, False]
    assert got[10:15] == ["1:30", "0b10", "1_000", "yes", "Off"]  # YAML 1.1 forms are text
    assert got[15:] == [None, None]
    assert [str(v) for v in got[:8]] == ["1", "-2", "0o17", "0x1F", "1.5", ".5", "1e3", "-.inf"]
    # libyaml's fast parser reads stories where it is installed: the same rules apply on that path
    assert loader().__mro__[1] is getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    assert yaml.load(text, Loader=loader(pure=True))["a"] == got  # noqa: S506


def test_numbers_sent_as_options_are_plain(here: Path) -> None:
    path = write_story(here, "title: T\noptions: {output_compression: 080}\nframes:\n  - prompt: x\n")
    options = load_story(path).story.options
    assert options == {"output_compression": 80} and type(options["output_compression"]) is int


# -- the writer's usual YAML mistakes: where, and what to do -------------------------------------

MISTAKES = [
    pytest.param(
        "title: T\nframes:\n  - prompt: x\n    caption: MAYA: It is late.\n  - prompt: a sign reads: OPEN  # a: b\n",
        [
            'story.yaml:4:14: not valid YAML: a colon and a space inside a value start a new key; put the value in '
            'quotes: caption: "MAYA: It is late."',
            'story.yaml:5:13: not valid YAML: a colon and a space inside a value start a new key; put the value in '
            'quotes: - prompt: "a sign reads: OPEN"',
        ],
        id="colon-in-value",
    ),
    pytest.param(
        'title: T\nframes:\n  - prompt: x\n    caption: He said "go": now\n',
        [
            "story.yaml:4:14: not valid YAML: a colon and a space inside a value start a new key; put the value in "
            "quotes: caption: 'He said \"go\": now'",
        ],
        id="colon-in-value-with-quotes",
    ),
    pytest.param(
        "title: T\nframes:\n  - prompt: {{ style }} a cat\n",
        [
            "story.yaml:3:13: not valid YAML: a value that starts with `{{` reads as a YAML mapping; put the value in "
            'quotes: - prompt: "{{ style }} a cat"',
        ],
        id="braces-then-text",
    ),
    pytest.param(
        "title: T\nvars:\n  style: ink\nframes:\n  - prompt: {{ style }}\n  - prompt: x\n    caption: {{ style }}\n",
        [
            "story.yaml:5:13: not valid YAML: a value that starts with `{{` reads as a YAML mapping; put the value in "
            'quotes: - prompt: "{{ style }}"',
            "story.yaml:7:14: not valid YAML: a value that starts with `{{` reads as a YAML mapping; put the value in "
            'quotes: caption: "{{ style }}"',
        ],
        id="braces-alone",
    ),
    pytest.param(
        "title: T\nframes:\n\t- prompt: x\n",
        ["story.yaml:3:1: not valid YAML: a tab in the indentation; indent with spaces"],
        id="tab",
    ),
    pytest.param(
        "title: T\nframes:\n  - prompt: x\n  \tcaption: y\n",
        ["story.yaml:4:3: not valid YAML: a tab in the indentation; indent with spaces"],
        id="tab-after-spaces",
    ),
    pytest.param(
        "title: T\nframes:\n",
        ["story.yaml:2:8: frames: a story needs at least one frame, e.g. `frames: [{prompt: a lighthouse at dusk}]`"],
        id="frames-empty",
    ),
]


@pytest.mark.parametrize(("text", "expected"), MISTAKES)
def test_yaml_mistakes_say_what_to_do(here: Path, text: str, expected: list[str]) -> None:
    assert problems_of(text) == expected


def test_colons_braces_and_tabs_inside_block_values_are_fine(here: Path) -> None:
    path = write_story(
        here,
        "title: T\nvars:\n  style: ink\nframes:\n  - prompt: |\n      {{ style }}: a: dog\n"
        "    notes: >\n      SFX: bark\tloud\n    caption: 'MAYA: It is late.'\n",
    )
    frame = load_story(path).story.frames[0]
    assert (frame.prompt, frame.notes, frame.caption) == ("{{ style }}: a: dog\n", "SFX: bark\tloud\n", "MAYA: It is late.")


# -- hostile files: a clean message, never a traceback ---------------------------------------------

HOSTILE = [
    pytest.param(
        "title: T\nvars: {1: x, 2.5: y}\nframes:\n  - prompt: x\n",
        [
            "story.yaml:2:8: vars.1: `1` must be a Python-style identifier (letters, digits, _) to be used in prompts",
            "story.yaml:2:14: vars.2.5: `2.5` must be a Python-style identifier (letters, digits, _) to be used in prompts",
        ],
        id="number-keys",
    ),
    pytest.param(
        "title: T\nduration: .inf\nframes:\n  - prompt: x\n    duration: .nan\n",
        [
            "story.yaml:2:11: duration: Input should be a finite number",
            "story.yaml:5:15: frames[0].duration: Input should be a finite number",
        ],
        id="infinite-duration",
    ),
    pytest.param(
        "title: T\nduration: 601\nframes:\n  - prompt: x\n    duration: 1000000\n",
        [
            "story.yaml:2:11: duration: Input should be less than or equal to 600",
            "story.yaml:5:15: frames[0].duration: Input should be less than or equal to 600",
        ],
        id="duration-over-ten-minutes",
    ),
    pytest.param(
        'title: T\nframes:\n  - id: "a\\n"\n    prompt: x\n  - id: ' + "a" * 65 + "\n    prompt: y\n  - id: " + "b" * 64
        + "\n    prompt: z\n",
        [
            "story.yaml:3:9: frames[0].id: an id uses only a-z, 0-9, _ and - (e.g. `city-night`)",
            "story.yaml:5:9: frames[1].id: an id is at most 64 characters (this one has 65)",
        ],
        id="ids",
    ),
    pytest.param(
        "title: T\nvars:\n  x: " + "[" * 3000 + "]" * 3000 + "\nframes:\n  - prompt: x\n",
        ["story.yaml:3:1004: nests more than 50 levels deep; a story needs a few."],
        id="nested-3000",
    ),
    pytest.param(
        "title: T\nvars:\n  x: " + "[" * 200 + "]" * 200 + "\nframes:\n  - prompt: x\n",
        ["story.yaml:3:55: vars: nests more than 50 levels deep; a story needs a few."],
        id="nested-200",
    ),
    pytest.param(
        "title: T\nframes:\n  - prompt: x\n    options: {a: " + "{b: " * 60 + "1" + "}" * 61 + "\n",
        ["story.yaml:4:206: frames: nests more than 50 levels deep; a story needs a few."],
        id="nested-options",
    ),
]


@pytest.mark.parametrize(("text", "expected"), HOSTILE)
def test_hostile_files_get_one_clean_message(here: Path, text: str, expected: list[str]) -> None:
    assert problems_of(text) == expected


# -- files a story names must lie inside its roots, and be images --------------------------------


def _png_header(width: int, height: int) -> bytes:
    """Return a PNG that announces width x height and holds no pixels (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_files_outside_the_story_folder_are_refused(here: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    secret = write_png(elsewhere / "secret.png")
    (here / "stories").mkdir()
    (here / "stories" / "linked.png").symlink_to(secret)
    (here / "stories" / "linked-dir").symlink_to(elsewhere, target_is_directory=True)
    write_png(here / "stories" / "refs" / "ok.png")
    write_png(here / "up.png")
    story = write_story(
        here / "stories",
        f"""\
        title: T
        characters:
          rex:
            description: a dog
            reference: [{secret}, refs/ok.png]
        frames:
          - prompt: "{{{{ rex }}}}"
          - edit: ../up.png
            prompt: x
          - edit: linked.png
            mask: linked-dir/secret.png
            prompt: y
        """,
    )
    with pytest.raises(StoryError) as err:
        load_story(story)
    stories = (here / "stories").resolve()
    fix = (
        "Move or copy it into the story's folder (or into a project folder above it marked by a storyboard.toml "
        "file), or allow its folder with --assets {} (or STORYBOARD_ASSETS)"
    )
    real, up = secret.resolve(), (here / "up.png").resolve()
    assert [str(p) for p in err.value.problems] == [
        f"{story}:5:17: characters.rex.reference[0]: reference file `{secret}` is {real}, outside the folders this "
        f"story may read (its own, {stories}). " + fix.format(real.parent),
        f"{story}:8:11: frames[1].edit: source file `../up.png` is {up}, outside the folders this story may read "
        f"(its own, {stories}). " + fix.format(up.parent),
        f"{story}:10:11: frames[2].edit: source file `linked.png` is {real}, outside the folders this story may "
        f"read (its own, {stories}). " + fix.format(real.parent),
        f"{story}:11:11: frames[2].mask: mask file `linked-dir/secret.png` is {real}, outside the folders this "
        f"story may read (its own, {stories}). " + fix.format(real.parent),
    ]
    # The working directory grants nothing: the same story, run from the folder that holds the files.
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.chdir(elsewhere)
    try:
        with pytest.raises(StoryError):
            load_story(story)
    finally:
        monkeypatch.undo()


def test_a_project_marker_or_assets_folder_allows_files_beside_the_story(here: Path) -> None:
    write_png(here / "cast" / "rex.png")
    text = """\
        title: T
        characters:
          rex:
            description: a dog
            reference: ../cast/rex.png
        frames:
          - prompt: "{{ rex }}"
        """
    story = write_story(here / "stories", text)
    with pytest.raises(StoryError):
        load_story(story)
    assert load_story(story, assets=(here / "cast",)).story.characters["rex"].reference == "../cast/rex.png"
    (here / "storyboard.toml").write_text("")  # a project: its stories share cast/
    loaded = load_story(story)
    assert loaded.project_dir == here.resolve()
    assert loaded.roots == ((here / "stories").resolve(), here.resolve())


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        pytest.param(
            lambda: _png_header(30000, 30000),
            "has more than 64 megapixels. Scale it down",
            id="30000x30000",
        ),
        pytest.param(
            lambda: _png_header(9000, 9000),
            "is 9000x9000; an input image is at most 16,384 pixels a side and 64 megapixels. Scale it down",
            id="9000x9000",
        ),
        pytest.param(
            lambda: _png_header(20000, 100),
            "is 20000x100; an input image is at most 16,384 pixels a side and 64 megapixels. Scale it down",
            id="too-wide",
        ),
        pytest.param(
            lambda: __import__("stories").png_bytes(64, 64)[:-30],
            "cannot be decoded: the file is truncated or damaged. Save it again",
            id="truncated-png",
        ),
        pytest.param(
            lambda: b"\x89PNG\r\n\x1a\n" + b"junk" * 40,
            "cannot be decoded: the file is truncated or damaged. Save it again",
            id="fake-png",
        ),
        pytest.param(lambda: b"GIF89a" + b"\0" * 40, "is not a PNG, JPEG or WebP image", id="gif"),
    ],
)
def test_broken_or_huge_images_are_refused_at_validation(here: Path, data: object, problem: str) -> None:
    (here / "bad.png").write_bytes(data())  # type: ignore[operator]
    lines = problems_of("title: T\nframes:\n  - id: a\n    prompt: x\n  - edit: bad.png\n    prompt: y\n")
    assert lines == [f"story.yaml:5:11: frames[1].edit: source file `bad.png` {problem}"]


def test_a_truncated_jpeg_is_refused(here: Path) -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (10, 200, 30)).save(buf, "JPEG")
    (here / "refs" / "rex.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    lines = problems_of(
        "title: T\ncharacters:\n  rex: {description: a dog, reference: refs/rex.jpg}\nframes:\n  - prompt: x\n"
    )
    assert lines == [
        "story.yaml:3:40: characters.rex.reference: reference file `refs/rex.jpg` cannot be decoded: the file is "
        "truncated or damaged. Save it again"
    ]
