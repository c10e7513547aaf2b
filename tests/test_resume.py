"""Runs that are interrupted, killed, repeated, edited by hand, locked, run twice at once, or
narrowed with --only and --force, against the fake Images API through the real openai SDK.
Interrupts use a real `python -m storyboard run` subprocess and real signals."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakeapi import FakeImagesAPI, RequestRecord
from PIL import Image
from test_runner import (
    cli,
    frame_of,
    frames_of,
    manifest,
    picked,
    plan_for,
    requested,
    run_story,
    stderr_lines,
    wait_until,
    write_story,
)

IDS = list("abcdef")


class Run:
    """`python -m storyboard run` in its own process; its stderr lines are collected as they come."""

    def __init__(self, story: Path, out: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "storyboard", "run", str(story), "-o", str(out), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def signal(self, sig: int) -> None:
        """Send a signal to the run."""
        self.proc.send_signal(sig)

    def finish(self, timeout: float = 60) -> int:
        """Wait for the run to end (the deadline only guards against a hang); return its exit code."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # a hung run must not outlive its test
            raise
        self._reader.join(timeout=10)
        return code


def lock_is_free(out: Path) -> bool:
    """Return whether no process holds the folder lock (its file stays: it is never removed)."""
    from storyboard.errors import OutputDirError
    from storyboard.output.lock import dir_lock

    try:
        with dir_lock(out):
            return True
    except OutputDirError:
        return False


class Gate:
    """Holds the server's work on image requests (from the `hold_from`-th on) until opened, and
    records which requests it has read and checked: requests in flight, for as long as a test needs."""

    def __init__(self, api: FakeImagesAPI) -> None:
        self.hold_from = 0
        self.reached: set[int] = set()
        self._open = threading.Event()
        api.latency = self._latency

    def _latency(self, rec: RequestRecord) -> float:
        self.reached.add(rec.index)
        if rec.index >= self.hold_from:
            self._open.wait(60)
        return 0.0

    def open(self) -> None:
        """Let every held request (and all later ones) through."""
        self._open.set()


@pytest.fixture
def gate(fake_env: FakeImagesAPI) -> Iterator[Gate]:
    """Return a gate on the fake API, opened at the end of the test whatever happens."""
    g = Gate(fake_env)
    yield g
    g.open()


STOPPING = (
    "Stopping: no new requests; waiting for those in flight (already paid for). Ctrl-C again to abandon them."
)


