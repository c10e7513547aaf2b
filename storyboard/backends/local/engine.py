"""One loaded model on one device: its text-to-image pipeline and the pipelines derived from it by
`from_pipe` (one set of weights for every chain kind), and one call of it per image.

Noise is drawn on the CPU in full precision from a CPU generator seeded with the take's seed, then
moved to the device, so a seed means the same starting noise on every device.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storyboard.backends.local import device as devices
from storyboard.backends.local import images
from storyboard.backends.local.profiles import LocalProfile, Settings

StepCallback = Callable[[int, int], None]  # (steps done, steps in all)


class Interrupted(Exception):
    """The run was aborted while this image was being denoised."""


@dataclass(frozen=True)
class Inputs:
    """The decoded images of one request, ready for a pipeline (PIL images)."""

    source: Any | None  # RGB, at the request's size
    mask: Any | None  # L: white where the model paints
    references: tuple[Any, ...] = ()
    own: Any | None = None  # L: white where the source has pixels of its own (None: everywhere)


@dataclass(frozen=True)
class Output:
    """What one call made: the image, and whether the model's safety checker blacked it out."""

    image: Any  # PIL.Image
    nsfw: bool
    steps_run: int


def scheduled_steps(steps: int, strength: float | None) -> int:
    """Return num_inference_steps so that an image-to-image call runs exactly `steps` denoising steps.

    diffusers runs int(num_inference_steps * strength) of them; sd-turbo's own example (2 steps at
    strength 0.5) is `steps: 1` here.
    """
    if strength is None or strength >= 1:
        return steps
    n = max(steps, math.ceil(steps / strength))
    while int(n * strength) < steps:
        n += 1
    return n


class Engine:
    """A model loaded on one device, with a pipeline per task sharing its weights."""

    def __init__(self, profile: LocalProfile, pipe: Any, device: str, dtype: Any, *, offload: bool) -> None:
        self.profile = profile
        self.base = pipe
        self.device = device
        self.dtype = dtype
        self.offload = offload
        self._pipes: dict[str, Any] = {type(pipe).__name__: pipe}
        self._hooked: str | None = None
        self._base_scheduler = pipe.scheduler
        if not offload:
            pipe.to(device)
        if device == "mps":
            pipe.enable_attention_slicing()  # Apple Silicon: far less memory, nearly the same speed
        pipe.set_progress_bar_config(disable=True)

    @property
    def scheduler_name(self) -> str:
        """Return the class of the model's own scheduler (the `default`)."""
        return type(self._base_scheduler).__name__

    def pipeline(self, cls_name: str) -> Any:
        """Return the pipeline of this class, derived from the loaded one on first use (`from_pipe`)."""
        import diffusers

        pipe = self._pipes.get(cls_name)
        if pipe is None:
            with warnings.catch_warnings():  # `torch_dtype` (diffusers 0.42 prefers `dtype`; older ones know only it)
                warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
                pipe = getattr(diffusers, cls_name).from_pipe(self.base, torch_dtype=self.dtype)
            pipe.set_progress_bar_config(disable=True)
            self._pipes[cls_name] = pipe
        if self.offload and self._hooked != cls_name:
            # Offload hooks live on the shared modules: the pipeline about to run installs its own.
            pipe.enable_model_cpu_offload(device=self.device)
            self._hooked = cls_name
        return pipe

    def _scheduler(self, name: str) -> Any:
        import diffusers

        from storyboard.backends.local.profiles import FAMILIES

        if name == "default":
            return self._base_scheduler
        cls = getattr(diffusers, FAMILIES[self.profile.family].schedulers[name])
        return cls.from_config(self._base_scheduler.config)

    def noise(self, width: int, height: int, seed: int) -> Any:
        """Return the starting latents of a text-to-image call: N(0, 1) drawn on the CPU in float32."""
        import torch

        pipe = self.base
        gen = torch.Generator("cpu").manual_seed(seed)
        if self.profile.family == "flux2-klein":
            f = pipe.vae_scale_factor * 2
            shape = (1, pipe.transformer.config.in_channels, height // f, width // f)
        else:
            f = pipe.vae_scale_factor
            shape = (1, pipe.vae.config.latent_channels, height // f, width // f)
        return torch.randn(shape, generator=gen, dtype=torch.float32, device="cpu")

    def run(self, prompt: str, size: tuple[int, int], s: Settings, seed: int, inputs: Inputs,
            on_step: StepCallback | None = None, cancel: threading.Event | None = None) -> Output:
        """Make one image; raise Interrupted when `cancel` is set (checked after every denoising step)."""
        import torch

        width, height = size
        pipe = self.pipeline(s.pipeline)
        pipe.scheduler = self._scheduler(s.scheduler)
        steps = scheduled_steps(s.steps, s.strength)
        done = 0

        def step_end(p: Any, i: int, t: Any, kw: dict) -> dict:
            nonlocal done
            done += 1
            if on_step:
                on_step(done, s.steps)
            if cancel is not None and cancel.is_set():
                p._interrupt = True
            return kw

        kw: dict[str, Any] = {
            "prompt": prompt, "num_inference_steps": steps, "guidance_scale": s.guidance,
            "generator": torch.Generator("cpu").manual_seed(seed), "output_type": "pil",
            "callback_on_step_end": step_end,
        }
        if s.negative_prompt and self.profile.fam.negative_prompt:
            kw["negative_prompt"] = s.negative_prompt
        if s.task in ("text2img", "references"):
            kw.update(height=height, width=width, latents=self.noise(width, height, seed))
            conditions = ([inputs.source] if inputs.source is not None else []) + list(inputs.references)
            if conditions:  # the source first, then the references
                kw["image"] = conditions
        elif s.task == "img2img" and self.profile.family != "flux2-klein":
            kw.update(image=inputs.source, strength=s.strength)
        else:  # inpainting; klein's image-to-image is inpainting with everything masked
            from PIL import Image

            mask = inputs.mask if inputs.mask is not None else Image.new("L", (width, height), 255)
            kw.update(image=inputs.source, mask_image=mask, height=height, width=width, strength=s.strength)
            if inputs.references:
                kw["image_reference"] = list(inputs.references)
        if cancel is not None and cancel.is_set():
            raise Interrupted("aborted before denoising")
        with torch.inference_mode():
            out = pipe(**kw)
        if cancel is not None and cancel.is_set():
            raise Interrupted("aborted while denoising")
        flags = getattr(out, "nsfw_content_detected", None)
        image = out.images[0]
        if s.task == "inpaint" and inputs.mask is not None and inputs.source is not None:
            image = images.keep_unmasked(inputs.source, image, inputs.mask, inputs.own)
        return Output(image, bool(flags and flags[0]), done)

    def close(self) -> None:
        """Drop the pipelines and give their memory back."""
        self._pipes.clear()
        self.base = None
        devices.free_memory(self.device)
