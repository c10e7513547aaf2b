"""The run path's three figures (issue 14): `storyboard run` as a user runs it, whole process, against
the fake Images API over loopback, on 1536x1024 PNGs.

    efficiency      = (wall(64 frames, -j 16, latency 0.5 s) - wall(1-frame run, latency 0)) / 2.0 s
                      (2.0 s: four rounds of sixteen requests at 0.5 s)                     target <= 1.05
    speed-up        = wall(bench/tutorial_loop.py, the same 64 frames, 0.5 s)
                      / wall(64 frames, -j 16, 0.5 s)                                       target >= 11x
    per extra frame = (wall(200 frames, -j 8, latency 0) - wall(1-frame run, latency 0)) / 199
                                                                                            target <= 8 ms

Beneath them, the floor: bench/sdk_loop.py (the SDK alone, as parallel, nothing verified or
written; then storyboard's promises added one by one: a journal line fsynced before each request,
each image written and fsynced in its slot, each image decoded in its slot; then the decode alone,
in the slot and after it, and every promise with the decode after the slot) timed with the
efficiency's formula. What storyboard adds is its efficiency minus each step's.

Every many-frame run is paired with a 1-frame run just before it (the machine's speed drifts), and
the median of the pairs counts; the loop runs once (it takes half a minute). The CPU time of the
runs (user + system, the client process alone) is shown beside the wall times: on a shared machine
it moves less than the wall time, and tells what a change saved.

    python bench/runpath.py                 # 5 pairs each: about two minutes
    python bench/runpath.py --pairs 3 --code /tmp/oldmain   # another checkout, for before/after
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, Bench, Proc, Server, client_env, prompts, run  # noqa: E402

SIZE = "1536x1024"
FRAMES, PARALLEL, LATENCY = 64, 16, 0.5
IDEAL = -(-FRAMES // PARALLEL) * LATENCY  # four rounds of sixteen: 2.0 s
OVERHEAD_FRAMES, OVERHEAD_PARALLEL = 200, 8
TARGETS = {"efficiency": 1.05, "speed-up": 11.0, "per extra frame": 8.0}


def pairs(b: Bench, n: int, parallel: int, latency: float, count: int) -> tuple[list[Proc], list[Proc]]:
    """Run (a 1-frame run at latency 0, then n frames at `latency`) `count` times; return both lists."""
    ones, runs = [], []
    for _ in range(count):
        b.server.config(latency=0.0)
        ones.append(b.sb(b.story(1, SIZE), b.out_dir("one"), "-j", "1"))
        b.server.config(latency=latency)
        runs.append(b.sb(b.story(n, SIZE), b.out_dir(f"{n}x{parallel}"), "-j", str(parallel)))
    return ones, runs


def _walls(procs: list[Proc]) -> str:
    return ", ".join(f"{p.wall:.2f}" for p in procs)


def _cpu(procs: list[Proc]) -> float:
    return statistics.median(p.cpu for p in procs)


def efficiency(b: Bench, count: int) -> tuple[float, list[Proc]]:
    """Add the efficiency row; return it and the 64-frame runs."""
    ones, runs = pairs(b, FRAMES, PARALLEL, LATENCY, count)
    effs = [(r.wall - o.wall) / IDEAL for o, r in zip(ones, runs, strict=True)]
    eff = statistics.median(effs)
    b.add(f"efficiency: {FRAMES} frames -j {PARALLEL} at {LATENCY} s (walls {_walls(runs)}; cpu {_cpu(runs):.2f} s) "
          f"vs 1-frame at 0 s (walls {_walls(ones)}; cpu {_cpu(ones):.2f} s), / {IDEAL:.1f} s; pairs "
          f"{min(effs):.3f}-{max(effs):.3f}", f"{eff:.3f}", f"<= {TARGETS['efficiency']}", eff / TARGETS["efficiency"])
    return eff, runs


def speed_up(b: Bench, runs: list[Proc]) -> float:
    """Add the tutorial loop's row and the speed-up over it (against the efficiency's 64-frame runs)."""
    b.server.config(latency=LATENCY)
    prompt_file = b.tmp / f"prompts-{FRAMES}.txt"
    prompt_file.write_text("\n".join(prompts(FRAMES)) + "\n", encoding="utf-8")
    loop = run([sys.executable, str(ROOT / "bench" / "tutorial_loop.py"), str(prompt_file), str(b.out_dir("loop")),
                "--size", SIZE], env=client_env(b.server.base_url, b.tmp), cwd=b.tmp)
    if loop.rc != 0:
        b.notes.append(f"tutorial_loop.py exited {loop.rc}: {loop.err.strip()[-300:]}")
    mine = statistics.median(r.wall for r in runs)
    speed = loop.wall / mine
    b.add(f"speed-up: tutorial loop {loop.wall:.2f} s / storyboard run -j {PARALLEL} {mine:.2f} s, same {FRAMES} frames",
          f"{speed:.1f}x", f">= {TARGETS['speed-up']:g}x", TARGETS["speed-up"] / speed)
    return speed


FLOOR_STEPS = {
    "the SDK alone": (),
    "+ a journal line fsynced before each request": ("--journal",),
    "+ each image written and fsynced in its slot": ("--journal", "--durable"),
    "+ each image decoded in its slot (storyboard's promises, done plainly)": ("--journal", "--durable", "--decode"),
    "the SDK and a decode of each image in its slot, nothing else": ("--decode",),
    "the SDK and a decode of each image after its slot frees, nothing else": ("--decode-later",),
    "every promise, the decode after the slot frees": ("--journal", "--durable", "--decode-later"),
}


def floor(b: Bench, count: int, eff: float) -> None:
    """Add bench/sdk_loop.py's efficiency, by the same formula, for each step of FLOOR_STEPS."""
    files = {}
    for n in (1, FRAMES):
        files[n] = b.tmp / f"prompts-{n}.txt"
        files[n].write_text("\n".join(prompts(n)) + "\n", encoding="utf-8")
    env = client_env(b.server.base_url, b.tmp)
    script = str(ROOT / "bench" / "sdk_loop.py")

    def once(n: int, latency: float, flags: tuple[str, ...]) -> Proc:
        b.server.config(latency=latency)
        p = run([sys.executable, script, str(files[n]), str(b.out_dir("sdk")), "-j", str(PARALLEL), "--size", SIZE,
                 *flags], env=env, cwd=b.tmp)
        if p.rc != 0:
            b.notes.append(f"sdk_loop.py {' '.join(flags)} exited {p.rc}: {p.err.strip()[-300:]}")
        return p

    for label, flags in FLOOR_STEPS.items():
        effs = []
        for _ in range(count):
            one = once(1, 0.0, flags)
            effs.append((once(FRAMES, LATENCY, flags).wall - one.wall) / IDEAL)
        mid = statistics.median(effs)
        how = " ".join(("bench/sdk_loop.py", *flags))
        b.add(f"floor, {label} ({how}): efficiency by the same formula; pairs "
              f"{min(effs):.3f}-{max(effs):.3f}; storyboard adds {eff - mid:+.3f}", f"{mid:.3f}")


