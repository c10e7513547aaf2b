"""Export times and peak memory of a 300-frame story, each export a whole `storyboard export` process.

    python bench/export.py              # 300 frames of 1536x1024 draft PNGs (~1 min to draw them)
    python bench/export.py --frames 60  # a smaller smoke run
    python bench/export.py --keep DIR   # draw the board into DIR once and reuse it on later runs
    python bench/export.py --only gif --only webp   # chosen exports

The board is drawn offline on the draft backend (free): captions, notes, two dialogue lines on
every third frame, a camera move on every other frame. Each export then runs in its own
process; wall time from perf_counter around it, peak RSS from wait4. Exports stream: the PDF
and the MP4 read one image at a time, so their peak memory stays flat as boards grow (compare
--frames 60 with 300), and so do the GIF's and the WebP's (written a frame at a time).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAMERA = ("static", "push-in", "static", "pan-left", "static", "tilt-up")
EXPORTS = [
    ("pdf --layout 6", ["--pdf", "--layout", "6"]),
    ("pdf --layout 3", ["--pdf", "--layout", "3"]),
    ("pdf --layout 1", ["--pdf", "--layout", "1"]),
    ("mp4", ["--mp4"]),
    ("mp4 --burn-captions --crossfade 0.5", ["--mp4", "--burn-captions", "--crossfade", "0.5"]),
    ("sheet", ["--sheet"]),
    ("gif", ["--gif"]),
    ("webp", ["--webp"]),
    ("zip", ["--zip"]),
]


def story(frames: int) -> str:
    """Return a story of `frames` frames with captions, notes, dialogue and camera moves."""
    lines = ["title: Export bench", "size: 1536x1024", "frames:"]
    for i in range(1, frames + 1):
        lines += [
            f"  - id: shot-{i}",
            f'    prompt: "shot {i}: a lighthouse keeper climbs the stairs at night, ink and watercolour"',
            f'    caption: "Shot {i}. The keeper climbs."',
            '    notes: "WIDE. Slow push in. SFX: wind against the glass, the stairs creak under him."',
            f"    camera: {CAMERA[i % len(CAMERA)]}",
            "    duration: 2",
        ]
        if i % 3 == 0:
            lines += ["    dialogue:", '      - keeper: "Nearly there."', '      - radio: "Lamp three is out, over."']
    return "\n".join(lines) + "\n"


def timed(args: list[str]) -> tuple[float, float, int]:
    """Run a command; return (seconds, peak RSS in MB, exit code)."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        print(err, file=sys.stderr)
    return seconds, usage.ru_maxrss / 1024, proc.returncode  # ru_maxrss is in KB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--keep", type=Path, help="a folder for the drawn board, reused when it is there")
    parser.add_argument("--only", action="append", default=[], help="an export to run (its first word); repeatable")
    opts = parser.parse_args()
    storyboard = [sys.executable, "-m", "storyboard"]
    work = Path(tempfile.mkdtemp(prefix="storyboard-export-bench-"))
    try:
        board = opts.keep or work / "board"
        story_file = work / "bench.yaml"
        story_file.write_text(story(opts.frames), encoding="utf-8")
        if not (board / "manifest.json").is_file():
            print(f"drawing {opts.frames} draft frames into {board} ...", flush=True)
            seconds, rss, rc = timed([*storyboard, "run", str(story_file), "--backend", "draft", "-o", str(board), "--quiet", "--yes"])
            if rc != 0:
                return rc
            print(f"  {seconds:.1f} s")
        size = sum(p.stat().st_size for p in (board / "frames").iterdir()) / 1e6
        print(f"\n{opts.frames} frames, {size:.0f} MB of frame images\n")
        print(f"{'export':<40} {'seconds':>8} {'peak RSS MB':>12} {'output MB':>10}")
        for name, flags in EXPORTS:
            if opts.only and name.split()[0] not in opts.only:
                continue
            dest = work / "out" / name.replace(" ", "_").replace("-", "")
            dest.mkdir(parents=True)
            seconds, rss, rc = timed([*storyboard, "export", str(board), *flags, "-o", str(dest)])
            written = sum(p.stat().st_size for p in dest.iterdir()) / 1e6
            print(f"{name:<40} {seconds:>8.1f} {rss:>12.0f} {written:>10.1f}" + ("" if rc == 0 else f"  (exit {rc})"))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
