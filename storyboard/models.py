"""Image-model profiles: sizes, qualities, features, prices and lifecycle, in one place.

Pure data and arithmetic: no I/O, and nothing heavy is imported (the CLI imports this at start-up).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, replace
from datetime import date

DEFAULT_MODEL = "gpt-image-2"
PRESET_NAMES = ("1:1", "3:2", "2:3", "16:9", "9:16")
KINDS = ("generate", "edit", "variation")  # request kinds; every kind but 'generate' uses /images/edits

# The size rule of the gpt-image-2 family (reference §4).
SIZE_STEP = 16
MAX_ASPECT = 3
MIN_PIXELS = 655_360
MAX_PIXELS = 8_294_400
MAX_EDGE = 3840
EXPERIMENTAL_PIXELS = 2560 * 1440
WARN_DAYS = 30  # SPEC §6: a model within this many days of its shutdown gets a warning

# Cost-estimate assumptions (see estimate_cost).
CHARS_PER_TOKEN = 4
# gpt-image-2 edits bill input images in 32 px patches with a 1,536-patch budget (community
# measurements, community.openai.com t/1382940); a 1536x1024 frame is exactly 48x32 patches, so
# the budget is what a typical chained frame costs, and an upper bound for any input.
GPT2_INPUT_IMAGE_TOKENS = 1536
# gpt-image-1.x bills inputs with the 512 px tile formula at low fidelity, 65 + 129 per tile: a
# 1536x1024 input becomes 768x512, two tiles. input_fidelity=high costs more and is not modelled.
GPT1_INPUT_IMAGE_TOKENS = 65 + 2 * 129

# Output tokens of the gpt-image-2 family, after the community formula (community.openai.com
# t/1382699) that reproduces OpenAI's calculator (7024 tokens at 1024x1024 high, 5488 at
# 1536x1024 high). xhigh and max (2.5 and 2.6 only) have no published counts: they continue the
# series at 1.5x and 2x high, an assumption that errs on the expensive side for budgets.
QUALITY_FACTORS = {"low": 16, "medium": 48, "high": 96, "xhigh": 144, "max": 192}
_TOKEN_AREA_OFFSET = 2_000_000
_TOKEN_AREA_SCALE = 4_000_000

OptionValues = tuple[str, ...] | range | type


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens; `per_image` (USD by (size, quality)) prices legacy DALL·E instead."""

    text_in: float
    image_in: float
    image_out: float
    per_image: dict[tuple[str, str], float] | None = None


@dataclass(frozen=True)
class ModelProfile:
    """What storyboard knows about one image model; shared, so treat its dicts as read-only."""

    name: str
    known: bool  # False: the permissive profile of a name storyboard does not know
    family: str  # 'gpt-image-2' (2, 2.5, 2.6), 'gpt-image-1' (1, 1.5, 1-mini, chatgpt), 'dall-e', 'unknown'
    flexible_sizes: bool  # the gpt-image-2 rule instead of the `sizes` list
    sizes: tuple[str, ...]  # the fixed list, or the common sizes of flexible models
    presets: dict[str, str]  # aspect preset -> WxH (fixed models: the closest legal size)
    qualities: tuple[str, ...]  # empty: any quality (unknown models)
    default_quality: str | None
    prompt_limit: int  # characters
    max_inputs: int  # input images one edit takes
    edits: bool
    mask: bool
    references: bool
    variations: str  # 'edit' | 'endpoint' (legacy dall-e-2) | 'none'
    options: dict[str, OptionValues]  # option name -> allowed values, a range, or a type
    price: Price | None
    shutdown: date | None
    replacement: str | None
    legacy: bool  # DALL·E: the client sends response_format=b64_json and accepts URLs
    token_table: dict[tuple[str, str], int] | None = None  # fixed-size GPT models: (size, quality) -> tokens
    input_image_tokens: int = 0  # estimated image tokens per input image


@dataclass(frozen=True)
class Outpaint:
    """Geometry of an outpaint: the canvas, where the source sits on it, and what was added."""

    canvas: tuple[int, int]
    box: tuple[int, int, int, int]  # the source (possibly scaled) on the canvas: left, top, right, bottom
    scale: float  # 1.0 when the source is kept unscaled
    added: dict[str, int]  # pixels really added on each side: left, top, right, bottom
    warnings: list[str]


# ---------------------------------------------------------------------------------------------
# The registry

_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def parse_size(size: str) -> tuple[int, int]:
    """Split 'WxH' into (width, height); ValueError when it is not of that form."""
    match = _SIZE_RE.match(str(size))
    if not match:
        raise ValueError(f"size {str(size)!r} is not WxH (e.g. 1536x1024)")
    return int(match.group(1)), int(match.group(2))


