"""Image-model profiles and the arithmetic on them, shared by every backend: the profile type
(`profile`), sizes and presets (`sizes`), qualities and options (`options`), cost (`cost`) and
outpaint geometry (`outpaint`). Each backend owns its own profiles (`Plugin.profiles`).

Pure data and arithmetic: no I/O, and nothing heavy is imported.
"""

from storyboard.models.cost import cost_from_usage, estimate_cost, output_tokens
from storyboard.models.options import check_options, check_quality, check_value, or_list
from storyboard.models.outpaint import EXTENDS, Outpaint, outpaint_geometry
from storyboard.models.profile import (
    DEFAULT_MODEL,
    FLEXIBLE_PRESETS,
    KINDS,
    PRESET_NAMES,
    ModelProfile,
    OptionValues,
    Price,
    SizeRule,
    shutdown_check,
    unknown_profile,
    unknown_warning,
)
from storyboard.models.sizes import (
    aspect_of,
    closest_presets,
    dominant_aspect,
    format_aspect,
    parse_size,
    resolve_size,
)

__all__ = [
    "DEFAULT_MODEL", "EXTENDS", "FLEXIBLE_PRESETS", "KINDS", "PRESET_NAMES", "ModelProfile", "OptionValues",
    "Outpaint", "Price", "SizeRule", "aspect_of", "check_options", "check_quality", "check_value",
    "closest_presets", "cost_from_usage", "dominant_aspect", "estimate_cost", "format_aspect", "or_list", "outpaint_geometry",
    "output_tokens", "parse_size", "resolve_size", "shutdown_check", "unknown_profile", "unknown_warning",
]  # fmt: skip
