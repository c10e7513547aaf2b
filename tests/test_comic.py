"""The comic export: pages of panels in reading order, balloons and caption boxes, read back from the PDF.

Geometry is measured in the PDF itself (pdfplumber: the panels' border rectangles, the balloons'
outlines, each character's box), never taken from the layouter's own numbers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pdfplumber
import pytest
from PIL import Image
from pypdf import PdfReader
from sheetdata import build
from typer.testing import CliRunner

from storyboard.cli import app
from storyboard.export import comic_layout
from storyboard.export.comic import page_files, written_pages
from storyboard.export.core import export
from storyboard.export.job import ExportOptions
from storyboard.render import fonts

Point = tuple[float, float]
INK = (22 / 255, 22 / 255, 26 / 255)
CAPTION_FILL = (1.0, 241 / 255, 194 / 255)
LONG = "We have to get across the river before the bridge washes away, and the rain is not stopping."


def make_dir(root: Path, specs: list[dict[str, Any]], name: str = "comic", **kw: Any) -> Path:
    """Write a finished board (tiny images, its manifest) for `specs`."""
    out = root / name
    manifest = build(out, specs, image_size=kw.pop("image_size", (96, 64)), title=kw.pop("title", "The River"), **kw)
    manifest["story"]["file"] = "pipelines/river.yaml"
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return out


def talk(*lines: tuple[str, str]) -> list[dict[str, str]]:
    """Return manifest dialogue for (speaker, line) pairs."""
    return [{"speaker": who, "line": line} for who, line in lines]


def comic(out: Path, dest: Path | None = None, **options: Any) -> tuple[Path, list[str]]:
    """Export `out` as a comic; return the PDF and the warnings."""
    warnings: list[str] = []
    path = export(out, "comic", dest, options=ExportOptions(**options), warn=warnings.append)
    return path, warnings


# --- reading the PDF back ----------------------------------------------------------------------


@dataclass
class Balloon:
    """A balloon as the PDF draws it: its outline polygon and the text inside it."""

    points: list[Point]
    text: str = ""
    chars: list[dict[str, Any]] = field(default_factory=list)

    @property
    def box(self) -> tuple[float, float, float, float]:
        xs, ys = [p[0] for p in self.points], [p[1] for p in self.points]
        return min(xs), min(ys), max(xs), max(ys)

    @property
    def tip(self) -> Point:
        return max(self.points, key=lambda p: p[1])  # the tail's tip is its lowest point

    @property
    def centre_x(self) -> float:
        x0, _, x1, _ = self.box
        return (x0 + x1) / 2


@dataclass
class Page:
    """One page: its size, panel boxes (x0, top, x1, bottom), balloons, caption boxes and characters."""

    width: float
    height: float
    panels: list[tuple[float, float, float, float]]
    balloons: list[Balloon]
    captions: list[tuple[float, float, float, float]]
    chars: list[dict[str, Any]]
    images: list[tuple[float, float, float, float]]

    def text_in(self, box: tuple[float, float, float, float]) -> str:
        """Return the text whose characters' centres lie inside a box, in the PDF's order."""
        return "".join(c["text"] for c in self.chars if _in_box(_centre(c), box)).strip()


def _close(a: tuple[float, ...], b: tuple[float, ...], eps: float = 0.02) -> bool:
    return all(abs(x - y) < eps for x, y in zip(a, b, strict=True))


def _centre(c: dict[str, Any]) -> Point:
    return (c["x0"] + c["x1"]) / 2, (c["top"] + c["bottom"]) / 2


def _in_box(p: Point, box: tuple[float, float, float, float], slack: float = 0.01) -> bool:
    return box[0] - slack <= p[0] <= box[2] + slack and box[1] - slack <= p[1] <= box[3] + slack


def inside(p: Point, poly: list[Point]) -> bool:
    """Tell whether a point lies inside a polygon (even-odd rule)."""
    hit = False
    for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1], strict=True):
        if (y1 > p[1]) != (y2 > p[1]) and p[0] < x1 + (p[1] - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def _cross(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Tell whether segments ab and cd cross."""

    def side(p: Point, q: Point, r: Point) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    return side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0


