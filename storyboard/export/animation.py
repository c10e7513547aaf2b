"""GIF and WebP animatics: each picked frame with an image, shown for its duration, looping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, Literal

from storyboard.errors import UsageError

if TYPE_CHECKING:
    from storyboard.export.job import ExportJob

ANIMATIC_MAX_SIDE = 1024


def write_animation(f: IO[bytes], job: ExportJob, fmt: Literal["GIF", "WEBP"]) -> None:
    """Write the picked frames with images as an animation, each for its duration, looping. A GIF
    is written a frame at a time; a WebP (libwebp's animation encoder) takes every frame at once."""
    from storyboard.export.gif import GifWriter

    gif: GifWriter | None = None
    shown: list[Any] = []  # the WebP's frames
    durations: list[int] = []
    for canvas, ms in _canvases(job):
        if fmt == "GIF":
            gif = gif or GifWriter(f, canvas.size)
            # Each GIF frame gets its own adaptive palette: frames of a story rarely share colours.
            gif.add(canvas.quantize(colors=256, method=_mediancut()), ms)
        else:
            shown.append(canvas)
            durations.append(ms)
    if gif is not None:
        gif.close()
        return
    if not shown:
        raise UsageError("nothing to export: no frame image could be read. Run the story again.")
    shown[0].save(f, format=fmt, save_all=True, append_images=shown[1:],
                  duration=durations if len(durations) > 1 else durations[0], loop=0, quality=85, method=4)


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


def _mediancut() -> Any:
    from PIL import Image

    return Image.Quantize.MEDIANCUT
