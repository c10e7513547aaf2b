"""`storyboard write`: the Responses API request (strict JSON schema), the draft turned back into
a story file, validated before it is written, and SDK errors as one sentence. Against the fake API."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import FAKE_KEY
from fakeapi import FakeImagesAPI
from typer.testing import CliRunner

from storyboard import writer
from storyboard.cli import app
from storyboard.story import load_story

PREMISE = "A girl follows a blue lantern flame into an enchanted wood."

# What a model answers in the schema's shape: lists where the story has maps.
ADVENTURE: dict[str, Any] = {
    "title": "The Blue Flame",
    "size": "3:2",
    "vars": [{"name": "style", "value": "ink and watercolour graphic-novel panel, moss greens and amber"}],
    "characters": [{"name": "wren", "description": "a freckled girl with a copper bob and a yellow raincoat"}],
    "frames": [
        {"id": "edge", "prompt": "{{ wren }} at the edge of a dark wood, lantern raised, the flame blue. {{ style }}",
         "caption": "The flame points.", "notes": "WIDE.", "text": "The flame turns blue and leans to the trees.",
         "choices": [{"label": "Follow the light", "goto": "grove"}, {"label": "Go home", "goto": "home"}]},
        {"id": "grove", "prompt": "{{ wren }} in a clearing full of dark lanterns around a starlight owl. {{ style }}",
         "caption": "The owl sleeps.", "notes": None, "text": "An owl of starlight sleeps among dark lanterns.",
         "choices": [{"label": "Wake the owl", "goto": "lights"}, {"label": "Back away", "goto": "edge"}]},
        {"id": "lights", "prompt": "{{ wren }} laughing as every lantern in the clearing burns gold. {{ style }}",
         "caption": "Ending: light.", "notes": None, "text": "Every lantern catches. THE END.", "choices": []},
        {"id": "home", "prompt": "{{ wren }} at a cottage window watching a blue glow fade. {{ style }}",
         "caption": "Ending: home.", "notes": "CLOSE.", "text": "The glow fades. THE END.", "choices": []},
    ],
}

LINEAR: dict[str, Any] = {
    "title": "Rex Wakes Up!",
    "size": "16:9",
    "vars": [{"name": "style", "value": "soft watercolor storybook illustration"}],
    "characters": [{"name": "rex", "description": "a small silver robot dog with a red scarf"}],
    "frames": [
        {"id": "lab", "prompt": "{{ rex }} wakes on a workbench. {{ style }}", "caption": "Rex wakes.",
         "notes": None, "text": None, "choices": []},
        {"id": "city", "prompt": "{{ rex }} in a rainy neon city. {{ style }}", "caption": "Out.",
         "notes": "WIDE: slow push in.", "text": None, "choices": []},
    ],
}


def responses_body(story: dict[str, Any] | str, model: str = "gpt-5.1") -> dict[str, Any]:
    """Return a Responses API JSON body as the real API sends it, the story JSON in output[0].content[0].text."""
    text = story if isinstance(story, str) else json.dumps(story)
    return {
        "id": "resp_0123456789abcdef",
        "object": "response",
        "created_at": 1767225600,
        "status": "completed",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": f"{model}-2025-11-13",
        "output": [
            {"id": "rs_01", "type": "reasoning", "summary": []},
            {
                "id": "msg_0123456789abcdef",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
            },
        ],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": "medium", "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "json_schema", "name": "story", "strict": True, "schema": {}}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": 812, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 1450, "output_tokens_details": {"reasoning_tokens": 640}, "total_tokens": 2262,
        },
        "user": None,
        "metadata": {},
    }


def reply_with(api: FakeImagesAPI, story: dict[str, Any] | str) -> None:
    """Make the fake API answer /v1/responses with this story."""
    api.responses_reply = responses_body(story)
    # The body holds `"error": null` like the real one; the fake keys its 404 on the key alone.
    api.responses_status = 200


def invoke(*args: str) -> Any:
    """Run the CLI in-process."""
    return CliRunner().invoke(app, list(args))


def test_write_quotes_a_path_with_spaces_in_its_hint(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    reply_with(fake_env, ADVENTURE)
    out = tmp_path / "My Story.yaml"
    result = invoke("write", PREMISE, "--branches", "--frames", "4", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"wrote {out}. Try: storyboard run '{out}' --backend draft\n"


def test_write_sends_a_strict_schema_and_writes_a_valid_adventure(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    reply_with(fake_env, ADVENTURE)
    out = tmp_path / "blue.yaml"
    result = invoke("write", PREMISE, "--branches", "--frames", "4", "-o", str(out), "--model", "gpt-5.1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"wrote {out}. Try: storyboard run {out} --backend draft\n"

    (req,) = fake_env.requests
    assert (req.method, req.path) == ("POST", "/v1/responses")
    assert req.headers["authorization"] == f"Bearer {FAKE_KEY}"
    body = req.json
    assert body["model"] == "gpt-5.1"
    assert body["text"] == {"format": {"type": "json_schema", "name": "story", "strict": True, "schema": writer.SCHEMA}}
    system, user = body["input"]
    assert system == {"role": "system", "content": writer.SYSTEM_PROMPT}
    assert "{{ mira }}" in system["content"] and "{{ style }}" in system["content"]
    assert user["role"] == "user"
    assert user["content"].endswith(f"Premise: {PREMISE}")
    assert "choose-your-own-adventure of about 4 frames" in user["content"]

    loaded = load_story(out)
    s = loaded.story
    assert list(yaml.safe_load(out.read_text())) == ["title", "model", "size", "quality", "vars", "characters", "frames"]
    assert (s.title, s.model, s.size, s.quality) == ("The Blue Flame", "gpt-image-2", "3:2", "medium")
    assert s.vars == {"style": "ink and watercolour graphic-novel panel, moss greens and amber"}
    assert s.characters["wren"].description == "a freckled girl with a copper bob and a yellow raincoat"
    assert [f.id for f in s.frames] == ["edge", "grove", "lights", "home"]
    assert s.frames[0].choices[1].model_dump() == {"label": "Go home", "goto": "home"}
    assert (s.frames[1].notes, s.frames[2].choices) == (None, [])
    raw = yaml.safe_load(out.read_text())["frames"]
    assert list(raw[0]) == ["id", "prompt", "caption", "notes", "text", "choices"]
    assert list(raw[2]) == ["id", "prompt", "caption", "text"]  # no null notes, no empty choices

    validated = invoke("validate", str(out), "--backend", "draft")
    assert validated.stdout == f"{out}: ok (4 frames, adventure: 2 endings (lights, home), 0 unreachable)\n"
    ran = invoke("run", str(out), "--backend", "draft", "-o", str(tmp_path / "run"), "--quiet")
    assert ran.exit_code == 0, ran.stderr
    assert sorted(p.name for p in (tmp_path / "run" / "frames").iterdir()) == [
        "01-edge.png", "02-grove.png", "03-lights.png", "04-home.png"
    ]


def _walk_objects(schema: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    """Return every object schema inside `schema`, with where it stands."""
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(schema, dict):
        if schema.get("type") == "object" or "properties" in schema:
            found.append((path, schema))
        for k, v in schema.items():
            found += _walk_objects(v, f"{path}.{k}")
    elif isinstance(schema, list):
        for i, v in enumerate(schema):
            found += _walk_objects(v, f"{path}[{i}]")
    return found


def test_the_schema_sent_has_no_open_maps(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    reply_with(fake_env, ADVENTURE)
    assert invoke("write", PREMISE, "--branches", "-o", str(tmp_path / "a.yaml")).exit_code == 0
    schema = fake_env.requests[0].json["text"]["format"]["schema"]
    objects = _walk_objects(schema)
    assert len(objects) == 5  # the story, a var, a character, a frame, a choice
    for where, obj in objects:
        assert obj.get("additionalProperties") is False, where
        assert sorted(obj["required"]) == sorted(obj["properties"]), where
    # Optional values are nullable, not optional.
    frame = schema["properties"]["frames"]["items"]["properties"]
    assert frame["notes"]["type"] == ["string", "null"] and frame["text"]["type"] == ["string", "null"]


def test_a_linear_story_and_the_default_file_name(fake_env: FakeImagesAPI, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    reply_with(fake_env, LINEAR)
    monkeypatch.chdir(tmp_path)
    first = invoke("write", "a robot dog wakes up", "--frames", "2")
    assert first.exit_code == 0, first.stderr
    assert first.stdout == "wrote rex-wakes-up.yaml. Try: storyboard run rex-wakes-up.yaml --backend draft\n"
    assert "exactly 2 frames" in fake_env.requests[0].json["input"][1]["content"]
    text = (tmp_path / "rex-wakes-up.yaml").read_text()
    assert text.startswith("# Drafted by gpt-5.1 from: a robot dog wakes up\n")
    s = load_story(tmp_path / "rex-wakes-up.yaml").story
    assert s.size == "16:9" and s.frames[1].notes == "WIDE: slow push in."
    assert all(f.text is None and f.choices == [] for f in s.frames)
    # The title's file exists: the next draft gets a numbered name, never overwrites it.
    second = invoke("write", "a robot dog wakes up", "--frames", "2")
    assert second.exit_code == 0, second.stderr
    assert (tmp_path / "rex-wakes-up-2.yaml").read_text() == text.replace("rex-wakes-up.yaml", "rex-wakes-up-2.yaml")


def test_write_needs_a_key_or_a_base_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.chdir(tmp_path)
    result = invoke("write", PREMISE)
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: `storyboard write` needs a chat model: set OPENAI_API_KEY (or OPENAI_BASE_URL for a local server).\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_base_url_without_a_key_sends_a_placeholder_key(fake_api: FakeImagesAPI, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_api.base_url)
    reply_with(fake_api, LINEAR)
    result = invoke("write", PREMISE, "-o", str(tmp_path / "x.yaml"))
    assert result.exit_code == 0, result.stderr
    assert fake_api.requests[0].headers["authorization"] == "Bearer sk-no-key-required"


INVALID = [
    pytest.param(
        {**ADVENTURE, "frames": [dict(ADVENTURE["frames"][0], choices=[{"label": "On", "goto": "grvoe"}]),
                                 *ADVENTURE["frames"][1:]]},
        "Error: the story gpt-5.1 wrote (not saved): frames[0].choices[0].goto: "
        "goto `grvoe` names no frame id (did you mean `grove`?)\n",
        id="dangling-goto",
    ),
    pytest.param(
        {**ADVENTURE, "frames": [dict(f, choices=[{"label": "Again", "goto": "edge"}]) for f in ADVENTURE["frames"]]},
        "Error: the story gpt-5.1 wrote (not saved): frames[0].choices: every frame has choices, so the story "
        "never ends; give at least one frame no `choices` (an ending)\n",
        id="no-ending",
    ),
    pytest.param(
        {**ADVENTURE, "characters": [{"name": "ren", "description": "a girl"}]},
        None,  # four frames name `wren`: four problems, checked below
        id="undefined-placeholder",
    ),
    pytest.param(
        {**LINEAR},
        "Error: the story gpt-5.1 wrote (not saved): frames: --branches asked for choices, and no frame has any\n",
        id="no-choices",
    ),
    pytest.param(
        '{"title": "Cut off", "frames": [',
        "Error: gpt-5.1 did not reply with JSON: '{\"title\": \"Cut off\", \"frames\": ['. "
        "Try again, or another --model.\n",
        id="not-json",
    ),
    pytest.param(
        {**ADVENTURE, "frames": "none", "extra": 1},
        "Error: 2 problems:\n"
        "  the reply of gpt-5.1: frames: expected array, got str\n"
        "  the reply of gpt-5.1: extra: unexpected key\n",
        id="off-schema",
    ),
    pytest.param(
        {**ADVENTURE, "characters": ADVENTURE["characters"] * 2},
        "Error: the reply of gpt-5.1: characters: `wren` appears twice\n",
        id="named-twice",
    ),
]


@pytest.mark.parametrize(("story", "message"), INVALID)
def test_an_invalid_draft_is_refused_and_nothing_written(fake_env: FakeImagesAPI, tmp_path: Path,
                                                         story: Any, message: str | None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    reply_with(fake_env, copy.deepcopy(story))
    monkeypatch.chdir(tmp_path)
    result = invoke("write", PREMISE, "--branches")
    assert result.exit_code == 2
    if message is None:
        lines = result.stderr.splitlines()
        assert lines[0] == "Error: 4 problems:"
        assert lines[1].startswith("  the story gpt-5.1 wrote (not saved): frames[0].prompt: frame 1 edge: ")
        assert "wren" in lines[1] and "undefined" in lines[1]
    else:
        assert result.stderr == message
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_an_existing_output_file_is_refused_before_asking(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    out = tmp_path / "mine.yaml"
    out.write_text("title: mine\n")
    result = invoke("write", PREMISE, "-o", str(out))
    assert result.exit_code == 2
    assert result.stderr == f"Error: {out} exists; choose another -o.\n"
    assert fake_env.requests == [] and out.read_text() == "title: mine\n"


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (401, {"message": f"Incorrect API key provided: {FAKE_KEY}.", "type": "invalid_request_error",
               "param": None, "code": "invalid_api_key"},
         "Error: the API key was refused (401). Check OPENAI_API_KEY.\n"),
        (429, {"message": "You exceeded your current quota, please check your plan and billing details.",
               "type": "insufficient_quota", "param": None, "code": "insufficient_quota"},
         "Error: the account has no quota left (insufficient_quota). Add credit or raise the limit, then try again.\n"),
        (404, {"message": "The model `gpt-9` does not exist or you do not have access to it.",
               "type": "invalid_request_error", "param": None, "code": "model_not_found"},
         "Error: 127.0.0.1:{port} does not offer model `gpt-5.1` (404): The model `gpt-9` does not exist or you "
         "do not have access to it. Choose another --model.\n"),
        (400, {"message": f"Invalid schema for response_format 'story' (key {FAKE_KEY})", "type": "invalid_request_error",
               "param": "text.format.schema", "code": "invalid_json_schema"},
         "Error: 127.0.0.1:{port} refused the request (HTTP 400): Invalid schema for response_format 'story' "
         "(key <redacted>). Try another --model.\n"),
    ],
    ids=["401", "quota", "404", "400"],
)
def test_sdk_errors_are_one_sentence_without_the_key(fake_env: FakeImagesAPI, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     status: int, error: dict[str, Any], message: str) -> None:
    monkeypatch.setattr(writer, "MAX_RETRIES", 0)  # a 429 would otherwise be retried with backoff
    fake_env.responses_reply = {"error": error}
    fake_env.responses_status = status
    result = invoke("write", PREMISE, "-o", str(tmp_path / "x.yaml"))
    assert result.exit_code == 2
    assert result.stderr == message.replace("{port}", str(fake_env.port))
    assert FAKE_KEY not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_connection_failure_is_one_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              closed_base_url: str) -> None:
    monkeypatch.setattr(writer, "MAX_RETRIES", 0)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    result = invoke("write", PREMISE, "-o", str(tmp_path / "x.yaml"))
    host = closed_base_url.split("/")[2]
    assert result.exit_code == 2
    assert result.stderr == f"Error: could not connect to {host}. Check the network, or OPENAI_BASE_URL.\n"


def test_a_refusal_is_reported(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    body = responses_body(ADVENTURE)
    body["output"][1]["content"] = [{"type": "refusal", "refusal": "I can't help with that."}]
    fake_env.responses_reply, fake_env.responses_status = body, 200
    result = invoke("write", PREMISE, "-o", str(tmp_path / "x.yaml"))
    assert result.exit_code == 2
    assert result.stderr == "Error: gpt-5.1 refused to write this story: I can't help with that.\n"


def test_a_reply_cut_off_is_reported(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    body = responses_body('{"title": "Cut')
    body.update(status="incomplete", incomplete_details={"reason": "max_output_tokens"})
    fake_env.responses_reply, fake_env.responses_status = body, 200
    result = invoke("write", PREMISE, "--frames", "40", "-o", str(tmp_path / "x.yaml"))
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: gpt-5.1 stopped before the story was complete (max_output_tokens). Try fewer --frames.\n"
    )


@pytest.mark.parametrize(
    ("title", "stem"),
    [("Rex Wakes Up!", "rex-wakes-up"), ("L'Été à Paris", "l-ete-a-paris"), ("???", "story"), ("a" * 80, "a" * 60)],
)
def test_slug(title: str, stem: str) -> None:
    assert writer.slug(title) == stem


def test_a_frame_with_yaml_special_text_round_trips(tmp_path: Path) -> None:
    data = copy.deepcopy(LINEAR)
    data["frames"][0].update(caption="yes", notes="#1: {wide}", text=None)
    data["frames"][1]["prompt"] = "{{ rex }}: 'quoted' and \"double\" - on\nseveral lines. {{ style }}"
    story = writer.to_story(data)
    text = writer.render_yaml(story, premise="a premise\nover two lines", model="m", name="r.yaml")
    assert text.splitlines()[:2] == ["# Drafted by m from: a premise over two lines",
                                     "# Try it offline first: storyboard run r.yaml --backend draft"]
    assert yaml.safe_load(text) == story
    (tmp_path / "r.yaml").write_text(text)
    assert load_story(tmp_path / "r.yaml").story.frames[0].caption == "yes"


def test_an_output_folder_that_does_not_exist_is_refused_before_asking(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    result = invoke("write", PREMISE, "-o", str(tmp_path / "nope" / "x.yaml"))
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path / 'nope'} is not a folder; create it or choose another -o.\n"
    assert fake_env.requests == []
