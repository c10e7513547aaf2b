"""The content-addressed store `DIR/.cache/`: every image ever received, the request keys that
produced them, and the journal of requests sent. Writes are atomic (temp file, fsync, rename),
so a kill at any moment leaves either the old state or the new one, never half a file.

    .cache/objects/ab/<sha256>.<ext>   image bytes as received
    .cache/keys/ab/<key>.json          what a request key produced (sha256, ext, usage, cost ...)
    .cache/journal.jsonl               {"sent": key, ...} before a request, {"done": key} after
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard.errors import OutputDirError

LOCK = ".lock"


def atomic_write(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write bytes to `path` so that no reader ever sees a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def sha256(data: bytes) -> str:
    """Return the hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Record:
    """What one request key produced."""

    key: str
    sha256: str
    ext: str
    media_type: str
    meta: dict[str, Any]


class Store:
    """The `.cache/` folder of one output directory."""

    def __init__(self, out_dir: Path) -> None:
        self.root = Path(out_dir) / ".cache"
        self.objects = self.root / "objects"
        self.keys = self.root / "keys"
        self.journal_path = self.root / "journal.jsonl"
        self._journal: Any = None

    def object_path(self, digest: str, ext: str) -> Path:
        """Return where the object with this hash and extension lives."""
        return self.objects / digest[:2] / f"{digest}.{ext}"

    def put_bytes(self, data: bytes, ext: str) -> str:
        """Store bytes by their hash (once) and return the hash."""
        digest = sha256(data)
        path = self.object_path(digest, ext)
        if not path.exists():
            atomic_write(path, data)
        return digest

    def read(self, digest: str, ext: str) -> bytes:
        """Return an object's bytes."""
        return self.object_path(digest, ext).read_bytes()

    def get(self, key: str) -> Record | None:
        """Return what a request key produced, if its image is still in the store."""
        path = self.keys / key[:2] / f"{key}.json"
        try:
            meta = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        rec = Record(key, meta["sha256"], meta["ext"], meta["media_type"], meta)
        if not self.object_path(rec.sha256, rec.ext).exists():
            return None
        return rec

    def put(self, key: str, data: bytes, ext: str, media_type: str, meta: dict[str, Any]) -> Record:
        """Store an image received for a request key: bytes first, then the key's record."""
        digest = self.put_bytes(data, ext)
        full = {**meta, "sha256": digest, "ext": ext, "media_type": media_type, "stored": time.time()}
        atomic_write(self.keys / key[:2] / f"{key}.json", json.dumps(full, sort_keys=True).encode())
        return Record(key, digest, ext, media_type, full)

    # The journal: a key is written before its request is sent, so a killed run is followed
    # by one that knows which requests may have been paid for without their image arriving.

    def journal(self, event: str, key: str, **extra: Any) -> None:
        """Append one line to the journal and flush it to disk."""
        if self._journal is None:
            self.root.mkdir(parents=True, exist_ok=True)
            self._journal = open(self.journal_path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
        self._journal.write(json.dumps({event: key, "t": round(time.time(), 3), **extra}) + "\n")
        self._journal.flush()
        # A "done" line follows the key's record, already on disk (put() syncs it): if the line is
        # lost, unfinished() still finds the record. Syncing it only stalled the event loop.
        if event != "done":
            os.fsync(self._journal.fileno())

    def unfinished(self) -> list[dict[str, Any]]:
        """Return requests journalled as sent whose image never arrived (and were not failed); those
        that arrived but could not be saved carry `lost: True`."""
        try:
            lines = self.journal_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        sent: dict[str, dict[str, Any]] = {}
        for line in lines:
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            if "sent" in e:
                sent[e["sent"]] = e
            if "lost" in e and e["lost"] in sent:  # it arrived, but could not be saved (a full disk)
                sent[e["lost"]] = {**sent[e["lost"]], "lost": True}
            for k in ("done", "failed", "settled"):
                if k in e:
                    sent.pop(e[k], None)
        return [e for k, e in sent.items() if self.get(k) is None]

    def settle(self, keys: list[str]) -> None:
        """Mark journalled requests as reported, so they are reported once."""
        for k in keys:
            self.journal("settled", k)

    def close(self) -> None:
        """Close the journal."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def used_objects(self) -> Iterator[Path]:
        """Yield every object file in the store."""
        if self.objects.exists():
            yield from self.objects.glob("*/*.*")

    def key_records(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Yield every key record with its path."""
        if self.keys.exists():
            for p in self.keys.glob("*/*.json"):
                try:
                    yield p, json.loads(p.read_text())
                except (json.JSONDecodeError, OSError):
                    continue


@contextlib.contextmanager
def dir_lock(out_dir: Path) -> Iterator[None]:
    """Hold DIR/.lock for a run: a second run refuses; a dead process's lock is taken over."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / LOCK
    me = str(os.getpid())
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(path.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and _alive(pid) and pid != os.getpid():
                raise OutputDirError(
                    f"{out_dir}: another storyboard run (pid {pid}) is using this folder. "
                    "Wait for it to finish, or choose another -o."
                ) from None
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a dead process's lock
            continue
        with os.fdopen(fd, "w") as f:
            f.write(me)
        break
    else:
        raise OutputDirError(f"{out_dir}: could not take the lock {path}; remove it if no run is using the folder.")
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            if path.read_text().strip() == me:
                path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
