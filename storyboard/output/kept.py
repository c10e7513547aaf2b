"""What a run keeps instead of requesting: frames an artist edited by hand, and locked frames.

A frame file is the artist's when its bytes are neither what the manifest recorded for it nor
any image storyboard received (every received image has a key record in the store, written
before any frame file is): so a run killed between writing frames and writing the manifest never
mistakes its own files for edits, and a manifest lost, corrupt or from a newer version never
lets an artist's file pass for storyboard's."""

from __future__ import annotations

from collections.abc import Collection, Container, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storyboard.output import fs
from storyboard.output.frames import entry_identity, file_name, file_stat, job_identity, set_aside
from storyboard.output.store import Store, sha256
from storyboard.plan import Job, Plan
from storyboard.render import imaging
from storyboard.results import EXT, MEDIA, Image, Kept, Status

KINDS = tuple(dict.fromkeys(EXT.values()))  # the extensions a frame file may have


class Made:
    """The sha256 of every image storyboard received into this store (read once, when first asked)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __contains__(self, digest: object) -> bool:
        return digest in self._store.received()


class _Also:
    """A Made that also counts one more hash as storyboard's."""

    def __init__(self, made: Made, digest: str) -> None:
        self._made, self._digest = made, digest

    def __contains__(self, digest: object) -> bool:
        return digest == self._digest or digest in self._made


@dataclass
class _Found:
    """A frame file read from disk."""

    path: Path
    data: bytes
    sha256: str


@dataclass
class Keeping:
    """What a run keeps: frames not requested, artists' takes carried, frames replaced on request."""

    kept: dict[int, Kept] = field(default_factory=dict)  # job index -> the image shown instead of a request
    edited_takes: dict[int, Image] = field(default_factory=dict)  # job -> its takes/NN-id-edited.ext
    replaced: list[tuple[Job, Status]] = field(default_factory=list)  # edited/locked frames requested again
    notes: list[str] = field(default_factory=list)


def survey(
    plan: Plan,
    out_dir: Path,
    previous: dict[str, Any] | None,
    store: Store,
    *,
    write: bool = False,
    replace: Collection[int] = (),
) -> Keeping:
    """Return what the run keeps. Jobs in `replace` (chosen with `--only` and `--force`) are requested
    even when edited or locked; an edited one's file becomes its `edited` take. `pick: edited`
    shows that take again. With `write`, artists' bytes are stored first (`plan` only looks)."""
    keeping = Keeping(find_kept(plan, out_dir, previous, store, write=write))
    for job, entry in _matched(plan, previous):
        take = entry.get("edited_take")
        if isinstance(take, dict) and isinstance(take.get("sha256"), str):
            image = stored_image(store, take["sha256"], take.get("media_type"))
            if image is not None:
                keeping.edited_takes[job.index] = image
    for i in sorted(set(replace) & set(keeping.kept)):
        k = keeping.kept.pop(i)
        keeping.replaced.append((plan.jobs[i], k.status))
        if k.status is Status.EDITED and not plan.jobs[i].pick_edited:
            keeping.edited_takes[i] = k.image
    for job in plan.frames:
        if not job.pick_edited or job.index in replace:
            continue
        image = keeping.edited_takes.get(job.index)
        if image is not None:
            entry = next((e for j, e in _matched(plan, previous) if j is job), {})
            keeping.kept[job.index] = Kept(Status.EDITED, image, {**entry, "sha256": image.sha256})
        elif job.index not in keeping.kept:
            keeping.notes.append(
                f"frame {label(job)}: `pick: edited`, but it has no hand-edited take (one is kept when "
                f"`--only {job.id or job.number} --force` replaces an edited frame); showing take {job.pick}."
            )
    return keeping


def replacing(plan: Plan, out_dir: Path, chosen: Collection[int]) -> str:
    """Say which of the chosen frames are edited by hand or locked ("" when none), without writing."""
    from storyboard.output.manifest import read_previous

    kept = find_kept(plan, out_dir, read_previous(out_dir), Store(out_dir))
    found = [(plan.jobs[i], k.status) for i, k in sorted(kept.items()) if i in chosen]
    return ", ".join(f"frame {label(j)} ({'edited by hand' if st is Status.EDITED else 'locked'})" for j, st in found)


def label(job: Job) -> str:
    """Return how messages name a frame: its number and id."""
    return f"{job.number}{' ' + job.id if job.id else ''}" if job.number else str(job.character or job.name)


