"""`storyboard gc`: drop images from the store that the manifest does not use."""

from __future__ import annotations

from pathlib import Path

from storyboard.output import fs
from storyboard.output.lock import dir_lock
from storyboard.output.manifest import load_manifest
from storyboard.output.store import Store


def collect(out_dir: Path, *, keep: int = 0) -> tuple[int, int]:
    """Remove unused store objects (and their key records); keep the newest `keep` per frame.

    Returns (objects removed, bytes freed). Refused while a run holds the folder: it may be
    about to use an image no manifest names yet."""
    out_dir = Path(out_dir)
    load_manifest(out_dir)  # a folder without one is refused before the lock file is made
    with dir_lock(out_dir, doing="gc"):
        return _collect(out_dir, keep)


def _collect(out_dir: Path, keep: int) -> tuple[int, int]:
    manifest = load_manifest(out_dir)
    used = {e["sha256"] for e in manifest["frames"] if e.get("sha256")}
    used |= {e["edited_take"]["sha256"] for e in manifest["frames"] if (e.get("edited_take") or {}).get("sha256")}
    used |= {c["sheet"]["sha256"] for c in manifest.get("characters", []) if c.get("sheet") and c["sheet"].get("sha256")}
    store = Store(out_dir)
    by_frame: dict[str, list[tuple[float, str]]] = {}
    records = list(store.key_records())
    for _, meta in records:
        by_frame.setdefault(str(meta.get("frame")), []).append((meta.get("stored", 0.0), meta["sha256"]))
    if keep > 0:
        for items in by_frame.values():
            used |= {sha for _, sha in sorted(items, reverse=True)[:keep]}
    removed = freed = 0
    for path in list(store.used_objects()):
        if path.stem in used:
            continue
        freed += path.stat().st_size
        fs.unlink(path, root=out_dir)
        removed += 1
    for path, meta in records:
        if meta["sha256"] not in used:
            fs.unlink(path, root=out_dir)
    return removed, freed
