"""Model profiles: OpenAI's registry, lifecycle and options, and the shared arithmetic on every
profile: sizes, qualities, cost and outpaint geometry."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from storyboard.backends.openai.options import check_options
from storyboard.backends.openai.profiles import GPT2_SIZES, all_profiles, get_profile, lifecycle
from storyboard.models import (
    DEFAULT_MODEL,
    PRESET_NAMES,
    check_quality,
    cost_from_usage,
    estimate_cost,
    format_aspect,
    outpaint_geometry,
    output_tokens,
    parse_size,
    resolve_size,
)

MAX_EDGE, MAX_PIXELS, MIN_PIXELS = GPT2_SIZES.max_edge, GPT2_SIZES.max_pixels, GPT2_SIZES.min_pixels

TODAY = date(2026, 11, 22)

# ---------------------------------------------------------------------------------------------
# Registry


@pytest.mark.parametrize(
    ("name", "family", "flexible", "shutdown", "replacement", "legacy", "variations", "max_inputs", "prompt_limit"),
    [
        ("gpt-image-2", "gpt-image-2", True, None, None, False, "edit", 16, 32000),
        ("gpt-image-2-2026-04-21", "gpt-image-2", True, None, None, False, "edit", 16, 32000),
        ("gpt-image-2.5-sunburst", "gpt-image-2", True, None, None, False, "edit", 16, 32000),
        ("gpt-image-2.5-flare-2026-09-08", "gpt-image-2", True, None, None, False, "edit", 16, 32000),
        ("gpt-image-2.6-flare", "gpt-image-2", True, None, None, False, "edit", 16, 32000),
        ("gpt-image-1.5", "gpt-image-1", False, date(2026, 12, 1), "gpt-image-2.6-sunburst", False, "edit", 16, 32000),
        ("gpt-image-1.5-2025-12-16", "gpt-image-1", False, date(2026, 12, 1), "gpt-image-2.6-sunburst", False, "edit", 16, 32000),
        ("gpt-image-1-mini", "gpt-image-1", False, date(2026, 12, 1), "gpt-image-2.6-sunburst", False, "edit", 16, 32000),
        ("chatgpt-image-latest", "gpt-image-1", False, date(2026, 12, 1), "gpt-image-2.6-sunburst", False, "edit", 16, 32000),
        ("gpt-image-1", "gpt-image-1", False, date(2026, 10, 23), "gpt-image-2.5-sunburst", False, "edit", 16, 32000),
        ("dall-e-3", "dall-e", False, date(2026, 5, 12), "gpt-image-2", True, "none", 0, 4000),
        ("dall-e-2", "dall-e", False, date(2026, 5, 12), "gpt-image-2", True, "endpoint", 1, 1000),
    ],
)  # fmt: skip
def test_known_profiles(
    name, family, flexible, shutdown, replacement, legacy, variations, max_inputs, prompt_limit
):
    p = get_profile(name)
    assert (p.name, p.known, p.family, p.flexible_sizes) == (name, True, family, flexible)
    assert (p.shutdown, p.replacement, p.legacy) == (shutdown, replacement, legacy)
    assert (p.variations, p.max_inputs, p.prompt_limit) == (variations, max_inputs, prompt_limit)
    assert p.price is not None


@pytest.mark.parametrize(
    ("name", "sizes", "qualities", "default", "features"),
    [
        ("gpt-image-1.5", ("1024x1024", "1536x1024", "1024x1536"), ("low", "medium", "high"), "medium", (True, True, True)),
        ("gpt-image-2.6-sunburst", None, ("low", "medium", "high", "xhigh", "max"), "medium", (True, True, True)),
        ("gpt-image-2", None, ("low", "medium", "high"), "medium", (True, True, True)),
        ("dall-e-3", ("1024x1024", "1792x1024", "1024x1792"), ("standard", "hd"), "standard", (False, False, False)),
        ("dall-e-2", ("256x256", "512x512", "1024x1024"), ("standard",), "standard", (True, True, False)),
    ],
)  # fmt: skip
def test_profile_sizes_qualities_features(name, sizes, qualities, default, features):
    p = get_profile(name)
    if sizes is not None:
        assert p.sizes == sizes
    assert (p.qualities, p.default_quality) == (qualities, default)
    assert (p.edits, p.mask, p.references) == features


@pytest.mark.parametrize(
    ("name", "like"),
    [
        ("gpt-image-2.5-ember", "gpt-image-2.5-sunburst"),
        ("gpt-image-2.6-flare-2026-12-01", "gpt-image-2.6-sunburst"),
    ],
)
def test_new_names_of_current_families_get_the_family_profile(name, like):
    p = get_profile(name)
    assert p.name == name and p.known and p.qualities == get_profile(like).qualities
    assert lifecycle(p, openai_host=True, today=TODAY) == (None, None)


@pytest.mark.parametrize("name", ["gpt-image-3", "gpt-image-2.5-", "flux-dev", "GPT-IMAGE-2"])
def test_unknown_model_gets_a_permissive_profile(name):
    p = get_profile(name)
    assert (p.known, p.family, p.price, p.shutdown) == (False, "unknown", None, None)
    assert p.edits and p.mask and p.references and p.max_inputs == 16
    assert resolve_size(p, "1000x333") == ("1000x333", [])
    check_quality(p, "ultra")
    assert check_options(p, {"anything": [1, 2], "output_format": "gif-ish"}, kind="edit") == []
    assert estimate_cost(p, "1024x1024", "medium") is None
    assert cost_from_usage(p, {"input_tokens": 10, "output_tokens": 100}) is None


def test_all_profiles_are_consistent():
    profiles = all_profiles()
    names = [p.name for p in profiles]
    assert names[0] == DEFAULT_MODEL and len(names) == len(set(names))
    for p in profiles:
        assert p.known and get_profile(p.name) is p
        assert tuple(p.presets) == PRESET_NAMES
        assert p.default_quality in p.qualities
        for preset in PRESET_NAMES:
            size, _ = resolve_size(p, preset)
            assert estimate_cost(p, size, p.default_quality) > 0


# ---------------------------------------------------------------------------------------------
# Lifecycle


@pytest.mark.parametrize(
    ("name", "openai_host", "today", "error", "warning"),
    [
        ("gpt-image-2", True, TODAY, None, None),
        ("dall-e-3", True, TODAY, "dall-e-3 was shut down on 2026-05-12; use gpt-image-2", None),
        ("dall-e-2", True, date(2026, 5, 12), "dall-e-2 was shut down on 2026-05-12; use gpt-image-2", None),
        ("gpt-image-1", True, TODAY, "gpt-image-1 was shut down on 2026-10-23; use gpt-image-2.5-sunburst", None),
        ("gpt-image-1.5", True, TODAY, None,
         "gpt-image-1.5 shuts down on 2026-12-01 (in 9 days); use gpt-image-2.6-sunburst"),
        ("gpt-image-1-mini", True, date(2026, 11, 30), None,
         "gpt-image-1-mini shuts down on 2026-12-01 (tomorrow); use gpt-image-2.6-sunburst"),
        ("chatgpt-image-latest", True, date(2026, 11, 1), None,
         "chatgpt-image-latest shuts down on 2026-12-01 (in 30 days); use gpt-image-2.6-sunburst"),
        ("gpt-image-1.5", True, date(2026, 10, 31), None, None),
        ("gpt-image-1.5", True, date(2026, 12, 1), "gpt-image-1.5 was shut down on 2026-12-01; use gpt-image-2.6-sunburst", None),
        # Other servers: retired models are allowed, silently.
        ("dall-e-3", False, TODAY, None, None),
        ("gpt-image-1.5", False, TODAY, None, None),
        ("gpt-image-7", True, TODAY, None,
         "unknown model gpt-image-7: sizes and options are not checked, cost unknown "
         "(OpenAI may have released it after this version of storyboard)"),
        ("flux-dev", False, TODAY, None, "unknown model flux-dev: sizes and options are not checked, cost unknown"),
    ],
)  # fmt: skip
def test_lifecycle(name, openai_host, today, error, warning):
    assert lifecycle(get_profile(name), openai_host=openai_host, today=today) == (error, warning)


# ---------------------------------------------------------------------------------------------
# Sizes


@pytest.mark.parametrize(
    ("model", "size", "expected", "warnings"),
    [
        ("gpt-image-2", "1536x1024", "1536x1024", []),
        ("gpt-image-2", " 1536X864 ", "1536x864", []),
        ("gpt-image-2", "16:9", "1536x864", []),
        ("gpt-image-2", "9:16", "864x1536", []),
        ("gpt-image-2", "3:2", "1536x1024", []),
        ("gpt-image-2", "1920x1088", "1920x1088", []),
        ("gpt-image-2", "2560x1440", "2560x1440", []),
        ("gpt-image-2", "2560x1600", "2560x1600", ["2560x1600 is above 2560x1440: experimental"]),
        ("gpt-image-2", "3840x2160", "3840x2160", ["3840x2160 is above 2560x1440: experimental"]),
        ("gpt-image-2", "3072x1024", "3072x1024", []),
        ("gpt-image-2.6-flare", "1024x3072", "1024x3072", []),
        (
            "gpt-image-1.5",
            "16:9",
            "1536x1024",
            ["16:9 on gpt-image-1.5 is 1536x1024 (the closest size it has)"],
        ),
        (
            "gpt-image-1.5",
            "9:16",
            "1024x1536",
            ["9:16 on gpt-image-1.5 is 1024x1536 (the closest size it has)"],
        ),
        ("gpt-image-1.5", "2:3", "1024x1536", []),
        ("gpt-image-1.5", "1024x1024", "1024x1024", []),
        ("dall-e-3", "16:9", "1792x1024", ["16:9 on dall-e-3 is 1792x1024 (the closest size it has)"]),
        ("dall-e-3", "1:1", "1024x1024", []),
        ("dall-e-2", "3:2", "1024x1024", ["3:2 on dall-e-2 is 1024x1024 (the closest size it has)"]),
        ("dall-e-2", "256x256", "256x256", []),
        ("some-local-model", "16:9", "1536x864", []),
        ("some-local-model", "999x777", "999x777", []),
    ],
)
def test_resolve_size(model, size, expected, warnings):
    assert resolve_size(get_profile(model), size) == (expected, warnings)


@pytest.mark.parametrize(
    ("model", "size", "message"),
    [
        ("gpt-image-2", "1920x1080", "1920x1080: 1080 is not a multiple of 16; try 1920x1088"),
        ("gpt-image-2", "1000x1080", "1000x1080: 1000 and 1080 are not multiples of 16; try 1008x1088"),
        ("gpt-image-2", "1000x1000", "1000x1000: 1000 is not a multiple of 16; try 1008x1008"),
        ("gpt-image-2", "800x600", "800x600: 600 is not a multiple of 16; try 944x704"),
        ("gpt-image-2", "1024x256", "1024x256: aspect 4:1 is past 3:1; try 1440x480"),
        ("gpt-image-2", "256x1024", "256x1024: aspect 1:4 is past 1:3; try 480x1440"),
        ("gpt-image-2", "1440x400", "1440x400: aspect 3.6:1 is past 3:1; try 1440x480"),
        ("gpt-image-2", "640x640", "640x640: too few pixels (409,600 < 655,360); try 1024x1024"),
        ("gpt-image-2", "1024x576", "1024x576: too few pixels (589,824 < 655,360); try 1536x864"),
        ("gpt-image-2", "960x640", "960x640: too few pixels (614,400 < 655,360); try 1536x1024"),
        ("gpt-image-2", "1024x608", "1024x608: too few pixels (622,592 < 655,360); try 1056x624"),
        ("gpt-image-2", "4096x4096", "4096x4096: too many pixels (16,777,216 > 8,294,400); try 2880x2880"),
        ("gpt-image-2", "4000x1344", "4000x1344: 4000 is above the 3840 px edge limit; try 3840x1296"),
        ("gpt-image-2", "auto", "size 'auto' is not allowed: storyboard needs the size to lay out and price "
                                "frames; use WxH (e.g. 1536x1024) or a preset (1:1, 3:2, 2:3, 16:9, 9:16)"),
        ("gpt-image-2", "4:3", "size '4:3' is neither WxH (e.g. 1536x1024) nor a preset (1:1, 3:2, 2:3, 16:9, 9:16)"),
        ("gpt-image-2", "1024x0", "1024x0: width and height must be above 0"),
        ("gpt-image-1.5", "1792x1024",
         "1792x1024 is not a size of gpt-image-1.5; use one of 1024x1024, 1536x1024, 1024x1536"),
        ("gpt-image-1.5", "1536x864", "1536x864 is not a size of gpt-image-1.5; use one of 1024x1024, 1536x1024, 1024x1536"),
        ("dall-e-3", "1536x1024", "1536x1024 is not a size of dall-e-3; use one of 1024x1024, 1792x1024, 1024x1792"),
    ],
)  # fmt: skip
def test_resolve_size_errors(model, size, message):
    with pytest.raises(ValueError) as info:
        resolve_size(get_profile(model), size)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "size", ["1920x1080", "1024x256", "640x640", "4096x4096", "4000x1344", "100x2000", "7x5"]
)
def test_every_suggested_size_is_legal(size):
    with pytest.raises(ValueError) as info:
        resolve_size(get_profile("gpt-image-2"), size)
    suggestion = str(info.value).rsplit("try ", 1)[1]
    assert resolve_size(get_profile("gpt-image-2"), suggestion)[0] == suggestion


@pytest.mark.parametrize(
    ("w", "h", "text"), [(1024, 256, "4:1"), (3840, 1024, "3.75:1"), (1024, 3200, "1:3.12")]
)
def test_format_aspect(w, h, text):
    assert format_aspect(w, h) == text


def test_parse_size():
    assert parse_size("1536x1024") == (1536, 1024)
    with pytest.raises(ValueError, match="size '16:9' is not WxH"):
        parse_size("16:9")


# ---------------------------------------------------------------------------------------------
# Quality


@pytest.mark.parametrize(
    ("model", "quality", "message"),
    [
        ("gpt-image-2", "medium", None),
        ("gpt-image-2.5-flare", "xhigh", None),
        ("gpt-image-2.6-sunburst", "max", None),
        ("dall-e-3", "hd", None),
        ("gpt-image-2", "auto", "quality 'auto' is not allowed: its cost cannot be estimated; use low, medium or high"),
        ("gpt-image-2.6-flare", "auto",
         "quality 'auto' is not allowed: its cost cannot be estimated; use low, medium, high, xhigh or max"),
        ("dall-e-3", "auto", "quality 'auto' is not allowed: its cost cannot be estimated; use standard or hd"),
        ("mystery-model", "auto", "quality 'auto' is not allowed: its cost cannot be estimated; use low, medium or high"),
        ("gpt-image-2", "xhigh", "quality 'xhigh' is not a quality of gpt-image-2; use low, medium or high"),
        ("gpt-image-1.5", "hd", "quality 'hd' is not a quality of gpt-image-1.5; use low, medium or high"),
        ("dall-e-2", "high", "quality 'high' is not a quality of dall-e-2; use standard"),
    ],
)  # fmt: skip
def test_check_quality(model, quality, message):
    if message is None:
        check_quality(get_profile(model), quality)
    else:
        with pytest.raises(ValueError) as info:
            check_quality(get_profile(model), quality)
        assert str(info.value) == message


# ---------------------------------------------------------------------------------------------
# Options


@pytest.mark.parametrize(
    ("model", "options", "kind", "problems"),
    [
        ("gpt-image-2", {"output_format": "webp", "background": "opaque"}, "generate", []),
        ("gpt-image-2", {"output_format": "jpeg", "output_compression": 80, "moderation": "low",
                         "complexity": "high", "safety_identifier": "user-7f3a"}, "generate", []),
        ("gpt-image-2", {"background": "transparent", "output_format": "webp"}, "edit", []),
        ("gpt-image-1.5", {"input_fidelity": "high"}, "edit", []),
        ("gpt-image-2", {"n": 3}, "generate",
         ["'n' is not an option: storyboard sends one image per request; use the frame key `takes` for alternatives."]),
        ("gpt-image-2", {"response_format": "url"}, "generate",
         ["'response_format' is not an option: storyboard always receives the image itself (base64), never a URL to fetch."]),
        ("gpt-image-2", {"style": "vivid"}, "generate",
         ["'style' is not an option: it was a DALL·E 3 parameter; describe the style in the prompt "
          "(a var keeps it the same on every frame)."]),
        ("gpt-image-2", {"user": "bob"}, "generate",
         ["'user' is not an option: it is deprecated; use the option 'safety_identifier'."]),
        ("gpt-image-2", {"size": "1024x1024", "quality": "high", "model": "x"}, "generate",
         ["'size' is not an option: use the key `size` on the story or the frame.",
          "'quality' is not an option: use the key `quality` on the story or the frame.",
          "'model' is not an option: use the key `model` on the story or the frame."]),
        ("gpt-image-2", {"prompt": "x", "image": "a.png", "mask": "m.png"}, "edit",
         ["'prompt' is not an option: use the frame key `prompt`.",
          "'image' is not an option: input images come from `edit`, `outpaint`, `variation` and characters' `reference`.",
          "'mask' is not an option: use the frame key `mask`."]),
        ("gpt-image-2", {"stream": True, "partial_images": 2}, "generate",
         ["'stream' is not an option: storyboard waits for the final image; it does not stream.",
          "'partial_images' is not an option: storyboard does not stream, and partial images are billed extra."]),
        # Never options hold for unknown models too: storyboard itself owns those keys.
        ("local-sdxl", {"n": 2}, "generate",
         ["'n' is not an option: storyboard sends one image per request; use the frame key `takes` for alternatives."]),
        ("gpt-image-2", {"output_format": "gif"}, "generate",
         ["output_format 'gif' is not supported by storyboard; use png, jpeg or webp."]),
        ("gpt-image-2", {"output_format": "svg"}, "generate",
         ["output_format 'svg' is not supported by storyboard; use png, jpeg or webp."]),
        ("gpt-image-2", {"frame_count": 4}, "generate",
         ["option 'frame_count' is not supported by storyboard (GIF output)."]),
        ("gpt-image-2.5-sunburst", {"markup": "m.png"}, "edit",
         ["option 'markup' is not supported by storyboard (guided-edit markup)."]),
        ("gpt-image-2", {"output_format": "jpg"}, "generate",
         ["output_format must be png, jpeg or webp, not 'jpg' (did you mean 'jpeg'?)."]),
        ("gpt-image-2", {"output_compression": 80}, "generate",
         ["output_compression needs output_format jpeg or webp (png is lossless)."]),
        ("gpt-image-2", {"output_compression": 101, "output_format": "webp"}, "generate",
         ["output_compression must be a whole number from 0 to 100, not 101."]),
        ("gpt-image-2", {"output_compression": "80", "output_format": "webp"}, "generate",
         ["output_compression must be a whole number from 0 to 100, not '80'."]),
        ("gpt-image-2", {"output_compression": True, "output_format": "webp"}, "generate",
         ["output_compression must be a whole number from 0 to 100, not True."]),
        ("gpt-image-2", {"background": "transparent", "output_format": "jpeg"}, "generate",
         ["background 'transparent' needs output_format png or webp (jpeg has no transparency)."]),
        ("gpt-image-2", {"background": "clear"}, "generate",
         ["background must be auto, opaque or transparent, not 'clear'."]),
        ("gpt-image-2", {"moderation": "low"}, "edit",
         ["option 'moderation' is for generations only: the edits endpoint, used by this edit, does not take it."]),
        ("gpt-image-2", {"moderation": "off"}, "generate", ["moderation must be auto or low, not 'off'."]),
        ("gpt-image-2.6-flare", {"complexity": "max"}, "generate",
         ["complexity must be low, medium or high, not 'max'."]),
        ("gpt-image-1.5", {"complexity": "low"}, "generate",
         ["option 'complexity' is not supported by gpt-image-1.5 (it is a gpt-image-2 family option)."]),
        ("gpt-image-2", {"input_fidelity": "high"}, "edit",
         ["option 'input_fidelity' is not supported by gpt-image-2 (only gpt-image-1.x takes it; "
          "gpt-image-2 models keep input images at high fidelity)."]),
        ("gpt-image-1.5", {"input_fidelity": "high"}, "generate",
         ["option 'input_fidelity' is for edits only: this frame sends no input image."]),
        ("gpt-image-1-mini", {"input_fidelity": "high"}, "edit", ["input_fidelity must be low, not 'high'."]),
        ("gpt-image-2", {"safety_identifier": 42}, "generate", ["safety_identifier must be a non-empty string, not 42."]),
        ("gpt-image-2", {"complexty": "low"}, "generate", ["unknown option 'complexty' (did you mean 'complexity'?)."]),
        ("gpt-image-2", {"zzz": 1}, "generate",
         ["unknown option 'zzz'; the options of gpt-image-2 are: background, complexity, moderation, "
          "output_compression, output_format, safety_identifier."]),
        ("dall-e-3", {"output_format": "png"}, "generate",
         ["option 'output_format' is not supported by dall-e-3 (legacy DALL·E models take no options)."]),
    ],
)  # fmt: skip
def test_check_options(model, options, kind, problems):
    assert check_options(get_profile(model), options, kind=kind) == problems


# ---------------------------------------------------------------------------------------------
# Cost


@pytest.mark.parametrize(
    ("size", "quality", "tokens"),
    [
        # OpenAI's calculator, as quoted on the community forum (reference §9).
        ("1024x1024", "high", 7024),
        ("1536x1024", "high", 5488),
        ("1792x1024", "high", 5063),
        ("3584x2048", "high", 12329),
        ("1024x1536", "high", 5488),
    ],
)
def test_gpt_image_2_output_tokens_match_the_calculator(size, quality, tokens):
    assert output_tokens(get_profile("gpt-image-2"), size, quality) == tokens


# Reference §9: "gpt-image-2 (computed)" and "gpt-image-2 estimates at storyboard sizes".
GPT2_TABLE = [
    ("1024x1024", "low", 0.0059), ("1536x1024", "low", 0.0047),
    ("1024x1024", "medium", 0.0527), ("1536x1024", "medium", 0.0412),
    ("1024x1024", "high", 0.211), ("1536x1024", "high", 0.165),
    ("1536x864", "low", 0.0036), ("1536x864", "medium", 0.032), ("1536x864", "high", 0.129),
    ("1920x1088", "low", 0.0044), ("1920x1088", "medium", 0.040), ("1920x1088", "high", 0.159),
    ("2560x1440", "low", 0.0062), ("2560x1440", "medium", 0.055), ("2560x1440", "high", 0.221),
    ("3840x2160", "low", 0.011), ("3840x2160", "medium", 0.100), ("3840x2160", "high", 0.400),
]  # fmt: skip


@pytest.mark.parametrize(("size", "quality", "usd"), GPT2_TABLE)
@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-2.5-sunburst", "gpt-image-2.6-flare"])
def test_gpt_image_2_family_matches_the_reference_table(model, size, quality, usd):
    assert estimate_cost(get_profile(model), size, quality) == pytest.approx(usd, rel=0.03)


@pytest.mark.parametrize(
    ("model", "prices"),
    [
        # low 1024² / 1536x1024, medium ..., high ... (reference §9)
        ("gpt-image-1.5", (0.009, 0.013, 0.034, 0.05, 0.133, 0.20)),
        ("gpt-image-1.5-2025-12-16", (0.009, 0.013, 0.034, 0.05, 0.133, 0.20)),
        ("gpt-image-1-mini", (0.005, 0.006, 0.011, 0.015, 0.036, 0.052)),
        ("gpt-image-1", (0.011, 0.016, 0.042, 0.063, 0.167, 0.25)),
    ],
)
def test_fixed_size_gpt_models_match_the_per_image_table(model, prices):
    p = get_profile(model)
    got = [
        estimate_cost(p, size, q) for q in ("low", "medium", "high") for size in ("1024x1024", "1536x1024")
    ]
    assert got == pytest.approx(prices, rel=0.04)
    for q in ("low", "medium", "high"):  # portrait costs what landscape does, within a token or two
        assert estimate_cost(p, "1024x1536", q) == pytest.approx(estimate_cost(p, "1536x1024", q), rel=0.03)


@pytest.mark.parametrize(
    ("model", "size", "quality", "usd"),
    [
        ("dall-e-3", "1024x1024", "standard", 0.04),
        ("dall-e-3", "1792x1024", "standard", 0.08),
        ("dall-e-3", "1024x1792", "hd", 0.12),
        ("dall-e-3", "1024x1024", "hd", 0.08),
        ("dall-e-2", "256x256", "standard", 0.016),
        ("dall-e-2", "512x512", "standard", 0.018),
        ("dall-e-2", "1024x1024", "standard", 0.020),
    ],
)
def test_dalle_per_image_prices(model, size, quality, usd):
    assert estimate_cost(get_profile(model), size, quality) == usd
    # Input images do not change a DALL·E price: it is per image out.
    assert estimate_cost(get_profile(model), size, quality, input_images=1, prompt_chars=400) == usd


def test_higher_qualities_of_2_5_and_2_6_cost_more():
    p = get_profile("gpt-image-2.6-sunburst")
    costs = [estimate_cost(p, "1536x1024", q) for q in ("low", "medium", "high", "xhigh", "max")]
    assert costs == sorted(costs) and len(set(costs)) == 5


def test_estimate_adds_prompt_and_input_images():
    p = get_profile("gpt-image-2")
    out = 5488 * 30  # 1536x1024 high
    # 401 characters -> 101 text tokens at $5/1M; 2 inputs x 1536 tokens at $8/1M.
    expected = (101 * 5 + 2 * 1536 * 8 + out) / 1_000_000
    assert estimate_cost(p, "1536x1024", "high", input_images=2, prompt_chars=401) == pytest.approx(expected)
    mini = get_profile("gpt-image-1-mini")
    expected = (25 * 2 + 323 * 2.5 + 6500 * 8) / 1_000_000
    assert estimate_cost(mini, "1536x1024", "high", input_images=1, prompt_chars=100) == pytest.approx(
        expected
    )


@pytest.mark.parametrize(
    ("model", "size", "quality"),
    [
        ("gpt-image-2", "1024x1024", "auto"),
        ("gpt-image-2", "1024x1024", "xhigh"),  # not a quality of gpt-image-2
        ("gpt-image-1.5", "1792x1024", "high"),
        ("dall-e-3", "1024x1024", "high"),
        ("gpt-image-2", "big", "high"),
        ("no-such-model", "1024x1024", "high"),
    ],
)
def test_estimate_is_none_when_it_cannot_be_priced(model, size, quality):
    assert estimate_cost(get_profile(model), size, quality) is None


def test_estimate_accepts_a_preset():
    p = get_profile("gpt-image-2")
    assert estimate_cost(p, "16:9", "medium") == estimate_cost(p, "1536x864", "medium")


@pytest.mark.parametrize(
    ("model", "usage", "usd"),
    [
        ("gpt-image-2",
         {"input_tokens": 1550, "output_tokens": 5488,
          "input_tokens_details": {"text_tokens": 14, "image_tokens": 1536}},
         (14 * 5 + 1536 * 8 + 5488 * 30) / 1e6),
        ("gpt-image-2", {"input_tokens": 20, "output_tokens": 196,
                         "input_tokens_details": {"text_tokens": 20, "image_tokens": 0}}, (20 * 5 + 196 * 30) / 1e6),
        # No split: every input token at the (higher) image rate.
        ("gpt-image-2", {"input_tokens": 100, "output_tokens": 1000}, (100 * 8 + 1000 * 30) / 1e6),
        ("gpt-image-1-mini", {"input_tokens": 50, "output_tokens": 750,
                              "input_tokens_details": {"text_tokens": 50, "image_tokens": None}}, (50 * 2 + 750 * 8) / 1e6),
        ("gpt-image-1.5", {"input_tokens": 10, "output_tokens": 272,
                           "input_tokens_details": {"text_tokens": 10}}, (10 * 5 + 272 * 32) / 1e6),
        ("dall-e-3", {"input_tokens": 10, "output_tokens": 10}, None),
        ("gpt-image-2", {}, None),
        ("gpt-image-2", {"input_tokens": 10}, None),
        ("unknown-model", {"input_tokens": 10, "output_tokens": 100}, None),
    ],
)  # fmt: skip
def test_cost_from_usage(model, usage, usd):
    got = cost_from_usage(get_profile(model), usage)
    assert got == (None if usd is None else pytest.approx(usd))


# ---------------------------------------------------------------------------------------------
# Outpaint


def _added(left=0, top=0, right=0, bottom=0):
    return {"left": left, "top": top, "right": right, "bottom": bottom}


@pytest.mark.parametrize(
    ("model", "src", "extend", "by", "canvas", "box", "scale", "added", "warnings"),
    [
        ("gpt-image-2", (1536, 1024), "right", 0.5, (2304, 1024), (0, 0, 1536, 1024), 1.0, _added(right=768), []),
        ("gpt-image-2", (1536, 1024), "left", 0.25, (1920, 1024), (384, 0, 1920, 1024), 1.0, _added(left=384), []),
        ("gpt-image-2", (1536, 1024), "up", 0.5, (1536, 1536), (0, 512, 1536, 1536), 1.0, _added(top=512), []),
        ("gpt-image-2", (1536, 864), "down", 0.5, (1536, 1296), (0, 0, 1536, 864), 1.0, _added(bottom=432), []),
        ("gpt-image-2", (1536, 1024), "all", 0.2, (1840, 1232), (152, 104, 1688, 1128), 1.0,
         _added(152, 104, 152, 104), []),
        # Added amounts are rounded so the canvas stays on the 16 px grid.
        ("gpt-image-2", (1536, 1024), "right", 0.33, (2048, 1024), (0, 0, 1536, 1024), 1.0, _added(right=512), []),
        ("gpt-image-2", (1024, 1024), "down", 0.01, (1024, 1040), (0, 0, 1024, 1024), 1.0, _added(bottom=16), []),
        # A source off the grid: the requested side absorbs it; the other axis gets a few pixels.
        ("gpt-image-2", (1000, 1000), "right", 0.5, (1504, 1008), (0, 4, 1000, 1004), 1.0, _added(0, 4, 504, 4),
         ["the source is 1000 px high, not a multiple of 16: 4 px are added at the top and 4 at the bottom"]),
        ("gpt-image-2", (1000, 1000), "down", 0.3, (1008, 1296), (4, 0, 1004, 1000), 1.0, _added(4, 0, 4, 296),
         ["the source is 1000 px wide, not a multiple of 16: 4 px are added on the left and 4 on the right"]),
        ("gpt-image-2", (2560, 1440), "all", 0.5, (3840, 2160), (640, 360, 3200, 1800), 1.0,
         _added(640, 360, 640, 360), ["3840x2160 is above 2560x1440: experimental"]),
        # Past the pixel or edge maximum: the source is scaled down just enough.
        ("gpt-image-2", (2560, 1440), "all", 1.0, (3840, 2160), (960, 540, 2880, 1620), 0.75,
         _added(960, 540, 960, 540),
         ["outpaint on all sides by 1 would make 5120x2880, above the limits of gpt-image-2 (8,294,400 pixels, "
          "3840 per edge): the source is scaled from 2560x1440 to 1920x1080 on a 3840x2160 canvas",
          "3840x2160 is above 2560x1440: experimental"]),
        ("gpt-image-2", (3840, 2160), "right", 0.2, (3824, 1792), (0, 0, 3186, 1792), 1792 / 2160, _added(right=638),
         ["outpaint to the right by 0.2 would make 4608x2160, above the limits of gpt-image-2 (8,294,400 pixels, "
          "3840 per edge): the source is scaled from 3840x2160 to 3186x1792 on a 3824x1792 canvas",
          "3824x1792 is above 2560x1440: experimental"]),
        # Below the minimum: scaled up.
        ("gpt-image-2", (512, 512), "right", 0.5, (1008, 672), (0, 0, 672, 672), 672 / 512, _added(right=336),
         ["outpaint to the right by 0.5 would make 768x512, below the minimum of gpt-image-2 (655,360 pixels): "
          "the source is scaled from 512x512 to 672x672 on a 1008x672 canvas"]),
        # Fixed sizes: the closest aspect that still adds room; only the requested side grows.
        ("gpt-image-1.5", (1024, 1024), "right", 0.5, (1536, 1024), (0, 0, 1024, 1024), 1.0, _added(right=512), []),
        ("gpt-image-1.5", (1024, 1024), "left", 1.0, (1536, 1024), (512, 0, 1536, 1024), 1.0, _added(left=512),
         ["outpaint to the left by 1 adds 0.5 of the width (512 px) on gpt-image-1.5: "
          "1536x1024 is the closest size it has"]),
        ("gpt-image-1.5", (1024, 1024), "up", 0.25, (1024, 1536), (0, 512, 1024, 1536), 1.0, _added(top=512),
         ["outpaint upward by 0.25 adds 0.5 of the height (512 px) on gpt-image-1.5: "
          "1024x1536 is the closest size it has"]),
        ("gpt-image-1.5", (1536, 1024), "down", 0.5, (1024, 1024), (0, 0, 1024, 683), 1024 / 1536, _added(bottom=341),
         ["the source is scaled from 1536x1024 to 1024x683 to fit 1024x1024 on gpt-image-1.5"]),
        ("gpt-image-1.5", (1024, 1536), "right", 0.5, (1024, 1024), (0, 0, 683, 1024), 1024 / 1536, _added(right=341),
         ["the source is scaled from 1024x1536 to 683x1024 to fit 1024x1024 on gpt-image-1.5"]),
        ("gpt-image-1.5", (1024, 1024), "all", 0.25, (1024, 1024), (102, 102, 921, 921), 0.8,
         _added(102, 102, 103, 103),
         ["the source is scaled from 1024x1024 to 819x819 to fit 1024x1024 on gpt-image-1.5"]),
        ("dall-e-2", (512, 1024), "right", 1.0, (1024, 1024), (0, 0, 512, 1024), 1.0, _added(right=512), []),
        # Unknown models: exactly what was asked, no grid, no limits.
        ("local-model", (1000, 700), "right", 0.33, (1330, 700), (0, 0, 1000, 700), 1.0, _added(right=330), []),
        ("local-model", (1000, 700), "all", 0.5, (1500, 1050), (250, 175, 1250, 875), 1.0,
         _added(250, 175, 250, 175), []),
    ],
)  # fmt: skip
def test_outpaint_geometry(model, src, extend, by, canvas, box, scale, added, warnings):
    result = outpaint_geometry(get_profile(model), *src, extend, by)
    assert (result.canvas, result.box, result.added, result.warnings) == (canvas, box, added, warnings)
    assert result.scale == pytest.approx(scale)


@pytest.mark.parametrize(
    ("model", "src", "extend", "by", "message"),
    [
        ("gpt-image-2", (1536, 1024), "right", 1.5,
         "outpaint to the right by 1.5 makes 3840x1024, 3.75:1; the limit is 3:1. Use a smaller `by`."),
        ("gpt-image-2", (1024, 1536), "down", 1.5,
         "outpaint downward by 1.5 makes 1024x3840, 1:3.75; the limit is 1:3. Use a smaller `by`."),
        ("gpt-image-2", (1024, 256), "right", 0.1,
         "outpaint to the right by 0.1 makes 1120x256, 4.38:1; the limit is 3:1. "
         "The source itself is 4:1: crop it first, or extend its short side."),
        ("gpt-image-1.5", (1536, 1024), "right", 0.5,
         "outpaint to the right on gpt-image-1.5: none of its sizes (1024x1024, 1536x1024, 1024x1536) leaves room "
         "to the right of a 1536x1024 source; use a model with flexible sizes such as gpt-image-2"),
        ("dall-e-2", (1024, 1024), "left", 0.5,
         "outpaint to the left on dall-e-2: none of its sizes (256x256, 512x512, 1024x1024) leaves room "
         "to the left of a 1024x1024 source; use a model with flexible sizes such as gpt-image-2"),
        ("dall-e-3", (1024, 1024), "right", 0.5,
         "dall-e-3 cannot outpaint: it has no edits; use a GPT image model such as gpt-image-2"),
        ("gpt-image-2", (1024, 1024), "sideways", 0.5, "extend 'sideways' is not one of left, right, up, down, all"),
        ("gpt-image-2", (1024, 1024), "right", 0, "by must be a number above 0 (a fraction of the source), not 0"),
        ("gpt-image-2", (1024, 1024), "right", -0.5,
         "by must be a number above 0 (a fraction of the source), not -0.5"),
        ("gpt-image-2", (1024, 1024), "right", "0.5",
         "by must be a number above 0 (a fraction of the source), not '0.5'"),
        ("gpt-image-2", (0, 1024), "right", 0.5, "the source size 0x1024 is empty"),
    ],
)  # fmt: skip
def test_outpaint_errors(model, src, extend, by, message):
    with pytest.raises(ValueError) as info:
        outpaint_geometry(get_profile(model), *src, extend, by)
    assert str(info.value) == message


SOURCES = [
    (1024, 1024),
    (1536, 1024),
    (1024, 1536),
    (1536, 864),
    (864, 1536),
    (2560, 1440),
    (1000, 750),
    (640, 480),
]


@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-1.5", "local-model"])
@pytest.mark.parametrize("extend", ["left", "right", "up", "down", "all"])
def test_outpaint_invariants(model, extend):
    """Whatever the inputs, the box sits inside the canvas and only the requested sides grow."""
    profile = get_profile(model)
    grows = {"left": {"left"}, "right": {"right"}, "up": {"top"}, "down": {"bottom"}}.get(
        extend, {"left", "top", "right", "bottom"}
    )
    for src_w, src_h in SOURCES:
        for by in (0.05, 0.25, 0.5, 1.0, 2.0):
            try:
                r = outpaint_geometry(profile, src_w, src_h, extend, by)
            except ValueError:
                continue  # past 3:1, or no fixed size leaves room: covered by test_outpaint_errors
            cw, ch = r.canvas
            left, top, right, bottom = r.box
            assert 0 <= left < right <= cw and 0 <= top < bottom <= ch
            assert r.added == {"left": left, "top": top, "right": cw - right, "bottom": ch - bottom}
            assert all(r.added[side] > 0 for side in grows)
            assert right - left == pytest.approx(src_w * r.scale, abs=1)
            assert bottom - top == pytest.approx(src_h * r.scale, abs=1)
            if profile.flexible_sizes:
                assert cw % 16 == 0 and ch % 16 == 0
                assert max(cw, ch) <= 3 * min(cw, ch) and MIN_PIXELS <= cw * ch <= MAX_PIXELS
                assert max(cw, ch) <= MAX_EDGE
                # Sides not asked for get only the few pixels an off-grid source needs.
                assert all(r.added[side] < 16 for side in r.added.keys() - grows)
            elif profile.known:
                assert f"{cw}x{ch}" in profile.sizes
                assert all(r.added[side] == 0 for side in r.added.keys() - grows)


# ---------------------------------------------------------------------------------------------
# Start-up cost


def test_importing_models_stays_light():
    code = "import sys, storyboard.models; print(sorted({'openai', 'PIL', 'httpx2', 'pydantic'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
