"""Cost estimates: an image's price from its profile, before the request (an estimate) and after
it (from the `usage` a response reports)."""

from __future__ import annotations

import math

from storyboard.models.profile import ModelProfile
from storyboard.models.sizes import parse_size

CHARS_PER_TOKEN = 4  # prompt tokens are estimated from characters


def _pixels(profile: ModelProfile, size: str) -> tuple[int, int] | None:
    try:
        return parse_size(profile.presets.get(size, size))
    except ValueError:
        return None


def output_tokens(profile: ModelProfile, size: str, quality: str) -> int | None:
    """Estimate the image output tokens of one image; None when the model has no estimate."""
    if quality not in profile.qualities or profile.output_tokens is None:
        return None
    wh = _pixels(profile, size)
    return None if wh is None else profile.output_tokens(*wh, quality)


def estimate_cost(
    profile: ModelProfile, size: str, quality: str, *, input_images: int = 0, prompt_chars: int = 0
) -> float | None:
    """Estimate the USD cost of one image (output, input images and prompt); None when unpriceable."""
    price = profile.price
    if price is None:
        return None
    if price.per_image is not None:
        wh = _pixels(profile, size)
        return None if wh is None else price.per_image.get((f"{wh[0]}x{wh[1]}", quality))
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
    # Output text tokens (reasoning models) are billed at the image rate: an upper bound.
    usd = text_tokens * price.text_in + image_tokens * price.image_in + usage["output_tokens"] * price.image_out
    return usd / 1_000_000
