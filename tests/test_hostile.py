"""Servers that cannot be reached, hang, trickle, lie, lose their legacy images, or echo the key
(issue 11, items 2, 3, 5, 6, 7): every one costs a failed attempt with one message, or stops the
run with one sentence; nothing hangs, nothing paid for is bought twice, no key reaches a file.

Runs go through the real SDK to the fake API on 127.0.0.1 (tests/fakeapi.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from fakeapi import FakeImagesAPI
from test_openai_backend import run
from test_runner import cli, manifest, picked, requested, run_story, stderr_lines, write_story

from storyboard.backends import ImageRequest
from storyboard.backends.openai import download
from storyboard.backends.openai.client import OpenAIBackend, base_url_problem
from storyboard.backends.openai.errors import map_error
from storyboard.errors import FrameFailure, TransientFailure, Unreachable
from storyboard.run import retry

KEY = "sk-test-ECHOED0123456789abcdef"


def one(tmp_path: Path, n: int = 1, **top: Any) -> Path:
    """Write a story of n small frames f01..; prompts start with their ids."""
    frames = [{"id": f"f{i:02d}", "prompt": f"f{i:02d}: a lighthouse in a storm"} for i in range(1, n + 1)]
    return write_story(tmp_path, frames, **top)


def legacy(tmp_path: Path, n: int = 1) -> Path:
    """Write a story of n dall-e-3 frames (legacy: the fake answers them with a URL when told to)."""
    frames = [{"id": f"f{i:02d}", "prompt": f"f{i:02d}: a lighthouse in a storm"} for i in range(1, n + 1)]
    # One at a time: the fake's legacy faults go to the first frame's downloads, in order.
    return write_story(tmp_path, frames, model="dall-e-3", size="1024x1024", quality="standard", parallel=1)


def generations(api: FakeImagesAPI) -> int:
    """Return how many images the server was asked to make."""
    return len(api.image_requests())


# -- 2: a server that cannot be reached ----------------------------------------------------------


def test_a_refused_connection_stops_the_run_in_one_sentence(closed_base_url: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    out = tmp_path / "out"
    result = cli("run", one(tmp_path, 10), "-o", out)

    assert result.exit_code == 1
    host = closed_base_url.split("/")[2]
    lines = stderr_lines(result)
    assert lines[0] == (f"Error: cannot reach {host} (connection refused). Check OPENAI_BASE_URL (is the server "
                        "running?), or use --backend draft for offline drafts.")
    assert sum("cannot reach" in x for x in lines) == 1  # not once a frame
    assert "  10 frame(s) not made: the run stopped (run the same command again to make them)" in lines
    assert "billed" not in result.stderr  # nothing was sent: nothing may have been paid for
    # Before: every frame tried 6 times (60 connections, 15 s for 3 frames). Now a few, then the stop.
    totals = manifest(out)["totals"]["run"]
    assert totals["requests"] <= 3 * 4, totals
    assert max(e["attempts"] for e in picked(out).values()) <= 3


@pytest.mark.parametrize(
    ("cause", "why"),
    [
        (httpx2.ConnectError("[Errno -2] Name or service not known"), "no such host"),
        (httpx2.ConnectError("All connection attempts failed"), "could not connect"),
        (httpx2.ConnectTimeout("timed out"), "timed out connecting"),
    ],
)
def test_unreachable_says_why_and_names_the_host(cause: Exception, why: str) -> None:
    error = openai.APIConnectionError(request=httpx2.Request("POST", "http://gpu-box:8080/v1/images/generations"))
    error.__cause__ = cause
    failure = map_error(error, host="gpu-box:8080", hint="Check OPENAI_BASE_URL.")
    assert isinstance(failure, Unreachable) and not failure.ambiguous
    assert failure.message == f"cannot reach gpu-box:8080 ({why}). Check OPENAI_BASE_URL."


@pytest.mark.parametrize("command", ["run", "plan", "validate"])
@pytest.mark.parametrize("url", ["localhost:9", "127.0.0.1:8080/v1", "ftp://example.com/v1", "http:///v1",
                                 "http://host:port/v1"])
def test_a_base_url_without_a_scheme_is_refused_up_front(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, url: str
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    out = tmp_path / "out"
    result = cli(command, one(tmp_path), *(["-o", out] if command == "run" else []))

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: OPENAI_BASE_URL=")
    assert "billed" not in result.stderr
    assert not out.exists()
    assert base_url_problem(url) is not None
    assert base_url_problem("http://localhost:9/v1") is None


# -- 3: hangs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [{"trickle": 0.5}, {"delay": 30}, {"hang": 30}],
                         ids=["trickle", "slow-headers", "no-answer"])
def test_an_answer_that_never_completes_is_a_timeout_then_retried(
    fake_env: FakeImagesAPI, tmp_path: Path, fault: dict[str, Any]
) -> None:
    # A byte every half second: a per-read timeout never fires (before: held a run 10+ minutes).
    # The overall deadline of the attempt does.
    fake_env.faults = [fault]
    out = tmp_path / "out"
    outcome = run_story(one(tmp_path), out, timeout=3.0)  # the faulty attempt's cost; a good one must fit, loaded

    assert outcome.exit_code == 0
    entry = picked(out)["f01"]
    assert (entry["status"], entry["attempts"], entry["possibly_billed_twice"]) == ("ok", 2, 1)
    assert requested(fake_env) == ["f01", "f01"]


def test_the_deadline_holds_for_one_attempt_of_the_backend(fake_api: FakeImagesAPI) -> None:
    fake_api.faults = [{"trickle": 0.2}]
    backend = OpenAIBackend(api_key=KEY, base_url=fake_api.base_url, timeout=0.5)
    request = ImageRequest(kind="generate", model="gpt-image-2", prompt="p", size="816x816", quality="low")

    with pytest.raises(TransientFailure) as info:
        run(backend, request)
    assert (info.value.type, info.value.code, info.value.ambiguous) == ("timeout", "deadline", True)
    assert info.value.message == ("the server sent no whole answer within 0.5 s; it may have made (and billed) "
                                  "the image")


# -- 5: legacy URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "url", "says"),
    [
        ([{"status": 404}], None, "HTTP 404"),
        ([{"redirect": "self"}], None, "its URL redirects in a loop"),
        ([{"redirect": f"/v1/legacy-files/x{i}.png"} for i in range(6)], None, "more than 5 redirects"),
        ([{"redirect": "file:///etc/passwd"}], None, "a redirect is a file: URL, which is never fetched"),
        ([], "file:///etc/passwd", "its URL is a file: URL, which is never fetched"),
        ([{"status": 503}] * 4, None, "HTTP 503 (4 tries)"),
    ],
    ids=["404", "loop", "too-many", "redirect-to-file", "file-url", "always-503"],
)
def test_a_legacy_download_that_fails_is_never_bought_again(
    fake_env: FakeImagesAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, faults: list[dict[str, Any]],
    url: str | None, says: str,
) -> None:
    monkeypatch.setattr(download, "PAUSE", 0.01)
    fake_env.urls_always = True
    fake_env.legacy_faults = list(faults)
    if url:
        fake_env.legacy_url = lambda _u: url
    out = tmp_path / "out"
    outcome = run_story(legacy(tmp_path, 2), out)

    assert outcome.exit_code == 1
    assert generations(fake_env) == 2  # before: 12 generations for 2 frames
    failed = picked(out)["f01"] if picked(out)["f01"]["status"] == "failed" else picked(out)["f02"]
    host = fake_env.base_url.split("/")[2] if not url else "a file: URL"
    assert failed["reason"] == (f"the image was made (and billed) but could not be downloaded from {host}: {says}; "
                                "it was not requested again")
    assert failed["error"]["type"] == "download_error"
    gets = [r for r in fake_env.requests if r.kind == "legacy-file"]
    assert all("authorization" not in r.headers for r in gets)  # the key goes to the API alone


@pytest.mark.parametrize("fault", [{"status": 503}, {"drop": "before"}, {"trickle": 0.5}, {"redirect": "/v1/x.png"}],
                         ids=["503", "drop", "slow-host", "redirect-to-404"])
def test_a_legacy_download_is_tried_again_not_the_generation(
    fake_env: FakeImagesAPI, tmp_path: Path, fault: dict[str, Any]
) -> None:
    fake_env.urls_always = True
    fake_env.legacy_faults = [fault]
    out = tmp_path / "out"
    outcome = run_story(legacy(tmp_path), out, timeout=3.0)  # the good attempt must fit, on a loaded machine

    if "redirect" in fault:  # to a URL that does not exist: gone, not tried again
        assert outcome.exit_code == 1 and picked(out)["f01"]["reason"].endswith("HTTP 404; it was not requested again")
    else:
        assert outcome.exit_code == 0
        entry = picked(out)["f01"]
        assert (entry["status"], entry["attempts"], entry["possibly_billed_twice"]) == ("ok", 1, 0)
        assert len([r for r in fake_env.requests if r.kind == "legacy-file"]) == 2
    assert generations(fake_env) == 1


# -- 6: servers that lie -------------------------------------------------------------------------

JUNK = {
    "invalid_json": "the server's answer is not JSON (it begins '{\"created\": 1, \"data\": [{\"b64_json\": \"iV')",
    "html": "the server's answer is not JSON (it begins '<html><body>Welcome to the captive porta')",
    "null": "the server's answer is null, not a JSON object",
    "list": "the server's answer is a list, not a JSON object",
    "data_not_list": "the server's answer has no list of images (`data` is a string)",
    "no_data": "the server's answer has no list of images (`data` is missing)",
    "bad_item": "the server's answer holds a number where an image belongs (`data[0]`)",
    "bad_base64": "the server's answer holds an image that is not valid base64",
    "not_image": "the server answered with 19 bytes that are not an image (they begin 'hello, not an im')",
}


@pytest.mark.parametrize("kind", sorted(JUNK))
def test_a_200_that_lies_is_a_failed_attempt_with_one_message(fake_env: FakeImagesAPI, tmp_path: Path,
                                                              kind: str) -> None:
    fake_env.faults = [{"junk": kind}, {"junk": kind}]
    out = tmp_path / "out"
    outcome = run_story(one(tmp_path), out, max_attempts=2)

    assert outcome.exit_code == 1
    entry = picked(out)["f01"]
    assert entry["status"] == "failed"
    assert entry["reason"] == f"gave up after 2 attempts: {JUNK[kind]}"
    assert entry["possibly_billed_twice"] == 1  # it said 200: it may have made the image

    fake_env.faults = [{"junk": kind}]
    again = run_story(one(tmp_path), out)
    assert again.exit_code == 0 and picked(out)["f01"]["attempts"] == 2


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ({"junk": "huge", "bytes": 1 << 30}, "announced 1,073,741,824 bytes"),
        ({"junk": "huge", "bytes": 1 << 30, "chunked": True}, "sent more than 1,048,576 bytes"),
        ({"junk": "huge", "status": 500, "bytes": 1 << 30, "chunked": True}, "sent more than 1,048,576 bytes"),
    ],
    ids=["announced-1GB", "streamed-1GB", "500-streamed-1GB"],
)
def test_a_gigabyte_answer_is_not_read(fake_api: FakeImagesAPI, fault: dict[str, Any], says: str) -> None:
    # Before: read whole, then MemoryError. Now reading stops at the cap (64 MB; 1 MB here).
    fake_api.faults = [fault]
    backend = OpenAIBackend(api_key=KEY, base_url=fake_api.base_url, max_bytes=1 << 20)
    request = ImageRequest(kind="generate", model="gpt-image-2", prompt="p", size="816x816", quality="low")

    with pytest.raises(TransientFailure) as info:
        run(backend, request)
    assert info.value.message == f"the server's answer {says}, more than an image can be (1 MB); it was not read"
    assert (info.value.type, info.value.code, info.value.ambiguous) == ("invalid_response", "too_large", True)


def test_a_lie_never_shows_a_traceback(fake_env: FakeImagesAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "backoff", lambda *_a: 0.001)  # the command line's back-off, shrunk
    fake_env.faults = [{"junk": "null"}] * 6
    result = cli("run", one(tmp_path), "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "  frame  1 f01: failed: gave up after 6 attempts: the server's answer is null, not a JSON object" in \
        stderr_lines(result)


# -- 7: keys echoed by the server ----------------------------------------------------------------


def test_a_key_echoed_in_any_field_reaches_no_file(fake_env: FakeImagesAPI, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake_env.echo_key = {"code", "message", "type", "request_id", "revised_prompt"}
    fake_env.faults = lambda _i, rec: {"status": 400} if b"f02:" in rec.body else None
    out = tmp_path / "out"
    result = cli("run", one(tmp_path, 3), "-o", out, "--json")

    assert result.exit_code == 1
    assert KEY in json.dumps([r.headers.get("authorization") for r in fake_env.image_requests()])
    entries = picked(out)
    assert entries["f02"]["error"]["code"] == "invalid_key_<redacted>"
    assert entries["f01"]["request_id"] == "req_<redacted>"
    assert "<redacted>" in entries["f01"]["revised_prompt"]
    seen = result.stdout + result.stderr
    for path in out.rglob("*"):
        if path.is_file():
            seen += path.read_bytes().decode("latin-1")
    assert KEY not in seen
    assert KEY[3:] not in seen  # nor the key without its prefix


def test_a_base_url_password_echoed_by_the_server_is_redacted(fake_api: FakeImagesAPI) -> None:
    fake_api.basic_auth_ok = True
    fake_api.echo_key = {"request_id", "revised_prompt"}
    url = fake_api.base_url.replace("http://", "http://artist:hunter2-PASSWORD@")
    backend = OpenAIBackend(base_url=url)
    request = ImageRequest(kind="generate", model="gpt-image-2", prompt="p", size="816x816", quality="low")

    got = run(backend, request)
    assert "hunter2-PASSWORD" not in f"{got.request_id} {got.revised_prompt}"
    assert got.request_id == "req_<redacted>"
    assert "hunter2-PASSWORD" not in repr(backend) + str(vars(backend))


def test_usage_keeps_numbers_only() -> None:
    from storyboard.backends.openai.response import read_answer

    body = {"data": [{"b64_json": "aGk="}], "usage": {"total_tokens": 5, "note": KEY, "input_tokens_details":
                                                     {"text_tokens": 2, "x": [KEY]}, "flag": True}}
    answer = read_answer(json.dumps(body).encode(), None, (KEY,))
    assert answer.usage == {"total_tokens": 5, "input_tokens_details": {"text_tokens": 2}}


def test_a_failed_download_is_a_frame_failure_in_the_backend(fake_api: FakeImagesAPI) -> None:
    fake_api.urls_always = True
    fake_api.legacy_faults = [{"status": 404}]
    backend = OpenAIBackend(api_key=KEY, base_url=fake_api.base_url)
    request = ImageRequest(kind="generate", model="dall-e-3", prompt="p", size="1024x1024", quality="standard")

    with pytest.raises(FrameFailure):
        run(backend, request)
