"""The planner: sizes, qualities and options per model, lifecycles, limits, names, chains and request keys."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest
from stories import load, write_png

from storyboard.backends import ImageRequest
from storyboard.errors import StoryError
from storyboard.plan import Plan, build_plan
from storyboard.requests import assemble, for_take, request_key, take_seed

TODAY = date(2026, 11, 22)  # gpt-image-1 and DALL·E retired; the 1.5 family within 30 days of 2026-12-01
OPENAI = ("openai", "api.openai.com")
LOCAL = ("openai", "127.0.0.1:8080")
DRAFT = ("draft", None)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    write_png(tmp_path / "refs" / "rex.png")
    write_png(tmp_path / "refs" / "wide.png", 1536, 1024)
    return tmp_path


def plan_of(text: str, where: tuple[str, str | None] = DRAFT, **kw: object) -> Plan:
    """Write story.yaml in the current folder and plan it."""
    loaded = load(Path("."), textwrap.dedent(text))
    return build_plan(loaded, backend=where[0], host=where[1], today=TODAY, **kw)  # type: ignore[arg-type]


def problems_of(text: str, where: tuple[str, str | None] = DRAFT) -> list[str]:
    with pytest.raises(StoryError) as err:
        plan_of(text, where)
    return [str(p) for p in err.value.problems]


def one_frame(model: str, extra: str = "", size: str = "") -> str:
    size_line = f"size: {size!r}\n" if size else ""
    return f"title: T\nmodel: {model}\n{size_line}frames:\n  - id: a\n    prompt: a robot dog\n{extra}"


# -- sizes and presets --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "size", "sent", "warnings"),
    [
        ("gpt-image-2", "16:9", "1536x864", []),
        ("gpt-image-2", "9:16", "864x1536", []),
        ("gpt-image-2", "3:2", "1536x1024", []),
        ("gpt-image-2", "1:1", "1024x1024", []),
        ("gpt-image-2", "2048x1152", "2048x1152", []),
        ("gpt-image-2", "3840x2160", "3840x2160", ["3840x2160 is above 2560x1440: experimental"]),
        ("gpt-image-2.6-sunburst", "16:9", "1536x864", []),
        (
            "gpt-image-1.5",
            "16:9",
            "1536x1024",
            ["16:9 on gpt-image-1.5 is 1536x1024 (the closest size it has)"],
        ),
        (
            "gpt-image-1.5",
            "9:16",
            "1024x1536",
            ["9:16 on gpt-image-1.5 is 1024x1536 (the closest size it has)"],
        ),
        ("gpt-image-1.5", "3:2", "1536x1024", []),
        ("dall-e-3", "16:9", "1792x1024", ["16:9 on dall-e-3 is 1792x1024 (the closest size it has)"]),
        (
            "my-model",
            "640x480",
            "640x480",
            ["unknown model my-model: sizes and options are not checked, cost unknown"],
        ),
    ],
)
def test_sizes_and_presets(here: Path, model: str, size: str, sent: str, warnings: list[str]) -> None:
    quality = "quality: standard\n" if model == "dall-e-3" else ""
    p = plan_of(
        f"title: T\nmodel: {model}\nsize: {size!r}\n{quality}frames:\n  - prompt: a robot dog\n", LOCAL
    )
    assert p.frames[0].size == sent
    explained = " (OpenAI's word: such sizes may fail or come out less reliably; 2560x1440 and below are safe)"
    assert p.warnings == [f"frame 01: {w}" + (explained if w.endswith("experimental") else "") for w in warnings]


@pytest.mark.parametrize(
    ("model", "size", "message"),
    [
        ("gpt-image-2", "1000x1000", "1000x1000: 1000 is not a multiple of 16; try 1008x1008"),
        ("gpt-image-2", "4096x1024", "4096x1024: aspect 4:1 is past 3:1; try 3840x1280"),
        ("gpt-image-2", "512x512", "512x512: too few pixels (262,144 < 655,360); try 1024x1024"),
        ("gpt-image-2", "auto", "size 'auto' is not allowed: storyboard needs the size to lay out and price frames; "
         "use WxH (e.g. 1536x1024) or a preset (1:1, 3:2, 2:3, 16:9, 9:16)"),
        ("gpt-image-2", "big", "size 'big' is neither WxH (e.g. 1536x1024) nor a preset (1:1, 3:2, 2:3, 16:9, 9:16)"),
        ("gpt-image-1.5", "1536x864", "1536x864 is not a size of gpt-image-1.5; use one of 1024x1024, 1536x1024, 1024x1536"),
    ],
)  # fmt: skip
def test_sizes_refused(here: Path, model: str, size: str, message: str) -> None:
    got = problems_of(one_frame(model, f"    size: {size!r}\n"), LOCAL)
    assert got == [f"story.yaml:6:11: frames[0].size: {message}"]


def test_story_size_problem_is_reported_once_at_the_story_key(here: Path) -> None:
    got = problems_of("title: T\nsize: 1000x500\nframes:\n  - prompt: a\n  - prompt: b\n  - prompt: c\n")
    assert got == ["story.yaml:2:7: size: 1000x500: 1000 and 500 are not multiples of 16; try 1152x576"]


# -- qualities and options ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "quality", "message"),
    [
        (
            "gpt-image-2",
            "auto",
            "quality 'auto' is not allowed: its cost cannot be estimated; use low, medium or high",
        ),
        ("gpt-image-2", "hd", "quality 'hd' is not a quality of gpt-image-2; use low, medium or high"),
        ("gpt-image-2", "max", "quality 'max' is not a quality of gpt-image-2; use low, medium or high"),
        ("dall-e-3", "medium", "quality 'medium' is not a quality of dall-e-3; use standard or hd"),
        (
            "dall-e-3",
            "auto",
            "quality 'auto' is not allowed: its cost cannot be estimated; use standard or hd",
        ),
    ],
)
def test_qualities_refused(here: Path, model: str, quality: str, message: str) -> None:
    got = problems_of(one_frame(model, f"    quality: {quality}\n"), LOCAL)
    assert got == [f"story.yaml:6:14: frames[0].quality: {message}"]


def test_quality_xhigh_on_the_2_6_family(here: Path) -> None:
    p = plan_of(one_frame("gpt-image-2.6-flare", "    quality: xhigh\n"), OPENAI)
    assert p.frames[0].quality == "xhigh"


@pytest.mark.parametrize(
    ("model", "options", "messages"),
    [
        ("gpt-image-1.5", "{complexity: high}",
         ["option 'complexity' is not supported by gpt-image-1.5 (it is a gpt-image-2 family option)."]),
        ("gpt-image-2", "{input_fidelity: high}",
         ["option 'input_fidelity' is not supported by gpt-image-2 (only gpt-image-1.x takes it; gpt-image-2 "
          "models keep input images at high fidelity)."]),
        ("gpt-image-2", "{n: 3}",
         ["'n' is not an option: storyboard sends one image per request; use the frame key `takes` for alternatives."]),
        ("gpt-image-2", "{output_format: gif}",
         ["output_format 'gif' is not supported by storyboard; use png, jpeg or webp."]),
        ("gpt-image-2", "{output_fromat: webp}", ["unknown option 'output_fromat' (did you mean 'output_format'?)."]),
        ("gpt-image-2", "{output_compression: 50}",
         ["output_compression needs output_format jpeg or webp (png is lossless)."]),
        ("gpt-image-2", "{output_format: jpeg, background: transparent}",
         ["background 'transparent' needs output_format png or webp (jpeg has no transparency)."]),
        ("gpt-image-2", "{background: opaqe}", ["background must be auto, opaque or transparent, not 'opaqe' (did you mean 'opaque'?)."]),
        ("dall-e-3", "{background: opaque}",
         ["option 'background' is not supported by dall-e-3 (legacy DALL·E models take no options)."]),
    ],
)  # fmt: skip
def test_options_refused_per_model(here: Path, model: str, options: str, messages: list[str]) -> None:
    quality = "    quality: standard\n" if model == "dall-e-3" else ""
    got = problems_of(one_frame(model, f"    options: {options}\n" + quality), LOCAL)
    assert got == [f"story.yaml:6:14: frames[0].options: {m}" for m in messages]


def test_a_story_options_problem_is_said_at_the_story_s_options_even_beside_a_frame_s_own(here: Path) -> None:
    got = problems_of("title: T\noptions: {output_format: bmp, foo: 1}\nframes:\n  - prompt: a\n"
                      "    options: {background: opaque}\n  - prompt: b\n")
    assert len(got) == 2 and all(g.startswith("story.yaml:2:10: options: ") for g in got), got  # the story's line, not the frame's


def test_options_accepted_and_merged(here: Path) -> None:
    p = plan_of(
        """\
        title: T
        options: {output_format: webp, background: opaque}
        frames:
          - prompt: a
            options: {output_format: jpeg, output_compression: 80}
          - prompt: b
        """
    )
    assert [j.options for j in p.frames] == [
        {"output_format": "jpeg", "background": "opaque", "output_compression": 80},
        {"output_format": "webp", "background": "opaque"},
    ]


def test_moderation_refused_on_an_edit(here: Path) -> None:
    got = problems_of(
        """\
        title: T
        frames:
          - id: a
            prompt: a
          - edit: a
            prompt: b
            options: {moderation: low}
        """
    )
    assert got == [
        "story.yaml:7:14: frames[1].options: option 'moderation' is for generations only: the edits endpoint, "
        "used by this edit, does not take it."
    ]


# -- model lifecycles ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "replacement", "shutdown"),
    [
        ("gpt-image-1", "gpt-image-2.5-sunburst", "2026-10-23"),
        ("dall-e-3", "gpt-image-2", "2026-05-12"),
        ("dall-e-2", "gpt-image-2", "2026-05-12"),
    ],
)
def test_retired_model_refused_against_openai(
    here: Path, model: str, replacement: str, shutdown: str
) -> None:
    text = "title: T\nquality: standard\nframes:\n  - prompt: x\n    model: " + model + "\n"
    if model.startswith("gpt"):
        text = text.replace("quality: standard", "quality: medium")
    assert problems_of(text, OPENAI) == [
        f"story.yaml:5:12: frames[0].model: {model} was shut down on {shutdown}; use {replacement}"
    ]


def test_retired_story_model_is_reported_once_at_the_story_key(here: Path) -> None:
    got = problems_of("title: T\nmodel: gpt-image-1\nframes:\n  - prompt: a\n  - prompt: b\n", OPENAI)
    assert got == [
        "story.yaml:2:8: model: gpt-image-1 was shut down on 2026-10-23; use gpt-image-2.5-sunburst"
    ]


def test_retired_model_allowed_on_another_host(here: Path) -> None:
    p = plan_of("title: T\nmodel: gpt-image-1\nframes:\n  - prompt: a\n", LOCAL)
    assert p.frames[0].model == "gpt-image-1"
    assert p.frames[0].estimate is not None and p.frames[0].estimate > 0  # priced at the profile's rates
    # models.lifecycle keeps this silent on purpose (tests/test_models.py): other servers keep old models.
    assert p.warnings == []


def test_retired_model_allowed_on_the_draft_backend(here: Path) -> None:
    p = plan_of("title: T\nmodel: dall-e-3\nquality: hd\nframes:\n  - prompt: a\n", DRAFT)
    assert (p.frames[0].size, p.frames[0].estimate) == ("1792x1024", 0.0)  # 3:2 -> closest; drafts are free


def test_model_near_shutdown_warns_against_openai(here: Path) -> None:
    p = plan_of("title: T\nmodel: gpt-image-1.5\nframes:\n  - prompt: a\n  - prompt: b\n", OPENAI)
    assert p.warnings == ["every frame: gpt-image-1.5 shuts down on 2026-12-01 (in 9 days); use gpt-image-2.6-sunburst"]


def test_unknown_model_on_another_server(here: Path) -> None:
    p = plan_of(one_frame("flux-dev", "    options: {seed: 7}\n", size="1000x700"), LOCAL)
    job = p.frames[0]
    assert (job.size, job.options, job.estimate) == ("1000x700", {"seed": 7}, None)
    assert p.warnings == ["frame 01-a: unknown model flux-dev: sizes and options are not checked, cost unknown"]
    assert p.estimate() == (0.0, 1)  # one take that cannot be priced


def test_unknown_model_against_openai_is_a_warning_too(here: Path) -> None:
    p = plan_of(one_frame("gpt-image-7"), OPENAI)
    assert p.warnings == [
        "frame 01-a: unknown model gpt-image-7: sizes and options are not checked, cost unknown "
        "(OpenAI may have released it after this version of storyboard)"
    ]


def test_model_override(here: Path) -> None:
    p = plan_of(
        "title: T\nframes:\n  - prompt: a\n    model: gpt-image-1.5\n",
        LOCAL,
        model_override="gpt-image-2.5-flare",
    )
    assert p.frames[0].model == "gpt-image-2.5-flare"


# -- limits -------------------------------------------------------------------------------


def test_prompt_over_the_model_limit(here: Path) -> None:
    long = "x" * 4001
    got = problems_of(f"title: T\nmodel: dall-e-3\nquality: hd\nframes:\n  - prompt: {long}\n", LOCAL)
    assert got == [
        "story.yaml:5:13: frames[0].prompt: the prompt is 4,001 characters; dall-e-3 takes at most 4,000. Shorten it."
    ]
    plan_of(
        f"title: T\nmodel: dall-e-3\nquality: hd\nframes:\n  - prompt: {long[:4000]}\n", LOCAL
    )  # at the limit: fine


def test_rendered_prompt_is_what_counts(here: Path) -> None:
    """The limit applies to the prompt as sent: vars expand it past the limit."""
    got = problems_of(
        f"title: T\nmodel: dall-e-2\nquality: standard\nvars:\n  style: {'y' * 600}\nframes:\n"
        "  - prompt: '{{ style }} {{ style }}'\n",
        LOCAL,
    )
    assert got == [
        "story.yaml:7:13: frames[0].prompt: the prompt is 1,201 characters; dall-e-2 takes at most 1,000. Shorten it."
    ]


def test_too_many_input_images(here: Path) -> None:
    names = [f"c{i:02d}" for i in range(17)]
    chars = "".join(f"  {n}:\n    description: person {n}\n    reference: refs/rex.png\n" for n in names)
    prompt = " ".join("{{ " + n + " }}" for n in names)
    got = problems_of(f"title: T\ncharacters:\n{chars}frames:\n  - id: crowd\n    prompt: '{prompt}'\n")
    assert got == [
        "story.yaml:55:5: frames[0]: frame 01-crowd sends 17 input images (source and character references); "
        "gpt-image-2 takes at most 16. Name fewer characters with `characters: [...]`."
    ]
    # 16 is fine, and an explicit list narrows the frame's characters
    p = plan_of(
        f"title: T\ncharacters:\n{chars}frames:\n  - id: crowd\n    prompt: '{prompt}'\n    characters: [c00, c01]\n"
    )
    assert p.frames[0].input_count == 2


def test_chain_source_counts_as_an_input(here: Path) -> None:
    names = [f"c{i:02d}" for i in range(16)]
    chars = "".join(f"  {n}:\n    description: person {n}\n    reference: refs/rex.png\n" for n in names)
    prompt = " ".join("{{ " + n + " }}" for n in names)
    got = problems_of(
        f"title: T\ncharacters:\n{chars}frames:\n  - id: a\n    prompt: x\n  - id: b\n    edit: a\n    prompt: '{prompt}'\n"
    )
    assert got == [
        "story.yaml:54:5: frames[1]: frame 02-b sends 17 input images (source and character references); "
        "gpt-image-2 takes at most 16. Name fewer characters with `characters: [...]`."
    ]


def test_references_on_a_model_without_edits(here: Path) -> None:
    got = problems_of(
        """\
        title: T
        model: dall-e-3
        quality: hd
        characters:
          rex:
            description: a dog
            reference: refs/rex.png
        frames:
          - prompt: "{{ rex }}"
        """,
        LOCAL,
    )
    assert got == [
        "story.yaml:9:5: frames[0]: dall-e-3 cannot take input images (references of rex); "
        "use a GPT image model such as gpt-image-2"
    ]


# -- names, takes, chains -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "first", "last"),
    [
        (1, "01-f0", "01-f0"),
        (9, "01-f0", "09-f8"),
        (10, "01-f0", "10-f9"),
        (99, "01-f0", "99-f98"),
        (100, "001-f0", "100-f99"),
    ],
)
def test_frame_numbering_is_padded_to_the_frame_count(here: Path, count: int, first: str, last: str) -> None:
    frames = "".join(f"  - id: f{i}\n    prompt: frame {i}\n" for i in range(count))
    p = plan_of(f"title: T\nframes:\n{frames}")
    assert (p.frames[0].name, p.frames[-1].name, p.digits) == (first, last, len(first.split("-")[0]))
    assert [j.number for j in p.frames] == list(range(1, count + 1))


def test_id_less_frames_are_numbered_and_identified_by_occurrence(here: Path) -> None:
    p = plan_of(
        """\
        title: T
        frames:
          - prompt: same
          - id: b
            prompt: other
          - prompt: same
          - prompt: different
        """
    )
    assert [(j.name, j.ident) for j in p.frames] == [("01", "#0"), ("02-b", "b"), ("03", "#1"), ("04", "#0")]


def test_takes_and_cost(here: Path) -> None:
    p = plan_of(
        "title: T\nframes:\n  - id: a\n    prompt: x\n    takes: 3\n    pick: 2\n  - prompt: y\n", OPENAI
    )
    a = p.frames[0]
    assert (a.takes, a.pick) == (3, 2)
    total, unpriced = p.estimate()
    assert unpriced == 0
    assert total == pytest.approx(a.estimate * 3 + p.frames[1].estimate)
    assert a.estimate > 0
    from storyboard.run.forecast import forecast

    rows = forecast(p, here / "out")  # one request per take, each its own row (and key)
    assert [(r.job.name, r.take, r.status) for r in rows] == [
        ("01-a", 1, "new"), ("01-a", 2, "new"), ("01-a", 3, "new"), ("02", 1, "new"),
    ]  # fmt: skip


def test_edit_inherits_its_sources_size(here: Path) -> None:
    p = plan_of(
        """\
        title: T
        size: "16:9"
        frames:
          - id: tall
            prompt: a
            size: 1024x1536
          - id: same
            edit: tall
            prompt: b
          - id: own
            edit: tall
            prompt: c
            size: 1536x1024
          - id: prev
            edit: previous
            prompt: d
          - id: file
            edit: refs/wide.png
            prompt: e
          - id: var
            variation: same
        """
    )
    assert [(j.name, j.kind, j.size) for j in p.frames] == [
        ("01-tall", "generate", "1024x1536"),
        ("02-same", "edit", "1024x1536"),
        ("03-own", "edit", "1536x1024"),
        ("04-prev", "edit", "1536x1024"),
        ("05-file", "edit", "1536x1024"),  # the file's pixels
        ("06-var", "variation", "1024x1536"),
    ]
    assert [j.deps for j in p.frames] == [(), (0,), (0,), (2,), (), (1,)]
    assert p.frames[4].source is not None and p.frames[4].source.file == here / "refs" / "wide.png"


def test_edit_of_a_file_the_model_cannot_make_falls_back_to_the_story_size(here: Path) -> None:
    p = plan_of("title: T\nsize: '1:1'\nframes:\n  - edit: refs/rex.png\n    prompt: x\n")
    assert p.frames[0].size == "1024x1024"
    assert p.warnings == ["frame 01: its source is 64x64, which gpt-image-2 cannot make; using 1024x1024"]


@pytest.mark.parametrize(
    ("size", "extend", "by", "canvas"),
    [
        ("1536x1024", "right", 0.5, "2304x1024"),
        ("1536x1024", "left", 0.25, "1920x1024"),
        ("1024x1536", "down", 0.25, "1024x1920"),
        ("1536x1024", "all", 0.25, "1920x1280"),
        ("16:9", "right", 0.5, "2304x864"),
    ],
)
def test_outpaint_size_follows_from_the_source(
    here: Path, size: str, extend: str, by: float, canvas: str
) -> None:
    p = plan_of(
        f"title: T\nframes:\n  - id: a\n    prompt: x\n    size: {size!r}\n"
        f"  - id: b\n    outpaint: {{from: a, extend: {extend}, by: {by}}}\n    prompt: more\n"
    )
    b = p.frames[1]
    assert (b.kind, b.size, b.outpaint, b.request_kind) == (
        "outpaint",
        canvas,
        {"extend": extend, "by": by},
        "edit",
    )


def test_outpaint_chain_of_outpaints(here: Path) -> None:
    p = plan_of(
        """\
        title: T
        frames:
          - id: a
            prompt: x
          - id: b
            outpaint: {from: a, extend: right, by: 0.5}
            prompt: y
          - id: c
            outpaint: {from: previous, extend: down, by: 0.5}
            prompt: z
        """
    )
    assert [j.size for j in p.frames] == ["1536x1024", "2304x1024", "2304x1536"]


def test_outpaint_past_3_to_1_is_refused(here: Path) -> None:
    got = problems_of(
        "title: T\nframes:\n  - id: a\n    prompt: x\n  - outpaint: {from: a, extend: right, by: 2}\n    prompt: y\n"
    )
    assert got == [
        "story.yaml:5:15: frames[1].outpaint: outpaint to the right by 2 makes 4608x1024, 4.5:1; "
        "the limit is 3:1. Use a smaller `by`."
    ]


def test_character_sheets_come_first(here: Path) -> None:
    p = plan_of(
        """\
        title: T
        characters:
          mira:
            description: a lighthouse keeper
            reference: generate
        frames:
          - id: dawn
            prompt: "{{ mira }} at dawn"
        """
    )
    sheet, dawn = p.jobs
    assert (sheet.character, sheet.name, sheet.ident, sheet.number) == (
        "mira",
        "mira",
        "character:mira",
        None,
    )
    assert sheet.prompt.startswith("Character reference sheet of a lighthouse keeper.")
    assert (dawn.number, dawn.deps, dawn.request_kind) == (1, (0,), "edit")


# -- request keys -------------------------------------------------------------------------

# The key of one known request. It must never change silently: a change would make every
# user's store miss and pay for every image again. Bump KEY_VERSION on purpose instead.
KNOWN_REQUEST = ImageRequest(
    kind="generate",
    model="gpt-image-2",
    prompt="a small silver robot dog wakes up in a lab",
    size="1536x1024",
    quality="medium",
)
KNOWN_KEY = "11c95fe753c8cee5b9821f59a0b50e9f36c523b7cc8383de9588067d8f37ba86"


def test_request_key_is_pinned() -> None:
    assert request_key("openai", "api.openai.com", KNOWN_REQUEST, "lab", 1) == KNOWN_KEY


def test_request_key_ignores_the_label_and_option_order() -> None:
    from dataclasses import replace

    from storyboard.backends import FrameLabel

    labelled = replace(KNOWN_REQUEST, label=FrameLabel(7, "lab", "A caption", 1, 3))
    assert request_key("openai", "api.openai.com", labelled, "lab", 1) == KNOWN_KEY
    a = replace(KNOWN_REQUEST, options={"output_format": "webp", "background": "opaque"})
    b = replace(KNOWN_REQUEST, options={"background": "opaque", "output_format": "webp"})
    assert request_key("draft", None, a, "lab", 1) == request_key("draft", None, b, "lab", 1)


BASE = """\
title: T
size: "3:2"
characters:
  rex:
    description: a small silver robot dog
    reference: refs/rex.png
