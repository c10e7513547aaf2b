"""Local model profiles: what each diffusers model family can do, its sizes, defaults, licence and weight.

Pure data and arithmetic; nothing heavy is imported (`storyboard models` and `plan` read this).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, replace

GB = 1_000_000_000
PRESETS = {"1:1": (1, 1), "3:2": (3, 2), "2:3": (2, 3), "16:9": (16, 9), "9:16": (9, 16)}
_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")

# Scheduler names a story may give, by family, to the diffusers class they build.
SD_SCHEDULERS = {
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "ddim": "DDIMScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
    "dpm++_sde": "DPMSolverSDEScheduler",
    "unipc": "UniPCMultistepScheduler",
    "lms": "LMSDiscreteScheduler",
    "pndm": "PNDMScheduler",
    "heun": "HeunDiscreteScheduler",
    "lcm": "LCMScheduler",
}
FLOW_SCHEDULERS = {"flow_euler": "FlowMatchEulerDiscreteScheduler"}

# The diffusers text-to-image class of each family, as model_index.json names it.
FAMILY_OF_CLASS = {
    "StableDiffusionPipeline": "sd",
    "StableDiffusionImg2ImgPipeline": "sd",
    "StableDiffusionInpaintPipeline": "sd",
    "StableDiffusionXLPipeline": "sdxl",
    "StableDiffusionXLImg2ImgPipeline": "sdxl",
    "StableDiffusionXLInpaintPipeline": "sdxl",
    "Flux2KleinPipeline": "flux2-klein",
}
REFERENCE_MODEL = "black-forest-labs/FLUX.2-klein-4B"  # the model to name when a frame needs references


@dataclass(frozen=True)
class Family:
    """What every model of one diffusers family takes."""

    name: str
    pipeline: str  # text-to-image class
    step: int  # sizes are multiples of this (VAE factor, times the patch size)
    max_inputs: int  # input images one request takes: the chain source and references
    negative_prompt: bool
    schedulers: dict[str, str]  # besides "default", the scheduler the model ships with


FAMILIES = {
    "sd": Family("sd", "StableDiffusionPipeline", 8, 1, True, SD_SCHEDULERS),
    "sdxl": Family("sdxl", "StableDiffusionXLPipeline", 8, 1, True, SD_SCHEDULERS),
    "flux2-klein": Family("flux2-klein", "Flux2KleinPipeline", 16, 5, False, FLOW_SCHEDULERS),
    # a model that cannot be looked at (a folder not there yet): nothing refused, for drafts of it
    "unknown": Family("unknown", "DiffusionPipeline", 8, 16, True, {**SD_SCHEDULERS, **FLOW_SCHEDULERS}),
}


@dataclass(frozen=True)
class LocalProfile:
    """What storyboard knows about one local model (or, `known=False`, a folder it does not know)."""

    name: str  # Hugging Face repo id, or the folder / file as the story names it
    known: bool
    family: str  # a FAMILIES key
    licence: str  # short name, e.g. "apache-2.0", "sai-nc-community"
    licence_url: str | None
    commercial: bool | None  # None: unknown (a folder)
    native: int  # the side the model was trained at (pixels)
    max_side: int
    steps: int  # default denoising steps
    guidance: float  # default guidance scale; <= 1 means no classifier-free guidance
    strength: float  # default strength of variations (edits without a mask use EDIT_STRENGTH)
    memory_gb: float  # accelerator memory it needs at half precision, roughly
    download_bytes: int  # what a first run fetches: the fp16 variant where there is one (0: unknown)
    download_bytes_full: int  # the full-precision files (CPU runs)
    gated: bool = False
    note: str | None = None  # said by `storyboard models`

    @property
    def fam(self) -> Family:
        """Return the profile's family."""
        return FAMILIES[self.family]

    @property
    def references(self) -> bool:
        """Return whether requests may carry reference images beside the source."""
        return self.fam.max_inputs > 1

    def licence_warning(self) -> str | None:
        """Return the warning `plan` gives for this model's licence, or None."""
        if self.commercial is False:
            return (f"{self.name} is under a non-commercial licence ({self.licence}); read {self.licence_url} "
                    "before you use its pictures for work you sell")
        if self.commercial is None:
            return f"{self.name} is a model storyboard does not know: check its licence before you use its pictures"
        return None


EDIT_STRENGTH = 0.75  # image-to-image edits without a mask: change much, keep the composition
INPAINT_STRENGTH = 1.0  # masked edits and outpaints: the masked area is drawn from noise

