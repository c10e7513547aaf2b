"""Crashes: a run ended at every file-system boundary (the crash hook of storyboard/output/fs.py),
and kill -9 at random moments of a longer run, each followed by a run that must complete the
folder: nothing partial, no frame marked edited that nobody edited, the artist's edit intact,
nothing paid twice beyond what was in flight, and every request that may have been paid for
without its image reported.

The crashing runs are forks of this process (os.fork), so that each costs milliseconds instead of
an interpreter's start: a forked child runs the command line and ends with os._exit."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeImagesAPI
from test_edits import painted
from test_resume import wait_until
from test_runner import cli, frames_of, manifest, write_story
from typer.testing import CliRunner

from storyboard.cli import app
from storyboard.output import fs

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="forks the run")


@pytest.fixture
def tmp_path(tmp_path: Path) -> Iterator[Path]:
    """A folder in memory where there is one (/dev/shm): a process crash is the same there, and the
    hundreds of runs here do not wait for a disk's fsyncs."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="storyboard-crash-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)

PARALLEL = 2


def fork_run(args: list[str], before: Callable[[], None] = lambda: None) -> int:
    """Run the command line in a forked child and return its exit status."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with the fake API's threads about
        pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            before()
            code = CliRunner().invoke(app, args).exit_code
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def settle(api: FakeImagesAPI) -> None:
    """Wait until the server has finished (and billed) what a dead run left in flight."""
    wait_until(lambda: api.in_flight == 0, "the server to finish the orphaned requests")


def check_complete(out: Path, edited: dict[str, bytes]) -> dict[str, Any]:
    """Assert the folder is whole after a completing run; return its manifest."""
    m = manifest(out)
    shown = [e for e in m["frames"] if e["picked"]]
    for e in shown:
        expected = "edited" if e["id"] in edited else {"ok", "cached"}
        assert e["status"] == expected or e["status"] in expected, (e["id"], e["status"])
        data = (out / e["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == e["sha256"], e["file"]
        if e["id"] in edited:
            assert data == edited[e["id"]]
    named = {e["file"].split("/", 1)[1] for e in shown}
    assert sorted(p.name for p in (out / "frames").iterdir()) == sorted(named)
    for p in out.rglob("*"):
        assert not fs.TEMP.match(p.name), p
    for obj in (out / ".cache" / "objects").rglob("*.*"):
        assert hashlib.sha256(obj.read_bytes()).hexdigest() == obj.name.split(".")[0], obj
    return m


def crash_everywhere(
    api: FakeImagesAPI, tmp_path: Path, base: Path | None, story: Path, edited: dict[str, bytes], needed: int, step: int = 1
) -> int:
    """Crash a run of `story` at boundary 1, 1 + step, ... until one completes; after each crash, the
    next run must complete the folder. Return how many boundaries there were."""
    n = 1 - step
    while True:
        n += step
        out = tmp_path / f"crash-{n}"
        if base is not None:
            shutil.copytree(base, out, symlinks=True)
        billed = api.billed
        code = fork_run(["run", str(story), "-o", str(out), "--quiet"], lambda n=n: fs.crash_at(n))  # type: ignore[misc]
        if code == 0:
            assert n > 10  # the hook really counts a run's operations
            return n
        assert code == fs.CRASH_EXIT, (n, code)
        settle(api)
        result = cli("run", story, "-o", out, "--quiet")
        assert result.exit_code == 0, (n, result.stderr)
        m = check_complete(out, edited)
        extra = api.billed - billed - needed  # bought twice: in flight when the run died
        reported = m["run"]["possibly_paid_without_image"]
        assert 0 <= extra <= PARALLEL, (n, extra)
        assert extra <= reported <= PARALLEL, (n, extra, reported)
        shutil.rmtree(out)


def test_a_crash_at_every_third_boundary_of_a_first_run(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    story = write_story(tmp_path, frames_of(*"abcdef"), parallel=PARALLEL)
    crash_everywhere(fake_env, tmp_path, None, story, {}, needed=6, step=3)


def test_a_crash_at_every_boundary_of_a_run_that_renumbers_replaces_and_keeps_an_edit(
    fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    base = tmp_path / "base"
    frames = frames_of(*"abcdef")
    assert cli("run", write_story(tmp_path, frames, parallel=PARALLEL), "-o", base, "--quiet").exit_code == 0
    edit = painted()
    (base / "frames" / "03-c.png").write_bytes(edit)
    # A frame inserted (those after it renumbered), a prompt changed before it (its file keeps its
    # name) and one after it, one frame gone, one edited by hand.
    frames = frames[:2] + frames_of("z") + frames[2:5]
    frames[0]["prompt"] += ", at night"
    frames[4]["prompt"] += ", at dawn"
    story = write_story(tmp_path, frames, parallel=PARALLEL)
    boundaries = crash_everywhere(fake_env, tmp_path, base, story, {"c": edit}, needed=3)
    print(f"crashed at each of {boundaries - 1} boundaries", file=sys.stderr)


def test_kill_9_at_random_moments_of_a_long_run(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    fake_env.latency = 0.05
    out = tmp_path / "out"
    story = write_story(tmp_path, frames_of(*[f"f{i:02d}" for i in range(30)]), parallel=4)
    rng = random.Random(10)
    kills, reports = 0, {}
    edit = None

    def seen() -> None:
        # Every run that wrote its manifest told the user what it reported (a kill may land after).
        if (out / "manifest.json").exists():
            run = manifest(out)["run"]
            reports[(run["started"], run["finished"], run["seconds"])] = run["possibly_paid_without_image"]

    while kills < 30:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = CliRunner().invoke(app, ["run", str(story), "-o", str(out), "--quiet"]).exit_code
            finally:
                os._exit(code)
        time.sleep(rng.uniform(0.0, 0.5))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        settle(fake_env)
        seen()
        if os.waitstatus_to_exitcode(status) != -signal.SIGKILL:
            continue  # it finished first: no kill this time
        kills += 1
        if kills == 10 and (out / "frames" / "03-f02.png").exists():
            edit = painted()
            (out / "frames" / "03-f02.png").write_bytes(edit)  # an artist at work between two kills
    result = cli("run", story, "-o", out, "--quiet")
    assert result.exit_code == 0, result.stderr
    check_complete(out, {"f02": edit} if edit is not None else {})
    seen()
    extra = fake_env.billed - 30
    reported = sum(reports.values())
    assert 0 <= extra <= kills * 4
    assert extra <= reported, (extra, reported)  # every image bought twice was reported
    print(f"{kills} kills, {extra} bought twice, {reported} reported", file=sys.stderr)
