"""The local backend as a plugin: its profiles, the model names it claims, its checks, what its request
keys add, and its settings from the environment and flags. Imports nothing heavy: torch and diffusers
are imported when the first image is made."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from storyboard.backends.local import profiles, sources
from storyboard.backends.local.profiles import LocalProfile
from storyboard.backends.plugin import Hints, Identity, Plugin
from storyboard.errors import UsageError
from storyboard.models import ModelProfile, SizeRule

NAME = "local"
INSTALL = "pip install 'storyboard-chain[local]'"
NEEDS = ("torch", "diffusers", "transformers", "accelerate", "safetensors")


@dataclass(frozen=True)
class Looked:
    """A model name looked up: its local profile, and why it cannot run, if it cannot."""

    profile: LocalProfile
    problem: str | None = None


def model_profile(p: LocalProfile) -> ModelProfile:
    """Return the shared profile type for a local profile: sizes on the family's grid, free, licensed."""
    presets = {name: "{}x{}".format(*profiles.preset_size(p, name)) for name in profiles.PRESETS}
    native = p.native
    return ModelProfile(
        name=p.name, known=True, sizes=tuple(dict.fromkeys(presets.values())), presets=presets, qualities=(),
        default_quality=None, prompt_limit=10_000, max_inputs=p.fam.max_inputs, edits=True, mask=True,
        references=p.references, variations="native", options={}, price=None,
        size_rule=SizeRule(step=p.fam.step, max_aspect=4.0, min_pixels=p.fam.step**2 * 16, max_pixels=p.max_side**2,
                           max_edge=p.max_side, experimental=(native * 3 // 2, native * 3 // 2)),
        licence=p.licence, backend=NAME,
    )


def installed(module: str) -> bool:
    """Tell whether a module can be imported, without importing it (a module blocked in sys.modules is not)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in ("1", "ON", "YES", "TRUE")


class LocalPlugin(Plugin):
    """Hugging Face diffusers models run in this process: free, seeded, one image at a time per device."""

    name = NAME
    free = True
    seeds = "every"
    hints = Hints(references=f"use {profiles.REFERENCE_MODEL}, which takes several input images")

    def __init__(self, base: Path | None = None, env: Mapping[str, str] | None = None) -> None:
        from storyboard.backends.local import hub

        env = dict(os.environ if env is None else env)
        self.base = base or Path.cwd()
        self.hf_cache = hub.default_cache(env)
        self.hash_file = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "storyboard" / "weights.json"
        self._looked: dict[str, Looked] = {}
        self._hashes = sources.HashCache(self.hash_file)

    def for_story(self, folder: Path) -> LocalPlugin:
        """Return the plugin for a story in `folder`: relative model paths start there."""
        return LocalPlugin(folder)

    # -- profiles ---------------------------------------------------------------------------

    def profiles(self) -> list[ModelProfile]:
        """Return the profiles of the models storyboard knows by name."""
        return [model_profile(p) for p in profiles.PROFILES.values()]

    def claims(self, model: str) -> bool:
        """Claim folders and checkpoints (./ ../ / ~ or *.safetensors) and the known repo ids."""
        return sources.claims(model)

    def look(self, model: str) -> Looked:
        """Return the local profile of a model name, from its files where it names a folder or a file."""
        hit = self._looked.get(model)
        if hit is None:
            try:
                hit = Looked(sources.profile_of(model, self.base, self.hf_cache)[1])
            except sources.NotAModel as e:
                hit = Looked(profiles.permissive(model, "unknown", 512), str(e))
            self._looked[model] = hit
        return hit

    def get_profile(self, model: str) -> ModelProfile:
        """Return the profile of a model name (a folder's from its model_index.json and configs)."""
        return model_profile(self.look(model).profile)

    def check_model(self, profile: ModelProfile, *, identity: Identity, today: date) -> tuple[str | None, str | None]:
        """Return (error, warning): a model that cannot be loaded is an error when it is to run (a
        draft of it only warns); a non-commercial or unknown licence is a warning."""
        looked = self.look(profile.name)
        if looked.problem:
            return (looked.problem, None) if identity.name == NAME else (None, looked.problem)
        notes = [looked.profile.licence_warning()]
        if identity.name == NAME and self.identity_of(profile.name) == "rev:unresolved":
            size = looked.profile.download_bytes_full  # the most it can be (a GPU fetches the fp16 files)
            notes.append(f"{profile.name} is not downloaded yet: `run` asks before fetching it"
                         + (f" (up to {profiles.size_text(size)})" if size else ""))
        return None, "; ".join(n for n in notes if n) or None

    def check_options(self, profile: ModelProfile, options: dict[str, Any], *, kind: str) -> list[str]:
        """Check steps, guidance, strength, negative_prompt and scheduler against the model."""
        p = self.look(profile.name).profile
        task = "text2img" if kind == "generate" else "img2img"
        return profiles.check_options(p, options, task=task)

    def settings_text(self, job: Any) -> str | None:
        """Return the denoising steps a frame or character sheet runs, e.g. "4 steps"."""
        p = self.look(job.model).profile
        chain = "generate" if job.character else job.kind
        task = profiles.task_of(p, chain, masked=job.mask is not None, references=len(job.references),
                                strength="strength" in job.options)
        s = profiles.settings(p, job.options, task, chain=chain)
        return f"{s.steps} step{'s' if s.steps != 1 else ''}"

    # -- keys -------------------------------------------------------------------------------

    def key_material(self, request: Any) -> dict[str, Any]:
        """Return what a local request adds to its key: the weights' identity and every setting."""
        from storyboard.backends.local.backend import key_settings

        looked = self.look(request.model)
        return {"weights": self.identity_of(request.model), **key_settings(looked.profile, request)}

    def identity_of(self, model: str) -> str:
        """Return the weights' identity: a repo's cached revision, or a folder's or file's content hash."""
        ident = sources.identity(sources.parse(model, self.base), self._hashes, self.hf_cache)
        self._hashes.save()
        return ident

    # -- running ----------------------------------------------------------------------------

    def from_environment(self, env: Mapping[str, str], flags: Mapping[str, Any]) -> Any:
        """Build the backend: HF_HUB_OFFLINE, HF_HUB_CACHE / HF_HOME, and the --device / --offload flags."""
        missing = [m for m in NEEDS if not installed(m)]
        if missing:
            raise UsageError(f"the local backend needs {', '.join(missing)}, which are not installed: {INSTALL}")
        from storyboard.backends.local import hub
        from storyboard.backends.local.backend import LocalBackend

        return LocalBackend(
            base=self.base, device=flags.get("device"), offload=bool(flags.get("offload")),
            hash_cache=self.hash_file, hf_cache=hub.default_cache(dict(env)),
            offline=_truthy(env.get("HF_HUB_OFFLINE")), progress=flags.get("progress"),
        )


plugin = LocalPlugin()
