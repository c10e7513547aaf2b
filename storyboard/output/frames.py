"""Frames on disk: `frames/NN-id.ext`, `takes/NN-id-KK.ext` and `characters/NAME.ext`, rebuilt
from the current story each run. Before a run it finds what an artist changed by hand (a file
whose sha256 differs from the manifest's) and what is locked; afterwards it places every image
and removes names no longer in the story, storing any unknown bytes first."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from storyboard.output import fs
from storyboard.output.store import Store, sha256
from storyboard.plan import Job, Plan
from storyboard.render import imaging
from storyboard.results import EXT, Image, Kept, TakeResult

FOLDERS = ("frames", "takes", "characters")


def identity(job_id: str | None, ident: str, prompt: str | None) -> tuple[str, str | None]:
    """Return how a frame is recognised across runs: its id, else its occurrence and prompt."""
    return (job_id, None) if job_id else (ident, prompt)


def job_identity(job: Job) -> tuple[str, str | None]:
    """Return a job's identity across runs."""
    if job.character:
        return (job.ident, None)
    return identity(job.id, job.ident, job.prompt)


def entry_identity(entry: dict[str, Any]) -> tuple[str, str | None]:
    """Return a manifest entry's identity across runs."""
    if entry.get("character"):
        return (f"character:{entry['character']}", None)
    return identity(entry.get("id"), entry.get("ident") or "", entry.get("prompt"))


def file_name(job: Job, take: int | None, ext: str) -> str:
    """Return the path (relative to DIR) of a job's picked image, or of one take."""
    if job.character:
        return f"characters/{job.name}.{ext}"
    if take is None:
        return f"frames/{job.name}.{ext}"
    return f"takes/{job.name}-{take:02d}.{ext}"


def find_kept(plan: Plan, out_dir: Path, previous: dict[str, Any] | None, store: Store) -> dict[int, Kept]:
    """Return the jobs whose image must be kept: artists' edits, then locked frames."""
    if not previous:
        return {}
    jobs = {job_identity(j): j for j in plan.jobs}
    kept: dict[int, Kept] = {}
    for entry in _picked(previous):
        job = jobs.get(entry_identity(entry))
        if job is None or not entry.get("sha256"):
            continue
        image = _edited_image(out_dir, entry, store)
        if image is not None:
            kept[job.index] = Kept("edited", image, {**entry, "sha256": image.sha256})
        elif job.lock and entry.get("status") in ("ok", "cached", "locked"):
            image = _stored_image(store, entry["sha256"], entry.get("media_type"))
            if image is not None:
                kept[job.index] = Kept("locked", image, entry)
    return kept


def _picked(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    out = [e for e in manifest.get("frames", []) if e.get("picked")]
    for c in manifest.get("characters", []):
        sheet = c.get("sheet")
        if sheet and sheet.get("file"):
            out.append({**sheet, "character": c["name"], "picked": True})
    return out


def _edited_image(out_dir: Path, entry: dict[str, Any], store: Store) -> Image | None:
    """Return the artist's image if this entry's file was changed by hand (or was before)."""
    name = entry.get("file")
    path = out_dir / name if name else None
    data = None
    if path is not None and path.is_file():
        stat = path.stat()
        if entry.get("file_stat") == [stat.st_size, stat.st_mtime_ns] and entry.get("status") != "edited":
            return None  # untouched since we wrote it: no need to read and hash it
        data = path.read_bytes()
        if sha256(data) == entry["sha256"] and entry.get("status") != "edited":
            return None
    if data is None:
        if entry.get("status") != "edited":
            return None
        # an edited file removed from frames/: the store still has it
        return _stored_image(store, entry["sha256"], entry.get("media_type"))
    kind = imaging.sniff(data)
    if kind is None:
        return None  # not an image any more: treat the frame as missing, not as an edit
    ext = EXT.get(kind[0], kind[1])
    digest = store.put_bytes(data, ext)
    w, h = imaging.dimensions(data)
    return Image(store.object_path(digest, ext), digest, ext, kind[0], w, h)


def _stored_image(store: Store, digest: str, media_type: str | None) -> Image | None:
    for ext in ([EXT[media_type]] if media_type in EXT else []) + list(EXT.values()):
        path = store.object_path(digest, ext)
        if path.exists():
            w, h = imaging.dimensions(path.read_bytes())
            return Image(path, digest, ext, {v: k for k, v in EXT.items()}[ext], w, h)
    return None


def place(plan: Plan, results: dict[int, list[TakeResult]], out_dir: Path, store: Store) -> dict[tuple[int, int], dict[str, Any]]:
    """Write every image under its current name; return {(job, take): {file, take_file, file_stat}}."""
    placed: dict[tuple[int, int], dict[str, Any]] = {}
    for job in plan.jobs:
        for r in results.get(job.index, []):
            if r.image is None:
                continue
            picked = r.take == job.pick
            info: dict[str, Any] = {"file": None, "take_file": None, "file_stat": None}
            if job.takes > 1:
                info["take_file"] = file_name(job, r.take, r.image.ext)
                _write(out_dir, info["take_file"], r.image)
            if picked:
                info["file"] = file_name(job, None, r.image.ext)
                info["file_stat"] = _write(out_dir, info["file"], r.image)
            else:
                info["file"] = info["take_file"]
            placed[(job.index, r.take)] = info
    return placed


def _write(out_dir: Path, name: str, image: Image) -> list[int]:
    """Write a frame file unless it already holds these bytes; return [size, mtime_ns]."""
    path = out_dir / name
    with contextlib.suppress(FileNotFoundError):
        st = path.stat()
        if st.st_size == image.path.stat().st_size and sha256(path.read_bytes()) == image.sha256:
            return [st.st_size, st.st_mtime_ns]
    fs.write(path, image.data, root=out_dir, durable=False)  # the store holds the durable copy
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def prune(out_dir: Path, keep: set[str], store: Store) -> None:
    """Remove files of frames/, takes/ and characters/ that the story no longer names.

    Bytes the store does not hold yet (an artist's file we never saw) are stored first."""
    for folder in FOLDERS:
        d = out_dir / folder
        if not d.is_dir():
            continue
        for path in d.iterdir():
            rel = f"{folder}/{path.name}"
            if rel in keep or not path.is_file() or path.name.startswith("."):
                continue
            data = path.read_bytes()
            kind = imaging.sniff(data)
            if kind is None:
                continue  # not ours: leave it alone
            digest = sha256(data)
            ext = kind[1] if kind[1] != "jpeg" else "jpg"
            if not store.object_path(digest, ext).exists():
                store.put_bytes(data, ext)
            fs.unlink(path, root=out_dir)
