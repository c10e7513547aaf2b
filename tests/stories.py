"""Write story files (and the small images they name) into a test's folder."""

from __future__ import annotations

import functools
import io
import textwrap
from pathlib import Path

from storyboard.story import LoadedStory, load_story


def write_story(folder: Path, text: str, name: str = "story.yaml") -> Path:
    """Write a dedented story to folder/name and return its path."""
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(folder: Path, text: str, name: str = "story.yaml") -> LoadedStory:
    """Write a story and load it (raises StoryError like the CLI would see it)."""
    return load_story(write_story(folder, text, name))


@functools.cache
def png_bytes(width: int = 64, height: int = 64, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """Return a real PNG of one colour."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, format="PNG")
    return buf.getvalue()


def write_png(
    path: Path, width: int = 64, height: int = 64, colour: tuple[int, int, int] = (200, 40, 40)
) -> Path:
    """Write a real PNG of one colour to `path` (folders made) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(width, height, colour))
    return path
