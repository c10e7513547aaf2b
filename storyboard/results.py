"""What a run produces, as data: the status of a take, the images jobs made or kept, each take's
result and the run's totals. The runner fills them; frames, the manifest and the command line
read them (so none of those needs the runner)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storyboard.plan import Job

from storyboard.media import EXT, MEDIA  # noqa: F401  (re-exported: frames, kept and requests read them here)


class Status(StrEnum):
    """The status of one take; its value is what the manifest records."""

    PENDING = "pending"
    OK = "ok"  # received in this run
    CACHED = "cached"  # in the store from an earlier run
    EDITED = "edited"  # an artist changed the frame file: kept, never requested
    LOCKED = "locked"  # `lock: true`: kept, never requested
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def has_image(self) -> bool:
        """Tell whether a take of this status has an image to show and chain from."""
        return self in (Status.OK, Status.CACHED, Status.EDITED, Status.LOCKED)

    @property
    def kept(self) -> bool:
        """Tell whether this is an artist's image that a run keeps instead of requesting."""
        return self in (Status.EDITED, Status.LOCKED)


@dataclass(frozen=True)
class Image:
    """An image a job made (or kept): where its bytes are, not the bytes, so a 1000-frame run
    does not hold 1000 images in memory."""

    path: Path  # the store object (or a file) holding the bytes
    sha256: str
    ext: str
    media_type: str
    width: int
    height: int

    @property
    def data(self) -> bytes:
        """Read the image's bytes."""
        return self.path.read_bytes()


@dataclass
class TakeResult:
    """What happened to one take: the stuff of one manifest entry."""

    job: Job
    take: int
    status: Status = Status.PENDING
    key: str | None = None
    image: Image | None = None
    reason: str | None = None
    error: dict[str, Any] | None = None
    attempts: int = 0
    seconds: float | None = None
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    cost_estimated: bool = True
    request_id: str | None = None
    revised_prompt: str | None = None
    prompt: str | None = None
    size: str | None = None
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outpaint_added: dict[str, int] | None = None
    possibly_billed_twice: int = 0
    seed: int | None = None  # set where the backend takes seeds
    lost: bool = False  # received (and paid for) but could not be saved: the disk was full
    details: dict[str, Any] = field(default_factory=dict)  # the backend's facts (GeneratedImage.details), for the manifest

    def reuse(self, image: Image, meta: dict[str, Any]) -> None:
        """Become a cached take: the stored image and what its store record says of it."""
        self.status, self.image = Status.CACHED, image
        self.attempts, self.seconds, self.usage = meta.get("attempts", 0), meta.get("seconds"), meta.get("usage")
        self.cost_usd, self.cost_estimated = meta.get("cost_usd"), meta.get("cost_estimated", True)
        self.request_id, self.revised_prompt = meta.get("request_id"), meta.get("revised_prompt")
        self.details = dict(meta.get("details") or {})

    def keep(self, kept: Kept) -> None:
        """Become the kept take of an edited or locked frame, as its manifest entry recorded it."""
        self.status, self.image = kept.status, kept.image
        for k in ("key", "attempts", "seconds", "usage", "cost_usd", "request_id", "revised_prompt", "inputs"):
            setattr(self, k, kept.entry.get(k, getattr(self, k)))
        self.prompt = kept.entry.get("prompt", self.job.prompt)
        self.size = kept.entry.get("size", self.job.size)
        self.cost_estimated = kept.entry.get("cost_estimated", True)
        # what the backend recorded of the kept image: the keys the entry names in `backend_facts`
        self.details = {k: kept.entry[k] for k in kept.entry.get("backend_facts") or () if k in kept.entry}


@dataclass
class Kept:
    """An image that must not be replaced: an artist's edit or a locked frame."""

    status: Status  # EDITED or LOCKED
    image: Image
    entry: dict[str, Any]

    def __post_init__(self) -> None:
        self.status = Status(self.status)


@dataclass
class RunStats:
    """Totals of this run."""

    requests: int = 0
    images: int = 0
    retries: int = 0
    rate_limited: int = 0
    possibly_billed_twice: int = 0
    cost_usd: float = 0.0
    started: float = field(default_factory=time.time)
    seconds: float = 0.0  # wall time of the requests, set when the runner is done
