"""The openai backend against the fake Images API over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import io
import json
import subprocess
import sys
import time
import warnings
from typing import Any

import httpx2
import openai
import pytest
from PIL import Image

from storyboard.backends import GeneratedImage, ImageRequest, InputImage
from storyboard.backends.openai.client import PLACEHOLDER_KEY, OpenAIBackend, sniff_media_type
from storyboard.backends.openai.errors import map_error, parse_retry_after
from storyboard.errors import FatalFailure, FrameFailure, RequestFailed, TransientFailure, Unreachable

KEY = "sk-test-SECRET0123456789abcdefSECRET"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 8
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 "
GIF = b"GIF89a" + b"\x00" * 8


def encoded(fmt: str, colour: tuple[int, ...], mode: str = "RGB") -> bytes:
    """Return a small real image: the fake API opens every upload."""
    out = io.BytesIO()
    Image.new(mode, (64, 64), colour).save(out, fmt)
    return out.getvalue()


def image(data: bytes, role: str = "reference", media_type: str = "image/png") -> InputImage:
    """Return an input image with its real sha256."""
    return InputImage(data, hashlib.sha256(data).hexdigest(), media_type, role, "test")  # type: ignore[arg-type]


def request(**kw: Any) -> ImageRequest:
    """Return a generate request for gpt-image-2 with what the test overrides."""
    fields: dict[str, Any] = {
        "kind": "generate",
        "model": "gpt-image-2",
        "prompt": "a robot dog in the rain",
        "size": "1536x864",
        "quality": "medium",
    }
    return ImageRequest(**{**fields, **kw})


def run(backend: OpenAIBackend, req: ImageRequest) -> GeneratedImage:
    """Send one request and close the backend, in one event loop."""

    async def go() -> GeneratedImage:
        try:
            return await backend.generate(req)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def fail(backend: OpenAIBackend, req: ImageRequest) -> RequestFailed:
    """Send a request that must fail and return the failure."""
    with pytest.raises(RequestFailed) as info:
        run(backend, req)
    return info.value


@pytest.fixture
def backend(fake_api: Any) -> OpenAIBackend:
    """Return a backend pointed at the fake API, with a key worth stealing."""
    return OpenAIBackend(api_key=KEY, base_url=fake_api.base_url)


# -- construction ------------------------------------------------------------------------


def test_host_and_repr() -> None:
    assert OpenAIBackend(api_key=KEY).host == "api.openai.com"
    local = OpenAIBackend(base_url="http://127.0.0.1:8123/v1")
    assert (local.name, local.host) == ("openai", "127.0.0.1:8123")
    # Credentials never in the host; its case as written (request keys have always kept it).
    assert OpenAIBackend(base_url="https://user:pw@Example.COM/v1").host == "Example.COM"
    assert KEY not in repr(OpenAIBackend(api_key=KEY)) + str(vars(OpenAIBackend(api_key=KEY)))


def test_importing_and_building_does_not_import_openai() -> None:
    code = (
        "import sys\n"
        "from storyboard.backends import registry\n"
        "registry.get('openai').from_environment({'OPENAI_API_KEY': 'k'}, {})\n"
        "assert 'openai' not in sys.modules and 'httpx2' not in sys.modules, 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_placeholder_key_for_a_local_server(fake_api: Any) -> None:
    run(OpenAIBackend(base_url=fake_api.base_url), request())
    (sent,) = fake_api.image_requests()
    assert sent.headers["authorization"] == f"Bearer {PLACEHOLDER_KEY}"


def test_key_organization_and_project_are_sent(fake_api: Any) -> None:
    backend = OpenAIBackend(api_key=KEY, base_url=fake_api.base_url, organization="org-1", project="proj-1")
    run(backend, request())
    (sent,) = fake_api.image_requests()
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert (sent.headers["openai-organization"], sent.headers["openai-project"]) == ("org-1", "proj-1")


def test_aclose_without_use_and_twice() -> None:
    async def go() -> None:
        backend = OpenAIBackend(api_key=KEY)
        await backend.aclose()
        await backend.aclose()

    asyncio.run(go())


# -- generate ----------------------------------------------------------------------------


def test_generate_sends_exactly_the_request(fake_api: Any, backend: OpenAIBackend) -> None:
    got = run(backend, request(options={"output_format": "webp", "background": "opaque"}))
    (sent,) = fake_api.image_requests()
    assert sent.path == "/v1/images/generations"
    assert sent.json == {
        "model": "gpt-image-2",
        "prompt": "a robot dog in the rain",
        "n": 1,
        "size": "1536x864",
        "quality": "medium",
        "output_format": "webp",
        "background": "opaque",
    }
    assert got.media_type == "image/webp"
    assert got.data
    assert got.revised_prompt is None
    assert got.request_id
    assert got.usage is None or isinstance(got.usage, dict)


def test_generate_omits_size_and_quality_when_none(fake_api: Any, backend: OpenAIBackend) -> None:
    run(backend, request(size=None, quality=None))
    (sent,) = fake_api.image_requests()
    assert sent.json == {"model": "gpt-image-2", "prompt": "a robot dog in the rain", "n": 1}


def test_generate_returns_bytes_type_usage_and_request_id(fake_api: Any, backend: OpenAIBackend) -> None:
    got = run(backend, request())
    assert got.media_type == sniff_media_type(got.data) == "image/png"
    assert isinstance(got.usage, dict) and "output_tokens" in got.usage
    assert got.request_id


def test_option_unknown_to_the_sdk_goes_in_the_body(fake_api: Any, backend: OpenAIBackend) -> None:
    # The SDK would refuse an unknown keyword; the server decides (the fake refuses it too).
    failure = fail(backend, request(options={"brand_new_knob": 3}))
    (sent,) = fake_api.image_requests()
    assert sent.json["brand_new_knob"] == 3
    assert type(failure) is FrameFailure
    assert (failure.status, failure.code) == (400, "unknown_parameter")


def test_option_may_not_override_the_request(fake_api: Any, backend: OpenAIBackend) -> None:
    failure = fail(backend, request(options={"n": 4}))
    assert isinstance(failure, FrameFailure)
    assert failure.code == "option_conflict"
    assert fake_api.image_requests() == []


def test_legacy_generate_asks_for_base64(fake_api: Any, backend: OpenAIBackend) -> None:
    got = run(backend, request(model="dall-e-3", size="1024x1024", quality="standard"))
    (sent,) = fake_api.image_requests()
    assert sent.json == {
        "model": "dall-e-3",
        "prompt": "a robot dog in the rain",
        "n": 1,
        "size": "1024x1024",
        "quality": "standard",
        "response_format": "b64_json",
    }
    assert got.data


def test_a_returned_url_is_downloaded_at_once(fake_api: Any, backend: OpenAIBackend) -> None:
    # A server that answers with a URL although base64 was asked for.
    fake_api.urls_always = True
    got = run(backend, request(model="dall-e-2", size="512x512", quality=None))
    (sent,) = fake_api.image_requests()
    assert sent.json["response_format"] == "b64_json"
    assert got.media_type == sniff_media_type(got.data) != "application/octet-stream"
    assert [r.kind for r in fake_api.requests] == ["generation", "legacy-file"]
    assert "authorization" not in fake_api.requests[1].headers  # the key goes to the API only


def test_a_failed_download_fails_the_frame_without_buying_it_again(closed_base_url: str) -> None:
    # The image behind the URL is made and paid for: the download is tried again (issue 11.5), and
    # when it never works the frame fails (a FrameFailure: the runner never re-sends the request).
    from storyboard.backends.openai.download import download

    with pytest.raises(FrameFailure) as info:
        asyncio.run(download(f"{closed_base_url}/img.png?sig=abc", "req_1", deadline=5, max_bytes=1 << 20,
                             tries=3, pause=0.01))
    assert info.value.request_id == "req_1"
    assert "sig=abc" not in info.value.message
    assert info.value.message.endswith("ConnectError (3 tries); it was not requested again")


# -- edit and variation ------------------------------------------------------------------

SOURCE = image(encoded("PNG", (200, 30, 30)), "source")
REX = image(encoded("JPEG", (30, 200, 30)), "reference", "image/jpeg")
MOLLY = image(encoded("WEBP", (30, 30, 200)), "reference", "image/webp")
MASK = image(encoded("PNG", (0, 0, 0, 0), "RGBA"), "mask")


def test_edit_sends_images_in_order_byte_exact_and_the_mask(fake_api: Any, backend: OpenAIBackend) -> None:
    run(
        backend,
        request(kind="edit", images=(SOURCE, REX, MOLLY), mask=MASK, options={"background": "opaque"}),
    )
    (sent,) = fake_api.image_requests()
    assert sent.path == "/v1/images/edits"
    assert sent.form == {
        "model": "gpt-image-2",
        "prompt": "a robot dog in the rain",
        "n": "1",
        "size": "1536x864",
        "quality": "medium",
        "background": "opaque",
    }
    assert sent.files["image[]"] == [
        (SOURCE.filename, "image/png", SOURCE.data),
        (REX.filename, "image/jpeg", REX.data),
        (MOLLY.filename, "image/webp", MOLLY.data),
    ]
    assert sent.files["mask"] == [(MASK.filename, "image/png", MASK.data)]
    assert set(sent.files) == {"image[]", "mask"}


def test_edit_with_one_image_sends_a_single_file(fake_api: Any, backend: OpenAIBackend) -> None:
    run(backend, request(kind="edit", images=(SOURCE,), size=None, quality=None))
    (sent,) = fake_api.image_requests()
    assert sent.files == {"image": [(SOURCE.filename, "image/png", SOURCE.data)]}
    assert sent.form == {"model": "gpt-image-2", "prompt": "a robot dog in the rain", "n": "1"}


def test_legacy_edit_asks_for_base64(fake_api: Any, backend: OpenAIBackend) -> None:
    run(
        backend,
        request(kind="edit", model="dall-e-2", images=(SOURCE,), size="256x256", quality=None),
    )
    (sent,) = fake_api.image_requests()
    assert sent.form["response_format"] == "b64_json"


def test_variation_on_a_gpt_model_is_an_edit(fake_api: Any, backend: OpenAIBackend) -> None:
    run(backend, request(kind="variation", images=(SOURCE,), prompt="a variation of this image"))
    (sent,) = fake_api.image_requests()
    assert sent.path == "/v1/images/edits"
    assert sent.form["prompt"] == "a variation of this image"


def test_legacy_variation_uses_the_variations_endpoint_quietly(fake_api: Any, backend: OpenAIBackend) -> None:
    req = request(
        kind="variation", model="dall-e-2", size="512x512", quality=None, images=(SOURCE,)
    )
    with warnings.catch_warnings():
        # The SDK's @deprecated warning (message "deprecated") would fail the test.
        warnings.filterwarnings("error", message="deprecated", category=DeprecationWarning)
        got = run(backend, req)
    (sent,) = fake_api.image_requests()
    assert sent.path == "/v1/images/variations"
    assert sent.form == {"model": "dall-e-2", "n": "1", "size": "512x512", "response_format": "b64_json"}
    assert sent.files == {"image": [(SOURCE.filename, "image/png", SOURCE.data)]}
    assert got.data


def test_edit_without_images_fails_the_frame(fake_api: Any, backend: OpenAIBackend) -> None:
    assert isinstance(fail(backend, request(kind="edit")), FrameFailure)
    assert fake_api.image_requests() == []


# -- errors against the fake -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "kind", "retry_after", "code"),
    [
        ({"status": 429, "retry_after": 0.05}, TransientFailure, 0.05, "rate_limit_exceeded"),
        # Above the SDK's 120 s ceiling: passed on whole, the runner decides how to wait.
        ({"status": 429, "retry_after": 300}, TransientFailure, 300.0, "rate_limit_exceeded"),
        ({"status": 503, "headers": {"retry-after": "130"}}, TransientFailure, 130.0, None),
        ({"status": 503, "headers": {"retry-after": "IN 200 S"}}, TransientFailure, 200.0, None),
        ({"status": 500}, TransientFailure, None, None),
        ({"status": 502}, TransientFailure, None, None),  # an HTML body, as proxies send
        ({"status": 408}, TransientFailure, None, "timeout"),
        ({"status": 409}, TransientFailure, None, "conflict"),
        ({"status": 429, "code": "insufficient_quota"}, FatalFailure, None, "insufficient_quota"),
        ({"status": 401}, FatalFailure, None, "invalid_api_key"),
        ({"status": 403}, FatalFailure, None, "unsupported_country_region_territory"),
        ({"status": 404}, FrameFailure, None, "not_found"),
        ({"status": 400, "code": "invalid_value", "param": "size"}, FrameFailure, None, "invalid_value"),
    ],
)
def test_status_faults(
    fake_api: Any,
    backend: OpenAIBackend,
    fault: dict[str, Any],
    kind: type,
    retry_after: float | None,
    code: str | None,
) -> None:
    if fault.get("headers", {}).get("retry-after") == "IN 200 S":  # an HTTP date, made now
        fault = {**fault, "headers": {"retry-after": email.utils.formatdate(time.time() + 200, usegmt=True)}}
    fake_api.faults.append(fault)
    failure = fail(backend, request())
    assert type(failure) is kind
    assert (failure.status, failure.code) == (fault["status"], code)
    if isinstance(failure, TransientFailure):
        assert failure.retry_after == (pytest.approx(retry_after, abs=2) if retry_after else None)
        assert not failure.ambiguous
    assert failure.request_id == fake_api.image_requests()[0].request_id
    assert failure.message and "Error code" not in failure.message and "<html" not in failure.message
    assert len(fake_api.image_requests()) == 1  # the SDK did not retry on its own


@pytest.mark.parametrize(
    ("model", "quality", "error_type", "code"),
    [
        ("gpt-image-2", "medium", "image_generation_user_error", "moderation_blocked"),
        ("dall-e-3", "standard", "invalid_request_error", "content_policy_violation"),
    ],
)
def test_moderation_fails_the_frame_alone(
    fake_api: Any, backend: OpenAIBackend, model: str, quality: str, error_type: str, code: str
) -> None:
    req = request(model=model, size="1024x1024", quality=quality, prompt="a FORBIDDEN dog")
    failure = fail(backend, req)
    assert type(failure) is FrameFailure
    assert failure.status == 400
    assert failure.as_dict() == {"type": error_type, "code": code, "message": failure.message}
    assert "safety system" in failure.message


@pytest.mark.parametrize(("drop", "billed"), [("before", 0), ("after", 1)])
def test_a_dropped_connection_is_ambiguous(
    fake_api: Any, backend: OpenAIBackend, drop: str, billed: int
) -> None:
    # Both drops come after the request was sent: the client cannot tell whether the server
    # did (and billed) the work, which only the fake's own ledger knows.
    fake_api.faults.append({"drop": drop})
    failure = fail(backend, request())
    assert type(failure) is TransientFailure
    assert failure.ambiguous
    assert (failure.type, failure.retry_after) == ("connection_error", None)
    assert fake_api.billed == billed


def test_a_timeout_is_ambiguous(fake_api: Any) -> None:
    # The one tight timeout: the fake hangs far longer, so nothing here can be flaky.
    # (A failure at all proves the deadline: after the hang the fake would have answered.)
    fake_api.faults.append({"hang": 5})
    failure = fail(OpenAIBackend(api_key=KEY, base_url=fake_api.base_url, timeout=0.2), request())
    assert type(failure) is TransientFailure
    assert failure.ambiguous
    assert (failure.type, failure.code) == ("timeout", "deadline")  # the overall deadline, first


def test_a_refused_connection_is_not_ambiguous(closed_base_url: str) -> None:
    failure = fail(OpenAIBackend(api_key=KEY, base_url=closed_base_url), request())
    assert type(failure) is Unreachable  # a TransientFailure the runner stops the run on (issue 11.2)
    assert not failure.ambiguous
    assert (failure.type, failure.code) == ("connection_error", "ConnectError")
    host = closed_base_url.split("/")[2]
    assert failure.message == (f"cannot reach {host} (connection refused). Check OPENAI_BASE_URL (is the server "
                               "running?), or use --backend draft for offline drafts.")


def test_the_key_appears_in_no_failure(fake_api: Any, backend: OpenAIBackend) -> None:
    echo = {"status": 401, "message": f"Incorrect API key provided: {KEY}."}
    for fault in (echo, {"status": 401}, {"status": 429, "code": "insufficient_quota"}, {"drop": "after"}):
        fake_api.faults.append(fault)
        failure = fail(backend, request())
        text = str(failure.as_dict())
        cause: BaseException | None = failure
        while cause is not None:  # what a printed traceback would show of every chained exception
            text += f"{cause!r} {cause} {vars(cause)}"
            cause = cause.__cause__ or cause.__context__
        assert KEY not in text
    assert fake_api.image_requests()[0].headers["authorization"] == f"Bearer {KEY}"


# -- map_error on SDK errors the fake does not produce ----------------------------------


def status_error(
    status: int, body: Any = None, headers: dict[str, str] | None = None
) -> openai.APIStatusError:
    """Build the SDK's error for a response, the way the SDK itself does."""
    client = openai.OpenAI(api_key=KEY, base_url="http://127.0.0.1:1/v1")
    req = httpx2.Request("POST", "http://127.0.0.1:1/v1/images/generations")
    all_headers = {"x-request-id": "req_123", **(headers or {})}
    response = httpx2.Response(status, json=body, headers=all_headers, request=req)
    return client._make_status_error_from_response(response)