_TURBO_NOTE = "distilled: 1 to 4 steps, no guidance; trained at 512x512"
PROFILES = {
    p.name: p
    for p in (
        LocalProfile(
            "stabilityai/sd-turbo", True, "sd", "sai-nc-community",
            "https://huggingface.co/stabilityai/sd-turbo/blob/main/LICENSE.md", False,
            native=512, max_side=1024, steps=1, guidance=0.0, strength=0.5, memory_gb=3.0,
            download_bytes=int(2.6 * GB), download_bytes_full=int(5.2 * GB), note=_TURBO_NOTE,
        ),
        LocalProfile(
            "stabilityai/sdxl-turbo", True, "sdxl", "sai-nc-community",
            "https://huggingface.co/stabilityai/sdxl-turbo/blob/main/LICENSE.md", False,
            native=512, max_side=1024, steps=1, guidance=0.0, strength=0.5, memory_gb=8.0,
            download_bytes=int(6.9 * GB), download_bytes_full=int(13.9 * GB), note=_TURBO_NOTE,
        ),
        LocalProfile(
            REFERENCE_MODEL, True, "flux2-klein", "apache-2.0",
            "https://huggingface.co/black-forest-labs/FLUX.2-klein-4B", True,
            native=1024, max_side=2048, steps=4, guidance=1.0, strength=0.6, memory_gb=13.0,
            download_bytes=int(15.6 * GB), download_bytes_full=int(15.6 * GB),
            note="distilled, 4 steps; takes up to 4 reference images (consistent characters)",
        ),
    )
}


def permissive(name: str, family: str, native: int) -> LocalProfile:
    """Return the profile of a diffusers model storyboard does not know (a folder, a checkpoint, a repo)."""
    base = {"sd": PROFILES["stabilityai/sd-turbo"], "sdxl": PROFILES["stabilityai/sdxl-turbo"]}.get(
        family, PROFILES[REFERENCE_MODEL]
    )
    return replace(
        base, name=name, known=False, family=family, licence="unknown", licence_url=None, commercial=None,
        native=native, max_side=max(native * 2, base.max_side), steps=base.steps if base is PROFILES[REFERENCE_MODEL] else 20,
        guidance=base.guidance if family == "flux2-klein" else 7.0, download_bytes=0, download_bytes_full=0,
        note="a model storyboard does not know: defaults of its family",
    )


# ---------------------------------------------------------------------------------------------
# Sizes


def _snap(x: float, step: int) -> int:
    return max(step, int(round(x / step)) * step)


def preset_size(profile: LocalProfile, preset: str) -> tuple[int, int]:
    """Return the size of an aspect preset: the short side at the model's native size."""
    a, b = PRESETS[preset]
    step, n = profile.fam.step, profile.native
    if a >= b:
        return _snap(n * a / b, step), _snap(n, step)
    return _snap(n, step), _snap(n * b / a, step)


def resolve_size(profile: LocalProfile, size: str) -> tuple[str, list[str]]:
    """Turn 'WxH' or an aspect preset into the WxH to generate, with warnings; ValueError if illegal."""
    text = str(size).strip()
    if text in PRESETS:
        w, h = preset_size(profile, text)
        return f"{w}x{h}", []
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueError(f"size {text!r} is neither WxH (e.g. 768x512) nor a preset ({', '.join(PRESETS)})")
    w, h = int(match.group(1)), int(match.group(2))
    step = profile.fam.step
    if w % step or h % step or not w or not h:
        raise ValueError(f"{w}x{h}: {profile.name} makes sizes in multiples of {step}; "
                         f"try {_snap(w, step)}x{_snap(h, step)}")
    if max(w, h) > profile.max_side:
        raise ValueError(f"{w}x{h}: {profile.name} makes at most {profile.max_side} px a side")
    warnings = []
    if w * h > 2.25 * profile.native**2:
        warnings.append(f"{w}x{h} is far above the {profile.native}x{profile.native} {profile.name} was trained at: "
                        "expect repeated subjects; a preset keeps its native scale")
    return f"{w}x{h}", warnings


# ---------------------------------------------------------------------------------------------
# Options

OPTION_NAMES = ("steps", "guidance", "strength", "negative_prompt", "scheduler")


def _number(name: str, value: object, low: float, high: float, *, whole: bool) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or (whole and not isinstance(value, int)):
        kind = "a whole number" if whole else "a number"
        return f"{name} must be {kind} from {low:g} to {high:g}, not {value!r}."
    if not low <= value <= high or (isinstance(value, float) and math.isnan(value)):
        return f"{name} must be from {low:g} to {high:g}, not {value!r}."
    return None


