"""Prompt templates: sandboxed Jinja2, strict names, frames and characters in scope."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from stories import load, write_png

from storyboard.errors import StoryError
from storyboard.plan import build_plan
from storyboard.story.templating import Renderer, TemplateProblem, names_used

HEAD = """\
title: T
vars:
  style: watercolor
  count: 3
  night: true
characters:
  rex:
    description: a small silver robot dog
  mia:
    description: a girl in a yellow coat
frames:
"""


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _frames(text: str) -> str:
    return textwrap.indent(textwrap.dedent(text), "  ")


def prompts(folder: Path, frames: str) -> list[str]:
    """Plan HEAD + frames on the draft backend and return the rendered prompts."""
    plan = build_plan(load(Path("."), HEAD + _frames(frames)), backend="draft", host=None)
    return [j.prompt for j in plan.frames]


def problems(folder: Path, frames: str) -> list[str]:
    """Plan HEAD + frames and return the problem lines."""
    loaded = load(Path("."), HEAD + _frames(frames))
    with pytest.raises(StoryError) as err:
        build_plan(loaded, backend="draft", host=None)
    return [str(p) for p in err.value.problems]


# -- what is in scope ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("{{ rex }} in {{ style }}", "a small silver robot dog in watercolor"),
        ("{{ characters.rex }}", "a small silver robot dog"),
        ("{{ characters['mia'] }}", "a girl in a yellow coat"),
        ("{{ characters.rex.name }}: {{ characters.rex.description }}", "rex: a small silver robot dog"),
        ("{{ vars.style }} x{{ count }} {{ 'night' if night else 'day' }}", "watercolor x3 night"),
        ("frame {{ frame.number }} is {{ frame.id }}", "frame 2 is two"),
        (
            "after: {{ previous.caption }} / {{ previous.id }} / {{ previous.number }}",
            "after: The lab. / one / 1",
        ),
        ("again: {{ previous.prompt }}", "again: a small silver robot dog wakes up in watercolor"),
        ("again: {{ previous }}", "again: a small silver robot dog wakes up in watercolor"),
        ("{{ frames['one'].caption }} then {{ frames['three'].caption }}", "The lab. then The end."),
        ("{{ frames['three'].prompt }}", "the end"),
        ("{{ 'one' in frames }} {{ 'zz' in frames }}", "True False"),
        ("  <b>&amp; {{ style }}</b>  ", "<b>&amp; watercolor</b>"),  # no HTML escaping; trimmed
        ("{{ style | upper }} {{ range(3) | list | length }}", "WATERCOLOR 3"),
    ],
)
def test_render(here: Path, template: str, rendered: str) -> None:
    got = prompts(
        here,
        f"""\
          - id: one
            prompt: "{{{{ rex }}}} wakes up in {{{{ style }}}}"
            caption: The lab.
          - id: two
            prompt: {template!r}
          - id: three
            prompt: the end
            caption: The end.
        """,
    )
    assert got[1] == rendered


def test_captions_of_each_other_are_not_a_circle(here: Path) -> None:
    """A caption is known without rendering a prompt: two frames may quote each other's captions."""
    got = prompts(
        here,
        """\
          - id: a
            prompt: "before {{ frames['b'].caption }}"
            caption: A
          - id: b
            prompt: "after {{ frames['a'].caption }}"
            caption: B
        """,
    )
    assert got == ["before B", "after A"]


# -- what is refused ----------------------------------------------------------------------