def error_body(code: str | None = None, type: str = "invalid_request_error", message: str = "nope") -> dict:
    """Return an error envelope as the API sends it."""
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (400, "moderation_blocked", FrameFailure),
        (400, "content_policy_violation", FrameFailure),
        (400, "unknown_parameter", FrameFailure),
        (401, "invalid_api_key", FatalFailure),
        (403, "unsupported_country_region_territory", FatalFailure),
        (404, "model_not_found", FrameFailure),
        (408, None, TransientFailure),
        (409, None, TransientFailure),
        (422, None, FrameFailure),
        (429, "rate_limit_exceeded", TransientFailure),
        (429, "insufficient_quota", FatalFailure),
        (500, None, TransientFailure),
        (502, None, TransientFailure),
        (503, None, TransientFailure),
    ],
)
def test_map_status(status: int, code: str | None, kind: type) -> None:
    failure = map_error(status_error(status, error_body(code, message="the server says no")))
    assert type(failure) is kind
    assert (failure.status, failure.code, failure.request_id) == (status, code, "req_123")
    assert failure.type == "invalid_request_error"
    assert failure.message == "the server says no"


def test_map_insufficient_quota_as_type() -> None:
    failure = map_error(status_error(429, error_body(None, type="insufficient_quota")))
    assert type(failure) is FatalFailure


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # milliseconds win
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "600"}, 600.0),  # no 120 s cap
        ({"retry-after-ms": "bogus", "retry-after": "3"}, 3.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    failure = map_error(status_error(503, error_body(), headers))
    assert isinstance(failure, TransientFailure)
    assert failure.retry_after == expected


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 200, usegmt=True)
    assert parse_retry_after(httpx2.Headers({"retry-after": when})) == pytest.approx(200, abs=2)
    past = email.utils.formatdate(time.time() - 50, usegmt=True)
    assert parse_retry_after(httpx2.Headers({"retry-after": past})) == 0.0


