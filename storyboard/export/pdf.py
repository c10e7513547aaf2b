"""The storyboard PDF: panels with every caption, dialogue line, note and passage as real text (fpdf2).

`--layout 6` sets three frames by two on a landscape page, `3` three rows on a portrait page
with a wide notes column beside each panel, `1` one frame a page. The pages are laid out
first (pdf_layout: text measured, no pixels decoded), then drawn frame by frame: each image
is decoded, downsampled to the page's resolution and embedded before the next is read.
"""

from __future__ import annotations

import datetime
from typing import IO, TYPE_CHECKING

from storyboard.export.board import uncovered_warnings
from storyboard.export.palette import ALERT, EMPTY, FAINT, GREY, INK, MATTE, RULE, WHITE
from storyboard.export.pdf_layout import Geometry, Page, Placed, geometry, paginate
from storyboard.export.pdf_text import STYLES, Line, Style, Typesetter
from storyboard.render import pdfdoc

if TYPE_CHECKING:
    from fpdf import FPDF

    from storyboard.export.board import Board
    from storyboard.export.job import ExportJob



def write_pdf(f: IO[bytes], job: ExportJob) -> None:
    """Write the board as storyboard pages in the job's layout and paper."""
    board, options = job.board, job.options
    geo = geometry(options.layout, options.paper, min(max(board.aspect(), 0.4), 3.0))
    pdf = pdfdoc.new_document(options.paper, geo.orientation, title=board.title)
    missing = pdfdoc.cover(pdf, "\n".join(text for _, text in board.texts()))
    for message in uncovered_warnings(board, missing):
        job.warn(message)
    date = board.date or datetime.date.today().isoformat()
    pdf.add_page()  # fpdf2 measures text on a page
    pages = paginate(board, geo, Typesetter(pdf, geo.scale), date)
    links = _links(pdf, pages)
    done, total = 0, len(board.frames)
    for number, page in enumerate(pages, 1):
        if number > 1:
            pdf.add_page()
        _draw_page_frame(pdf, board, geo, page, number, len(pages))
        for cell in page.cells:
            if cell.panel is not None:
                _draw_panel(pdf, cell, matte=not geo.beside)
            _draw_lines(pdf, cell, links)
            if cell.panel is not None:
                done += 1
                job.progress(done, total)
    f.write(pdf.output())


def _links(pdf: FPDF, pages: list[Page]) -> dict[str, int]:
    """Return an internal link to each frame id's panel, so an adventure's choices can be followed."""
    links: dict[str, int] = {}
    for number, page in enumerate(pages, 1):
        for cell in page.cells:
            if cell.panel is not None and cell.frame.ident and cell.frame.ident not in links:
                links[cell.frame.ident] = pdf.add_link(page=number, y=max(0.0, cell.y - 8))
    return links


def _draw_page_frame(pdf: FPDF, board: Board, geo: Geometry, page: Page, number: int, count: int) -> None:
    """Draw the title block (first page) or the running head, and the footer with "n / N"."""
    left, right = geo.margin, geo.page_w - geo.margin
    if page.title_block:
        y = geo.margin
        for line in page.title_block:
            _draw_line(pdf, line, left, y, {})
            y += line.height
        rule_y = y + 3
    else:
        _text(pdf, board.title, "meta", left, geo.margin, (right - left) * 0.7, bold=True)
        rule_y = geo.margin + 13
    pdf.set_draw_color(*INK)
    pdf.set_line_width(0.8)
    pdf.line(left, rule_y, right, rule_y)
    foot = geo.page_h - geo.margin - 9
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.4)
    pdf.line(left, foot - 4, right, foot - 4)
    source = " · ".join(s for s in (board.story_file, "storyboard") if s)
    _text(pdf, source, "meta", left, foot, (right - left) / 2)
    _text(pdf, f"{number} / {count}", "meta", right - 80, foot, 80, align="R", colour=GREY)


