"""OpenAI's image models: sizes, qualities, features, prices and lifecycle (reference §3-§9), and
how a name OpenAI's own server would not know is caught before any request.

Pure data and arithmetic: no I/O, nothing heavy imported (the CLI reads this when it plans).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date

from storyboard.models import (
    FLEXIBLE_PRESETS,
    ModelProfile,
    OptionValues,
    Price,
    SizeRule,
    closest_presets,
    shutdown_check,
    unknown_profile,
    unknown_warning,
)

NAME = "openai"
OPENAI_HOST = "api.openai.com"

# The size rule of the gpt-image-2 family (reference §4).
GPT2_SIZES = SizeRule(
    step=16, max_aspect=3, min_pixels=655_360, max_pixels=8_294_400, max_edge=3840, experimental=(2560, 1440)
)
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


@dataclass(frozen=True)
class OpenAIProfile(ModelProfile):
    """An OpenAI model's profile: its family, and whether it is a legacy DALL·E model."""

    family: str = "unknown"  # 'gpt-image-2' (2, 2.5, 2.6), 'gpt-image-1' (1, 1.5, 1-mini, chatgpt), 'dall-e'
    legacy: bool = False  # DALL·E: the client sends response_format=b64_json and accepts URLs


def gpt2_output_tokens(w: int, h: int, quality: str) -> int | None:
    """Estimate the output tokens of a gpt-image-2 family image (the community formula)."""
    factor = QUALITY_FACTORS.get(quality)
    if factor is None:
        return None
    long_edge, short_edge = max(w, h), min(w, h)
    # Integer arithmetic as in the community formula: round(factor * short/long), half up, then a
    # ceiling division of the area term.
    short_factor = (2 * factor * short_edge + long_edge) // (2 * long_edge)
    area_term = factor * short_factor * (_TOKEN_AREA_OFFSET + w * h)
    return (area_term + _TOKEN_AREA_SCALE - 1) // _TOKEN_AREA_SCALE


_GPT_SIZES = ("1024x1024", "1536x1024", "1024x1536")
_FLEX_SIZES = (
    "1024x1024", "1536x1024", "1024x1536", "1536x864", "864x1536",
    "1920x1088", "1088x1920", "2560x1440", "1440x2560", "3840x2160", "2160x3840",
)  # fmt: skip
_Q3 = ("low", "medium", "high")
_Q5 = ("low", "medium", "high", "xhigh", "max")
FORMATS = ("png", "jpeg", "webp")

_COMMON_OPTIONS: dict[str, OptionValues] = {
    "output_format": FORMATS,
    "output_compression": range(0, 101),
    "background": ("auto", "opaque", "transparent"),
    "moderation": ("auto", "low"),
    "safety_identifier": str,
}
_GPT2_OPTIONS = {**_COMMON_OPTIONS, "complexity": ("low", "medium", "high")}
_GPT1_OPTIONS = {**_COMMON_OPTIONS, "input_fidelity": ("low", "high")}
_MINI_OPTIONS = {**_COMMON_OPTIONS, "input_fidelity": ("low",)}  # 1-mini takes only low (reference §3.2)
ALL_OPTIONS = sorted({*_GPT2_OPTIONS, *_GPT1_OPTIONS})


def _table(low: tuple[int, int, int], medium: tuple[int, int, int], high: tuple[int, int, int]):  # noqa: ANN202
    """Return a token estimate from per-size triples (square, landscape, portrait) per quality."""
    table: dict[tuple[str, str], int] = {}
    for quality, counts in (("low", low), ("medium", medium), ("high", high)):
        for size, tokens in zip(_GPT_SIZES, counts, strict=True):
            table[(size, quality)] = tokens

    def tokens(w: int, h: int, quality: str) -> int | None:
        return table.get((f"{w}x{h}", quality))

    return tokens


# gpt-image-1's published counts. gpt-image-1.5 bills the same counts at $32/1M, which reproduces
# the per-image table of reference §9 ($0.009/$0.013, $0.034/$0.05, $0.133/$0.20).
_GPT1_TOKENS = _table(low=(272, 400, 408), medium=(1056, 1568, 1584), high=(4160, 6208, 6240))
# gpt-image-1-mini has no published counts: these are its per-image prices (reference §9) / $8 per 1M.
_MINI_TOKENS = _table(low=(625, 750, 750), medium=(1375, 1875, 1875), high=(4500, 6500, 6500))

_GPT2_PRICE = Price(text_in=5.0, image_in=8.0, image_out=30.0)
_DALLE3_PRICE = Price(0.0, 0.0, 0.0, per_image={
    ("1024x1024", "standard"): 0.04, ("1792x1024", "standard"): 0.08, ("1024x1792", "standard"): 0.08,
    ("1024x1024", "hd"): 0.08, ("1792x1024", "hd"): 0.12, ("1024x1792", "hd"): 0.12,
})  # fmt: skip
_DALLE2_PRICE = Price(0.0, 0.0, 0.0, per_image={
    ("256x256", "standard"): 0.016, ("512x512", "standard"): 0.018, ("1024x1024", "standard"): 0.020,
})  # fmt: skip


