"""The fake Images API, driven by the real AsyncOpenAI client over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import http.client
import io
import json
import subprocess
import sys
import threading
import time
import typing
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from fakeapi import KNOWN_MODELS, FakeImagesAPI, stamp_image
from openai.types import ImageModel, ImagesResponse
from PIL import Image

KEY = "sk-test-fake"


def client(server: FakeImagesAPI, **kw: Any) -> openai.AsyncOpenAI:
    """Return an SDK client for the fake, without the SDK's own retries."""
    # verify=False: plain HTTP to loopback anyway, and loading the CA bundle costs ~0.1 s per client.
    kw.setdefault("http_client", openai.DefaultAsyncHttpxClient(verify=False))
    return openai.AsyncOpenAI(**{"base_url": server.base_url, "api_key": KEY, "max_retries": 0, **kw})


def fetch(method: str, url: str, **kw: Any) -> httpx2.Response:
    """Send one plain HTTP request (no SDK)."""
    with httpx2.Client(verify=False, timeout=10) as c:
        return c.request(method, url, **kw)


def call(server: FakeImagesAPI, fn: Callable[[openai.AsyncOpenAI], Awaitable[Any]], **kw: Any) -> Any:
    """Run fn(client) in a fresh event loop and close the client."""

    async def go() -> Any:
        async with client(server, **kw) as c:
            return await fn(c)

    return asyncio.run(go())


def generate(server: FakeImagesAPI, **params: Any) -> ImagesResponse:
    """Call images.generate with gpt-image-2 unless told otherwise."""
    params = {"model": "gpt-image-2", "prompt": "a robot dog", **params}
    return call(server, lambda c: c.images.generate(**params))


def edit(server: FakeImagesAPI, **params: Any) -> ImagesResponse:
    """Call images.edit with gpt-image-2 unless told otherwise."""
    params = {"model": "gpt-image-2", "prompt": "make it night", **params}
    return call(server, lambda c: c.images.edit(**params))


def variation(server: FakeImagesAPI, **params: Any) -> ImagesResponse:
    """Call the deprecated images.create_variation."""
    return call(server, lambda c: c.images.create_variation(**params))


def error(fn: Callable[..., Any], *args: Any, **kw: Any) -> openai.APIError:
    """Return the SDK error fn raises."""
    with pytest.raises(openai.APIError) as info:
        fn(*args, **kw)
    return info.value


def encoded(size: tuple[int, int] = (64, 64), fmt: str = "PNG", mode: str = "RGB") -> bytes:
    """Return a small real image file."""
    out = io.BytesIO()
    fill: tuple[int, ...] = (0, 0, 0, 0) if mode == "RGBA" else (40, 80, 120)
    Image.new(mode, size, fill[: len(mode)]).save(out, fmt)
    return out.getvalue()


def decode(item_b64: str | None) -> Image.Image:
    """Decode a b64_json image fully, so a broken file fails here."""
    assert item_b64
    img = Image.open(io.BytesIO(base64.b64decode(item_b64)))
    img.load()
    return img


# -- the model list and generations -----------------------------------------------------


def test_known_models_are_the_sdks_literal_list() -> None:
    assert set(KNOWN_MODELS) == set(typing.get_args(ImageModel))


@pytest.mark.parametrize(
    ("output_format", "pil_format"), [("png", "PNG"), ("jpeg", "JPEG"), ("webp", "WEBP")]
)
def test_generate_returns_a_real_image_of_the_requested_size(
    fake_api: FakeImagesAPI, output_format: str, pil_format: str
) -> None:
    got = generate(fake_api, size="1536x864", quality="low", output_format=output_format)
    img = decode(got.data[0].b64_json)
    assert (img.format, img.size) == (pil_format, (1536, 864))
    assert (got.size, got.quality, got.output_format, got.background) == ("1536x864", "low", output_format, "opaque")
    assert got.usage is not None and got.usage.total_tokens == got.usage.input_tokens + got.usage.output_tokens
    assert got.usage.input_tokens_details.text_tokens > 0
    assert got.data[0].url is None and got.data[0].revised_prompt is None
    (sent,) = fake_api.image_requests()
    assert got._request_id == sent.request_id and sent.request_id.startswith("req_")
    assert sent.json == {
        "model": "gpt-image-2", "prompt": "a robot dog", "size": "1536x864", "quality": "low",
        "output_format": output_format,
    }
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert (sent.status, sent.outcome, sent.images) == (200, "ok", 1)
    assert sent.started <= (sent.finished or 0)


def test_auto_size_and_quality_resolve(fake_api: FakeImagesAPI) -> None:
    got = generate(fake_api)
    assert decode(got.data[0].b64_json).size == (1024, 1024)
    assert (got.size, got.quality, got.output_format) == ("1024x1024", "medium", "png")


