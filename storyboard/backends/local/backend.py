"""The local backend: requests run in-process on diffusers pipelines, one at a time per device.

The denoising runs in a worker thread, so the event loop keeps saving frames and making thumbnails
while the next image is denoised. Failures map to the runner's failure types here, in one place: out
of memory and the safety checker fail the frame alone; a model that cannot be loaded ends the run.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storyboard.backends import GeneratedImage, ImageRequest
from storyboard.backends.local import profiles, sources
from storyboard.backends.local.profiles import LocalProfile, Settings
from storyboard.errors import FatalFailure, FrameFailure
from storyboard.models import parse_size

Progress = Callable[[str, dict[str, Any]], None]  # event name, details: "loading", "loaded", "step"


@dataclass
class Resolved:
    """A story's model, resolved once per run: its source, profile and identity in request keys."""

    ref: sources.ModelRef
    profile: LocalProfile
    identity: str  # a repo's revision, or a folder's or file's content hash
    snapshot: Any = None  # hub.Snapshot for repos
    folder: Path | None = None  # what from_pretrained loads (a cached snapshot or the folder)


def chain_of(request: ImageRequest) -> str:
    """Return the story's chain kind of a request: generate, edit, outpaint or variation."""
    chain = getattr(request, "chain", None)
    if chain:
        return str(chain)
    if request.label is not None and request.label.outpaint is not None:
        return "outpaint"
    if request.kind == "variation":
        return "variation"
    if any(i.role == "source" for i in request.images):
        return "edit"
    return "generate"


def request_settings(profile: LocalProfile, request: ImageRequest) -> Settings:
    """Return the effective settings (task, pipeline class, steps, ...) of one request."""
    chain = chain_of(request)
    refs = sum(1 for i in request.images if i.role == "reference")
    task = profiles.task_of(profile, chain, masked=request.mask is not None, references=refs,
                            strength="strength" in request.options)
    return profiles.settings(profile, request.options, task, chain=chain)


def key_settings(profile: LocalProfile, request: ImageRequest) -> dict[str, Any]:
    """Return the settings a local request adds to its key: every one that changes the picture."""
    s = request_settings(profile, request)
    return {
        "pipeline": s.pipeline,
        "scheduler": s.scheduler,
        "steps": s.steps,
        "guidance": s.guidance,
        "strength": s.strength,
    }


