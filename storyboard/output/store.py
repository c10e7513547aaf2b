"""The content-addressed store `DIR/.cache/`: every image ever received, the request keys that
produced them, and the journal of requests sent. Every write goes through `fs` (temp file, fsync,
rename, fsync of the folder), so a kill at any moment leaves the old state or the new one.

    .cache/objects/ab/<sha256>.<ext>   image bytes as received
    .cache/keys/ab/<key>.json          what a request key produced (sha256, ext, usage, cost ...)
    .cache/journal.jsonl               {"sent": key, ...} before a request, {"done": key} after
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard.errors import OutputDirError
from storyboard.output import fs


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

    def __init__(self, out_dir: Path, *, read_only: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.read_only = read_only  # a forecast (`plan`, the spend question) repairs nothing: the run does, under its lock
        self.root = self.out_dir / ".cache"
        self.objects = self.root / "objects"
        self.keys = self.root / "keys"
        self.journal_path = self.root / "journal.jsonl"
        self._journal: Any = None
        self._whole: set[Path] = set()  # objects whose bytes were checked against their name
        self.damaged: list[str] = []  # what was found damaged, said once each (for the report)
        self._spares: dict[str, list[str]] | None = None  # sha256 -> frame files holding those bytes
        self._received: set[str] | None = None  # see received()

    def object_path(self, digest: str, ext: str) -> Path:
        """Return where the object with this hash and extension lives."""
        return self.objects / digest[:2] / f"{digest}.{ext}"

    def put_bytes(self, data: bytes, ext: str) -> str:
        """Store bytes by their hash (once: a whole object is not written again) and return the hash."""
        digest = sha256(data)
        path = self.object_path(digest, ext)
        if path not in self._whole:
            try:
                whole = path.stat().st_size == len(data) and _hash_file(path) == digest
            except OSError:
                whole = False
            if not whole:
                fs.write(path, data, root=self.out_dir)
            self._whole.add(path)
        return digest

    def holds(self, digest: str, ext: str | None = None) -> Path | None:
        """Return the object with this hash if the store holds it whole (its bytes hash to its name);
        a damaged one counts as missing, and is said so once."""
        if ext and self.object_path(digest, ext) in self._whole:
            return self.object_path(digest, ext)  # checked already this run: no folder listing again
        exts = [ext] if ext else []
        if self.objects.is_dir():
            exts += [p.suffix[1:] for p in sorted((self.objects / digest[:2]).glob(f"{digest}.*")) if p.suffix[1:] not in exts]
        for e in exts:
            path = self.object_path(digest, e)
            if path in self._whole:
                return path
            try:
                actual = _hash_file(path)
            except OSError:
                continue
            if actual == digest:
                self._whole.add(path)
                return path
            self._damaged(f"{path.relative_to(self.out_dir).as_posix()} is damaged (its bytes no longer match its sha256)")
        return self._repair(digest, exts[0] if exts else None)

    def _repair(self, digest: str, ext: str | None) -> Path | None:
        """Put a missing or damaged object back from a frame file that still holds its bytes
        (the manifest says which), so nothing is bought twice; None when none does."""
        if self.read_only:
            return None
        if self._spares is None:
            self._spares = {}
            with contextlib.suppress(OSError, ValueError, TypeError, AttributeError):
                manifest = json.loads((self.out_dir / "manifest.json").read_text(encoding="utf-8"))
                for e in manifest.get("frames", []) + [c.get("sheet") or {} for c in manifest.get("characters", [])]:
                    for k in ("file", "take_file"):
                        if isinstance(e.get(k), str) and isinstance(e.get("sha256"), str):
                            self._spares.setdefault(e["sha256"], []).append(e[k])
        for name in self._spares.get(digest, []):
            try:
                path = fs.inside(self.out_dir, self.out_dir / name)
                data = fs.read(path)
            except (OSError, OutputDirError):
                continue
            if sha256(data) != digest:
                continue
            target = self.object_path(digest, ext or path.suffix[1:])
            try:
                fs.write(target, data, root=self.out_dir)
            except OSError:
                return None
            self._whole.add(target)
            self._damaged(f"{target.relative_to(self.out_dir).as_posix()} was put back from {name}")
            return target
        return None

    def read(self, digest: str, ext: str) -> bytes:
        """Return an object's bytes."""
        return fs.read(self.object_path(digest, ext))

    def get(self, key: str) -> Record | None:
        """Return what a request key produced, if the store still holds its image whole.

        A damaged key record or image counts as missing (the request is made again) and is said so."""
        path = self.keys / key[:2] / f"{key}.json"
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            meta = None
        if not _is_record(meta):
            self._damaged(f"{path.relative_to(self.out_dir).as_posix()} is damaged (not a key record)")
            return None
        rec = Record(key, meta["sha256"], meta["ext"], meta["media_type"], meta)
        if self.holds(rec.sha256, rec.ext) != self.object_path(rec.sha256, rec.ext):
            return None
        return rec

    def put(self, key: str, data: bytes, ext: str, media_type: str, meta: dict[str, Any]) -> Record:
        """Store an image received for a request key: bytes first, then the key's record."""
        digest = self.put_bytes(data, ext)
        full = {**meta, "sha256": digest, "ext": ext, "media_type": media_type, "stored": time.time()}
        fs.write(self.keys / key[:2] / f"{key}.json", json.dumps(full, sort_keys=True).encode(), root=self.out_dir)
        if self._received is not None:
            self._received.add(digest)
        return Record(key, digest, ext, media_type, full)

    def received(self) -> set[str]:
        """Return the sha256 of every image received into this store (its key records), read once."""
        if self._received is None:
            self._received = {m["sha256"] for _, m in self.key_records()}
        return self._received

    # The journal: a key is written before its request is sent, so a killed run is followed
    # by one that knows which requests may have been paid for without their image arriving.

    def journal(self, event: str, key: str, **extra: Any) -> None:
        """Append one line to the journal and flush it to disk."""
        if self._journal is None:
            self._journal = fs.Log(self.journal_path, root=self.out_dir)
        # A "done" line follows the key's record, already on disk (put() syncs it): if the line is
        # lost, unfinished() still finds the record. Syncing it only stalled the event loop.
        self._journal.append(json.dumps({event: key, "t": round(time.time(), 3), **extra}), durable=event != "done")

    def unfinished(self) -> list[dict[str, Any]]:
        """Return each request journalled as sent that was never answered (nor failed, nor already
        reported), one entry per request: a key sent by a killed run and bought again later counts
        once for the request whose image never came. Entries of images that arrived but could not be
        saved carry `lost: True`."""
        try:
            lines = self.journal_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        open_: dict[str, list[dict[str, Any]]] = {}  # key -> its unanswered sends, oldest first
        last: dict[str, str] = {}  # key -> its latest event
        for line in lines:
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            if not isinstance(e, dict):
                continue
            if "sent" in e:
                open_.setdefault(e["sent"], []).append(e)
            if "lost" in e and open_.get(e["lost"]):  # it arrived, but could not be saved (a full disk)
                open_[e["lost"]][-1] = {**open_[e["lost"]][-1], "lost": True}
            for k in ("done", "failed"):
                if k in e and open_.get(e[k]):
                    open_[e[k]].pop()  # the newest send is the one answered
            if "settled" in e and e["settled"] in open_:
                n = e.get("n")
                del open_[e["settled"]][: n if isinstance(n, int) else None]
            for k in ("sent", "done", "failed", "lost"):
                if k in e:
                    last[e[k]] = k
        out: list[dict[str, Any]] = []
        for key, sends in open_.items():
            # The latest send answered and stored, its "done" line (not synced) lost with a kill:
            record = self.get(key) if sends and last.get(key) == "sent" else None
            if record is not None and record.meta.get("stored", 0) + 0.001 >= sends[-1].get("t", 0):
                sends = sends[:-1]
            out += sends
        return out

    def settle(self, keys: list[str]) -> None:
        """Mark journalled requests as reported, so they are reported once: one per occurrence of a key."""
        for key, n in Counter(keys).items():
            self.journal("settled", key, n=n)

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
        """Yield every well-formed key record with its path (damaged ones are skipped)."""
        if self.keys.exists():
            for p in self.keys.glob("*/*.json"):
                try:
                    meta = json.loads(p.read_text(encoding="utf-8"))
                except (ValueError, OSError):
                    continue
                if _is_record(meta):
                    yield p, meta

    def report(self, what: str) -> None:
        """Add something found in the output folder that the user should hear (once)."""
        self._damaged(what)

    def _damaged(self, what: str) -> None:
        if what not in self.damaged:
            self.damaged.append(what)



def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with fs.open_read(path) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


_HEX = frozenset("0123456789abcdef")


def _is_record(meta: Any) -> bool:
    """Tell whether parsed JSON has the shape of a key record (what `put` writes)."""
    return (
        isinstance(meta, dict)
        and isinstance(meta.get("sha256"), str) and len(meta["sha256"]) == 64 and set(meta["sha256"]) <= _HEX
        and isinstance(meta.get("ext"), str) and meta["ext"].isalnum()
        and isinstance(meta.get("media_type"), str)
    )