def sha(path: Path) -> str:
    """Return the sha256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def frame_files(out: Path) -> list[str]:
    """Return the names under frames/."""
    return sorted(p.name for p in (out / "frames").iterdir())


def painted(colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """Return a PNG as an artist would save it over a frame."""
    buf = io.BytesIO()
    Image.new("RGB", (1024, 1024), colour).save(buf, "PNG")
    return buf.getvalue()


def no_partial_files(out: Path) -> None:
    """Assert that frames/, takes/ and the store hold only whole files."""
    for folder in ("frames", "takes", ".cache"):
        for path in (out / folder).rglob("*") if (out / folder).exists() else []:
            assert not path.name.endswith(".tmp"), path  # an atomic write cut short
    for obj in (out / ".cache" / "objects").rglob("*.*"):
        assert sha(obj) == obj.name.split(".")[0], obj  # every stored image is whole
        Image.open(obj).verify()


# -- interrupts ------------------------------------------------------------------------------


def test_ctrl_c_finishes_requests_in_flight_and_a_rerun_requests_only_the_rest(
    fake_env: FakeImagesAPI, gate: Gate, tmp_path: Path
) -> None:
    story, out = write_story(tmp_path, frames_of(*IDS), parallel=2), tmp_path / "out"
    run = Run(story, out)
    wait_until(lambda: len(gate.reached) == 2, "two requests in flight")
    run.signal(signal.SIGINT)
    wait_until(lambda: STOPPING in run.lines, "the run to take the Ctrl-C")
    gate.open()  # only now do the two in flight get their answers

    assert run.finish() == 130, run.lines
    reqs = fake_env.image_requests()
    assert [r.outcome for r in reqs] == ["ok", "ok"]  # the two in flight finished; nothing new started
    done = {frame_of(r) for r in reqs}
    entries = picked(out)
    assert {i for i, e in entries.items() if e["status"] == "ok"} == done
    assert {e["reason"] for i, e in entries.items() if i not in done} == {"interrupted"}
    assert frame_files(out) == sorted(entries[i]["file"].split("/")[1] for i in done)
    assert {entries[frame_of(r)]["request_id"] for r in reqs} == {r.request_id for r in reqs}
    assert manifest(out)["run"]["interrupted"] is True
    assert (out / "index.html").is_file()
    assert "Interrupted: finished frames are saved; run the same command again to continue." in run.lines

    outcome = run_story(story, out)
    assert outcome.exit_code == 0
    assert sorted(requested(fake_env, since=2)) == sorted(set(IDS) - done)
    assert outcome.unfinished == []
    assert fake_env.billed == len(IDS)


def test_after_a_kill_nothing_is_partial_and_the_next_run_reports_what_was_in_flight(
    fake_env: FakeImagesAPI, gate: Gate, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    earlier = [{"id": "p", "prompt": "p: a poster", "takes": 2}, {"id": "q", "prompt": "q: a quay"}]
    gate.hold_from = 10**6
    assert run_story(write_story(tmp_path, earlier), out).exit_code == 0  # frames/ and takes/ exist
    files = {p: p.read_bytes() for d in ("frames", "takes") for p in (out / d).iterdir()}

    gate.hold_from = 3 + 2  # of the new frames, two are answered and stored, the next two held
    story = write_story(tmp_path, earlier + frames_of(*IDS), parallel=2)
    run = Run(story, out)
    wait_until(lambda: len(gate.reached) == 3 + 4, "the second pair in flight")
    in_flight = {frame_of(r) for r in fake_env.image_requests()[5:]}
    run.signal(signal.SIGKILL)
    run.finish()
    gate.open()  # the server finishes (and bills) the two whose answers nobody will read
    wait_until(lambda: fake_env.in_flight == 0, "the server to finish the orphaned requests")

    no_partial_files(out)
    assert {p: p.read_bytes() for d in ("frames", "takes") for p in (out / d).iterdir()} == files
    stored = {frame_of(r) for r in fake_env.image_requests()[3:5]}
    assert fake_env.billed == 3 + 4

    result = cli("run", story, "-o", out)  # the dead run's lock is taken over

    assert result.exit_code == 0, result.stderr
    # Only what is not in the store, the two in flight at the kill among them.
    assert sorted(requested(fake_env, since=7)) == sorted(set(IDS) - stored)
    assert in_flight <= set(requested(fake_env, since=7))
    assert (
        "Note: 2 request(s) of an earlier run were sent but their images never arrived; they may have been billed."
        in stderr_lines(result)
    )
    assert manifest(out)["run"]["possibly_paid_without_image"] == 2 == fake_env.billed - 3 - len(IDS)
    assert lock_is_free(out)

    again = cli("run", story, "-o", out)  # reported once, then settled
    assert again.exit_code == 0
    assert not any(line.startswith("Note:") for line in stderr_lines(again))
    assert len(fake_env.image_requests()) == 11


def test_a_second_ctrl_c_abandons_requests_in_flight(
    fake_env: FakeImagesAPI, gate: Gate, tmp_path: Path
) -> None:
    story, out = write_story(tmp_path, frames_of(*IDS), parallel=2), tmp_path / "out"
    run = Run(story, out)
    wait_until(lambda: len(gate.reached) == 2, "two requests in flight")
    in_flight = {frame_of(r) for r in fake_env.image_requests()}
    run.signal(signal.SIGINT)
    wait_until(lambda: STOPPING in run.lines, "the run to take the first Ctrl-C")
    run.signal(signal.SIGINT)

    assert run.finish() == 130, run.lines
    assert fake_env.in_flight == 2  # the run ended while the server still held both
    entries = picked(out)
    assert {i: e["reason"] for i, e in entries.items() if i in in_flight} == dict.fromkeys(
        in_flight, "interrupted in flight"
    )
    assert {e["reason"] for i, e in entries.items() if i not in in_flight} == {"interrupted"}
    assert "Abandoning requests in flight." in run.lines

    gate.open()
    outcome = run_story(story, out)
    assert outcome.exit_code == 0
    # The journal knew which two may have been paid for without their image arriving.
    assert sorted(e["frame"] for e in outcome.unfinished) == sorted(
        f"{IDS.index(i) + 1:02d}-{i}" for i in in_flight
    )
    assert sorted(requested(fake_env, since=2)) == IDS


def test_ctrl_c_does_not_wait_out_pacer_slots_or_retry_afters(
    fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    # One start every 100 minutes, and the first request told to come back in an hour (within
    # --max-wait): one frame sleeps before its retry, the others wait for the pacer. Nothing is in flight.
    fake_env.faults = [{"status": 429, "retry_after": 3600}]
    story, out = write_story(tmp_path, frames_of(*IDS), parallel=2), tmp_path / "out"
    run = Run(story, out, "--ipm", "0.01", "--max-wait", "120")
    wait_until(lambda: any(r.status == 429 for r in fake_env.image_requests()), "the 429")
    wait_until(lambda: fake_env.in_flight == 0, "nothing in flight")
    run.signal(signal.SIGINT)

    # The run ends now, not in an hour (the deadline is only a guard against that hang).
    assert run.finish() == 130, run.lines
    assert len(fake_env.image_requests()) == 1
    assert {(e["status"], e["reason"]) for e in picked(out).values()} == {("skipped", "interrupted")}

    outcome = run_story(story, out)
    assert outcome.exit_code == 0
    assert outcome.unfinished == []  # a request answered with a 429 was not paid for: nothing to report
    assert sorted(requested(fake_env, since=1)) == IDS


# -- hand edits and locks --------------------------------------------------------------------


def test_a_hand_edited_frame_survives_renumbering_removal_and_force(
    fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert run_story(write_story(tmp_path, frames_of("a", "b", "c")), out).exit_code == 0
    before = {i: e["sha256"] for i, e in picked(out).items()}
    edited = painted()
    (out / "frames" / "02-b.png").write_bytes(edited)

    # A frame inserted at the top renumbers the others; the edit moves with b.
    story = write_story(tmp_path, frames_of("z", "a", "b", "c"))
    assert run_story(story, out).exit_code == 0
    assert requested(fake_env, since=3) == ["z"]
    assert frame_files(out) == ["01-z.png", "02-a.png", "03-b.png", "04-c.png"]
    assert (out / "frames" / "03-b.png").read_bytes() == edited
    entries = picked(out)
    assert (entries["b"]["status"], entries["b"]["file"]) == ("edited", "frames/03-b.png")
    assert entries["b"]["sha256"] == hashlib.sha256(edited).hexdigest()
    assert entries["a"]["sha256"] == before["a"]

    # Its file removed from frames/: the store still has the edit.
    (out / "frames" / "03-b.png").unlink()
    assert run_story(story, out).exit_code == 0
    assert len(fake_env.image_requests()) == 4
    assert (out / "frames" / "03-b.png").read_bytes() == edited
    assert picked(out)["b"]["status"] == "edited"

    # --force asks for every frame again, except the edited one.
    result = cli("run", story, "-o", out, "--force", "--yes")
    assert result.exit_code == 0, result.stderr
    assert sorted(requested(fake_env, since=4)) == ["a", "c", "z"]
    assert (out / "frames" / "03-b.png").read_bytes() == edited
    assert picked(out)["b"]["status"] == "edited"
    assert picked(out)["a"]["sha256"] != before["a"]  # the newest image wins


def test_a_locked_frame_keeps_its_image_when_its_request_changed(
    fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    frames = frames_of("a", "b")
    frames[0]["lock"] = True
    assert run_story(write_story(tmp_path, frames), out).exit_code == 0
    kept = (out / "frames" / "01-a.png").read_bytes()

    frames[0]["prompt"] = "a: the robot dog, now in oils"
    story = write_story(tmp_path, frames, quality="medium")  # a changed request for every frame
    result = cli("run", story, "-o", out, "--force", "--yes")

    assert result.exit_code == 0, result.stderr
    assert requested(fake_env, since=2) == ["b"]
    assert (out / "frames" / "01-a.png").read_bytes() == kept
    assert picked(out)["a"]["status"] == "locked"


# -- two runs on one folder ------------------------------------------------------------------


def test_a_second_run_on_a_busy_folder_is_refused(
    fake_env: FakeImagesAPI, gate: Gate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    story, out = write_story(tmp_path, frames_of("a", "b", "c", "d"), parallel=2), tmp_path / "out"
    first = Run(story, out)
    wait_until(lambda: len(gate.reached) == 2, "the first run's requests in flight")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-second-run")  # tells the second run's requests apart
    result = cli("run", story, "-o", out)

    assert result.exit_code == 2
    assert stderr_lines(result) == [
        f"Error: {out}: another storyboard run (pid {first.proc.pid}) is using this folder. "
        "Wait for it to finish, or choose another -o."
    ]
    gate.open()
    assert first.finish() == 0, first.lines
    assert not any("sk-second-run" in r.headers.get("authorization", "") for r in fake_env.requests)
    assert sorted(requested(fake_env)) == ["a", "b", "c", "d"]


def test_a_stale_lock_of_a_dead_process_is_taken_over(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "out"
    out.mkdir()
    (out / ".lock").write_text(str(dead.pid))
    result = cli("run", write_story(tmp_path, frames_of("a")), "-o", out)

    assert result.exit_code == 0, result.stderr
    assert requested(fake_env) == ["a"]
    assert lock_is_free(out)  # the file stays (never removed: SPEC's OS lock); nobody holds it


# -- --only and --force ----------------------------------------------------------------------


def chain() -> list[dict[str, object]]:
    """Return a story whose b edits a, c edits b, and d stands alone."""
    return [
        {"id": "a", "prompt": "a: a robot dog on a workbench"},
        {"id": "b", "edit": "a", "prompt": "b: the same dog at night"},
        {"id": "c", "edit": "b", "prompt": "c: the same night, raining"},
        {"id": "d", "prompt": "d: a harbour at dawn"},
    ]


def test_only_runs_missing_sources_too_and_merges_the_manifest(
    fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    story, out = write_story(tmp_path, chain()), tmp_path / "out"
    result = cli("run", story, "-o", out, "--only", "c")

    assert result.exit_code == 0, result.stderr
    assert requested(fake_env) == ["a", "b", "c"]  # its missing sources first, in chain order
    entries = picked(out)
    assert [entries[i]["status"] for i in "abc"] == ["ok", "ok", "ok"]
    assert (entries["d"]["status"], entries["d"]["reason"]) == ("skipped", "not run yet (outside --only)")
    assert frame_files(out) == ["01-a.png", "02-b.png", "03-c.png"]
    first = {i: e["sha256"] for i, e in entries.items()}

    result = cli("run", story, "-o", out, "--only", "d")
    assert result.exit_code == 0, result.stderr
    assert requested(fake_env, since=3) == ["d"]
    entries = picked(out)
    assert [entries[i]["status"] for i in "abcd"] == ["ok", "ok", "ok", "ok"]  # merged, not replaced
    assert {i: entries[i]["sha256"] for i in "abc"} == {i: first[i] for i in "abc"}
    assert frame_files(out) == ["01-a.png", "02-b.png", "03-c.png", "04-d.png"]
    totals = manifest(out)["totals"]
    assert (totals["run"]["requests"], totals["all"]["requests"]) == (1, 4)


def test_force_requests_only_the_chosen_frames_again(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    story, out = write_story(tmp_path, chain()), tmp_path / "out"
    assert cli("run", story, "-o", out).exit_code == 0
    before = {i: e["sha256"] for i, e in picked(out).items()}

    result = cli("run", story, "-o", out, "--only", "b", "--force")
    assert result.exit_code == 0, result.stderr
    assert requested(fake_env, since=4) == ["b"]  # not its source a, not its dependent c
    after = picked(out)
    assert after["b"]["sha256"] != before["b"]
    assert sha(out / "frames" / "02-b.png") == after["b"]["sha256"]  # the newest image wins
    assert {i: after[i]["sha256"] for i in "acd"} == {i: before[i] for i in "acd"}
    assert len(manifest(out)["frames"]) == 4


# -- one-line bugs no test caught before (issue 10's test gaps) ---------------------------------------


def _mask(left: int) -> bytes:
    """Return a 1024x1024 mask whose first `left` columns are to be repainted."""
    mask = Image.new("RGBA", (1024, 1024), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, left, 1024))
    buf = io.BytesIO()
    mask.save(buf, "PNG")
    return buf.getvalue()


def test_a_changed_mask_is_a_new_request(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    (tmp_path / "photo.png").write_bytes(painted((10, 80, 160)))
    (tmp_path / "mask.png").write_bytes(_mask(512))
    frames = [{"id": "sky", "edit": "photo.png", "mask": "mask.png", "prompt": "sky: a stormy sky"},
              {"id": "sea", "prompt": "sea: a calm sea"}]
    story, out = write_story(tmp_path, frames, size="1024x1024"), tmp_path / "out"
    assert run_story(story, out).exit_code == 0
    assert run_story(story, out).exit_code == 0
    assert len(fake_env.image_requests()) == 2  # the same mask: cached

    (tmp_path / "mask.png").write_bytes(_mask(256))  # same file name, other pixels
    assert run_story(story, out).exit_code == 0
    assert requested(fake_env, since=2) == ["sky"]


def test_only_after_renumbering_keeps_every_frame_under_its_new_name(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli("run", write_story(tmp_path, chain()), "-o", out).exit_code == 0
    before = {i: e["sha256"] for i, e in picked(out).items()}
    story = write_story(tmp_path, [{"id": "z", "prompt": "z: a title card"}, *chain()])

    result = cli("run", story, "-o", out, "--only", "d")

    assert result.exit_code == 0, result.stderr
    assert len(fake_env.image_requests()) == 4  # d is cached; z is outside --only
    entries = picked(out)
    assert {i: (e["number"], e["file"]) for i, e in entries.items() if i != "z"} == {
        "a": (2, "frames/02-a.png"), "b": (3, "frames/03-b.png"), "c": (4, "frames/04-c.png"), "d": (5, "frames/05-d.png")
    }
    assert frame_files(out) == ["02-a.png", "03-b.png", "04-c.png", "05-d.png"]
    assert {i: sha(out / entries[i]["file"]) for i in "abcd"} == before
    assert (entries["z"]["number"], entries["z"]["status"]) == (1, "skipped")
    assert [s["frame"] for s in [entries["b"]["source"], entries["c"]["source"]]] == ["a", "b"]
    assert [entries[i]["source"]["number"] for i in "bc"] == [2, 3]


def test_a_budget_exactly_at_the_limit_fits(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    story = write_story(tmp_path, frames_of("a", "b"), parallel=1)
    estimate = plan_for(story).jobs[0].estimate
    assert estimate is not None
    assert cli("run", write_story(tmp_path, frames_of("p"), name="probe"), "-o", tmp_path / "probe").exit_code == 0
    actual = picked(tmp_path / "probe")["p"]["cost_usd"]
    assert actual > estimate  # the fake bills more than estimated

    # A plan of exactly the budget is not refused; the second frame then no longer fits.
    result = cli("run", story, "-o", tmp_path / "one", "--budget", repr(estimate + estimate))
    assert result.exit_code == 1, result.stderr
    assert [e["status"] for e in picked(tmp_path / "one").values()] == ["ok", "skipped"]
    # Spent plus the next estimate exactly at the budget: it runs.
    result = cli("run", story, "-o", tmp_path / "two", "--budget", repr(actual + estimate))
    assert result.exit_code == 0, result.stderr
    assert [e["status"] for e in picked(tmp_path / "two").values()] == ["ok", "ok"]
