"""Pacing under rate limits (issue 11, item 1 and 3): the server's hints parsed, one token bucket
for the run kept in step with them, a 429 never using up an attempt, long waits announced and
waits beyond --max-wait stopping the run with nothing lost; the 429 storm as a test.

The pacer's own tests run on a virtual clock (sleeps pass at once, time moves by what was slept);
the runs go through the real SDK to the fake API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import email.utils
import random
import re
import time
import types
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeImagesAPI
from test_runner import VirtualClock, cli, manifest, picked, requested, run_story, stderr_lines, write_story

from storyboard.ratelimits import Limit, Limits, parse_duration, parse_limits, parse_retry_after
from storyboard.run import pacing
from storyboard.run.pacing import Pacer, Turn, Wait, WaitTooLong, say_seconds

STORM_MIX = [{"drop": "before"}, {"drop": "after"}, {"status": 500}, {"status": 502}, {"status": 503}]


def ids(n: int) -> list[str]:
    """Return frame ids f01..fNN."""
    return [f"f{i:02d}" for i in range(1, n + 1)]


def story_of(tmp_path: Path, n: int, **top: Any) -> Path:
    """Write a story of n small frames whose prompts start with their ids."""
    return write_story(tmp_path, [{"id": i, "prompt": f"{i}: a lighthouse in a storm"} for i in ids(n)], **top)


# -- the server's hints --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("20ms", 0.02), ("1s", 1.0), ("6m0s", 360.0), ("1h2m3.5s", 3723.5), ("1.5s", 1.5), ("500us", 0.0005),
     ("0s", 0.0), ("7", 7.0), ("0.25", 0.25), (" 2s ", 2.0),
     ("", None), ("soon", None), ("-1s", None), ("1x", None), ("s", None), ("1s2", None), ("nan", None), (None, None)],
)
def test_durations_as_rate_limit_headers_write_them(text: str | None, seconds: float | None) -> None:
    assert parse_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


def test_the_ratelimit_triples() -> None:
    headers = {
        "x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s",
        "x-ratelimit-limit-tokens": "100000", "x-ratelimit-remaining-tokens": "99000",
        "x-ratelimit-reset-tokens": "20ms",
    }
    assert parse_limits(headers) == Limits(Limit(5, 0, 360.0), Limit(100000, 99000, 0.02))
    assert parse_limits({"x-ratelimit-remaining-requests": "3"}) == Limits(Limit(None, 3, None), None)
    assert parse_limits({"x-ratelimit-limit-requests": "many", "x-ratelimit-remaining-requests": "-2"}) is None
    assert parse_limits({"content-type": "application/json"}) is None
    assert parse_limits(None) is None


def test_retry_after_in_milliseconds_seconds_or_a_date() -> None:
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "3600"}) == 3600.0  # no ceiling: the runner judges it
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(90)
    assert parse_retry_after({"retry-after": email.utils.formatdate(now - 5, usegmt=True)}, now=now) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


@pytest.mark.parametrize(("seconds", "text"), [(0, "0 s"), (45.2, "46 s"), (60, "1 min"), (150, "2 min 30 s"),
                                               (3600, "1 h"), (3900, "1 h 5 min")])
def test_waits_said_for_people(seconds: float, text: str) -> None:
    assert say_seconds(seconds) == text


# -- the pacer, on a virtual clock ---------------------------------------------------------------


class Clock:
    """Virtual monotonic time: the pacer's sleeps advance it and pass at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 1000.0
        self.slept: list[float] = []
        real_sleep = asyncio.sleep

        async def sleep(seconds: float, result: Any = None) -> Any:
            self.slept.append(seconds)
            self.now += max(0.0, seconds)
            return await real_sleep(0, result)

        names = {k: getattr(asyncio, k) for k in dir(asyncio) if not k.startswith("__")}
        monkeypatch.setattr(pacing, "asyncio", types.SimpleNamespace(**{**names, "sleep": sleep}))

    def monotonic(self) -> float:
        """Return the virtual time."""
        return self.now


def turns(pacer: Pacer, n: int) -> list[Turn]:
    """Acquire n turns one after another."""

    async def go() -> list[Turn]:
        return [await pacer.acquire() for _ in range(n)]

    return asyncio.run(go())


def starts(pacer: Pacer, clock: Clock, n: int) -> list[float]:
    """Acquire n turns one after another; return each start, relative to the first call."""
    t0 = clock.now
    return [t.at - t0 for t in turns(pacer, n)]