def polygons_meet(p: list[Point], q: list[Point]) -> bool:
    """Tell whether two polygons overlap: an edge crossing, or one inside the other."""
    for a, b in zip(p, p[1:] + p[:1], strict=True):
        for c, d in zip(q, q[1:] + q[:1], strict=True):
            if _cross(a, b, c, d):
                return True
    return inside(p[0], q) or inside(q[0], p)


def read(path: Path) -> list[Page]:
    """Read every page of a comic PDF back: panels, balloons (text assigned), captions, characters."""
    pages = []
    with pdfplumber.open(path) as doc:
        for p in doc.pages:
            panels = [
                (r["x0"], r["top"], r["x1"], r["bottom"])
                for r in p.rects
                if r["stroke"] and not r["fill"] and abs(r["linewidth"] - 1.1) < 0.01
            ]
            captions = [
                (r["x0"], r["top"], r["x1"], r["bottom"])
                for r in p.rects
                if r["fill"] and _close(tuple(r["non_stroking_color"]), CAPTION_FILL)
            ]
            balloons = [
                Balloon([(float(x), float(y)) for x, y in c["pts"][:-1]])
                for c in p.curves
                if c["fill"] and tuple(c["non_stroking_color"]) == (1.0, 1.0, 1.0)
            ]
            chars = [c for c in p.chars if c["text"].strip()]
            for b in balloons:
                b.chars = [c for c in p.chars if inside(_centre(c), b.points)]
                b.text = re.sub(r"\s+", " ", "".join(c["text"] for c in b.chars)).strip()
            images = [(i["x0"], i["top"], i["x1"], i["bottom"]) for i in p.images]
            pages.append(Page(float(p.width), float(p.height), panels, balloons, captions, chars, images))
    return pages


