"""`--backend local` end to end through the CLI, on tiny pipelines built in code: every chain kind in one
story, the cache, a changed step count, seeds across processes, the safety checker, the missing extra,
bad model names, a model missing offline, and the first-download question."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("diffusers")

from storyboard.backends.local import tiny  # noqa: E402
from storyboard.cli import app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny.build_all(tmp_path_factory.mktemp("tinycli"))


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("OPENAI_BASE_URL")  # SPEC §4: a base URL would choose openai before any claim


def story(folder: Path, models: dict[str, Path], *, steps: int = 2, night_steps: int | None = None) -> Path:
    """Write a story with every chain kind on the tiny models; return its path."""
    shutil.copy(ROOT / "pipelines" / "masks" / "local-tiny-top.png", folder / "top.png")
    shutil.copy(ROOT / "pipelines" / "refs" / "local-tiny-rex.png", folder / "rex.png")
    night = f"\n    options: {{steps: {night_steps}}}" if night_steps else ""
    text = f"""\
title: Tiny
model: {models['sd']}
size: 64x64
options: {{steps: {steps}}}
characters:
  rex:
    description: a small silver robot dog
    reference: rex.png
frames:
  - id: lab
    prompt: a robot dog wakes up on a workbench
    takes: 2
    seed: 5
  - id: night
    edit: lab
    prompt: the same lab at night{night}
  - id: sky
    edit: lab
    mask: top.png
    prompt: a stormy sky
  - id: wider
    outpaint: {{from: lab, extend: right, by: 0.5}}
    prompt: the lab goes on
  - id: again
    variation: lab
  - id: walk
    model: {models['klein']}
    prompt: "{{{{ rex }}}} walks in the rain"
