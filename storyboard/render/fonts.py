"""Fonts for drawn and embedded text: the shipped faces first, a system font for other scripts.

storyboard ships DejaVu Sans (text) and Comic Neue (lettering) in `render/fontfiles/`, so
exports look the same everywhere. Text in a script they lack gets a system font that covers
it (fontconfig's `fc-match`, then well-known paths). Coverage is read from each font's `cmap`
with fontTools, so the choice is exact and the same on every call; Pillow's built-in font is
the last resort.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

# Moved to render/text.py; still importable from here while the draft backend switches over.
from storyboard.render.text import is_rtl  # noqa: F401
from storyboard.render.text import wrap as wrap_text  # noqa: F401

if TYPE_CHECKING:
    from PIL import ImageFont

    Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

FontRef = tuple[str, int]  # file path and face index inside a collection (.ttc)
Family = Literal["sans", "comic"]
FAMILIES: tuple[Family, ...] = ("sans", "comic")

FONT_DIR = Path(__file__).with_name("fontfiles")
_SHIPPED: dict[tuple[str, bool], str] = {
    ("sans", False): "DejaVuSans.ttf",
    ("sans", True): "DejaVuSans-Bold.ttf",
    ("comic", False): "ComicNeue-Regular.ttf",
    ("comic", True): "ComicNeue-Bold.ttf",
}

_WINDOWS_FONTS = os.path.join(os.environ.get("WINDIR", "C:\\Windows"), "Fonts")
# Tried in order after the shipped fonts when fontconfig is missing or finds nothing that covers the text.
_WELL_KNOWN: dict[bool, tuple[str, ...]] = {
    False: (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc",
        "/usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf",
        "/usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf",
        "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
        "/Library/Fonts/Arial Unicode.ttf",
        "/System/Library/Fonts/Hiragino Sans GB.ttc",
        "/System/Library/Fonts/Thonburi.ttc",
        os.path.join(_WINDOWS_FONTS, "YuGothR.ttc"),
        os.path.join(_WINDOWS_FONTS, "msgothic.ttc"),
        os.path.join(_WINDOWS_FONTS, "msyh.ttc"),
        os.path.join(_WINDOWS_FONTS, "malgun.ttf"),
        os.path.join(_WINDOWS_FONTS, "tahoma.ttf"),
        os.path.join(_WINDOWS_FONTS, "Nirmala.ttf"),
    ),
    True: (
        "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
        "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc",
        "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Bold.ttc",
        "/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Bold.ttc",
        "/usr/share/fonts/truetype/noto/NotoSansThai-Bold.ttf",
        "/usr/share/fonts/truetype/noto/NotoSansDevanagari-Bold.ttf",
        os.path.join(_WINDOWS_FONTS, "YuGothB.ttc"),
        os.path.join(_WINDOWS_FONTS, "msyhbd.ttc"),
        os.path.join(_WINDOWS_FONTS, "malgunbd.ttf"),
        os.path.join(_WINDOWS_FONTS, "tahomabd.ttf"),
        os.path.join(_WINDOWS_FONTS, "NirmalaB.ttf"),
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
# What a writer calls the script of a character, by the first word of its Unicode name.
_SCRIPT_NAMES = {"CJK": "Chinese/Japanese/Korean (CJK)", "SYMBOL": "symbol or emoji"}


def shipped_font(family: Family = "sans", bold: bool = False) -> str:
    """Return the path of a font file shipped inside the package (DejaVu Sans, Comic Neue)."""
    return str(FONT_DIR / _SHIPPED[(family, bold)])


def _script(ch: str) -> str:
    """Return a coarse script name for a character ('' for spaces and controls)."""
    category = unicodedata.category(ch)
    if category[0] in "ZC":
        return ""
    if category[0] == "S" and ord(ch) > 0x2000:
        return "SYMBOL"  # emoji and dingbats: their names say nothing about a script
    word = unicodedata.name(ch, "").split(" ", 1)[0]
    return "CJK" if word in _CJK_WORDS else word


def script_names(chars: str | frozenset[str] | set[str]) -> list[str]:
    """Return the scripts of `chars` as a writer names them ("Thai", "Chinese/Japanese/Korean (CJK)"), sorted."""
    names = set()
    for ch in chars:
        if not _script(ch):
            continue
        word = _script(ch)
        names.add(_SCRIPT_NAMES.get(word, word.title()))
    return sorted(names)


def drawn(text: str) -> frozenset[str]:
    """Return the characters of `text` that need a glyph (no spaces, controls or joiners)."""
    return frozenset(ch for ch in text if _script(ch))


@functools.lru_cache(maxsize=256)
def _coverage(ref: FontRef) -> frozenset[int] | None:
    """Return the code points a font maps, or None when the file cannot be read as a font."""
    from fontTools.ttLib import TTFont

    try:
        with TTFont(ref[0], fontNumber=ref[1], lazy=True) as font:
            cmap = font.getBestCmap()
    except Exception:  # noqa: BLE001 - any file can sit at a font path; unreadable means "not this one"
        return None
    return frozenset(cmap) if cmap else None


@functools.lru_cache(maxsize=256)
def is_truetype(ref: FontRef) -> bool:
    """Tell whether a font has TrueType outlines (`glyf`), which PDF embedding (fpdf2) needs."""
    from fontTools.ttLib import TTFont

    try:
        with TTFont(ref[0], fontNumber=ref[1], lazy=True) as font:
            return "glyf" in font
    except Exception:  # noqa: BLE001 - as in _coverage
        return False


def _covered(ref: FontRef, chars: frozenset[str]) -> int:
    """Count how many of `chars` the font maps (-1: unreadable)."""
    cov = _coverage(ref)
    if cov is None:
        return -1  # unreadable: only ever a last resort
    return sum(1 for ch in chars if ord(ch) in cov)


def missing(ref: FontRef, chars: frozenset[str]) -> frozenset[str]:
    """Return the characters of `chars` a font has no glyph for."""
    cov = _coverage(ref) or frozenset()
    return frozenset(ch for ch in chars if ord(ch) not in cov)


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
    """Return the shipped sans, then the well-known font files present (bold ones, then regular)."""
    paths = (shipped_font("sans", bold),) + (_WELL_KNOWN[True] + _WELL_KNOWN[False] if bold else _WELL_KNOWN[False])
    return tuple((p, 0) for p in dict.fromkeys(paths) if os.path.isfile(p))


def _by_script(chars: frozenset[str]) -> dict[str, frozenset[str]]:
    """Group characters by coarse script."""
    groups: dict[str, set[str]] = {}
    for ch in chars:
        groups.setdefault(_script(ch), set()).add(ch)
    return {k: frozenset(v) for k, v in sorted(groups.items())}


def _system_candidates(chars: frozenset[str], bold: bool) -> list[FontRef]:
    """Return system fonts worth trying for `chars`: fontconfig's pick per script, then well-known files."""
    found = []
    for script, group in _by_script(chars).items():
        sample = _SAMPLES.get(script) or "".join(sorted(group)[:24])
        ref = _fc_match(sample, bold)
        if ref:
            found.append(ref)
    return list(dict.fromkeys(found + list(_well_known(bold))))


