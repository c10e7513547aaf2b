"""How long one draft panel takes to draw and encode (the draft backend's whole cost per frame).

    python bench/draft.py [--size WxH] [--repeat N]

Prints the best and median of N renders of a typical request (a prompt of a few lines, a source
image drawn in), after one warm-up render that finds and opens the fonts. Target: well under 50 ms
at 1536x1024.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storyboard.backends import FrameLabel, ImageRequest, InputImage  # noqa: E402
from storyboard.backends.draft.panel import render  # noqa: E402


def _source(w: int, h: int) -> InputImage:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (w, h), (120, 90, 200)).save(buf, "PNG")
    data = buf.getvalue()
    return InputImage(data, hashlib.sha256(data).hexdigest(), "image/png", "source", "frame city")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1536x1024")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    w, h = (int(n) for n in args.size.split("x"))
    prompts = {
        "generate": ImageRequest("generate", "gpt-image-2", "A small silver robot dog with one glowing blue eye "
                                 "explores a rain-soaked neon city at night. " * 3, args.size, "medium",
                                 label=FrameLabel(2, "city", None, 1, 1)),
        "edit": ImageRequest("edit", "gpt-image-2", "the same street at night, lights in puddles", args.size,
                             "medium", images=(_source(w, h),), label=FrameLabel(3, "night", None, 1, 1, chain="edit")),
    }  # fmt: skip
    for kind, request in prompts.items():
        render(request)  # fonts found and opened once
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            render(request)
            times.append(time.perf_counter() - start)
        print(f"draft {kind:8} {args.size}: best {min(times) * 1000:.1f} ms, median {statistics.median(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
