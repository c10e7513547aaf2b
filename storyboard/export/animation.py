"""GIF and WebP animatics: each picked frame with an image, shown for its duration, looping."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from functools import partial
from typing import IO, TYPE_CHECKING, Any, Literal

from storyboard import threads
from storyboard.errors import UsageError

if TYPE_CHECKING:
    from storyboard.export.job import ExportJob

ANIMATIC_MAX_SIDE = 1024


def write_animation(f: IO[bytes], job: ExportJob, fmt: Literal["GIF", "WEBP"]) -> None:
    """Write the picked frames with images as an animation, each for its duration, looping; a frame
    at a time, so memory does not grow with the board."""
    canvases = _canvases(job)
    first = next(canvases, None)
    if first is None:
        raise UsageError("nothing to export: no frame image could be read. Run the story again.")
    if fmt == "GIF":
        _write_gif(f, first, canvases)
    else:
        _write_webp(f, first, canvases)


def _write_gif(f: IO[bytes], first: tuple[Any, int], rest: Iterator[tuple[Any, int]]) -> None:
    """Quantize the frames on every core (Pillow lets go of the GIL; it is most of a GIF's time),
    a few ahead of the one being written, and write them in order."""
    from concurrent.futures import ThreadPoolExecutor

    from storyboard.export.gif import GifWriter

    gif = GifWriter(f, first[0].size)
    n = threads.cores()
    with ThreadPoolExecutor(n, thread_name_prefix="gif") as pool:
        work = (partial(_palette, canvas, ms) for canvas, ms in itertools.chain([first], rest))
        for frame, ms in threads.ahead(pool, work, 2 * n):
            gif.add(frame, ms)
    gif.close()


def _palette(canvas: Any, ms: int) -> tuple[Any, int]:
    """Return the frame with its own adaptive palette (frames of a story rarely share colours), and
    its duration."""
    from PIL import Image

    return canvas.quantize(colors=256, method=Image.Quantize.MEDIANCUT), ms


# libwebp's settings for the animation, as Pillow sets them for a lossy one (kmin/kmax: keyframes)
WEBP = {"quality": 85, "method": 4, "kmin": 3, "kmax": 5}


def _write_webp(f: IO[bytes], first: tuple[Any, int], rest: Iterator[tuple[Any, int]]) -> None:
    """Feed libwebp's animation encoder (the one Pillow's `save_all` drives) a frame at a time: it
    keeps the frames compressed. Where this Pillow's encoder is not the one known here, Pillow's own
    `save_all` does it, holding every frame until the end."""
    second = next(rest, None)
    encoder = _webp_encoder(first[0].size) if second is not None else None
    if encoder is not None:
        try:
            encoder.add(first[0].getim(), 0, False, WEBP["quality"], 100, WEBP["method"])
        except (AttributeError, TypeError):  # another Pillow's wrapper
            encoder = None
    if encoder is None:
        frames = [first, *([second] if second is not None else []), *rest]
        images, durations = [c for c, _ in frames], [ms for _, ms in frames]
        images[0].save(f, format="WEBP", save_all=True, append_images=images[1:],
                       duration=durations if len(durations) > 1 else durations[0], loop=0,
                       quality=WEBP["quality"], method=WEBP["method"])
        return
    t = first[1]
    for canvas, ms in itertools.chain([second], rest):
        encoder.add(canvas.getim(), t, False, WEBP["quality"], 100, WEBP["method"])
        t += ms
    encoder.add(None, t, False, WEBP["quality"], 100, 0)  # the end: the last frame's duration
    data = encoder.assemble("", b"", "")
    if not data:
        raise OSError("libwebp wrote no animation")
    f.write(data)


def _webp_encoder(size: tuple[int, int]) -> Any | None:
    """Return libwebp's animation encoder as Pillow wraps it (no background, looping), or None where
    this Pillow has none or another signature."""
    from PIL import Image

    try:
        from PIL import _webp

        if not hasattr(Image.Image, "getim"):
            return None
        return _webp.WebPAnimEncoder(size, 0, 0, False, WEBP["kmin"], WEBP["kmax"], False, False)
    except (ImportError, AttributeError, TypeError):
        return None


def _canvases(job: ExportJob) -> Iterator[tuple[Any, int]]:
    """Yield each picked frame with an image on the animation's canvas, and its duration in ms."""
    from PIL import Image, ImageOps

    canvas_size: tuple[int, int] | None = None
    frames = job.board.frames
    for done, frame in enumerate(frames, 1):
        image = frame.open((ANIMATIC_MAX_SIDE, ANIMATIC_MAX_SIDE))
        job.progress(done, len(frames))
        if image is None:
            continue
        if canvas_size is None:
            # The first frame sets the canvas: its aspect, at most ANIMATIC_MAX_SIDE on its long side.
            scale = min(1.0, ANIMATIC_MAX_SIDE / max(image.size))
            canvas_size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        fitted = ImageOps.contain(image, canvas_size, method=Image.Resampling.LANCZOS)
        canvas = Image.new("RGB", canvas_size, (0, 0, 0))
        canvas.paste(fitted, ((canvas_size[0] - fitted.width) // 2, (canvas_size[1] - fitted.height) // 2))
        yield canvas, round(frame.duration * 1000)
