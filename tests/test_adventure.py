"""Branching stories: start, endings, unreachable frames, loops, and the errors of SPEC §3 about choices."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from storyboard.cli import app
from storyboard.errors import StoryError
from storyboard.plan import build_plan
from storyboard.story import adventure, load_story

REPO = Path(__file__).resolve().parent.parent

HEAD = """\
title: Cave
vars:
  style: ink wash
frames:
"""

# start -> cave | river; cave -> escape | caught; river -> cave (a merge); two endings.
ADVENTURE = HEAD + """\
  - id: start
    prompt: "A fork in the road. {{ style }}"
    text: Two ways.
    choices:
      - {label: Cave, goto: cave}
      - {label: River, goto: river}
  - id: river
    prompt: "A river. {{ style }}"
    choices:
      - {label: Swim to the cave, goto: cave}
  - id: cave
    prompt: "A cave. {{ style }}"
    choices:
      - {label: Run, goto: escape}
      - {label: Hide, goto: caught}
  - id: escape
    prompt: "Daylight. {{ style }}"
  - id: caught
    prompt: "A net. {{ style }}"
"""


def write(tmp_path: Path, text: str, name: str = "story.yaml") -> Path:
    """Write a story file and return its path."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    """Return every hard error of a story, whether or not check_story calls adventure.problems yet."""
    try:
        loaded = load_story(path)
    except StoryError as e:
        return [str(p) for p in e.problems]
    return [str(p) for p in adventure.problems(loaded)]


def test_endings_and_start(tmp_path: Path) -> None:
    loaded = load_story(write(tmp_path, ADVENTURE))
    g = adventure.graph(loaded.story)
    assert g.labels[0] == "01 start"
    assert [g.labels[i] for i in g.endings] == ["04 escape", "05 caught"]
    assert g.unreachable == ()
    assert g.stuck == ()
    assert adventure.problems(loaded) == []
    assert adventure.warnings(loaded) == []


def test_summary_for_validate(tmp_path: Path) -> None:
    loaded = load_story(write(tmp_path, ADVENTURE))
    plan = build_plan(loaded, backend="draft", host=None)
    assert adventure.summary(plan.loaded) == ", adventure: 2 endings (escape, caught), 0 unreachable"


def test_summary_is_empty_without_choices(tmp_path: Path) -> None:
    loaded = load_story(write(tmp_path, HEAD + '  - prompt: "A cat. {{ style }}"\n'))
    assert adventure.summary(loaded) == ""
    assert adventure.problems(loaded) == []
    assert adventure.warnings(loaded) == []


def test_validate_prints_the_summary(tmp_path: Path) -> None:
    path = write(tmp_path, ADVENTURE)
    result = CliRunner().invoke(app, ["validate", str(path), "--backend", "draft"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"{path}: ok (5 frames, adventure: 2 endings (escape, caught), 0 unreachable)\n"


def test_unreachable_frame_is_a_warning(tmp_path: Path) -> None:
    text = ADVENTURE + '  - id: cellar\n    prompt: "A cellar. {{ style }}"\n  - prompt: "No id. {{ style }}"\n'
    loaded = load_story(write(tmp_path, text))
    assert adventure.problems(loaded) == []
    assert adventure.warnings(loaded) == [
        "frame 06 cellar is unreachable from the start",
        "frame 07 is unreachable from the start",
    ]
    plan = build_plan(loaded, backend="draft", host=None)
    assert adventure.summary(plan.loaded) == ", adventure: 4 endings (escape, caught, cellar, frame 07), 2 unreachable"


def test_a_loop_with_a_way_out_is_fine(tmp_path: Path) -> None:
    text = ADVENTURE.replace("{label: Hide, goto: caught}", "{label: Go back, goto: start}")
    loaded = load_story(write(tmp_path, text))
    assert adventure.problems(loaded) == []
    # `caught` can no longer be reached: a warning, not an error
    assert adventure.warnings(loaded) == ["frame 05 caught is unreachable from the start"]


def test_a_trap_loop_is_a_warning(tmp_path: Path) -> None:
    text = ADVENTURE.replace("{label: Swim to the cave, goto: cave}", "{label: Swim in circles, goto: river}")
    loaded = load_story(write(tmp_path, text))
    assert adventure.problems(loaded) == []
    assert adventure.warnings(loaded) == [
        "frame 02 river: no ending can be reached from there (the reader is caught in a loop)"
    ]


def test_no_reachable_ending_is_an_error(tmp_path: Path) -> None:
    text = ADVENTURE.replace("{label: Cave, goto: cave}", "{label: Cave, goto: river}").replace(
        "{label: Swim to the cave, goto: cave}", "{label: Back, goto: start}"
    )
    path = write(tmp_path, text)
    assert errors_of(path) == [
        f"{path}:8:5: frames[0].choices: no ending can be reached from the start (frame 01 start); "
        "add a choice that leads to 04 escape, 05 caught"
    ]


def test_every_frame_with_choices_is_an_error(tmp_path: Path) -> None:
    text = HEAD + """\
  - id: a
    prompt: "A. {{ style }}"
    choices: [{label: Onward, goto: b}]
  - id: b
    prompt: "B. {{ style }}"
    choices: [{label: Back, goto: a}]
