"""What storyboard knows about an image model, whichever backend serves it: the profile type, its
size rule and price, the permissive profile of a name nobody knows, and the shutdown check."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

# The product's default model (SPEC §6); the story schema's default too.
DEFAULT_MODEL = "gpt-image-2"
PRESET_NAMES = ("1:1", "3:2", "2:3", "16:9", "9:16")
KINDS = ("generate", "edit", "variation")  # request kinds
WARN_DAYS = 30  # a model within this many days of its shutdown gets a warning

# Presets of a model with flexible sizes, and of a model nobody knows (the server decides).
FLEXIBLE_PRESETS = {"1:1": "1024x1024", "3:2": "1536x1024", "2:3": "1024x1536", "16:9": "1536x864", "9:16": "864x1536"}

OptionValues = tuple[str, ...] | range | type
# Estimated output tokens of one image: (width, height, quality) -> tokens, None when unknown.
TokenEstimate = Callable[[int, int, str], int | None]


@dataclass(frozen=True)
class SizeRule:
    """Flexible sizes: any WxH on a grid, within an aspect, pixel and edge range."""

    step: int  # both sides are multiples of this
    max_aspect: float  # long side / short side at most
    min_pixels: int
    max_pixels: int
    max_edge: int
    experimental: tuple[int, int] | None = None  # sizes with more pixels than this work, unreliably


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens; `per_image` (USD by (size, quality)) prices per image instead."""

    text_in: float
    image_in: float
    image_out: float
    per_image: Mapping[tuple[str, str], float] | None = None


@dataclass(frozen=True)
class ModelProfile:
    """One image model as storyboard plans for it; shared, so treat its mappings as read-only."""

    name: str
    known: bool  # False: the permissive profile of a name storyboard does not know
    sizes: tuple[str, ...]  # the fixed list, or the common sizes of flexible models
    presets: Mapping[str, str]  # aspect preset -> WxH (fixed sizes: the closest legal size)
    qualities: tuple[str, ...]  # empty: any quality (unknown models)
    default_quality: str | None
    prompt_limit: int  # characters
    max_inputs: int  # input images one request takes
    edits: bool
    mask: bool
    references: bool
    # 'edit': a variation is an edit told to vary its input; 'endpoint': a call of its own that takes
    # no prompt and square inputs; 'native': the backend varies an input itself, prompt kept; 'none'.
    variations: str
    options: Mapping[str, OptionValues]  # option name -> allowed values, a range, or a type
    price: Price | None
    shutdown: date | None = None
    replacement: str | None = None
    size_rule: SizeRule | None = None  # flexible sizes; None: only `sizes`
    output_tokens: TokenEstimate | None = field(default=None, compare=False)
    input_image_tokens: int = 0  # estimated image tokens per input image
    licence: str | None = None  # the weights' licence, where it matters (local models)
    square_inputs: bool = False  # an edit's input is sent as one square PNG (DALL·E 2), as variations' are
    backend: str = ""  # the backend whose profile this is; "" for a name nobody knows

    @property
    def flexible_sizes(self) -> bool:
        """Tell whether the model takes any size within its rule, not only a list."""
        return self.size_rule is not None


def unknown_profile(name: str, backend: str = "") -> ModelProfile:
    """Return the permissive profile of a model nobody knows: nothing checked, nothing priced."""
    return ModelProfile(
        name=name, known=False, sizes=(), presets=dict(FLEXIBLE_PRESETS), qualities=(), default_quality="medium",
        prompt_limit=1_000_000, max_inputs=16, edits=True, mask=True, references=True, variations="edit",
        options={}, price=None, backend=backend,
    )  # fmt: skip


def shutdown_check(profile: ModelProfile, today: date) -> tuple[str | None, str | None]:
    """Return (error, warning) about a model's shutdown date: past it, or within WARN_DAYS of it."""
    if profile.shutdown is None:
        return None, None
    fix = f"; use {profile.replacement}" if profile.replacement else ""
    if today >= profile.shutdown:
        return f"{profile.name} was shut down on {profile.shutdown.isoformat()}{fix}", None
    days = (profile.shutdown - today).days
    if days <= WARN_DAYS:
        when = "tomorrow" if days == 1 else f"in {days} days"
        return None, f"{profile.name} shuts down on {profile.shutdown.isoformat()} ({when}){fix}"
    return None, None


def unknown_warning(name: str) -> str:
    """Say that a model name is unknown, and what that means."""
    return f"unknown model {name}: sizes and options are not checked, cost unknown"
