"""Sizes: 'WxH' parsed, aspect presets resolved, and a model's size rule checked, with a legal
size to try when one breaks it."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

from storyboard.models.profile import PRESET_NAMES, ModelProfile, SizeRule

_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def parse_size(size: str) -> tuple[int, int]:
    """Split 'WxH' into (width, height); ValueError when it is not of that form."""
    match = _SIZE_RE.match(str(size))
    if not match:
        raise ValueError(f"size {str(size)!r} is not WxH (e.g. 1536x1024)")
    return int(match.group(1)), int(match.group(2))


def aspect_of(size: str) -> float:
    """Return width / height of a 'WxH' size."""
    w, h = parse_size(size)
    return w / h


def dominant_aspect(sizes: Iterable[tuple[int, int]], default: float = 1.5) -> float:
    """Return the most common width / height among sizes (each use clamps it as it needs)."""
    ratios = Counter(round(w / h, 4) for w, h in sizes if w and h)
    return ratios.most_common(1)[0][0] if ratios else default


def _area(size: str) -> int:
    w, h = parse_size(size)
    return w * h


def closest_presets(sizes: tuple[str, ...]) -> dict[str, str]:
    """Map each aspect preset to the size closest in aspect (the largest one on a tie)."""
    presets = {}
    for preset in PRESET_NAMES:
        a, b = (int(part) for part in preset.split(":"))
        presets[preset] = min(sizes, key=lambda s: (round(abs(math.log(aspect_of(s) * b / a)), 9), -_area(s)))
    return presets


def fmt_num(x: float) -> str:
    """Write a number with at most two decimals and no trailing zeros."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def format_aspect(w: int, h: int) -> str:
    """Write an aspect ratio against 1, as the 3:1 limit reads: '4:1', '3.75:1', '1:3.2'."""
    return f"{fmt_num(w / h)}:1" if w >= h else f"1:{fmt_num(h / w)}"


def round_step(x: float, step: int) -> int:
    """Round to the nearest multiple of step, at least one step."""
    return max(step, math.floor(x / step + 0.5) * step)


def legal(rule: SizeRule, w: int, h: int) -> bool:
    """Tell whether w x h keeps the rule."""
    return (
        w % rule.step == 0
        and h % rule.step == 0
        and max(w, h) <= rule.max_aspect * min(w, h)
        and rule.min_pixels <= w * h <= rule.max_pixels
        and max(w, h) <= rule.max_edge
    )


def suggest(rule: SizeRule, w: float, h: float) -> str:
    """Return a legal size near w x h in aspect and area."""
    step = rule.step
    # Clamp the aspect first, keeping the long edge, then scale into the pixel and edge limits.
    if w > rule.max_aspect * h:
        h = w / rule.max_aspect
    elif h > rule.max_aspect * w:
        w = h / rule.max_aspect
    area = w * h
    if area < rule.min_pixels:
        scale = math.sqrt(rule.min_pixels / area)
    else:
        scale = min(1.0, math.sqrt(rule.max_pixels / area))
    scale = min(scale, rule.max_edge / max(w, h))
    if legal(rule, round_step(w, step), round_step(h, step)):
        return f"{round_step(w, step)}x{round_step(h, step)}"  # just off the grid: the nearest multiples
    w, h = w * scale, h * scale
    # Rounding to the grid can step over a limit: look at the neighbours and keep the best legal one.
    base_w, base_h = round_step(w, step), round_step(h, step)
    candidates = [(base_w + dw * step, base_h + dh * step) for dw in range(-3, 4) for dh in range(-3, 4)]
    fits = [(cw, ch) for cw, ch in candidates if cw > 0 and ch > 0 and legal(rule, cw, ch)]
    # Aspect matters most, but not at any price in area.
    cw, ch = min(
        fits, key=lambda s: abs(math.log(s[0] / s[1] * h / w)) + 0.5 * abs(math.log(s[0] * s[1] / (w * h)))
    )
    return f"{cw}x{ch}"


def _limit(rule: SizeRule, wide: bool) -> str:
    ratio = fmt_num(rule.max_aspect)
    return f"{ratio}:1" if wide else f"1:{ratio}"


def problem(profile: ModelProfile, w: int, h: int) -> str | None:
    """Say what breaks a flexible model's size rule, with a legal size to try; None when legal."""
    rule = profile.size_rule
    assert rule is not None
    size = f"{w}x{h}"
    off = list(dict.fromkeys(str(d) for d in (w, h) if d % rule.step))  # 1000x1000 names 1000 once
    if off:
        if len(off) == 1:
            return f"{size}: {off[0]} is not a multiple of {rule.step}; try {suggest(rule, w, h)}"
        return f"{size}: {off[0]} and {off[1]} are not multiples of {rule.step}; try {suggest(rule, w, h)}"
    if max(w, h) > rule.max_aspect * min(w, h):
        return f"{size}: aspect {format_aspect(w, h)} is past {_limit(rule, w > h)}; try {suggest(rule, w, h)}"
    if w * h < rule.min_pixels:
        # A familiar preset of the same aspect reads better than the smallest legal size.
        same = [p for p in profile.presets.values() if aspect_of(p) == w / h]
        fix = same[0] if same else suggest(rule, w, h)
        return f"{size}: too few pixels ({w * h:,} < {rule.min_pixels:,}); try {fix}"
    if w * h > rule.max_pixels:
        return f"{size}: too many pixels ({w * h:,} > {rule.max_pixels:,}); try {suggest(rule, w, h)}"
    if max(w, h) > rule.max_edge:
        return f"{size}: {max(w, h)} is above the {rule.max_edge} px edge limit; try {suggest(rule, w, h)}"
    return None


def experimental_warning(rule: SizeRule, w: int, h: int) -> str | None:
    """Say that a size is above the rule's reliable range; None when it is not."""
    if rule.experimental is None:
        return None
    ew, eh = rule.experimental
    return f"{w}x{h} is above {ew}x{eh}: experimental" if w * h > ew * eh else None


def resolve_size(profile: ModelProfile, size: str) -> tuple[str, list[str]]:
    """Turn 'WxH' or an aspect preset into the WxH to send, with warnings; ValueError if illegal."""
    text = str(size).strip()
    presets = ", ".join(profile.presets)
    if text in profile.presets:
        chosen = profile.presets[text]
        a, b = (int(part) for part in text.split(":"))
        w, h = parse_size(chosen)
        warnings = [] if w * b == h * a else [f"{text} on {profile.name} is {chosen} (the closest size it has)"]
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
    if profile.size_rule is not None:
        broken = problem(profile, w, h)
        if broken:
            raise ValueError(broken)
        warning = experimental_warning(profile.size_rule, w, h)
        return wh, [warning] if warning else []
    if wh not in profile.sizes:
        raise ValueError(f"{wh} is not a size of {profile.name}; use one of {', '.join(profile.sizes)}")
    return wh, []
