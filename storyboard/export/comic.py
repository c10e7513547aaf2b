"""The comic export: a board as comic pages, a PDF with real lettering and a PNG of each page.

Frames become panels in rows (comic_layout), each lettered with its caption box and one
balloon per dialogue line (comic_balloons), drawn with the shipped lettering font (comic_draw).
An adventure is set as a gamebook: one frame a page in reading order from the start, its
passage under the panel and each choice as "turn to page n". The PNG pages are rendered from
the PDF just made (pypdfium2), so both show the same thing.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from storyboard import names
from storyboard.export.board import uncovered_warnings
from storyboard.export.comic_balloons import Speech, letter
from storyboard.export.comic_layout import Box, Sheet, paginate
from storyboard.render import pdfdoc

if TYPE_CHECKING:
    from fpdf import FPDF

    from storyboard.export.board import Board, Frame
    from storyboard.export.job import ExportJob

MARGIN = 36.0  # the page's outer margin (half an inch)
FOOT = 44.0  # the bottom margin, with the page number in it
TITLE_SIZE = 20.0
PNG_DPI = 150


def write_comic(f: IO[bytes], job: ExportJob) -> None:
    """Write the board as comic pages (PDF) into `f`, and a PNG of each page beside the target."""
    board, options = job.board, job.options
    frames, skipped = reading_order(board)
    if skipped:
        job.warn(
            f"{_names(skipped)}: no choice leads there from the start, so the comic leaves "
            f"{'it' if len(skipped) == 1 else 'them'} out. Add a choice with `goto:` to "
            f"{'it' if len(skipped) == 1 else 'each'}, or remove {'it' if len(skipped) == 1 else 'them'}."
        )
    pdf = pdfdoc.new_document(options.paper, "portrait", title=board.title)
    missing = pdfdoc.cover(pdf, "\n".join(text for _, text in board.texts()), family="comic")
    for message in uncovered_warnings(board, missing, "the comic"):
        job.warn(message)
    pdf.add_page()  # fpdf2 measures text on a page
    from storyboard.export import comic_draw as draw
    from storyboard.export import comic_gamebook as gamebook

    measure = draw.PdfMeasure(pdf)
    sheet = _sheet(pdf, board, options.paper)
    adventure = any(fr.choices for fr in board.frames)
    book: list[gamebook.Section] = []
    if adventure:
        book = gamebook.sections(frames, sheet, measure, [_aspect(fr, board) for fr in frames])
        pages = [[section.slot] for section in book]
        for section in book:
            if section.cut:
                job.warn(
                    f"{frames[section.slot.index].name}: its passage does not fit the page even at "
                    f"{section.size:g} pt, so the end is cut (…). Shorten it, or split it over two frames."
                )
    else:
        pages = paginate([_aspect(fr, board) for fr in frames], [_breaks(fr) for fr in frames], sheet.areas, rtl=options.rtl)
    page_of: dict[str, int] = {}
    for slots in pages:
        for s in slots:
            if frames[s.index].ident:
                page_of.setdefault(frames[s.index].ident, s.page + 1)
    links = {ident: pdf.add_link(page=n) for ident, n in page_of.items()}
    done = 0
    for number, slots in enumerate(pages, 1):
        if number > 1:
            pdf.add_page()
        draw.page_furniture(pdf, sheet, number, len(pages), board.title if number == 1 else "", big=adventure)
        for slot in slots:
            frame = frames[slot.index]
            lettering = letter(slot.box, frame.caption, speeches(frame, rtl=options.rtl), measure, rtl=options.rtl)
            if lettering.cut:
                n = lettering.left_out
                gone = (f"; {n} of its {len(frame.dialogue)} dialogue lines are left out (the storyboard PDF, "
                        "--pdf, has every one)" if n else "")
                job.warn(
                    f"{frame.name}: its caption and dialogue do not fit the panel even at "
                    f"{lettering.size:g} pt, so the end is cut (…){gone}. Shorten them, or split the frame in two."
                )
            on_top = draw.panel(pdf, frame, slot.box, lettering)
            draw.lettering(pdf, lettering)
            if on_top is not None:
                on_top()
            if adventure:
                gamebook.draw_text(pdf, book[slot.index], sheet, measure, links)
            done += 1
            job.progress(done, len(frames))
    data = bytes(pdf.output())
    f.write(data)
    write_pages(job.target, data)


def reading_order(board: Board) -> tuple[list[Frame], list[Frame]]:
    """Return the frames in reading order, and those an adventure reader can never reach.

    A story without choices reads in story order. An adventure reads from the start (the first
    frame) breadth first: a page's choices lead to the pages soon after it.
    """
    frames = board.frames
    if not any(fr.choices for fr in frames):
        return list(frames), []
    by_id: dict[str, int] = {}
    for i, fr in enumerate(frames):
        if fr.ident:
            by_id.setdefault(fr.ident, i)
    seen, queue = [0], [0]
    while queue:
        i = queue.pop(0)
        for _, goto in frames[i].choices:
            j = by_id.get(goto)
            if j is not None and j not in seen:
                seen.append(j)
                queue.append(j)
    return [frames[i] for i in seen], [fr for i, fr in enumerate(frames) if i not in seen]


def speeches(frame: Frame, *, rtl: bool = False) -> list[Speech]:
    """Return a frame's dialogue as balloons: tails by `balloon`, else alternating by speaker (first one start)."""
    lines = frame.dialogue
    speakers = list(dict.fromkeys(who for who, _ in lines))
    named = len(speakers) > 1
    fixed = frame.entry.get("balloon")
    out = []
    for who, line in lines:
        if fixed in ("left", "right"):
            side = "start" if (fixed == "left") != rtl else "end"
        else:
            side = "start" if speakers.index(who) % 2 == 0 else "end"
        out.append(Speech(who.upper() if named else "", line, side, named and bool(who)))  # type: ignore[arg-type]
    return out