"""
    path = write(tmp_path, text)
    assert errors_of(path) == [
        f"{path}:7:5: frames[0].choices: every frame has choices, so the story never ends; "
        "give at least one frame no `choices` (an ending)"
    ]


def test_dangling_goto_is_an_error_with_file_line(tmp_path: Path) -> None:
    path = write(tmp_path, ADVENTURE.replace("goto: caught}", "goto: cuaght}"))
    assert errors_of(path) == [
        f"{path}:19:29: frames[2].choices[1].goto: goto `cuaght` names no frame id (did you mean `caught`?)"
    ]


def test_previous_as_chain_source_is_refused_with_choices(tmp_path: Path) -> None:
    text = ADVENTURE.replace('  - id: escape\n    prompt: "Daylight. {{ style }}"\n',
                             '  - id: escape\n    edit: previous\n    prompt: "Daylight. {{ style }}"\n')
    path = write(tmp_path, text)
    assert errors_of(path) == [
        f"{path}:21:11: frames[3].edit: `previous` has no meaning in a story with choices; name the frame id"
    ]


def test_previous_in_a_template_is_refused_with_choices(tmp_path: Path) -> None:
    text = ADVENTURE.replace('prompt: "Daylight. {{ style }}"', 'prompt: "After {{ previous.caption }}. {{ style }}"')
    path = write(tmp_path, text)
    loaded = load_story(path)
    with pytest.raises(StoryError) as err:
        build_plan(loaded, backend="draft", host=None)
    (problem,) = err.value.problems
    # The wording after "undefined" belongs to templating.py; the place and the cause are checked here.
    assert str(problem).startswith(f"{path}:21:13: frames[3].prompt: frame 4 escape: `previous` is undefined")


def test_the_example_adventure_validates_clean() -> None:
    path = REPO / "pipelines" / "adventure.yaml"
    loaded = load_story(path)
    assert adventure.problems(loaded) == []
    assert adventure.warnings(loaded) == []
    g = adventure.graph(loaded.story)
    assert len(g.reachable_endings) >= 2
    assert all(f.text for f in loaded.story.frames)
    plan = build_plan(loaded, backend="draft", host=None)
    assert plan.warnings == []
    assert adventure.summary(plan.loaded) == ", adventure: 3 endings (lost, lights, home), 0 unreachable"


def test_the_example_adventure_runs_on_the_draft_backend(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["run", str(REPO / "pipelines" / "adventure.yaml"), "--backend", "draft", "-o", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.stderr
    assert len(list((out / "frames").iterdir())) == 10
