"""Backends as plugins: discovery through entry points, how `auto` chooses, one backend per run,
what a backend owns (identity, profiles, checks, seeds, key material, notice), and the example
plugin in examples/backend-plugin run end to end."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from importlib import metadata
from pathlib import Path

import pytest
from stories import load, write_story
from typer.testing import CliRunner

from storyboard.backends import ImageRequest, Plugin, registry
from storyboard.backends.plugin import Identity
from storyboard.cli import app
from storyboard.errors import StoryError, UsageError
from storyboard.plan import build_plan
from storyboard.requests import assemble, for_take, request_key

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "backend-plugin"
BUILT_IN = ("draft", "local", "openai")


def sb(*args: object, env: dict[str, str] | None = None) -> object:
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200", **(env or {})})


@pytest.fixture
def solid(monkeypatch: pytest.MonkeyPatch) -> Iterator[Plugin]:
    """Install the example plugin beside the built-in ones, as its entry point would."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    found = dict(registry._entry_points())
    found["solid"] = metadata.EntryPoint("solid", "storyboard_solid:plugin", registry.GROUP)
    monkeypatch.setattr(registry, "_entry_points", lambda: found)
    registry.get.cache_clear()
    yield registry.get("solid")
    registry.get.cache_clear()


# -- discovery ----------------------------------------------------------------------------


def test_the_built_in_backends_register_as_entry_points() -> None:
    dist = metadata.distribution("storyboard-chain")
    mine = {ep.name: ep.value for ep in dist.entry_points if ep.group == registry.GROUP}
    assert mine == {name: f"storyboard.backends.{name}:plugin" for name in BUILT_IN}
    assert set(BUILT_IN) <= set(registry.names())
    for name in BUILT_IN:
        assert registry.get(name).name == name