def test_transparent_background_has_alpha(fake_api: FakeImagesAPI) -> None:
    got = generate(fake_api, background="transparent", output_format="webp")
    img = decode(got.data[0].b64_json)
    assert img.mode == "RGBA" and img.getextrema()[3][0] == 0
    assert got.background == "transparent"


def test_every_response_has_distinct_bytes(fake_api: FakeImagesAPI) -> None:
    first = generate(fake_api, n=3)
    second = generate(fake_api)
    blobs = [base64.b64decode(d.b64_json or "") for d in [*first.data, *second.data]]
    assert len({hashlib.sha256(b).hexdigest() for b in blobs}) == 4
    # Same prompt, same picture: only the stamped metadata differs.
    pixels = {Image.open(io.BytesIO(b)).convert("RGB").tobytes() for b in blobs}
    assert len(pixels) == 1
    assert fake_api.billed == 4


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_stamps_keep_files_valid(fmt: str) -> None:
    out = io.BytesIO()
    Image.new("RGB", (32, 16), (1, 2, 3)).save(out, fmt.upper())
    stamped = stamp_image(out.getvalue(), fmt, "req_77/0")
    assert b"req_77/0" in stamped
    img = Image.open(io.BytesIO(stamped))
    img.load()
    assert img.size == (32, 16)


def test_different_prompts_get_different_colours(fake_api: FakeImagesAPI) -> None:
    a = decode(generate(fake_api, prompt="a cat").data[0].b64_json).convert("RGB").getpixel((1023, 1023))
    b = decode(generate(fake_api, prompt="a dog").data[0].b64_json).convert("RGB").getpixel((1023, 1023))
    assert a != b


# -- parameter rules --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "size", "ok"),
    [
        ("gpt-image-2", "auto", True),
        ("gpt-image-2", "1024x1024", True),
        ("gpt-image-2", "1536x864", True),
        ("gpt-image-2", "1920x1088", True),
        ("gpt-image-2", "1920x1080", False),  # 1080 is not a multiple of 16
        ("gpt-image-2", "3840x2160", True),
        ("gpt-image-2", "2160x3840", True),
        ("gpt-image-2", "2880x2880", True),  # exactly 8,294,400 pixels
        ("gpt-image-2", "2896x2896", False),  # too many pixels
        ("gpt-image-2", "640x640", False),  # too few pixels
        ("gpt-image-2", "3840x1088", False),  # wider than 3:1
        ("gpt-image-2", "4096x1536", False),  # an edge above 3840
        ("gpt-image-2", "big", False),
        ("gpt-image-2.5-flare", "2560x1440", True),
        ("gpt-image-2.6-sunburst", "1536x864", True),
        ("gpt-image-1.5", "1536x1024", True),
        ("gpt-image-1.5", "auto", True),
        ("gpt-image-1.5", "1536x864", False),
        ("gpt-image-1-mini", "1024x1536", True),
        ("chatgpt-image-latest", "2048x2048", False),
        ("gpt-image-1", "1024x1024", True),
        ("dall-e-3", "1792x1024", True),
        ("dall-e-3", "1024x1792", True),
        ("dall-e-3", "1536x1024", False),
        ("dall-e-3", "auto", False),
        ("dall-e-2", "256x256", True),
        ("dall-e-2", "1536x1024", False),
    ],
)
def test_sizes_per_model(fake_api: FakeImagesAPI, model: str, size: str, ok: bool) -> None:
    params: dict[str, Any] = {"model": model, "size": size}
    if model.startswith("dall-e"):
        params["response_format"] = "b64_json"
    else:
        params["output_format"] = "jpeg"  # the fastest to render at 4K
    if ok:
        got = generate(fake_api, **params)
        want = (1024, 1024) if size == "auto" else tuple(int(v) for v in size.split("x"))
        assert decode(got.data[0].b64_json).size == want
    else:
        err = error(generate, fake_api, **params)
        assert isinstance(err, openai.BadRequestError)
        assert (err.code, err.param) == ("invalid_value", "size")


