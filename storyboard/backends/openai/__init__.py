"""The OpenAI backend: the Images API, or an OpenAI-compatible server at OPENAI_BASE_URL.

The plugin object here is all `storyboard` loads to plan: its settings from the environment,
its identity in request keys, OpenAI's model profiles (`profiles`) and option rules
(`options`). `client` sends requests through the `openai` SDK and `errors` maps its errors;
neither is imported until a request is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from storyboard.backends.openai import options as _options
from storyboard.backends.openai import profiles as _profiles
from storyboard.backends.plugin import EnvChoice, Hints, Identity, Plugin
from storyboard.errors import UsageError
from storyboard.models import ModelProfile

if TYPE_CHECKING:
    from storyboard.backends.openai.client import OpenAIBackend

NAME = _profiles.NAME
OPENAI_HOST = _profiles.OPENAI_HOST
DEFAULT_BASE_URL = f"https://{OPENAI_HOST}/v1"


def host_of(base_url: str) -> str:
    """Return the host (and port) of a URL as written, without any credentials in it: the one
    function that does, for request keys, the manifest and messages."""
    return urlsplit(base_url).netloc.rsplit("@", 1)[-1]


def base_url_problem(base_url: str) -> str | None:
    """Return what is wrong with a base URL (no http(s) scheme, no host), or None when it can be used."""
    parts = urlsplit(base_url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return (f"OPENAI_BASE_URL={shown_url(base_url)!r} is not an http(s) URL. Write it whole, e.g. "
                f"http://localhost:8080/v1, or unset it to use {OPENAI_HOST}.")  # fmt: skip
    try:
        parts.port  # noqa: B018  (a port that is not a number raises here)
    except ValueError:
        return f"OPENAI_BASE_URL={shown_url(base_url)!r} has a port that is not a number."
    if not parts.hostname:
        return f"OPENAI_BASE_URL={shown_url(base_url)!r} names no host."
    return None


def shown_url(base_url: str) -> str:
    """Return a base URL fit for a message: any password in it replaced."""
    parts = urlsplit(base_url)
    if parts.password:
        return base_url.replace(f":{parts.password}@", ":<redacted>@", 1)
    return base_url


def check_base_url(base_url: str) -> None:
    """Raise UsageError (exit 2) when OPENAI_BASE_URL cannot be used."""
    problem = base_url_problem(base_url)
    if problem:
        raise UsageError(problem)


class OpenAIPlugin(Plugin):
    """OpenAI as a plugin: its environment, identity, profiles and checks."""

    name = NAME
    hints = Hints(unconfigured="No OPENAI_API_KEY or OPENAI_BASE_URL", auth="Check OPENAI_API_KEY.")

    def profiles(self) -> list[_profiles.OpenAIProfile]:
        """Return OpenAI's known models, current ones first."""
        return _profiles.all_profiles()

    def get_profile(self, model: str) -> ModelProfile:
        """Return the model's profile: known, a new name of a current family, or permissive."""
        return _profiles.get_profile(model)

    def claims(self, model: str) -> bool:
        """Tell whether the name is an OpenAI model's."""
        return _profiles.claims(model)

    def environment_choice(self, env: Mapping[str, str]) -> EnvChoice | None:
        """OPENAI_BASE_URL names a server (chosen first); OPENAI_API_KEY alone is credentials."""
        if env.get("OPENAI_BASE_URL"):
            return "server"
        return "key" if env.get("OPENAI_API_KEY") else None

    def available(self, env: Mapping[str, str]) -> bool:
        """Tell whether a key or a server is set."""
        return bool(env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL"))

    def identity(self, env: Mapping[str, str]) -> Identity:
        """Return ('openai', the host of OPENAI_BASE_URL as written, else api.openai.com)."""
        base = env.get("OPENAI_BASE_URL")
        if not base:
            return Identity(NAME, OPENAI_HOST)
        check_base_url(base)
        return Identity(NAME, host_of(base))

    def describe(self, identity: Identity) -> str:
        """Say 'openai', with the host when it is not OpenAI's own."""
        own = (identity.host or OPENAI_HOST).lower() == OPENAI_HOST
        return NAME if own else f"{NAME} ({identity.host})"

    def check_model(self, profile: ModelProfile, *, identity: Identity, today: date) -> tuple[str | None, str | None]:
        """Against OpenAI's own server: retired models and typos are errors; elsewhere they are allowed."""
        own = identity.name == NAME and (identity.host or "").lower() == OPENAI_HOST
        return _profiles.lifecycle(profile, openai_host=own, today=today)

    def check_options(self, profile: ModelProfile, options: dict[str, Any], *, kind: str) -> list[str]:
        """Check options by the Images API's rules."""
        return _options.check_options(profile, options, kind=kind)

    def from_environment(self, env: Mapping[str, str], flags: Mapping[str, Any]) -> OpenAIBackend:
        """Build the client from OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORG_ID, OPENAI_PROJECT_ID."""
        from storyboard.backends.openai.client import OpenAIBackend

        key, base = env.get("OPENAI_API_KEY") or None, env.get("OPENAI_BASE_URL") or None
        if not key and not base:
            from storyboard.backends import registry

            raise UsageError(f"OPENAI_API_KEY is not set. Export it, or use --backend {registry.fallback().name}.")
        if base:
            check_base_url(base)
        return OpenAIBackend(
            api_key=key,
            base_url=base,
            organization=env.get("OPENAI_ORG_ID") or None,
            project=env.get("OPENAI_PROJECT_ID") or None,
        )


plugin = OpenAIPlugin()
