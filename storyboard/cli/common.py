"""What several commands share: the backend `auto` chooses, the plan, the `--only` selection,
the folders a story may read files from, and output folders given as arguments."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from storyboard.cli.app import err
from storyboard.errors import UsageError


def backend_choice(backend: str, quiet: bool) -> tuple[str, str | None]:
    """Return (backend name, base-URL host) as `--backend auto` chooses them."""
    from urllib.parse import urlparse

    key, base = os.environ.get("OPENAI_API_KEY"), os.environ.get("OPENAI_BASE_URL")
    if backend == "auto":
        if key or base:
            backend = "openai"
        else:
            if not quiet:
                err("No OPENAI_API_KEY or OPENAI_BASE_URL: drawing offline draft frames (--backend draft).")
            backend = "draft"
    if backend == "draft":
        return "draft", None
    if backend != "openai":
        raise UsageError(f"unknown backend {backend!r}; use auto, openai or draft.")
    if base:
        from storyboard.backends.openai.client import base_url_problem

        if problem := base_url_problem(base):  # refused before anything is planned or sent (exit 2)
            raise UsageError(problem)
    # Never the credentials of user:password@host; otherwise the netloc as written, so request keys stay as they were.
    host = urlparse(base).netloc.rsplit("@", 1)[-1] if base else "api.openai.com"
    return "openai", host or "api.openai.com"


def make_backend(name: str) -> Any:
    """Return the backend that sends the requests; refuse one without its credentials (nothing sent yet)."""
    from storyboard.backends import get_backend

    if name == "draft":
        return get_backend("draft")
    if not os.environ.get("OPENAI_API_KEY") and not os.environ.get("OPENAI_BASE_URL"):
        raise UsageError("OPENAI_API_KEY is not set. Export it, or use --backend draft.")
    return get_backend(
        "openai",
        api_key=os.environ.get("OPENAI_API_KEY") or None,
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        organization=os.environ.get("OPENAI_ORG_ID") or None,
        project=os.environ.get("OPENAI_PROJECT_ID") or None,
    )


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
    name, host = backend_choice(backend, quiet)
    plan = build_plan(loaded, backend=name, host=host, model_override=model)
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