_GPT_SIZES = ("1024x1024", "1536x1024", "1024x1536")
_FLEX_SIZES = (
    "1024x1024", "1536x1024", "1024x1536", "1536x864", "864x1536",
    "1920x1088", "1088x1920", "2560x1440", "1440x2560", "3840x2160", "2160x3840",
)  # fmt: skip
_FLEX_PRESETS = {
    "1:1": "1024x1024",
    "3:2": "1536x1024",
    "2:3": "1024x1536",
    "16:9": "1536x864",
    "9:16": "864x1536",
}
_Q3 = ("low", "medium", "high")
_Q5 = ("low", "medium", "high", "xhigh", "max")
_FORMATS = ("png", "jpeg", "webp")

_COMMON_OPTIONS: dict[str, OptionValues] = {
    "output_format": _FORMATS,
    "output_compression": range(0, 101),
    "background": ("auto", "opaque", "transparent"),
    "moderation": ("auto", "low"),
    "safety_identifier": str,
}
_GPT2_OPTIONS = {**_COMMON_OPTIONS, "complexity": ("low", "medium", "high")}
_GPT1_OPTIONS = {**_COMMON_OPTIONS, "input_fidelity": ("low", "high")}
_MINI_OPTIONS = {**_COMMON_OPTIONS, "input_fidelity": ("low",)}  # 1-mini takes only low (reference §3.2)
_ALL_OPTIONS = sorted({*_GPT2_OPTIONS, *_GPT1_OPTIONS})


def _gpt1_tokens(
    low: tuple[int, int, int], medium: tuple[int, int, int], high: tuple[int, int, int]
) -> dict[tuple[str, str], int]:
    """Build a (size, quality) -> output tokens table from per-size triples (square, landscape, portrait)."""
    table: dict[tuple[str, str], int] = {}
    for quality, counts in (("low", low), ("medium", medium), ("high", high)):
        for size, tokens in zip(_GPT_SIZES, counts, strict=True):
            table[(size, quality)] = tokens
    return table


# gpt-image-1's published counts. gpt-image-1.5 bills the same counts at $32/1M, which reproduces
# the per-image table of reference §9 ($0.009/$0.013, $0.034/$0.05, $0.133/$0.20).
_GPT1_TOKENS = _gpt1_tokens(low=(272, 400, 408), medium=(1056, 1568, 1584), high=(4160, 6208, 6240))
# gpt-image-1-mini has no published counts: these are its per-image prices (reference §9) / $8 per 1M.
_MINI_TOKENS = _gpt1_tokens(low=(625, 750, 750), medium=(1375, 1875, 1875), high=(4500, 6500, 6500))

_GPT2_PRICE = Price(text_in=5.0, image_in=8.0, image_out=30.0)
_DALLE3_PRICE = Price(0.0, 0.0, 0.0, per_image={
    ("1024x1024", "standard"): 0.04, ("1792x1024", "standard"): 0.08, ("1024x1792", "standard"): 0.08,
    ("1024x1024", "hd"): 0.08, ("1792x1024", "hd"): 0.12, ("1024x1792", "hd"): 0.12,
})  # fmt: skip
_DALLE2_PRICE = Price(0.0, 0.0, 0.0, per_image={
    ("256x256", "standard"): 0.016, ("512x512", "standard"): 0.018, ("1024x1024", "standard"): 0.020,
})  # fmt: skip


def _closest_presets(sizes: tuple[str, ...]) -> dict[str, str]:
    """Map each aspect preset to the size closest in aspect (the largest one on a tie)."""
    presets = {}
    for preset in PRESET_NAMES:
        a, b = (int(part) for part in preset.split(":"))
        presets[preset] = min(
            sizes, key=lambda s: (round(abs(math.log(_aspect_of(s) * b / a)), 9), -_area(s))
        )
    return presets


def _area(size: str) -> int:
    w, h = parse_size(size)
    return w * h


def _aspect_of(size: str) -> float:
    w, h = parse_size(size)
    return w / h


def _gpt2(name: str, qualities: tuple[str, ...] = _Q3) -> ModelProfile:
    return ModelProfile(
        name=name, known=True, family="gpt-image-2", flexible_sizes=True, sizes=_FLEX_SIZES,
        presets=dict(_FLEX_PRESETS), qualities=qualities, default_quality="medium", prompt_limit=32_000,
        max_inputs=16, edits=True, mask=True, references=True, variations="edit", options=dict(_GPT2_OPTIONS),
        price=_GPT2_PRICE, shutdown=None, replacement=None, legacy=False,
        input_image_tokens=GPT2_INPUT_IMAGE_TOKENS,
    )  # fmt: skip


