"""Models from the Hugging Face Hub: pinning a repo to a revision, what a first download costs, and
the messages for a model that is missing offline, gated, or not there at all.

A model already in the Hugging Face cache is used as it is, at the revision cached: a new upload on
the Hub never silently redraws a storyboard (name `repo@revision` to move on).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from storyboard.backends.local.profiles import PROFILES, size_text
from storyboard.errors import StoryboardError

WEIGHTS = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".onnx", ".msgpack", ".gguf")


class ModelUnavailable(StoryboardError):
    """A model cannot be had: missing offline, gated, unknown on the Hub, or the download was declined."""


@dataclass(frozen=True)
class Snapshot:
    """A repo pinned to one revision, and whether its files are in the cache already."""

    repo: str
    revision: str  # a commit sha
    asked: str | None  # the revision the story asked for (`repo@rev`), None for the default branch
    folder: Path | None  # the cached snapshot, when complete
    variant: str | None  # "fp16" where that variant is used
    download_bytes: int  # what fetching it costs (0 when cached)
    size_known: bool  # False: the profile's figure (or nothing) stands in for the Hub's

    @property
    def cached(self) -> bool:
        """Return whether nothing needs downloading."""
        return self.folder is not None


def default_cache(env: dict[str, str]) -> Path:
    """Return where the Hugging Face cache keeps models: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub."""
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser()
    home = env.get("HF_HOME") or str(Path(env.get("XDG_CACHE_HOME") or "~/.cache") / "huggingface")
    return Path(home).expanduser() / "hub"


def free_bytes(folder: Path) -> int:
    """Return the free space of the disk `folder` is (or would be) on."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def known_size(repo: str, variant: str | None) -> int:
    """Return the profile's download size of a repo (0 when storyboard does not know it)."""
    p = PROFILES.get(repo)
    if p is None:
        return 0
    return p.download_bytes if variant == "fp16" else p.download_bytes_full


def cached(repo: str, revision: str | None, cache: Path) -> Path | None:
    """Return the repo's complete snapshot folder in the cache (named by its commit), else None.

    Reads the cache only: never the network, nor diffusers (`plan` calls this).
    """
    from huggingface_hub import try_to_load_from_cache

    index = try_to_load_from_cache(repo, "model_index.json", revision=revision or "main", cache_dir=cache)
    if not isinstance(index, str):
        return None
    folder = Path(index).parent
    return folder if _complete(folder) else None


def variant_of(folder: Path, want_fp16: bool) -> str | None:
    """Return "fp16" when it is wanted and the snapshot has fp16 weights, else None."""
    return "fp16" if want_fp16 and any(".fp16." in p.name for p in folder.rglob("*")) else None


def _complete(folder: Path) -> bool:
    """Return whether every component of the snapshot has its weights (diffusers' check only warns)."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    for name, spec in index.items():
        if name.startswith("_") or not isinstance(spec, list) or spec[0] is None:
            continue
        sub = folder / name
        if not sub.is_dir():
            return False
        if name in ("scheduler", "tokenizer", "tokenizer_2", "feature_extractor", "processor"):
            continue
        if not any(f.suffix in WEIGHTS for f in sub.iterdir()):
            return False
    return True


def _hub_size(siblings: list, variant: str | None) -> int:
    """Return the bytes of the files diffusers would fetch: each component's weights in one form, and configs."""
    by_folder: dict[str, list] = {}
    total = 0
    for s in siblings:
        name, size = s.rfilename, s.size or 0
        if name.endswith(WEIGHTS):
            by_folder.setdefault(name.rsplit("/", 1)[0] if "/" in name else "", []).append((name, size))
        elif "/" in name or name.endswith(".json"):
            total += size
    for folder, files in by_folder.items():
        if not folder:
            continue  # single-file checkpoints at the top are not part of a diffusers pipeline
        st = [f for f in files if f[0].endswith(".safetensors")] or files
        picked = [f for f in st if f".{variant}." in f[0]] if variant else []
        total += sum(s for _, s in (picked or [f for f in st if ".fp16." not in f[0]] or st))
    return total