@pytest.mark.parametrize(
    ("model", "quality", "ok"),
    [
        ("gpt-image-2", "high", True),
        ("gpt-image-2", "xhigh", False),
        ("gpt-image-2.5-sunburst", "xhigh", True),
        ("gpt-image-2.6-flare", "max", True),
        ("gpt-image-1.5", "max", False),
        ("gpt-image-2", "hd", False),
        ("dall-e-3", "hd", True),
        ("dall-e-3", "high", False),
        ("dall-e-2", "standard", True),
        ("dall-e-2", "hd", False),
    ],
)
def test_qualities_per_model(fake_api: FakeImagesAPI, model: str, quality: str, ok: bool) -> None:
    params: dict[str, Any] = {"model": model, "quality": quality}
    if model.startswith("dall-e"):
        params["response_format"] = "b64_json"
    if ok:
        assert generate(fake_api, **params).data
    else:
        err = error(generate, fake_api, **params)
        assert isinstance(err, openai.BadRequestError)
        assert (err.code, err.param) == ("invalid_value", "quality")


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"response_format": "b64_json"}, "unknown_parameter", "response_format"),
        ({"style": "vivid"}, "unknown_parameter", "style"),
        ({"extra_body": {"brand_new_knob": 3}}, "unknown_parameter", "brand_new_knob"),
        ({"output_format": "gif"}, "invalid_value", "output_format"),
        ({"output_format": "svg"}, "invalid_value", "output_format"),
        ({"output_compression": 50}, "invalid_value", "output_compression"),
        ({"output_format": "jpeg", "output_compression": 101}, "invalid_value", "output_compression"),
        ({"output_format": "jpeg", "background": "transparent"}, "invalid_value", "background"),
        ({"n": 0}, "integer_below_min_value", "n"),
        ({"n": 11}, "integer_above_max_value", "n"),
        ({"prompt": "x" * 32001}, "string_above_max_length", "prompt"),
        ({"prompt": ""}, "missing_required_parameter", "prompt"),
        ({"model": "gpt-image-9"}, "model_not_found", "model"),
        ({"model": "dall-e-3", "n": 2}, "invalid_value", "n"),
        ({"model": "dall-e-3", "prompt": "x" * 4001}, "string_above_max_length", "prompt"),
        ({"model": "dall-e-2", "prompt": "x" * 1001}, "string_above_max_length", "prompt"),
        ({"model": "dall-e-2", "style": "vivid"}, "unknown_parameter", "style"),
        ({"model": "dall-e-3", "output_format": "png"}, "unknown_parameter", "output_format"),
        ({"stream": True}, "unsupported_value", "stream"),
    ],
)
def test_refused_parameters(fake_api: FakeImagesAPI, params: dict[str, Any], code: str, param: str) -> None:
    err = error(generate, fake_api, **params)
    assert isinstance(err, openai.BadRequestError)
    assert (err.status_code, err.code, err.param, err.type) == (400, code, param, "invalid_request_error")
    assert fake_api.billed == 0
    (sent,) = fake_api.image_requests()
    assert (sent.outcome, sent.error_code) == ("error", code)


def test_model_is_required(fake_api: FakeImagesAPI) -> None:
    err = error(call, fake_api, lambda c: c.images.generate(prompt="a robot dog"))
    assert isinstance(err, openai.BadRequestError)
    assert (err.code, err.param) == ("missing_required_parameter", "model")


def test_extra_models_and_params_can_be_allowed(fake_api: FakeImagesAPI) -> None:
    fake_api.extra_models.add("my-local-model")
    fake_api.extra_params.add("brand_new_knob")
    got = generate(fake_api, model="my-local-model", size="1536x864", extra_body={"brand_new_knob": 3})
    assert got.size == "1536x864"
    assert fake_api.image_requests()[0].json["brand_new_knob"] == 3


def test_n_images_in_one_response(fake_api: FakeImagesAPI) -> None:
    got = generate(fake_api, n=10, quality="low")
    assert len(got.data) == 10
    assert fake_api.image_requests()[0].images == 10


