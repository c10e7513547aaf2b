"""The folder lock (storyboard/output/lock.py) under races: processes started together, a stale lock
file taken over by two at once, and `gc` refused while a run holds the folder."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from pathlib import Path

import pytest
from fakeapi import FakeImagesAPI
from test_resume import Gate, Run, lock_is_free, wait_until
from test_runner import cli, frames_of, requested, stderr_lines, write_story

from storyboard.errors import OutputDirError
from storyboard.output.lock import dir_lock

PROCESSES = 4
ROUNDS = 60


def _contender(out: str, start: mp.synchronize.Barrier, tried: mp.synchronize.Barrier, results: mp.Queue) -> None:  # type: ignore[name-defined]
    """In each round: wait for all, try the lock at once; the holder keeps it until all have tried."""
    marker = Path(out) / "holder"
    for rnd in range(ROUNDS):
        start.wait()
        try:
            with dir_lock(Path(out)):
                # Two holders at once would collide here.
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.close(fd)
                tried.wait()
                os.unlink(marker)
                results.put((rnd, "held"))
        except OutputDirError:
            tried.wait()
            results.put((rnd, "refused"))
        except FileExistsError:
            tried.wait()
            results.put((rnd, "overlap"))


@pytest.mark.parametrize("stale", [False, True], ids=["fresh", "stale-lock-file"])
def test_processes_started_together_never_hold_the_lock_twice(tmp_path: Path, stale: bool) -> None:
    out = tmp_path / "out"
    out.mkdir()
    if stale:
        # A lock file left by a dead process, as main's lock left it: the kernel holds no lock on it.
        dead = mp.get_context("spawn").Process(target=os.getpid)
        dead.start()
        dead.join()
        (out / ".lock").write_text(str(dead.pid))
    ctx = mp.get_context("spawn")
    start, tried, results = ctx.Barrier(PROCESSES), ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [ctx.Process(target=_contender, args=(str(out), start, tried, results)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in range(PROCESSES * ROUNDS)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    by_round: dict[int, list[str]] = {}
    for rnd, what in outcomes:
        by_round.setdefault(rnd, []).append(what)
    assert {rnd: sorted(w) for rnd, w in by_round.items()} == {
        rnd: ["held"] + ["refused"] * (PROCESSES - 1) for rnd in range(ROUNDS)
    }
    assert (out / ".lock").exists() and lock_is_free(out)  # never removed; nobody holds it now


def test_the_lock_file_is_never_removed_and_a_third_process_still_waits(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with dir_lock(out):
        inode = (out / ".lock").stat().st_ino
        assert (out / ".lock").read_text() == str(os.getpid())
        with pytest.raises(OutputDirError, match=rf"another storyboard run \(pid {os.getpid()}\)"), dir_lock(out):
            pass
    assert (out / ".lock").stat().st_ino == inode
    with dir_lock(out):
        assert (out / ".lock").stat().st_ino == inode


def test_gc_is_refused_while_a_run_holds_the_folder(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    gate = Gate(fake_env)
    try:
        _gc_during_a_run(fake_env, gate, tmp_path)
    finally:
        gate.open()


def _gc_during_a_run(fake_env: FakeImagesAPI, gate: Gate, tmp_path: Path) -> None:
    out = tmp_path / "out"
    gate.hold_from = 10**6
    story = write_story(tmp_path, frames_of("a", "b"), parallel=2)
    assert cli("run", story, "-o", out).exit_code == 0
    gate.hold_from = 2  # the second run's requests are held in flight
    story = write_story(tmp_path, frames_of("a", "b", "c", "d"), parallel=2)
    run = Run(story, out)
    wait_until(lambda: len(gate.reached) == 4, "the second run's requests in flight")

    result = cli("gc", out)

    assert result.exit_code == 2
    assert stderr_lines(result) == [
        f"Error: {out}: another storyboard run (pid {run.proc.pid}) is using this folder; gc would delete "
        "images it may need. Run gc when it has finished."
    ]
    gate.open()
    assert run.finish() == 0, run.lines
    assert sorted(requested(fake_env)) == ["a", "b", "c", "d"]  # nothing bought twice
    assert cli("gc", out).exit_code == 0
    again = cli("run", story, "-o", out)
    assert again.exit_code == 0 and len(fake_env.image_requests()) == 4
    assert json.loads((out / "manifest.json").read_text())["totals"]["run"]["cached"] == 4
