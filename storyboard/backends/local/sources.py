"""Where a local model comes from: a Hugging Face repo id, a pipeline folder, or one .safetensors checkpoint.

`parse` reads what a story names; `inspect` finds the model's family and profile from small files
(model_index.json, the configs, a checkpoint's header), never loading weights; `fingerprint` is the
identity a request key hashes: a repo's revision, or a hash of a folder's or file's bytes (cached by
path, size and modification time, so a 5 GB folder is read once).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from storyboard.backends.local import profiles
from storyboard.backends.local.profiles import LocalProfile

_REPO_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_REV_RE = re.compile(r"^[\w.-]+$")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".gguf")


class NotAModel(ValueError):
    """The story's `model:` names something that is not a local model storyboard can load."""


@dataclass(frozen=True)
class ModelRef:
    """A model as the story names it, resolved: a repo (with an optional revision), a folder or a file."""

    text: str  # as written in the story
    kind: Literal["repo", "folder", "file"]
    repo: str | None = None
    revision: str | None = None  # asked for with `repo@revision`; else resolved later
    path: Path | None = None  # absolute, for folders and files


def is_path(model: str) -> bool:
    """Return whether `model` names a path (SPEC §4: it starts with ./ ../ / or ~, or is a .safetensors file)."""
    return model.startswith(("./", "../", "/", "~")) or model.lower().endswith(".safetensors")


def claims(model: str) -> bool:
    """Return whether the local backend claims this model name for `--backend auto`."""
    if is_path(model):
        return True
    repo = model.split("@", 1)[0]
    return repo in profiles.PROFILES


def parse(model: str, base: Path) -> ModelRef:
    """Resolve a story's `model:` against the story's folder `base`; NotAModel when it is neither form."""
    text = model.strip()
    if is_path(text):
        path = Path(os.path.expanduser(text))
        path = (path if path.is_absolute() else base / path).resolve()
        kind: Literal["folder", "file"] = "file" if path.suffix.lower() == ".safetensors" else "folder"
        return ModelRef(text, kind, path=path)
    repo, _, revision = text.partition("@")
    if not _REPO_RE.match(repo) or (revision and not _REV_RE.match(revision)):
        raise NotAModel(
            f"model {text!r} is not a Hugging Face repo id (owner/name, optionally @revision), a folder "
            "(starting with ./, ../, / or ~) or a .safetensors checkpoint"
        )
    return ModelRef(text, "repo", repo=repo, revision=revision or None)


