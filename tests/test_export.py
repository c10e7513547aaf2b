"""Exports: the storyboard PDF (real text, layouts, pages), GIF/WebP, the sheet PNG, the ZIP, the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat
from pypdf import PdfReader
from sheetdata import JAPANESE_CAPTION, build
from typer.testing import CliRunner

from storyboard.cli import app
from storyboard.errors import UsageError
from storyboard.export import animation, pdf_layout
from storyboard.export.archive import zip_members
from storyboard.export.core import default_destination, export
from storyboard.export.job import ExportOptions
from storyboard.render import fonts, pdfdoc

ARABIC_NOTE = "لقطة واسعة. الكاميرا تتحرك ببطء نحو الميناء."
LONG_NOTE = " ".join(f"Beat {i}: the camera holds while rain runs down the glass." for i in range(1, 121))
DIALOGUE = [
    {"speaker": "rex", "line": "Where am I? This lab smells of solder and rain."},
    {"speaker": "the crowd", "line": "Wake up, little dog!"},
]

# Seven frames; five have images (frame 6 failed, frame 7 skipped). Small images keep it fast.
SPECS: list[dict[str, Any]] = [
    {"id": "lab", "caption": "Rex wakes up.", "notes": "WIDE. Slow push in.", "duration": 3.5, "dialogue": DIALOGUE},
    {"id": "city", "caption": JAPANESE_CAPTION, "takes": 2, "pick": 2, "fmt": "jpeg"},
    {"id": "night", "caption": "Night falls over the harbour and the last ferry leaves.", "notes": ARABIC_NOTE, "duration": 1},
    {"id": "wider", "caption": "The harbour.", "image_size": (320, 120)},
    {"id": "poster", "caption": "Poster.", "image_size": (120, 180), "fmt": "webp", "duration": 0.5},
    {
        "id": "storm",
        "caption": "The storm.",
        "status": "failed",
        "reason": "moderation",
        "error": {"type": "BadRequestError", "code": "moderation_blocked", "message": "Rejected."},
    },
    {"id": "after", "caption": "After the storm.", "status": "skipped", "reason": "source failed"},
]
WITH_IMAGES = ["lab", "city", "night", "wider", "poster"]
DURATIONS_MS = [3500, 2000, 1000, 2000, 500]
CAST = [{"name": "rex", "description": "a small silver robot dog with a red scarf"}]


def make_dir(root: Path, specs: list[dict[str, Any]] = SPECS, name: str = "robot-dog", **kw: Any) -> Path:
    """Build a sample output folder named `name` whose manifest names story file robot-dog.yaml."""
    out = root / name
    manifest = build(out, specs, image_size=kw.pop("image_size", (240, 160)), **kw)
    manifest["story"]["file"] = "pipelines/robot-dog.yaml"
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared sample folder for tests that only read it (each export writes its own file)."""
    return make_dir(tmp_path_factory.mktemp("export"), characters=CAST)


def pdf_text(path: Path) -> str:
    """Return the PDF's text, whitespace collapsed (a wrapped line joins its next with a space)."""
    text = "\n".join(page.extract_text() for page in PdfReader(path).pages)
    return re.sub(r"\s+", " ", text)


def font_sizes(path: Path) -> set[float]:
    """Return every font size the PDF's pages set text in."""
    sizes: set[float] = set()
    for page in PdfReader(path).pages:
        data = page.get_contents().get_data().decode("latin-1")
        sizes |= {float(m) for m in re.findall(r"/F\d+ ([\d.]+) Tf", data)}
    return sizes


def frame_durations(path: Path) -> list[int]:
    """Return the per-frame durations (ms) Pillow reads from an animation."""
    with Image.open(path) as im:
        durations = []
        for i in range(im.n_frames):
            im.seek(i)
            im.load()  # WebP fills in `duration` only once the frame is decoded
            durations.append(im.info["duration"])
        return durations


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("pdf", "robot-dog.pdf"),
        ("mp4", "robot-dog.mp4"),
        ("gif", "robot-dog.gif"),
        ("webp", "robot-dog.webp"),
        ("sheet", "robot-dog-sheet.png"),
        ("zip", "robot-dog.zip"),
    ],
)
def test_default_destination_is_exports_story_stem(sample: Path, kind: str, name: str) -> None:
    manifest = json.loads((sample / "manifest.json").read_text(encoding="utf-8"))
    assert default_destination(sample, manifest, kind) == sample / "exports" / name  # type: ignore[arg-type]


