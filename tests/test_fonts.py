"""The shared text layer: shipped fonts and coverage (render/fonts.py), Pillow typesetting
(render/text.py), PDF documents with embedded fonts (render/pdfdoc.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from pypdf import PdfReader

from storyboard.render import fonts, pdfdoc
from storyboard.render import text as typeset

PROMPT = (
    "A small silver robot dog with one glowing blue eye and a red scarf wakes up on a "
    "workbench in a cluttered lab, soft watercolor storybook illustration"
)
ARABIC = "لقطة واسعة. الكاميرا تتحرك ببطء نحو الميناء."


def _clear_font_caches() -> None:
    for f in (fonts._choose, fonts._load_font, fonts._open, fonts._well_known, fonts._fc_match, fonts._coverage):
        f.cache_clear()


@pytest.fixture
def draw() -> ImageDraw.ImageDraw:
    """Return a drawing context to measure text with."""
    return ImageDraw.Draw(Image.new("RGB", (8, 8)))


# -- shipped fonts ----------------------------------------------------------------------------


@pytest.mark.parametrize(("family", "bold"), [("sans", False), ("sans", True), ("comic", False), ("comic", True)])
def test_shipped_fonts_are_in_the_package_with_their_licences(family: fonts.Family, bold: bool) -> None:
    path = Path(fonts.shipped_font(family, bold))
    assert path.parent == Path(fonts.__file__).parent / "fontfiles"
    assert fonts.is_truetype((str(path), 0))  # TrueType outlines: what fpdf2 embeds
    assert not fonts.missing((str(path), 0), fonts.drawn("Rex wakes up, café!"))
    licences = {p.name for p in path.parent.iterdir()}
    assert {"LICENSE-DejaVu.txt", "OFL-ComicNeue.txt"} <= licences


def test_the_sans_covers_the_scripts_exports_promise() -> None:
    sans = (fonts.shipped_font(), 0)
    for text in ("Rex", "Жук", "Ωmega", ARABIC, "שלום", "Աա", "→ ♪ …"):
        assert not fonts.missing(sans, fonts.drawn(text)), text
    assert fonts.missing(sans, fonts.drawn("ロボット犬")) == frozenset("ロボット犬")


def test_load_font_uses_the_shipped_face_first() -> None:
    font = fonts.load_font(24, "Rex wakes up.")
    assert (font.path, font.size) == (fonts.shipped_font(), 24)
    assert fonts.load_font(24, "Rex", bold=True).path == fonts.shipped_font("sans", True)
    assert fonts.load_font(24, "WE HAVE TO GO!", family="comic").path == fonts.shipped_font("comic")


def test_comic_lettering_falls_back_to_the_sans_for_what_it_lacks() -> None:
    # Comic Neue has no arrows and no Arabic; DejaVu Sans has both.
    assert fonts.load_font(24, "go → there", family="comic").path == fonts.shipped_font("sans")
    assert fonts.load_font(24, ARABIC, family="comic").path == fonts.shipped_font("sans")


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("ロボット犬が目を覚ます", ["Chinese/Japanese/Korean (CJK)"]),
        ("สวัสดี and नमस्ते", ["Devanagari", "Latin", "Thai"]),
        ("   \n", []),
    ],
)
def test_script_names_say_what_a_writer_calls_them(text: str, names: list[str]) -> None:
    assert fonts.script_names(text) == names


def test_unreadable_font_files_are_never_chosen(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ttf"
    junk.write_bytes(b"not a font")
    assert fonts._coverage((str(junk), 0)) is None
    assert fonts._coverage(("/nonexistent.ttf", 0)) is None
    assert fonts._covered((str(junk), 0), frozenset("a")) == -1
    assert not fonts.is_truetype((str(junk), 0))


@pytest.mark.parametrize("text", ["Rex", "レックス", "ريكس", "Жук"])
def test_load_font_picks_a_font_that_covers_the_text(text: str) -> None:
    chars = frozenset(text)
    refs = [(fonts.shipped_font(), 0), *fonts._well_known(False)]
    if not any(fonts._covered(ref, chars) == len(chars) for ref in refs):
        pytest.skip(f"no font on this machine covers {text}")
    ref = fonts._choose(chars, False)
    assert ref is not None and fonts._covered(ref, chars) == len(chars)
    font = fonts.load_font(24, text)
    assert (font.path, font.index, font.size) == (ref[0], ref[1], 24)


def test_fontconfig_is_asked_once_per_script(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_font_caches()
    calls: list[str] = []
    real = fonts.subprocess.run

    def counting(args, **kw):  # noqa: ANN001, ANN202
        calls.append(args[-1])
        return real(args, **kw)

    monkeypatch.setattr(fonts.subprocess, "run", counting)
    try:
        for text in ("レックス", "目を覚ます", "ロボット犬", "Rex", "Rex wakes"):
            fonts.load_font(20, text)
        assert len(calls) <= 1  # Latin needs none (the shipped font covers it), CJK one query
    finally:
        _clear_font_caches()


def test_without_fontconfig_or_system_fonts_the_shipped_font_still_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_font_caches()
    monkeypatch.setattr(fonts, "_WELL_KNOWN", {False: (), True: ()})
    monkeypatch.setattr(fonts, "_fc_match_path", lambda: None)
    try:
        assert fonts.load_font(30, "日本語 Rex").path == fonts.shipped_font()
    finally:
        monkeypatch.undo()
        _clear_font_caches()


def test_fallback_fonts_cover_only_what_the_sans_lacks() -> None:
    assert fonts.fallback_fonts(fonts.drawn("Rex → ابت")) == []
    for ref in fonts.fallback_fonts(fonts.drawn("ロボット"), truetype_only=True):
        assert fonts.is_truetype(ref)


def test_importing_the_text_layer_does_not_import_pillow_or_fonttools() -> None:
    code = (
        "import sys, storyboard.render.fonts, storyboard.render.text, storyboard.render.pdfdoc; "
        "sys.exit(bool({'PIL', 'fontTools', 'fpdf'} & set(sys.modules)))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- Pillow typesetting -----------------------------------------------------------------------


def test_wrap_latin_by_pixel_width(draw: ImageDraw.ImageDraw) -> None:
    font = fonts.load_font(20)
    lines = typeset.wrap(draw, PROMPT, font, 300)
    assert len(lines) > 2
    assert all(draw.textlength(line, font=font) <= 300 for line in lines)
    assert " ".join(lines) == PROMPT


def test_wrap_japanese_per_character(draw: ImageDraw.ImageDraw) -> None:
    text = "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"
    font = fonts.load_font(20, text)
    lines = typeset.wrap(draw, text, font, 150)
    assert len(lines) > 2
    assert "".join(lines) == text
    assert all(typeset.measure(draw, line, font) <= 150 for line in lines)
    assert not any(line.startswith(("。", "、")) for line in lines)  # closing marks stay with their text


def test_wrap_breaks_long_words_and_keeps_paragraphs(draw: ImageDraw.ImageDraw) -> None:
    font = fonts.load_font(20)
    lines = typeset.wrap(draw, "x" * 200 + "\n\nnext", font, 100)
    assert all(draw.textlength(line, font=font) <= 100 for line in lines)
    assert "".join(lines[:-2]) == "x" * 200
    assert lines[-2:] == ["", "next"]
    assert typeset.wrap(draw, "", font, 100) == []


def test_wrap_max_lines_ends_with_ellipsis(draw: ImageDraw.ImageDraw) -> None:
    font = fonts.load_font(20)
    lines = typeset.wrap(draw, PROMPT * 20, font, 200, max_lines=3)
    assert len(lines) == 3
    assert lines[-1].endswith("…")
    assert draw.textlength(lines[-1], font=font) <= 200


def test_the_old_import_path_still_wraps(draw: ImageDraw.ImageDraw) -> None:
    assert fonts.wrap_text is typeset.wrap and fonts.is_rtl is typeset.is_rtl


def test_fit_keeps_the_start_or_the_end(draw: ImageDraw.ImageDraw) -> None:
    font = fonts.load_font(20)
    path = "characters/a-very-long-folder-name/rex-reference-sheet.png"
    start = typeset.fit(draw, path, font, 200)
    end = typeset.fit(draw, path, font, 200, keep="end")
    assert start.endswith("…") and path.startswith(start[:-1])
    assert end.startswith("…") and path.endswith(end[1:])
    assert typeset.measure(draw, start, font) <= 200 and typeset.measure(draw, end, font) <= 200
    assert typeset.fit(draw, "Rex", font, 200) == "Rex"


def _ink_box(img: Image.Image) -> tuple[int, int, int, int] | None:
    return img.convert("L").point(lambda v: 255 if v < 128 else 0).getbbox()


def test_draw_lines_puts_right_to_left_lines_on_the_right() -> None:
    font = fonts.load_font(20, ARABIC)
    boxes = []
    for line in ("Wide shot.", ARABIC[:12]):
        img = Image.new("RGB", (400, 40), "white")
        typeset.draw_lines(ImageDraw.Draw(img), [line], font, 10, 390, 5, 24, (0, 0, 0))
        boxes.append(_ink_box(img))
    (left, _, _, _), (_, _, right, _) = boxes
    assert left is not None and left <= 12  # English starts at the left edge
    assert right >= 385  # Arabic starts at the right edge


def test_bitmap_font_never_raises_on_any_text(draw: ImageDraw.ImageDraw) -> None:
    font = ImageFont.load_default_imagefont()
    img = Image.new("RGB", (300, 60), "white")
    d = ImageDraw.Draw(img)
    for text in ("ロボット", ARABIC, "Rex → there"):
        assert typeset.measure(d, text, font) > 0
        typeset.draw_text(d, (290, 10), text, font, (0, 0, 0), "ra")
        assert typeset.wrap(d, text, font, 80)
        assert typeset.fit(d, text * 5, font, 80).endswith("...")
    assert _ink_box(img) is not None


def test_draw_block_returns_the_y_below_it(draw: ImageDraw.ImageDraw) -> None:
    font = fonts.load_font(20)
    img = Image.new("RGB", (300, 400), "white")
    y = typeset.draw_block(ImageDraw.Draw(img), PROMPT, font, 10, 290, 20, (0, 0, 0))
    lines = typeset.wrap(draw, PROMPT, font, 280)
    assert y == 20 + len(lines) * typeset.line_height(font)
    box = _ink_box(img)
    assert box is not None and box[3] <= y


# -- PDF documents ------------------------------------------------------------------------------


def test_pdf_text_is_real_shaped_and_selectable(tmp_path: Path) -> None:
    pdf = pdfdoc.new_document("a4", "portrait", title="Fonts")
    pdf.add_page()
    assert pdfdoc.cover(pdf, f"Rex → café {ARABIC}") == frozenset()
    for i, (family, text) in enumerate([("sans", "Rex wakes up → café"), ("comic", "WE HAVE TO GO → NOW!"), ("sans", ARABIC)]):
        pdf.set_font(family, "B", 12)
        pdf.set_xy(40, 40 + 20 * i)
        pdfdoc.cell(pdf, 300, 16, text)
    path = tmp_path / "fonts.pdf"
    pdf.output(str(path))
    reader = PdfReader(path)
    extracted = reader.pages[0].extract_text()
    for text in ("Rex wakes up → café", "WE HAVE TO GO → NOW!", ARABIC.rstrip(".")):
        assert text in extracted  # (a text extractor puts an Arabic line's final stop first: visual order)
    embedded = {str(f["/BaseFont"]) for f in reader.pages[0]["/Resources"]["/Font"].values()}
    assert any("DejaVuSans" in f for f in embedded) and any("ComicNeue" in f for f in embedded)
    assert reader.metadata.title == "Fonts"


def test_only_text_that_needs_it_is_shaped() -> None:
    pdf = pdfdoc.new_document()
    pdf.add_page()
    pdf.set_font("sans", "", 9)
    for text, shaped in [("Rex wakes up → café", False), (ARABIC, True), ("नमस्ते", True), ("e\u0301", True)]:
        pdfdoc.use_shaping(pdf, text)
        assert bool(pdf.text_shaping) is shaped, text
    # Measured without shaping, a plain line is the sum of its advances, as fpdf2 draws it.
    pdfdoc.use_shaping(pdf, "Rex")
    assert pdfdoc.text_width(pdf, "Rex wakes") == pytest.approx(pdf.get_string_width("Rex wakes"))


def test_pdf_cover_returns_what_no_font_has() -> None:
    pdf = pdfdoc.new_document()
    missing = pdfdoc.cover(pdf, "Rex ロボット")
    system_cjk = fonts.fallback_fonts(fonts.drawn("ロボット"), truetype_only=True)
    assert missing == (frozenset() if system_cjk else frozenset("ロボット"))


def test_pdf_wrap_keeps_every_word_and_blank_lines() -> None:
    pdf = pdfdoc.new_document()
    pdf.add_page()
    pdf.set_font("sans", "", 9)
    lines = pdfdoc.wrap(pdf, PROMPT + "\n\n" + PROMPT, 120)
    assert "" in lines and len(lines) > 6
    assert all(pdfdoc.text_width(pdf, line) <= 120.01 for line in lines)
    assert " ".join(x for x in lines if x).split() == (PROMPT + " " + PROMPT).split()


def test_unknown_paper_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown paper"):
        pdfdoc.new_document("a5")  # type: ignore[arg-type]