def requests_left(remaining: int, reset: str, limit: int = 12) -> Limits:
    """Return the request triple an answer carries."""
    return Limits(Limit(limit, remaining, parse_duration(reset)))


def test_without_limits_nothing_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    pacer = Pacer(clock=clock)
    assert starts(pacer, clock, 20) == [0.0] * 20
    assert pacer.rate is None


def test_the_headers_set_the_bucket_what_remains_goes_then_one_refill_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    pacer = Pacer(clock=clock)
    (turn,) = turns(pacer, 1)
    # 12 a bucket, 3 left, whole again in 1.5 s: it refills 6 a second.
    pacer.answered(turn, requests_left(3, "1.5s"))
    got = starts(pacer, clock, 6)
    assert pacer.rate == pytest.approx(6.0)
    assert got[:3] == [0.0, 0.0, 0.0]  # what remains goes at once
    assert [b - a for a, b in zip(got[2:], got[3:], strict=False)] == pytest.approx([1 / 6] * 3)


def test_what_was_sent_after_an_answered_request_is_not_in_its_count(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    pacer = Pacer(clock=clock)
    first, *_later = turns(pacer, 4)  # four in flight at once, at the same instant
    pacer.answered(first, requests_left(4, "8s", limit=12))  # the server counted the first alone
    # 4 remained when the first was admitted; the other 3 took 3 of them: one left, then 1 a second.
    assert starts(pacer, clock, 2) == pytest.approx([0.0, 1.0])


def test_a_429_holds_everyone_until_its_retry_after_then_one_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    pacer = Pacer(clock=clock)
    sent = turns(pacer, 2)
    pacer.answered(sent[0], requests_left(0, "2s"))  # 6 a second
    assert pacer.limited(sent[1], 0.5, requests_left(0, "2s")) == 0.5
    got = starts(pacer, clock, 3)
    assert got == pytest.approx([0.5, 0.5 + 1 / 6, 0.5 + 2 / 6])  # the pause, then one refill apart


def test_without_headers_the_rate_is_learned_from_429s_and_raised_by_successes(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    pacer = Pacer(clock=clock)
    sent = []
    for _ in range(10):  # ten starts over a second, unpaced
        sent += turns(pacer, 1)
        clock.now += 0.1
    pacer.limited(sent[-1], 0.2, None)
    halved = pacer.rate
    assert halved is not None and 4.0 <= halved <= 6.0  # half of the ~10 a second it was sending
    pacer.limited(sent[-2], 0.2, None)  # another answer to the same burst: no second halving
    assert pacer.rate == halved
    for t in sent[:8]:
        pacer.answered(t, None)
    assert pacer.rate == pytest.approx(halved * 2)  # additive increase: +1/8 of the halved rate each
    # Many successes later it is unlimited again.
    for t in sent[:8] * 1000:
        pacer.answered(t, None)
    assert pacer.rate is None


def test_the_token_triple_holds_requests_until_tokens_are_back(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    pacer = Pacer(clock=clock)
    (turn,) = turns(pacer, 1)
    # An image used 1000 tokens; 1000 remain of 10000, whole again in 9 s: 1000 tokens a second.
    pacer.answered(turn, Limits(None, Limit(10000, 1000, 9.0)), tokens=1000)
    assert starts(pacer, clock, 3) == pytest.approx([0.0, 1.0, 2.0])


def test_a_wait_over_a_minute_is_announced_once(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    heard: list[Wait] = []
    pacer = Pacer(clock=clock, on_wait=heard.append)
    (turn,) = turns(pacer, 1)
    assert pacer.limited(turn, 90.0, None) == 90.0
    assert starts(pacer, clock, 1) == [pytest.approx(90.0)]
    assert [(round(w.seconds), w.why) for w in heard] == [(90, "the server's rate limit")]
    pacer.expect(30, "a back-off")  # a minute or less: said by nobody
    assert len(heard) == 1


def test_a_wait_beyond_max_wait_raises_but_the_users_own_ipm_never_does(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    pacer = Pacer(clock=clock, max_wait=600)
    (turn,) = turns(pacer, 1)
    with pytest.raises(WaitTooLong) as info:
        pacer.limited(turn, 3600.0, None)
    assert (info.value.wait.seconds, info.value.max_wait) == (3600.0, 600)
    # A reset six hours off, from the headers alone, is judged the same when a request waits for it.
    pacer = Pacer(clock=clock, max_wait=600)
    (turn,) = turns(pacer, 1)
    pacer.answered(turn, requests_left(0, "6h0m0s", limit=1))
    with pytest.raises(WaitTooLong):
        turns(pacer, 1)
    # --ipm 0.5 spaces starts two minutes apart: asked for, so announced but never too long.
    heard: list[Wait] = []
    pacer = Pacer(0.5, clock=clock, max_wait=60, on_wait=heard.append)
    assert starts(pacer, clock, 2) == pytest.approx([0.0, 120.0])
    assert [w.why for w in heard] == ["--ipm 0.5"]


# -- runs against the fake -----------------------------------------------------------------------


def storm(fake: FakeImagesAPI, seed: int) -> None:
    """Make the fake the issue's storm, time compressed: a bucket of 12 refilled over 1 s, 15 % drops and 5xx."""
    fake.ipm, fake.window_seconds, fake.limiter = 12, 1.0, "bucket"
    fake.fault_rate, fake.fault_mix, fake.seed = 0.15, [dict(f) for f in STORM_MIX], seed
    jitter = random.Random(seed)
    fake.latency = lambda _rec: jitter.uniform(0.02, 0.08)


def test_the_429_storm_saves_every_frame(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    # bench/storm.py is this storm at the time scale (12 per 2 s) through the command line.
    storm(fake_env, seed=3)
    out = tmp_path / "out"
    outcome = run_story(story_of(tmp_path, 40, parallel=8), out)

    assert outcome.exit_code == 0
    assert {e["status"] for e in picked(out).values()} == {"ok"} and len(picked(out)) == 40
    reqs = fake_env.image_requests()
    limited = sum(r.status == 429 for r in reqs)
    assert manifest(out)["totals"]["run"]["rate_limited"] == limited
    # Before the pacer kept to the server's bucket, this storm drew 60-90 429s and failed 5-8 frames.
    assert limited < 15, limited
    assert fake_env.billed == 40 + sum(r.outcome == "dropped-after" for r in reqs)


def test_a_429_never_uses_up_an_attempt(fake_env: FakeImagesAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    VirtualClock().install(monkeypatch)  # the rate learned from these 429s makes waits, passed at once here
    fake_env.faults = [{"status": 429, "retry_after": 0.001}] * 8 + [{"status": 500}, {"status": 429, "retry_after": 0.001}]
    out = tmp_path / "out"
    outcome = run_story(story_of(tmp_path, 1), out, max_attempts=2)

    assert outcome.exit_code == 0
    entry = picked(out)["f01"]
    # Ten answers that were not images, two of them counted as attempts (the 500, and the one that worked).
    assert (entry["status"], entry["attempts"]) == ("ok", 11)
    assert manifest(out)["totals"]["run"]["rate_limited"] == 9


def test_the_server_headers_keep_a_run_clear_of_429s(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    # Four requests a second, whole again after a second; nine frames four at a time. The headers of
    # the first answers say how little is left: the run keeps to that instead of running into 429s.
    fake_env.ipm, fake_env.window_seconds, fake_env.limiter = 4, 1.0, "bucket"
    fake_env.latency = 0.05
    out = tmp_path / "out"
    assert run_story(story_of(tmp_path, 9, parallel=4), out).exit_code == 0
    reqs = fake_env.image_requests()
    limited = sum(r.status == 429 for r in reqs)
    assert limited <= 2, [r.status for r in reqs]  # before: 10 to 13 429s
    assert sorted(set(requested(fake_env))) == ids(9) and len(reqs) == 9 + limited


def test_a_limit_no_header_reports_is_learned_from_its_429s(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    # As on OpenAI: the headers report requests per minute, thousands left, while images per minute
    # (4 a second here, a bucket of 4) is what binds. Without learning, every burst meets 429s.
    fake_env.ipm, fake_env.window_seconds, fake_env.limiter = 4, 1.0, "bucket"
    fake_env.fixed_ratelimit_headers = {"x-ratelimit-limit-requests": "5000",
                                        "x-ratelimit-remaining-requests": "4999", "x-ratelimit-reset-requests": "12ms"}
    fake_env.latency = 0.05
    out = tmp_path / "out"
    assert run_story(story_of(tmp_path, 16, parallel=4), out).exit_code == 0
    limited = sum(r.status == 429 for r in fake_env.image_requests())
    assert limited <= 8, limited  # before: 30, and two frames gave up


@pytest.mark.parametrize("hint", ["seconds", "date"])
def test_retry_after_in_seconds_or_as_a_date_is_waited_without_using_an_attempt(
    fake_env: FakeImagesAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hint: str
) -> None:
    clock = VirtualClock().install(monkeypatch)
    when = "40" if hint == "seconds" else email.utils.formatdate(time.time() + 40, usegmt=True)
    fake_env.faults = [{"status": 429, "headers": {"retry-after": when}}]
    out = tmp_path / "out"
    assert run_story(story_of(tmp_path, 1), out, max_attempts=1).exit_code == 0
    (slept,) = clock.sleeps
    assert 38 <= slept <= 40  # a date has whole seconds, and the request took a moment
    assert picked(out)["f01"]["attempts"] == 2


def test_a_reset_told_by_the_headers_alone_is_waited_and_announced(
    fake_env: FakeImagesAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 429 without Retry-After, with the triple: 5 a bucket, none left, whole in 6m0s. One comes
    # back in 72 s: the run waits that, says so (over a minute), and goes on.
    VirtualClock().install(monkeypatch)
    headers = {"x-ratelimit-limit-requests": "5", "x-ratelimit-remaining-requests": "0",
               "x-ratelimit-reset-requests": "6m0s"}
    fake_env.faults = [{"status": 429, "headers": headers}]
    heard: list[tuple[str, Any]] = []
    out = tmp_path / "out"
    outcome = run_story(story_of(tmp_path, 1), out, on_event=lambda kind, what: heard.append((kind, what)))

    assert outcome.exit_code == 0
    waits = [what for kind, what in heard if kind == "wait"]
    assert [round(w.seconds) for w in waits] == [72]
    assert len(fake_env.image_requests()) == 2


def test_a_wait_over_a_minute_is_printed_without_a_terminal(
    fake_env: FakeImagesAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    VirtualClock().install(monkeypatch)
    fake_env.faults = [{"status": 429, "retry_after": 90}]
    result = cli("run", story_of(tmp_path, 1), "-o", tmp_path / "out", "--quiet")

    assert result.exit_code == 0, result.stderr
    (line,) = [x for x in stderr_lines(result) if x.startswith("Waiting")]
    assert re.fullmatch(r"Waiting 1 min 30 s for the server's rate limit \(until \d\d:\d\d:\d\d\); "
                        r"Ctrl-C stops, nothing is lost\.", line), line


def test_retry_after_an_hour_stops_the_run_saying_when_nothing_lost(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    # Before: the run slept an hour without a word (six times over). Now beyond --max-wait (15 min): stop.
    fake_env.faults = [None, {"status": 429, "retry_after": 3600}]
    story, out = story_of(tmp_path, 4, parallel=1), tmp_path / "out"
    result = cli("run", story, "-o", out)

    assert result.exit_code == 1
    lines = stderr_lines(result)
    stop = next(x for x in lines if x.startswith("Error:"))
    assert re.fullmatch(
        r"Error: the server's rate limit asks to wait 1 h \(until \d\d:\d\d\), longer than --max-wait 15 min\. "
        r"Nothing is lost: run the same command again after \d\d:\d\d, or raise --max-wait\.", stop), stop
    entries = picked(out)
    assert entries["f01"]["status"] == "ok"
    assert {entries[i]["status"] for i in ids(4)[1:]} == {"skipped"}
    assert len(fake_env.image_requests()) == 2  # nothing sent after the 429

    again = cli("run", story, "-o", out)  # after the wait: the rest, nothing bought twice
    assert again.exit_code == 0, again.stderr
    assert "may have been billed" not in again.stderr
    assert sorted(requested(fake_env)) == ["f01", "f02", "f02", "f03", "f04"]


def test_max_wait_is_the_users_to_raise(fake_env: FakeImagesAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    VirtualClock().install(monkeypatch)
    story = story_of(tmp_path, 1)
    fake_env.faults = [{"status": 503, "retry_after": 3600}]  # one frame's own wait, judged the same
    stopped = cli("run", story, "-o", tmp_path / "a")
    assert stopped.exit_code == 1
    assert "Error: the server asks to wait 1 h" in stopped.stderr
    assert picked(tmp_path / "a")["f01"]["status"] == "skipped"
    fake_env.faults = [{"status": 503, "retry_after": 3600}]
    assert cli("run", story, "-o", tmp_path / "b", "--max-wait", "90").exit_code == 0
    assert cli("run", story, "-o", tmp_path / "c", "--max-wait", "-1").exit_code == 2
