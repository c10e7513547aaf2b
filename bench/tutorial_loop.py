"""The tutorials' way, on today's SDK: one request after another in a loop, each image decoded and written.

What /work/shared/seeds/chaining-dalle-calls.md teaches (a list of prompts, `images.create` in a `for`
loop, save each image), with the 3.x client: `OpenAI().images.generate(...)`, `b64_json` decoded.
bench/run.py times it against `storyboard run` on the same prompts.

    python bench/tutorial_loop.py PROMPTS.txt OUT_DIR [--size 1024x1024]
"""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

from openai import OpenAI


def main() -> None:
    """Generate one image per line of PROMPTS.txt into OUT_DIR, in order."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompts", type=Path, help="one prompt a line")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", default="1024x1024")
    parser.add_argument("--model", default="gpt-image-2")
    args = parser.parse_args()

    prompts = [p for p in args.prompts.read_text(encoding="utf-8").splitlines() if p.strip()]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    client = OpenAI()  # OPENAI_API_KEY and OPENAI_BASE_URL from the environment
    for i, prompt in enumerate(prompts):
        response = client.images.generate(model=args.model, prompt=prompt, n=1, size=args.size)
        data = base64.b64decode(response.data[0].b64_json)
        with open(args.out_dir / f"journey_{i + 1}.png", "wb") as handler:
            handler.write(data)


if __name__ == "__main__":
    main()
