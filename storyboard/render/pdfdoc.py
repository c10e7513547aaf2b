"""PDF documents with the shipped fonts embedded: real, selectable, shaped text (fpdf2).

Shared by the storyboard PDF and the comic. `new_document` registers the fonts (families
"sans" and "comic", styles "" and "B"); `cover` adds system fonts for scripts the shipped
ones lack and returns the characters nothing covers; `wrap`, `text_width` and `cell` measure
and set text, shaped (uharfbuzz: Arabic joins, Devanagari conjuncts, right to left) only when
it needs it, since plain text is ~8x faster without; `place_image` embeds a picture
downsampled to the page's resolution. Units are points.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Literal

from storyboard.render import fonts

if TYPE_CHECKING:
    from fpdf import FPDF
    from PIL import Image

Paper = Literal["a4", "letter"]
PAPERS: dict[str, tuple[float, float]] = {"a4": (595.28, 841.89), "letter": (612.0, 792.0)}  # portrait, pt
IMAGE_DPI = 150  # pictures are downsampled to this before embedding: sharp on paper, small files
MIN_TEXT_PT = 7.0  # no text in an export is set smaller


def new_document(paper: Paper = "a4", orientation: Literal["portrait", "landscape"] = "landscape", *, title: str = "") -> FPDF:
    """Return an empty fpdf2 document in points with the shipped fonts registered and shaping on."""
    from fpdf import FPDF

    if paper not in PAPERS:
        raise ValueError(f"unknown paper {paper!r}; choose one of {', '.join(PAPERS)}")
    w, h = PAPERS[paper]
    pdf = FPDF("L" if orientation == "landscape" else "P", unit="pt", format=(w, h))
    for family in fonts.FAMILIES:
        pdf.add_font(family, "", fonts.shipped_font(family, False))
        pdf.add_font(family, "B", fonts.shipped_font(family, True))
    pdf.set_fallback_fonts(["sans"], exact_match=False)  # lettering lacks arrows and Arabic; DejaVu has them
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.c_margin = 0
    pdf.set_creator("storyboard")
    pdf.set_producer("storyboard (fpdf2)")
    if title:
        pdf.set_title(title)
    return pdf


def cover(pdf: FPDF, text: str, family: fonts.Family = "sans") -> frozenset[str]:
    """Make every character of `text` drawable if some font can; return the characters none covers.

    Characters the shipped fonts lack get a system font with TrueType outlines (what fpdf2
    can embed), added as a fallback after the shipped sans. Call it once, with all the text.
    """
    chars = fonts.drawn(text)
    shipped = [(fonts.shipped_font(family, False), 0), (fonts.shipped_font("sans", False), 0)]
    need = chars
    for ref in shipped:
        need = fonts.missing(ref, need)
    if not need:
        return need
    extra = fonts.fallback_fonts(need, truetype_only=True)
    names = ["sans"]
    for i, (path, index) in enumerate(extra):
        name = f"fallback{i}"
        pdf.add_font(name, "", path, collection_font_number=index)
        names.append(name)
        need = fonts.missing((path, index), need)
    pdf.set_fallback_fonts(names, exact_match=False)
    return need


# Text in these ranges needs a shaping engine (joining, reordering, marks) and the bidi algorithm.
_COMPLEX = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u0590-\u08ff\u0900-\u0dff\u0e00-\u0fff\u1000-\u109f\u1780-\u18af"
    "\u1a00-\u1aff\u1b00-\u1bff\u1dc0-\u1dff\u200c-\u200f\u202a-\u202e\u2066-\u2069\u20d0-\u20ff"
    "\ua980-\uabff\ufb1d-\ufdff\ufe00-\ufe0f\ufe20-\ufe2f\ufe70-\ufeff\U00010a00-\U00010fff\U00011000-\U00011fff]"
)


def needs_shaping(text: str) -> bool:
    """Tell whether text needs the shaping engine (Arabic, Hebrew, Indic, Thai, combining marks, ...)."""
    return _COMPLEX.search(text) is not None


def _fast(pdf: FPDF, text: str) -> bool:
    """Tell whether text can be measured and set without shaping, all in the current font."""
    if needs_shaping(text):
        return False
    cmap = getattr(pdf.current_font, "cmap", None)
    return cmap is not None and all(ord(ch) in cmap for ch in text if not ch.isspace())


def use_shaping(pdf: FPDF, text: str) -> None:
    """Turn shaping on only for text that needs it: plain text is set (and measured) ~8x faster without."""
    on = not _fast(pdf, text)
    if bool(pdf.text_shaping) != on:
        pdf.set_text_shaping(on)


def text_width(pdf: FPDF, text: str) -> float:
    """Return the width of one line of text in the current font, in points."""
    if _fast(pdf, text):
        return sum(pdf.current_font.cw[ord(ch)] for ch in text) * pdf.font_size_pt * 0.001
    use_shaping(pdf, text)
    return float(pdf.get_string_width(text))


def wrap(pdf: FPDF, text: str, width: float) -> list[str]:
    """Break text into lines of at most `width` pt in the current font; a blank line stays."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        if not paragraph.strip():
            lines.append("")
        elif _fast(pdf, paragraph):
            lines += _greedy(pdf, paragraph, width)
        else:
            use_shaping(pdf, paragraph)
            lines += pdf.multi_cell(width, text=paragraph, dry_run=True, output="LINES", wrapmode="WORD")
    return lines