def test_help_and_names_import_no_backend() -> None:
    code = (
        "import sys\n"
        "from storyboard.cli import app\n"
        "from storyboard.backends import registry\n"
        "names = registry.names()\n"
        "for args in (['--help'], ['run', '--help'], ['export', '--help'], ['models', '--help'], ['validate', '--help']):\n"
        "    try:\n"
        "        app(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "bad = ('openai', 'PIL', 'torch', 'diffusers', 'transformers', 'huggingface_hub', 'httpx2',\n"
        "       'storyboard.backends.draft', 'storyboard.backends.openai', 'storyboard.backends.local')\n"
        "print(names, sorted(m for m in sys.modules if m.startswith(bad)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout  # the help was printed, by the same process
    assert proc.stdout.splitlines()[-1].endswith("] []")


def test_an_unknown_backend_lists_the_installed_ones(solid: Plugin) -> None:
    with pytest.raises(UsageError) as info:
        registry.get("cloud")
    assert info.value.message == "unknown backend 'cloud'; use auto, draft, local, openai or solid."


def test_a_plugin_whose_name_disagrees_is_refused(monkeypatch: pytest.MonkeyPatch, solid: Plugin) -> None:
    found = dict(registry._entry_points())
    found["paint"] = metadata.EntryPoint("paint", "storyboard_solid:plugin", registry.GROUP)
    monkeypatch.setattr(registry, "_entry_points", lambda: found)
    with pytest.raises(UsageError, match="names itself 'solid'; its entry point and its `name` must agree"):
        registry.get("paint")
    assert "paint" not in [p.name for p in registry.installed()]  # left out, not fatal for the others


def test_a_plugin_that_fails_to_import_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    found = {**registry._entry_points(), "broken": metadata.EntryPoint("broken", "no_such_module:plugin", registry.GROUP)}
    monkeypatch.setattr(registry, "_entry_points", lambda: found)
    registry.get.cache_clear()
    with pytest.raises(UsageError, match=r"the broken backend \(no_such_module:plugin\) failed to load"):
        registry.get("broken")
    assert [p.name for p in registry.installed()] == list(BUILT_IN)
    registry.get.cache_clear()


# -- how auto chooses (SPEC §4) --------------------------------------------------------------

KEY = {"OPENAI_API_KEY": "sk-test"}
BASE = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}


@pytest.mark.parametrize(
    ("requested", "env", "models", "chosen", "host"),
    [
        ("draft", {**KEY, **BASE}, ["solid"], "draft", None),  # the flag wins
        ("solid", KEY, ["gpt-image-2"], "solid", None),
        ("auto", BASE, ["solid"], "openai", "127.0.0.1:9"),  # a base URL names a server: first
        ("auto", KEY, ["solid"], "solid", None),  # a claimed model comes before a mere key
        ("auto", KEY, ["flux-dev"], "openai", "api.openai.com"),  # nobody claims it: the key decides
        ("auto", KEY, ["gpt-image-2"], "openai", "api.openai.com"),
        ("auto", {}, ["gpt-image-2", "solid"], "solid", None),  # openai claims gpt-image-2 but has no key
        ("auto", {}, ["gpt-image-2"], "draft", None),
        ("auto", {}, [], "draft", None),
    ],
)
def test_auto(solid: Plugin, requested: str, env: dict, models: list[str], chosen: str, host: str | None) -> None:
    choice = registry.choose(requested, env, models)
    assert (choice.identity.name, choice.identity.host) == (chosen, host)
    fell_back = requested == "auto" and chosen == "draft"
    assert choice.notice == (
        "No OPENAI_API_KEY or OPENAI_BASE_URL: drawing offline draft frames (--backend draft)." if fell_back else None
    )


@pytest.mark.parametrize(
    "base", ["localhost:8080/v1", "127.0.0.1:8080", "ftp://example.com/v1", "http:///v1", "https://user:pw@/v1"]
)
def test_a_base_url_without_scheme_or_host_is_refused(base: str, tmp_path: Path) -> None:
    story = write_story(tmp_path, "title: T\nframes:\n  - prompt: a dog\n")
    result = sb("validate", story, env={"OPENAI_BASE_URL": base})
    assert result.exit_code == 2  # type: ignore[attr-defined]
    message = result.stderr  # type: ignore[attr-defined]
    assert message.startswith("Error: OPENAI_BASE_URL=") and ("http(s) URL" in message or "names no host" in message)
    assert "pw" not in message and message.count("\n") == 1


def test_validate_needs_no_key_but_run_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    story = write_story(tmp_path, "title: T\nframes:\n  - prompt: a dog\n")
    assert sb("validate", story, "--backend", "openai").exit_code == 0  # type: ignore[attr-defined]
    assert sb("plan", story, "--backend", "openai", "-o", tmp_path / "out").exit_code == 0  # type: ignore[attr-defined]
    result = sb("run", story, "--backend", "openai", "-o", tmp_path / "out")
    assert (result.exit_code, result.stderr) == (  # type: ignore[attr-defined]
        2, "Error: OPENAI_API_KEY is not set. Export it, or use --backend draft.\n"
    )


# -- one backend per run -------------------------------------------------------------------

MIXED = """\
title: T
model: gpt-image-2
frames:
  - prompt: a dog
  - prompt: a red square
    model: solid
"""


@pytest.mark.parametrize(
    ("backend", "host", "message"),
    [
        ("draft", None, "story.yaml:6:12: frames[1].model: solid is a model of the solid backend, but gpt-image-2 "
                        "is openai's: a story runs on one backend; choose models of one"),
        ("openai", "api.openai.com", "story.yaml:6:12: frames[1].model: solid is a model of the solid backend, but "
                                     "this run uses openai: a run uses one backend; use --backend solid, or a model of openai"),
        ("solid", None, "story.yaml:2:8: model: gpt-image-2 is a model of the openai backend, but this run uses "
                        "solid: a run uses one backend; use --backend openai, or a model of solid"),
    ],
)  # fmt: skip
def test_models_of_two_backends_are_a_validation_error(
    solid: Plugin, tmp_path: Path, backend: str, host: str | None, message: str
) -> None:
    with pytest.raises(StoryError) as info:
        build_plan(load(tmp_path, MIXED), backend=backend, host=host)
    assert [str(p).replace(f"{tmp_path}/", "") for p in info.value.problems] == [message]


def test_validate_checks_against_the_backend_run_would_choose(
    solid: Plugin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")  # else openai, at the server it names, comes first
    story = write_story(tmp_path, MIXED.replace("model: gpt-image-2\n", "model: solid\n").replace("    model: solid\n", ""))
    result = sb("validate", story)
    assert result.exit_code == 0 and result.stdout.endswith("story.yaml: ok (2 frames)\n")  # type: ignore[attr-defined]
    result = sb("validate", story, "--backend", "openai")
    assert result.exit_code == 2 and "solid is a model of the solid backend" in result.stderr  # type: ignore[attr-defined]


# -- what a backend owns -------------------------------------------------------------------


def test_a_free_backend_prices_nothing_and_its_profile_rules_apply(solid: Plugin, tmp_path: Path) -> None:
    plan = build_plan(load(tmp_path, "title: T\nmodel: solid\nsize: 1000x600\nframes:\n  - prompt: a\n"),
                      backend="solid", host=None)  # fmt: skip
    assert (plan.free, plan.frames[0].estimate, plan.frames[0].quality) == (True, 0.0, "flat")
    with pytest.raises(StoryError, match="1001x600: 1001 is not a multiple of 8; try 1000x600"):
        build_plan(load(tmp_path, "title: T\nmodel: solid\nsize: 1001x600\nframes:\n  - prompt: a\n"),
                   backend="solid", host=None)  # fmt: skip
    with pytest.raises(StoryError, match="shade must be light or dark, not 'grey'"):
        build_plan(load(tmp_path, "title: T\nmodel: solid\nframes:\n  - prompt: a\n    options: {shade: grey}\n"),
                   backend="solid", host=None)  # fmt: skip


SEEDED = "title: T\nmodel: {model}\nframes:\n  - id: a\n    prompt: a dog\n    takes: 2\n  - id: b\n    prompt: a cat\n    seed: 40\n    takes: 2\n"


def _seeds(tmp_path: Path, backend: str, model: str) -> tuple[list[int | None], list[str]]:
    plan = build_plan(load(tmp_path, SEEDED.format(model=model)), backend=backend, host=None)
    seeds = []
    for job in plan.jobs:
        request = assemble(plan, job, {}).request
        seeds += [for_take(plan, job, t, request)[0].seed for t in (1, 2)]
    return seeds, plan.warnings


def test_seeds_per_backend(solid: Plugin, tmp_path: Path) -> None:
    every, _ = _seeds(tmp_path, "solid", "solid")
    assert every[2:] == [40, 41] and None not in every and every[0] != every[1]
    assert _seeds(tmp_path, "draft", "gpt-image-2") == ([None, None, 40, 41], [])  # the draft draws an explicit seed
    assert _seeds(tmp_path, "openai", "gpt-image-2") == (
        [None, None, None, None], ["frame 02-b: `seed:` is ignored: the openai backend takes no seeds"]
    )


class _Weighed(Plugin):
    name = "draft"

    def key_material(self, request: ImageRequest) -> dict:
        return {"weights": "sha256:abc"} if request.model == "weighed" else {}


def test_key_material_changes_keys_only_when_a_backend_gives_some(tmp_path: Path) -> None:
    plain = ImageRequest("generate", "gpt-image-2", "a dog", "1024x1024", "medium")
    weighed = ImageRequest("generate", "weighed", "a dog", "1024x1024", "medium")
    assert request_key("draft", None, plain, "a", 1, {}) == request_key("draft", None, plain, "a", 1)
    assert request_key("draft", None, weighed, "a", 1, _Weighed().key_material(weighed)) != request_key(
        "draft", None, weighed, "a", 1
    )


def test_the_sheet_shows_the_backends_notice_from_the_manifest(
    solid: Plugin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    story = EXAMPLE / "story.yaml"
    out = tmp_path / "out"
    result = sb("run", story, "-o", out, "--quiet")  # auto: the story's model is solid's
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    run = json.loads((out / "manifest.json").read_text())["run"]
    assert {k: run[k] for k in ("backend", "base_url_host", "backend_label", "free")} == {
        "backend": "solid", "base_url_host": None, "backend_label": "solid", "free": True,
    }
    assert run["notice"] == {"tag": "Solid colours", "text": "Every frame is a flat colour from the solid example backend."}
    html = (out / "index.html").read_text()
    assert "Every frame is a flat colour from the solid example backend." in html
    assert "<title>Solid colours (solid colours) · storyboard</title>" in html
    frames = sorted(p.name for p in (out / "frames").iterdir())
    assert frames == ["01-dawn.png", "02-noon.png", "03-dusk.png"]
    from PIL import Image

    with Image.open(out / "frames" / "01-dawn.png") as img:
        assert img.size == (1536, 1024) and len(img.getcolors()) == 1  # one solid colour
    # Takes differ: each carries its own seed.
    with Image.open(out / "takes" / "02-noon-01.png") as a, Image.open(out / "takes" / "02-noon-02.png") as b:
        assert a.getpixel((0, 0)) != b.getpixel((0, 0))


def test_models_lists_every_installed_backend_and_never_cuts_a_name(solid: Plugin) -> None:
    narrow = sb("models", env={"COLUMNS": "60"})
    assert narrow.exit_code == 0  # type: ignore[attr-defined]
    lines = narrow.stdout.splitlines()  # type: ignore[attr-defined]
    for name in ("gpt-image-2.5-sunburst-2026-09-08", "chatgpt-image-latest", "dall-e-2", "solid"):
        assert any(line.split("  (")[0] == name for line in lines), name
    assert "solid  (solid)" in lines and "  3:2 image: free" in lines
    assert "draft: a stand-in that draws any backend's models, free." in lines
    wide = sb("models", env={"COLUMNS": "200"}).stdout  # type: ignore[attr-defined]
    assert "│ gpt-image-2.5-sunburst-2026-09-08 │" in wide and "│ solid " in wide


# -- typos of model names (#12.5) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "host", "error", "warning"),
    [
        ("gpt-imgae-2", "api.openai.com", "unknown model gpt-imgae-2 (did you mean gpt-image-2?)", None),
        ("gpt-image2", "api.openai.com", "unknown model gpt-image2 (did you mean gpt-image-2?)", None),
        ("GPT-IMAGE-2", "api.openai.com", "unknown model GPT-IMAGE-2 (did you mean gpt-image-2?)", None),
        ("dall-e3", "api.openai.com", "unknown model dall-e3 (did you mean dall-e-3?)", None),
        ("gpt-image-2.6", "api.openai.com", None, "may have released it"),  # may be real
        ("gpt-image-2-2026-04-22", "api.openai.com", None, "may have released it"),
        ("gpt-image-3", "api.openai.com", None, "may have released it"),
        ("stable-diffusion", "api.openai.com", None, "may have released it"),  # not close to anything
        ("gpt-imgae-2", "127.0.0.1:8080", None, "unknown model gpt-imgae-2: sizes and options are not checked"),
    ],
)
def test_a_typo_against_openai_is_an_error(model: str, host: str, error: str | None, warning: str | None) -> None:
    plugin = registry.get("openai")
    got_error, got_warning = plugin.check_model(
        plugin.get_profile(model), identity=Identity("openai", host), today=date(2026, 6, 1)
    )
    assert got_error == error
    assert (got_warning is None) if warning is None else (warning in got_warning)


def test_a_typo_in_a_story_names_the_frame_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    monkeypatch.chdir(tmp_path)
    story = write_story(Path("."), "title: T\nframes:\n  - prompt: a dog\n  - prompt: a cat\n    model: gpt-imgae-2\n")
    result = sb("validate", story, env=KEY)
    assert (result.exit_code, result.stderr) == (  # type: ignore[attr-defined]
        2, "Error: story.yaml:5:12: frames[1].model: unknown model gpt-imgae-2 (did you mean gpt-image-2?)\n"
    )
    # Another server may serve any name: a warning that names the frame using it.
    result = sb("validate", story, env={**KEY, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert result.stderr == (  # type: ignore[attr-defined]
        "Warning: story.yaml: frame 02: unknown model gpt-imgae-2: sizes and options are not checked, cost unknown\n"
    )


def test_a_typo_is_an_error_on_the_draft_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first hour without a key drafts: the typo fails now, not on the first paid run."""
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    story = write_story(Path("."), "title: T\nmodel: gpt-imgae-2\nframes:\n  - prompt: a cat\n")
    for flags in ((), ("--backend", "draft")):
        result = sb("validate", story, *flags)
        assert (result.exit_code, result.stderr) == (  # type: ignore[attr-defined]
            2, "Error: story.yaml:2:8: model: unknown model gpt-imgae-2 (did you mean gpt-image-2?)\n"
        )
    # A new name of OpenAI's shape may be real: drafted with a warning, as on OpenAI itself.
    story = write_story(Path("."), "title: T\nmodel: gpt-image-2.6\nframes:\n  - prompt: a cat\n")
    result = sb("validate", story, "--backend", "draft")
    assert result.exit_code == 0  # type: ignore[attr-defined]


# -- nothing outside backends/ names a backend ---------------------------------------------


def _backend_names() -> set[str]:
    return set(registry.names()) | set(BUILT_IN)


def test_no_module_outside_backends_names_a_backend_or_its_host() -> None:
    """A string literal equal to a backend's name, or holding OpenAI's host, is a backend named
    outside its own package (comparisons, special cases); messages ask the backends instead."""
    names, found = _backend_names(), []
    for path in sorted((ROOT / "storyboard").rglob("*.py")):
        rel = path.relative_to(ROOT / "storyboard").as_posix()
        if rel.startswith("backends/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if is_text and (node.value in names or "api.openai.com" in node.value):
                found.append(f"{rel}:{node.lineno}: {node.value!r}")
    for path in sorted((ROOT / "templates").iterdir()):
        text = path.read_text(encoding="utf-8")
        found += [f"templates/{path.name}: api.openai.com" for _ in [1] if "api.openai.com" in text]
        found += [f"templates/{path.name}: compares a backend's name" for n in names if f"== '{n}'" in text or f'== "{n}"' in text]
    assert found == []