def changed_requests(plan: Plan, kept: dict[int, Kept], images: dict[int, Image | None]) -> list[str]:
    """Return a warning for each edited or locked frame whose request changed since, naming the way out."""
    from storyboard import requests
    from storyboard.errors import FrameFailure

    out = []
    for i, k in sorted(kept.items()):
        job = plan.jobs[i]
        old = k.entry.get("key")
        if not old or job.pick_edited or any(images.get(d) is None for d in job.deps):
            continue
        try:
            request = requests.assemble(plan, job, {d: images[d] for d in job.deps}).request  # type: ignore[misc]
        except FrameFailure:
            continue
        if requests.for_take(plan, job, job.pick, request)[1] == old:
            continue
        way = f"--only {job.id or job.number} --force"
        if k.status is Status.EDITED:
            out.append(f"frame {label(job)} is edited by hand and its request changed since, so it keeps the "
                       f"artist's image. To replace it, run with {way} (the edit is kept as a take).")
        else:
            out.append(f"frame {label(job)} is locked and its request changed since, so it keeps its image. "
                       f"To replace it, remove `lock: true`, or run with {way}.")
    return out


def _matched(plan: Plan, previous: dict[str, Any] | None) -> list[tuple[Job, dict[str, Any]]]:
    """Return (job, its previous picked entry) for the jobs the previous manifest knows."""
    jobs = {job_identity(j): j for j in plan.jobs}
    return [(jobs[entry_identity(e)], e) for e in _picked(previous or {}) if entry_identity(e) in jobs]


def find_kept(
    plan: Plan, out_dir: Path, previous: dict[str, Any] | None, store: Store, *, write: bool = False
) -> dict[int, Kept]:
    """Return the jobs whose image must be kept: artists' edits, then locked frames.

    With `write`, an edit's bytes are stored first (the run does; `plan` only looks)."""
    out_dir = Path(out_dir)
    made = Made(store)
    kept: dict[int, Kept] = {}
    known: set[int] = set()  # jobs the manifest has an entry for
    claimed: set[str] = set()  # files those entries name
    jobs = {job_identity(j): j for j in plan.jobs}
    by_name = {j.name: j for j in plan.frames if not j.id}
    entries = _picked(previous) if previous else []
    matched: list[tuple[Job, dict[str, Any]]] = []
    for entry in entries:
        job = jobs.get(entry_identity(entry))
        if job is None and not entry.get("id") and not entry.get("character"):
            # An id-less frame whose prompt changed: the same position is the same frame.
            job = by_name.get(Path(str(entry.get("file") or "")).stem)
            job = job if job is not None and not any(entry_identity(e) == job_identity(job) for e in entries) else None
        if job is None or job.index in known:
            continue
        known.add(job.index)
        matched.append((job, entry))
        if entry.get("file"):
            claimed.add(entry["file"])
    for job, entry in matched:
        image = _edited(out_dir, entry, store, made, write, job) if entry.get("sha256") else None
        if image is None:
            # A run killed after moving the artist's file to the frame's new name, before its manifest.
            take = entry.get("edited_take") if isinstance(entry.get("edited_take"), dict) else {}
            image = _unknown(out_dir, job, claimed, _Also(made, take.get("sha256")), store, write)
        if image is not None:
            kept[job.index] = Kept(Status.EDITED, image, {**entry, "sha256": image.sha256})
        elif job.lock and entry.get("sha256") and entry.get("status") in ("ok", "cached", "locked"):
            image = stored_image(store, entry["sha256"], entry.get("media_type")) or _from_file(out_dir, entry, store, write)
            if image is not None:
                kept[job.index] = Kept(Status.LOCKED, image, entry)
    # Files at a frame's name that no manifest entry accounts for (no manifest, a lost or corrupt
    # one, a frame new to the story): storyboard did not make them, so an artist did.
    for job in plan.jobs:
        if job.index not in known:
            image = _unknown(out_dir, job, claimed, made, store, write)
            if image is not None:
                kept[job.index] = Kept(Status.EDITED, image, {"sha256": image.sha256})
    return kept


def _unknown(out_dir: Path, job: Job, claimed: set[str], made: Container[object], store: Store, write: bool) -> Image | None:
    """Return the image of a file at this job's frame name that storyboard did not make, if any."""
    for found in _files_of(out_dir, job, claimed):
        if found.sha256 not in made:
            image = _image(found, store, write)
            if image is not None:
                return image
    return None


