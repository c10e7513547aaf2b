"""A finished board as the exports read it: the picked frame of each story frame, with its image file.

Built from `DIR/manifest.json` alone. A manifest is data: values of the wrong type, a
duration that is not a finite positive number, or a file path outside DIR are read as
"unset" (with a warning where the user should know), never trusted. A frame without a duration
(none in the story) is shown for 2 s, or longer when its caption and dialogue need it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from storyboard.export.subtitles import readable_duration
from storyboard.output.manifest import load_manifest, picked_entries

if TYPE_CHECKING:
    from PIL import Image

Entry = dict[str, Any]

DEFAULT_DURATION = 2.0
MAX_DURATION = 600.0  # story.schema.MAX_DURATION, the most a story may say; a manifest made by hand is held to it too
CAMERA_MOVES = ("static", "push-in", "pull-out", "pan-left", "pan-right", "tilt-up", "tilt-down")
_WHITE = (255, 255, 255)


def _text(value: Any) -> str:
    """Return a manifest value as display text ('' for None and non-text)."""
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value).strip()


@dataclass(frozen=True)
class Frame:
    """One story frame as exported: its picked manifest entry and its image file (None without one)."""

    entry: Entry
    path: Path | None
    duration: float
    label: str  # the frame's number, zero-padded as its file names are ("07")
    unreadable: list[str] = field(default_factory=list, compare=False, repr=False)  # the board's: what could not be read

    @property
    def ident(self) -> str:
        """Return the frame id ('' for an id-less frame)."""
        return _text(self.entry.get("id"))

    @property
    def name(self) -> str:
        """Return how messages name the frame: "frame 07 (forest)"."""
        return f"frame {self.label}" + (f" ({self.ident})" if self.ident else "")

    @property
    def caption(self) -> str:
        """Return the caption."""
        return _text(self.entry.get("caption"))

    @property
    def notes(self) -> str:
        """Return the notes."""
        return _text(self.entry.get("notes"))

    @property
    def passage(self) -> str:
        """Return the adventure passage (the manifest's `text`)."""
        return _text(self.entry.get("text"))

    @property
    def status(self) -> str:
        """Return the entry's status (ok, cached, edited, locked, failed, skipped)."""
        return _text(self.entry.get("status"))

    @property
    def camera(self) -> str:
        """Return the animatic camera move (static when unset or unknown)."""
        move = self.entry.get("camera")
        return move if move in CAMERA_MOVES else "static"

    @property
    def dialogue(self) -> list[tuple[str, str]]:
        """Return the dialogue as (speaker, line) pairs, skipping malformed items."""
        lines = self.entry.get("dialogue")
        if not isinstance(lines, list):
            return []
        out = []
        for item in lines:
            if isinstance(item, dict) and ("speaker" in item or "line" in item):
                out.append((_text(item.get("speaker")), _text(item.get("line"))))
            elif isinstance(item, dict) and len(item) == 1:  # the story's own `- mira: line` form
                (who, line), = item.items()
                out.append((_text(who), _text(line)))
        return [(who, line) for who, line in out if line]

    @property
    def choices(self) -> list[tuple[str, str]]:
        """Return the adventure choices as (label, target frame id) pairs."""
        raw = self.entry.get("choices")
        if not isinstance(raw, list):
            return []
        return [(_text(c.get("label")), _text(c.get("goto"))) for c in raw if isinstance(c, dict)]

    @property
    def size(self) -> tuple[int, int] | None:
        """Return the image's (width, height) as the manifest records it, or None."""
        w, h = self.entry.get("width"), self.entry.get("height")
        if isinstance(w, int) and isinstance(h, int) and not isinstance(w, bool) and w > 0 and h > 0:
            return w, h
        return None

    @property
    def status_word(self) -> str:
        """Return what an empty panel says in capitals: FAILED, SKIPPED or NO IMAGE."""
        return {"failed": "FAILED", "skipped": "SKIPPED"}.get(self.status, "NO IMAGE")

    @property
    def missing_reason(self) -> str:
        """Return why a frame has no image: the short reason and the provider's sentence, or what is missing."""
        error = self.entry.get("error") if isinstance(self.entry.get("error"), dict) else None
        message = _text((error or {}).get("message"))
        reason = "\n".join(dict.fromkeys(s for s in (_text(self.entry.get("reason")), message) if s))
        if not reason and self.entry.get("file") and self.path is None:
            reason = f"{self.entry['file']} is missing"
        elif not reason and self.path is not None:
            reason = f"{self.path.name} could not be read"
        return reason

    def open(self, max_size: tuple[int, int] | None = None) -> Image.Image | None:
        """Decode the image as RGB (transparency over white), or None when it cannot be read.

        With `max_size`, a JPEG is decoded at a reduced scale when that is enough (much faster).
        """
        image = open_rgb(self.path, max_size)
        if image is None and self.path is not None:
            said = (f"{self.name}: {self.entry.get('file')} cannot be read (damaged, or not an image); the export "
                    "shows an empty panel saying so. Run the story again to put storyboard's image back.")
            if said not in self.unreadable:
                self.unreadable.append(said)
        return image


@dataclass
class Board:
    """The frames of a finished board, in story order, and what the manifest says about the story."""

    out_dir: Path
    manifest: dict[str, Any]
    frames: list[Frame]
    warnings: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # frames whose image would not open, as they were drawn

    @property
    def title(self) -> str:
        """Return the story title, or a stand-in when the manifest has none."""
        return _text((self.manifest.get("story") or {}).get("title")) or "Untitled storyboard"

    @property
    def story_file(self) -> str:
        """Return the story file's name ("robot-dog.yaml"), or ''."""
        name = _text((self.manifest.get("story") or {}).get("file")).replace("\\", "/")
        return PurePath(name).name if name else ""

    @property
    def date(self) -> str:
        """Return the day the run finished (YYYY-MM-DD), or ''."""
        return _text((self.manifest.get("run") or {}).get("finished"))[:10]

    @property
    def cast(self) -> list[tuple[str, str]]:
        """Return the characters as (name, description) pairs."""
        raw = self.manifest.get("characters")
        if not isinstance(raw, list):
            return []
        return [(_text(c.get("name")), _text(c.get("description"))) for c in raw if isinstance(c, dict) and c.get("name")]

    @property
    def with_images(self) -> list[Frame]:
        """Return the frames that have an image file."""
        return [f for f in self.frames if f.path is not None]

    @property
    def runtime(self) -> float:
        """Return the animatic running time in seconds (the sum of every frame's duration)."""
        return sum(f.duration for f in self.frames)

    def summary(self, with_date: bool = True) -> str:
        """Return the one-line summary under a title: frames, running time, date."""
        n = len(self.frames)
        seconds = round(self.runtime)
        parts = [f"{n} frame{'s' if n != 1 else ''}", f"running time {seconds // 60}:{seconds % 60:02d}"]
        if self.date and with_date:
            parts.append(self.date)
        return " · ".join(parts)

    def label_of(self, ident: str) -> str:
        """Return the numbered label of the frame with id `ident` ("07 forest"), or the id alone."""
        frame = next((f for f in self.frames if f.ident and f.ident == ident), None)
        return f"{frame.label} {ident}" if frame else ident

    def texts(self) -> list[tuple[Frame | None, str]]:
        """Return every text an export may show, with its frame (None: the title and the cast)."""
        out: list[tuple[Frame | None, str]] = [(None, self.title)]
        out += [(None, f"{name} {desc}") for name, desc in self.cast]
        for f in self.frames:
            parts = [f.ident, f.caption, f.notes, f.passage, *(f"{w} {line}" for w, line in f.dialogue)]
            parts += [label for label, _ in f.choices]
            out += [(f, p) for p in parts if p]
        return out

    def aspect(self) -> float:
        """Return the most common width/height of the frames with images (1.5 without any)."""
        from storyboard.models import dominant_aspect

        return dominant_aspect(f.size for f in self.frames if f.path is not None and f.size)


def uncovered_warnings(board: Board, missing: frozenset[str], what: str = "the PDF") -> list[str]:
    """Return one warning per script of `missing` characters, naming the frames whose text uses it."""
    from storyboard.render.fonts import script_names

    if not missing:
        return []
    where: dict[str, list[str]] = {}
    for frame, text in board.texts():
        for script in script_names(set(text) & missing):
            names = where.setdefault(script, [])
            name = frame.name if frame else "the title or cast"
            if name not in names:
                names.append(name)
    out = []
    for script, names in sorted(where.items()):
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        out.append(
            f"{shown}: no font here covers the {script} text, so {what} shows blanks for it. "
            "Install a font for that script (e.g. the Noto Sans family: apt install fonts-noto) and export again."
        )
    return out


def load_board(out_dir: Path) -> Board:
    """Read DIR's manifest into a Board (the picked take of each frame, in story order)."""
    out_dir = Path(out_dir)
    manifest = load_manifest(out_dir)
    entries = picked_entries(manifest)
    digits = max(2, len(str(len(entries))))
    warnings: list[str] = []
    unreadable: list[str] = []
    frames = []
    for i, entry in enumerate(entries, 1):
        number = entry.get("number")
        n = number if isinstance(number, int) and not isinstance(number, bool) else i
        label = f"{n:0{digits}d}"
        duration, problem = _duration(entry.get("duration"))
        frame = Frame(entry, image_path(out_dir, entry), duration, label, unreadable)
        if entry.get("duration") is None:  # none in the story: long enough to read what it says
            frame = replace(frame, duration=readable_duration(frame, DEFAULT_DURATION, MAX_DURATION))
        if problem:
            warnings.append(f"{frame.name}: {problem}")
        if frame.path is None and isinstance(entry.get("file"), str) and entry["file"]:
            warnings.append(f"{frame.name}: {entry['file']} is missing; the export shows an empty panel saying so. "
                            "Run the story again to put it back.")
        frames.append(frame)
    return Board(out_dir, manifest, frames, warnings, unreadable)


def _duration(value: Any) -> tuple[float, str]:
    """Return a usable duration in seconds and, when the value was not one, what was done about it."""
    if value is None:
        return DEFAULT_DURATION, ""
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        return DEFAULT_DURATION, (
            f"duration {value!r} is not a positive number of seconds; {DEFAULT_DURATION:g} s used. "
            "Set `duration:` to a number such as 2.5 in the story and run it again."
        )
    if value > MAX_DURATION:
        return MAX_DURATION, f"duration {value:g} s is longer than {MAX_DURATION:g} s; cut to {MAX_DURATION:g} s."
    return float(value), ""


def image_path(out_dir: Path, entry: Entry) -> Path | None:
    """Return the existing image file of an entry, or None (no image, missing, or outside DIR)."""
    name = entry.get("file")
    if not name or not isinstance(name, str):
        return None
    path = out_dir / name
    try:
        # A manifest is data: never let it point an export at files outside DIR.
        path.resolve().relative_to(out_dir.resolve())
    except (ValueError, OSError):
        return None
    return path if path.is_file() else None


def open_rgb(path: Path | None, max_size: tuple[int, int] | None = None) -> Image.Image | None:
    """Open an image as upright RGB (transparency over white), or None when it cannot be read."""
    if path is None:
        return None
    from PIL import Image, ImageOps

    im = None
    try:
        opened = Image.open(path)
        try:
            if max_size is not None and opened.format == "JPEG":
                opened.draft("RGB", max_size)  # decode at 1/2, 1/4 or 1/8 scale when that is still enough
            opened.load()
            im = opened
            if im.getexif().get(0x0112, 1) != 1:
                im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                im = Image.new("RGB", rgba.size, _WHITE)
                im.paste(rgba, mask=rgba.getchannel("A"))
            elif im.mode != "RGB":
                im = im.convert("RGB")
            if im is opened and getattr(opened, "fp", None) is not None:
                im = opened.copy()  # still tied to its file (an animation): keep a copy, close the file
            return im  # copies only where needed: a board's images are big, and every copy costs
        finally:
            if im is not opened:
                opened.close()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        # A hand-edited file can be anything; one bad frame must not sink the export.
        return None
