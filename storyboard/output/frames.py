"""Frames on disk: `frames/NN-id.ext`, `takes/NN-id-KK.ext` and `characters/NAME.ext`, rebuilt
from the current story each run: every image placed under its current name, names no longer in
the story removed. A file in the way whose bytes the store does not hold (an artist's) is stored
first: nothing is overwritten or removed that the store cannot give back. (What a run keeps
instead of requesting, edits and locks, is `kept.py`.)"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from storyboard import names
from storyboard.names import EDITED
from storyboard.output import fs
from storyboard.output.store import Store, sha256
from storyboard.plan import Job, Plan
from storyboard.render import imaging
from storyboard.results import EXT, Image, TakeResult

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


def file_name(job: Job, take: int | str | None, ext: str) -> str:
    """Return the path (relative to DIR) of a job's picked image, or of one take (a number, or EDITED)."""
    if job.character:
        return names.character_file(job.name, ext)
    if take is None:
        return names.frame_file(job.name, ext)
    return names.take_file(job.name, take, ext)


def file_stat(path: Path) -> list[int] | None:
    """Return what tells a file storyboard wrote from one changed since: [size, mtime_ns, ctime_ns]
    (the ctime changes on any write, even one that keeps the size and sets the mtime back)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def place(
    plan: Plan, results: dict[int, list[TakeResult]], out_dir: Path, store: Store, previous: dict[str, Any] | None = None,
    also_shown: Collection[str] = (),
) -> dict[tuple[int, int], dict[str, Any]]:
    """Write every image under its current name; return {(job, take): {file, take_file, file_stat}}.

    A file in the way with bytes storyboard never received and does not show elsewhere
    (`also_shown`: the edited takes) is an artist's edit of a take: it is set aside, not replaced."""
    known = _Known(_recorded(previous), store, {r.image.sha256 for rs in results.values() for r in rs if r.image} | set(also_shown))
    placed: dict[tuple[int, int], dict[str, Any]] = {}
    for job in plan.jobs:
        for r in results.get(job.index, []):
            if r.image is None:
                continue
            picked = r.take == job.pick
            info: dict[str, Any] = {"file": None, "take_file": None, "file_stat": None}
            if job.takes > 1:
                info["take_file"] = file_name(job, r.take, r.image.ext)
                _write(out_dir, info["take_file"], r.image, store, known)
            if picked:
                info["file"] = file_name(job, None, r.image.ext)
                info["file_stat"] = _write(out_dir, info["file"], r.image, store, known)
            else:
                info["file"] = info["take_file"]
            placed[(job.index, r.take)] = info
    return placed


def place_edited_takes(
    plan: Plan, takes: dict[int, Image], out_dir: Path, store: Store
) -> dict[int, dict[str, Any]]:
    """Write each artist's kept take as `takes/NN-id-edited.ext`; return the manifest's `edited_take` by job."""
    out: dict[int, dict[str, Any]] = {}
    for i, image in sorted(takes.items()):
        job = plan.jobs[i]
        name = file_name(job, EDITED, image.ext)
        _write(out_dir, name, image, store, None)
        out[i] = {"file": name, "sha256": image.sha256, "media_type": image.media_type,
                  "width": image.width, "height": image.height}
    return out


def attach_edited_takes(manifest: dict[str, Any], plan: Plan, takes: dict[int, dict[str, Any]]) -> None:
    """Record each frame's edited take (or none) on its picked manifest entry."""
    by_number = {plan.jobs[i].number: t for i, t in takes.items()}
    for e in manifest["frames"]:
        if e.get("picked"):
            e["edited_take"] = by_number.get(e.get("number"))


def _recorded(previous: dict[str, Any] | None) -> dict[str, tuple[Any, str]]:
    """Return {file name: (file_stat, sha256)} of the picked files a previous manifest recorded."""
    out: dict[str, tuple[Any, str]] = {}
    for e in (previous or {}).get("frames", []):
        if e.get("picked") and e.get("file") and e.get("sha256") and e.get("file_stat"):
            out[e["file"]] = (e["file_stat"], e["sha256"])
    return out