# -- the storyboard PDF --------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["6", "3", "1"])
def test_pdf_text_is_real_and_complete(sample: Path, tmp_path: Path, layout: str) -> None:
    path = export(sample, "pdf", tmp_path / "board.pdf", options=ExportOptions(layout=layout))  # type: ignore[arg-type]
    text = pdf_text(path)
    for spec in SPECS:
        if spec["caption"] != JAPANESE_CAPTION or fonts.fallback_fonts(fonts.drawn(JAPANESE_CAPTION), truetype_only=True):
            assert spec["caption"] in text
    for line in DIALOGUE:
        assert line["line"] in text
    assert "REX" in text and "THE CROWD" in text
    assert "WIDE. Slow push in." in text
    # An extractor gives right-to-left text in visual order: the final full stop comes first.
    assert ARABIC_NOTE.rstrip(".") in text
    assert "FAILED" in text and "moderation" in text and "SKIPPED" in text and "source failed" in text
    assert "Robot Dog's Journey" in text and "robot-dog.yaml" in text
    assert "Cast: rex (a small silver robot dog with a red scarf)" in text
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", text)  # the date in the title block
    count = len(PdfReader(path).pages)
    for n in range(1, count + 1):
        assert f"{n} / {count}" in text
    assert min(font_sizes(path)) >= pdfdoc.MIN_TEXT_PT


def test_pdf_a_long_note_flows_onto_the_next_page_whole(tmp_path: Path) -> None:
    # Last in its row of three, so nothing is drawn between the note's two parts but the next page's head.
    specs = [{"id": "a", "caption": "First."}, {"id": "b"}, {"id": "rain", "caption": "Rain.", "notes": LONG_NOTE}, {"id": "d"}]
    out = make_dir(tmp_path, specs)
    for layout in ("6", "3", "1"):
        path = export(out, "pdf", tmp_path / f"{layout}.pdf", options=ExportOptions(layout=layout))  # type: ignore[arg-type]
        reader = PdfReader(path)
        text = pdf_text(path)
        # Whole and in order, once the next page's head and foot (drawn before its frames) are taken out.
        joined = re.sub(r" Robot Dog's Journey robot-dog\.yaml · storyboard \d+ / \d+ 03 rain \(continued\)", "", text)
        assert LONG_NOTE in joined
        # The note starts on one page and ends on another, under a "(continued)" head.
        first = next(i for i, p in enumerate(reader.pages) if "Beat 1:" in p.extract_text())
        last = next(i for i, p in enumerate(reader.pages) if "Beat 120:" in p.extract_text())
        assert last > first
        assert "03 rain (continued)" in reader.pages[last].extract_text()


@pytest.mark.parametrize(
    ("layout", "pages"),
    [("6", {1: 1, 6: 1, 7: 2, 300: 50}), ("3", {1: 1, 6: 2, 7: 3, 300: 100}), ("1", {1: 1, 6: 6, 7: 7, 300: 300})],
)
def test_pdf_page_counts(tmp_path_factory: pytest.TempPathFactory, layout: str, pages: dict[int, int]) -> None:
    root = tmp_path_factory.getbasetemp() / "page-counts"
    for n, expected in pages.items():
        out = root / f"n{n}"
        if not out.exists():
            specs = [{"id": f"shot-{i}", "caption": f"Shot {i}.", "notes": "MEDIUM. Hold."} for i in range(n)]
            build(out, specs, image_size=(24, 16))
        path = export(out, "pdf", root / f"{n}-{layout}.pdf", options=ExportOptions(layout=layout))  # type: ignore[arg-type]
        assert len(PdfReader(path).pages) == expected, (n, layout)


@pytest.mark.parametrize(("paper", "size"), [("a4", (842, 595)), ("letter", (792, 612))])
def test_pdf_paper_and_orientation(sample: Path, tmp_path: Path, paper: str, size: tuple[int, int]) -> None:
    for layout, (w, h) in (("6", size), ("3", size[::-1]), ("1", size)):
        options = ExportOptions(layout=layout, paper=paper)  # type: ignore[arg-type]
        page = PdfReader(export(sample, "pdf", tmp_path / "p.pdf", options=options)).pages[0]
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (w, h)