def _gpt1(
    name: str, *, price: Price, tokens: dict, shutdown: date, replacement: str, options: dict
) -> ModelProfile:
    return ModelProfile(
        name=name, known=True, family="gpt-image-1", flexible_sizes=False, sizes=_GPT_SIZES,
        presets=_closest_presets(_GPT_SIZES), qualities=_Q3, default_quality="medium", prompt_limit=32_000,
        max_inputs=16, edits=True, mask=True, references=True, variations="edit", options=dict(options),
        price=price, shutdown=shutdown, replacement=replacement, legacy=False,
        token_table=tokens, input_image_tokens=GPT1_INPUT_IMAGE_TOKENS,
    )  # fmt: skip


_DEC_1 = date(2026, 12, 1)
_GPT15 = {"price": Price(5.0, 8.0, 32.0), "tokens": _GPT1_TOKENS, "shutdown": _DEC_1,
          "replacement": "gpt-image-2.6-sunburst", "options": _GPT1_OPTIONS}  # fmt: skip
_DALLE3_SIZES = ("1024x1024", "1792x1024", "1024x1792")
_DALLE2_SIZES = ("256x256", "512x512", "1024x1024")

_REGISTRY: tuple[ModelProfile, ...] = (
    _gpt2("gpt-image-2"),
    _gpt2("gpt-image-2-2026-04-21"),
    _gpt2("gpt-image-2.6-sunburst", _Q5),
    _gpt2("gpt-image-2.6-flare", _Q5),
    _gpt2("gpt-image-2.5-sunburst", _Q5),
    _gpt2("gpt-image-2.5-flare", _Q5),
    _gpt2("gpt-image-2.5-sunburst-2026-09-08", _Q5),
    _gpt2("gpt-image-2.5-flare-2026-09-08", _Q5),
    _gpt1("gpt-image-1.5", **_GPT15),
    _gpt1("gpt-image-1.5-2025-12-16", **_GPT15),
    _gpt1("chatgpt-image-latest", **_GPT15),
    _gpt1("gpt-image-1-mini", price=Price(2.0, 2.5, 8.0), tokens=_MINI_TOKENS, shutdown=_DEC_1,
          replacement="gpt-image-2.6-sunburst", options=_MINI_OPTIONS),
    _gpt1("gpt-image-1", price=Price(5.0, 10.0, 40.0), tokens=_GPT1_TOKENS, shutdown=date(2026, 10, 23),
          replacement="gpt-image-2.5-sunburst", options=_GPT1_OPTIONS),
    ModelProfile(
        name="dall-e-3", known=True, family="dall-e", flexible_sizes=False, sizes=_DALLE3_SIZES,
        presets=_closest_presets(_DALLE3_SIZES), qualities=("standard", "hd"), default_quality="standard",
        prompt_limit=4000, max_inputs=0, edits=False, mask=False, references=False, variations="none",
        options={}, price=_DALLE3_PRICE, shutdown=date(2026, 5, 12), replacement="gpt-image-2", legacy=True,
    ),
    ModelProfile(
        name="dall-e-2", known=True, family="dall-e", flexible_sizes=False, sizes=_DALLE2_SIZES,
        presets=_closest_presets(_DALLE2_SIZES), qualities=("standard",), default_quality="standard",
        prompt_limit=1000, max_inputs=1, edits=True, mask=True, references=False, variations="endpoint",
        options={}, price=_DALLE2_PRICE, shutdown=date(2026, 5, 12), replacement="gpt-image-2", legacy=True,
    ),
)  # fmt: skip
_PROFILES = {profile.name: profile for profile in _REGISTRY}
# SPEC §6 calls every gpt-image-2.5-* and gpt-image-2.6-* current: new variants get their family's profile.
_FAMILY_PREFIXES = (
    ("gpt-image-2.6-", _PROFILES["gpt-image-2.6-sunburst"]),
    ("gpt-image-2.5-", _PROFILES["gpt-image-2.5-sunburst"]),
)


def get_profile(name: str) -> ModelProfile:
    """Return the profile of a model name; an unknown name gets a permissive profile."""
    if name in _PROFILES:
        return _PROFILES[name]
    for prefix, base in _FAMILY_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return replace(base, name=name)
    return ModelProfile(
        name=name, known=False, family="unknown", flexible_sizes=False, sizes=(), presets=dict(_FLEX_PRESETS),
        qualities=(), default_quality="medium", prompt_limit=1_000_000, max_inputs=16, edits=True, mask=True,
        references=True, variations="edit", options={}, price=None, shutdown=None, replacement=None, legacy=False,
    )  # fmt: skip


def all_profiles() -> list[ModelProfile]:
    """Return every known profile, current models first (for `storyboard models`)."""
    return list(_REGISTRY)