def _aspect(frame: Frame, board: Board) -> float:
    """Return a frame's width/height, or the board's usual one for a frame without an image."""
    if frame.path is not None and frame.size:
        return frame.size[0] / frame.size[1]
    return board.aspect()


def _breaks(frame: Frame) -> bool:
    """Tell whether the frame asks to start a new page."""
    return frame.entry.get("page_break") is True


def _sheet(pdf: FPDF, board: Board, paper: str) -> Sheet:
    """Return the page geometry: margins, the title's lines on the first page, the panel areas."""
    w, h = pdfdoc.PAPERS[paper]
    pdf.set_font("comic", "B", TITLE_SIZE)
    title = pdfdoc.wrap(pdf, board.title, w - 2 * MARGIN)[:2]
    title_h = len(title) * TITLE_SIZE * 1.2 + 14
    rest = Box(MARGIN, MARGIN, w - 2 * MARGIN, h - MARGIN - FOOT)
    first = Box(MARGIN, MARGIN + title_h, rest.w, rest.h - title_h)
    return Sheet(w, h, (first, rest), tuple(title))


def _names(frames: list[Frame]) -> str:
    """Return how a warning names some frames: "frame 07 (forest)", "frames 03, 07 and 09"."""
    if len(frames) == 1:
        return frames[0].name
    shown = [fr.label + (f" ({fr.ident})" if fr.ident else "") for fr in frames]
    return "frames " + ", ".join(shown[:-1]) + " and " + shown[-1]


# --- PNG pages ---------------------------------------------------------------------------------


def page_files(target: Path, count: int) -> list[Path]:
    """Return the PNG files of a comic's pages beside its PDF: robot-dog-comic-01.png, ..."""
    width = names.digits(count)
    return [target.with_name(f"{target.stem}-{names.number(n, width)}.png") for n in range(1, count + 1)]


def _page_pattern(target: Path) -> re.Pattern[str]:
    return re.compile(re.escape(target.stem) + r"-(\d{2,})\.png")


def written_pages(target: Path) -> list[Path]:
    """Return the PNG pages beside a comic's PDF, in page order."""
    pattern = _page_pattern(target)
    found = [(int(m.group(1)), p) for p in target.parent.glob("*.png") if (m := pattern.fullmatch(p.name))]
    return [p for _, p in sorted(found)]


def write_pages(target: Path, pdf_bytes: bytes) -> list[Path]:
    """Render each page of the PDF to a PNG beside `target`; remove pages left from a longer comic."""
    from storyboard.output import fs

    written = []
    pngs = list(_render_pages(pdf_bytes))
    for path, png in zip(page_files(target, len(pngs)), pngs, strict=True):
        fs.write(path, png, durable=False)
        written.append(path)
    keep = set(written)
    for old in written_pages(target):
        if old not in keep:
            fs.unlink(old)
    return written


def _render_pages(pdf_bytes: bytes, dpi: int = PNG_DPI) -> Iterator[bytes]:
    """Yield each page of a PDF rendered to PNG bytes at `dpi`."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf_bytes)
    try:
        for i in range(len(doc)):
            page = doc[i]
            try:
                image = page.render(scale=dpi / 72).to_pil()
            finally:
                page.close()
            buf = io.BytesIO()
            image.convert("RGB").save(buf, "PNG", compress_level=6)
            yield buf.getvalue()
    finally:
        doc.close()