def test_pdf_frames_keep_their_aspect_and_portrait_fills_the_height(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    placed: list[tuple[float, float]] = []
    real = pdfdoc.place_image

    def spy(pdf: Any, image: Image.Image, x: float, y: float, w: float, h: float, **kw: Any) -> None:
        placed.append((w, h))
        real(pdf, image, x, y, w, h, **kw)

    monkeypatch.setattr(pdfdoc, "place_image", spy)
    for layout in ("6", "3", "1"):
        placed.clear()
        export(sample, "pdf", tmp_path / "a.pdf", options=ExportOptions(layout=layout))  # type: ignore[arg-type]
        geo = pdf_layout.geometry(layout, "a4", 1.5)
        assert len(placed) == 5  # the five frames with images
        box_w, box_h = (geo.col_w, geo.slot) if geo.beside else (geo.panel_w, geo.panel_h)
        for (w, h), (iw, ih) in zip(placed, [(240, 160), (240, 160), (240, 160), (320, 120), (120, 180)], strict=True):
            assert w / h == pytest.approx(iw / ih, rel=0.01)  # aspect kept
            assert w <= box_w + 0.01 and h <= box_h + 0.01
            assert w == pytest.approx(box_w) or h == pytest.approx(box_h)  # as large as the panel allows
        assert placed[4][1] == pytest.approx(box_h)  # the portrait poster fills the panel's height
        # Panels use their page: landscape frames most of a column's width, portrait ones a row's height.
        least_w, least_h = {"6": (200, 130), "3": (230, 200), "1": (450, 300)}[layout]
        assert placed[0][0] >= least_w and placed[4][1] >= least_h


def test_pdf_images_are_downsampled_to_the_page(tmp_path: Path) -> None:
    out = make_dir(tmp_path, [{"id": "big", "caption": "Big."}], image_size=(2400, 1600))
    reader = PdfReader(export(out, "pdf"))
    (image,) = reader.pages[0].images
    geo = pdf_layout.geometry("6", "a4", 1.5)
    assert image.image.width <= round(geo.panel_w / 72 * pdfdoc.IMAGE_DPI) + 1
    assert image.image.width >= 300  # still sharp on paper
    assert (out / "exports" / "robot-dog.pdf").stat().st_size < 400_000


def test_pdf_adventure_choices_name_and_link_their_frames(tmp_path: Path) -> None:
    specs = [
        {"id": "edge", "caption": "The edge.", "text": "The flame leans toward the trees.",
         "choices": [{"label": "Follow the light", "goto": "fork"}, {"label": "Go home", "goto": "home"}]},
        {"id": "fork", "caption": "Two ways on.", "text": "A bridge and a hollow oak.", "choices": [{"label": "Back", "goto": "edge"}]},
        {"id": "home", "caption": "Home.", "text": "Grandpa is asleep. The end."},
    ]
    out = make_dir(tmp_path, specs)
    path = export(out, "pdf", options=ExportOptions(layout="1"))
    text = pdf_text(path)
    assert "Follow the light → 02 fork" in text and "Go home → 03 home" in text and "Back → 01 edge" in text
    assert "The flame leans toward the trees." in text
    links = [a.get_object() for a in PdfReader(path).pages[0].get("/Annots", [])]
    assert len([a for a in links if a.get("/Subtype") == "/Link"]) == 2  # each choice links to its frame's page


def test_pdf_warns_about_text_no_font_covers(sample: Path, tmp_path: Path) -> None:
    warnings: list[str] = []
    export(sample, "pdf", tmp_path / "w.pdf", warn=warnings.append)
    if fonts.fallback_fonts(fonts.drawn(JAPANESE_CAPTION), truetype_only=True):
        assert not [w for w in warnings if "CJK" in w]
    else:
        (warning,) = [w for w in warnings if "CJK" in w]
        assert warning.startswith("frame 02 (city): no font here covers the Chinese/Japanese/Korean (CJK) text")


def test_pdf_reports_progress_frame_by_frame(sample: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    export(sample, "pdf", tmp_path / "p.pdf", progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 7) for i in range(1, 8)]


# (A duration that is not a number at all makes the manifest invalid: load_manifest refuses it.)
@pytest.mark.parametrize("bad", [float("inf"), float("nan"), -2, 0, 1e9])
def test_durations_that_are_not_seconds_never_sink_an_export(tmp_path: Path, bad: Any) -> None:
    out = make_dir(tmp_path, [{"id": "a", "caption": "A."}, {"id": "b", "caption": "B."}])
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["frames"][0]["duration"] = bad  # json writes inf/nan as Infinity/NaN, which Python reads back
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    warnings: list[str] = []
    assert export(out, "pdf", warn=warnings.append).stat().st_size > 0
    assert frame_durations(export(out, "gif"))[0] == (600_000 if bad == 1e9 else 2000)
    assert warnings and warnings[0].startswith("frame 01 (a): duration")


def test_a_story_with_an_infinite_duration_is_refused(tmp_path: Path) -> None:
    from storyboard.errors import StoryError
    from storyboard.story import load_story

    story = tmp_path / "s.yaml"
    story.write_text("title: T\nframes:\n  - prompt: a\n    duration: .inf\n", encoding="utf-8")
    with pytest.raises(StoryError, match=r"s\.yaml:4:15: frames\[0\]\.duration: .*finite"):
        load_story(story)


# -- GIF, WebP, sheet, ZIP ---------------------------------------------------------------------


def test_gif_has_picked_frames_with_their_durations_and_loops(sample: Path) -> None:
    path = export(sample, "gif")
    assert frame_durations(path) == DURATIONS_MS
    with Image.open(path) as im:
        assert im.info["loop"] == 0
        assert im.size == (240, 160)  # the first frame's size: every frame letterboxed onto it


def test_gif_frames_are_the_pictures_for_pillow_and_for_ffmpeg(tmp_path: Path) -> None:
    # The GIF is written a frame at a time (storyboard/export/gif.py): two decoders must read each
    # frame as its picture, within what a 256-colour palette allows.
    av = pytest.importorskip("av")
    colours = [(200, 30, 30), (30, 160, 60), (40, 60, 210)]
    out = make_dir(tmp_path, [{"id": f"f{i}", "duration": 1} for i in range(3)])
    manifest = json.loads((out / "manifest.json").read_text())
    files = [out / e["file"] for e in manifest["frames"] if e["picked"]]
    for f, c in zip(files, colours, strict=True):  # pictures with a gradient and a colour of their own
        im = Image.linear_gradient("L").resize((240, 160)).convert("RGB")
        Image.blend(im, Image.new("RGB", im.size, c), 0.6).save(f)
    path = export(out, "gif")
    want = [Image.open(f).convert("RGB") for f in files]

    def close(a: Image.Image, b: Image.Image) -> bool:
        return max(ImageStat.Stat(ImageChops.difference(a, b)).mean) < 6

    with Image.open(path) as im:
        assert im.n_frames == 3
        for i in range(3):
            im.seek(i)
            assert close(im.convert("RGB"), want[i]), i
    with av.open(str(path)) as container:
        got = [frame.to_image().convert("RGB") for frame in container.decode(video=0)]
    assert len(got) == 3 and all(close(g, w) for g, w in zip(got, want, strict=True))


def test_webp_has_picked_frames_with_their_durations(sample: Path) -> None:
    path = export(sample, "webp")
    with Image.open(path) as im:
        assert im.n_frames == len(WITH_IMAGES)
        assert im.size == (240, 160)
    assert frame_durations(path) == DURATIONS_MS


class _OtherEncoder:
    """An animation encoder of another Pillow: its `add` takes other arguments."""

    def add(self, *args: Any) -> None:
        raise TypeError("add() takes 3 positional arguments")


@pytest.mark.parametrize("encoder", ["streamed", "none", "another"],
                         ids=["a frame at a time", "no encoder: save_all", "another encoder: save_all"])
def test_webp_frames_are_the_pictures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoder: str) -> None:
    # libwebp's encoder fed a frame at a time; where a Pillow lacks it, Pillow's save_all: the same file
    from storyboard.export import animation

    if encoder != "streamed":
        monkeypatch.setattr(animation, "_webp_encoder", lambda size: None if encoder == "none" else _OtherEncoder())
    colours = [(200, 30, 30), (30, 160, 60), (40, 60, 210)]
    out = make_dir(tmp_path, [{"id": f"f{i}", "duration": d} for i, d in enumerate((1, 2.5, 0.5))])
    files = [out / e["file"] for e in json.loads((out / "manifest.json").read_text())["frames"] if e["picked"]]
    for f, c in zip(files, colours, strict=True):
        Image.blend(Image.linear_gradient("L").resize((240, 160)).convert("RGB"), Image.new("RGB", (240, 160), c), 0.6).save(f)
    path = export(out, "webp")
    assert frame_durations(path) == [1000, 2500, 500]
    with Image.open(path) as im:
        assert (im.n_frames, im.info["loop"]) == (3, 0)
        for i, f in enumerate(files):
            im.seek(i)
            diff = ImageStat.Stat(ImageChops.difference(im.convert("RGB"), Image.open(f).convert("RGB"))).mean
            assert max(diff) < 6, (i, diff)


