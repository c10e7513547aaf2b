"""PDF documents with the shipped fonts embedded: real, selectable, shaped text (fpdf2).

Shared by the storyboard PDF and the comic. `new_document` registers the fonts (families
"sans" and "comic", styles "" and "B") and turns on text shaping (uharfbuzz: Arabic joins,
Devanagari conjuncts), `cover` adds system fonts for scripts the shipped ones lack and names
the characters nothing covers (`fonts.script_names` names their scripts), `wrap` breaks text with the document's own metrics, and
`place_image` embeds a picture downsampled to the page's resolution. Units are points.
"""

from __future__ import annotations

import io
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
    pdf.set_text_shaping(True)
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


def wrap(pdf: FPDF, text: str, width: float) -> list[str]:
    """Break text into lines of at most `width` pt in the current font; a blank line stays."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        if not paragraph.strip():
            lines.append("")
            continue
        lines += pdf.multi_cell(width, text=paragraph, dry_run=True, output="LINES", wrapmode="WORD")
    return lines


def text_width(pdf: FPDF, text: str) -> float:
    """Return the width of one line of text in the current font, in points."""
    return float(pdf.get_string_width(text))


def place_image(pdf: FPDF, image: Image.Image, x: float, y: float, w: float, h: float, *, dpi: int = IMAGE_DPI) -> None:
    """Embed an RGB picture at x, y in a w x h pt box, resampled to `dpi` (JPEG, never enlarged)."""
    from PIL import Image as PILImage

    px = (max(1, round(w / 72 * dpi)), max(1, round(h / 72 * dpi)))
    if image.width > px[0] or image.height > px[1]:
        image = image.resize(px, PILImage.Resampling.LANCZOS, reducing_gap=3.0)
    buf = io.BytesIO()
    # 4:4:4 keeps thin coloured lines (drafts are mostly lettering) sharp.
    image.convert("RGB").save(buf, "JPEG", quality=88, subsampling=0, optimize=True)
    buf.seek(0)
    pdf.image(buf, x=x, y=y, w=w, h=h)