def check_options(profile: LocalProfile, options: dict, *, task: str) -> list[str]:
    """Return the problems of a frame's `options` for a local model and task, one sentence each."""
    problems: list[str] = []
    fam = profile.fam
    for name, value in options.items():
        problem = None
        if name not in OPTION_NAMES:
            close = difflib.get_close_matches(name, OPTION_NAMES, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else f"; local models take {', '.join(OPTION_NAMES)}"
            problem = f"unknown option '{name}'{hint}."
        elif name == "steps":
            problem = _number(name, value, 1, 150, whole=True)
        elif name == "guidance":
            problem = _number(name, value, 0, 30, whole=False)
        elif name == "strength":
            problem = _number(name, value, 0.01, 1, whole=False)
            if not problem and task not in ("img2img", "inpaint"):
                problem = ("strength is for frames drawn over an input image (an edit, an outpaint, a variation); "
                           "this frame has none.")
        elif name == "negative_prompt":
            if not fam.negative_prompt:
                problem = f"{profile.name} takes no negative_prompt; say what to avoid in the prompt."
            elif not isinstance(value, str):
                problem = f"negative_prompt must be text, not {value!r}."
        elif name == "scheduler" and value != "default" and value not in fam.schedulers:
            names = ["default", *fam.schedulers]
            close = difflib.get_close_matches(str(value), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problem = f"scheduler must be one of {', '.join(names)} for {profile.name}, not {value!r}{hint}."
        if problem:
            problems.append(problem)
    return problems


def option_warnings(profile: LocalProfile, options: dict) -> list[str]:
    """Return warnings about options that will have no effect."""
    guidance = options.get("guidance", profile.guidance)
    if options.get("negative_prompt") and isinstance(guidance, int | float) and guidance <= 1:
        return [f"negative_prompt has no effect at guidance {guidance:g} (it needs guidance above 1)"]
    return []


# ---------------------------------------------------------------------------------------------
# Tasks: what a chain kind becomes on a family

PIPELINES = {
    ("sd", "text2img"): "StableDiffusionPipeline",
    ("sd", "img2img"): "StableDiffusionImg2ImgPipeline",
    ("sd", "inpaint"): "StableDiffusionInpaintPipeline",
    ("sdxl", "text2img"): "StableDiffusionXLPipeline",
    ("sdxl", "img2img"): "StableDiffusionXLImg2ImgPipeline",
    ("sdxl", "inpaint"): "StableDiffusionXLInpaintPipeline",
    ("flux2-klein", "text2img"): "Flux2KleinPipeline",
    ("flux2-klein", "references"): "Flux2KleinPipeline",
    ("flux2-klein", "img2img"): "Flux2KleinInpaintPipeline",  # the whole image masked: strength applies
    ("flux2-klein", "inpaint"): "Flux2KleinInpaintPipeline",
}


def task_of(profile: LocalProfile, chain: str, *, masked: bool, references: int, strength: bool = False) -> str:
    """Return the task a chain kind is on this model: text2img, img2img, inpaint or references.

    An edit without a mask is image-to-image; on a model that edits by reference (FLUX.2 klein) it
    is a reference edit, the source first, unless a `strength` asks to start from its pixels.
    """
    if chain == "outpaint" or (chain == "edit" and masked):
        return "inpaint"
    if chain == "variation":
        return "img2img"
    if chain == "edit":
        return "references" if profile.references and not strength else "img2img"
    return "references" if references else "text2img"


def task_problem(profile: LocalProfile, chain: str, *, inputs: int, references: int) -> str | None:
    """Return why a model cannot do this frame (naming one that can), or None."""
    if references and not profile.references:
        return (f"{profile.name} cannot take reference images (characters with `reference:`); use a model that "
                f"takes several input images, such as {REFERENCE_MODEL}, or drop the references with `characters: []`")
    if inputs > profile.fam.max_inputs:
        return (f"this frame sends {inputs} input images (source and references); {profile.name} takes at most "
                f"{profile.fam.max_inputs}. Name fewer characters with `characters: [...]`.")
    return None


@dataclass(frozen=True)
class Settings:
    """The generation settings of one request, defaults filled in: what the key and the manifest hold."""

    task: str
    pipeline: str  # the diffusers class that runs it
    steps: int  # denoising steps that run (an image-to-image schedule is stretched to run this many)
    guidance: float
    strength: float | None  # None where the task takes none
    scheduler: str
    negative_prompt: str | None


def settings(profile: LocalProfile, options: dict, task: str, *, chain: str) -> Settings:
    """Return the effective settings of one request: the story's options over the profile's defaults."""
    strength = None
    if task == "inpaint":
        strength = float(options.get("strength", INPAINT_STRENGTH))
    elif task == "img2img":
        strength = float(options.get("strength", profile.strength if chain == "variation" else EDIT_STRENGTH))
    return Settings(
        task=task,
        pipeline=PIPELINES.get((profile.family, task), "DiffusionPipeline"),
        steps=int(options.get("steps", profile.steps)),
        guidance=float(options.get("guidance", profile.guidance)),
        strength=strength,
        scheduler=str(options.get("scheduler", "default")),
        negative_prompt=options.get("negative_prompt") or None,
    )


def size_text(n: int) -> str:
    """Return a byte count for people: 2.6 GB, 380 MB."""
    if n >= GB:
        return f"{n / GB:.1f} GB"
    return f"{max(1, round(n / 1e6))} MB"
