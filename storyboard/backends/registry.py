"""The installed backends, found through the entry-point group `storyboard.backends`, and how
`auto` chooses one for a story (SPEC §4).

Names come from the entry points' metadata alone; a plugin object is loaded (its module
imported) only when it is asked for.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from storyboard.backends.plugin import Identity, Plugin
from storyboard.errors import UsageError

GROUP = "storyboard.backends"
AUTO = "auto"


@functools.cache
def _entry_points() -> dict[str, metadata.EntryPoint]:
    found: dict[str, metadata.EntryPoint] = {}
    for ep in metadata.entry_points(group=GROUP):
        found.setdefault(ep.name, ep)  # the first installed one wins, as importlib orders them
    return found


def names() -> list[str]:
    """Return the names of the installed backends, sorted (read from metadata: nothing imported)."""
    found = sorted(_entry_points())
    if not found:
        raise UsageError(
            "no backends are installed: storyboard-chain's entry points are missing from its package "
            "metadata. Reinstall it (pip install -e . in a checkout)."
        )
    return found


def _choices() -> str:
    from storyboard.models import or_list

    return or_list([AUTO, *names()])


@functools.cache
def get(name: str) -> Plugin:
    """Load the named backend's plugin object; UsageError listing the installed ones if none is."""
    ep = _entry_points().get(name)
    if ep is None:
        raise UsageError(f"unknown backend {name!r}; use {_choices()}.")
    try:
        plugin = ep.load()
    except Exception as e:  # a broken third-party package must not look like our bug
        raise UsageError(f"the {name} backend ({ep.value}) failed to load: {type(e).__name__}: {e}") from e
    if getattr(plugin, "name", None) != name:
        raise UsageError(f"the {name} backend ({ep.value}) names itself {getattr(plugin, 'name', None)!r}; "
                         f"its entry point and its `name` must agree.")  # fmt: skip
    return plugin


def installed() -> list[Plugin]:
    """Return every installed backend's plugin, by name; one that fails to load is left out."""
    out = []
    for name in names():
        try:
            out.append(get(name))
        except UsageError:
            continue  # named when someone asks for it by name
    return out


def owner(model: str) -> Plugin | None:
    """Return the backend that claims a model name (not counting previews), or None."""
    return next((p for p in installed() if not p.previews and p.claims(model)), None)


def fallback() -> Plugin:
    """Return the backend `auto` falls back to (the draft)."""
    found = next((p for p in installed() if p.fallback), None)
    if found is None:
        raise UsageError(f"no installed backend is a fallback for `auto`; choose one with --backend: {_choices()}.")
    return found


@dataclass(frozen=True)
class Choice:
    """The backend a run uses, why, and what `auto` says about it (a one-line notice or None)."""

    plugin: Plugin
    identity: Identity
    why: str
    notice: str | None = None


def choose(requested: str, env: Mapping[str, str], models: Iterable[str]) -> Choice:
    """Choose the backend (SPEC §4): the flag; a backend the environment names a server for; an
    available one that claims a model of the story (in story order); one the environment has
    credentials for; else the fallback, with a one-line notice."""
    models = list(dict.fromkeys(models))
    if requested != AUTO:
        plugin = get(requested)
        return Choice(plugin, plugin.identity(env), f"--backend {requested}")
    plugins = installed()
    for plugin in plugins:
        if plugin.environment_choice(env) == "server":
            return Choice(plugin, plugin.identity(env), "the environment names its server")
    for model in models:
        for plugin in plugins:
            if not plugin.previews and plugin.claims(model) and plugin.available(env):
                return Choice(plugin, plugin.identity(env), f"it runs {model}")
    for plugin in plugins:
        if plugin.environment_choice(env) == "key":
            return Choice(plugin, plugin.identity(env), "its credentials are in the environment")
    plugin = fallback()
    missing = [p.hints.unconfigured for p in plugins if p.hints.unconfigured]
    doing = plugin.hints.fallback or f"using the {plugin.name} backend"
    notice = f"{'; '.join(missing) or 'No backend is configured'}: {doing} (--backend {plugin.name})."
    return Choice(plugin, plugin.identity(env), "nothing else is configured", notice)


def run_facts(run: Mapping[str, Any]) -> dict[str, Any]:
    """Return what the sheet shows about a manifest's backend: `label`, `notice` ({tag, text} or
    None) and `free`; from the manifest, or, for one written before it said, from the installed
    backend of that name."""
    name = run.get("backend")
    plugin = None
    if name and ("notice" not in run or "free" not in run or "backend_label" not in run):
        try:
            plugin = get(name)
        except UsageError:
            plugin = None
    if "notice" in run:
        notice = run["notice"]
    else:
        n = plugin.notice if plugin else None
        notice = {"tag": n.tag, "text": n.text} if n else None
    free = run["free"] if "free" in run else bool(plugin and plugin.free)
    if "backend_label" in run:
        label = run["backend_label"]
    elif name:
        identity = Identity(name, run.get("base_url_host"))
        label = (plugin or Plugin()).describe(identity)
    else:
        label = None
    return {"label": label, "notice": notice, "free": free}
