"""What several commands share: the backend `auto` chooses, the plan, the `--only` selection."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from storyboard.cli.app import err
from storyboard.errors import UsageError


def backend_choice(backend: str, quiet: bool) -> tuple[str, str | None]:
    """Return (backend name, base-URL host) per SPEC §4's `auto` rule."""
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
    if not key and not base:
        raise UsageError("OPENAI_API_KEY is not set. Export it, or use --backend draft.")
    host = urlparse(base).netloc if base else "api.openai.com"
    return "openai", host or "api.openai.com"


def make_backend(name: str) -> Any:
    from storyboard.backends import get_backend

    if name == "draft":
        return get_backend("draft")
    return get_backend(
        "openai",
        api_key=os.environ.get("OPENAI_API_KEY") or None,
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        organization=os.environ.get("OPENAI_ORG_ID") or None,
        project=os.environ.get("OPENAI_PROJECT_ID") or None,
    )


def load_plan(story: Path, backend: str, model: str | None, quiet: bool) -> Any:
    from storyboard.plan import build_plan
    from storyboard.story import load_story

    loaded = load_story(story)
    name, host = backend_choice(backend, quiet)
    plan = build_plan(loaded, backend=name, host=host, model_override=model)
    if not quiet:
        for w in plan.warnings:
            err(f"Warning: {w}")
    return plan


def selection(plan: Any, only: str | None, force: bool) -> tuple[set[int] | None, set[int]]:
    if not only:
        if force:
            return None, {j.index for j in plan.jobs}
        return None, set()
    chosen: set[int] = set()
    for name in [x.strip() for x in only.split(",") if x.strip()]:
        job = plan.by_id(name)
        if job is None and name.isdigit():
            job = next((j for j in plan.frames if j.number == int(name)), None)
        if job is None:
            ids = ", ".join(j.id for j in plan.frames if j.id) or "none"
            raise UsageError(f"--only {name}: no frame has that id or number (ids: {ids}).")
        chosen.add(job.index)
    return chosen, (set(chosen) if force else set())