# frames start on line 12 of the story (HEAD is 11 lines); each case's bad frame is the second.
REFUSED = [
    pytest.param("{{ stlye }}", "`stlye` is undefined (did you mean `style`?)", id="undefined-with-hint"),
    pytest.param(
        "{{ rexx }} runs", "`rexx` is undefined (did you mean `rex`?)", id="undefined-character-hint"
    ),
    pytest.param(
        "{{ zebra }}", "`zebra` is undefined; define it under `vars:` or `characters:`", id="undefined"
    ),
    pytest.param(
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "not allowed in a prompt: access to attribute '__class__' of 'str' object is unsafe.",
        id="sandbox-mro",
    ),
    pytest.param(
        "{{ style.__class__.__base__ }}",
        "not allowed in a prompt: access to attribute '__class__' of 'str' object is unsafe.",
        id="sandbox-var-class",
    ),
    pytest.param(
        "{{ lipsum.__globals__['os'] }}",
        "not allowed in a prompt: access to attribute '__globals__' of 'function' object is unsafe.",
        id="sandbox-globals",
    ),
    pytest.param(
        "{{ vars.update(style='x') }}",
        "not allowed in a prompt: access to attribute 'update' of 'dict' object is unsafe.",
        id="sandbox-immutable",
    ),
    pytest.param(
        "{{ range(10**6) | list | length }}",
        "template line 1: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).",
        id="sandbox-range",
    ),
    pytest.param("{{ count / 0 }}", "template line 1: division by zero", id="runtime-error"),
    pytest.param(
        "{% include 'secrets.txt' %}",
        "template line 1: `include`, `import` and `extends` are not available in prompts",
        id="include",
    ),
    pytest.param(
        "{{ frames['on'].caption }}",
        "frames['on']: no frame has the id `on` (did you mean `one`?)",
        id="frames-unknown-id",
    ),
    pytest.param(
        "{{ frames['one'].seed }}",
        "`seed` is not an attribute of this frame; a frame has id, number, prompt and caption",
        id="frame-attribute",
    ),
    pytest.param(
        "{{ 'x' * 10**9 }}", "`* 1000000000` makes more than 100,000 characters or items", id="huge-repeat"
    ),
    pytest.param("{{ [1] * 10**6 }}", "`* 1000000` makes more than 100,000 characters or items", id="huge-list"),
    pytest.param("{{ 10 ** 100000000 }}", "`10 ** 100000000` is too large a number for a prompt", id="huge-power"),
    pytest.param(
        "{% for a in range(100000) %}{% for b in range(100000) %}{{ b }}{% endfor %}{% endfor %}",
        "the template makes more than 100,000 characters; a prompt is far shorter",
        id="huge-output",
    ),
    pytest.param(
        "{{ rex.age }}",
        "`age` is not an attribute of this character; a character has name and description",
        id="character-attribute",
    ),
]


@pytest.mark.parametrize(("template", "message"), REFUSED)
def test_refused(here: Path, template: str, message: str) -> None:
    got = problems(
        here,
        f"""\
          - id: one
            prompt: hello
          - id: two
            prompt: {template!r}
        """,
    )
    assert got == [f"story.yaml:15:13: frames[1].prompt: frame 2 two: {message}"]


def test_syntax_error_names_frame_and_template_line(here: Path) -> None:
    got = problems(
        here,
        """\
          - id: lab
            prompt: hello
          - id: night
            prompt: |
              the same lab at night,
              {{ rex }} asleep,
              {{ style }
        """,
    )
    assert got == ["story.yaml:15:13: frames[1].prompt: frame 2 night: template line 3: unexpected '}'"]


def test_syntax_error_of_a_block(here: Path) -> None:
    got = problems(here, '- prompt: "{% if night %}dark"\n')
    assert got == [
        "story.yaml:12:13: frames[0].prompt: frame 1: template line 1: Unexpected end of template. "
        "Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. "
        "The innermost block that needs to be closed is 'if'."
    ]


def test_previous_on_the_first_frame(here: Path) -> None:
    got = problems(here, '- id: lab\n  prompt: "{{ previous.prompt }} again"\n')
    assert got == [
        "story.yaml:13:13: frames[0].prompt: frame 1 lab: `previous` is undefined: the first frame has no previous frame"
    ]


def test_previous_in_a_story_with_choices(here: Path) -> None:
    got = problems(
        here,
        """\
          - id: door
            prompt: a door
            choices: [{label: open it, goto: room}]
          - id: room
            prompt: "{{ previous.prompt }}, opened"
        """,
    )
    assert got == [
        "story.yaml:16:13: frames[1].prompt: frame 2 room: `previous` is undefined: a story with choices has "
        "no reading order; name the frame: frames['some-id']"
    ]


