"""The SDK alone, as parallel as `storyboard run -j J`: the floor under issue 14's efficiency figure.

AsyncOpenAI (retries off, as storyboard sets it) sends one `images.generate` per prompt with at
most J in flight, and each answer's `b64_json` is decoded to bytes. Nothing else happens unless
asked, each within the request's slot, as storyboard promises: `--journal` appends a line to
OUT_DIR/journal and fsyncs it before each request goes (what may have been paid for is known after
a kill), `--durable` writes every image to OUT_DIR and fsyncs it and the folder, and `--decode`
decodes every image whole with Pillow (the verification). `--decode-later` decodes each image on one
thread after its slot has freed instead (the next request goes at once; the run still waits for
every decode): the cheapest place a verification can have (two threads measure the same here, the
default pool of six worse). bench/runpath.py times this script with the same formula as
`storyboard run`: each promise's cost, and what storyboard adds on top.

    python bench/sdk_loop.py PROMPTS.txt OUT_DIR [-j 16] [--size 1536x1024] [--journal] [--durable] [--decode | --decode-later]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from openai import AsyncOpenAI


async def generate_all(args: argparse.Namespace, prompts: list[str]) -> None:
    """Generate every prompt, at most args.j at once."""
    client = AsyncOpenAI(max_retries=0)  # OPENAI_API_KEY and OPENAI_BASE_URL from the environment
    slots = asyncio.Semaphore(args.j)
    loop = asyncio.get_running_loop()
    journal = open(args.out_dir / "journal", "ab") if args.journal else None  # noqa: SIM115 - closed below
    later: list[asyncio.Future[None]] = []
    decoder = ThreadPoolExecutor(1, thread_name_prefix="decode")

    async def one(i: int, prompt: str) -> None:
        async with slots:
            if journal is not None:
                await loop.run_in_executor(None, append, journal, f"sent {i + 1}\n".encode())
            response = await client.images.generate(model=args.model, prompt=prompt, n=1, size=args.size)
            data = base64.b64decode(response.data[0].b64_json or "")
            if args.decode:
                await loop.run_in_executor(None, decode, data)
            if args.durable:
                await loop.run_in_executor(None, write, args.out_dir / f"{i + 1:03d}.png", data)
        if args.decode_later:
            later.append(loop.run_in_executor(decoder, decode, data))

    try:
        await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts)))
        await asyncio.gather(*later)
    finally:
        await client.close()
        decoder.shutdown()
        if journal is not None:
            journal.close()


def append(journal: BinaryIO, line: bytes) -> None:
    """Append a line and fsync it."""
    journal.write(line)
    journal.flush()
    os.fsync(journal.fileno())


def decode(data: bytes) -> None:
    """Decode an image whole, as storyboard verifies one."""
    from PIL import Image

    Image.open(io.BytesIO(data)).load()


def write(path: Path, data: bytes) -> None:
    """Write bytes, then fsync the file and its folder."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main() -> None:
    """Generate one image per line of PROMPTS.txt."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompts", type=Path, help="one prompt a line")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("-j", type=int, default=16, help="requests in flight at most")
    parser.add_argument("--size", default="1536x1024")
    parser.add_argument("--model", default="gpt-image-2")
    parser.add_argument("--journal", action="store_true", help="append and fsync a line before each request")
    parser.add_argument("--durable", action="store_true", help="write every image and fsync it")
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--decode", action="store_true", help="decode every image whole (Pillow) in its slot")
    when.add_argument("--decode-later", action="store_true", help="decode every image after its slot frees")
    args = parser.parse_args()
    prompts = [p for p in args.prompts.read_text(encoding="utf-8").splitlines() if p.strip()]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(generate_all(args, prompts))


if __name__ == "__main__":
    main()