def test_legacy_dalle3_returns_a_url_that_downloads(fake_api: FakeImagesAPI) -> None:
    got = generate(fake_api, model="dall-e-3", prompt="a lighthouse", style="natural", quality="hd")
    item = got.data[0]
    assert item.b64_json is None and item.url and item.url.startswith(fake_api.base_url)
    assert item.revised_prompt and "a lighthouse" in item.revised_prompt
    assert got.usage is None
    response = fetch("GET", item.url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (1024, 1024)
    assert fake_api.requests[-1].kind == "legacy-file"
    assert [r.kind for r in fake_api.image_requests()] == ["generation"]
    assert fetch("GET", item.url.replace(".png", "x.png")).status_code == 404


def test_legacy_b64_on_request(fake_api: FakeImagesAPI) -> None:
    got = generate(fake_api, model="dall-e-2", size="512x512", response_format="b64_json", n=2)
    assert [decode(d.b64_json).size for d in got.data] == [(512, 512), (512, 512)]


# -- edits and variations ---------------------------------------------------------------


def test_edit_with_several_images_and_a_mask_is_recorded_byte_exact(fake_api: FakeImagesAPI) -> None:
    source = encoded((96, 64))
    jpeg = encoded((32, 32), "JPEG")
    webp = encoded((48, 48), "WEBP")
    mask = encoded((96, 64), "PNG", "RGBA")
    got = edit(
        fake_api,
        image=[("source.png", source, "image/png"), ("rex.jpg", jpeg, "image/jpeg"), webp],
        mask=("mask.png", mask, "image/png"),
        size="1536x864",
        n=2,
    )
    assert [decode(d.b64_json).size for d in got.data] == [(1536, 864), (1536, 864)]
    assert got.usage is not None and got.usage.input_tokens_details.image_tokens > 0
    (sent,) = fake_api.image_requests()
    assert (sent.kind, sent.path) == ("edit", "/v1/images/edits")
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert sent.form == {"model": "gpt-image-2", "prompt": "make it night", "n": "2", "size": "1536x864"}
    assert sent.files == {
        "image[]": [
            ("source.png", "image/png", source),
            ("rex.jpg", "image/jpeg", jpeg),
            ("upload", "application/octet-stream", webp),
        ],
        "mask": [("mask.png", "image/png", mask)],
    }
    assert (sent.model, sent.prompt) == ("gpt-image-2", "make it night")


def test_edit_with_one_image_sends_image(fake_api: FakeImagesAPI) -> None:
    source = encoded()
    edit(fake_api, image=source, model="gpt-image-1.5", input_fidelity="high")
    (sent,) = fake_api.image_requests()
    assert sent.files == {"image": [("upload", "application/octet-stream", source)]}


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ({"mask": encoded((32, 32), "PNG", "RGBA")}, "invalid_value", "mask"),  # size differs from the image
        ({"mask": encoded((64, 64), "PNG", "RGB")}, "invalid_image_file", "mask"),  # no alpha channel
        ({"mask": encoded((64, 64), "JPEG")}, "invalid_image_file", "mask"),
        ({"image": encoded(fmt="GIF")}, "invalid_image_file", "image"),
        ({"image": b"not an image at all"}, "invalid_image_file", "image"),
        ({"image": [encoded()] * 17}, "invalid_value", "image"),
        ({"model": "dall-e-3"}, "invalid_value", "model"),
        ({"model": "dall-e-2", "image": [encoded(), encoded()]}, "invalid_value", "image"),
        ({"model": "dall-e-2", "image": encoded((64, 32))}, "invalid_image_file", "image"),
        ({"input_fidelity": "high"}, "unsupported_parameter", "input_fidelity"),  # omit it for gpt-image-2
        ({"model": "gpt-image-1-mini", "input_fidelity": "high"}, "invalid_value", "input_fidelity"),
        ({"response_format": "b64_json"}, "unknown_parameter", "response_format"),
        ({"markup": encoded((64, 64), "PNG", "RGBA")}, "unsupported_parameter", "markup"),  # 2.5 on
    ],
)
def test_refused_edits(fake_api: FakeImagesAPI, params: dict[str, Any], code: str, param: str) -> None:
    params = {"image": encoded(), **params}
    err = error(edit, fake_api, **params)
    assert isinstance(err, openai.BadRequestError)
    assert (err.code, err.param) == (code, param)


def test_markup_on_a_25_model(fake_api: FakeImagesAPI) -> None:
    markup = encoded((64, 64), "PNG", "RGBA")
    assert edit(fake_api, model="gpt-image-2.5-flare", image=encoded(), markup=markup).data
    err = error(edit, fake_api, model="gpt-image-2.5-flare", image=encoded(), markup=markup, mask=markup)
    assert (err.code, err.param) == ("invalid_value", "markup")


def test_legacy_dalle2_edit(fake_api: FakeImagesAPI) -> None:
    got = edit(fake_api, model="dall-e-2", image=encoded(), size="256x256", response_format="b64_json")
    assert decode(got.data[0].b64_json).size == (256, 256)


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_variations_for_dalle2_only(fake_api: FakeImagesAPI) -> None:
    got = variation(fake_api, model="dall-e-2", image=encoded(), size="512x512", n=2)
    assert len(got.data) == 2
    assert Image.open(io.BytesIO(fetch("GET", got.data[1].url or "").content)).size == (512, 512)
    err = error(variation, fake_api, model="gpt-image-2", image=encoded())
    assert isinstance(err, openai.BadRequestError) and (err.code, err.param) == ("invalid_value", "model")
    err = error(variation, fake_api, model="dall-e-2", image=encoded(), extra_body={"prompt": "x"})
    assert (err.code, err.param) == ("unknown_parameter", "prompt")
    assert [r.kind for r in fake_api.image_requests()] == ["variation"] * 3


# -- errors as the SDK sees them --------------------------------------------------------


def test_moderation_blocks(fake_api: FakeImagesAPI) -> None:
    err = error(generate, fake_api, prompt="a FORBIDDEN thing")
    assert isinstance(err, openai.BadRequestError)
    assert (err.code, err.type) == ("moderation_blocked", "image_generation_user_error")
    err = error(generate, fake_api, model="dall-e-3", prompt="a FORBIDDEN thing")
    assert (err.code, err.type) == ("content_policy_violation", "invalid_request_error")
    assert fake_api.billed == 0