def _text(
    pdf: FPDF, text: str, style: str | Style, x: float, y: float, w: float, *,
    align: str = "L", bold: bool | None = None, colour: tuple[int, int, int] | None = None, link: int | str = "",
) -> None:
    """Draw one line of text in a style with its top at y."""
    s = STYLES[style] if isinstance(style, str) else style
    pdf.set_font(s.family, "B" if (s.bold if bold is None else bold) else "", s.size)
    pdf.set_text_color(*(colour or s.colour))
    pdf.set_xy(x, y)
    pdfdoc.cell(pdf, w, s.leading, text, align=align, link=link)


def _draw_line(pdf: FPDF, line: Line, x: float, y: float, links: dict[str, int]) -> None:
    """Draw one Line of a text block whose left edge is x, the line's space starting at y."""
    for run in line.runs:
        s = run.style
        top = y + line.height - s.leading
        if s.name == "number":
            pdf.set_fill_color(*INK)
            pdf.rect(x + run.dx, top + 1, run.width, s.leading - 1, style="F", round_corners=True, corner_radius=2)
            _text(pdf, run.text, s, x + run.dx, top + 0.5, run.width, align="C", colour=WHITE)
        else:
            _text(pdf, run.text, run.style, x + run.dx, top, run.width, align=run.align, link=links.get(run.goto, ""))


def _draw_lines(pdf: FPDF, cell: Placed, links: dict[str, int]) -> None:
    """Draw a cell's text block; a choice line links to its target frame."""
    y = cell.y + cell.text_dy
    for line in cell.lines:
        _draw_line(pdf, line, cell.x + cell.text_dx, y, links)
        y += line.height


def _draw_panel(pdf: FPDF, cell: Placed, *, matte: bool) -> None:
    """Draw a frame's panel: its image fitted in the box (aspect kept, on a matte when the grid's
    panels are one size), or a labelled empty panel."""
    assert cell.panel is not None
    dx, dy, w, h = cell.panel
    x, y = cell.x + dx, cell.y + dy
    px = (round(w / 72 * pdfdoc.IMAGE_DPI), round(h / 72 * pdfdoc.IMAGE_DPI))
    image = cell.frame.open(px)
    if image is None:
        _draw_empty(pdf, cell, x, y, w, h)
        return
    scale = min(w / image.width, h / image.height)
    iw, ih = image.width * scale, image.height * scale
    if matte:
        pdf.set_fill_color(*MATTE)
        pdf.rect(x, y, w, h, style="F")
    ix, iy = x + (w - iw) / 2, y + (h - ih) / 2
    pdfdoc.place_image(pdf, image, ix, iy, iw, ih)
    image.close()
    pdf.set_draw_color(*INK)
    pdf.set_line_width(0.6)
    pdf.rect(ix, iy, iw, ih)


def _draw_empty(pdf: FPDF, cell: Placed, x: float, y: float, w: float, h: float) -> None:
    """Draw a crossed empty panel saying why the frame has no image (failed, skipped, missing)."""
    pdf.set_fill_color(*EMPTY)
    pdf.set_draw_color(*FAINT)
    pdf.set_line_width(0.6)
    pdf.rect(x, y, w, h, style="DF")
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.4)
    pdf.line(x, y, x + w, y + h)
    pdf.line(x, y + h, x + w, y)
    word, reason = cell.frame.status_word, cell.frame.missing_reason
    pdf.set_font("sans", "", 8)
    lines = pdfdoc.wrap(pdf, reason, w - 24)[:4] if reason else []
    block = 14 + 10.4 * len(lines)
    top = y + (h - block) / 2
    pdf.set_fill_color(*EMPTY)
    pdf.rect(x + 8, top - 3, w - 16, block + 6, style="F")  # paper behind the words, over the cross
    pdf.set_font("sans", "B", 11)
    pdf.set_text_color(*ALERT)
    pdf.set_xy(x, top)
    pdfdoc.cell(pdf, w, 14, word, align="C")
    pdf.set_font("sans", "", 8)
    pdf.set_text_color(*GREY)
    for i, line in enumerate(lines):
        pdf.set_xy(x + 12, top + 14 + 10.4 * i)
        pdfdoc.cell(pdf, w - 24, 10.4, line, align="C")