def test_messages_never_carry_the_key() -> None:
    echoed = f"Incorrect API key provided: {KEY}. Also sk-proj-abc*********wxyz."
    failure = map_error(status_error(401, error_body("invalid_api_key", message=echoed)), key=KEY)
    assert KEY not in failure.message
    assert "sk-proj-abc" not in failure.message
    assert failure.message.startswith("Incorrect API key provided: ")
    assert map_error(status_error(400, error_body(message="a task-oriented prompt"))).message == (
        "a task-oriented prompt"
    )


def test_long_and_non_json_messages_are_short() -> None:
    assert len(map_error(status_error(400, error_body(message="x" * 5000))).message) <= 300
    req = httpx2.Request("POST", "http://127.0.0.1:1/v1/images/generations")
    html = httpx2.Response(502, text="<html>bad gateway</html>", request=req)
    err = openai.OpenAI(api_key=KEY, base_url="http://127.0.0.1:1/v1")._make_status_error_from_response(html)
    assert map_error(err).message == "HTTP 502 from the server"


@pytest.mark.parametrize(
    ("cause", "timeout", "ambiguous"),
    [
        (httpx2.ConnectError("refused"), False, False),
        (httpx2.ConnectTimeout("slow"), True, False),
        (httpx2.PoolTimeout("busy"), True, False),
        (httpx2.RemoteProtocolError("dropped"), False, True),
        (httpx2.ReadError("reset"), False, True),
        (httpx2.ReadTimeout("slow"), True, True),
        (httpx2.WriteTimeout("slow"), True, True),
    ],
)
def test_map_connection_errors(cause: Exception, timeout: bool, ambiguous: bool) -> None:
    req = httpx2.Request("POST", "http://127.0.0.1:1/v1/images/generations")
    error = openai.APITimeoutError(request=req) if timeout else openai.APIConnectionError(request=req)
    error.__cause__ = cause
    failure = map_error(error)
    # No connection at all (refused, no such host, no answer to connect): the server is unreachable.
    unreachable = isinstance(cause, httpx2.ConnectError | httpx2.ConnectTimeout)
    assert type(failure) is (Unreachable if unreachable else TransientFailure)
    assert failure.ambiguous is ambiguous
    assert failure.retry_after is None


# -- decoding ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "media_type"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (WEBP, "image/webp"),
        (GIF, "image/gif"),
        (b"what is this", "application/octet-stream"),
    ],
)
def test_sniff(data: bytes, media_type: str) -> None:
    assert sniff_media_type(data) == media_type


def test_image_of_prefers_output_format_and_rejects_bad_base64() -> None:
    from storyboard.backends.openai.response import read_answer

    backend = OpenAIBackend(api_key=KEY)
    good = read_answer(json.dumps(
        {"created": 1, "output_format": "jpeg", "data": [{"b64_json": base64.b64encode(PNG).decode()}]}
    ).encode(), "req_1")
    assert asyncio.run(backend._image_of(good, "req_1")).media_type == "image/jpeg"
    # A 200 that holds no image is a failed attempt the server may have billed (issue 11.6).
    bad = read_answer(b'{"created": 1, "data": [{"b64_json": "%%%"}]}', "req_2")
    with pytest.raises(TransientFailure) as info:
        asyncio.run(backend._image_of(bad, "req_2"))
    assert info.value.ambiguous and info.value.request_id == "req_2"
    with pytest.raises(TransientFailure, match="holds no image"):
        read_answer(b'{"created": 1, "data": []}', "req_3")
