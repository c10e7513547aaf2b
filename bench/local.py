"""Overhead of the local backend over the loop a tutorial writes, on the same diffusers pipeline.

    python bench/local.py [--model DIR] [--size WxH] [--steps N] [--repeat R]

overhead = (T_storyboard(12 frames) - T_storyboard(1 frame)) / (T_loop(12) - T_loop(1)), each T the
wall time of a whole process (start-up cancels out in the differences). The loop loads the same
pipeline with `from_pretrained` and calls it 12 times with the same steps, size and seeds, saving each
image as a PNG; storyboard runs a 12-frame story with `--backend local`. Without --steps the steps are
chosen so that the 11 extra frames hold at least 2 s of denoising. Peak memory: the processes' maximum
resident set. Targets: overhead <= 1.10; storyboard's peak <= the loop's + 200 MB.
Default model: the tiny SD pipeline (built into a temporary folder), at 256x256.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOOP = textwrap.dedent("""
    import sys, torch
    from diffusers import StableDiffusionPipeline
    model, n, steps, w, h, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    pipe = StableDiffusionPipeline.from_pretrained(model)
    pipe.set_progress_bar_config(disable=True)
    for i in range(n):
        g = torch.Generator("cpu").manual_seed(i)
        image = pipe(f"frame {i}: a robot dog in the rain", num_inference_steps=steps, guidance_scale=7.0,
                     width=w, height=h, generator=g).images[0]
        image.save(f"{out}/frame-{i:02d}.png")
""")


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Run a process; return its wall seconds and peak resident memory in bytes."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}... failed:\n{err[-2000:]}")
    return wall, usage.ru_maxrss * 1024


def story(n: int, model: Path, size: str, steps: int) -> str:
    frames = "\n".join(
        f"  - id: f{i:02d}\n    prompt: \"frame {i}: a robot dog in the rain\"\n    seed: {i}" for i in range(n)
    )
    return (f"title: Local bench\nmodel: {model}\nsize: \"{size}\"\nparallel: 4\n"
            f"options: {{steps: {steps}, guidance: 7.0}}\nframes:\n{frames}\n")


def main() -> None:
    """Measure and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, help="a Stable Diffusion pipeline folder [default: tiny, built now]")
    ap.add_argument("--size", default="256x256")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement (the median is kept)")
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model = args.model
        if model is None:
            from storyboard.backends.local import tiny
            from storyboard.backends.local.loader import quiet

            quiet()
            model = tiny.build_sd(tmp / "tiny-sd")
        w, h = (int(x) for x in args.size.split("x"))

        def loop(n: int, steps: int) -> tuple[float, int]:
            out = tmp / f"loop-{n}-{time.monotonic_ns()}"
            out.mkdir()
            return timed([sys.executable, "-c", LOOP, str(model), str(n), str(steps), str(w), str(h), str(out)], env)

        def board(n: int, steps: int) -> tuple[float, int]:
            name = f"s{n}-{time.monotonic_ns()}"
            path = tmp / f"{name}.yaml"
            path.write_text(story(n, model, args.size, steps))
            cmd = [sys.executable, "-m", "storyboard", "run", str(path), "--backend", "local", "-o",
                   str(tmp / name), "--quiet", "--device", "cpu"]
            return timed(cmd, env)

        steps = args.steps
        if steps is None:  # calibrate: the 11 extra frames hold at least 2 s of denoising
            steps = 4
            while True:
                extra = loop(12, steps)[0] - loop(1, steps)[0]
                if extra >= 2.0 or steps >= 64:
                    break
                steps = max(steps + 1, int(steps * 2.2 / max(extra, 0.05)))
        results = {}
        for name, fn in (("loop", loop), ("storyboard", board)):
            runs = {n: [fn(n, steps) for _ in range(args.repeat)] for n in (1, 12)}
            results[name] = {n: (statistics.median(t for t, _ in r), max(m for _, m in r)) for n, r in runs.items()}
        loop_extra = results["loop"][12][0] - results["loop"][1][0]
        board_extra = results["storyboard"][12][0] - results["storyboard"][1][0]
        overhead = board_extra / loop_extra
        peak_loop, peak_board = results["loop"][12][1], results["storyboard"][12][1]
        print(f"model {model}, {args.size}, {steps} steps, median of {args.repeat}")
        for name, r in results.items():
            print(f"  {name:<10} 1 frame {r[1][0]:6.2f} s   12 frames {r[12][0]:6.2f} s   peak {r[12][1] / 1e6:7.0f} MB")
        print(f"overhead = ({results['storyboard'][12][0]:.2f} - {results['storyboard'][1][0]:.2f}) / "
              f"({results['loop'][12][0]:.2f} - {results['loop'][1][0]:.2f}) = {overhead:.3f}   (target <= 1.10)")
        print(f"peak memory: storyboard {peak_board / 1e6:.0f} MB, loop {peak_loop / 1e6:.0f} MB, "
              f"difference {(peak_board - peak_loop) / 1e6:+.0f} MB   (target <= +200 MB)")


if __name__ == "__main__":
    main()
