"""Outpaint geometry: the canvas for a source extended on one side (or all), where the source
sits on it and what is really added, within the model's sizes."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from storyboard.models.profile import DEFAULT_MODEL, ModelProfile
from storyboard.models.sizes import experimental_warning, fmt_num, format_aspect, legal, parse_size


@dataclass(frozen=True)
class Outpaint:
    """Geometry of an outpaint: the canvas, where the source sits on it, and what was added."""

    canvas: tuple[int, int]
    box: tuple[int, int, int, int]  # the source (possibly scaled) on the canvas: left, top, right, bottom
    scale: float  # 1.0 when the source is kept unscaled
    added: dict[str, int]  # pixels really added on each side: left, top, right, bottom
    warnings: list[str]


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
    if profile.size_rule is not None:
        return _flexible_outpaint(profile, src_w, src_h, extend, by)
    return _fixed_outpaint(profile, src_w, src_h, extend, by)


def _flexible_outpaint(profile: ModelProfile, src_w: int, src_h: int, extend: str, by: float) -> Outpaint:
    phrase = _PHRASE[extend]
    rule = profile.size_rule
    assert rule is not None
    step = rule.step
    cw, ch = _grow(extend, src_w, src_h, by, step)
    if max(cw, ch) > rule.max_aspect * min(cw, ch):
        ratio = fmt_num(rule.max_aspect)
        limit = f"{ratio}:1" if cw > ch else f"1:{ratio}"
        fix = "Use a smaller `by`."
        if max(src_w, src_h) > rule.max_aspect * min(src_w, src_h):
            fix = f"The source itself is {format_aspect(src_w, src_h)}: crop it first, or extend its short side."
        raise ValueError(
            f"outpaint {phrase} by {by:g} makes {cw}x{ch}, {format_aspect(cw, ch)}; the limit is {limit}. {fix}"
        )
    warnings: list[str] = []
    scale, sw, sh = 1.0, src_w, src_h
    pixels = cw * ch
    if pixels > rule.max_pixels or max(cw, ch) > rule.max_edge or pixels < rule.min_pixels:
        # The canvas does not fit the model: scale the source just enough, then nudge the scale
        # until the rounded canvas is legal (rounding to the grid can step over a limit).
        too_big = pixels >= rule.min_pixels
        want = math.sqrt(rule.max_pixels / pixels) if too_big else math.sqrt(rule.min_pixels / pixels)
        if too_big:
            want = min(want, rule.max_edge / max(cw, ch))
        for _ in range(200):
            scale, sw, sh = _scaled_source(extend, src_w, src_h, want, step)
            new_w, new_h = _grow(extend, sw, sh, by, step)
            if legal(rule, new_w, new_h):
                break
            want *= 0.995 if too_big else 1.005
        else:  # pragma: no cover - the limits always leave room; a bug if reached
            raise ValueError(
                f"outpaint {phrase} by {by:g} of a {src_w}x{src_h} source cannot fit {profile.name}"
            )
        limit = f"above the limits of {profile.name} ({rule.max_pixels:,} pixels, {rule.max_edge} per edge)"
        if not too_big:
            limit = f"below the minimum of {profile.name} ({rule.min_pixels:,} pixels)"
        warnings.append(
            f"outpaint {phrase} by {by:g} would make {cw}x{ch}, {limit}: "
            f"the source is scaled from {src_w}x{src_h} to {sw}x{sh} on a {new_w}x{new_h} canvas"
        )
        cw, ch = new_w, new_h
    result = _place(extend, (cw, ch), (sw, sh))
    # A source not on the grid gets a few pixels on the sides that were not asked for.
    if extend in ("left", "right") and ch != sh:
        warnings.append(
            f"the source is {sh} px high, not a multiple of {step}: {result.added['top']} px are added at the top "
            f"and {result.added['bottom']} at the bottom"
        )
    if extend in ("up", "down") and cw != sw:
        warnings.append(
            f"the source is {sw} px wide, not a multiple of {step}: {result.added['left']} px are added on the left "
            f"and {result.added['right']} on the right"
        )
    experimental = experimental_warning(rule, cw, ch)
    if experimental:
        warnings.append(experimental)
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
        parts.append(f"{fmt_num(got_w)} of the width ({cw - sw} px)")
    if vertical and abs(got_h - by) > 0.01:
        parts.append(f"{fmt_num(got_h)} of the height ({ch - sh} px)")
    if parts:
        warnings.append(
            f"outpaint {phrase} by {by:g} adds {' and '.join(parts)} on {profile.name}: "
            f"{cw}x{ch} is the closest size it has"
        )
    return replace(result, scale=scale, warnings=warnings)
