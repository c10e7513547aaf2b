"""A draft panel's colours: warm paper, ink, and one muted accent a frame, chosen by what names
the frame in its request (its id), so a frame keeps its colour when the story is reordered."""

from __future__ import annotations

import zlib

from storyboard.backends import ImageRequest

Colour = tuple[int, int, int]
PAPER: Colour = (246, 242, 233)
INK: Colour = (40, 38, 35)
MUTED: Colour = (120, 113, 102)
RULE: Colour = (206, 198, 184)
# Muted, distinct accents; consecutive frames differ, so a sheet of drafts has a rhythm.
ACCENTS: tuple[Colour, ...] = (
    (190, 92, 62),  # terracotta
    (44, 122, 126),  # teal
    (86, 96, 164),  # indigo
    (170, 128, 40),  # ochre
    (128, 82, 140),  # plum
    (88, 128, 70),  # moss
    (176, 78, 108),  # rose
    (58, 108, 160),  # slate blue
    (146, 98, 62),  # umber
    (60, 136, 104),  # jade
)


def accent(request: ImageRequest) -> Colour:
    """Return the frame's accent colour: by its id (in the request key), else by its prompt; never by
    its number, which a reorder changes without changing the request."""
    label = request.label
    who = label.id if label is not None and label.id else request.prompt
    return ACCENTS[zlib.crc32(who.encode("utf-8", "surrogatepass")) % len(ACCENTS)]


def mix(a: Colour, b: Colour, t: float) -> Colour:
    """Blend colour a toward b by t (0 = a, 1 = b)."""
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))
