"""The runner driving the real openai SDK through the openai backend against the fake Images API
on 127.0.0.1: retries, back-off and Retry-After, pacing, permanent and fatal failures, budget.

The helpers at the top are shared with test_faults.py, test_resume.py and test_chains.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml
from fakeapi import FakeImagesAPI, RequestRecord, parse_multipart
from typer.testing import CliRunner

from storyboard.backends.draft import DraftBackend
from storyboard.backends.openai.client import OpenAIBackend
from storyboard.cli import app
from storyboard.plan import VARIATION_INSTRUCTION, Plan, build_plan
from storyboard.results import TakeResult
from storyboard.run import pacing, retry, runner
from storyboard.run.options import RunOptions
from storyboard.run.session import Outcome, run_plan
from storyboard.story import load_story

# -- helpers shared by the runner test files ------------------------------------------------


def write_story(folder: Path, frames: list[dict[str, Any]], *, name: str = "story", **top: Any) -> Path:
    """Write a story file (small, cheap, square frames unless told otherwise) and return its path."""
    doc = {
        "title": "Test story",
        "size": "816x816",  # the fewest pixels gpt-image-2 makes: images cost time on both sides
        "quality": "low",
        "parallel": 4,
        **top,
        "frames": frames,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def frames_of(*ids: str, **extra: Any) -> list[dict[str, Any]]:
    """Return plain generate frames whose prompts start with their id (see `frame_of`)."""
    return [{"id": i, "prompt": f"{i}: a small silver robot dog, watercolor", **extra} for i in ids]


def plan_for(story: Path, model: str | None = None) -> Plan:
    """Plan a story for the openai backend at OPENAI_BASE_URL, as the command line does."""
    host = urlparse(os.environ["OPENAI_BASE_URL"]).netloc
    return build_plan(load_story(story), backend="openai", host=host, model_override=model)


def run_story(
    story: Path,
    out: Path,
    *,
    timeout: float = 600.0,
    on_event: Any = None,
    write_sheet: bool = False,
    **options: Any,
) -> Outcome:
    """Run a story in this process with the openai backend built from the environment.

    No contact sheet unless asked: thumbnails cost more than the rest of a run, and the command
    line (`cli`, `Run`), which always writes one, covers it."""
    plan = plan_for(story)
    backend = OpenAIBackend(
        api_key=os.environ["OPENAI_API_KEY"],
        base_url=os.environ["OPENAI_BASE_URL"],
        timeout=timeout,
    )
    opts = RunOptions(**{"parallel": plan.loaded.story.parallel, "backoff_base": 0.001, **options})
    return run_plan(plan, out, backend, opts, on_event=on_event, write_sheet=write_sheet)


def cli(*args: str | Path) -> Any:
    """Invoke the command line in this process; the result has exit_code, stdout and stderr."""
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def prompt_of(rec: RequestRecord) -> str | None:
    """Return a request's prompt, also when a fault answered it before the server parsed the body."""
    if rec.prompt is not None:
        return rec.prompt
    ctype = rec.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        return parse_multipart(rec.body, ctype)[0].get("prompt")
    try:
        return json.loads(rec.body).get("prompt")
    except ValueError:
        return None


def frame_of(rec: RequestRecord) -> str | None:
    """Return the frame id a request was for (prompts start with `id:`, after a variation's instruction)."""
    prompt = (prompt_of(rec) or "").removeprefix(VARIATION_INSTRUCTION).lstrip()
    return prompt.split(":", 1)[0] if ":" in prompt else None


def requested(api: FakeImagesAPI, since: int = 0) -> list[str | None]:
    """Return the frame of every image request the server got (from the `since`-th on), in arrival order."""
    return [frame_of(r) for r in api.image_requests()[since:]]


def manifest(out: Path) -> dict[str, Any]:
    """Return the run's manifest.json."""
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def picked(out: Path) -> dict[str | None, dict[str, Any]]:
    """Return the manifest entry shown for each frame, by id."""
    return {e["id"]: e for e in manifest(out)["frames"] if e["picked"]}


