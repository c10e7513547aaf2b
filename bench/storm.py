"""A 429 storm (issue 11, item 1): 40 frames, 8 in flight, a server allowing 12 images in any 2 s
with 15 % other faults (connections dropped before or after the work, 500, 502, 503).

Runs `storyboard run` as a user does, in a subprocess, against the fake Images API started here on
127.0.0.1, five times in a row (each into a fresh folder), and prints per run: frames saved,
requests, 429s, wall time and the ideal the server's limit allows (the last image the server can
admit is admitted at floor((images - 1) / 12) x 2 s; add one answer's latency). The exit code is
1 unless every run saved every frame.

    python bench/storm.py                 # 5 runs
    python bench/storm.py --runs 1 --seed 3
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakeapi import FakeImagesAPI  # noqa: E402

FRAMES, PARALLEL, LIMIT, WINDOW, FAULT_RATE = 40, 8, 12, 2.0, 0.15
LATENCY = (0.10, 0.30)  # seconds per image: time compressed, as a real one takes 10-60 s
STORM_MIX = [{"drop": "before"}, {"drop": "after"}, {"status": 500}, {"status": 502}, {"status": 503}]


def write_story(folder: Path, frames: int = FRAMES) -> Path:
    """Write a story of `frames` small independent frames."""
    doc = {
        "title": "Storm",
        "size": "816x816",
        "quality": "low",
        "parallel": PARALLEL,
        "frames": [{"id": f"f{n:02d}", "prompt": f"f{n:02d}: a lighthouse in a storm, ink"} for n in range(1, frames + 1)],
    }
    path = folder / "storm.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def storm_server(seed: int, hint: str = "ms", limiter: str = "window") -> FakeImagesAPI:
    """Return the storm's fake server (not started)."""
    api = FakeImagesAPI(ipm=LIMIT, window_seconds=WINDOW, fault_rate=FAULT_RATE, seed=seed)
    api.retry_hint, api.limiter = hint, limiter
    api.fault_mix = [dict(f) for f in STORM_MIX]
    rng = random.Random(seed)
    api.latency = lambda _rec: rng.uniform(*LATENCY)
    return api


def ideal_seconds(images: int) -> float:
    """Return the shortest wall time the server's limit allows for `images` admitted images."""
    return math.floor((images - 1) / LIMIT) * WINDOW + sum(LATENCY) / 2


def one_run(seed: int, tmp: Path, hint: str = "ms", limiter: str = "window") -> dict[str, float | int]:
    """Run the storm once; return its figures."""
    story = write_story(tmp)
    out = tmp / f"out-{seed}"
    with storm_server(seed, hint, limiter) as api:
        env = {**os.environ, "OPENAI_BASE_URL": api.base_url, "OPENAI_API_KEY": "sk-bench-storm",
               "PYTHONPATH": str(ROOT)}
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "storyboard", "run", str(story), "-o", str(out), "--yes", "--json", "-q"],
            env=env, capture_output=True, text=True, timeout=600,
        )
        wall = time.perf_counter() - t0
        reqs = api.image_requests()
        billed = api.billed
    import json

    try:
        summary = json.loads(proc.stdout)
        saved = sum(1 for f in summary["frames"] if f["picked"] and f["status"] == "ok")
    except ValueError:
        saved = 0
        sys.stderr.write(proc.stdout + proc.stderr)
    admitted = sum(1 for r in reqs if r.images or r.outcome == "dropped-after")
    return {
        "saved": saved,
        "exit": proc.returncode,
        "requests": len(reqs),
        "429s": sum(r.status == 429 for r in reqs),
        "faults": sum(r.fault is not None for r in reqs),
        "billed": billed,
        "wall": wall,
        "ideal": ideal_seconds(max(admitted, 1)),
    }


def main() -> int:
    """Run the storm; print one line per run and a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1, help="seed of the first run (each run adds 1)")
    parser.add_argument("--hint", choices=["ms", "seconds", "date", "none"], default="ms",
                        help="what a 429 carries: retry-after-ms, whole-second retry-after, an HTTP date, nothing")
    parser.add_argument("--limiter", choices=["window", "bucket"], default="window",
                        help="the server's limit: 12 in any 2 s, or a bucket of 12 refilled over 2 s")
    args = parser.parse_args()
    print(f"storm: {FRAMES} frames, -j {PARALLEL}, server {LIMIT} images / {WINDOW:g} s, "
          f"{FAULT_RATE:.0%} drops and 5xx, latency {LATENCY[0]}-{LATENCY[1]} s, 429 hint {args.hint}")
    print(f"{'run':>3} {'saved':>6} {'exit':>4} {'requests':>8} {'429s':>5} {'faults':>6} {'billed':>6} "
          f"{'wall s':>7} {'ideal s':>7} {'ratio':>5}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="storm-") as tmp:
        for i in range(args.runs):
            row = one_run(args.seed + i, Path(tmp), args.hint, args.limiter)
            rows.append(row)
            print(f"{i + 1:>3} {row['saved']:>3}/{FRAMES} {row['exit']:>4} {row['requests']:>8} {row['429s']:>5} "
                  f"{row['faults']:>6} {row['billed']:>6} {row['wall']:>7.2f} {row['ideal']:>7.2f} "
                  f"{row['wall'] / row['ideal']:>5.2f}", flush=True)
    full = sum(r["saved"] == FRAMES for r in rows)
    print(f"all frames saved in {full}/{len(rows)} runs; median 429s {statistics.median(r['429s'] for r in rows):g}, "
          f"median wall/ideal {statistics.median(r['wall'] / r['ideal'] for r in rows):.2f}")
    return 0 if full == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