def test_a_missing_or_empty_key_is_refused(fake_api: FakeImagesAPI) -> None:
    # The SDK refuses to send without a key, so speak HTTP directly.
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic abc"}):
        conn = http.client.HTTPConnection("127.0.0.1", fake_api.port, timeout=10)
        conn.request("POST", "/v1/images/generations", body=b"{}", headers=headers)
        response = conn.getresponse()
        body = json.loads(response.read())
        conn.close()
        assert response.status == 401
        assert body["error"]["code"] == "invalid_api_key"
        assert set(body["error"]) == {"message", "type", "param", "code"}
        assert response.getheader("x-request-id", "").startswith("req_")


@pytest.mark.parametrize(
    ("fault", "exc", "code"),
    [
        ({"status": 401}, openai.AuthenticationError, "invalid_api_key"),
        ({"status": 403}, openai.PermissionDeniedError, "unsupported_country_region_territory"),
        ({"status": 408}, openai.APIStatusError, "timeout"),
        ({"status": 409}, openai.ConflictError, "conflict"),
        ({"status": 429, "code": "insufficient_quota"}, openai.RateLimitError, "insufficient_quota"),
        ({"status": 500}, openai.InternalServerError, None),
        ({"status": 502}, openai.InternalServerError, None),
    ],
)
def test_status_faults(fake_api: FakeImagesAPI, fault: dict[str, Any], exc: type, code: str | None) -> None:
    fake_api.faults = [fault]
    err = error(generate, fake_api)
    assert type(err) is exc
    assert isinstance(err, openai.APIStatusError) and err.status_code == fault["status"]
    assert err.code == code
    assert err.request_id and err.request_id.startswith("req_")
    assert fake_api.billed == 0 and fake_api.faults == []
    assert fake_api.image_requests()[0].fault == fault
    assert generate(fake_api).data  # the next request is served normally


@pytest.mark.parametrize(("retry_after", "ms", "seconds"), [(0.05, "50", "1"), (300, "300000", "300")])
def test_rate_limit_fault_carries_retry_after(
    fake_api: FakeImagesAPI, retry_after: float, ms: str, seconds: str
) -> None:
    fake_api.faults = [{"status": 429, "retry_after": retry_after}]
    err = error(generate, fake_api)
    assert isinstance(err, openai.RateLimitError) and err.code == "rate_limit_exceeded"
    assert (err.response.headers["retry-after-ms"], err.response.headers["retry-after"]) == (ms, seconds)


