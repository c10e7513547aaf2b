"""Backends: one async method that turns an `ImageRequest` into a `GeneratedImage`.

The runner knows backends only through `Backend`. Each backend is a plugin (`plugin.Plugin`),
found through the entry-point group `storyboard.backends` (`registry`). A backend raises the
`RequestFailed` family from `storyboard.errors` and never retries by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from storyboard.ratelimits import Limits

Kind = Literal["generate", "edit", "variation"]
Role = Literal["source", "reference", "mask"]


@dataclass(frozen=True)
class InputImage:
    """An image sent with a request: the chain source, a character reference or a mask."""

    data: bytes
    sha256: str
    media_type: str  # image/png, image/jpeg, image/webp
    role: Role
    label: str  # where it came from, for people: "frame 02 city", "refs/rex.png"

    @property
    def filename(self) -> str:
        """Return a file name with the extension of its type, as multipart uploads need."""
        from storyboard.media import EXT

        ext = EXT.get(self.media_type, "png")
        return f"{self.role}-{self.sha256[:12]}.{ext}"


@dataclass(frozen=True)
class Outpainting:
    """Where the source sits on an outpaint canvas, so a draft can hatch the new area."""

    extend: str
    box: tuple[int, int, int, int]  # left, top, right, bottom of the source on the canvas


@dataclass(frozen=True)
class FrameLabel:
    """Who a request is for; not sent and not part of any key. A backend must not draw what
    can change without changing the key (number, caption, takes): a cached image would go stale."""

    number: int
    id: str | None
    caption: str | None
    take: int
    takes: int
    characters: tuple[str, ...] = ()
    outpaint: Outpainting | None = None
    chain: str = "generate"  # the story's kind: generate, edit, outpaint or variation


@dataclass(frozen=True)
class ImageRequest:
    """Exactly what is sent for one image (single-n: one image per request)."""

    kind: Kind
    model: str
    prompt: str
    size: str | None  # "1536x1024"; None sends no size
    quality: str | None  # None sends no quality (legacy profiles without one)
    options: dict[str, Any] = field(default_factory=dict)
    images: tuple[InputImage, ...] = ()  # source first, then references
    mask: InputImage | None = None
    seed: int | None = None  # for backends that take seeds; None sends none
    label: FrameLabel | None = field(default=None, compare=False)

    def key_material(self) -> dict[str, Any]:
        """Return the part of the request that a request key hashes."""
        return {
            "kind": self.kind,
            "model": self.model,
            "prompt": self.prompt,
            "size": self.size,
            "quality": self.quality,
            "options": dict(sorted(self.options.items())),
            "images": [i.sha256 for i in self.images],
            "mask": self.mask.sha256 if self.mask else None,
            # Only where a seed is sent, so the keys of seedless requests stay as they were.
            **({"seed": self.seed} if self.seed is not None else {}),
        }


@dataclass(frozen=True)
class GeneratedImage:
    """One image as received: encoded bytes, never re-encoded."""

    data: bytes
    media_type: str
    revised_prompt: str | None = None
    usage: dict[str, Any] | None = None
    request_id: str | None = None
    limits: Limits | None = None  # what the answer's x-ratelimit headers said, for the run's pacing
    details: dict[str, Any] | None = None  # backend facts the manifest records with the take (steps, revision)


class Backend(Protocol):
    """What the runner needs of a backend (made by `Plugin.from_environment`)."""

    name: str
    host: str | None  # where requests go, for messages; keys use the plugin's `identity`

    async def generate(self, request: ImageRequest) -> GeneratedImage:
        """Send one request and return its image.

        Raise `TransientFailure` for what may succeed when tried again (drops, timeouts,
        408, 409, 429, 5xx; `retry_after` from the server's hint; `ambiguous` when the
        server may already have done the work), `FrameFailure` for what never will
        (moderation, rejected parameters) and `FatalFailure` for what ends the run
        (no quota, a bad key, no permission). Never retry here: the runner does.
        """
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


# The plugin API, for backends' own packages: `from storyboard.backends import Plugin`.
from storyboard.backends.plugin import Hints, Identity, Notice, Plugin  # noqa: E402

__all__ = [
    "Backend", "FrameLabel", "GeneratedImage", "Hints", "Identity", "ImageRequest", "InputImage", "Notice",
    "Outpainting", "Plugin",
]  # fmt: skip