def test_prompts_in_a_circle(here: Path) -> None:
    got = problems(
        here,
        """\
          - id: a
            prompt: "{{ frames['b'].prompt }}"
          - id: b
            prompt: "{{ frames['a'].prompt }}"
        """,
    )
    circle = "prompts refer to each other in a circle (through `frames[...]` or `previous`)"
    assert got == [
        f"story.yaml:13:13: frames[0].prompt: frame 1 a: {circle}",
        f"story.yaml:15:13: frames[1].prompt: frame 2 b: {circle}",
    ]


def test_a_broken_prompt_used_by_another_is_blamed_on_its_own_frame(here: Path) -> None:
    got = problems(
        here,
        """\
          - id: a
            prompt: "{{ nope }}"
          - id: b
            prompt: "{{ previous.prompt }} later"
        """,
    )
    assert got == [
        "story.yaml:13:13: frames[0].prompt: frame 1 a: `nope` is undefined; define it under `vars:` or `characters:`",
        "story.yaml:15:13: frames[1].prompt: frame 2 b: it uses the prompt of frame 1 a, which has a problem "
        "(`nope` is undefined; define it under `vars:` or `characters:`)",
    ]


def test_every_template_problem_in_one_message(here: Path) -> None:
    got = problems(
        here,
        """\
          - prompt: "{{ stlye }}"
          - prompt: fine
          - prompt: "{{ ''.__class__ }}"
        """,
    )
    assert [line.split(": ", 2)[1] for line in got] == ["frames[0].prompt", "frames[2].prompt"]


# -- which characters a frame shows -------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "explicit", "shown"),
    [
        ("{{ rex }} runs", None, ("rex",)),
        ("{{ characters.rex }} and {{ characters['mia'] }}", None, ("rex", "mia")),
        ("{{ mia }} then {{ rex }}", None, ("rex", "mia")),  # in the story's order
        ("rex and mia play in the park", None, ()),  # plain text is not a name
        ("{{ 'rex' }} and {{ style }}", None, ()),  # nor is a string constant
        ("{{ characters.rex.description }}", None, ("rex",)),
        ("a dog", ["mia"], ("mia",)),
        ("{{ rex }}", ["mia"], ("mia",)),  # explicit wins
        ("{{ rex }}", [], ()),
    ],
)
def test_characters_of_a_frame(
    here: Path, template: str, explicit: list[str] | None, shown: tuple[str, ...]
) -> None:
    write_png(here / "refs" / "rex.png")
    write_png(here / "refs" / "mia.png")
    head = HEAD.replace("robot dog\n", "robot dog\n    reference: refs/rex.png\n").replace(
        "yellow coat\n", "yellow coat\n    reference: refs/mia.png\n"
    )
    extra = f"    characters: {explicit}\n" if explicit is not None else ""
    loaded = load(here, head + f"  - prompt: {template!r}\n" + extra)
    job = build_plan(loaded, backend="draft", host=None).frames[0]
    assert job.characters == shown
    assert [r.label for r in job.references] == [f"refs/{n}.png" for n in shown]
    assert job.request_kind == ("edit" if shown else "generate")


def test_names_used() -> None:
    assert names_used(
        "{{ a }} {{ b.c }} {{ characters.d }} {{ characters['e'] }} {% for x in f %}{{ x }}{% endfor %}"
    ) == {"a", "b", "characters", "d", "e", "f"}
    with pytest.raises(TemplateProblem, match=r"^template line 2: unexpected '}'$"):
        names_used("ok\n{{ a }")


def test_renderer_without_a_frame(here: Path) -> None:
    """A character sheet's prompt has vars and characters, but no frame, frames or previous."""
    loaded = load(here, HEAD + "  - prompt: x\n")
    r = Renderer(loaded)
    assert (
        r.render("{{ characters.mia.description }}, {{ style }}", None)
        == "a girl in a yellow coat, watercolor"
    )
    with pytest.raises(TemplateProblem, match=r"^`frame` is undefined"):
        r.render("{{ frame.number }}", None)


