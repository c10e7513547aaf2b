"""A 429 storm (issue 11, item 1): 40 frames, 8 in flight, a server allowing 12 images in any 2 s
with 15 % other faults (connections dropped before or after the work, 500, 502, 503).

Runs `storyboard run` as a user does, in a subprocess, against the fake Images API started here on
127.0.0.1, five times in a row (each into a fresh folder), and prints per run: frames saved,
requests, 429s, wall time and the ideal the server's limit allows (the last image the server can
admit is admitted at (images - 12) / 6 s on its bucket of 12 refilled over 2 s; add one answer's
latency). Wall time is the whole process (start-up and the contact sheet included); span is the
server's view, first request to last answer, which is what pacing decides and what the ratio
compares with the ideal. The exit code is 1 unless every run saved every frame.

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


def write_story(folder: Path, frames: int = FRAMES, small: bool = False) -> Path:
    """Write a story of `frames` small independent frames (`small`: 256x256 DALL·E 2 ones)."""
    doc = {
        "title": "Storm",
        **({"model": "dall-e-2", "size": "256x256", "quality": "standard"} if small else
           {"size": "816x816", "quality": "low"}),
        "parallel": PARALLEL,
        "frames": [{"id": f"f{n:02d}", "prompt": f"f{n:02d}: a lighthouse in a storm, ink"} for n in range(1, frames + 1)],
    }
    path = folder / "storm.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


HEADERS = True  # the server sends the x-ratelimit triples (--no-headers: a server that does not)


def storm_server(seed: int, hint: str = "ms", limiter: str = "window") -> FakeImagesAPI:
    """Return the storm's fake server (not started)."""
    api = FakeImagesAPI(ipm=LIMIT, window_seconds=WINDOW, fault_rate=FAULT_RATE, seed=seed)
    api.retry_hint, api.limiter, api.ratelimit_headers = hint, limiter, HEADERS
    api.fault_mix = [dict(f) for f in STORM_MIX]
    rng = random.Random(seed)
    api.latency = lambda _rec: rng.uniform(*LATENCY)
    return api


def ideal_seconds(images: int, limiter: str = "bucket") -> float:
    """Return the shortest time the server's limit allows for `images` admitted images, first
    request to last answer: a bucket admits LIMIT at once, then LIMIT / WINDOW a second; a sliding
    window admits LIMIT every WINDOW seconds. Plus one answer's mean latency."""
    if limiter == "bucket":
        admitting = max(0, images - LIMIT) * WINDOW / LIMIT
    else:
        admitting = math.floor((images - 1) / LIMIT) * WINDOW
    return admitting + sum(LATENCY) / 2


# --bare: the run alone, as the library runs it (no contact sheet, no thumbnails), so that on a busy
# machine the client's own work does not pace the run instead of the server's limit.
BARE = """
import json, os, sys
from pathlib import Path
from storyboard.backends import get_backend
from storyboard.plan import build_plan
from storyboard.run.options import RunOptions
from storyboard.run.session import run_plan
from storyboard.story import load_story
base = os.environ["OPENAI_BASE_URL"]
plan = build_plan(load_story(Path(sys.argv[1])), backend="openai", host=base.split("/")[2])
backend = get_backend("openai", api_key=os.environ["OPENAI_API_KEY"], base_url=base)
outcome = run_plan(plan, Path(sys.argv[2]), backend, RunOptions(parallel=plan.loaded.story.parallel), write_sheet=False)
frames = [{"picked": e["picked"], "status": e["status"]} for e in outcome.manifest["frames"]]
print(json.dumps({"frames": frames}))
"""


