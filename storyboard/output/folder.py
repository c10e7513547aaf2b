"""The output folder DIR as a run takes it: a folder (not a file), empty or a storyboard's (never
someone else's files to overwrite), held with the folder lock, cleared of what a killed run left
half-done, and with the manifest the last run wrote (a damaged one kept aside, a newer one refused)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storyboard.errors import DiskError, OutputDirError
from storyboard.output import fs
from storyboard.output.lock import dir_lock
from storyboard.output.manifest import MANIFEST, read_previous
from storyboard.output.store import sha256

# Files a folder may hold and still count as empty: what desktops and version control leave.
IGNORED = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", ".localized", ".gitkeep", ".keep", ".lock"})
STORE = ".cache"


@dataclass
class Held:
    """An output folder held for a run: the previous manifest and what the user should hear."""

    path: Path
    previous: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)


def check_out_dir(out_dir: Path) -> None:
    """Refuse an output path that is a file, or a non-empty folder that holds no storyboard."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputDirError(
            f"{out_dir} is a file, not a folder: storyboard writes a folder of frames. "
            f"Choose an output folder with -o, e.g. -o {free_folder(out_dir.with_suffix(''))}."
        )
    if not out_dir.is_dir():
        return
    try:
        names = [n for n in os.listdir(out_dir) if n not in IGNORED]
    except OSError:
        return  # unreadable: writing it will say why
    if names and MANIFEST not in names and STORE not in names:
        shown = ", ".join(sorted(names)[:3]) + (", ..." if len(names) > 3 else "")
        raise OutputDirError(
            f"{out_dir} is not empty ({shown}) and holds no storyboard (no {MANIFEST}): a run would overwrite "
            f"and remove its files. Choose an empty or new folder with -o, e.g. -o {free_folder(out_dir)}."
        )


def free_folder(near: Path) -> Path:
    """Return a folder name beside `near` that does not exist yet."""
    if not near.name:  # "." or "..": name the folder itself
        near = Path(os.path.abspath(near))
    if not near.name:  # the root of the disk: a folder in it
        near = near / "storyboard"
    base = near if not near.exists() else near.with_name(f"{near.name}-storyboard")
    n = 2
    candidate = base
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{n}")
        n += 1
    return candidate


@contextlib.contextmanager
def hold(out_dir: Path) -> Iterator[Held]:
    """Take DIR for a run: check it, lock it, sweep a killed run's temp files, read the last manifest."""
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    # The store comes first: from its first moment the folder is recognisably a storyboard's.
    try:
        fs.mkdir(out_dir / STORE, root=out_dir)
    except DiskError as e:
        raise DiskError.of(out_dir, e) from None  # the folder itself is what cannot be written
    with dir_lock(out_dir):
        fs.sweep(out_dir)  # only the lock holder may: another run's temp files look the same
        problems: list[str] = []
        previous = read_previous(out_dir, problems)
        held = Held(out_dir, previous)
        if problems:
            held.notes.append(_keep_damaged(out_dir, problems))
        yield held


def _keep_damaged(out_dir: Path, problems: list[str]) -> str:
    """Keep a copy of a damaged manifest in the store (this run replaces it); say so."""
    path = out_dir / MANIFEST
    data = path.read_bytes()
    copy = out_dir / STORE / "manifests" / f"{sha256(data)}.json"
    fs.write(copy, data, root=out_dir)
    return (
        f"{path} is damaged ({problems[0]}); a copy is kept as {copy.relative_to(out_dir).as_posix()}. This run "
        "writes a new one; frame files storyboard did not make are kept as hand-edited."
    )
