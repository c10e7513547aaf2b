"""The content-addressed store `DIR/.cache/`: every image ever received, the request keys that
produced them, and the journal of requests sent. Every write goes through `fs` (temp file, fsync,
rename, fsync of the folder), so a kill at any moment leaves the old state or the new one.

    .cache/objects/ab/<sha256>.<ext>   image bytes as received
    .cache/keys/ab/<key>.json          what a request key produced (sha256, ext, usage, cost ...)
    .cache/journal.jsonl               {"sent": key, ...} before a request, {"done": key} after
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.root = self.out_dir / ".cache"
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
        try:
            whole = path.stat().st_size == len(data)
        except FileNotFoundError:
            whole = False
        if not whole:
            fs.write(path, data, root=self.out_dir)
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
        fs.write(self.keys / key[:2] / f"{key}.json", json.dumps(full, sort_keys=True).encode(), root=self.out_dir)
        return Record(key, digest, ext, media_type, full)

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
        """Yield every key record with its path."""
        if self.keys.exists():
            for p in self.keys.glob("*/*.json"):
                try:
                    yield p, json.loads(p.read_text())
                except (json.JSONDecodeError, OSError):
                    continue