def _picked(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    out = [e for e in manifest.get("frames", []) if e.get("picked")]
    for c in manifest.get("characters", []):
        sheet = c.get("sheet")
        if sheet and sheet.get("file"):
            out.append({**sheet, "character": c["name"], "picked": True})
    return out


def _edited(
    out_dir: Path, entry: dict[str, Any], store: Store, made: Container[object], write: bool, job: Job
) -> Image | None:
    """Return the artist's image if this entry's file was changed by hand (or was before)."""
    was_edited = entry.get("status") == Status.EDITED
    take = entry.get("edited_take")
    if was_edited and isinstance(take, dict) and take.get("sha256") == entry["sha256"]:
        # Shown because of `pick: edited`, not edited in place: `survey` decides from the story.
        was_edited = False
        made = _Also(made, entry["sha256"])
    path = out_dir / entry["file"] if entry.get("file") else None
    if path is None or not path.is_file():
        # An edited file removed from frames/: the store still has it.
        return stored_image(store, entry["sha256"], entry.get("media_type")) if was_edited else None
    if not was_edited and entry.get("file_stat") == file_stat(path):
        return None  # untouched since storyboard wrote it: no need to read and hash it
    found = _read(path)
    if found is None:
        return None
    if found.sha256 == entry["sha256"]:
        return _image(found, store, write) if was_edited else None
    if found.sha256 in made:
        return None  # storyboard's own image: a run that stopped before its manifest was written
    image = _image(found, store, write)
    if image is None and was_edited:  # an unusable file saved over a good edit: that edit still shows
        return stored_image(store, entry["sha256"], entry.get("media_type"))
    return image


def _from_file(out_dir: Path, entry: dict[str, Any], store: Store, write: bool) -> Image | None:
    """Return a locked frame's image from its file when the store lost it (and store it again)."""
    path = out_dir / entry["file"] if entry.get("file") else None
    found = _read(path) if path is not None and path.is_file() else None
    return _image(found, store, write) if found is not None and found.sha256 == entry["sha256"] else None


def _files_of(out_dir: Path, job: Job, claimed: set[str]) -> Iterator[_Found]:
    """Yield the image files at this job's picked-frame name, whatever their extension."""
    for ext in KINDS:
        name = file_name(job, None, ext)
        path = out_dir / name
        if name not in claimed and path.is_file():
            found = _read(path)
            if found is not None:
                yield found


def _read(path: Path) -> _Found | None:
    try:
        data = fs.read(path)  # a symlink or a device at a frame's name is no edit
    except OSError:
        return None
    return _Found(path, data, sha256(data))


def _image(found: _Found, store: Store, write: bool) -> Image | None:
    """Return a file's image (stored first when `write`); None when it is no image we can show.

    An edit that is no usable image (cut short, damaged, a GIF under a .png name) is never shown,
    chained from or sent: with `write` it is moved to set-aside/, and the run says so."""
    from storyboard.story.check import image_problem

    kind = imaging.sniff(found.data)
    if kind is None:
        return None  # not an image (any more): the frame counts as missing, not as an edit
    problem = image_problem(found.data)
    try:
        w, h = imaging.dimensions(found.data)
    except ValueError:
        problem = problem or "cannot be decoded: the file is truncated or damaged. Save it again"
    if problem:
        rel = f"{found.path.parent.name}/{found.path.name}"
        if write:
            to = set_aside(found.path.parent.parent, found.path, found.data)
            store.report(f"{rel} was edited by hand but {problem.split('. ')[0]}; it is kept as {to}, and the "
                         f"frame shows the image it had before until an edit that opens is saved over {rel}.")
        return None
    ext = EXT.get(kind[0], kind[1])
    path = found.path
    if write:
        store.put_bytes(found.data, ext)
        path = store.object_path(found.sha256, ext)
    return Image(path, found.sha256, ext, kind[0], w, h)


def stored_image(store: Store, digest: str, media_type: str | None) -> Image | None:
    """Return the store's object of this hash, if it holds it whole."""
    path = store.holds(digest, EXT.get(media_type or ""))
    if path is None:
        return None
    ext = path.suffix[1:]
    try:
        w, h = imaging.dimensions(fs.read(path))
    except (ValueError, OSError):
        return None
    return Image(path, digest, ext, MEDIA.get(ext, "application/octet-stream"), w, h)
