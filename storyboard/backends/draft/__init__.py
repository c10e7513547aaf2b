"""The draft backend: offline storyboard panels, free and instant, for any backend's models.

A draft shows what a real request would ask for (kind, prompt, size, model, chain, seed), with
the profile and checks of the backend that owns the model, so a story is planned, sized and
validated as it will really run. Drawing lives in `panel` (Pillow, imported on the first draft).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from storyboard.backends import GeneratedImage, ImageRequest
from storyboard.backends.plugin import Hints, Identity, Notice, Plugin
from storyboard.models import DEFAULT_MODEL, ModelProfile

NAME = "draft"


class DraftBackend:
    """Render requests offline as storyboard panels (no network, no cost)."""

    name = NAME
    host: str | None = None

    async def generate(self, request: ImageRequest) -> GeneratedImage:
        """Draw the request's panel in a worker thread, so the event loop stays free."""
        from storyboard.backends.draft.panel import render

        return await asyncio.to_thread(render, request)

    async def aclose(self) -> None:
        """Release nothing: a draft holds no connections."""


class DraftPlugin(Plugin):
    """The draft as a plugin: free, a stand-in for every backend, what `auto` falls back to."""

    name = NAME
    free = True
    previews = True
    seeds = "explicit"  # an explicit `seed:` is drawn on the panel; none is made up
    fallback = True
    notice = Notice(
        tag="Draft preview",
        text="These frames are placeholders drawn offline by the draft backend: "
        "no image model was called and nothing was paid for.",
    )
    hints = Hints(fallback="drawing offline draft frames")

    story_dir: Path | None = None

    def for_story(self, folder: Path) -> DraftPlugin:
        """Return the draft for a story in `folder`: the owners of its models see that folder too."""
        draft = DraftPlugin()
        draft.story_dir = folder
        return draft

    def _owner(self, model: str) -> Plugin | None:
        """Return the backend whose rules a draft of this model follows: its owner, else the
        default model's (the backend `auto` would send an unclaimed name to)."""
        from storyboard.backends import registry

        owner = registry.owner(model) or registry.owner(DEFAULT_MODEL)
        return owner.for_story(self.story_dir) if owner is not None and self.story_dir is not None else owner

    def get_profile(self, model: str) -> ModelProfile:
        """Return the profile the model has on the backend that owns it."""
        owner = self._owner(model)
        return owner.get_profile(model) if owner else super().get_profile(model)

    def check_model(self, profile: ModelProfile, *, identity: Identity, today: date) -> tuple[str | None, str | None]:
        """Check the model as its owner does for a server of its own (retired models may be drafted)."""
        owner = self._owner(profile.name)
        if owner is None:
            return super().check_model(profile, identity=identity, today=today)
        error, warning = owner.check_model(profile, identity=identity, today=today)
        if error is None and not profile.known:
            # A typo is one wherever it is drafted: the owner's own service is asked (retired
            # models stay allowed), so `gpt-imgae-2` fails now, not on the first paid run.
            typo, _ = owner.check_model(profile, identity=owner.identity({}), today=today)
            if typo is not None:
                return typo, None
        return error, warning

    def check_options(self, profile: ModelProfile, options: dict[str, Any], *, kind: str) -> list[str]:
        """Check the options as the model's owner does."""
        owner = self._owner(profile.name)
        return owner.check_options(profile, options, kind=kind) if owner else super().check_options(
            profile, options, kind=kind
        )

    def from_environment(self, env: Mapping[str, str], flags: Mapping[str, Any]) -> DraftBackend:
        """Build the draft backend: it has no settings."""
        return DraftBackend()


plugin = DraftPlugin()
