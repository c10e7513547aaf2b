"""Fonts for drawn text: a TrueType face that covers the text's scripts, and pixel wrapping.

Candidates come from fontconfig (`fc-match`) when it is installed, then from well-known
paths; coverage is read from each font's own `cmap` table, so the choice is exact and the
same on every call. Without any font file, Pillow's built-in font is the last resort.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import struct
import subprocess
import unicodedata
from bisect import bisect_right
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from PIL import ImageDraw, ImageFont

    Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

FontRef = tuple[str, int]  # file path and face index inside a collection (.ttc)

_WINDOWS_FONTS = os.path.join(os.environ.get("WINDIR", "C:\\Windows"), "Fonts")
# Tried in order when fontconfig is missing or finds nothing that covers the text.
_WELL_KNOWN: dict[bool, tuple[str, ...]] = {
    False: (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc",
        "/System/Library/Fonts/Helvetica.ttc",
        "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
        "/Library/Fonts/Arial Unicode.ttf",
        "/System/Library/Fonts/Hiragino Sans GB.ttc",
        "/System/Library/Fonts/GeezaPro.ttc",
        os.path.join(_WINDOWS_FONTS, "segoeui.ttf"),
        os.path.join(_WINDOWS_FONTS, "arial.ttf"),
        os.path.join(_WINDOWS_FONTS, "YuGothR.ttc"),
        os.path.join(_WINDOWS_FONTS, "msgothic.ttc"),
        os.path.join(_WINDOWS_FONTS, "msyh.ttc"),
        os.path.join(_WINDOWS_FONTS, "malgun.ttf"),
        os.path.join(_WINDOWS_FONTS, "tahoma.ttf"),
    ),
    True: (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf",
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
        "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc",
        "/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Bold.ttc",
        os.path.join(_WINDOWS_FONTS, "segoeuib.ttf"),
        os.path.join(_WINDOWS_FONTS, "arialbd.ttf"),
        os.path.join(_WINDOWS_FONTS, "YuGothB.ttc"),
        os.path.join(_WINDOWS_FONTS, "msyhbd.ttc"),
        os.path.join(_WINDOWS_FONTS, "malgunbd.ttf"),
        os.path.join(_WINDOWS_FONTS, "tahomabd.ttf"),
    ),
}

# A few characters that stand for a script, so one fontconfig query serves all its text.
_SAMPLES = {
    "LATIN": "Aa",
    "GREEK": "Ωα",
    "CYRILLIC": "Жж",
    "ARABIC": "ابت",
    "HEBREW": "אב",
    "CJK": "漢字あア한",
    "THAI": "กข",
    "DEVANAGARI": "कख",
    "ARMENIAN": "Աա",
    "GEORGIAN": "აბ",
    "ETHIOPIC": "ሀለ",
}
# Japanese, Chinese and Korean text mixes these; one CJK font usually covers them all.
_CJK_WORDS = {"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "IDEOGRAPHIC", "BOPOMOFO", "FULLWIDTH", "HALFWIDTH"}


def _script(ch: str) -> str:
    """Return a coarse script name for a character ('' for spaces and controls)."""
    category = unicodedata.category(ch)
    if category[0] in "ZC":
        return ""
    if category[0] == "S" and ord(ch) > 0x2000:
        return "SYMBOL"  # emoji and dingbats: their names say nothing about a script
    word = unicodedata.name(ch, "").split(" ", 1)[0]
    return "CJK" if word in _CJK_WORDS else word


@functools.lru_cache(maxsize=256)
def _coverage(ref: FontRef) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """Return the code point ranges a font maps (starts, ends), or None if unreadable."""
    try:
        with open(ref[0], "rb") as f:
            return _read_cmap(f, ref[1])
    except (OSError, struct.error, ValueError, IndexError):
        return None


def _read_cmap(f: BinaryIO, index: int) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """Read the Unicode ranges of an sfnt (TrueType/OpenType, or one face of a collection)."""

    def read(offset: int, size: int) -> bytes:
        f.seek(offset)
        data = f.read(size)
        if len(data) != size:
            raise ValueError("truncated font")
        return data

    base = 0
    if read(0, 4) == b"ttcf":
        count = struct.unpack(">I", read(8, 4))[0]
        if index >= count:
            return None
        base = struct.unpack(">I", read(12 + 4 * index, 4))[0]
    num_tables = struct.unpack(">H", read(base + 4, 2))[0]
    records = read(base + 12, 16 * num_tables)
    cmap = next(
        (
            struct.unpack(">I", records[i + 8 : i + 12])[0]
            for i in range(0, len(records), 16)
            if records[i : i + 4] == b"cmap"
        ),
        None,
    )
    if cmap is None:
        return None
    n = struct.unpack(">H", read(cmap + 2, 2))[0]
    subtables = {}
    for i in range(n):
        platform, encoding, offset = struct.unpack(">HHI", read(cmap + 4 + 8 * i, 8))
        subtables[(platform, encoding)] = cmap + offset
    # Full-repertoire tables first (format 12), then the BMP ones (format 4).
    for key in ((3, 10), (0, 6), (0, 4), (3, 1), (0, 3), (0, 2), (0, 1), (0, 0)):
        if key not in subtables:
            continue
        at = subtables[key]
        fmt = struct.unpack(">H", read(at, 2))[0]
        if fmt == 12:
            groups = struct.unpack(">I", read(at + 12, 4))[0]
            raw = struct.unpack(f">{groups * 3}I", read(at + 16, 12 * groups))
            return tuple(raw[0::3]), tuple(raw[1::3])
        if fmt == 4:
            segs = struct.unpack(">H", read(at + 6, 2))[0] // 2
            ends = struct.unpack(f">{segs}H", read(at + 14, 2 * segs))
            starts = struct.unpack(f">{segs}H", read(at + 16 + 2 * segs, 2 * segs))
            pairs = sorted((s, e) for s, e in zip(starts, ends, strict=True) if s != 0xFFFF)
            return tuple(s for s, _ in pairs), tuple(e for _, e in pairs)
    return None


def _covered(ref: FontRef, chars: frozenset[str]) -> int:
    """Count how many of `chars` the font maps."""
    cov = _coverage(ref)
    if cov is None:
        return -1  # unreadable: only ever a last resort
    starts, ends = cov
    hits = 0
    for ch in chars:
        i = bisect_right(starts, ord(ch)) - 1
        if i >= 0 and ord(ch) <= ends[i]:
            hits += 1
    return hits


@functools.lru_cache(maxsize=1)
def _fc_match_path() -> str | None:
    """Return the fc-match executable, if fontconfig is installed."""
    return shutil.which("fc-match")


@functools.lru_cache(maxsize=128)
def _fc_match(chars: str, bold: bool) -> FontRef | None:
    """Ask fontconfig for the sans-serif font that best covers `chars` (one call, cached)."""
    exe = _fc_match_path()
    if exe is None:
        return None
    pattern = "sans-serif:scalable=true" + (":bold" if bold else "")
    if chars:
        pattern += ":charset=" + " ".join(f"{ord(c):x}" for c in chars)
    try:
        out = subprocess.run(
            [exe, "-f", "%{file}\n%{index}", pattern],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    path, _, index = out.partition("\n")
    if not path or not os.path.isfile(path):
        return None
    return path, int(index) if index.strip().isdigit() else 0


@functools.lru_cache(maxsize=2)
def _well_known(bold: bool) -> tuple[FontRef, ...]:
    """Return the well-known font files present on this machine (bold ones, then regular)."""
    paths = _WELL_KNOWN[True] + _WELL_KNOWN[False] if bold else _WELL_KNOWN[False]
    return tuple((p, 0) for p in dict.fromkeys(paths) if os.path.isfile(p))


def _candidates(script: str, chars: frozenset[str], bold: bool) -> list[FontRef]:
    """Return fonts worth trying for the characters of one script."""
    sample = _SAMPLES.get(script) or "".join(sorted(chars)[:24])
    found = _fc_match(sample, bold)
    return [found] if found else []


@functools.lru_cache(maxsize=512)
def _choose(chars: frozenset[str], bold: bool) -> FontRef | None:
    """Pick the font covering the most of `chars`; earlier candidates win ties."""
    primary = [ref for ref in (_fc_match("", bold),) if ref] + list(_well_known(bold)[:1])
    for ref in primary:
        if _covered(ref, chars) == len(chars):
            return ref  # the common case: Latin text, one cached font
    candidates = list(primary)
    by_script: dict[str, set[str]] = {}
    for ch in chars:
        by_script.setdefault(_script(ch), set()).add(ch)
    for script in sorted(by_script):
        candidates += _candidates(script, frozenset(by_script[script]), bold)
    candidates += _well_known(bold)
    candidates = list(dict.fromkeys(candidates))
    best, best_hits = None, -1
    for ref in candidates:
        hits = _covered(ref, chars)
        if hits > best_hits:
            best, best_hits = ref, hits
        if hits == len(chars):
            break
    return best


@functools.lru_cache(maxsize=256)
def _open(ref: FontRef, size: int) -> Font | None:
    """Open a font file at a size (cached: a CJK collection takes ~25 ms to open)."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype(ref[0], size, index=ref[1])
    except (OSError, ValueError, ImportError):  # ImportError: a Pillow built without FreeType
        return None