def test_a_template_that_never_ends_is_stopped_and_names_its_frame(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10^10 empty loop steps: stopped at the deadline (a trace hook), not left to hang validate."""
    import storyboard.story.templating as templating

    monkeypatch.setattr(templating, "RENDER_SECONDS", 0.05)
    endless = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}x"
    got = problems(here, f"- id: one\n  prompt: hello\n- id: two\n  prompt: {endless!r}\n")
    assert got == [
        "story.yaml:15:13: frames[1].prompt: frame 2 two: the template still ran after 0.05 s "
        "(a loop that never ends?); simplify it"
    ]
    # and rendering stays as it was for the prompts that end, with any trace hook put back
    import sys

    before = sys.gettrace()
    assert prompts(here, "- prompt: \"{% for i in range(3) %}{{ i }}{% endfor %} {{ 'ab' * 2 }} {{ 2 ** 10 }}\"\n") == [
        "012 abab 1024"
    ]
    assert sys.gettrace() is before


VARS_OF_VARS = """\
title: T
vars:
  palette: teal and ochre
  style: "ink, {{ palette }}"
  look: "{{ style }}, {% if night %}at night{% else %}by day{% endif %}"
  night: true
characters:
  rex:
    description: "a dog in {{ palette }}"
    reference: generate
frames:
  - prompt: "{{ rex }}. {{ look }}"
  - prompt: "{{ characters.rex.description }}; {{ vars.style }}"
"""


def test_a_var_or_a_description_may_use_other_vars(here: Path) -> None:
    # A style built from another var is sent rendered, never as `{{ palette }}` (that is paid for once per frame).
    plan = build_plan(load(here, VARS_OF_VARS), backend="draft", host=None)
    assert [j.prompt for j in plan.frames] == [
        "a dog in teal and ochre. ink, teal and ochre, at night",
        "a dog in teal and ochre; ink, teal and ochre",
    ]
    (sheet,) = [j for j in plan.jobs if j.character]
    assert "a dog in teal and ochre" in sheet.prompt and "{{" not in sheet.prompt


@pytest.mark.parametrize(
    ("vars_text", "message"),
    [
        ('  a: "{{ b }}"\n  b: "x {{ a }}"\n',
         "vars and descriptions refer to each other in a circle: vars.a -> vars.b -> vars.a"),
        ('  a: "{{ palett }}"\n  palette: teal\n', "story.yaml:3:6: vars.a: `palett` is undefined (did you mean `palette`?)"),
        ('  a: "{{ frame.number }}"\n', "story.yaml:3:6: vars.a: `frame` is undefined"),
        ('  a: "{{ vars.b }}"\n  b: "{{ characters.a }}"\n', "vars and descriptions refer to each other in a circle"),
    ],
)
def test_a_var_that_cannot_be_rendered_is_named_once_at_its_line(here: Path, vars_text: str, message: str) -> None:
    loaded = load(here, "title: T\nvars:\n" + vars_text + "frames:\n  - prompt: \"{{ a }}\"\n  - prompt: hi\n")
    with pytest.raises(StoryError) as err:
        build_plan(loaded, backend="draft", host=None)
    said = [str(p) for p in err.value.problems]
    assert len(said) == 1 and message in said[0], said  # not once more for every frame


def test_vars_read_through_vars_and_characters_and_blocks(here: Path) -> None:
    text = ('title: T\nvars: {palette: teal, look: "ink, {{ palette }}", b: "B={{ vars.look }}", '
            'c: "C={{ characters.rex.description }}", a: "{% for i in range(3) %}x{{ i }}{% endfor %}", d: "{{ vars.a }}!"}\n'
            'characters: {rex: {description: "a dog, {{ vars.look }}"}}\nframes: [{prompt: "{{ b }} | {{ c }} | {{ rex }} | {{ d }}"}]\n')
    plan = build_plan(load(here, text), backend="draft", host=None)
    assert plan.frames[0].prompt == "B=ink, teal | C=a dog, ink, teal | a dog, ink, teal | x0x1x2!"


def test_a_var_that_doubles_itself_is_stopped_early(here: Path) -> None:
    doubling = "".join(f'  v{n}: "{{{{ v{n - 1} }}}}{{{{ v{n - 1} }}}}"\n' for n in range(1, 31))
    with pytest.raises(StoryError) as err:
        build_plan(load(here, "title: T\nvars:\n  v0: ab\n" + doubling + "frames:\n  - prompt: short\n"), backend="draft", host=None)
    (said,) = [str(p) for p in err.value.problems]
    assert said.endswith("story.yaml:19:8: vars.v16: the value grows to more than 100,000 characters; a var is a phrase, not a page")
