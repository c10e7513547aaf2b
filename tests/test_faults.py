"""Whole runs through injected faults (issue 4): the fake API fails a share of requests with 5xx,
429s, and connections dropped before or after the work; every frame must arrive, paid once,
except where a dropped connection hid an image that was made and billed.

Set STORYBOARD_FAULT_SEED to replay (or vary) the faults; `pytest -s` prints the figures.
"""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import random
import signal
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeImagesAPI
from test_runner import (
    cli,
    frame_of,
    frames_of,
    manifest,
    picked,
    requested,
    run_story,
    stderr_lines,
    write_story,
)

SEED = int(os.environ.get("STORYBOARD_FAULT_SEED", "9"))


def fault_kind(fault: dict[str, Any] | None) -> str | None:
    """Name a fault as the figures count it: 500, 502, 429, drop-before, drop-after."""
    if fault is None:
        return None
    return f"drop-{fault['drop']}" if "drop" in fault else str(fault["status"])


def test_forty_frames_through_ten_percent_faults(
    fake_env: FakeImagesAPI, tmp_path: Path, record_property: Any
) -> None:
    fake_env.fault_rate = 0.10  # the default mix: 500, 502 (HTML), 429 with Retry-After, drops
    fake_env.seed = SEED
    jitter = random.Random(SEED)
    fake_env.latency = lambda _rec: jitter.uniform(0.0, 0.02)
    ids = [f"f{n:02d}" for n in range(1, 41)]
    frames = frames_of(*ids)
    for n in range(3, 40, 4):  # every fourth frame edits the one before: retried uploads too
        frames[n] = {"id": ids[n], "edit": ids[n - 1], "prompt": f"{ids[n]}: the same scene at night"}
    out = tmp_path / "out"
    outcome = run_story(write_story(tmp_path, frames, parallel=8), out)

    reqs = fake_env.image_requests()
    kinds = Counter(fault_kind(r.fault) for r in reqs if r.fault)
    totals = manifest(out)["totals"]["run"]
    paid_twice = fake_env.billed - len(ids)
    figures = {
        "seed": SEED,
        "frames": len(ids),
        "requests_sent": len(reqs),
        "faults": dict(sorted(kinds.items())),
        "429s": sum(r.status == 429 for r in reqs),
        "retries": totals["retries"],
        "billed": fake_env.billed,
        "paid_twice": paid_twice,
        "reported_possibly_billed_twice": totals["possibly_billed_twice"],
        "failed": totals["failures"],
    }
    print(f"\nissue-4 figures: {json.dumps(figures)}")
    record_property("issue4_figures", json.dumps(figures))
    (tmp_path / "issue4-figures.json").write_text(json.dumps(figures, indent=1))

    assert outcome.exit_code == 0
    entries = picked(out)
    assert sorted(entries) == ids
    assert {e["status"] for e in entries.values()} == {"ok"}
    assert all((out / e["file"]).is_file() for e in entries.values())
    assert sum(kinds.values()) > 0  # the seed did inject faults

    # One HTTP request per attempt (the SDK never retried), one retry per fault.
    assert {r.headers["x-stainless-retry-count"] for r in reqs} == {"0"}
    assert totals["requests"] == len(reqs) == len(ids) + sum(kinds.values())
    assert totals["retries"] == sum(kinds.values())
    assert totals["rate_limited"] == kinds["429"]

    # Each frame paid exactly once, except where a drop after the work hid a made image.
    by_frame: dict[str, list[Any]] = {}
    for r in reqs:
        by_frame.setdefault(frame_of(r) or "?", []).append(r)
    for fid, e in entries.items():
        mine = by_frame[fid]
        assert e["attempts"] == len(mine)
        assert sum(r.images for r in mine) == 1 + sum(fault_kind(r.fault) == "drop-after" for r in mine)
        assert e["request_id"] == mine[-1].request_id  # the image kept is the last answer's
        if e["kind"] == "edit":  # every attempt uploaded the source frame as saved
            source = (out / entries[e["source"]["frame"]]["file"]).read_bytes()
            assert {r.body.count(source) for r in mine} == {1}
    assert paid_twice == kinds["drop-after"]
    # The client cannot tell a drop before the work from one after it: it reports both as possibly
    # billed twice; what the server really billed twice is the drop-after share of that count.
    assert totals["possibly_billed_twice"] == kinds["drop-before"] + kinds["drop-after"] >= paid_twice
    assert sum(e["possibly_billed_twice"] for e in entries.values()) == totals["possibly_billed_twice"]


