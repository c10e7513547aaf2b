"""The bench's harness: the fake Images API in a subprocess, whole-process runs timed as users see
them (wall time, CPU, peak RSS), the bench stories, the machine's other load, and what the numbers
were measured on. `run.py` (the suite) and `runpath.py` (the run path's three figures) use it.

The fake server (tests/fakeapi.py) renders its picture once per size and stamps each response
(distinct bytes per response), so its own CPU stays out of what is measured; it stops when its
stdin closes, after an hour, or after a bounded number of image requests.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FAKE_KEY = "sk-bench-fake"
SERVER_LIFETIME = 3600.0  # seconds: the server stops itself after this, whatever happens
SERVER_MAX_REQUESTS = 20_000  # image requests over the whole suite: a runaway retry loop ends here


# -- the fake server, in its own process ---------------------------------------------------------


def serve() -> None:
    """Run the fake API; obey JSON commands on stdin (config, reset, stats); stop on EOF."""
    sys.path.insert(0, str(ROOT / "tests"))
    import fakeapi

    # One colour for every prompt: the picture is rendered once per size (lru_cache) and only stamped
    # per response, instead of ~85 ms of server CPU per distinct prompt competing with the client.
    fakeapi._colour = lambda _seed: (70, 110, 190)
    # socketserver's default listen backlog is 5: sixteen clients connecting at once overflow it,
    # and a dropped handshake costs the client a 1 s SYN retransmit (or a reset connection).
    fakeapi._HTTPServer.request_queue_size = 256
    # payload "photo": PNG responses of a real model's weight (~2 MB at 1536x1024: noise does not
    # compress), to show what the fake's small flat pictures hide (memory per image, decode time).
    payload = {"kind": "flat"}
    flat = fakeapi.render_image

    @functools.lru_cache(maxsize=8)
    def photo(width: int, height: int) -> bytes:
        from PIL import Image

        ramp = Image.linear_gradient("L").resize((width, height))
        noise = Image.effect_noise((width, height), 10)
        fractal = Image.effect_mandelbrot((width, height), (-2.2, -1.2, 1.0, 1.2), 60).convert("L")
        img = Image.merge("RGB", (Image.blend(fractal, noise, 0.5), Image.blend(ramp, noise, 0.5),
                                  ramp.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
        out = io.BytesIO()
        img.save(out, "PNG", compress_level=1)
        return out.getvalue()

    def render(width: int, height: int, fmt: str, rgb: tuple[int, int, int], transparent: bool = False) -> bytes:
        if payload["kind"] == "photo" and fmt == "png" and not transparent:
            return photo(width, height)
        return flat(width, height, fmt, rgb, transparent)

    fakeapi.render_image = render
    api = fakeapi.FakeImagesAPI()
    api.start()
    started = time.monotonic()

    def watchdog() -> None:
        while True:
            time.sleep(0.5)
            if time.monotonic() - started > SERVER_LIFETIME or api._counter > SERVER_MAX_REQUESTS:
                print("fake server: lifetime or request bound reached, stopping", file=sys.stderr, flush=True)
                api.stop()
                os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()
    print(json.dumps({"base_url": api.base_url}), flush=True)
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg.pop("cmd")
        reply: dict[str, Any] = {"ok": True}
        if cmd == "config":
            api.latency = float(msg.get("latency", 0.0))
            api.ipm = msg.get("ipm")
            api.window_seconds = float(msg.get("window", 60.0))
            payload["kind"] = msg.get("payload", "flat")
            api.reset()
        elif cmd == "reset":
            api.reset()
        elif cmd == "stats":
            reqs = api.image_requests()
            reply = {
                "image_requests": len(reqs),
                "statuses": dict(Counter(str(r.status) for r in reqs)),
                "max_in_flight": api.max_in_flight,
                "billed": api.billed,
            }
            if msg.get("timeline"):  # for looking into a run: when each request came and went
                reply["timeline"] = [(r.started, r.finished) for r in reqs]
        print(json.dumps(reply), flush=True)
    api.stop()


class Server:
    """The client side of `serve()`: a subprocess and a line protocol."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )
        assert self.proc.stdout is not None
        self.base_url = json.loads(self.proc.stdout.readline())["base_url"]

    def _call(self, **msg: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fake server died")
        return json.loads(line)

    def config(self, latency: float = 0.0, ipm: int | None = None, window: float = 60.0, payload: str = "flat") -> None:
        """Set latency, rate limit and payload (flat or photo), and forget everything recorded."""
        self._call(cmd="config", latency=latency, ipm=ipm, window=window, payload=payload)

    def stats(self) -> dict[str, Any]:
        """Return what the server saw since the last config/reset."""
        return self._call(cmd="stats")

    def close(self) -> None:
        """Stop the server (EOF on its stdin)."""
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- processes -----------------------------------------------------------------------------------


@dataclass
class Proc:
    """One finished process: wall time, exit code, peak RSS, output."""

    wall: float
    rc: int
    maxrss_mb: float
    cpu: float  # user + system seconds
    out: str
    err: str


def run(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 900) -> Proc:
    """Run a command to completion; wall time by perf_counter, peak RSS from wait4's rusage."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd)
        timer = threading.Timer(timeout, p.kill)
        timer.start()
        try:
            _pid, status, usage = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t0
        finally:
            timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Proc(wall, p.returncode, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, out.read().decode(errors="replace"),
                    err.read().decode(errors="replace"))


def storyboard_cmd() -> list[str]:
    """Return the command users type: the installed `storyboard` script, else `python -m storyboard`."""
    script = Path(sys.executable).parent / "storyboard"
    return [str(script)] if script.exists() else [sys.executable, "-m", "storyboard"]


def python_env(tmp: Path) -> dict[str, str]:
    """Return the environment of a measured process: bytecode cached, as in an installed package.

    PYTHONDONTWRITEBYTECODE (set on some machines) would make every start compile storyboard's
    modules again; a cache prefix inside the temporary folder keeps the work tree untouched."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("OPENAI_")}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


def client_env(base_url: str, tmp: Path) -> dict[str, str]:
    """Return the environment of a client process: the fake server, a fake key, nothing else of OpenAI's."""
    return {**python_env(tmp), "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": FAKE_KEY}


STYLE = "soft watercolor storybook illustration, warm light"
REX = "a small silver robot dog with one glowing blue eye and a red scarf"


def prompts(n: int) -> list[str]:
    """Return the n prompts of the bench story as sent (its templates rendered)."""
    return [f"{REX} crosses street number {i} at dusk. {STYLE}" for i in range(1, n + 1)]


def write_story(path: Path, n: int, size: str = "1024x1024") -> Path:
    """Write a story of n independent frames, each prompt a template naming a character and a var."""
    lines = [f"title: Bench, {n} frames", "model: gpt-image-2", f"size: {size}", "quality: low", "parallel: 4",
             "vars:", f"  style: {STYLE}", "characters:", "  rex:", f"    description: {REX}", "frames:"]
    for i in range(1, n + 1):
        lines += [f"  - id: f{i:04d}", f'    prompt: "{{{{ rex }}}} crosses street number {i} at dusk. {{{{ style }}}}"',
                  f"    caption: Frame {i}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# -- the machine's other work -------------------------------------------------------------------


def _busy_seconds() -> float:
    """Return the CPU seconds all processes have used since boot (from /proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_seconds(server_pid: int) -> float:
    """Return the CPU seconds used by this process, its finished children and the fake server."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    with contextlib.suppress(OSError, IndexError, ValueError):
        stat = Path(f"/proc/{server_pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


class Background:
    """Measure how many cores other processes used over an interval (the machine may be shared)."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.start()

    def start(self) -> None:
        """Begin an interval."""
        self.t0, self.busy0, self.own0 = time.perf_counter(), _busy_seconds(), _own_seconds(self.server_pid)

    def cores(self) -> float:
        """Return the other processes' average cores since start()."""
        wall = max(1e-3, time.perf_counter() - self.t0)
        others = (_busy_seconds() - self.busy0) - (_own_seconds(self.server_pid) - self.own0)
        return max(0.0, others / wall)


def wait_quiet(server_pid: int, limit: float = 0.3, patience: float = 180.0) -> float:
    """Wait (up to `patience` s) until other processes use under `limit` cores for 2 s; return their load."""
    deadline = time.monotonic() + patience
    while True:
        bg = Background(server_pid)
        time.sleep(2.0)
        load = bg.cores()
        if load < limit or time.monotonic() > deadline:
            return load


def machine() -> dict[str, str]:
    """Return what the numbers were measured on."""
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    cpu = "unknown"
    with contextlib.suppress(OSError):
        m = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        cpu = m.group(1).strip() if m else cpu
    mem = ""
    with contextlib.suppress(OSError):
        m = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        mem = f"{int(m.group(1)) / 1024 ** 2:.0f} GB" if m else ""
    commit = ""
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += " with uncommitted changes" if dirty else ""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{cpu}, nproc {len(os.sched_getaffinity(0))}" + (f", {mem} RAM" if mem else ""),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sdk": f"openai {ver('openai')}, httpx2 {ver('httpx2')}, Pillow {ver('pillow')}",
        "storyboard": f"{ver('storyboard-chain')}" + (f" (commit {commit})" if commit else ""),
    }




# -- the table -----------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table; `ratio` <= 1 passes (measured/limit, or limit/measured for minimums)."""

    name: str
    measured: str
    target: str = ""
    ratio: float | None = None
    ok: bool | None = None


@dataclass
class Bench:
    """Shared state of one suite run."""

    server: Server
    tmp: Path
    quick: bool
    code: Path | None = None  # another checkout of storyboard to measure (on PYTHONPATH)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    peak_load: float = 0.0  # the most cores other processes used during one measured run
    _n: int = 0

    def out_dir(self, label: str) -> Path:
        """Return a fresh output folder."""
        self._n += 1
        return self.tmp / f"out-{self._n:03d}-{label}"

    def story(self, n: int, size: str = "1024x1024") -> Path:
        """Return a story file of n frames (written once)."""
        path = self.tmp / f"story-{n}-{size}.yaml"
        return path if path.exists() else write_story(path, n, size)

    def sb(self, story: Path, out: Path, *args: str, timeout: float = 900) -> Proc:
        """Run `storyboard run STORY -o OUT ARGS --yes --quiet` against the fake server."""
        bg = Background(self.server.proc.pid)
        env = client_env(self.server.base_url, self.tmp)
        cmd = storyboard_cmd()
        if self.code is not None:
            env["PYTHONPATH"] = str(self.code)
            cmd = [sys.executable, "-m", "storyboard"]
        p = run([*cmd, "run", str(story), "-o", str(out), *args, "--yes", "--quiet"], env=env, cwd=self.tmp,
                timeout=timeout)
        self.peak_load = max(self.peak_load, bg.cores())
        if p.rc != 0:
            self.notes.append(f"`storyboard run {story.name} {' '.join(args)}` exited {p.rc}: {p.err.strip()[-300:]}")
        return p

    def add(self, name: str, measured: str, target: str = "", ratio: float | None = None) -> None:
        """Add a row; a ratio makes it a verdict."""
        ok = None if ratio is None else ratio <= 1.0 + 1e-9
        self.rows.append(Row(name, measured, target, ratio, ok))
        print(f"  {name}: {measured}" + (f"  (target {target}, {'pass' if ok else 'FAIL'})" if target else ""),
              file=sys.stderr, flush=True)


if __name__ == "__main__":  # the fake server's process (Server starts it so)
    if sys.argv[1:] == ["--serve"]:
        serve()
