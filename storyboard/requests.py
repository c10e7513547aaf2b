"""Requests: the exact request each take of a job sends, and the request key that names it in
the store. Pure: input files are read, nothing is written (the input copies for `DIR/inputs/`
come back as bytes), so `run`, `plan` and the tests assemble requests the same way.

A request key hashes the backend (name and base-URL host), the request as sent (model, prompt,
size, quality, options, the input images' and mask's hashes, the seed where one is sent), the
frame's identity and the take, and KEY_VERSION. Changing any of this re-buys every image."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from storyboard import models, names
from storyboard.backends import FrameLabel, ImageRequest, InputImage, Outpainting
from storyboard.errors import FrameFailure
from storyboard.plan import Job, Plan
from storyboard.render import imaging
from storyboard.results import EXT, Image

KEY_VERSION = 1
SENDABLE = ("image/png", "image/jpeg", "image/webp")  # what the edits endpoint takes


@dataclass(frozen=True)
class Assembled:
    """A job's request (shared by its takes), what the manifest records of its inputs, and the
    copies of its input files that make the output folder complete on its own."""

    request: ImageRequest
    inputs: list[dict[str, Any]]
    added: dict[str, int] | None = None  # outpaint: the pixels really added on each side
    copies: dict[str, bytes] = field(default_factory=dict)  # "inputs/<sha256>.<ext>" -> bytes


def assemble(plan: Plan, job: Job, sources: Mapping[int, Image]) -> Assembled:
    """Build the exact request of `job` from its sources' images; raise FrameFailure when an
    input cannot be used (unreadable, not an image, an impossible outpaint or mask)."""
    images: list[InputImage] = []
    inputs: list[dict[str, Any]] = []
    copies: dict[str, bytes] = {}
    mask: InputImage | None = None
    size, added, outpaint_label = job.size, None, None

    def copy(data: bytes) -> str:
        name = f"inputs/{_sha(data)}.{_ext(data)}"
        copies[name] = data
        return name

    if job.source is not None:
        if job.source.job is not None:
            src = sources[job.source.job]
            data, media = src.data, src.media_type
            inputs.append({"role": "source", "frame": plan.jobs[job.source.job].id, "file": None, "sha256": src.sha256})
        else:
            data = _read(job.source.file, "source")  # type: ignore[arg-type]
            media = _media(data, str(job.source.file))
            inputs.append({"role": "source", "frame": None, "file": copy(data), "sha256": _sha(data),
                           "path": job.source.label})
        if job.kind == "outpaint":
            w, h = imaging.dimensions(data)
            try:
                geo = models.outpaint_geometry(job.profile, w, h, job.outpaint["extend"], job.outpaint["by"])  # type: ignore[index]
            except ValueError as e:
                raise FrameFailure(str(e), type="outpaint") from None
            canvas, mask_png = imaging.outpaint_canvas(data, geo.canvas, geo.box)
            size, added = f"{geo.canvas[0]}x{geo.canvas[1]}", geo.added
            outpaint_label = Outpainting(job.outpaint["extend"], geo.box)  # type: ignore[index]
            data, media = canvas, "image/png"
            mask = InputImage(mask_png, _sha(mask_png), "image/png", "mask", "outpaint mask")
            inputs.append({"role": "mask", "frame": None, "file": copy(mask_png), "sha256": mask.sha256})
        elif job.kind == "variation" and job.request_kind == "variation":
            data, media = imaging.square_png(data, models.parse_size(size or "1024x1024")[0]), "image/png"
        if media not in SENDABLE:
            data, media = imaging.to_png(data), "image/png"
        images.append(InputImage(data, _sha(data), media, "source", _source_label(plan, job)))

    if job.mask is not None:
        data = _read(job.mask, "mask")
        if images:
            problem = imaging.check_mask(data, imaging.dimensions(images[0].data))
            if problem:
                raise FrameFailure(f"mask {job.mask.name}: {problem}", type="mask")
        mask = InputImage(data, _sha(data), "image/png", "mask", job.mask.name)
        inputs.append({"role": "mask", "frame": None, "file": copy(data), "sha256": mask.sha256,
                       "path": job.mask_label or job.mask.name})

    for ref in job.references:
        if ref.job is not None:
            img = sources[ref.job]
            data, media = img.data, img.media_type
            inputs.append({"role": "reference", "frame": None, "character": ref.character,
                           "file": names.character_file(plan.jobs[ref.job].name, img.ext), "sha256": img.sha256})
        else:
            data = _read(ref.file, "reference")  # type: ignore[arg-type]
            media = _media(data, str(ref.file))
            if media not in SENDABLE:
                data, media = imaging.to_png(data), "image/png"
            inputs.append({"role": "reference", "frame": None, "character": ref.character,
                           "file": copy(data), "sha256": _sha(data), "path": ref.label})
        images.append(InputImage(data, _sha(data), media, "reference", ref.label))

    if job.profile.square_inputs and job.request_kind == "edit" and images:
        # DALL·E 2 edits take one square PNG under 4 MB (and a mask of its size): normalised as variations are.
        side = models.parse_size(size or "1024x1024")[0]
        first = images[0]
        if first.media_type != "image/png" or imaging.dimensions(first.data) != (side, side) or len(first.data) >= imaging.MAX_MASK_BYTES:
            data = imaging.square_png(first.data, side)
            images[0] = InputImage(data, _sha(data), "image/png", first.role, first.label)
            if mask is not None and imaging.dimensions(mask.data) != (side, side):
                mask_png = imaging.square_png(mask.data, side)
                mask = InputImage(mask_png, _sha(mask_png), "image/png", "mask", mask.label)

    label = FrameLabel(job.number or 0, job.id or job.character, job.caption, 1, job.takes, job.characters,
                       outpaint_label, job.kind)
    request = ImageRequest(
        kind=job.request_kind,  # type: ignore[arg-type]
        model=job.model, prompt=job.prompt, size=size, quality=job.quality, options=dict(job.options),
        images=tuple(images), mask=mask, label=label,
    )
    return Assembled(request, inputs, added, copies)


def _source_label(plan: Plan, job: Job) -> str:
    """Name a chain's source for people (a draft draws it): by the source frame's id, never its
    number, which a reorder changes without changing any request; a file by its path."""
    src = job.source
    assert src is not None
    if src.job is None:
        return src.label
    frame_id = plan.jobs[src.job].id
    return f"frame {frame_id}" if frame_id else "an earlier frame"


def for_take(plan: Plan, job: Job, take: int, request: ImageRequest) -> tuple[ImageRequest, str]:
    """Return the request of one take (its label numbered, its seed set where the backend takes
    seeds) and its request key."""
    label = replace(request.label, take=take) if request.label else None
    sends = plan.seeds == "every" or (plan.seeds == "explicit" and job.seed is not None)
    request = replace(request, label=label, seed=take_seed(job, take) if sends else None)
    extra = plan.plugin.key_material(request)
    return request, request_key(plan.backend, plan.host, request, job.ident, take, extra)


def request_key(
    backend: str, host: str | None, request: ImageRequest, ident: str, take: int, extra: Mapping[str, Any] | None = None
) -> str:
    """Return the request key: what was asked, of whom, for which frame and take (and what else
    the backend says its images depend on: `Plugin.key_material`, hashed only when it says any)."""
    material = {
        "v": KEY_VERSION,
        "backend": backend,
        "host": host,
        "request": request.key_material(),
        "frame": ident,
        "take": take,
        **({"backend_key": dict(extra)} if extra else {}),
    }
    blob = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def take_seed(job: Job, take: int) -> int:
    """Return the seed of one take: the story's seed + take - 1, else one derived from the
    frame's identity (its id, or its position) and the take, never from the prompt, so rewording
    a prompt keeps the composition's noise."""
    from storyboard.story.schema import MAX_SEED

    if job.seed is not None:
        return (job.seed + take - 1) % (MAX_SEED + 1)
    who = job.id or job.character or f"#{job.number}"
    digest = hashlib.sha256(f"storyboard-seed:{who}:{take}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ext(data: bytes) -> str:
    kind = imaging.sniff(data)
    return EXT.get(kind[0], kind[1]) if kind else "bin"


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise FrameFailure(f"{what} file {path} cannot be read ({e.strerror})", type=what) from None


def _media(data: bytes, name: str) -> str:
    kind = imaging.sniff(data)
    if kind is None:
        raise FrameFailure(f"{name} is not a PNG, JPEG or WebP image", type="input")
    return kind[0]