def stderr_lines(result: Any) -> list[str]:
    """Return what the command printed on stderr, line by line."""
    return result.stderr.splitlines()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll until the condition holds (a generous deadline: this is not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def journalled(out: Path, event: str) -> int:
    """Return how many `event` lines the run's journal holds so far (0 before it exists)."""
    try:
        lines = (out / ".cache" / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return 0
    return sum(f'"{event}":' in line for line in lines)


class VirtualClock:
    """Stands in for time in the runner and its pacer: sleeps are recorded and pass at once."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.sleeps: list[float] = []  # the runner's own sleeps (retry delays)
        self.pacer_sleeps: list[float] = []

    def monotonic(self) -> float:
        """Return real monotonic time plus every sleep taken so far."""
        return time.monotonic() + self.offset

    def install(self, monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
        """Patch asyncio.sleep in the runner and pacing modules, and the pacer's clock."""
        real_sleep = asyncio.sleep

        def proxy(record: list[float]) -> types.SimpleNamespace:
            async def sleep(seconds: float, result: Any = None) -> Any:
                record.append(seconds)
                self.offset += max(0.0, seconds)
                return await real_sleep(0, result)

            names = {k: getattr(asyncio, k) for k in dir(asyncio) if not k.startswith("__")}
            return types.SimpleNamespace(**{**names, "sleep": sleep})

        monkeypatch.setattr(runner, "asyncio", proxy(self.sleeps))
        monkeypatch.setattr(pacing, "asyncio", proxy(self.pacer_sleeps))
        real_pacer = runner.Pacer
        monkeypatch.setattr(runner, "Pacer", lambda ipm=None, **kw: real_pacer(ipm, clock=self, **kw))
        return self


# -- retries: in the runner alone, one HTTP request per attempt -----------------------------

TRANSIENT = [
    pytest.param({"status": 500}, id="500"),
    pytest.param({"status": 502}, id="502-html"),
    pytest.param({"status": 503}, id="503"),
    pytest.param({"status": 408}, id="408"),
    pytest.param({"status": 409}, id="409"),
    pytest.param({"status": 429, "retry_after": 0.01}, id="429"),
    pytest.param({"drop": "before"}, id="drop-before"),
    pytest.param({"drop": "after"}, id="drop-after"),
]


@pytest.mark.parametrize("fault", TRANSIENT)
def test_a_transient_failure_is_retried_by_the_runner(
    fake_env: FakeImagesAPI, tmp_path: Path, fault: dict
) -> None:
    fake_env.faults = [fault]
    out = tmp_path / "out"
    outcome = run_story(write_story(tmp_path, frames_of("a")), out)

    assert outcome.exit_code == 0
    reqs = fake_env.image_requests()
    # The SDK's retries are off: every attempt is exactly one HTTP request, sent as a first try.
    assert [frame_of(r) for r in reqs] == ["a", "a"]
    assert [r.headers["x-stainless-retry-count"] for r in reqs] == ["0", "0"]
    entry = picked(out)["a"]
    assert (entry["status"], entry["attempts"], entry["request_id"]) == ("ok", 2, reqs[1].request_id)
    totals = manifest(out)["totals"]["run"]
    assert (totals["requests"], totals["retries"], totals["images"]) == (2, 1, 1)
    assert totals["rate_limited"] == (1 if fault.get("status") == 429 else 0)
    # A dropped connection is ambiguous to the client; only a drop after the work was paid twice.
    dropped = "drop" in fault
    assert entry["possibly_billed_twice"] == totals["possibly_billed_twice"] == int(dropped)
    assert fake_env.billed - 1 == int(fault.get("drop") == "after")


def test_a_timeout_is_retried_and_may_have_been_billed(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    fake_env.faults = [{"hang": 30}]  # the server holds the request; the client gives up
    out = tmp_path / "out"
    outcome = run_story(write_story(tmp_path, frames_of("a")), out, timeout=1.0)

    assert outcome.exit_code == 0
    assert requested(fake_env) == ["a", "a"]
    entry = picked(out)["a"]
    assert (entry["status"], entry["attempts"], entry["possibly_billed_twice"]) == ("ok", 2, 1)
    assert fake_env.billed == 1  # the hang did no work: reported as possible, not certain


@pytest.mark.parametrize(
    ("fault", "wait"),
    [
        pytest.param(
            {"status": 429, "headers": {"retry-after-ms": "250", "retry-after": "7"}}, 0.25, id="ms-first"
        ),
        pytest.param({"status": 503, "headers": {"retry-after": "2"}}, 2.0, id="seconds"),
        pytest.param({"status": 429, "retry_after": 130}, 130.0, id="429-130s"),
        pytest.param(
            {"status": 503, "headers": {"retry-after": "130"}}, 130.0, id="503-130s-above-sdk-ceiling"
        ),
    ],
)
def test_retry_after_is_honoured_even_above_120_seconds(
    fake_env: FakeImagesAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: dict, wait: float
) -> None:
    clock = VirtualClock().install(monkeypatch)
    fake_env.faults = [fault]
    out = tmp_path / "out"
    outcome = run_story(write_story(tmp_path, frames_of("a")), out)

    assert outcome.exit_code == 0
    assert clock.sleeps == [wait]  # the runner waited exactly what the server asked
    assert clock.pacer_sleeps == []  # once: a 429's pause for everyone ends with the retry's own wait
    assert requested(fake_env) == ["a", "a"]
    assert picked(out)["a"]["attempts"] == 2


def test_without_a_hint_the_runner_backs_off_exponentially(
    fake_env: FakeImagesAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = VirtualClock().install(monkeypatch)
    fake_env.faults = [{"status": 500}, {"drop": "before"}, {"status": 502}, {"status": 500}]
    outcome = run_story(
        write_story(tmp_path, frames_of("a")), tmp_path / "out", backoff_base=0.5, backoff_cap=3.0
    )

    assert outcome.exit_code == 0
    full = [0.5, 1.0, 2.0, 3.0]  # base * 2^(n-1), capped; jitter takes up to half off
    assert len(clock.sleeps) == 4
    for slept, top in zip(clock.sleeps, full, strict=True):
        assert top / 2 <= slept <= top


def test_attempts_are_bounded_and_recorded(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    fake_env.faults = lambda _i, rec: {"status": 500} if rec.body.find(b'"b: ') >= 0 else None
    out = tmp_path / "out"
    outcome = run_story(write_story(tmp_path, frames_of("a", "b", "c")), out, max_attempts=3)

    assert outcome.exit_code == 1
    assert sorted(requested(fake_env), key=str) == ["a", "b", "b", "b", "c"]
    entries = picked(out)
    assert [entries[i]["status"] for i in "abc"] == ["ok", "failed", "ok"]
    b = entries["b"]
    message = "The server had an error while processing your request. Sorry about that!"
    assert b["attempts"] == 3
    assert b["reason"] == f"gave up after 3 attempts: {message}"
    assert b["error"] == {"type": "server_error", "code": None, "message": message}
    assert b["file"] is None and not (out / "frames" / "02-b.png").exists()
    assert (out / "frames" / "01-a.png").is_file() and (out / "frames" / "03-c.png").is_file()


def test_drop_after_retries_are_reported_as_possibly_billed_twice(
    fake_env: FakeImagesAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retry, "backoff", lambda *_a: 0.001)  # the command line's back-off, shrunk
    fake_env.faults = [None, {"drop": "after"}, None, {"drop": "after"}, {"drop": "after"}]
    out = tmp_path / "out"
    story = write_story(tmp_path, frames_of("a", "b", "c", "d", "e", "f"), parallel=1)
    result = cli("run", story, "-o", out)

    assert result.exit_code == 0, result.stderr
    reported = manifest(out)["totals"]["run"]["possibly_billed_twice"]
    frames = len(picked(out))
    assert fake_env.billed - frames == reported == 3  # the server's own count of double work
    assert sum(e["possibly_billed_twice"] for e in picked(out).values()) == 3
    assert (
        "Note: 3 retry(ies) followed a failure after the server may have done the work (a dropped connection, a "
        "timeout, an image that did not decode); the provider may have billed those twice."
    ) in stderr_lines(result)
    again = cli("run", story, "-o", out)  # reported once: not again as "never arrived"
    assert again.exit_code == 0
    assert not any(line.startswith("Note:") for line in stderr_lines(again)), again.stderr


# -- pacing: one limiter for the whole run --------------------------------------------------


@pytest.mark.parametrize("where", ["flag", "story"])
def test_ipm_spaces_request_starts(fake_env: FakeImagesAPI, tmp_path: Path, where: str) -> None:
    story = write_story(
        tmp_path, frames_of(*"abcd"), **({"images_per_minute": 120} if where == "story" else {})
    )
    before = time.monotonic()  # no pacer slot can come earlier than this
    result = cli("run", story, "-o", tmp_path / "out", *(["--ipm", "120"] if where == "flag" else []))

    assert result.exit_code == 0, result.stderr
    starts = sorted(r.started for r in fake_env.image_requests())
    assert len(starts) == 4
    # 120 a minute: the k-th slot comes k * 0.5 s after the first, although parallel is 4 (unpaced,
    # all four would start at once). A request reaches the server at its slot or later (a loaded
    # machine makes it later, never earlier), so only a lower bound from before the run is sure.
    assert all(t - before >= k * 0.5 for k, t in enumerate(starts)), [t - before for t in starts]


def test_a_429_holds_every_request_for_its_retry_after(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    fake_env.latency = 0.25
    fake_env.faults = [{"status": 429, "retry_after": 0.5}]
    out = tmp_path / "out"
    outcome = run_story(write_story(tmp_path, frames_of(*"abcdef"), parallel=2), out)

    assert outcome.exit_code == 0
    reqs = fake_env.image_requests()
    assert len(reqs) == 7
    limited = next(r for r in reqs if r.status == 429)
    assert limited.index < 2  # one of the first two, sent together
    # Every later request (the retry, and the four others though the second slot was free again
    # after 0.25 s) started only once the Retry-After had passed.
    for r in reqs[2:]:
        assert r.started >= limited.finished + 0.5 - 0.01
    assert manifest(out)["totals"]["run"]["rate_limited"] == 1


def test_a_run_stopped_by_the_provider_does_not_wait_out_pacer_slots(
    fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    fake_env.faults = [{"status": 401}]
    out = tmp_path / "out"
    story = write_story(tmp_path, frames_of(*"abcd"), parallel=2)
    outcomes: list[Outcome] = []
    # One start every 100 minutes: a run that waited for the next slot would not end (the
    # thread's deadline only guards against that hang).
    worker = threading.Thread(target=lambda: outcomes.append(run_story(story, out, ipm=0.01)), daemon=True)
    worker.start()
    worker.join(60)

    assert not worker.is_alive(), "the stopped run is still waiting for its pacer slots"
    assert outcomes[0].exit_code == 1 and outcomes[0].fatal is not None
    assert len(fake_env.image_requests()) == 1
    assert {e["reason"] for e in picked(out).values() if e["status"] == "skipped"} == {"run stopped"}


# -- permanent failures: a frame alone, or the whole run ------------------------------------

MODERATION = (
    "Your request was rejected by the safety system. If you believe this is an error, contact us at "
    "help.openai.com and include the request ID."
)


def test_moderation_fails_its_frame_alone_without_retry(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    frames = frames_of("a", "b", "c")
    frames[1]["prompt"] = "b: a FORBIDDEN thing"
    out = tmp_path / "out"
    result = cli("run", write_story(tmp_path, frames), "-o", out)

    assert result.exit_code == 1
    assert sorted(requested(fake_env)) == ["a", "b", "c"]  # exactly one request for b
    entries = picked(out)
    b = entries["b"]
    assert (b["status"], b["reason"], b["attempts"]) == ("failed", MODERATION, 1)
    assert b["error"] == {
        "type": "image_generation_user_error",
        "code": "moderation_blocked",
        "message": MODERATION,
    }
    assert entries["a"]["status"] == entries["c"]["status"] == "ok"
    assert sorted(p.name for p in (out / "frames").iterdir()) == ["01-a.png", "03-c.png"]
    assert f"  frame  2 b: failed: {MODERATION}" in stderr_lines(result)
    assert (out / "index.html").is_file()


STOPPERS = {
    "quota": "the account has no quota left (insufficient_quota). Add credit or raise the limit, then run again.",
    "401": "the API key was refused (401). Check OPENAI_API_KEY.",
    "403": "permission denied (403): Country, region, or territory not supported.",
}


@pytest.mark.parametrize("stopper", list(STOPPERS))
def test_quota_401_and_403_stop_the_run_at_once(
    fake_env: FakeImagesAPI, tmp_path: Path, stopper: str
) -> None:
    # a is quick, b slow: c goes out when a is done and is refused while b is still in flight. b
    # answers only once the run has journalled c's failure (it stops before it journals), so b's
    # slot comes free after the refusal however slow the machine; the deadline only bounds a hang.
    out = tmp_path / "out"
    held: list[str] = []

    def latency(rec: RequestRecord) -> float:
        if rec.index == 1:
            try:
                wait_until(lambda: journalled(out, "failed") > 0, "the refusal in the journal")
            except AssertionError as e:
                held.append(str(e))
        return 0.0

    fake_env.latency = latency
    if stopper == "quota":
        fake_env.quota_images = 2  # the third image asked for is refused
    else:
        fake_env.faults = [None, None, {"status": int(stopper)}]
    result = cli("run", write_story(tmp_path, frames_of(*"abcdef"), parallel=2), "-o", out)

    assert held == []
    assert result.exit_code == 1
    reqs = fake_env.image_requests()
    # Nothing new after the refusal, though b's slot came free again.
    assert [(r.status, r.images) for r in reqs[:3]] == [(200, 1), (200, 1), (reqs[2].status, 0)]
    assert len(reqs) == 3
    assert reqs[2].status == (429 if stopper == "quota" else int(stopper))
    entries = list(picked(out).values())
    assert [e["status"] for e in entries] == ["ok", "ok", "failed", "skipped", "skipped", "skipped"]
    assert {frame_of(r) for r in reqs[:2]} == {"a", "b"}  # b, in flight at the refusal, finished and kept
    assert {e["reason"] for e in entries if e["status"] == "skipped"} == {"run stopped"}
    for e in entries:
        if e["status"] == "ok":
            assert (out / e["file"]).is_file()  # frames received are kept
    assert (out / "index.html").is_file()
    sentence = f"Error: the provider stopped the run: {STOPPERS[stopper]} Frames already received are kept."
    assert stderr_lines(result).count(sentence) == 1


# -- budget ---------------------------------------------------------------------------------


# A plan above --budget, or one with a model that has no price, is refused before anything is
# sent: test_cli.py covers both against the fake API. Here: the budget while the run goes on.


def test_the_budget_holds_while_running(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    story = write_story(tmp_path, frames_of(*"abcde"), parallel=1)
    estimate = plan_for(story).jobs[0].estimate
    assert estimate is not None
    budget = round(5 * estimate + 0.0001, 4)  # the plan fits: five estimates
    out = tmp_path / "out"
    result = cli("run", story, "-o", out, "--budget", str(budget))

    entries = list(picked(out).values())
    ok = [e for e in entries if e["status"] == "ok"]
    actual = ok[0]["cost_usd"]  # from `usage`: the same for every frame here
    assert actual > estimate, "the fake no longer bills more than estimated: nothing here can run over"
    # In story order, a frame starts only if what was spent plus its own estimate fits.
    expected, spent = 0, 0.0
    while expected < 5 and spent + estimate <= budget + 1e-9:
        expected, spent = expected + 1, spent + actual
    assert len(ok) == expected < 5
    assert manifest(out)["totals"]["run"]["cost_usd"] == pytest.approx(spent)
    skipped = [e for e in entries if e["status"] == "skipped"]
    assert len(skipped) == 5 - expected and {e["reason"] for e in skipped} == {"budget"}
    assert len(fake_env.image_requests()) == expected  # skipped ones were never sent
    assert result.exit_code == 1, result.stderr
    assert "  frame  5 e: skipped: budget" in stderr_lines(result)


def test_spend_and_reservations_never_pass_the_budget(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    fake_env.latency = lambda rec: 0.02 * (rec.index % 3)
    story = write_story(tmp_path, frames_of(*"abcdefgh"), parallel=3)
    estimate = plan_for(story).jobs[0].estimate
    assert estimate is not None
    budget = 4.5 * estimate
    spent, in_flight, violations = 0.0, 0, []

    def watch(kind: str, r: TakeResult) -> None:
        nonlocal spent, in_flight
        if kind == "start":
            in_flight += 1
            if spent + in_flight * estimate > budget + 1e-9:
                violations.append((r.job.id, spent, in_flight))
        elif kind in ("ok", "retry") or (kind == "failed" and r.attempts):
            in_flight -= 1
            spent += (r.cost_usd or 0.0) if kind == "ok" else 0.0

    out = tmp_path / "out"
    outcome = run_story(story, out, budget=budget, on_event=watch)

    assert violations == []
    assert outcome.exit_code == 1
    entries = list(picked(out).values())
    statuses = [e["status"] for e in entries]
    assert "ok" in statuses and "skipped" in statuses
    assert {e["reason"] for e in entries if e["status"] == "skipped"} == {"budget"}
    sent = {frame_of(r) for r in fake_env.image_requests()}
    assert sent == {e["id"] for e in entries if e["status"] == "ok"}


# -- images as they arrive -------------------------------------------------------------------


def test_decoded_images_waiting_for_their_thumbnail_are_bounded(tmp_path: Path) -> None:
    """Thumbnails are made from the decode that verified each image, after its slot freed; when
    they lag, requests wait, so a long run never holds every decoded image in memory."""
    story = write_story(tmp_path, frames_of(*"abcdefgh"), parallel=2)
    plan = build_plan(load_story(story), backend="draft", host=None)
    backend = DraftBackend()
    sent: list[str] = []
    real_generate = backend.generate

    async def generate(request: Any) -> Any:
        sent.append(request.prompt[:1])
        return await real_generate(request)

    backend.generate = generate  # type: ignore[method-assign]
    stuck, made = threading.Event(), []

    def on_image(r: TakeResult, received: Any) -> None:
        assert received.pixels.size == (816, 816)  # the decoded pixels themselves
        stuck.wait(60)
        made.append(r.job.id)

    outcomes: list[Any] = []
    worker = threading.Thread(target=lambda: outcomes.append(asyncio.run(
        runner.Runner(plan, tmp_path / "out", backend, RunOptions(parallel=2), on_image=on_image).run())))
    worker.start()
    deadline = time.monotonic() + 60
    while len(sent) < 4 and time.monotonic() < deadline:  # two waiting for a thumbnail, two holding slots
        time.sleep(0.01)
    time.sleep(0.3)  # room for a fifth request, were there no bound (this can only miss a bug, not invent one)
    assert len(sent) == 4
    stuck.set()
    worker.join(60)
    assert sorted(made) == list("abcdefgh") and len(sent) == 8
    assert all(r.status == "ok" for rs in outcomes[0].values() for r in rs)


def test_an_image_is_stored_when_the_step_after_its_decode_fails(tmp_path: Path) -> None:
    """`on_decoded` (the thumbnail's first step) failing never costs the paid-for image."""
    story = write_story(tmp_path, frames_of("a"), parallel=1)
    plan = build_plan(load_story(story), backend="draft", host=None)

    def broken(received: Any) -> Any:
        raise ValueError("no reduction for this one")

    results = asyncio.run(runner.Runner(plan, tmp_path / "out", DraftBackend(), RunOptions(parallel=1),
                                        on_decoded=broken).run())
    (take,) = results[0]
    assert take.status == "ok" and take.image is not None and take.image.path.is_file()
