"""Qualities and options: what a frame asks for, checked against its model's profile before any
request (a backend adds its own rules on top, see `Plugin.check_options`)."""

from __future__ import annotations

import difflib

from storyboard.models.profile import ModelProfile, OptionValues

DEFAULT_QUALITIES = ("low", "medium", "high")

# Keys storyboard sets itself, whatever the backend, with where to say them instead.
RESERVED = {
    "n": "storyboard sends one image per request; use the frame key `takes` for alternatives",
    "size": "use the key `size` on the story or the frame",
    "quality": "use the key `quality` on the story or the frame",
    "model": "use the key `model` on the story or the frame",
    "prompt": "use the frame key `prompt`",
    "image": "input images come from `edit`, `outpaint`, `variation` and characters' `reference`",
    "mask": "use the frame key `mask`",
}


def or_list(items: list[str] | tuple[str, ...]) -> str:
    """Write 'a, b or c'."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def check_quality(profile: ModelProfile, quality: str) -> None:
    """Raise ValueError, listing the allowed values, when a model does not take a quality."""
    allowed = profile.qualities or DEFAULT_QUALITIES
    if quality == "auto":
        raise ValueError(f"quality 'auto' is not allowed: its cost cannot be estimated; use {or_list(allowed)}")
    if profile.qualities and quality not in profile.qualities:
        raise ValueError(f"quality {quality!r} is not a quality of {profile.name}; use {or_list(allowed)}")


def check_value(name: str, value: object, allowed: OptionValues) -> str | None:
    """Say what is wrong with an option's value (a sentence), or None when it is allowed."""
    if isinstance(allowed, range):
        if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
            return f"{name} must be a whole number from {allowed.start} to {allowed.stop - 1}, not {value!r}."
        return None
    if isinstance(allowed, tuple):
        if value in allowed:
            return None
        hint = ""
        if isinstance(value, str):
            close = difflib.get_close_matches(value, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"{name} must be {or_list(allowed)}, not {value!r}{hint}."
    if allowed is str and (not isinstance(value, str) or not value):
        return f"{name} must be a non-empty string, not {value!r}."
    if allowed is not str and not isinstance(value, allowed):
        return f"{name} must be a {allowed.__name__}, not {value!r}."
    return None


def check_options(profile: ModelProfile, options: dict, *, kind: str) -> list[str]:
    """Return the problems of a frame's `options` for a model, one sentence each (generic rules)."""
    problems: list[str] = []
    for name, value in options.items():
        if name in RESERVED:
            problems.append(f"'{name}' is not an option: {RESERVED[name]}.")
        elif not profile.known:
            continue  # an unknown model may take anything: the server will say
        elif name not in profile.options:
            close = difflib.get_close_matches(name, list(profile.options), n=1)
            if close:
                problems.append(f"unknown option '{name}' (did you mean '{close[0]}'?).")
            else:
                known = ", ".join(sorted(profile.options)) or "none"
                problems.append(f"unknown option '{name}'; the options of {profile.name} are: {known}.")
        else:
            problem = check_value(name, value, profile.options[name])
            if problem:
                problems.append(problem)
    return problems