def test_animatic_scales_longest_side_to_1024(tmp_path: Path) -> None:
    out = make_dir(tmp_path, [{"id": "big", "image_size": (1600, 800)}, {"id": "small"}])
    path = export(out, "gif")
    with Image.open(path) as im:
        assert im.size == (1024, 512)
        assert im.n_frames == 2


def test_sheet_is_one_grid_png(sample: Path, tmp_path: Path) -> None:
    path = export(sample, "sheet")
    assert path.name == "robot-dog-sheet.png"
    with Image.open(path) as im:
        assert im.format == "PNG"
        wide, tall = im.size
    assert 1200 < wide < 2400 and 600 < tall < 2400  # four columns, two rows and a title

    small = make_dir(tmp_path, SPECS[:2])
    with Image.open(export(small, "sheet")) as im:
        assert im.width < wide / 1.5  # a two-frame story gets two columns, not four


@pytest.mark.parametrize("kind", ["pdf", "comic", "gif", "sheet"])
def test_frames_whose_image_is_missing_or_unreadable_are_named_in_warnings(tmp_path: Path, kind: str) -> None:
    out = make_dir(tmp_path)
    files = {e["id"]: e["file"] for e in json.loads((out / "manifest.json").read_text())["frames"] if e["picked"] and e.get("file")}
    (out / files["lab"]).unlink()
    (out / files["city"]).write_bytes(b"garbage, not an image")
    warnings: list[str] = []
    export(out, kind, warn=warnings.append)
    said = " | ".join(warnings)
    assert f"frame 01 (lab): {files['lab']} is missing; the export shows an empty panel saying so" in said
    assert f"frame 02 (city): {files['city']} cannot be read (damaged, or not an image)" in said
    assert len([w for w in warnings if "frame 02 (city): " + files["city"] in w]) == 1  # once, however often it was opened


