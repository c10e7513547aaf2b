"""The plugin API: what a backend tells storyboard about itself, before and beside its requests.

A backend is a package that names a `Plugin` object in the entry-point group
`storyboard.backends` (the built-in `draft` and `openai` register the same way). storyboard
reads the entry points' names without importing anything; it loads a plugin object (its
module must import nothing heavy) when it plans, and asks it for a `Backend` only to run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from storyboard.models import ModelProfile, check_options, unknown_profile, unknown_warning

if TYPE_CHECKING:
    from storyboard.backends import Backend, ImageRequest

Seeds = Literal["none", "explicit", "every"]
EnvChoice = Literal["server", "key"]


@dataclass(frozen=True)
class Identity:
    """Who makes the images, as every request key hashes it: the backend's name, and the host
    (and port) requests go to, without credentials; None for a backend that runs in-process."""

    name: str
    host: str | None = None


@dataclass(frozen=True)
class Notice:
    """What the contact sheet says about a run on this backend: a short tag and a sentence."""

    tag: str  # e.g. "Draft preview"
    text: str  # e.g. "These frames are placeholders drawn offline ..."


@dataclass(frozen=True)
class Hints:
    """Sentences the CLI's generic messages use, so that no message outside a backend names it."""

    unconfigured: str | None = None  # why `auto` did not choose it, e.g. "No OPENAI_API_KEY or OPENAI_BASE_URL"
    fallback: str | None = None  # what `auto` does when it falls back to this one: "drawing offline draft frames"
    auth: str | None = None  # what to check when the server refuses the credentials (401)
    references: str | None = None  # what to use when a model takes no reference images: "use X, which takes them"


class Plugin:
    """A backend as storyboard plans for it. Subclass it (every method has a sensible default) and
    name an instance in the entry-point group `storyboard.backends`; the entry point's name must
    be the plugin's `name`."""

    name: str = ""
    free: bool = False  # costs nothing: no estimate, no spend question, the sheet says so
    # Draws a stand-in for any backend's models (the draft): those backends' profiles and checks apply.
    previews: bool = False
    # Seeds in requests: 'every' take gets one (SPEC §3), only an 'explicit' `seed:`, or 'none'
    # (a story's `seed:` is then ignored with a warning).
    seeds: Seeds = "none"
    fallback: bool = False  # `auto` chooses it when nothing else is chosen (the draft)
    notice: Notice | None = None
    hints: Hints = Hints()

    def for_story(self, folder: Path) -> Plugin:
        """Return the plugin to plan one story with, whose file is in `folder` (a backend whose model
        names are paths resolves them there); the default is this plugin itself."""
        return self

    def profiles(self) -> Sequence[ModelProfile]:
        """Return the profiles of the models this backend knows (for `storyboard models`)."""
        return ()

    def get_profile(self, model: str) -> ModelProfile:
        """Return the profile of a model name; a name it does not know gets a permissive profile."""
        return next((p for p in self.profiles() if p.name == model), None) or unknown_profile(model)

    def claims(self, model: str) -> bool:
        """Tell whether a model name is this backend's (`auto` then chooses it for the story)."""
        return any(p.name == model for p in self.profiles())

    def environment_choice(self, env: Mapping[str, str]) -> EnvChoice | None:
        """Tell whether the environment chooses this backend for `auto`: 'server' (a setting that
        names where to send requests: chosen before any backend that claims the model), 'key'
        (credentials only: chosen after them), or None."""
        return None

    def available(self, env: Mapping[str, str]) -> bool:
        """Tell whether the backend could run here (its settings are there), so `auto` may choose
        it for a model it claims."""
        return True

    def identity(self, env: Mapping[str, str]) -> Identity:
        """Return the name and host that request keys hash (credentials never in it)."""
        return Identity(self.name)

    def describe(self, identity: Identity) -> str:
        """Say where images come from, for people (the plan's title, the contact sheet)."""
        return f"{identity.name} ({identity.host})" if identity.host else identity.name

    def check_model(self, profile: ModelProfile, *, identity: Identity, today: date) -> tuple[str | None, str | None]:
        """Return (error, warning) about a model: retired, a typo, unknown; checked before any request."""
        return None, (None if profile.known else unknown_warning(profile.name))

    def check_options(self, profile: ModelProfile, options: dict[str, Any], *, kind: str) -> list[str]:
        """Return the problems of a frame's `options` for a model and request kind, one sentence each."""
        return check_options(profile, options, kind=kind)

    def settings_text(self, job: Any) -> str | None:
        """Say the settings a job runs with, where quality does not say it (`plan` shows it), e.g. "4 steps"."""
        return None

    def key_material(self, request: ImageRequest) -> dict[str, Any]:
        """Return what else a request key must hash for this backend; {} keeps keys as they were."""
        return {}

    def from_environment(self, env: Mapping[str, str], flags: Mapping[str, Any]) -> Backend:
        """Build the backend from its settings in the environment and the command line's flags;
        raise `UsageError` (exit 2) naming the setting and the fix when one is missing or wrong."""
        raise NotImplementedError(f"the {self.name} backend cannot run requests")