def test_drops_after_the_work_alone_equal_the_reported_count(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    fake_env.fault_rate = 0.25
    fake_env.fault_mix = [{"drop": "after"}]
    fake_env.seed = SEED
    ids = [f"f{n:02d}" for n in range(1, 17)]
    out = tmp_path / "out"
    outcome = run_story(write_story(tmp_path, frames_of(*ids), parallel=4), out)

    assert outcome.exit_code == 0
    drops = sum(r.outcome == "dropped-after" for r in fake_env.image_requests())
    assert drops > 0
    assert fake_env.billed - len(ids) == manifest(out)["totals"]["run"]["possibly_billed_twice"] == drops


def test_a_low_tier_key_gets_every_frame_through_the_servers_own_rate_limit(
    fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    # 4 images per 0.4 s window, and 10 frames asked 4 at a time: the server answers 429 with the
    # seconds until its window frees; the runner waits that long, for every request at once.
    fake_env.ipm, fake_env.window_seconds = 4, 0.4
    ids = [f"f{n:02d}" for n in range(1, 11)]
    out = tmp_path / "out"
    outcome = run_story(write_story(tmp_path, frames_of(*ids), parallel=4), out)

    assert outcome.exit_code == 0
    reqs = fake_env.image_requests()
    limited = [r for r in reqs if r.status == 429]
    assert limited and all(r.error_code == "rate_limit_exceeded" for r in limited)
    assert {e["status"] for e in picked(out).values()} == {"ok"}
    assert fake_env.billed == len(ids)  # a 429 is never billed, nothing paid twice
    totals = manifest(out)["totals"]["run"]
    assert (totals["rate_limited"], totals["possibly_billed_twice"]) == (len(limited), 0)
    assert totals["requests"] == len(reqs) == len(ids) + len(limited)


# -- servers that lie about images (issue 10.6) ---------------------------------------------


def png_bytes(size: tuple[int, int] = (816, 816), colour: tuple[int, int, int] = (40, 90, 160)) -> bytes:
    """Return a real PNG of the given size."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes() -> bytes:
    """Return a real JPEG."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (816, 816), (200, 90, 40)).save(buf, "JPEG")
    return buf.getvalue()


def answer_200(data: bytes, **extra: Any) -> dict[str, Any]:
    """Return a fault that answers 200 with these bytes as the image."""
    body = {"created": 1, "data": [{"b64_json": base64.b64encode(data).decode()}], **extra}
    return {"status": 200, "body": body}


LIES = [
    pytest.param(answer_200(b"<html>not an image</html>"), "that are not an image", id="html-bytes"),
    pytest.param(answer_200(png_bytes()[:400]), "that does not decode", id="truncated-png"),
    pytest.param(answer_200(jpeg_bytes(), output_format="png"), "announced image/png but sent image/jpeg",
                 id="jpeg-announced-as-png"),
]


@pytest.mark.parametrize(("lie", "said"), LIES)
def test_a_200_whose_bytes_are_not_the_image_is_a_failed_attempt(
    fake_env: FakeImagesAPI, tmp_path: Path, lie: dict[str, Any], said: str
) -> None:
    fake_env.faults = [lie]
    out = tmp_path / "out"
    outcome = run_story(write_story(tmp_path, frames_of("a", "b"), parallel=1), out)

    assert outcome.exit_code == 0
    assert sorted(requested(fake_env)) == ["a", "a", "b"]  # the lie was tried again, as a new attempt
    a = picked(out)["a"]
    assert (a["status"], a["attempts"]) == ("ok", 2)
    # The server said it did the work, so the retry may have been billed twice: reported.
    assert a["possibly_billed_twice"] == manifest(out)["totals"]["run"]["possibly_billed_twice"] == 1
    from PIL import Image

    for obj in (out / ".cache" / "objects").rglob("*.*"):  # only real images were ever stored
        with Image.open(obj) as im:
            im.load()
    with Image.open(out / a["file"]) as im:
        assert im.size == (816, 816)


@pytest.mark.parametrize(("lie", "said"), LIES)
def test_a_server_that_only_lies_fails_the_frame_and_saves_nothing(
    fake_env: FakeImagesAPI, tmp_path: Path, lie: dict[str, Any], said: str
) -> None:
    fake_env.faults = lambda _i, rec: lie if rec.body.find(b'"a: ') >= 0 else None
    out = tmp_path / "out"
    outcome = run_story(write_story(tmp_path, frames_of("a", "b"), parallel=1), out, max_attempts=2)

    assert outcome.exit_code == 1
    a, b = picked(out)["a"], picked(out)["b"]
    assert (a["status"], a["file"], a["sha256"], b["status"]) == ("failed", None, None, "ok")
    assert a["error"]["type"] == "invalid_image"
    assert a["reason"].startswith("gave up after 2 attempts: the server ") and said in a["reason"]
    assert sorted(p.name for p in (out / "frames").iterdir()) == ["02-b.png"]
    assert len(list((out / ".cache" / "objects").rglob("*.*"))) == 1  # b's alone


def test_a_lying_server_is_no_traceback_on_the_command_line(
    fake_env: FakeImagesAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storyboard.run import retry

    monkeypatch.setattr(retry, "backoff", lambda *_a: 0.001)  # the command line's back-off, shrunk
    fake_env.faults = [answer_200(b"junk")] * 6
    result = cli("run", write_story(tmp_path, frames_of("a")), "-o", tmp_path / "out")

    assert result.exit_code == 1
    lines = stderr_lines(result)
    assert (
        "  frame  1 a: failed: gave up after 6 attempts: the server answered with 4 bytes that are not an image "
        "(they begin 'junk')"
    ) in lines, result.stderr
    assert (
        "Note: 5 retry(ies) followed a failure after the server may have done the work (a dropped connection, a "
        "timeout, an image that did not decode); the provider may have billed those twice."
    ) in lines
    assert "Traceback" not in result.stderr


def test_each_image_is_decoded_once_and_that_decode_makes_its_thumbnail(
    fake_env: FakeImagesAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import ImageFile

    loads: list[tuple[int, int]] = []
    real_load = ImageFile.ImageFile.load

    def load(self: Any) -> Any:
        if getattr(self, "_im", None) is None:  # a decode, not a look at pixels already decoded
            loads.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    out = tmp_path / "out"
    result = cli("run", write_story(tmp_path, frames_of("a", "b", "c")), "-o", out)

    assert result.exit_code == 0, result.stderr
    assert loads == [(816, 816)] * 3  # verification decoded each; nothing decoded one again
    shas = {e["sha256"] for e in picked(out).values()}
    assert {p.stem for p in (out / "thumbs").iterdir()} == shas


# -- a full disk (issue 10.7) ---------------------------------------------------------------


def full_disk_after(monkeypatch: pytest.MonkeyPatch, stored: int, *, stays_full: bool) -> list[str]:
    """Make fsync fail with ENOSPC from the (stored+1)-th image written to the store on (every
    fsync after it too when the disk stays full); return the paths that failed."""
    real_fsync = os.fsync
    seen: list[str] = []
    failed: list[str] = []

    def fsync(fd: int) -> None:
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            path = ""
        if "/.cache/objects/" in path and os.path.isfile(path):  # an image being stored (not its folder)
            seen.append(path)
        if len(seen) > stored and (stays_full or not failed):
            failed.append(path)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return failed


@pytest.mark.parametrize("stays_full", [False, True], ids=["frees-up", "stays-full"])
def test_a_full_disk_stops_the_run_keeps_what_arrived_and_reports_what_was_lost(
    fake_env: FakeImagesAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stays_full: bool
) -> None:
    story, out = write_story(tmp_path, frames_of(*"abcde"), parallel=1), tmp_path / "out"
    with monkeypatch.context() as m:
        failed = full_disk_after(m, 2, stays_full=stays_full)
        result = cli("run", story, "-o", out)

    assert failed, "the disk never filled up"
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert requested(fake_env) == ["a", "b", "c"]  # nothing sent after the disk filled
    errors = [line for line in stderr_lines(result) if line.startswith("Error:")]
    assert len(errors) == 1 and "the disk is full" in errors[0], result.stderr
    assert "1 image(s) were received but could not be saved (03-c)" in errors[0]
    store = {p.name.split(".")[0] for p in (out / ".cache" / "objects").rglob("*.*")}
    assert len(store) == 2  # a and b arrived and are kept
    if not stays_full:  # the folder could be finished: the manifest says what happened to each frame
        entries = picked(out)
        assert [entries[i]["status"] for i in "abcde"] == ["ok", "ok", "failed", "skipped", "skipped"]
        assert entries["c"]["reason"].startswith("received but not saved: the disk is full")
        assert entries["d"]["reason"] == "run stopped: the disk is full"
        assert {entries[i]["sha256"] for i in "ab"} == store

    again = cli("run", story, "-o", out)  # space again

    assert again.exit_code == 0, again.stderr
    notes = [line for line in stderr_lines(again) if line.startswith("Note:")]
    assert notes == ["Note: 1 image(s) an earlier run received could not be saved (the output folder could not be "
                     "written); they were paid for, and are requested again."]
    assert sorted(requested(fake_env, since=3)) == ["c", "d", "e"]  # a and b are not bought again
    assert [e["status"] for e in picked(out).values()] == ["cached"] * 2 + ["ok"] * 3


# -- kills one after another (issue 10.9) ---------------------------------------------------


class Holder:
    """Holds the fake server's answers from the n-th image request on, until released."""

    def __init__(self, api: FakeImagesAPI) -> None:
        self.reached: set[int] = set()
        self._from = 10**9
        self._go = threading.Event()
        api.latency = self._latency

    def _latency(self, rec: Any) -> float:
        self.reached.add(rec.index)
        if rec.index >= self._from:
            self._go.wait(60)
        return 0.0

    def hold_from(self, n: int) -> None:
        """Hold every request from the n-th (0-based) on."""
        self._go = threading.Event()
        self._from = n

    def release(self) -> None:
        """Answer every request held."""
        self._go.set()


def test_a_resumed_run_killed_in_turn_leaves_every_unanswered_request_to_be_reported(
    fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    from test_resume import Run, wait_until

    holder = Holder(fake_env)
    story, out = write_story(tmp_path, frames_of(*"abcdef"), parallel=2), tmp_path / "out"
    try:
        holder.hold_from(0)
        first = Run(story, out)  # killed with two requests in flight
        wait_until(lambda: len(holder.reached) == 2, "two requests in flight")
        first.signal(signal.SIGKILL)
        first.finish()
        holder.release()  # the server finishes and bills them; nobody reads the answers

        holder.hold_from(4)  # the resumed run buys those two again, then is killed with two more in flight
        second = Run(story, out)
        wait_until(lambda: len(holder.reached) == 6, "the resumed run's second pair in flight")
        second.signal(signal.SIGKILL)
        second.finish()
        holder.release()
        wait_until(lambda: fake_env.in_flight == 0, "the server to finish the orphaned requests")
    finally:
        holder.release()

    third = cli("run", story, "-o", out)

    assert third.exit_code == 0, third.stderr
    paid_without_image = fake_env.billed - 6  # six frames kept, each bought once
    assert paid_without_image == 4
    # The first run's two (bought again by the second) and the second run's two: all reported.
    assert (
        "Note: 4 request(s) of an earlier run were sent but their images never arrived; they may have been billed."
        in stderr_lines(third)
    )
    assert manifest(out)["run"]["possibly_paid_without_image"] == 4
    fourth = cli("run", story, "-o", out)  # reported once, then settled
    assert not any(line.startswith("Note:") for line in stderr_lines(fourth))