def load_font(size: int, text: str = "", *, bold: bool = False) -> Font:
    """Return a TrueType font of `size` px covering the characters of `text`, or Pillow's own."""
    return _load_font(max(1, int(size)), text, bold)


@functools.lru_cache(maxsize=1024)
def _load_font(size: int, text: str, bold: bool) -> Font:
    """Find and open the font for `load_font` (cached: panels ask for the same text again)."""
    from PIL import ImageFont

    chars = frozenset(ch for ch in text if _script(ch))
    ref = _choose(chars, bold)
    font = _open(ref, size) if ref else None
    if font is None and ref is not None and ref not in _well_known(bold):
        font = next((f for r in _well_known(bold) if (f := _open(r, size))), None)
    if font is None:
        try:
            font = ImageFont.load_default(size=size)
        except (OSError, ValueError, TypeError):
            font = ImageFont.load_default()
    return font


# A break may come after any of these (wide characters break anywhere, as CJK text does).
_TOKEN = re.compile(
    r"\s+"
    r"|[\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0003ffff]"
    r"[、。，．！？）」』】〕〉》・ー…,.!?)\]」]*"
    r"|[^\s\u1100-\u11ff\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0003ffff]+"
)


def _length(draw: ImageDraw.ImageDraw, text: str, font: Font) -> float:
    """Measure text; a bitmap font that cannot encode it counts it as one box per char."""
    try:
        return draw.textlength(text, font=font)
    except (UnicodeError, ValueError, OSError):
        return draw.textlength("x", font=font) * len(text)