def resolve(repo: str, revision: str | None, *, cache: Path, want_fp16: bool, offline: bool) -> Snapshot:
    """Pin a repo to a revision: the cached snapshot when complete, else ask the Hub what fetching costs.

    `offline` (HF_HUB_OFFLINE=1) turns a missing model into one message naming repo, size and cache.
    """
    variant = "fp16" if want_fp16 else None
    folder = cached(repo, revision, cache)
    if folder is not None:
        return Snapshot(repo, folder.name, revision, folder, variant_of(folder, want_fp16), 0, True)
    if offline:
        size = known_size(repo, variant)
        what = f"it needs {size_text(size)}" if size else "its size is unknown offline"
        raise ModelUnavailable(
            f"{repo} is not in the Hugging Face cache ({cache}) and HF_HUB_OFFLINE=1 forbids downloading it "
            f"({what}). Download it where the network is reachable (`hf download {repo}`, into the same cache), "
            "or unset HF_HUB_OFFLINE."
        )
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        info = HfApi().model_info(repo, revision=revision, files_metadata=True)
    except GatedRepoError:
        raise ModelUnavailable(gated_message(repo)) from None
    except RepositoryNotFoundError:
        raise ModelUnavailable(f"{repo}: no such model on the Hugging Face Hub (or it is private: log in with "
                               "`hf auth login`); check the name on https://huggingface.co/models") from None
    except RevisionNotFoundError:
        raise ModelUnavailable(f"{repo}@{revision}: the Hub has no such revision of {repo}") from None
    except Exception as e:  # noqa: BLE001 - network errors come as several types (httpx, OSError)
        size = known_size(repo, variant)
        raise ModelUnavailable(
            f"{repo} is not in the Hugging Face cache ({cache}) and the Hub cannot be reached "
            f"({e.__class__.__name__}); it needs {size_text(size) if size else 'an unknown amount of space'}. "
            "Connect and run again, or download it elsewhere with `hf download`."
        ) from None
    siblings = list(info.siblings or [])
    if variant and not any(".fp16." in s.rfilename for s in siblings):
        variant = None
    size = _hub_size(siblings, variant)
    return Snapshot(repo, str(info.sha), revision, None, variant, size or known_size(repo, variant), bool(size))


def gated_message(repo: str) -> str:
    """Return what to do about a gated repo."""
    return (f"{repo} is gated: accept its licence on https://huggingface.co/{repo} (logged in), then log in here "
            "with `hf auth login` (or set HF_TOKEN) and run again")


def consent_question(snap: Snapshot, cache: Path) -> str:
    """Return the question asked before a first download: the repo, its size and the free space."""
    where = cache
    size = size_text(snap.download_bytes) if snap.download_bytes else "an unknown size"
    about = "" if snap.size_known else "about "
    variant = f", {snap.variant} weights" if snap.variant else ""
    return (f"Download {snap.repo} (revision {snap.revision[:12]}{variant}): {about}{size}, into {where} "
            f"({size_text(free_bytes(where))} free)?")


def download(snap: Snapshot, pipeline_cls: str, cache: Path) -> Snapshot:
    """Fetch the snapshot into the cache; return it with its folder."""
    import diffusers
    from huggingface_hub.errors import GatedRepoError

    need = snap.download_bytes
    if need and free_bytes(cache) < need:
        raise ModelUnavailable(f"{snap.repo} needs {size_text(need)} but {cache} has "
                               f"{size_text(free_bytes(cache))} free; free some space or set HF_HOME elsewhere")
    cls = getattr(diffusers, pipeline_cls)
    try:
        # by the name asked for, so the cache records it (refs/main) for the offline runs that follow
        folder = Path(cls.download(snap.repo, revision=snap.asked, variant=snap.variant, cache_dir=cache))
    except GatedRepoError:
        raise ModelUnavailable(gated_message(snap.repo)) from None
    except OSError as e:
        if "gated" in str(e).lower():
            raise ModelUnavailable(gated_message(snap.repo)) from None
        raise ModelUnavailable(f"downloading {snap.repo} failed: {e}") from None
    return Snapshot(snap.repo, folder.name, snap.asked, folder, snap.variant, 0, True)