def test_the_sheet_png_names_text_no_font_here_draws(tmp_path: Path) -> None:
    out = make_dir(tmp_path, [{"id": "party", "caption": "Party time \U0001f389"}, {"id": "quiet", "caption": "Quiet."}])
    warnings: list[str] = []
    export(out, "sheet", warn=warnings.append)
    assert any("frame 01 (party)" in w and "the sheet PNG" in w for w in warnings), warnings
    assert not any("frame 02" in w for w in warnings)


def test_a_symlinked_exports_folder_leading_out_of_dir_is_refused(tmp_path: Path) -> None:
    out = make_dir(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "exports").symlink_to(elsewhere, target_is_directory=True)
    result = CliRunner().invoke(app, ["export", str(out), "--zip"])
    assert result.exit_code == 2
    assert "exports is a symbolic link to" in result.stderr and "storyboard never follows it" in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_zip_holds_the_shareable_folder_only(tmp_path: Path) -> None:
    out = make_dir(tmp_path)
    (out / "index.html").write_text("<!doctype html><title>sheet</title>", encoding="utf-8")
    (out / "thumbs").mkdir()
    (out / "thumbs" / "01-lab.jpg").write_bytes(b"thumb")
    (out / ".cache" / "ab").mkdir(parents=True)
    (out / ".cache" / "ab" / "abcdef.png").write_bytes(b"stored")
    (out / ".lock").write_text("123", encoding="utf-8")
    (out / "run.lock").write_text("123", encoding="utf-8")
    export(out, "gif")  # an earlier export in exports/ must not travel...
    (out / "exports" / "robot-dog.mp4").write_bytes(b"film")  # ...but the animatic the sheet links does
    (out / "exports" / "robot-dog.srt").write_text("1\n", encoding="utf-8")
    (out / "set-aside").mkdir()
    (out / "set-aside" / "02-old.png").write_bytes(b"an artist's file, set aside")
    outside = tmp_path / "private.txt"
    outside.write_text("private", encoding="utf-8")
    (out / "frames" / "03-link.png").symlink_to(outside)
    path = export(out, "zip")

    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert zf.testzip() is None
    assert {"robot-dog/exports/robot-dog.mp4", "robot-dog/exports/robot-dog.srt"} <= set(names)
    assert not [n for n in names if "set-aside" in n or "03-link" in n or n.endswith(".gif")]
    names = [n for n in names if "/exports/" not in n]
    assert names[:2] == ["robot-dog/index.html", "robot-dog/manifest.json"]
    assert all(n.startswith("robot-dog/") for n in names)
    assert {
        "robot-dog/frames/01-lab.png",
        "robot-dog/frames/02-city.jpg",
        "robot-dog/takes/02-city-01.jpg",
        "robot-dog/takes/02-city-02.jpg",
        "robot-dog/thumbs/01-lab.jpg",
    } <= set(names)
    assert not [n for n in names if "/.cache/" in n or "/exports/" in n or n.endswith(".lock")]


