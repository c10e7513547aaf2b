"""Loading a resolved model onto a device through the same `from_pretrained` path every model takes
(a folder, a cached Hub snapshot), or `from_single_file` for one checkpoint."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from storyboard.backends.local import device as devices
from storyboard.backends.local.engine import Engine

# The Hub repo whose configs (no weights) diffusers reads to build a single checkpoint's pipeline.
CONFIG_REPOS = {"sd": "stable-diffusion-v1-5/stable-diffusion-v1-5", "sdxl": "stabilityai/stable-diffusion-xl-base-1.0"}


class CheckpointConfigMissing(Exception):
    """A single-file checkpoint cannot be built: its family's config files are not cached, and offline."""


def quiet() -> None:
    """Silence diffusers' and transformers' own logging and progress bars: storyboard reports progress."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def load(resolved: Any, device: str, *, offload: bool, cache: Path, offline: bool) -> Engine:
    """Return an Engine with the model loaded: local files only, except a checkpoint's configs online."""
    import diffusers

    quiet()
    profile = resolved.profile
    dtype = devices.dtype_for(device, profile.family)
    cls = getattr(diffusers, profile.fam.pipeline)
    ref = resolved.ref
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
        if ref.kind == "file":
            pipe = _single_file(cls, ref.path, dtype, profile.family, cache, offline)
        else:
            variant = resolved.snapshot.variant if resolved.snapshot is not None else None
            pipe = cls.from_pretrained(str(resolved.folder), torch_dtype=dtype, variant=variant, local_files_only=True)
    return Engine(profile, pipe, device, dtype, offload=offload)


def _single_file(cls: Any, path: Path, dtype: Any, family: str, cache: Path, offline: bool) -> Any:
    try:
        return cls.from_single_file(str(path), torch_dtype=dtype, local_files_only=True, cache_dir=str(cache))
    except (OSError, ValueError) as e:
        if "weights" in str(e).lower() and "missing" in str(e).lower():
            raise
        if offline:
            repo = CONFIG_REPOS.get(family, CONFIG_REPOS["sd"])
            raise CheckpointConfigMissing(
                f"{path.name} is a single checkpoint: building its pipeline needs the config files of {repo} "
                f"(a few MB, no weights), which are not in the Hugging Face cache ({cache}), and HF_HUB_OFFLINE=1 is "
                f"set. Run once online, or `hf download {repo} --include '*.json' '*.txt'`"
            ) from None
    # online: diffusers fetches only the family's configs (JSON and tokenizer files), never weights
    return cls.from_single_file(str(path), torch_dtype=dtype, cache_dir=str(cache))