@functools.lru_cache(maxsize=512)
def _choose(chars: frozenset[str], bold: bool, family: Family = "sans") -> FontRef | None:
    """Pick the font covering the most of `chars`: the shipped one first, which wins ties."""
    primary = [(shipped_font(family, bold), 0)]
    if family != "sans":
        primary.append((shipped_font("sans", bold), 0))  # lettering lacks arrows and Arabic; DejaVu has them
    if _covered(primary[0], chars) == len(chars):
        return primary[0]  # the common case: one cached font
    best, best_hits = None, -1
    for ref in list(dict.fromkeys(primary + _system_candidates(chars, bold))):
        hits = _covered(ref, chars)
        if hits > best_hits:
            best, best_hits = ref, hits
        if hits == len(chars):
            break
    return best


def fallback_fonts(chars: frozenset[str], bold: bool = False, *, truetype_only: bool = False) -> list[FontRef]:
    """Return system fonts, best first, that together cover what the shipped sans lacks of `chars`."""
    need = missing((shipped_font("sans", bold), 0), chars)
    chosen: list[FontRef] = []
    for ref in _system_candidates(need, bold) if need else []:
        if not need:
            break
        if truetype_only and not is_truetype(ref):
            continue
        gain = need - missing(ref, need)
        if gain:
            chosen.append(ref)
            need = need - gain
    return chosen


@functools.lru_cache(maxsize=256)
def _open(ref: FontRef, size: int) -> Font | None:
    """Open a font file at a size (cached: a CJK collection takes ~25 ms to open)."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype(ref[0], size, index=ref[1])
    except (OSError, ValueError, ImportError):  # ImportError: a Pillow built without FreeType
        return None


def load_font(size: int, text: str = "", *, bold: bool = False, family: Family = "sans") -> Font:
    """Return a TrueType font of `size` px covering the characters of `text`, or Pillow's own."""
    return _load_font(max(1, int(size)), text, bold, family)


@functools.lru_cache(maxsize=1024)
def _load_font(size: int, text: str, bold: bool, family: Family = "sans") -> Font:
    """Find and open the font for `load_font` (cached: panels ask for the same text again)."""
    from PIL import ImageFont

    ref = _choose(drawn(text), bold, family)
    font = _open(ref, size) if ref else None
    if font is None:
        font = next((f for r in _well_known(bold) if (f := _open(r, size))), None)
    if font is None:
        try:
            font = ImageFont.load_default(size=size)
        except (OSError, ValueError, TypeError):
            font = ImageFont.load_default()
    return font


def not_drawn(texts: Iterable[str], size: int = 20) -> frozenset[str]:
    """Return the characters of `texts` that the fonts Pillow picks for them (`load_font`) cannot draw."""
    out: set[str] = set()
    for text in texts:
        font = load_font(size, text)
        path = getattr(font, "path", None)
        chars = drawn(text)
        out |= missing((path, getattr(font, "index", 0)), chars) if path else chars
    return frozenset(out)
