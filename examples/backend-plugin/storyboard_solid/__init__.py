"""An example storyboard backend: every image a solid colour picked by a hash of its request.

It shows the whole plugin API in one file: a `Plugin` (name, profiles, the models it claims,
its settings from the environment, seeds, its notice on the contact sheet) and the `Backend`
it builds (one async `generate`). It needs nothing but the standard library: the PNG is
written by hand, so importing this module stays as light as storyboard asks.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Mapping
from typing import Any

from storyboard.backends import GeneratedImage, ImageRequest, Notice, Plugin
from storyboard.errors import FrameFailure, UsageError
from storyboard.models import FLEXIBLE_PRESETS, ModelProfile, SizeRule

NAME = "solid"

PROFILE = ModelProfile(
    name="solid",
    known=True,
    sizes=("1024x1024", "1536x1024", "1024x1536"),
    presets=dict(FLEXIBLE_PRESETS),
    qualities=("flat",),
    default_quality="flat",
    prompt_limit=10_000,
    max_inputs=16,
    edits=True,  # an edit is a colour too: the inputs are read by nobody
    mask=True,
    references=True,
    variations="native",
    options={"shade": ("light", "dark")},
    price=None,  # free: the plugin says so, and nothing is estimated
    size_rule=SizeRule(step=8, max_aspect=4, min_pixels=64 * 64, max_pixels=4096 * 4096, max_edge=4096),
    backend=NAME,
)


def colour(request: ImageRequest) -> tuple[int, int, int]:
    """Pick the colour from what the request asks (prompt, model, seed): the same request, the same colour."""
    digest = hashlib.sha256(f"{request.model}\n{request.prompt}\n{request.seed}".encode()).digest()
    r, g, b = digest[0], digest[1], digest[2]
    if request.options.get("shade") == "dark":
        r, g, b = r // 3, g // 3, b // 3
    elif request.options.get("shade") == "light":
        r, g, b = 170 + r // 3, 170 + g // 3, 170 + b // 3
    return r, g, b


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """Encode a solid RGB picture as PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(row * height, 6)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


class SolidBackend:
    """Make every image a solid colour, in-process and at once."""

    name = NAME
    host: str | None = None

    def __init__(self, size: str = "1024x1024") -> None:
        self.default_size = size

    async def generate(self, request: ImageRequest) -> GeneratedImage:
        """Return one solid PNG of the request's size."""
        try:
            width, height = (int(n) for n in (request.size or self.default_size).lower().split("x"))
        except ValueError:
            raise FrameFailure(f"the solid backend cannot draw size {request.size!r}", type="solid") from None
        rgb = colour(request)
        return GeneratedImage(png(width, height, rgb), "image/png", details={"colour": "#" + bytes(rgb).hex()})

    async def aclose(self) -> None:
        """Hold nothing."""


class SolidPlugin(Plugin):
    """The solid-colour backend, as storyboard plans for it."""

    name = NAME
    free = True
    seeds = "every"  # each take gets a seed (SPEC §3), so takes differ in colour
    notice = Notice(tag="Solid colours", text="Every frame is a flat colour from the solid example backend.")

    def profiles(self) -> list[ModelProfile]:
        """Return the one model this backend has."""
        return [PROFILE]

    def claims(self, model: str) -> bool:
        """Claim `solid` and `solid-<anything>`, so `auto` chooses this backend for them."""
        return model == NAME or model.startswith(f"{NAME}-")

    def get_profile(self, model: str) -> ModelProfile:
        """Give every name it claims the one profile."""
        from dataclasses import replace

        return replace(PROFILE, name=model) if self.claims(model) else super().get_profile(model)

    def from_environment(self, env: Mapping[str, str], flags: Mapping[str, Any]) -> SolidBackend:
        """Read SOLID_DEFAULT_SIZE (for requests without a size), refusing a malformed one (exit 2)."""
        size = env.get("SOLID_DEFAULT_SIZE", "1024x1024")
        w, _, h = size.lower().partition("x")
        if not (w.isdigit() and h.isdigit()):
            raise UsageError(f"SOLID_DEFAULT_SIZE {size!r} is not WxH; write e.g. 1024x1024.")
        return SolidBackend(size)


plugin = SolidPlugin()
