"""OpenAI's rules for a frame's `options`: parameters storyboard sets itself or refuses, which
model takes which option, and the combinations the Images API rejects (reference §3)."""

from __future__ import annotations

import difflib

from storyboard.backends.openai.profiles import ALL_OPTIONS, FORMATS, OpenAIProfile
from storyboard.models import ModelProfile, check_value, or_list
from storyboard.models.options import RESERVED

# API parameters storyboard refuses on purpose, with where to say it instead.
NOT_OPTIONS = {
    "response_format": "storyboard always receives the image itself (base64), never a URL to fetch",
    "style": "it was a DALL·E 3 parameter; describe the style in the prompt (a var keeps it the same on every frame)",
    "user": "it is deprecated; use the option 'safety_identifier'",
    **RESERVED,
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


def check_options(profile: ModelProfile, options: dict, *, kind: str) -> list[str]:
    """Return the problems of a frame's `options` for an OpenAI model and request kind, one sentence each."""
    problems: list[str] = []
    for name, value in options.items():
        if name in NOT_OPTIONS:
            problems.append(f"'{name}' is not an option: {NOT_OPTIONS[name]}.")
        elif name in _UNSUPPORTED:
            problems.append(f"option '{name}' is not supported by storyboard ({_UNSUPPORTED[name]}).")
        elif not profile.known:
            continue  # an unknown model may take anything: the server will say
        elif name not in ALL_OPTIONS:
            close = difflib.get_close_matches(name, ALL_OPTIONS, n=1)
            if close:
                problems.append(f"unknown option '{name}' (did you mean '{close[0]}'?).")
            else:
                known = ", ".join(sorted(profile.options)) or "none"
                problems.append(f"unknown option '{name}'; the options of {profile.name} are: {known}.")
        elif name not in profile.options:
            why = f" ({_NOT_ON[name]})" if name in _NOT_ON else ""
            if isinstance(profile, OpenAIProfile) and profile.legacy:
                why = " (legacy DALL·E models take no options)"
            problems.append(f"option '{name}' is not supported by {profile.name}{why}.")
        elif name == "moderation" and kind != "generate":
            problems.append(
                f"option 'moderation' is for generations only: the edits endpoint, used by this {kind}, does not take it."
            )
        elif name == "input_fidelity" and kind == "generate":
            problems.append("option 'input_fidelity' is for edits only: this frame sends no input image.")
        elif name == "output_format" and value in ("gif", "svg"):
            problems.append(f"output_format {value!r} is not supported by storyboard; use {or_list(FORMATS)}.")
        else:
            problem = check_value(name, value, profile.options[name])
            if problem:
                problems.append(problem)
    if profile.known:
        fmt = options.get("output_format", "png")
        if "output_compression" in options and fmt == "png":
            problems.append("output_compression needs output_format jpeg or webp (png is lossless).")
        if options.get("background") == "transparent" and fmt == "jpeg":
            problems.append("background 'transparent' needs output_format png or webp (jpeg has no transparency).")
    return problems