# ---------------------------------------------------------------------------------------------
# Inspection: family and profile from small files


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise NotAModel(f"{path} is not readable JSON ({e.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise NotAModel(f"{path} is not a JSON object")
    return data


def folder_profile(name: str, folder: Path) -> LocalProfile:
    """Return the (permissive) profile of a diffusers pipeline folder, from its model_index.json and configs."""
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise NotAModel(f"model {name}: {folder} {what}; give a diffusers pipeline folder (with model_index.json) "
                        "or a .safetensors checkpoint")
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        raise NotAModel(
            f"model {name}: {folder} is not a diffusers pipeline: it has no model_index.json "
            "(a pipeline saved with save_pretrained or downloaded from the Hub has one); "
            "for a single checkpoint, name the .safetensors file itself"
        )
    index = _read_json(index_file)
    cls = index.get("_class_name")
    family = profiles.FAMILY_OF_CLASS.get(str(cls))
    if family is None:
        known = ", ".join(sorted({c for c in profiles.FAMILY_OF_CLASS if c.endswith("Pipeline") and "2Img" not in c
                                  and "Inpaint" not in c}))
        raise NotAModel(f"model {name}: {folder} holds a {cls}, which storyboard cannot run yet; it runs {known}")
    profile = profiles.permissive(name, family, _native_size(folder, family))
    if family == "flux2-klein" and index.get("is_distilled") is False:
        profile = replace(profile, steps=50, guidance=4.0, note="FLUX.2 klein base (not distilled): 50 steps")
    return profile


def _native_size(folder: Path, family: str) -> int:
    """Return the side a pipeline was trained at: the denoiser's sample size times the VAE's scale."""
    try:
        vae = _read_json(folder / "vae" / "config.json")
        if family == "flux2-klein":
            return int(vae.get("sample_size") or 1024)
        unet = _read_json(folder / "unet" / "config.json")
        scale = 2 ** (len(vae.get("block_out_channels") or [0, 0, 0, 0]) - 1)
        return int(unet["sample_size"]) * scale
    except (NotAModel, KeyError, TypeError, ValueError):
        return {"sd": 512, "sdxl": 1024}.get(family, 1024)


def checkpoint_family(path: Path) -> str:
    """Return the family of a single-file checkpoint from its safetensors header (sd or sdxl)."""
    try:
        with path.open("rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > 100_000_000:
                raise ValueError("header too large")
            keys = json.loads(f.read(n))
    except FileNotFoundError:
        raise NotAModel(f"checkpoint {path} does not exist") from None
    except (OSError, ValueError, struct.error):
        raise NotAModel(f"{path} is not a readable .safetensors checkpoint") from None
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        return "sdxl"
    if any(k.startswith("model.diffusion_model.") for k in keys):
        return "sd"
    raise NotAModel(f"{path} is not a Stable Diffusion 1.x, 2.x or SDXL checkpoint (no UNet weights of that "
                    "layout); for other models use a diffusers folder")


def file_profile(name: str, path: Path) -> LocalProfile:
    """Return the permissive profile of a single .safetensors checkpoint."""
    family = checkpoint_family(path)
    return profiles.permissive(name, family, 1024 if family == "sdxl" else 512)


# ---------------------------------------------------------------------------------------------
# Identity: what a request key hashes about the weights


class HashCache:
    """sha256 of files, remembered by absolute path, size and modification time, in one JSON file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._data: dict[str, list] = {}
        self._dirty = False
        if path is not None:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                self._data = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                self._data = {}

    def sha256(self, file: Path) -> str:
        """Return the file's sha256, reading it only when its size or mtime changed."""
        st = file.stat()
        key = str(file.resolve())
        hit = self._data.get(key)
        if isinstance(hit, list) and len(hit) == 3 and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return str(hit[2])
        h = hashlib.sha256()
        with file.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        self._data[key] = [st.st_size, st.st_mtime_ns, h.hexdigest()]
        self._dirty = True
        return h.hexdigest()

    def save(self) -> None:
        """Write the cache back (atomically), if anything was added."""
        if self.path is None or not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self._data, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.path)
        self._dirty = False


def folder_files(folder: Path) -> list[Path]:
    """Return the files that make a pipeline folder's pictures: weights and configs, hidden files left out."""
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts) and p.suffix.lower() != ".md":
            out.append(p)
    return out


def fingerprint(ref: ModelRef, cache: HashCache) -> str:
    """Return a folder's or file's content hash (sha256 over each file's path and sha256)."""
    assert ref.path is not None
    if ref.kind == "file":
        return cache.sha256(ref.path)
    h = hashlib.sha256()
    for p in folder_files(ref.path):
        h.update(f"{p.relative_to(ref.path).as_posix()}\0{cache.sha256(p)}\n".encode())
    return h.hexdigest()


def profile_of(model: str, base: Path, hf_cache: Path) -> tuple[ModelRef, LocalProfile]:
    """Return a model's source and profile: a folder's or file's from its files, a repo's from storyboard's
    profiles or its cached model_index.json; raise NotAModel when it names nothing loadable."""
    ref = parse(model, base)
    if ref.kind == "folder":
        return ref, folder_profile(model, ref.path)  # type: ignore[arg-type]
    if ref.kind == "file":
        return ref, file_profile(model, ref.path)  # type: ignore[arg-type]
    known = profiles.PROFILES.get(ref.repo)  # type: ignore[arg-type]
    if known:
        return ref, known
    from storyboard.backends.local import hub

    folder = hub.cached(ref.repo, ref.revision, hf_cache)  # type: ignore[arg-type]
    return ref, folder_profile(model, folder) if folder else profiles.permissive(model, "sd", 512)


def identity(ref: ModelRef, hashes: HashCache, hf_cache: Path) -> str:
    """Return the weights' identity a request key hashes: a repo's revision (the cached one; "unresolved"
    before its first download), or a folder's or file's content hash."""
    if ref.kind != "repo":
        return "sha256:" + fingerprint(ref, hashes)
    if ref.revision and re.fullmatch(r"[0-9a-f]{40}", ref.revision):
        return "rev:" + ref.revision
    from storyboard.backends.local import hub

    folder = hub.cached(ref.repo, ref.revision, hf_cache)  # type: ignore[arg-type]
    return "rev:" + (folder.name if folder else "unresolved")
