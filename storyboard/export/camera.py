"""Camera moves for the animatic: which part of a frame's image the camera sees at each moment.

A view is a rectangle of the image in fractions of its size (centre and zoom); a move eases
nothing and jumps nowhere: zoom and centre change linearly over the frame, and the picture is
resampled from a float box (Pillow `resize(box=...)`), so the motion is smooth to the sub-pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

PUSH = 1.15  # a push-in ends 15% closer; a pull-out starts there
PAN_ZOOM = 1.12  # a pan or tilt looks through a window 1/1.12 of the image, moved edge to edge


@dataclass(frozen=True)
class View:
    """What the camera sees: the centre (fractions of width and height) and the zoom (1 = the whole image)."""

    cx: float
    cy: float
    zoom: float

    def box(self, width: int, height: int) -> tuple[float, float, float, float]:
        """Return the view as a float pixel box (left, top, right, bottom) of a width x height image."""
        half_w, half_h = width / self.zoom / 2, height / self.zoom / 2
        return (self.cx * width - half_w, self.cy * height - half_h, self.cx * width + half_w, self.cy * height + half_h)


def view_at(move: str, t: float) -> View:
    """Return the camera's view at fraction `t` (0 to 1) of a frame with `move`."""
    t = min(max(t, 0.0), 1.0)
    if move == "push-in":
        return View(0.5, 0.5, 1 + (PUSH - 1) * t)
    if move == "pull-out":
        return View(0.5, 0.5, PUSH - (PUSH - 1) * t)
    edge = 0.5 / PAN_ZOOM  # the centre's range that keeps the window inside the image
    if move in ("pan-left", "pan-right"):
        # Panning left, the camera turns left: the window travels from the right edge to the left.
        a, b = (1 - edge, edge) if move == "pan-left" else (edge, 1 - edge)
        return View(a + (b - a) * t, 0.5, PAN_ZOOM)
    if move in ("tilt-up", "tilt-down"):
        a, b = (1 - edge, edge) if move == "tilt-up" else (edge, 1 - edge)
        return View(0.5, a + (b - a) * t, PAN_ZOOM)
    return View(0.5, 0.5, 1.0)


def max_zoom(move: str) -> float:
    """Return the closest a move gets (how much larger than the output its source should be kept)."""
    return {"static": 1.0, "push-in": PUSH, "pull-out": PUSH}.get(move, PAN_ZOOM)


def render_view(source: Image.Image, view: View, size: tuple[int, int]) -> Image.Image:
    """Return the part of `source` the view sees, resampled to `size` (sub-pixel exact)."""
    from PIL import Image

    return source.resize(size, Image.Resampling.BILINEAR, box=view.box(source.width, source.height))


def fit(image_size: tuple[int, int], canvas: tuple[int, int]) -> tuple[int, int, int, int]:
    """Return (x, y, w, h): the largest rect of the image's aspect centred in the canvas (letterboxed)."""
    iw, ih = image_size
    cw, ch = canvas
    scale = min(cw / iw, ch / ih)
    w, h = min(cw, max(1, round(iw * scale))), min(ch, max(1, round(ih * scale)))
    if cw - w <= 2 and ch - h <= 2:
        return 0, 0, cw, ch  # a pixel short of the canvas (even sizes round): fill it, no bars, no pasting
    return (cw - w) // 2, (ch - h) // 2, w, h