def one_run(seed: int, tmp: Path, hint: str = "ms", limiter: str = "bucket", code: Path = ROOT,
            bare: bool = False, small: bool = False) -> dict[str, float | int]:
    """Run the storm once; return its figures."""
    story = write_story(tmp, small=small)
    out = tmp / f"out-{seed}"
    with storm_server(seed, hint, limiter) as api:
        env = {**os.environ, "OPENAI_BASE_URL": api.base_url, "OPENAI_API_KEY": "sk-bench-storm",
               "PYTHONPATH": str(code)}
        command = ([sys.executable, "-c", BARE, str(story), str(out)] if bare else
                   [sys.executable, "-m", "storyboard", "run", str(story), "-o", str(out), "--yes", "--json", "-q"])
        t0 = time.perf_counter()
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd=tmp)
        wall = time.perf_counter() - t0
        reqs = api.image_requests()
        billed = api.billed
        span = max((r.finished or 0) for r in reqs) - min(r.started for r in reqs) if reqs else 0.0
    import json

    try:
        summary = json.loads(proc.stdout)
        saved = sum(1 for f in summary["frames"] if f["picked"] and f["status"] == "ok")
    except ValueError:
        saved = 0
        sys.stderr.write(proc.stdout + proc.stderr)
    admitted = max(FRAMES, sum(1 for r in reqs if r.images))  # with drops after the work, more than 40
    return {
        "saved": saved,
        "exit": proc.returncode,
        "requests": len(reqs),
        "429s": sum(r.status == 429 for r in reqs),
        "faults": sum(r.fault is not None for r in reqs),
        "billed": billed,
        "wall": wall,
        "span": span,
        "ideal": ideal_seconds(admitted, limiter),
    }


def main() -> int:
    """Run the storm; print one line per run and a summary."""
    global WINDOW, HEADERS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1, help="seed of the first run (each run adds 1)")
    parser.add_argument("--hint", choices=["ms", "seconds", "date", "none"], default="ms",
                        help="what a 429 carries: retry-after-ms, whole-second retry-after, an HTTP date, nothing")
    parser.add_argument("--limiter", choices=["window", "bucket"], default="bucket",
                        help="the server's limit: 12 in any 2 s, or a bucket of 12 refilled over 2 s")
    parser.add_argument("--window", type=float, default=WINDOW,
                        help="seconds the server's 12 images take to come back (a busy machine that cannot process "
                             "6 images a second needs a slower limit for the limit to be what paces the run)")
    parser.add_argument("--no-headers", action="store_true", help="the server sends no x-ratelimit headers")
    parser.add_argument("--bare", action="store_true", help="run the library alone (no contact sheet): see BARE")
    parser.add_argument("--small", action="store_true",
                        help="256x256 DALL·E 2 frames: less work per image for a busy client machine")
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="the checkout whose storyboard runs (e.g. an older main, for a before/after)")
    args = parser.parse_args()
    WINDOW, HEADERS = args.window, not args.no_headers
    print(f"storm: {FRAMES} frames, -j {PARALLEL}, server {LIMIT} images / {WINDOW:g} s, "
          f"{FAULT_RATE:.0%} drops and 5xx, latency {LATENCY[0]}-{LATENCY[1]} s, 429 hint {args.hint}, "
          f"{args.limiter}{', no headers' if args.no_headers else ''}{', bare' if args.bare else ''}"
          f"{', small' if args.small else ''}, code {args.code}")
    print(f"{'run':>3} {'saved':>6} {'exit':>4} {'requests':>8} {'429s':>5} {'faults':>6} {'billed':>6} "
          f"{'wall s':>7} {'span s':>7} {'ideal s':>7} {'ratio':>5}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="storm-") as tmp:
        for i in range(args.runs):
            row = one_run(args.seed + i, Path(tmp), args.hint, args.limiter, args.code.resolve(), args.bare, args.small)
            rows.append(row)
            print(f"{i + 1:>3} {row['saved']:>3}/{FRAMES} {row['exit']:>4} {row['requests']:>8} {row['429s']:>5} "
                  f"{row['faults']:>6} {row['billed']:>6} {row['wall']:>7.2f} {row['span']:>7.2f} "
                  f"{row['ideal']:>7.2f} {row['span'] / row['ideal']:>5.2f}", flush=True)
    full = sum(r["saved"] == FRAMES for r in rows)
    print(f"all frames saved in {full}/{len(rows)} runs; median 429s {statistics.median(r['429s'] for r in rows):g}, "
          f"median span/ideal {statistics.median(r['span'] / r['ideal'] for r in rows):.2f}, "
          f"worst {max(r['span'] / r['ideal'] for r in rows):.2f}")
    return 0 if full == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