def per_extra_frame(b: Bench, count: int) -> float:
    """Add the per-extra-frame row at zero latency; return it in ms."""
    n = OVERHEAD_FRAMES
    ones, runs = pairs(b, n, OVERHEAD_PARALLEL, 0.0, count)
    per = [(r.wall - o.wall) / (n - 1) * 1000 for o, r in zip(ones, runs, strict=True)]
    cpu = [(r.cpu - o.cpu) / (n - 1) * 1000 for o, r in zip(ones, runs, strict=True)]
    ms = statistics.median(per)
    b.add(f"per extra frame at 0 s: {n} frames -j {OVERHEAD_PARALLEL} (walls {_walls(runs)}) vs 1-frame "
          f"(walls {_walls(ones)}); cpu per extra frame {statistics.median(cpu):.1f} ms",
          f"{ms:.1f} ms", f"<= {TARGETS['per extra frame']:g} ms", ms / TARGETS["per extra frame"])
    return ms


def main() -> int:
    """Measure and print the three figures; exit 1 when one misses its target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="pairs of runs per figure (the median counts)")
    parser.add_argument("--code", type=Path, help="measure another checkout of storyboard (put on PYTHONPATH)")
    parser.add_argument("--no-floor", action="store_true", help="skip the SDK-alone floor (bench/sdk_loop.py)")
    args = parser.parse_args()
    server = Server()
    try:
        with tempfile.TemporaryDirectory(prefix="storyboard-runpath-") as tmp:
            b = Bench(server, Path(tmp), quick=False, code=args.code)
            server.config()
            b.sb(b.story(1, SIZE), b.out_dir("warm-up"))  # bytecode and page caches warm, as for a user
            eff, runs = efficiency(b, args.pairs)
            speed = speed_up(b, runs)
            if not args.no_floor:
                floor(b, args.pairs, eff)
            per = per_extra_frame(b, args.pairs)
    finally:
        server.close()
    for note in b.notes:
        print(f"note: {note}")
    print(f"efficiency {eff:.3f} (target <= {TARGETS['efficiency']}), speed-up {speed:.1f}x (target >= "
          f"{TARGETS['speed-up']:g}x), per extra frame {per:.1f} ms (target <= {TARGETS['per extra frame']:g} ms)")
    return 0 if b.rows and all(r.ok for r in b.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
