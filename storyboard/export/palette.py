"""The board's colours, shared by the storyboard PDF and the contact-sheet PNG (the comic has its own)."""

from __future__ import annotations

Colour = tuple[int, int, int]
INK: Colour = (28, 28, 30)
GREY: Colour = (92, 92, 98)
FAINT: Colour = (140, 140, 146)
ACCENT: Colour = (38, 86, 150)
RULE: Colour = (200, 200, 204)
MATTE: Colour = (236, 236, 238)
EMPTY: Colour = (247, 247, 248)
ALERT: Colour = (176, 32, 40)
WHITE: Colour = (255, 255, 255)