"""
    path = folder / "story.yaml"
    path.write_text(text)
    return path


def sb(*args: object) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def picked(m: dict) -> dict[str, dict]:
    return {e["id"]: e for e in m["frames"] if e["picked"]}


def test_every_chain_kind_runs_and_a_rerun_makes_nothing(tmp_path: Path, models: dict[str, Path]) -> None:
    path, out = story(tmp_path, models), tmp_path / "out"
    result = sb("run", path, "--backend", "local", "-o", out, "-q")
    assert result.exit_code == 0, result.output
    m = manifest(out)
    frames = picked(m)
    assert {e["status"] for e in m["frames"]} == {"ok"}
    assert frames["wider"]["width"] == 96 and frames["lab"]["width"] == 64
    assert [e["seed"] for e in m["frames"] if e["id"] == "lab"] == [5, 6]  # take K: seed + K - 1
    pipelines = {k: e["pipeline"] for k, e in frames.items()}
    assert pipelines == {
        "lab": "StableDiffusionPipeline", "night": "StableDiffusionImg2ImgPipeline",
        "sky": "StableDiffusionInpaintPipeline", "wider": "StableDiffusionInpaintPipeline",
        "again": "StableDiffusionImg2ImgPipeline", "walk": "Flux2KleinPipeline",
    }
    assert frames["night"]["steps"] == 2 and frames["night"]["strength"] == 0.75
    assert frames["lab"]["weights"].startswith("sha256:") and frames["lab"]["licence"] == "unknown"
    assert m["totals"]["run"]["cost_usd"] == 0
    takes = [e for e in m["frames"] if e["id"] == "lab"]
    assert takes[0]["sha256"] != takes[1]["sha256"]  # different takes, different seeds, different pictures
    # the same story again: everything from the cache, no model loaded
    again = sb("run", path, "--backend", "local", "-o", out)
    assert again.exit_code == 0, again.output
    assert "Loading" not in again.stderr
    m2 = manifest(out)
    assert m2["totals"]["run"]["requests"] == 0 and {e["status"] for e in m2["frames"]} == {"cached"}


def test_a_changed_step_count_makes_that_frame_stale(tmp_path: Path, models: dict[str, Path]) -> None:
    path, out = story(tmp_path, models), tmp_path / "out"
    assert sb("run", path, "--backend", "local", "-o", out, "-q").exit_code == 0
    story(tmp_path, models, night_steps=3)
    plan = sb("plan", path, "--backend", "local", "-o", out)
    assert plan.exit_code == 0, plan.output
    cells = [[c.strip() for c in line.split("│")] for line in plan.stdout.splitlines() if "│" in line]
    rows = {c[1]: " ".join(c) for c in cells if c[1][:2].isdigit()}
    assert "stale" in rows["02-night"] and "3 steps" in rows["02-night"]
    assert "cached" in rows["01-lab"] and "2 steps" in rows["01-lab"]
    result = sb("run", path, "--backend", "local", "-o", out, "-q")
    assert result.exit_code == 0, result.output
    m = manifest(out)
    assert m["totals"]["run"]["requests"] == 1 and picked(m)["night"]["steps"] == 3


def test_two_processes_make_the_same_bytes(tmp_path: Path, models: dict[str, Path]) -> None:
    path = story(tmp_path, models)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    shas = []
    for name in ("a", "b"):
        cmd = [sys.executable, "-m", "storyboard", "run", str(path), "--backend", "local", "-o", str(tmp_path / name),
               "-q", "--only", "lab,walk", "--device", "cpu"]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, proc.stderr
        made = [*(tmp_path / name / "takes").iterdir(), *(tmp_path / name / "frames").iterdir()]
        shas.append({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in made})
    assert shas[0] == shas[1] and len(shas[0]) >= 3


def test_a_flagged_image_fails_its_frame_as_moderation(tmp_path: Path, models: dict[str, Path]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"title: T\nmodel: {models['sd-flagging']}\nsize: 64x64\noptions: {{steps: 1}}\n"
                    "frames:\n  - id: a\n    prompt: anything\n")
    result = sb("run", path, "--backend", "local", "-o", tmp_path / "out")
    assert result.exit_code == 1
    e = picked(manifest(tmp_path / "out"))["a"]
    assert e["status"] == "failed" and e["error"]["type"] == "moderation" and e["file"] is None
    assert "safety checker" in result.stderr


def test_without_the_extra_it_says_how_to_install_it(tmp_path: Path, models: dict[str, Path],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = story(tmp_path, models)
    monkeypatch.setitem(sys.modules, "diffusers", None)  # as if not installed: `import diffusers` fails
    result = sb("run", path, "--backend", "local", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "pip install 'storyboard-chain[local]'" in result.stderr and "diffusers" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_a_folder_that_is_not_a_pipeline_is_one_message(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    path = tmp_path / "s.yaml"
    path.write_text("title: T\nmodel: ./weights\nframes:\n  - prompt: a dog\n")
    result = sb("validate", path)  # auto chooses local: it claims ./ paths
    assert result.exit_code == 2
    assert "no model_index.json" in result.stderr and str((tmp_path / "weights").resolve()) in result.stderr
    assert sb("validate", path, "--backend", "draft").exit_code == 0  # a draft of it only warns


def test_references_on_stable_diffusion_name_a_model_that_can(tmp_path: Path, models: dict[str, Path]) -> None:
    path = tmp_path / "s.yaml"
    (tmp_path / "rex.png").write_bytes((ROOT / "pipelines" / "refs" / "local-tiny-rex.png").read_bytes())
    path.write_text(f"title: T\nmodel: {models['sd']}\ncharacters:\n  rex:\n    description: a dog\n"
                    "    reference: rex.png\nframes:\n  - prompt: \"{{ rex }} runs\"\n")
    result = sb("validate", path, "--backend", "local")
    assert result.exit_code == 2
    assert "reference images" in result.stderr and "cannot take" in result.stderr
    assert "use black-forest-labs/FLUX.2-klein-4B, which takes several input images" in result.stderr


def test_a_repo_missing_offline_names_repo_size_and_cache(tmp_path: Path) -> None:
    path = ROOT / "pipelines" / "local-generate.yaml"
    result = sb("run", path, "-o", tmp_path / "out", "--device", "cpu")  # auto: local claims sd-turbo
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert "stabilityai/sd-turbo" in err and "5.2 GB" in err and str(tmp_path / "hf") in err
    assert "Traceback" not in result.output


def test_models_lists_the_local_profiles_with_their_licence() -> None:
    result = sb("models")
    assert result.exit_code == 0
    assert "stabilityai/sd-turbo" in result.stdout and "sai-nc-community" in result.stdout
    assert "apache-2.0" in result.stdout


def test_a_non_commercial_licence_is_a_warning_in_plan(tmp_path: Path) -> None:
    result = sb("plan", ROOT / "pipelines" / "local-edit.yaml", "--backend", "draft", "-o", tmp_path / "o")
    assert result.exit_code == 0, result.output
    assert "non-commercial licence" in result.stderr


def test_device_flag_is_checked(tmp_path: Path, models: dict[str, Path]) -> None:
    result = sb("run", story(tmp_path, models), "--backend", "local", "--device", "gpu0")
    assert result.exit_code == 2 and "use cuda, cuda:N, mps or cpu" in result.output


def test_requests_go_one_at_a_time_however_parallel_the_story(tmp_path: Path, models: dict[str, Path],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from storyboard.backends.local.backend import LocalBackend

    real, now, most = LocalBackend.generate, [0], [0]

    async def counted(self, request):  # type: ignore[no-untyped-def]
        now[0] += 1
        most[0] = max(most[0], now[0])
        try:
            return await real(self, request)
        finally:
            now[0] -= 1

    monkeypatch.setattr(LocalBackend, "generate", counted)
    result = sb("run", story(tmp_path, models), "--backend", "local", "-o", tmp_path / "out", "-q", "-j", "4",
                "--only", "lab,night,sky")
    assert result.exit_code == 0, result.output
    assert most[0] == 1  # the runner sends no more than the backend makes at once: nothing queues unsent
