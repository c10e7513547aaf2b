"""What several commands share: the backend `auto` chooses, the plan, the `--only` selection,
the folders a story may read files from, and output folders given as arguments."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from storyboard.cli.app import err
from storyboard.errors import UsageError


def story_models(loaded: Any, override: str | None) -> list[str]:
    """Return the models a story's requests use, in story order (character sheets first)."""
    s = loaded.story
    if override:
        return [override]
    sheets = any(c.reference == "generate" for c in s.characters.values())
    used = [s.model] if sheets else []
    return list(dict.fromkeys([*used, *(f.model or s.model for f in s.frames)]))


def backend_choice(backend: str, quiet: bool, models: list[str] | None = None) -> Any:
    """Return the backend `auto` (or the flag) chooses for these models (SPEC §4), saying so when
    it falls back; an unknown name lists the installed ones (exit 2)."""
    from storyboard.backends import registry

    choice = registry.choose(backend, os.environ, models or [])
    if choice.notice and not quiet:
        err(choice.notice)
    return choice


def make_backend(plan: Any, flags: dict[str, Any] | None = None) -> Any:
    """Build the plan's backend from the environment and flags; refuse a missing or wrong setting
    (exit 2) before anything is sent."""
    return plan.plugin.from_environment(os.environ, flags or {})


def assets(flags: list[Path] | None) -> tuple[Path, ...]:
    """Return the folders given with --assets and STORYBOARD_ASSETS (each must be a folder)."""
    env = [Path(p) for p in os.environ.get("STORYBOARD_ASSETS", "").split(os.pathsep) if p]
    for folder in flags or []:
        if not folder.is_dir():
            raise UsageError(f"--assets {folder}: no such folder.")
    for folder in env:
        if not folder.is_dir():
            raise UsageError(f"STORYBOARD_ASSETS names {folder}, which is not a folder.")
    return (*(flags or []), *env)


def load_plan(story: Path, backend: str, model: str | None, quiet: bool, assets_dirs: tuple[Path, ...] = ()) -> Any:
    """Load a story and plan it for the backend `run` would choose; print its warnings unless quiet."""
    from storyboard.plan import build_plan
    from storyboard.story import load_story

    loaded = load_story(story, assets=assets_dirs)
    identity = backend_choice(backend, quiet, story_models(loaded, model)).identity
    plan = build_plan(loaded, backend=identity.name, host=identity.host, model_override=model)
    if not quiet:
        for w in plan.warnings:
            err(f"Warning: {w}")
    return plan


def selection(plan: Any, only: str | None, force: bool) -> tuple[set[int] | None, set[int]]:
    """Return the job indices `--only` chooses (None: all) and those `--force` requests again."""
    import difflib

    if only is None:
        if force:
            return None, {j.index for j in plan.jobs}
        return None, set()
    names = [x.strip() for x in only.split(",") if x.strip()]
    if not names:
        raise UsageError("--only needs frame ids or numbers, e.g. --only city,night (leave it out to run every frame).")
    chosen: set[int] = set()
    for name in names:
        job = plan.by_id(name)
        if job is None and name.isdigit():
            job = next((j for j in plan.frames if j.number == int(name)), None)
        if job is None:
            known = [j.id for j in plan.frames if j.id]
            near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]}?" if near else ""
            raise UsageError(f"--only {name}: no frame has that id or number{hint} (ids: {', '.join(known) or 'none'}).")
        chosen.add(job.index)
    return chosen, (set(chosen) if force else set())


def output_folder(path: Path) -> Path:
    """Return `path`, refusing a story file given where its output folder goes (other files: the manifest says)."""
    if path.is_file() and path.suffix.lower() in (".yaml", ".yml"):
        raise UsageError(f"{path} is a story file; give its output folder, e.g. outputs/{path.stem}.")
    return path