@dataclass
class LocalBackend:
    """Runs requests on local diffusers pipelines (see the module docstring)."""

    base: Path = field(default_factory=Path.cwd)  # the story's folder: relative model paths start there
    device: str | None = None  # None: cuda, then mps, then cpu
    offload: bool = False
    hash_cache: Path | None = None  # where folder hashes are remembered
    hf_cache: Path | None = None  # the Hugging Face cache (None: its default)
    offline: bool = False  # HF_HUB_OFFLINE: never download
    progress: Progress | None = None
    name: str = "local"
    host: str | None = None
    max_parallel: int = 1  # one image at a time per device; saving overlaps

    def __post_init__(self) -> None:
        self._resolved: dict[str, Resolved] = {}
        self._engine: Any = None  # engine.Engine of the model loaded now (one at a time)
        self._engine_model: str | None = None
        self._lock = asyncio.Lock()
        self._device: str | None = None
        self._hashes = sources.HashCache(self.hash_cache)

    # -- models -----------------------------------------------------------------------------

    def resolve(self, model: str) -> Resolved:
        """Resolve a story's model (cached): source, profile and identity; raise when it is not usable."""
        hit = self._resolved.get(model)
        if hit is not None:
            return hit
        ref, profile = sources.profile_of(model, self.base, self.cache)
        resolved = Resolved(ref, profile, sources.identity(ref, self._hashes, self.cache), folder=ref.path)
        if ref.kind == "repo":
            from storyboard.backends.local import hub

            snap = hub.resolve(ref.repo, ref.revision, cache=self.cache,  # type: ignore[arg-type]
                               want_fp16=self.device_name() != "cpu", offline=self.offline)
            resolved.snapshot, resolved.folder, resolved.identity = snap, snap.folder, "rev:" + snap.revision
        self._hashes.save()
        self._resolved[model] = resolved
        return resolved

    @property
    def cache(self) -> Path:
        """Return the Hugging Face cache folder."""
        from storyboard.backends.local import hub

        return self.hf_cache or hub.default_cache({})

    def prepare(self, models: list[str], confirm: Callable[[str], bool]) -> None:
        """Resolve every model before the run; download missing ones when `confirm(question)` says yes."""
        from storyboard.backends.local import hub

        for model in dict.fromkeys(models):
            r = self.resolve(model)
            snap = r.snapshot
            if snap is None or snap.cached:
                continue
            if not confirm(hub.consent_question(snap, self.cache)):
                raise hub.ModelUnavailable(f"{snap.repo} is not downloaded; nothing was run. Run again and answer "
                                           "yes, or pass --yes")
            self._emit("downloading", model=model, bytes=snap.download_bytes)
            snap = hub.download(snap, r.profile.fam.pipeline if r.profile.known else "DiffusionPipeline", self.cache)
            r.snapshot, r.folder, r.identity = snap, snap.folder, "rev:" + snap.revision
            if not r.profile.known:
                r.profile = sources.folder_profile(model, snap.folder)  # type: ignore[arg-type]

    def device_name(self) -> str:
        """Return the device requests run on (chosen once)."""
        if self._device is None:
            from storyboard.backends.local import device

            self._device = device.pick(self.device)
        return self._device

    def _emit(self, event: str, **details: Any) -> None:
        if self.progress:
            self.progress(event, details)

    def _load(self, model: str) -> Any:
        """Load the model onto the device (dropping the one loaded before); runs in the worker thread."""
        from storyboard.backends.local import device as devices
        from storyboard.backends.local import loader

        if self._engine_model == model:
            return self._engine
        if self._engine is not None:
            self._engine.close()
            self._engine, self._engine_model = None, None
        r = self.resolve(model)
        dev = self.device_name()
        t0 = time.monotonic()
        self._emit("loading", model=model, device=dev)
        try:
            self._engine = loader.load(r, dev, offload=self.offload, cache=self.cache, offline=self.offline)
        except loader.CheckpointConfigMissing as e:
            raise FatalFailure(str(e), type="model_load") from None
        except Exception as e:
            if devices.is_out_of_memory(e):
                devices.free_memory(dev)
                raise FatalFailure(f"{model} does not fit in {dev} memory: try --offload, or --device cpu",
                                   type="out_of_memory") from None
            raise FatalFailure(f"{model} could not be loaded: {e}", type="model_load") from None
        self._engine_model = model
        self._emit("loaded", model=model, device=dev, seconds=round(time.monotonic() - t0, 2))
        return self._engine

    # -- one request ------------------------------------------------------------------------

    async def generate(self, request: ImageRequest) -> GeneratedImage:
        """Make one image; see the module docstring for what each failure becomes.

        Cancelled (a second Ctrl-C), the denoising stops at its next step, so the process can end.
        """
        async with self._lock:
            cancel = threading.Event()
            work = asyncio.ensure_future(asyncio.to_thread(self._generate, request, cancel))
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                cancel.set()
                raise

    def _generate(self, request: ImageRequest, cancel: threading.Event | None = None) -> GeneratedImage:
        from storyboard.backends.local import device as devices
        from storyboard.backends.local import images
        from storyboard.backends.local.engine import Inputs

        try:
            r = self.resolve(request.model)
        except (sources.NotAModel, ValueError) as e:
            raise FatalFailure(str(e), type="model") from None
        s = request_settings(r.profile, request)
        w, h = parse_size(request.size or f"{r.profile.native}x{r.profile.native}")
        src = next((i for i in request.images if i.role == "source"), None)
        source, own = images.source_rgb(src.data, (w, h)) if src else (None, None)
        inputs = Inputs(
            source=source,
            mask=images.paint_mask(request.mask.data, (w, h)) if request.mask else None,
            references=tuple(images.reference_rgb(i.data) for i in request.images if i.role == "reference"),
            own=own,
        )
        engine = self._load(request.model)
        seed = request.seed if request.seed is not None else 0
        label = request.label
        frame = None
        if label is not None:
            frame = "-".join(x for x in (f"{label.number:02d}" if label.number else "", label.id or "") if x)

        def on_step(done: int, total: int) -> None:
            self._emit("step", frame=frame, take=label.take if label else 1, takes=label.takes if label else 1,
                       done=done, total=total)

        t0 = time.monotonic()
        try:
            out = engine.run(request.prompt, (w, h), s, seed, inputs, on_step, cancel)
        except Exception as e:
            if devices.is_out_of_memory(e):
                devices.free_memory(engine.device)
                raise FrameFailure(
                    f"out of memory on {engine.device} making a {w}x{h} image: use a smaller size, "
                    "or run with --offload (slower, far less memory)", type="out_of_memory",
                ) from None
            raise
        if out.nsfw:
            raise FrameFailure(
                f"{request.model}'s safety checker flagged this image (nsfw_content_detected) and blacked it out; "
                "reword the prompt, or try another seed", type="moderation", code="nsfw_content_detected",
            )
        self._emit("made", frame=frame, steps=out.steps_run, seconds=round(time.monotonic() - t0, 3))
        return GeneratedImage(images.png_bytes(out.image), "image/png", details=self.meta(request))

    def meta(self, request: ImageRequest) -> dict[str, Any]:
        """Return what the manifest records about a request beyond the shared keys."""
        r = self.resolve(request.model)
        s = request_settings(r.profile, request)
        engine = self._engine if self._engine_model == request.model else None
        scheduler = s.scheduler if s.scheduler != "default" else (engine.scheduler_name if engine else "default")
        return {
            "steps": s.steps, "guidance": s.guidance, "strength": s.strength, "scheduler": scheduler,
            "pipeline": s.pipeline, "revision": r.snapshot.revision if r.snapshot else None,
            "weights": r.identity, "licence": r.profile.licence,
        }

    async def aclose(self) -> None:
        """Unload the model."""
        if self._engine is not None:
            self._engine.close()
            self._engine, self._engine_model = None, None