def lifecycle(profile: ModelProfile, *, openai_host: bool, today: date) -> tuple[str | None, str | None]:
    """Return (error, warning) about a model's shutdown date or unknown name."""
    if not profile.known:
        warning = f"unknown model {profile.name}: sizes and options are not checked, cost unknown"
        if openai_host:
            warning += " (OpenAI may have released it after this version of storyboard)"
        return None, warning
    # Shutdown dates are OpenAI's: other servers may well keep serving retired models.
    if not openai_host or profile.shutdown is None:
        return None, None
    fix = f"; use {profile.replacement}" if profile.replacement else ""
    if today >= profile.shutdown:
        return f"{profile.name} was shut down on {profile.shutdown.isoformat()}{fix}", None
    days = (profile.shutdown - today).days
    if days <= WARN_DAYS:
        when = "tomorrow" if days == 1 else f"in {days} days"
        return None, f"{profile.name} shuts down on {profile.shutdown.isoformat()} ({when}){fix}"
    return None, None


# ---------------------------------------------------------------------------------------------
# Sizes


def _fmt_num(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def format_aspect(w: int, h: int) -> str:
    """Write an aspect ratio against 1, as the 3:1 limit reads: '4:1', '3.75:1', '1:3.2'."""
    return f"{_fmt_num(w / h)}:1" if w >= h else f"1:{_fmt_num(h / w)}"


def _round_step(x: float, step: int = SIZE_STEP) -> int:
    return max(step, math.floor(x / step + 0.5) * step)


def _flex_legal(w: int, h: int) -> bool:
    return (
        w % SIZE_STEP == 0
        and h % SIZE_STEP == 0
        and max(w, h) <= MAX_ASPECT * min(w, h)
        and MIN_PIXELS <= w * h <= MAX_PIXELS
        and max(w, h) <= MAX_EDGE
    )


def _suggest(w: float, h: float) -> str:
    """Return a legal gpt-image-2 size near w x h in aspect and area."""
    # Clamp the aspect first, keeping the long edge, then scale into the pixel and edge limits.
    if w > MAX_ASPECT * h:
        h = w / MAX_ASPECT
    elif h > MAX_ASPECT * w:
        w = h / MAX_ASPECT
    area = w * h
    scale = math.sqrt(MIN_PIXELS / area) if area < MIN_PIXELS else min(1.0, math.sqrt(MAX_PIXELS / area))
    scale = min(scale, MAX_EDGE / max(w, h))
    if _flex_legal(_round_step(w), _round_step(h)):
        return f"{_round_step(w)}x{_round_step(h)}"  # just off the grid: the nearest multiples of 16
    w, h = w * scale, h * scale
    # Rounding to 16 can step over a limit: look at the neighbours and keep the best legal one.
    base_w, base_h = _round_step(w), _round_step(h)
    candidates = [
        (base_w + dw * SIZE_STEP, base_h + dh * SIZE_STEP) for dw in range(-3, 4) for dh in range(-3, 4)
    ]
    legal = [(cw, ch) for cw, ch in candidates if cw > 0 and ch > 0 and _flex_legal(cw, ch)]
    # Aspect matters most, but not at any price in area.
    cw, ch = min(
        legal, key=lambda s: abs(math.log(s[0] / s[1] * h / w)) + 0.5 * abs(math.log(s[0] * s[1] / (w * h)))
    )
    return f"{cw}x{ch}"


def _flex_problem(w: int, h: int) -> str | None:
    """Say what breaks the gpt-image-2 size rule, with a legal size to try; None when legal."""
    size = f"{w}x{h}"
    off = list(dict.fromkeys(str(d) for d in (w, h) if d % SIZE_STEP))  # 1000x1000 names 1000 once
    if off:
        if len(off) == 1:
            return f"{size}: {off[0]} is not a multiple of 16; try {_suggest(w, h)}"
        return f"{size}: {off[0]} and {off[1]} are not multiples of 16; try {_suggest(w, h)}"
    if max(w, h) > MAX_ASPECT * min(w, h):
        limit = "3:1" if w > h else "1:3"
        return f"{size}: aspect {format_aspect(w, h)} is past {limit}; try {_suggest(w, h)}"
    if w * h < MIN_PIXELS:
        # A familiar preset of the same aspect reads better than the smallest legal size.
        same = [p for p in _FLEX_PRESETS.values() if _aspect_of(p) == w / h]
        fix = same[0] if same else _suggest(w, h)
        return f"{size}: too few pixels ({w * h:,} < {MIN_PIXELS:,}); try {fix}"
    if w * h > MAX_PIXELS:
        return f"{size}: too many pixels ({w * h:,} > {MAX_PIXELS:,}); try {_suggest(w, h)}"
    if max(w, h) > MAX_EDGE:
        return f"{size}: {max(w, h)} is above the {MAX_EDGE} px edge limit; try {_suggest(w, h)}"
    return None


def resolve_size(profile: ModelProfile, size: str) -> tuple[str, list[str]]:
    """Turn 'WxH' or an aspect preset into the WxH to send, with warnings; ValueError if illegal."""
    text = str(size).strip()
    presets = ", ".join(profile.presets)
    if text in profile.presets:
        chosen = profile.presets[text]
        a, b = (int(part) for part in text.split(":"))
        w, h = parse_size(chosen)
        warnings = (
            [] if w * b == h * a else [f"{text} on {profile.name} is {chosen} (the closest size it has)"]
        )
        return chosen, warnings
    if text == "auto":
        raise ValueError(
            f"size 'auto' is not allowed: storyboard needs the size to lay out and price frames; "
            f"use WxH (e.g. 1536x1024) or a preset ({presets})"
        )
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueError(f"size {text!r} is neither WxH (e.g. 1536x1024) nor a preset ({presets})")
    w, h = int(match.group(1)), int(match.group(2))
    wh = f"{w}x{h}"
    if w == 0 or h == 0:
        raise ValueError(f"{wh}: width and height must be above 0")
    if not profile.known:
        return wh, []
    if profile.flexible_sizes:
        problem = _flex_problem(w, h)
        if problem:
            raise ValueError(problem)
        return wh, [f"{wh} is above 2560x1440: experimental"] if w * h > EXPERIMENTAL_PIXELS else []
    if wh not in profile.sizes:
        raise ValueError(f"{wh} is not a size of {profile.name}; use one of {', '.join(profile.sizes)}")
    return wh, []


# ---------------------------------------------------------------------------------------------
# Quality and options


def _or_list(items: list[str] | tuple[str, ...]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def check_quality(profile: ModelProfile, quality: str) -> None:
    """Raise ValueError, listing the allowed values, when a model does not take a quality."""
    allowed = profile.qualities or _Q3
    if quality == "auto":
        raise ValueError(
            f"quality 'auto' is not allowed: its cost cannot be estimated; use {_or_list(allowed)}"
        )
    if profile.qualities and quality not in profile.qualities:
        raise ValueError(f"quality {quality!r} is not a quality of {profile.name}; use {_or_list(allowed)}")


# Keys storyboard sets itself or refuses on purpose, with where to say it instead.
_NOT_OPTIONS = {
    "response_format": "storyboard always receives the image itself (base64), never a URL to fetch",
    "style": "it was a DALL·E 3 parameter; describe the style in the prompt (a var keeps it the same on every frame)",
    "user": "it is deprecated; use the option 'safety_identifier'",
    "n": "storyboard sends one image per request; use the frame key `takes` for alternatives",
    "size": "use the key `size` on the story or the frame",
    "quality": "use the key `quality` on the story or the frame",
    "model": "use the key `model` on the story or the frame",
    "prompt": "use the frame key `prompt`",
    "image": "input images come from `edit`, `outpaint`, `variation` and characters' `reference`",
    "mask": "use the frame key `mask`",
    "stream": "storyboard waits for the final image; it does not stream",
    "partial_images": "storyboard does not stream, and partial images are billed extra",
}
_UNSUPPORTED = {
    "frame_count": "GIF output",
    "frame_duration_ms": "GIF output",
    "svg": "SVG output",
    "markup": "guided-edit markup",
}
_NOT_ON = {
    "complexity": "it is a gpt-image-2 family option",
    "input_fidelity": "only gpt-image-1.x takes it; gpt-image-2 models keep input images at high fidelity",
}


def _check_value(name: str, value: object, allowed: OptionValues) -> str | None:
    if isinstance(allowed, range):
        if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
            return f"{name} must be a whole number from {allowed.start} to {allowed.stop - 1}, not {value!r}."
        return None
    if isinstance(allowed, tuple):
        if value in allowed:
            return None
        if name == "output_format" and value in ("gif", "svg"):
            return f"output_format {value!r} is not supported by storyboard; use {_or_list(allowed)}."
        hint = ""
        if isinstance(value, str):
            close = difflib.get_close_matches(value, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{name} must be {_or_list(allowed)}, not {value!r}{hint}."
    if not isinstance(value, str) or not value:
        return f"{name} must be a non-empty string, not {value!r}."
    return None


def check_options(profile: ModelProfile, options: dict, *, kind: str) -> list[str]:
    """Return the problems of a frame's `options` for a model and request kind, one sentence each."""
    problems: list[str] = []
    for name, value in options.items():
        if name in _NOT_OPTIONS:
            problems.append(f"'{name}' is not an option: {_NOT_OPTIONS[name]}.")
        elif name in _UNSUPPORTED:
            problems.append(f"option '{name}' is not supported by storyboard ({_UNSUPPORTED[name]}).")
        elif not profile.known:
            continue  # an unknown model may take anything: the server will say
        elif name not in _ALL_OPTIONS:
            close = difflib.get_close_matches(name, _ALL_OPTIONS, n=1)
            if close:
                problems.append(f"unknown option '{name}' (did you mean '{close[0]}'?).")
            else:
                known = ", ".join(sorted(profile.options)) or "none"
                problems.append(f"unknown option '{name}'; the options of {profile.name} are: {known}.")
        elif name not in profile.options:
            why = f" ({_NOT_ON[name]})" if name in _NOT_ON else ""
            if profile.family == "dall-e":
                why = " (legacy DALL·E models take no options)"
            problems.append(f"option '{name}' is not supported by {profile.name}{why}.")
        elif name == "moderation" and kind != "generate":
            problems.append(
                f"option 'moderation' is for generations only: the edits endpoint, used by this {kind}, does not take it."
            )
        elif name == "input_fidelity" and kind == "generate":
            problems.append("option 'input_fidelity' is for edits only: this frame sends no input image.")
        else:
            problem = _check_value(name, value, profile.options[name])
            if problem:
                problems.append(problem)
    if profile.known:
        fmt = options.get("output_format", "png")
        if "output_compression" in options and fmt == "png":
            problems.append("output_compression needs output_format jpeg or webp (png is lossless).")
        if options.get("background") == "transparent" and fmt == "jpeg":
            problems.append(
                "background 'transparent' needs output_format png or webp (jpeg has no transparency)."
            )
    return problems


# ---------------------------------------------------------------------------------------------
# Cost


def output_tokens(profile: ModelProfile, size: str, quality: str) -> int | None:
    """Estimate the image output tokens of one image; None when the model has no token table."""
    if quality not in profile.qualities:
        return None
    try:
        w, h = parse_size(profile.presets.get(size, size))
    except ValueError:
        return None
    if profile.flexible_sizes:
        factor = QUALITY_FACTORS[quality]
        long_edge, short_edge = max(w, h), min(w, h)
        # Integer arithmetic as in the community formula: round(factor * short/long), half up,
        # then a ceiling division of the area term.
        short_factor = (2 * factor * short_edge + long_edge) // (2 * long_edge)
        area_term = factor * short_factor * (_TOKEN_AREA_OFFSET + w * h)
        return (area_term + _TOKEN_AREA_SCALE - 1) // _TOKEN_AREA_SCALE
    if profile.token_table is not None:
        return profile.token_table.get((f"{w}x{h}", quality))
    return None


def estimate_cost(
    profile: ModelProfile, size: str, quality: str, *, input_images: int = 0, prompt_chars: int = 0
) -> float | None:
    """Estimate the USD cost of one image (output, input images and prompt); None when unpriceable."""
    price = profile.price
    if price is None:
        return None
    if price.per_image is not None:
        try:
            w, h = parse_size(profile.presets.get(size, size))
        except ValueError:
            return None
        return price.per_image.get((f"{w}x{h}", quality))
    out = output_tokens(profile, size, quality)
    if out is None:
        return None
    text_tokens = math.ceil(prompt_chars / CHARS_PER_TOKEN)
    image_tokens = input_images * profile.input_image_tokens
    usd = text_tokens * price.text_in + image_tokens * price.image_in + out * price.image_out
    return usd / 1_000_000


def cost_from_usage(profile: ModelProfile, usage: dict) -> float | None:
    """Return the USD cost of a response's `usage` at the profile's rates; None when it can't be priced."""
    price = profile.price
    if price is None or price.per_image is not None or not usage or usage.get("output_tokens") is None:
        return None
    details = usage.get("input_tokens_details") or {}
    if "text_tokens" in details or "image_tokens" in details:
        text_tokens, image_tokens = details.get("text_tokens") or 0, details.get("image_tokens") or 0
    else:
        # No split given: bill every input token at the higher image rate, so spend is not understated.
        text_tokens, image_tokens = 0, usage.get("input_tokens") or 0
    # Output text tokens (reasoning on gpt-image-1.5) are billed at the image rate: an upper bound.
    usd = (
        text_tokens * price.text_in + image_tokens * price.image_in + usage["output_tokens"] * price.image_out
    )
    return usd / 1_000_000


# ---------------------------------------------------------------------------------------------
# Outpaint

EXTENDS = ("left", "right", "up", "down", "all")
_PHRASE = {
    "left": "to the left",
    "right": "to the right",
    "up": "upward",
    "down": "downward",
    "all": "on all sides",
}


def _snap(x: float, step: int, minimum: int) -> int:
    """Round x to the nearest multiple of step, but not below minimum."""
    value = math.floor(x / step + 0.5) * step
    return value if value >= minimum else math.ceil(minimum / step) * step


def _place(extend: str, canvas: tuple[int, int], src: tuple[int, int]) -> Outpaint:
    """Put a (scaled) source on the canvas against the side opposite the extension."""
    cw, ch = canvas
    sw, sh = src
    left = {"left": cw - sw, "right": 0}.get(extend, (cw - sw) // 2)
    top = {"up": ch - sh, "down": 0}.get(extend, (ch - sh) // 2)
    box = (left, top, left + sw, top + sh)
    added = {"left": left, "top": top, "right": cw - box[2], "bottom": ch - box[3]}
    return Outpaint(canvas=canvas, box=box, scale=1.0, added=added, warnings=[])


def _grow(extend: str, sw: int, sh: int, by: float, step: int) -> tuple[int, int]:
    """Return the canvas for a source of sw x sh: the extended axes grow by `by`, snapped to step."""
    horizontal, vertical = extend in ("left", "right", "all"), extend in ("up", "down", "all")
    least = 2 if extend == "all" else 1  # at least a pixel on every extended side
    cw = _snap(sw * (1 + by), step, sw + least) if horizontal else math.ceil(sw / step) * step
    ch = _snap(sh * (1 + by), step, sh + least) if vertical else math.ceil(sh / step) * step
    return cw, ch


def _scaled_source(extend: str, src_w: int, src_h: int, scale: float, step: int) -> tuple[float, int, int]:
    """Scale the source; an axis that is not extended is snapped to the step so it needs no padding."""
    snap = math.floor if scale < 1 else math.ceil
    if extend in ("left", "right"):
        sh = max(step, snap(src_h * scale / step) * step)
        scale = sh / src_h
        return scale, max(1, round(src_w * scale)), sh
    if extend in ("up", "down"):
        sw = max(step, snap(src_w * scale / step) * step)
        scale = sw / src_w
        return scale, sw, max(1, round(src_h * scale))
    return scale, max(1, round(src_w * scale)), max(1, round(src_h * scale))


def outpaint_geometry(profile: ModelProfile, src_w: int, src_h: int, extend: str, by: float) -> Outpaint:
    """Plan an outpaint canvas for a source of src_w x src_h; ValueError when the model can't do it."""
    if extend not in EXTENDS:
        raise ValueError(f"extend {extend!r} is not one of {', '.join(EXTENDS)}")
    if isinstance(by, bool) or not isinstance(by, int | float) or not 0 < by < math.inf:
        raise ValueError(f"by must be a number above 0 (a fraction of the source), not {by!r}")
    if src_w <= 0 or src_h <= 0:
        raise ValueError(f"the source size {src_w}x{src_h} is empty")
    if not profile.edits:
        raise ValueError(
            f"{profile.name} cannot outpaint: it has no edits; use a GPT image model such as {DEFAULT_MODEL}"
        )
    if not profile.known:
        # Nothing is known about the server's sizes: add exactly what was asked.
        return _place(extend, _grow(extend, src_w, src_h, by, 1), (src_w, src_h))
    if profile.flexible_sizes:
        return _flexible_outpaint(profile, src_w, src_h, extend, by)
    return _fixed_outpaint(profile, src_w, src_h, extend, by)


def _flexible_outpaint(profile: ModelProfile, src_w: int, src_h: int, extend: str, by: float) -> Outpaint:
    phrase = _PHRASE[extend]
    cw, ch = _grow(extend, src_w, src_h, by, SIZE_STEP)
    if max(cw, ch) > MAX_ASPECT * min(cw, ch):
        limit = "3:1" if cw > ch else "1:3"
        fix = "Use a smaller `by`."
        if max(src_w, src_h) > MAX_ASPECT * min(src_w, src_h):
            fix = f"The source itself is {format_aspect(src_w, src_h)}: crop it first, or extend its short side."
        raise ValueError(
            f"outpaint {phrase} by {by:g} makes {cw}x{ch}, {format_aspect(cw, ch)}; the limit is {limit}. {fix}"
        )
    warnings: list[str] = []
    scale, sw, sh = 1.0, src_w, src_h
    pixels = cw * ch
    if pixels > MAX_PIXELS or max(cw, ch) > MAX_EDGE or pixels < MIN_PIXELS:
        # The canvas does not fit the model: scale the source just enough, then nudge the scale
        # until the rounded canvas is legal (rounding to 16 can step over a limit).
        too_big = pixels >= MIN_PIXELS
        want = math.sqrt(MAX_PIXELS / pixels) if too_big else math.sqrt(MIN_PIXELS / pixels)
        if too_big:
            want = min(want, MAX_EDGE / max(cw, ch))
        for _ in range(200):
            scale, sw, sh = _scaled_source(extend, src_w, src_h, want, SIZE_STEP)
            new_w, new_h = _grow(extend, sw, sh, by, SIZE_STEP)
            if _flex_legal(new_w, new_h):
                break
            want *= 0.995 if too_big else 1.005
        else:  # pragma: no cover - the limits always leave room; a bug if reached
            raise ValueError(
                f"outpaint {phrase} by {by:g} of a {src_w}x{src_h} source cannot fit {profile.name}"
            )
        limit = f"above the limits of {profile.name} ({MAX_PIXELS:,} pixels, {MAX_EDGE} per edge)"
        if not too_big:
            limit = f"below the minimum of {profile.name} ({MIN_PIXELS:,} pixels)"
        warnings.append(
            f"outpaint {phrase} by {by:g} would make {cw}x{ch}, {limit}: "
            f"the source is scaled from {src_w}x{src_h} to {sw}x{sh} on a {new_w}x{new_h} canvas"
        )
        cw, ch = new_w, new_h
    result = _place(extend, (cw, ch), (sw, sh))
    # A source not on the 16 px grid gets a few pixels on the sides that were not asked for.
    if extend in ("left", "right") and ch != sh:
        warnings.append(
            f"the source is {sh} px high, not a multiple of 16: {result.added['top']} px are added at the top "
            f"and {result.added['bottom']} at the bottom"
        )
    if extend in ("up", "down") and cw != sw:
        warnings.append(
            f"the source is {sw} px wide, not a multiple of 16: {result.added['left']} px are added on the left "
            f"and {result.added['right']} on the right"
        )
    if cw * ch > EXPERIMENTAL_PIXELS:
        warnings.append(f"{cw}x{ch} is above 2560x1440: experimental")
    return replace(result, scale=scale, warnings=warnings)


def _fixed_outpaint(profile: ModelProfile, src_w: int, src_h: int, extend: str, by: float) -> Outpaint:
    phrase = _PHRASE[extend]
    horizontal, vertical = extend in ("left", "right", "all"), extend in ("up", "down", "all")
    want_w = src_w * (1 + by) if horizontal else src_w
    want_h = src_h * (1 + by) if vertical else src_h
    best: tuple[tuple[float, float], int, int, float, int, int] | None = None
    for size in profile.sizes:
        cw, ch = parse_size(size)
        # The source fills the canvas along the axis that is not extended; `all` keeps room on both.
        if extend in ("left", "right"):
            scale = ch / src_h
        elif extend in ("up", "down"):
            scale = cw / src_w
        else:
            scale = min(cw / want_w, ch / want_h)
        sw = cw if extend in ("up", "down") else round(src_w * scale)
        sh = ch if extend in ("left", "right") else round(src_h * scale)
        least = 2 if extend == "all" else 1
        if (horizontal and cw - sw < least) or (vertical and ch - sh < least):
            continue  # this size adds nothing on the requested side
        # Closest in aspect first; on a tie, the size that resamples the source least.
        score = (round(abs(math.log((cw / ch) / (want_w / want_h))), 9), abs(math.log(scale)))
        if best is None or score < best[0]:
            best = (score, cw, ch, scale, sw, sh)
    if best is None:
        raise ValueError(
            f"outpaint {phrase} on {profile.name}: none of its sizes ({', '.join(profile.sizes)}) leaves room "
            f"{phrase} of a {src_w}x{src_h} source; use a model with flexible sizes such as {DEFAULT_MODEL}"
        )
    _, cw, ch, scale, sw, sh = best
    result = _place(extend, (cw, ch), (sw, sh))
    warnings = []
    if abs(scale - 1) > 1e-9:
        warnings.append(
            f"the source is scaled from {src_w}x{src_h} to {sw}x{sh} to fit {cw}x{ch} on {profile.name}"
        )
    got_w, got_h = (cw - sw) / sw, (ch - sh) / sh
    parts = []
    if horizontal and abs(got_w - by) > 0.01:
        parts.append(f"{_fmt_num(got_w)} of the width ({cw - sw} px)")
    if vertical and abs(got_h - by) > 0.01:
        parts.append(f"{_fmt_num(got_h)} of the height ({ch - sh} px)")
    if parts:
        warnings.append(
            f"outpaint {phrase} by {by:g} adds {' and '.join(parts)} on {profile.name}: "
            f"{cw}x{ch} is the closest size it has"
        )
    return replace(result, scale=scale, warnings=warnings)