def test_the_sdk_waits_retry_after_ms(fake_api: FakeImagesAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_api.faults = [{"status": 429, "retry_after": 0.05}, {"status": 500, "retry_after": 0.01}]
    waits: list[float] = []  # what the SDK decided to wait (retry-after alone would say 1 s each)
    decide = openai.AsyncOpenAI._calculate_retry_timeout

    def recorded(self: Any, *args: Any, **kwargs: Any) -> float:
        waits.append(decide(self, *args, **kwargs))
        return waits[-1]

    monkeypatch.setattr(openai.AsyncOpenAI, "_calculate_retry_timeout", recorded)
    got = call(fake_api, lambda c: c.images.generate(model="gpt-image-2", prompt="p"), max_retries=2)
    assert got.data
    assert waits == [0.05, 0.01]
    reqs = fake_api.image_requests()
    assert [r.headers["x-stainless-retry-count"] for r in reqs] == ["0", "1", "2"]
    # and it did wait: a retry reaches the server no sooner (a loaded machine only makes it later)
    assert all(b.started - (a.finished or 0) >= w for a, b, w in zip(reqs, reqs[1:], waits, strict=False))


@pytest.mark.parametrize(("drop", "billed"), [("before", 0), ("after", 1)])
def test_dropped_connections(fake_api: FakeImagesAPI, drop: str, billed: int) -> None:
    fake_api.faults = [{"drop": drop}]
    err = error(generate, fake_api)
    assert type(err) is openai.APIConnectionError
    assert fake_api.billed == billed
    (sent,) = fake_api.image_requests()
    assert (sent.outcome, sent.status, sent.images) == (f"dropped-{drop}", None, billed)


def test_hang_then_client_timeout(fake_api: FakeImagesAPI) -> None:
    # The one tight timeout: the server hangs far longer, so this cannot be flaky. (A timeout at all
    # proves the deadline: after its hang the fake drops the connection, a connection error.)
    fake_api.faults = [{"hang": 120}]  # stop() at teardown wakes it
    err = error(call, fake_api, lambda c: c.images.generate(model="gpt-image-2", prompt="p"), timeout=0.1)
    assert type(err) is openai.APITimeoutError
    assert fake_api.billed == 0


def test_fault_callable_and_random_mix(fake_api: FakeImagesAPI) -> None:
    fake_api.faults = lambda index, rec: {"status": 500} if index % 2 == 0 else None
    outcomes = []
    for _ in range(4):
        try:
            generate(fake_api)
            outcomes.append("ok")
        except openai.InternalServerError:
            outcomes.append("500")
    assert outcomes == ["500", "ok", "500", "ok"]

    def pattern(seed: int) -> list[str | None]:
        fake_api.reset()
        fake_api.faults = []
        fake_api.fault_rate, fake_api.seed = 0.5, seed
        fake_api.fault_mix = [{"status": 500}, {"status": 503}]
        for _ in range(8):
            with contextlib.suppress(openai.InternalServerError):
                generate(fake_api)
        return [str(r.status) for r in fake_api.image_requests()]

    first = pattern(7)
    assert first == pattern(7)
    assert "200" in first and set(first) - {"200"} <= {"500", "503"} and len(set(first)) > 1


def test_bad_fault_specs_are_refused(fake_api: FakeImagesAPI) -> None:
    with pytest.raises(ValueError, match="unknown fault keys"):
        fake_api.faults = [{"stauts": 500}]
    with pytest.raises(ValueError, match="exactly one"):
        fake_api.faults = [{"status": 500, "drop": "after"}]


# -- rate limit, quota, concurrency -----------------------------------------------------


def test_images_per_minute_window(fake_api: FakeImagesAPI) -> None:
    fake_api.ipm, fake_api.window_seconds = 3, 0.5
    generate(fake_api, n=2)
    generate(fake_api)
    err = error(generate, fake_api)
    assert isinstance(err, openai.RateLimitError) and err.code == "rate_limit_exceeded"
    wait = int(err.response.headers["retry-after-ms"]) / 1000
    assert 0 < wait <= 0.5
    assert fake_api.billed == 3
    time.sleep(wait + 0.02)
    generate(fake_api, n=2)  # both of the first request's slots freed together
    assert isinstance(error(generate, fake_api, n=4), openai.RateLimitError)  # more than ipm can ever fit


def test_quota(fake_api: FakeImagesAPI) -> None:
    fake_api.quota_images = 3
    generate(fake_api, n=2)
    err = error(generate, fake_api, n=2)
    assert isinstance(err, openai.RateLimitError) and (err.code, err.type) == ("insufficient_quota",) * 2
    generate(fake_api)
    assert isinstance(error(generate, fake_api), openai.RateLimitError)
    assert fake_api.billed == 3


def test_max_in_flight_under_concurrency(fake_api: FakeImagesAPI) -> None:
    seen: list[str] = []
    # No request is answered before all five are in: sent in parallel, they all get through (the
    # barrier's deadline only bounds a hang; one after another, the first would break it).
    together = threading.Barrier(5, timeout=60)

    def latency(rec: Any) -> float:
        seen.append(rec.request_id)
        together.wait()
        return 0.2

    fake_api.latency = latency

    async def burst(c: openai.AsyncOpenAI) -> list[ImagesResponse]:
        return await asyncio.gather(*(c.images.generate(model="gpt-image-2", prompt="p") for _ in range(5)))

    results = call(fake_api, burst)
    assert len(results) == 5 and len(seen) == 5
    assert fake_api.max_in_flight == 5 and fake_api.in_flight == 0
    assert all((r.seconds or 0) >= 0.2 for r in fake_api.image_requests())
    fake_api.reset()
    assert (fake_api.max_in_flight, fake_api.billed, fake_api.requests) == (0, 0, [])


def test_keep_alive_reuses_one_connection(fake_api: FakeImagesAPI) -> None:
    async def three(c: openai.AsyncOpenAI) -> None:
        for _ in range(3):
            await c.images.generate(model="gpt-image-2", prompt="p", quality="low")

    call(fake_api, three)
    assert len({r.peer for r in fake_api.image_requests()}) == 1


def test_stop_is_fast_and_closes_kept_alive_connections() -> None:
    server = FakeImagesAPI(latency=600).start()  # a stop that waited out a request's work would hang

    async def scenario() -> None:
        async with client(server) as c:
            server.latency = 0
            await c.images.generate(model="gpt-image-2", prompt="p")
            server.latency = 600
            task = asyncio.create_task(c.images.generate(model="gpt-image-2", prompt="p"))
            while server.in_flight == 0:
                await asyncio.sleep(0.005)
            await asyncio.wait_for(asyncio.to_thread(server.stop), 120)  # the deadline only bounds the hang
            with pytest.raises(openai.APIConnectionError):
                await task
            with pytest.raises(openai.APIConnectionError):
                await c.images.generate(model="gpt-image-2", prompt="p")

    asyncio.run(scenario())
    assert server.billed == 1


# -- the other endpoints and the command line -------------------------------------------


def test_responses_endpoint_is_canned(fake_api: FakeImagesAPI) -> None:
    async def ask(c: openai.AsyncOpenAI) -> Any:
        return await c.responses.create(model="gpt-5", input="write a story")

    err = error(call, fake_api, ask)
    assert isinstance(err, openai.NotFoundError)
    fake_api.responses_reply = {
        "id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-5", "status": "completed",
        "output": [], "parallel_tool_calls": False, "tool_choice": "auto", "tools": [],
    }
    got = call(fake_api, ask)
    assert got.id == "resp_1"
    assert [r.json["input"] for r in fake_api.requests if r.kind == "responses"] == ["write a story"] * 2
    assert fake_api.image_requests() == []


def test_chunked_request_bodies_are_read(fake_api: FakeImagesAPI) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", fake_api.port, timeout=10)
    body = iter([b'{"model": "gpt-image-2", ', b'"prompt": "p", "quality": "low"}'])
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    conn.request("POST", "/v1/images/generations", body=body, headers=headers, encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 200 and json.loads(response.read())["quality"] == "low"
    conn.close()
    assert fake_api.image_requests()[0].json == {"model": "gpt-image-2", "prompt": "p", "quality": "low"}


def test_unknown_paths_are_404(fake_api: FakeImagesAPI) -> None:
    response = fetch("GET", f"{fake_api.base_url}/models", headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (GET /v1/models)"


def test_conftest_points_the_sdk_at_a_closed_port() -> None:
    with pytest.raises(openai.APIConnectionError):
        sdk = openai.AsyncOpenAI(api_key="k", max_retries=0, http_client=openai.DefaultAsyncHttpxClient(verify=False))
        asyncio.run(sdk.images.generate(model="gpt-image-2", prompt="p"))


def test_fake_env_fixture(fake_env: FakeImagesAPI) -> None:
    async def go() -> ImagesResponse:
        # Everything but the transport comes from the environment.
        async with openai.AsyncOpenAI(max_retries=0, http_client=openai.DefaultAsyncHttpxClient(verify=False)) as c:
            return await c.images.generate(model="gpt-image-2", prompt="p")

    assert asyncio.run(go()).data
    assert fake_env.image_requests()[0].headers["authorization"] == "Bearer sk-test-fake"


def test_standalone_main_prints_its_base_url() -> None:
    script = Path(__file__).with_name("fakeapi.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--latency", "0", "--ipm", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        response = fetch("POST",
            f"{base_url}/images/generations", json={"model": "gpt-image-2", "prompt": "p", "quality": "low"},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert response.status_code == 200 and response.headers["x-request-id"] == "req_1"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- what real servers send beyond the happy path (issue 11): limits, trickles, junk, echoes -------


def post_image(server: FakeImagesAPI, **kw: Any) -> httpx2.Response:
    """POST one plain generation request, without the SDK."""
    body = {"model": "gpt-image-2", "prompt": "a robot dog", "quality": "low", "size": "816x816"}
    return fetch("POST", f"{server.base_url}/images/generations", json=body,
                 headers={"Authorization": f"Bearer {KEY}"}, **kw)


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (0.02, "20ms"), (1, "1s"), (1.5, "1.5s"),
                                               (360, "6m0s"), (3723, "1h2m3s")])
def test_go_durations(seconds: float, text: str) -> None:
    from fakeapi import go_duration

    assert go_duration(seconds) == text


def test_every_answer_under_a_limit_carries_the_ratelimit_triples(fake_api: FakeImagesAPI) -> None:
    fake_api.ipm, fake_api.window_seconds, fake_api.token_limit = 2, 60.0, 1_000_000
    first, second, third = post_image(fake_api), post_image(fake_api), post_image(fake_api)
    assert [r.status_code for r in (first, second, third)] == [200, 200, 429]
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert [r.headers["x-ratelimit-remaining-requests"] for r in (first, second, third)] == ["1", "0", "0"]
    reset = first.headers["x-ratelimit-reset-requests"]  # a minute, less the time the answer took
    assert reset == "1m0s" or (reset.startswith("59.") and reset.endswith("s")), reset
    assert int(first.headers["x-ratelimit-remaining-tokens"]) < 1_000_000
    assert third.headers["retry-after-ms"] and third.headers["retry-after"]


@pytest.mark.parametrize("hint", ["seconds", "date", "none"])
def test_the_429_hint_can_be_seconds_a_date_or_nothing(fake_api: FakeImagesAPI, hint: str) -> None:
    fake_api.ipm, fake_api.window_seconds, fake_api.retry_hint = 1, 30.0, hint
    post_image(fake_api)
    limited = post_image(fake_api)
    assert limited.status_code == 429
    assert "retry-after-ms" not in limited.headers
    assert ("retry-after" in limited.headers) == (hint != "none")
    if hint == "seconds":
        assert limited.headers["retry-after"] == "30"
    if hint == "date":
        assert limited.headers["retry-after"].endswith("GMT")


def test_the_token_window_answers_429_with_a_wait(fake_api: FakeImagesAPI) -> None:
    fake_api.token_limit, fake_api.window_seconds = 200, 5.0  # 816x816 low is ~172 tokens
    assert post_image(fake_api).status_code == 200
    limited = post_image(fake_api)
    assert limited.status_code == 429 and limited.json()["error"]["type"] == "tokens"
    assert 0 < int(limited.headers["x-ratelimit-remaining-tokens"]) < 200
    assert 0 < int(limited.headers["retry-after-ms"]) <= 5000


def test_a_trickle_sends_the_body_a_byte_at_a_time(fake_api: FakeImagesAPI) -> None:
    fake_api.faults = [{"trickle": 0.2}]
    with pytest.raises(httpx2.ReadTimeout):
        fetch_timeout = httpx2.Timeout(5.0, read=0.05)
        with httpx2.Client(timeout=fetch_timeout) as c:
            c.post(f"{fake_api.base_url}/images/generations", headers={"Authorization": f"Bearer {KEY}"},
                   json={"model": "gpt-image-2", "prompt": "p", "quality": "low"})
    fake_api.faults = [{"trickle": 0.0}]
    assert post_image(fake_api).json()["data"][0]["b64_json"]  # at no delay, a whole answer


def test_delayed_headers(fake_api: FakeImagesAPI) -> None:
    fake_api.faults = [{"delay": 0.3}]
    t0 = time.monotonic()
    assert post_image(fake_api).status_code == 200
    assert time.monotonic() - t0 >= 0.3


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        ("invalid_json", lambda r: pytest.raises(ValueError, r.json)),
        ("data_not_list", lambda r: r.json()["data"] == "an image"),
        ("null", lambda r: r.json() is None),
        ("list", lambda r: isinstance(r.json(), list)),
        ("no_data", lambda r: "data" not in r.json()),
        ("bad_item", lambda r: r.json()["data"] == [42]),
        ("bad_base64", lambda r: r.json()["data"][0]["b64_json"].startswith("!")),
        ("not_image", lambda r: base64.b64decode(r.json()["data"][0]["b64_json"]) == b"hello, not an image"),
        ("html", lambda r: r.headers["content-type"] == "text/html"),
    ],
)
def test_junk_200s(fake_api: FakeImagesAPI, kind: str, check: Callable[[httpx2.Response], Any]) -> None:
    fake_api.faults = [{"junk": kind}]
    reply = post_image(fake_api)
    assert reply.status_code == 200
    assert check(reply)
    assert fake_api.billed == 0


def test_a_huge_body_is_streamed_not_held(fake_api: FakeImagesAPI) -> None:
    fake_api.faults = [{"junk": "huge", "bytes": 5 << 20}, {"junk": "huge", "status": 500, "bytes": 1 << 40}]
    assert len(post_image(fake_api).content) == 5 << 20
    with httpx2.Client(timeout=10) as c, c.stream(
        "POST", f"{fake_api.base_url}/images/generations", headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "gpt-image-2", "prompt": "p"},
    ) as reply:
        assert (reply.status_code, reply.headers["content-length"]) == (500, str(1 << 40))
        got = 0
        for chunk in reply.iter_bytes():
            got += len(chunk)
            if got > 1 << 20:
                break  # a terabyte announced; the server does not mind the client leaving