def _gpt2(name: str, qualities: tuple[str, ...] = _Q3) -> OpenAIProfile:
    return OpenAIProfile(
        name=name, known=True, family="gpt-image-2", size_rule=GPT2_SIZES, sizes=_FLEX_SIZES,
        presets=dict(FLEXIBLE_PRESETS), qualities=qualities, default_quality="medium", prompt_limit=32_000,
        max_inputs=16, edits=True, mask=True, references=True, variations="edit", options=dict(_GPT2_OPTIONS),
        price=_GPT2_PRICE, output_tokens=gpt2_output_tokens, input_image_tokens=GPT2_INPUT_IMAGE_TOKENS,
        backend=NAME,
    )  # fmt: skip


def _gpt1(name: str, *, price: Price, tokens, shutdown: date, replacement: str, options: dict) -> OpenAIProfile:  # noqa: ANN001
    return OpenAIProfile(
        name=name, known=True, family="gpt-image-1", sizes=_GPT_SIZES, presets=closest_presets(_GPT_SIZES),
        qualities=_Q3, default_quality="medium", prompt_limit=32_000, max_inputs=16, edits=True, mask=True,
        references=True, variations="edit", options=dict(options), price=price, shutdown=shutdown,
        replacement=replacement, output_tokens=tokens, input_image_tokens=GPT1_INPUT_IMAGE_TOKENS, backend=NAME,
    )  # fmt: skip


_DEC_1 = date(2026, 12, 1)
_GPT15 = {"price": Price(5.0, 8.0, 32.0), "tokens": _GPT1_TOKENS, "shutdown": _DEC_1,
          "replacement": "gpt-image-2.6-sunburst", "options": _GPT1_OPTIONS}  # fmt: skip
_DALLE3_SIZES = ("1024x1024", "1792x1024", "1024x1792")
_DALLE2_SIZES = ("256x256", "512x512", "1024x1024")

_REGISTRY: tuple[OpenAIProfile, ...] = (
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
    OpenAIProfile(
        name="dall-e-3", known=True, family="dall-e", sizes=_DALLE3_SIZES, presets=closest_presets(_DALLE3_SIZES),
        qualities=("standard", "hd"), default_quality="standard", prompt_limit=4000, max_inputs=0, edits=False,
        mask=False, references=False, variations="none", options={}, price=_DALLE3_PRICE,
        shutdown=date(2026, 5, 12), replacement="gpt-image-2", legacy=True, backend=NAME,
    ),
    OpenAIProfile(
        name="dall-e-2", known=True, family="dall-e", sizes=_DALLE2_SIZES, presets=closest_presets(_DALLE2_SIZES),
        qualities=("standard",), default_quality="standard", prompt_limit=1000, max_inputs=1, edits=True,
        mask=True, references=False, variations="endpoint", options={}, price=_DALLE2_PRICE,
        shutdown=date(2026, 5, 12), replacement="gpt-image-2", legacy=True, backend=NAME, square_inputs=True,
    ),
)  # fmt: skip
_PROFILES = {profile.name: profile for profile in _REGISTRY}
# SPEC §6 calls every gpt-image-2.5-* and gpt-image-2.6-* current: new variants get their family's profile.
_FAMILY_PREFIXES = (
    ("gpt-image-2.6-", _PROFILES["gpt-image-2.6-sunburst"]),
    ("gpt-image-2.5-", _PROFILES["gpt-image-2.5-sunburst"]),
)
# How OpenAI names image models: a family and version, words, an optional snapshot date. A name
# of this shape may be a model released after this version of storyboard; one that is not, but
# is within two edits of a known name, is a typo.
_NAME_SHAPE = re.compile(
    r"^(?:gpt-image-\d+(?:\.\d+)?|chatgpt-image|dall-e-\d+)(?:-[a-z][a-z0-9]*)*(?:-\d{4}-\d{2}-\d{2})?$"
)


def get_profile(name: str) -> OpenAIProfile:
    """Return the profile of a model name; an unknown name gets a permissive profile."""
    if name in _PROFILES:
        return _PROFILES[name]
    for prefix, base in _FAMILY_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            return replace(base, name=name)
    return OpenAIProfile(**vars(unknown_profile(name)))


def all_profiles() -> list[OpenAIProfile]:
    """Return every known profile, current models first (for `storyboard models`)."""
    return list(_REGISTRY)


def claims(name: str) -> bool:
    """Tell whether a model name is OpenAI's: a known one, or a new name of a current family."""
    return get_profile(name).known


def _edits(a: str, b: str) -> int:
    """Return the edit distance of two names (insert, delete, substitute, swap two neighbours)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def typo_of(name: str) -> str | None:
    """Return the known name that `name` is a typo of, or None: a name shaped like OpenAI's may be new."""
    if _NAME_SHAPE.match(name):
        return None
    folded = name.strip().lower()
    best = min(_PROFILES, key=lambda known: (_edits(folded, known), known))
    return best if folded == best or _edits(folded, best) <= 2 else None


def lifecycle(profile: ModelProfile, *, openai_host: bool, today: date) -> tuple[str | None, str | None]:
    """Return (error, warning) about a model's shutdown date or unknown name."""
    if not profile.known:
        close = typo_of(profile.name) if openai_host else None
        if close:
            return f"unknown model {profile.name} (did you mean {close}?)", None
        warning = unknown_warning(profile.name)
        if openai_host:
            warning += " (OpenAI may have released it after this version of storyboard)"
        return None, warning
    # Shutdown dates are OpenAI's: other servers may well keep serving retired models.
    if not openai_host:
        return None, None
    return shutdown_check(profile, today)