class _Known:
    """What `place` knows of the files in its way: the previous manifest's file stats, the images
    storyboard received (read from the store when first asked), those this run shows."""

    def __init__(self, recorded: dict[str, tuple[Any, str]], store: Store, shown: set[str]) -> None:
        self.recorded, self._store, self.shown = recorded, store, shown

    def get(self, name: str) -> tuple[Any, str] | None:
        return self.recorded.get(name)

    def ours(self, digest: str) -> bool:
        """Tell whether bytes are storyboard's, or shown by this run under another name."""
        return digest in self.shown or digest in self._store.received()


def _write(out_dir: Path, name: str, image: Image, store: Store, known: _Known | None) -> list[int] | None:
    """Write a frame file unless it already holds these bytes; return its file_stat.

    Bytes in the way that the store does not hold are stored first; an artist's (see `place`) are
    set aside, and said so."""
    path = out_dir / name
    st = file_stat(path) if path.is_file() and not path.is_symlink() else None
    if st is not None:
        rec = known.get(name) if known is not None else None
        if rec is not None and rec[0] == st and rec[1] == image.sha256:
            return st  # untouched since storyboard wrote these very bytes
        data = fs.read(path)
        digest = sha256(data)
        if digest == image.sha256:
            return st
        _secure(store, data, digest)
        if known is not None and imaging.sniff(data) is not None and not known.ours(digest):
            to = set_aside(out_dir, path, data)
            store.report(f"{name} was edited by hand, but storyboard does not keep edits of a take: it is kept as "
                         f"{to}, and {name} holds the take again. To show an edit, save it over the frame in frames/.")
    # (A symlink at the name is replaced, never read: what it points to stays as it is.)
    fs.write(path, image.data, root=out_dir, durable=False)  # the store holds the durable copy
    return file_stat(path)


def _secure(store: Store, data: bytes | None, digest: str | None) -> None:
    """Store an image's bytes unless the store holds them already (not images: left to their fate
    only when they are ours to replace, which a frame name is)."""
    if not data:
        return
    kind = imaging.sniff(data)
    ext = EXT.get(kind[0], kind[1]) if kind else "bin"
    if store.holds(digest or sha256(data), ext) is None:
        store.put_bytes(data, ext)


def _target_bytes(path: Path) -> bytes | None:
    try:
        return fs.read(path)
    except OSError:
        return None


def prune(out_dir: Path, keep: set[str], store: Store, shown: Collection[str] = ()) -> list[str]:
    """Remove files of frames/, takes/ and characters/ that the story no longer names; return a note
    for each artist's file among them.

    Bytes the store does not hold yet are stored first. A file with bytes storyboard never received
    (an artist's edit of a frame since renamed or removed) is not removed but moved to set-aside/,
    which storyboard never empties, and the note says where it went. Bytes the folder still shows
    under another name (`shown`: an edit carried to its frame's new number) are simply removed."""
    notes = []
    for folder in FOLDERS:
        d = out_dir / folder
        if not d.is_dir():
            continue
        for path in sorted(d.iterdir()):
            rel = f"{folder}/{path.name}"
            if rel in keep or path.is_symlink() or not path.is_file() or path.name.startswith("."):
                continue
            data = fs.read(path)
            if imaging.sniff(data) is None:
                continue  # not an image of ours: leave it alone
            digest = sha256(data)
            _secure(store, data, digest)
            if digest in store.received() or digest in shown:
                fs.unlink(path, root=out_dir)
                continue
            to = set_aside(out_dir, path, data)
            whose = "its character" if folder == "characters" else "its frame"
            notes.append(
                f"{rel} was edited by hand and {whose} is no longer in the story (renamed or removed): "
                f"it is kept as {to}" + (" (the same image was there already)" if to is None else "")
            )
    return notes


SET_ASIDE = "set-aside"


def set_aside(out_dir: Path, path: Path, data: bytes) -> str | None:
    """Move an artist's file to set-aside/ under a name not taken; return that name (None: the
    same bytes were there already, and the file was removed)."""
    stem, suffix = path.stem, path.suffix
    for n in range(1, 10_000):
        name = f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}"
        dest = out_dir / SET_ASIDE / name
        if dest.is_symlink() or dest.exists():
            if not dest.is_symlink() and dest.is_file() and _target_bytes(dest) == data:
                fs.unlink(path, root=out_dir)
                return f"{SET_ASIDE}/{name}"
            continue
        fs.replace(path, dest, root=out_dir)
        return f"{SET_ASIDE}/{name}"
    return None