def _greedy(pdf: FPDF, paragraph: str, width: float) -> list[str]:
    """Break a paragraph that needs no shaping: words where they fit, long words and CJK per character."""
    from storyboard.render.text import tokens

    cw, scale = pdf.current_font.cw, pdf.font_size_pt * 0.001

    def size(s: str) -> float:
        return sum(cw[ord(ch)] for ch in s) * scale

    lines, line, used = [], "", 0.0
    for token in tokens(paragraph):
        w = size(token)
        if token.isspace():
            if line:
                line, used = line + " ", used + size(" ")
            continue
        if used + w <= width + 0.01:  # (sums of advances round differently from the whole)
            line, used = line + token, used + w
            continue
        if line.strip():
            lines.append(line.rstrip())
        line, used = "", 0.0
        if w <= width + 0.01:
            line, used = token, w
            continue
        for ch in token:  # a word wider than the line is broken per character
            c = size(ch)
            if line and used + c > width + 0.01:
                lines.append(line)
                line, used = "", 0.0
            line, used = line + ch, used + c
    if line.strip():
        lines.append(line.rstrip())
    return lines


def cell(pdf: FPDF, w: float, h: float, text: str, align: str = "L", link: int | str = "") -> None:
    """Draw one line of text at the current position (shaped when it needs to be)."""
    use_shaping(pdf, text)
    pdf.cell(w, h, text, align=align, link=link)
    # fpdf2 sets a line whose font changes midway (Hebrew in a fallback font, the lettering's own
    # comma) inside q ... Q, which puts the page's font back at Q, but it goes on believing the
    # last font inside is set: the next text in that font was drawn with another one or with none
    # (a period as a bold "e", whole words missing). Forgetting it makes the next text set its font.
    pdf.current_font_is_set_on_page = False


def place_image(pdf: FPDF, image: Image.Image, x: float, y: float, w: float, h: float, *, dpi: int = IMAGE_DPI) -> None:
    """Embed an RGB picture at x, y in a w x h pt box, resampled to `dpi` (JPEG, never enlarged)."""
    from PIL import Image as PILImage

    px = (max(1, round(w / 72 * dpi)), max(1, round(h / 72 * dpi)))
    if image.width > px[0] or image.height > px[1]:
        # A box reduction to within 1.5x, then bicubic: as sharp as Lanczos at this size, ~3x faster.
        image = image.resize(px, PILImage.Resampling.BICUBIC, reducing_gap=1.5)
    buf = io.BytesIO()
    # 4:4:4 keeps thin coloured lines (drafts are mostly lettering) sharp.
    (image if image.mode == "RGB" else image.convert("RGB")).save(buf, "JPEG", quality=88, subsampling=0)
    buf.seek(0)
    pdf.image(buf, x=x, y=y, w=w, h=h)