def panel_of(page: Page, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """Return the panel that holds a box's centre."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    (found,) = [p for p in page.panels if _in_box((cx, cy), p)]
    return found


def words(text: str) -> str:
    """Return text as the PDF's characters give it back (no spaces: pdfplumber keeps only drawn ones)."""
    return re.sub(r"\s+", "", text)


# --- stories -----------------------------------------------------------------------------------

TALKY: list[dict[str, Any]] = [
    {"id": "bank", "caption": "Dawn at the river.", "dialogue": talk(("mira", "Look at the water."), ("tom", "It rose all night."))},
    {"id": "rope", "dialogue": talk(("tom", LONG), ("mira", "Then we run."), ("tom", "Run where?"), ("mira", "Over it!"))},
    {"id": "tall", "image_size": (64, 96), "caption": "The old bridge.", "dialogue": talk(("mira", "Hold my hand."))},
    {"id": "wide", "image_size": (160, 64), "balloon": "right", "dialogue": talk(("mira", "Now!"), ("mira", "Jump!"))},
    {"id": "square", "image_size": (80, 80), "dialogue": talk(("tom", "We made it."), ("mira", "Barely."), ("tom", "Again?"))},
    {"id": "storm", "status": "failed", "reason": "moderation", "caption": "A storm.", "dialogue": talk(("tom", "What was that?"))},
    {"id": "home", "caption": "Home, soaked to the bone and laughing about it all the way up the hill."},
]


@pytest.fixture(scope="module")
def talky(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dir(tmp_path_factory.mktemp("comic"), TALKY)


@pytest.fixture(scope="module")
def talky_pages(talky: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Page]:
    path, warnings = comic(talky, tmp_path_factory.mktemp("ltr") / "c.pdf")
    assert warnings == []
    return read(path)


@pytest.fixture(scope="module")
def talky_rtl(talky: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Page]:
    path, _ = comic(talky, tmp_path_factory.mktemp("rtl") / "c.pdf", rtl=True)
    return read(path)


def dialogue_of(spec: dict[str, Any]) -> list[str]:
    return [d["line"] for d in spec.get("dialogue", [])]


# --- balloons ----------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["ltr", "rtl"])
def test_every_balloon_and_its_text_lie_inside_its_panel_and_the_page(
    direction: str, talky_pages: list[Page], talky_rtl: list[Page]
) -> None:
    pages = talky_pages if direction == "ltr" else talky_rtl
    balloons = [b for page in pages for b in page.balloons]
    assert len(balloons) == sum(len(s.get("dialogue", [])) for s in TALKY)
    for page in pages:
        for b in page.balloons:
            panel = panel_of(page, b.box)
            assert all(_in_box(p, panel) for p in b.points), (b.text, panel)
            assert all(_in_box(p, (0, 0, page.width, page.height)) for p in b.points)
            assert b.chars
            for c in b.chars:  # every letter's box, all four corners, inside the outline
                corners = [(c["x0"], c["top"]), (c["x1"], c["top"]), (c["x0"], c["bottom"]), (c["x1"], c["bottom"])]
                assert all(inside(p, b.points) for p in corners), (c["text"], b.text)
        for box in page.captions:
            panel = panel_of(page, box)
            assert _in_box((box[0], box[1]), panel) and _in_box((box[2], box[3]), panel)


@pytest.mark.parametrize("direction", ["ltr", "rtl"])
def test_no_two_balloons_or_captions_overlap(direction: str, talky_pages: list[Page], talky_rtl: list[Page]) -> None:
    for page in talky_pages if direction == "ltr" else talky_rtl:
        shapes = [b.points for b in page.balloons] + [
            [(x0, t), (x1, t), (x1, bt), (x0, bt)] for x0, t, x1, bt in page.captions
        ]
        assert len(shapes) > 2
        for i, a in enumerate(shapes):
            for b in shapes[i + 1 :]:
                assert not polygons_meet(a, b)


def reads_before(a: Balloon, b: Balloon, rtl: bool) -> bool:
    """Tell whether balloon a reads before b: b is further along the row (not higher), or below a."""
    ax0, at, ax1, ab = a.box
    bx0, bt, bx1, _ = b.box
    along = bx1 <= ax0 if rtl else bx0 >= ax1
    return (along and bt >= at) or bt >= ab


@pytest.mark.parametrize("direction", ["ltr", "rtl"])
def test_balloons_follow_the_reading_path_in_dialogue_order(
    direction: str, talky_pages: list[Page], talky_rtl: list[Page]
) -> None:
    pages = talky_pages if direction == "ltr" else talky_rtl
    for spec in TALKY:
        lines = dialogue_of(spec)
        if not lines:
            continue
        found = [(page, b) for page in pages for b in page.balloons if words(lines[0]) in words(b.text)]
        page, first = found[0]
        panel = panel_of(page, first.box)
        mine = [b for b in page.balloons if panel_of(page, b.box) == panel]
        # Each balloon holds its own line (its speaker's name may come first).
        ordered = [next(b for b in mine if words(b.text).endswith(words(line))) for line in lines]
        assert len(set(map(id, ordered))) == len(lines)
        for a, b in zip(ordered, ordered[1:], strict=False):
            assert reads_before(a, b, direction == "rtl"), (a.text, b.text)


def test_tails_alternate_by_speaker_first_speaker_left_and_follow_balloon(talky_pages: list[Page], talky_rtl: list[Page]) -> None:
    def tails(pages: list[Page], spec: dict[str, Any]) -> list[str]:
        out = []
        for line in dialogue_of(spec):
            (b,) = [b for page in pages for b in page.balloons if words(b.text).endswith(words(line))]
            out.append("left" if b.tip[0] < b.centre_x else "right")
        return out

    rope, wide, square = TALKY[1], TALKY[3], TALKY[4]
    assert tails(talky_pages, rope) == ["left", "right", "left", "right"]  # tom, mira, tom, mira
    assert tails(talky_pages, square) == ["left", "right", "left"]
    assert tails(talky_pages, wide) == ["right", "right"]  # balloon: right
    assert tails(talky_rtl, rope) == ["right", "left", "right", "left"]  # right to left: the first speaker right
    assert tails(talky_rtl, wide) == ["right", "right"]  # balloon: right is a side of the page


def test_speakers_are_named_only_where_two_share_a_panel(talky_pages: list[Page]) -> None:
    texts = {words(b.text) for page in talky_pages for b in page.balloons}
    assert words("TOM" + LONG) in texts and words("MIRA Then we run.") in texts
    assert words("Hold my hand.") in texts  # mira alone in her panel: no name
    assert "Now!" in texts and "Jump!" in texts


def test_captions_are_boxes_at_the_top_of_their_panel(talky_pages: list[Page], talky_rtl: list[Page]) -> None:
    for pages, rtl in ((talky_pages, False), (talky_rtl, True)):
        boxes = [(page, box) for page in pages for box in page.captions]
        assert len(boxes) == sum(1 for s in TALKY if s.get("caption"))
        for page, box in boxes:
            panel = panel_of(page, box)
            assert abs(box[1] - panel[1]) < 1  # against the panel's top
            assert abs(box[2] - panel[2]) < 1 if rtl else abs(box[0] - panel[0]) < 1  # in the corner reading starts
        texts = [page.text_in(box) for page, box in boxes]
        assert words("Dawn at the river.") in map(words, texts)


def test_text_too_long_for_its_panel_is_cut_inside_it_with_a_warning_naming_the_frame(tmp_path: Path) -> None:
    chatter = talk(*[("ann" if i % 2 else "bob", LONG) for i in range(20)])
    out = make_dir(tmp_path, [{"id": "talk", "dialogue": chatter}, {"id": "quiet", "caption": "Silence."}] * 1 + [{"id": "x"}] * 3)
    path, warnings = comic(out)
    assert warnings == [
        "frame 01 (talk): its caption and dialogue do not fit the panel even at 7 pt, so the end is cut (…); 8 of "
        "its 20 dialogue lines are left out (the storyboard PDF, --pdf, has every one). Shorten them, or split the "
        "frame in two."
    ]
    (page,) = read(path)
    assert len(page.balloons) == 12  # the 8 left out are the ones the warning counts
    assert page.balloons and all(all(_in_box(p, panel_of(page, b.box)) for p in b.points) for b in page.balloons)
    assert any("…" in b.text for b in page.balloons)
    sizes = {round(c["size"], 1) for b in page.balloons for c in b.chars}
    assert min(sizes) >= 5.7  # names are set 0.82 of the 7 pt minimum


def test_text_is_set_smaller_before_anything_is_cut(tmp_path: Path) -> None:
    out = make_dir(tmp_path, [{"id": "a", "dialogue": talk(("ann", LONG), ("bob", LONG), ("ann", LONG))}] + [{"id": "b"}] * 3)
    path, warnings = comic(out)
    assert warnings == []
    text = " ".join(b.text for page in read(path) for b in page.balloons)
    assert text.count(words(LONG)[:20][:5]) >= 0 and words(text).count(words(LONG)) == 3


# --- pages and panels --------------------------------------------------------------------------


def reading_sequence(pages: list[Page], rtl: bool) -> list[str]:
    """Return the captions in the order a reader meets their panels: page, row (top down), along the row."""
    seq = []
    for page in pages:
        boxes = [b for b in page.captions if any(_in_box((b[0] + 1, b[1] + 1), p) for p in page.panels)]
        boxes = sorted(boxes, key=lambda b: (round(b[1]), -b[2] if rtl else b[0]))
        seq += [page.text_in(b) for b in boxes]
    return seq


PLAIN = [{"id": f"p{i}", "caption": f"Panel {i}."} for i in range(1, 7)]


def test_page_breaks_start_new_pages(tmp_path: Path) -> None:
    out = make_dir(tmp_path, PLAIN, name="plain")
    assert len(read(comic(out)[0])) == 1
    broken = [dict(s, page_break=(i in (2, 5))) for i, s in enumerate(PLAIN)]
    pages = read(comic(make_dir(tmp_path, broken, name="broken"))[0])
    assert [len(p.panels) for p in pages] == [2, 3, 1]
    assert reading_sequence(pages, False) == [f"Panel{i}." for i in range(1, 7)]


def test_rows_span_the_page_with_widths_following_aspects(tmp_path: Path) -> None:
    specs = [{"id": f"f{i}", "caption": f"Panel {i}.", "image_size": size} for i, size in enumerate([(96, 64), (64, 64), (128, 64), (64, 96)] * 2)]
    (page,) = read(comic(make_dir(tmp_path, specs))[0])
    rows: dict[int, list[tuple[float, float, float, float]]] = {}
    for box in page.panels:
        rows.setdefault(round(box[1]), []).append(box)
    margin = comic_layout.Box(36, 0, page.width - 72, 0)
    for row in rows.values():
        heights = {round(b[3] - b[1], 2) for b in row}
        assert len(heights) == 1  # one height per row
        if len(row) > 1:
            assert abs(min(b[0] for b in row) - margin.x) < 0.5 and abs(max(b[2] for b in row) - margin.right) < 0.5
    for box in page.images:  # each picture fills a panel of its own aspect
        assert any(_close(box, p, 0.6) for p in page.panels)
    aspects = sorted(round((b[2] - b[0]) / (b[3] - b[1]), 2) for b in page.panels)
    assert aspects == sorted([1.5, 1.0, 2.0, 0.67] * 2)


def test_rows_slightly_too_tall_for_a_page_are_set_a_little_narrower_all_alike(tmp_path: Path) -> None:
    # The comic example's first six frames on letter paper: at full width they overflow one page by ~2 %.
    sizes = [(160, 90), (96, 64), (64, 96), (64, 64), (64, 64), (160, 90), (96, 64)]
    specs = [{"id": f"f{i}", "caption": f"Panel {i}.", "image_size": s, "page_break": i == 6} for i, s in enumerate(sizes)]
    pages = read(comic(make_dir(tmp_path, specs), paper="letter")[0])
    assert [len(p.panels) for p in pages] == [6, 1]
    first = pages[0]
    rows: dict[float, list[tuple[float, float, float, float]]] = {}
    for box in first.panels:
        rows.setdefault(round(box[1], 1), []).append(box)
    spans = {(round(min(b[0] for b in r), 1), round(max(b[2] for b in r), 1)) for r in rows.values() if len(r) > 1}
    (left, right), = spans  # every row of several panels spans the same width
    assert 36 < left < 50 and abs((left - 36) - (first.width - 36 - right)) < 0.2  # narrower, centred
    assert max(b[3] for b in first.panels) <= first.height - 44 + 0.01


def test_rtl_mirrors_the_panels_and_the_reading_order(talky_pages: list[Page], talky_rtl: list[Page]) -> None:
    assert len(talky_pages) == len(talky_rtl)
    for ltr, rtl in zip(talky_pages, talky_rtl, strict=True):
        mirrored = sorted((round(ltr.width - x1, 1), round(t, 1), round(ltr.width - x0, 1), round(b, 1)) for x0, t, x1, b in ltr.panels)
        assert mirrored == sorted((round(x0, 1), round(t, 1), round(x1, 1), round(b, 1)) for x0, t, x1, b in rtl.panels)
    assert reading_sequence(talky_pages, False) == reading_sequence(talky_rtl, True)
    first_row = sorted((b for b in talky_rtl[0].panels if b[1] == min(p[1] for p in talky_rtl[0].panels)), key=lambda b: -b[2])
    assert words("Dawn at the river.") in words(talky_rtl[0].text_in(first_row[0]))  # the first frame at the right


def test_a_frame_without_an_image_is_a_labelled_empty_panel(talky_pages: list[Page]) -> None:
    page = next(p for p in talky_pages if "FAILED" in "".join(c["text"] for c in p.chars))
    assert len(page.images) == len(page.panels) - 1
    (empty,) = [p for p in page.panels if not any(_close(i, p, 0.6) for i in page.images)]
    text = page.text_in(empty)
    assert "FAILED" in text and words("frame 06 (storm)") in words(text) and "moderation" in text
    assert words("What was that?") in words(text)  # its dialogue is still lettered


def test_sixty_frames_make_full_pages_with_every_panel_and_line(tmp_path: Path) -> None:
    sizes = [(96, 64), (96, 64), (64, 64), (112, 64), (64, 96)]
    specs = [
        {"id": f"f{i:02d}", "caption": f"Panel {i}.", "image_size": sizes[i % 5],
         "dialogue": talk(("ann", f"Line {i}a."), ("bob", f"Line {i}b.")) if i % 3 == 0 else [],
         "page_break": i == 31}
        for i in range(1, 61)
    ]
    path, warnings = comic(make_dir(tmp_path, specs, name="sixty"))
    assert warnings == []
    pages = read(path)
    assert 5 <= len(pages) <= 12
    assert sum(len(p.panels) for p in pages) == 60
    assert reading_sequence(pages, False) == [f"Panel{i}." for i in range(1, 61)]
    first_of_page = [reading_sequence([p], False)[0] for p in pages]
    assert "Panel31." in first_of_page
    for page in pages:
        area = (35.9, 35.9, page.width - 35.9, page.height - 43.9)
        assert all(_in_box((b[0], b[1]), area) and _in_box((b[2], b[3]), area) for b in page.panels)
        for i, a in enumerate(page.panels):
            assert not any(comic_layout.Box(a[0], a[1], a[2] - a[0], a[3] - a[1]).overlaps(
                comic_layout.Box(b[0], b[1], b[2] - b[0], b[3] - b[1])) for b in page.panels[i + 1 :])
    for page in pages[:-1]:  # every page but the last is filled to its foot (within a row's gutter)
        assert max(b[3] for b in page.panels) > page.height - 44 - 40
    assert len([b for p in pages for b in p.balloons]) == 40
    assert len(written_pages(path)) == len(pages)


def test_letter_paper(talky: Path, tmp_path: Path) -> None:
    path, _ = comic(talky, tmp_path / "l.pdf", paper="letter")
    assert {(p.width, p.height) for p in read(path)} == {(612.0, 792.0)}


# --- fonts -------------------------------------------------------------------------------------


def test_lettering_is_the_embedded_font_with_shaped_fallback_for_other_scripts(tmp_path: Path) -> None:
    arabic = "إلى أين نذهب؟"
    out = make_dir(tmp_path, [{"id": "a", "dialogue": talk(("sami", arabic), ("mira", "Home."))}])
    path, warnings = comic(out)
    assert warnings == []
    (page,) = read(path)
    fonts_by_text = {c["text"]: c["fontname"] for c in page.chars}
    assert "ComicNeue" in fonts_by_text["H"]
    arabic_fonts = {c["fontname"] for b in page.balloons for c in b.chars if "\u0600" <= c["text"][0] <= "\u06ff" or "\ufe70" <= c["text"][0] <= "\ufeff"}
    assert arabic_fonts and all("DejaVu" in f for f in arabic_fonts)
    embedded = [str(f) for pg in PdfReader(path).pages for f in pg["/Resources"]["/Font"].values()]
    assert embedded
    # Shaped: the Arabic letters are set in their joined forms, not as isolated letters in a row.
    reader_text = PdfReader(path).pages[0].extract_text()
    assert "Home." in reader_text


def test_lettering_after_a_wrapped_hebrew_line_with_punctuation_is_drawn_in_its_font(tmp_path: Path) -> None:
    # A line whose fonts change midway (Hebrew in the fallback, the comma in the lettering font)
    # must leave the lettering font set for what follows: fpdf2 once drew the next words with none.
    import pypdfium2 as pdfium

    hebrew = "אני אוהב את העיר הזאת בלילה, במיוחד את השוק הגדול ליד הנמל שלנו."
    out = make_dir(tmp_path, [
        {"id": "a", "dialogue": talk(("dan", hebrew))},
        {"id": "b", "dialogue": talk(("dan", hebrew), ("mira", "Home, at last."))},
        {"id": "c", "caption": "The next day.", "dialogue": talk(("mira", "See you tomorrow."))},
    ])
    path, warnings = comic(out)
    assert warnings == []
    drawn = pdfium.PdfDocument(path)[0].get_textpage().get_text_range()  # what a viewer draws, in its fonts
    for words in ("הגדול ליד הנמל שלנו.", "Home, at last.", "The next day.", "See you tomorrow."):
        assert words in drawn


def test_a_failed_panel_full_of_balloons_still_says_why_it_failed(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    crowd = talk(*[(f"speaker{i}", f"Line number {i} from speaker {i}.") for i in range(1, 9)])
    out = make_dir(tmp_path, [
        {"id": "calm", "caption": "Before."},
        {"id": "crowd", "status": "failed", "reason": "moderation",
         "error": {"type": "BadRequestError", "code": "moderation_blocked", "message": "Your request was rejected by the safety system."},
         "dialogue": crowd},
    ])
    path, _ = comic(out)
    drawn = " ".join(pdfium.PdfDocument(path)[0].get_textpage().get_text_range().split())
    assert "FAILED" in drawn and "frame 02 (crowd)" in drawn
    assert "moderation" in drawn and "rejected by the safety system" in drawn


def test_text_in_a_script_no_font_covers_is_named_in_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "fallback_fonts", lambda *a, **k: [])
    out = make_dir(tmp_path, [{"id": "siam", "dialogue": talk(("noi", "สวัสดี"))}, {"id": "b"}])
    _, warnings = comic(out)
    (warning,) = warnings
    assert warning.startswith("frame 01 (siam): no font here covers the Thai text, so the comic shows blanks for it.")


# --- adventures --------------------------------------------------------------------------------

ADVENTURE = [
    {"id": "edge", "caption": "The flame points in.", "text": "The lantern leans toward the trees.",
     "choices": [{"label": "Follow the light", "goto": "fork"}, {"label": "Go home", "goto": "home"}]},
    {"id": "home", "caption": "Home again.", "text": "You blow the lantern out. THE END."},
    {"id": "lost", "caption": "Never reached.", "text": "Nobody comes here."},
    {"id": "fork", "caption": "Two ways on.", "text": "A fork in the path.",
     "choices": [{"label": "Cross the bridge", "goto": "end"}, {"label": "Back", "goto": "edge"}]},
    {"id": "end", "caption": "The bridge.", "text": "You cross. THE END."},
]


def test_an_adventure_reads_from_the_start_with_turn_to_page_notes(tmp_path: Path) -> None:
    path, warnings = comic(make_dir(tmp_path, ADVENTURE, name="adv"))
    assert warnings == [
        "frame 03 (lost): no choice leads there from the start, so the comic leaves it out. "
        "Add a choice with `goto:` to it, or remove it."
    ]
    pages = read(path)
    captions = [reading_sequence([p], False) for p in pages]
    assert captions == [["Theflamepointsin."], ["Twowayson."], ["Homeagain."], ["Thebridge."]]
    text = [re.sub(r"\s+", " ", PdfReader(path).pages[i].extract_text()) for i in range(4)]
    assert "Follow the light: turn to page 2." in text[0] and "Go home: turn to page 3." in text[0]
    assert "Cross the bridge: turn to page 4." in text[1] and "Back: turn to page 1." in text[1]
    assert "The lantern leans toward the trees." in text[0]
    reader = PdfReader(path)
    links = [a.get_object() for a in reader.pages[0].get("/Annots", []) if a.get_object().get("/Subtype") == "/Link"]
    assert len(links) == 2
    targets = sorted(reader.get_page_number(link["/Dest"][0].get_object()) for link in links)
    assert targets == [1, 2]  # pages 2 and 3, counted from 0


def test_a_passage_too_long_for_its_page_is_cut_on_it_with_a_warning(tmp_path: Path) -> None:
    specs = [dict(s) for s in ADVENTURE if s["id"] != "lost"]
    specs[0]["text"] = "The wood is very old and very deep. " * 300
    path, warnings = comic(make_dir(tmp_path, specs, name="adv"))
    assert warnings == [
        "frame 01 (edge): its passage does not fit the page even at 7 pt, so the end is cut (…). "
        "Shorten it, or split it over two frames."
    ]
    page = read(path)[0]
    foot = [c["text"] for c in page.chars if c["bottom"] > page.height - 44]
    assert foot == ["1"]  # below the text area, only the page number
    assert all(c["top"] >= 36 for c in page.chars)
    text = PdfReader(path).pages[0].extract_text()
    assert "…" in text and "Follow the light: turn to page 2." in text  # the choices are never cut


# --- files and the command line ----------------------------------------------------------------


def test_png_pages_are_rendered_from_the_pdf_and_stale_ones_removed(talky: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out.pdf"
    stale = dest.with_name("out-07.png")
    dest.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"old page")
    keep = dest.with_name("out-notes.png")
    keep.write_bytes(b"the artist's")
    path, _ = comic(talky, dest)
    pages = read(path)
    pngs = written_pages(path)
    assert pngs == page_files(path, len(pages)) and not stale.exists() and keep.read_bytes() == b"the artist's"
    with Image.open(pngs[0]) as im:
        assert abs(im.width - pages[0].width / 72 * 150) < 1 and abs(im.height - pages[0].height / 72 * 150) < 1
        rgb = im.convert("RGB")
        # The balloon's outline is drawn in ink at its left edge, with white paper just inside it.
        b = pages[0].balloons[0]
        scale = 150 / 72
        x, y = min(b.points, key=lambda p: p[0])
        px, py = round(x * scale), round(y * scale)
        edge = [sum(rgb.getpixel((px + dx, py + dy))) for dx in range(-2, 3) for dy in range(-2, 3)]
        assert min(edge) < 200
        assert rgb.getpixel((round((x + 3) * scale), py)) == (255, 255, 255)


def test_cli_comic_writes_the_pdf_and_its_pages(talky: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(talky), "--comic", "--paper", "letter", "--rtl", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == str(tmp_path / "river-comic.pdf")
    assert lines[1:] == [str(p) for p in written_pages(tmp_path / "river-comic.pdf")] and len(lines) >= 2
    assert {(p.width, p.height) for p in read(tmp_path / "river-comic.pdf")} == {(612.0, 792.0)}


def test_cli_comic_refuses_a_png_name(talky: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(talky), "--comic", "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2
    assert "--comic writes a .pdf file, not .png; name it x.pdf." in result.output


def test_cli_rtl_without_comic_is_refused(talky: Path) -> None:
    result = CliRunner().invoke(app, ["export", str(talky), "--pdf", "--rtl"])
    assert (result.exit_code, result.stderr) == (2, "Error: --rtl sets the reading direction of comic pages; add --comic.\n")


def test_the_comic_example_exports_on_the_draft_backend(tmp_path: Path) -> None:
    story = Path(__file__).parent.parent / "pipelines" / "comic-kite.yaml"
    out = tmp_path / "kite"
    run = CliRunner().invoke(app, ["run", str(story), "--backend", "draft", "-o", str(out), "--quiet"])
    assert run.exit_code == 0, run.output
    result = CliRunner().invoke(app, ["export", str(out), "--comic"])
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.output
    pages = read(out / "exports" / "comic-kite-comic.pdf")
    assert sum(len(p.panels) for p in pages) == 12 and len(pages) == 2
    lines = [line for frame in json.loads((out / "manifest.json").read_text())["frames"] for line in frame["dialogue"]]
    said = words(" ".join(b.text for p in pages for b in p.balloons))
    assert len(lines) == len([b for p in pages for b in p.balloons])
    assert all(words(d["line"]) in said for d in lines)