frames:
  - id: lab
    prompt: "{{ rex }} wakes up in a lab"
    caption: Rex wakes up.
    takes: 2
    pick: 1
"""


def keys(text: str, where: tuple[str, str | None] = OPENAI) -> dict[tuple[str, int], str]:
    """Return the request key of every take of every generate frame, as a run would compute it."""
    p = plan_of(text, where)
    out = {}
    for job in p.frames:
        request = assemble(p, job, {}).request
        for t in range(1, job.takes + 1):
            out[(job.name, t)] = for_take(p, job, t, request)[1]
    return out


def test_request_key_of_a_planned_frame_is_the_pinned_key(here: Path) -> None:
    """The plan sends exactly the known request: same model, prompt, size, quality, no options, no inputs."""
    text = 'title: T\nframes:\n  - id: lab\n    prompt: "a small silver robot dog wakes up in a lab"\n'
    assert keys(text) == {("01-lab", 1): KNOWN_KEY}


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        (lambda t: t, False),
        (lambda t: t.replace("pick: 1", "pick: 2"), False),
        (lambda t: t.replace("caption: Rex wakes up.", "caption: Other."), False),
        (lambda t: t + "    notes: WIDE\n    duration: 3\n", False),
        (lambda t: t.replace("wakes up in a lab", "wakes up in a shed"), True),
        (lambda t: t.replace("small silver", "small golden"), True),  # a character's description
        (lambda t: t.replace('size: "3:2"', 'size: "2:3"'), True),
        (lambda t: t + "    quality: high\n", True),
        (lambda t: t + "    model: gpt-image-2.5-flare\n", True),
        (lambda t: t + "    options: {output_format: webp}\n", True),
        (lambda t: t.replace("id: lab", "id: lab2"), True),
    ],
)
def test_what_changes_a_request_key(here: Path, change, differs: bool) -> None:
    before = keys(BASE)
    after = keys(change(BASE))
    assert (list(before.values()) != list(after.values())) is differs
    assert before[("01-lab", 1)] != before[("01-lab", 2)]  # each take has its own key


def test_request_key_changes_with_the_input_images(here: Path) -> None:
    before = keys(BASE)
    write_png(here / "refs" / "rex.png", colour=(0, 0, 255))
    assert keys(BASE)[("01-lab", 1)] != before[("01-lab", 1)]


def test_request_key_changes_with_backend_and_host(here: Path) -> None:
    on = {
        where: keys(BASE, where)[("01-lab", 1)]
        for where in (OPENAI, LOCAL, DRAFT, ("openai", "127.0.0.1:9090"))
    }
    assert (
        len(set(on.values())) == 4
    )  # a draft is never reused for a paid request; nor one server's for another


def test_id_less_frames_keep_their_keys_when_frames_are_inserted_before_them(here: Path) -> None:
    text = "title: T\nframes:\n  - prompt: same\n  - prompt: same\n"
    before = keys(text)
    after = keys(text.replace("frames:\n", "frames:\n  - id: new\n    prompt: inserted\n"))
    assert [before[("01", 1)], before[("02", 1)]] == [after[("02", 1)], after[("03", 1)]]
    assert before[("01", 1)] != before[("02", 1)]  # two identical id-less frames are two images


# -- seeds -------------------------------------------------------------------------------------

SEEDED = "title: T\nframes:\n  - id: a\n    prompt: a robot dog\n    seed: 41\n    takes: 2\n  - prompt: a cat\n"


def test_a_backend_without_seeds_ignores_seed_with_a_warning(here: Path) -> None:
    p = plan_of(SEEDED, OPENAI)
    assert "frame 01-a: `seed:` is ignored: the openai backend takes no seeds" in p.warnings
    requests = [for_take(p, j, t, assemble(p, j, {}).request)[0] for j in p.frames for t in range(1, j.takes + 1)]
    assert [r.seed for r in requests] == [None, None, None]  # nothing sent, nothing in the keys
    assert not any("seed" in w for w in plan_of(SEEDED.replace("    seed: 41\n", ""), OPENAI).warnings)


def test_a_backend_with_seeds_gets_each_takes_seed_in_its_request_and_key(here: Path) -> None:
    p = plan_of(SEEDED, OPENAI, seeds=True)
    assert not any("seed" in w for w in p.warnings)
    a, anon = p.frames
    first, key1 = for_take(p, a, 1, assemble(p, a, {}).request)
    second, key2 = for_take(p, a, 2, assemble(p, a, {}).request)
    assert (first.seed, second.seed) == (41, 42)  # take K gets seed N+K-1
    derived = for_take(p, anon, 1, assemble(p, anon, {}).request)[0].seed
    assert derived == take_seed(anon, 1) and derived is not None
    unseeded = plan_of(SEEDED, OPENAI)
    assert key1 != for_take(unseeded, unseeded.frames[0], 1, assemble(unseeded, unseeded.frames[0], {}).request)[1]
    # Rewording the prompt keeps the seed (it follows the frame's identity, never its prompt).
    reworded = plan_of(SEEDED.replace("a cat", "a black cat"), OPENAI, seeds=True)
    assert for_take(reworded, reworded.frames[1], 1, assemble(reworded, reworded.frames[1], {}).request)[0].seed == derived
