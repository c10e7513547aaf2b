"""Compute request keys the way a run does, for the pinned-key test (tests/test_request_keys.py).

One place to adapt when request assembly moves: the literals in the test must never change.
Chained frames get synthetic source images (a PNG written here, byte for byte the same on every
machine), so the keys pin the key function and request assembly, not the draft's drawing.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

from storyboard.plan import Plan, build_plan
from storyboard.requests import assemble, for_take
from storyboard.results import Image
from storyboard.story import load_story


def synthetic_png(width: int, height: int, shade: int) -> bytes:
    """Return a grey PNG of the given size, encoded here rather than by Pillow."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes([shade % 256]) * (3 * width)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


def plan_keys(plan: Plan, folder: Path) -> list[tuple[str, int, str]]:
    """Return (job name, take, request key) for every take of every job, in plan order."""
    sources: dict[int, Image] = {}
    out: list[tuple[str, int, str]] = []
    for job in plan.jobs:
        for d in job.deps:
            if d not in sources:
                w, h = (int(n) for n in (plan.jobs[d].size or "1024x1024").split("x"))
                data = synthetic_png(w, h, 40 + 17 * d)
                path = folder / f"source-{d}.png"
                path.write_bytes(data)
                sources[d] = Image(path, hashlib.sha256(data).hexdigest(), "png", "image/png", w, h)
        request = assemble(plan, job, {d: sources[d] for d in job.deps}).request
        for take in range(1, job.takes + 1):
            _, key = for_take(plan, job, take, request)
            out.append((job.name, take, key))
    return out


def story_keys(story: Path, backend: str, host: str | None, folder: Path) -> list[tuple[str, int, str]]:
    """Plan a story file for a backend and host, and return its keys."""
    plan = build_plan(load_story(story), backend=backend, host=host)
    return plan_keys(plan, folder)


def identity(env: dict[str, str], backend: str = "auto") -> tuple[str, str | None]:
    """Return the (backend name, host) that request keys use for this environment."""
    from storyboard.backends import registry

    chosen = registry.choose(backend, env, ["gpt-image-2"]).identity
    return chosen.name, chosen.host