def test_zip_skips_its_own_file_when_written_inside_dir(tmp_path: Path) -> None:
    out = make_dir(tmp_path)
    dest = out / "share.zip"
    export(out, "zip", dest)
    export(out, "zip", dest)  # the second run must not pack the first
    with zipfile.ZipFile(dest) as zf:
        assert "robot-dog/share.zip" not in zf.namelist()
    assert [m[1] for m in zip_members(out, dest) if m[1].endswith(".zip")] == []


def test_dash_o_file_and_folder(sample: Path, tmp_path: Path) -> None:
    dest = tmp_path / "new" / "nested" / "board.pdf"
    assert export(sample, "pdf", dest) == dest
    assert dest.read_bytes().startswith(b"%PDF")
    folder = tmp_path / "handouts"
    folder.mkdir()
    assert export(sample, "sheet", folder) == folder / "robot-dog-sheet.png"


def test_writes_atomically_and_cleans_up_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = make_dir(tmp_path)
    first = export(out, "gif")
    before = first.read_bytes()

    def broken(*args: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(animation, "write_animation", broken)
    with pytest.raises(RuntimeError):
        export(out, "gif")
    assert first.read_bytes() == before  # the old export is untouched
    assert sorted(p.name for p in (out / "exports").iterdir()) == ["robot-dog.gif"]  # no temp left


def test_nothing_to_export_is_a_usage_error(tmp_path: Path) -> None:
    out = make_dir(tmp_path, [SPECS[5], SPECS[6]])
    for kind in ("pdf", "mp4", "gif", "zip"):
        with pytest.raises(UsageError, match=r"nothing to export: no frame has an image \(2 frames"):
            export(out, kind)  # type: ignore[arg-type]
    assert not (out / "exports").exists()


def test_no_manifest_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no manifest here"):
        export(tmp_path, "pdf")


def test_missing_unreadable_or_outside_images_do_not_sink_an_export(tmp_path: Path) -> None:
    out = make_dir(tmp_path)
    (out / "frames" / "01-lab.png").write_bytes(b"not a png at all")  # hand-edited into garbage
    (out / "frames" / "03-night.png").unlink()
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    (tmp_path / "secret.png").write_bytes((out / "frames" / "04-wider.png").read_bytes())
    manifest["frames"][4]["file"] = "../secret.png"  # frame 4: a manifest must not reach outside DIR
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    text = pdf_text(export(out, "pdf"))
    assert "01-lab.png could not be read" in text and "frames/03-night.png is missing" in text
    assert frame_durations(export(out, "gif")) == [2000, 500]  # city and poster are left
    with zipfile.ZipFile(export(out, "zip")) as zf:
        assert not [n for n in zf.namelist() if "secret" in n]


def test_bitmap_fallback_font_never_crashes_the_sheet(sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import PIL.ImageFont

    # A Pillow without FreeType: no TrueType font opens, Pillow's Latin-1 bitmap font is all there is.
    fonts._load_font.cache_clear()
    monkeypatch.setattr(fonts, "_open", lambda ref, size: None)
    monkeypatch.setattr(PIL.ImageFont, "load_default", lambda size=None: PIL.ImageFont.load_default_imagefont())
    try:
        assert export(sample, "sheet", tmp_path / "a.png").stat().st_size > 0
    finally:
        fonts._load_font.cache_clear()


def test_importing_export_does_not_import_pillow_fpdf_or_av() -> None:
    code = (
        "import sys, storyboard.export.core, storyboard.export.job, storyboard.export.board; "
        "sys.exit(bool({'PIL', 'fpdf', 'av'} & set(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0


# -- the command ---------------------------------------------------------------------------------


def test_cli_export_flags(sample: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    dest = tmp_path / "cli.pdf"
    result = runner.invoke(app, ["export", str(sample), "--pdf", "--layout", "3", "--paper", "letter", "-o", str(dest)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(dest)
    page = PdfReader(dest).pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (612, 792)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pdf", "--layout", "4"], "Error: --layout 4: choose 6 (frames a page), 3 (with a notes column) or 1."),
        (["--pdf", "--paper", "a5"], "Error: --paper a5: choose a4 or letter."),
        (["--mp4", "--fps", "0"], "Error: --fps 0: choose a frame rate from 1 to 120 (24 is film's)."),
        (["--mp4", "--audio", "nope.wav"], "Error: --audio nope.wav: no such file."),
        ([], "Error: choose what to export: --pdf, --comic, --mp4, --gif, --webp, --sheet or --zip."),
    ],
)
def test_cli_bad_export_options_exit_2(sample: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["export", str(sample), *args])
    assert result.exit_code == 2
    assert result.stderr.strip() == message


def test_images_are_read_upright_flattened_and_first_frame_only(tmp_path: Path) -> None:
    from storyboard.export.board import open_rgb

    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90°
    Image.new("RGB", (40, 10), (200, 0, 0)).save(tmp_path / "turned.jpg", exif=exif.tobytes())
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    frames = [Image.new("RGB", (6, 4), c) for c in ((0, 0, 255), (0, 255, 0))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    turned = open_rgb(tmp_path / "turned.jpg", (20, 20))
    assert turned is not None and turned.size == (10, 40) and turned.mode == "RGB"
    clear = open_rgb(tmp_path / "clear.png")
    assert clear is not None and clear.getpixel((3, 3)) == (255, 255, 255)  # transparency over white paper
    anim = open_rgb(tmp_path / "anim.gif")
    assert anim is not None and anim.size == (6, 4) and anim.getpixel((1, 1))[2] > 200
    assert anim.copy().getpixel((0, 0)) == anim.getpixel((0, 0))  # usable after its file is closed
    assert open_rgb(tmp_path / "nothing.png") is None


def test_work_ahead_keeps_its_order_and_runs_at_most_n_ahead() -> None:
    # threads.ahead feeds the GIF's quantizing and the MP4's camera moves: results in order, and
    # memory bounded (no more than n pieces started beyond the one being taken)
    from concurrent.futures import ThreadPoolExecutor

    from storyboard import threads

    started: list[int] = []
    taken: list[int] = []

    def piece(i: int) -> int:
        started.append(i)
        return i * i

    with ThreadPoolExecutor(4) as pool:
        for result in threads.ahead(pool, (lambda i=i: piece(i) for i in range(20)), 3):
            assert len(started) - len(taken) <= 4  # this one and at most 3 ahead
            taken.append(result)
    assert taken == [i * i for i in range(20)]


def test_an_output_named_without_an_extension_is_a_new_folder(tmp_path: Path) -> None:
    out = make_dir(tmp_path)
    share = tmp_path / "share" / "week-1"
    result = CliRunner().invoke(app, ["export", str(out), "--pdf", "--sheet", "-o", str(share)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in share.iterdir()) == ["robot-dog-sheet.png", "robot-dog.pdf"]


def test_an_output_naming_an_existing_file_without_an_extension_is_refused(tmp_path: Path) -> None:
    out = make_dir(tmp_path)
    plain = tmp_path / "plainfile"
    plain.write_text("hi", encoding="utf-8")
    result = CliRunner().invoke(app, ["export", str(out), "--pdf", "-o", str(plain)])
    assert result.exit_code == 2 and "a file without an extension is there already" in result.stderr
    assert plain.read_text(encoding="utf-8") == "hi"
