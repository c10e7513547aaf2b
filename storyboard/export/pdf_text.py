"""The storyboard PDF's text: styles, and a frame's text block set into measured lines.

A block is the number line, caption, dialogue (speakers in a narrow column, as in a script),
notes, the adventure passage and its choices ("Follow the light → 07 forest"), each wrapped
with the document's own fonts so the layout knows every line's height before drawing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from storyboard.export.palette import ACCENT, FAINT, GREY, INK, Colour
from storyboard.render import pdfdoc

if TYPE_CHECKING:
    from fpdf import FPDF

    from storyboard.export.board import Board, Frame



@dataclass(frozen=True)
class Style:
    """A text style: its name, weight, size in points, colour."""

    name: str
    bold: bool
    size: float
    colour: Colour
    family: str = "sans"

    @property
    def leading(self) -> float:
        """Return the distance between baselines."""
        return round(self.size * 1.3, 2)


STYLES: dict[str, Style] = {
    s.name: s
    for s in (
        Style("number", True, 8, INK),
        Style("meta", False, 7.5, FAINT),
        Style("caption", True, 10, INK),
        Style("speaker", True, 8.5, INK),
        Style("line", False, 9, INK),
        Style("notes", False, 8.5, GREY),
        Style("passage", False, 9, INK),
        Style("choice", False, 9, ACCENT),
        Style("title", True, 18, INK),
    )
}
assert min(s.size for s in STYLES.values()) >= pdfdoc.MIN_TEXT_PT


@dataclass(frozen=True)
class Run:
    """A piece of one line: text at dx from the block's left edge, `width` wide, aligned in it."""

    dx: float
    width: float
    text: str
    style: Style
    align: Literal["L", "R"] = "L"
    goto: str = ""  # a frame id this run links to (an adventure choice)


@dataclass(frozen=True)
class Line:
    """One line of a text block: its height (with the space above it) and its runs."""

    height: float
    runs: tuple[Run, ...]


class Typesetter:
    """Set text into Lines with a document's fonts (the measuring pass)."""

    def __init__(self, pdf: FPDF, scale: float = 1.0) -> None:
        self.pdf = pdf
        self.styles = {name: replace(s, size=round(s.size * scale, 2)) for name, s in STYLES.items()}

    def use(self, style: str) -> Style:
        """Select a style's font on the document and return the style."""
        s = self.styles[style]
        self.pdf.set_font(s.family, "B" if s.bold else "", s.size)
        return s

    def paragraph(
        self, text: str, style: str, width: float, dx: float = 0.0, space: float = 0.0, goto: str = ""
    ) -> list[Line]:
        """Return text wrapped to `width` as lines; right-to-left paragraphs align right."""
        from storyboard.render.text import is_rtl

        s = self.use(style)
        out = []
        for paragraph in text.splitlines():
            align: Literal["L", "R"] = "R" if is_rtl(paragraph) else "L"
            for piece in pdfdoc.wrap(self.pdf, paragraph, width):
                out.append(Line(s.leading, (Run(dx, width, piece, s, align, goto),)))
        if out and space:
            out[0] = Line(out[0].height + space, out[0].runs)
        return out

    def dialogue(self, lines: list[tuple[str, str]], width: float, space: float) -> list[Line]:
        """Return dialogue set as a script: speakers in a narrow bold column, their lines beside."""
        if not lines:
            return []
        self.use("speaker")
        speakers = [who.upper() for who, _ in lines]
        col = min(max(pdfdoc.text_width(self.pdf, s) for s in speakers) + 6, width * 0.34)
        out: list[Line] = []
        for n, (who, (_, said)) in enumerate(zip(speakers, lines, strict=True)):
            self.use("speaker")
            left = pdfdoc.wrap(self.pdf, who, col - 6) if who else [""]
            right = [r.runs[0] for r in self.paragraph(said, "line", width - col, dx=col)]
            height = self.styles["line"].leading
            for i in range(max(len(left), len(right))):
                runs = [Run(0, col - 6, left[i], self.styles["speaker"])] if i < len(left) and left[i] else []
                runs += [right[i]] if i < len(right) else []
                extra = (space if n == 0 else 1.5) if i == 0 else 0.0
                out.append(Line(height + extra, tuple(runs)))
        return out

    def block(self, board: Board, frame: Frame, width: float) -> list[Line]:
        """Return a frame's whole text block: number line, caption, dialogue, notes, passage, choices."""
        out = [self.meta(frame, width)]
        out += self.paragraph(frame.caption, "caption", width, space=2)
        out += self.dialogue(frame.dialogue, width, space=3)
        out += self.paragraph(frame.notes, "notes", width, space=3)
        out += self.paragraph(frame.passage, "passage", width - 8, dx=8, space=3)
        for i, (label, goto) in enumerate(frame.choices):
            # No-break spaces keep "→ 07 forest" on one line.
            target = (board.label_of(goto) if goto else "?").replace(" ", "\u00a0")
            text = f"{label} →\u00a0{target}" if label else f"→\u00a0{target}"
            out += self.paragraph(text, "choice", width, space=3 if i == 0 else 0, goto=goto)
        return out

    def meta(self, frame: Frame, width: float, continued: bool = False) -> Line:
        """Return the number line: the number (a badge when drawn), the id, and duration, camera, take."""
        self.use("number")
        number_w = pdfdoc.text_width(self.pdf, frame.label) + 8
        details = [f"{frame.duration:g} s"]
        if frame.camera != "static":
            details.append(frame.camera)
        takes = frame.entry.get("takes")
        if isinstance(takes, int) and takes > 1:
            details.append(f"take {frame.entry.get('take')}/{takes}")
        if frame.status in ("edited", "locked"):
            details.append(frame.status)
        right = " · ".join(details) if not continued else ""
        self.use("meta")
        right_w = pdfdoc.text_width(self.pdf, right) if right else 0.0
        ident = frame.ident + (" (continued)" if continued else "")
        runs = [Run(0, number_w, frame.label, self.styles["number"])]
        room = width - number_w - right_w - 12
        if ident and room > 10:
            # An over-long id is the one thing shortened: it is repeated in full nowhere else, but it is a key.
            runs.append(Run(number_w + 5, room, _fit(self.pdf, ident, room), self.styles["meta"]))
        if right:
            runs.append(Run(width - right_w, right_w, right, self.styles["meta"], "R"))
        return Line(self.styles["number"].leading + 2.6, tuple(runs))

    def title_block(self, board: Board, width: float, date: str) -> list[Line]:
        """Return the first page's title block: title, summary line and date, the cast."""
        out = [Line(self.styles["title"].leading + 3, (Run(0, width, _fit_title(self, board.title, width), self.styles["title"]),))]
        facts = [board.summary(with_date=False), date, board.story_file]
        out += self.paragraph(" · ".join(f for f in facts if f), "meta", width)
        cast = "; ".join(f"{name} ({desc})" if desc else name for name, desc in board.cast)
        if cast:
            out += self.paragraph(f"Cast: {cast}", "notes", width, space=2)
        return out


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """Return text shortened with an ellipsis to `width` in the current font."""
    if pdfdoc.text_width(pdf, text) <= width:
        return text
    while text and pdfdoc.text_width(pdf, text + "…") > width:
        text = text[:-1]
    return text + "…"


def _fit_title(ts: Typesetter, title: str, width: float) -> str:
    """Return the title for one line: smaller type would hide it, so only a very long one is cut."""
    ts.use("title")
    return _fit(ts.pdf, title, width)