@pytest.mark.parametrize("field", ["code", "message", "type", "request_id"])
def test_the_key_echoed_into_an_error(fake_api: FakeImagesAPI, field: str) -> None:
    fake_api.echo_key = {field}
    fake_api.faults = [{"status": 400}]
    reply = post_image(fake_api)
    assert KEY in (reply.text + reply.headers["x-request-id"])


def test_the_key_echoed_into_revised_prompt(fake_api: FakeImagesAPI) -> None:
    fake_api.echo_key = {"revised_prompt"}
    assert KEY in post_image(fake_api).json()["data"][0]["revised_prompt"]


def test_legacy_download_faults_and_url(fake_api: FakeImagesAPI) -> None:
    item = generate(fake_api, model="dall-e-3", prompt="p").data[0]
    assert item.url
    fake_api.legacy_faults = [{"status": 404}, {"redirect": "self"}, {"redirect": "file:///etc/passwd"}]
    assert fetch("GET", item.url).status_code == 404
    loop = fetch("GET", item.url)
    assert (loop.status_code, loop.headers["location"]) == (302, item.url.split(":" + str(fake_api.port))[1])
    assert fetch("GET", item.url).headers["location"] == "file:///etc/passwd"
    assert fetch("GET", item.url).status_code == 200  # faults used up
    fake_api.legacy_url = lambda url: "file:///etc/passwd"
    assert generate(fake_api, model="dall-e-3", prompt="p").data[0].url == "file:///etc/passwd"