def wrap_text(
    draw: ImageDraw.ImageDraw, text: str, font: Font, width: int, max_lines: int | None = None
) -> list[str]:
    """Wrap `text` into lines at most `width` px wide; with `max_lines`, end the last with '…'."""
    limit = max_lines if max_lines is not None and max_lines > 0 else None
    lines: list[str] = []

    def full() -> bool:
        return limit is not None and len(lines) > limit

    for paragraph in text.splitlines():
        line = ""
        for token in _TOKEN.findall(paragraph):
            if full():
                break
            if token.isspace():
                line += " " if line else ""
                continue
            if _length(draw, line + token, font) <= width:
                line += token
                continue
            if line.strip():
                lines.append(line.rstrip())
            line = ""
            # A word wider than the line is broken per character.
            for ch in token:
                if line and _length(draw, line + ch, font) > width:
                    lines.append(line)
                    line = ""
                    if full():
                        break
                line += ch
        lines.append(line.rstrip())
        if full():
            break
    if limit is not None and len(lines) > limit:
        lines = lines[:limit]
        last = lines[-1].rstrip()
        while last and _length(draw, last + "…", font) > width:
            last = last[:-1].rstrip()
        lines[-1] = last + "…"
    return lines


def is_rtl(text: str) -> bool:
    """Tell whether text's first strongly directional character is right to left (Arabic, Hebrew)."""
    import unicodedata

    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False
