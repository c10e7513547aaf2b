"""Exports: PDF pages, GIF/WebP animatics, the sheet PNG and the ZIP, from a sample output folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, PdfParser
from sheetdata import JAPANESE_CAPTION, build

from storyboard.errors import UsageError
from storyboard.export import core as export_module
from storyboard.export.core import default_destination, export, zip_members

ARABIC_NOTE = "لقطة واسعة. الكاميرا تتحرك ببطء نحو الميناء."

# Seven frames; five have images (frame 6 failed, frame 7 skipped). Small images keep it fast.
SPECS: list[dict[str, Any]] = [
    {"id": "lab", "caption": "Rex wakes up.", "notes": "WIDE. Slow push in.", "duration": 3.5},
    {"id": "city", "caption": JAPANESE_CAPTION, "takes": 2, "pick": 2, "fmt": "jpeg"},
    {"id": "night", "caption": "Night falls.", "notes": ARABIC_NOTE, "duration": 1},
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


def make_dir(root: Path, specs: list[dict[str, Any]] = SPECS, name: str = "robot-dog") -> Path:
    """Build a sample output folder named `name` whose manifest names story file robot-dog.yaml."""
    out = root / name
    manifest = build(out, specs, image_size=(240, 160))
    manifest["story"]["file"] = "pipelines/robot-dog.yaml"
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared sample folder for tests that only read it (each export writes its own file)."""
    return make_dir(tmp_path_factory.mktemp("export"))


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
        ("gif", "robot-dog.gif"),
        ("webp", "robot-dog.webp"),
        ("sheet", "robot-dog-sheet.png"),
        ("zip", "robot-dog.zip"),
    ],
)
def test_default_destination_is_exports_story_stem(sample: Path, kind: str, name: str) -> None:
    manifest = json.loads((sample / "manifest.json").read_text(encoding="utf-8"))
    assert default_destination(sample, manifest, kind) == sample / "exports" / name  # type: ignore[arg-type]


def test_pdf_has_a4_landscape_pages_six_frames_each(sample: Path) -> None:
    path = export(sample, "pdf")
    assert path == sample / "exports" / "robot-dog.pdf"
    assert path.read_bytes().startswith(b"%PDF")
    pdf = PdfParser.PdfParser(str(path))
    try:
        assert len(pdf.pages) == 2  # seven frames, failed and skipped ones included, six a page
        for page in pdf.pages:
            width, height = (float(v) for v in pdf.read_indirect(page)[b"MediaBox"][2:])
            assert (round(width), round(height)) == (842, 595)  # A4 landscape, in points
    finally:
        pdf.close()


def test_gif_has_picked_frames_with_their_durations_and_loops(sample: Path) -> None:
    path = export(sample, "gif")
    assert frame_durations(path) == DURATIONS_MS
    with Image.open(path) as im:
        assert im.info["loop"] == 0
        assert im.size == (240, 160)  # the first frame's size: every frame letterboxed onto it


def test_webp_has_picked_frames_with_their_durations(sample: Path) -> None:
    path = export(sample, "webp")
    with Image.open(path) as im:
        assert im.n_frames == len(WITH_IMAGES)
        assert im.size == (240, 160)
    assert frame_durations(path) == DURATIONS_MS


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


def test_zip_holds_the_shareable_folder_only(tmp_path: Path) -> None:
    out = make_dir(tmp_path)
    (out / "index.html").write_text("<!doctype html><title>sheet</title>", encoding="utf-8")
    (out / "thumbs").mkdir()
    (out / "thumbs" / "01-lab.jpg").write_bytes(b"thumb")
    (out / ".cache" / "ab").mkdir(parents=True)
    (out / ".cache" / "ab" / "abcdef.png").write_bytes(b"stored")
    (out / ".lock").write_text("123", encoding="utf-8")
    (out / "run.lock").write_text("123", encoding="utf-8")
    export(out, "gif")  # an earlier export in exports/ must not travel
    path = export(out, "zip")

    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert zf.testzip() is None
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

    monkeypatch.setattr(export_module, "_write_animatic", broken)
    with pytest.raises(RuntimeError):
        export(out, "gif")
    assert first.read_bytes() == before  # the old export is untouched
    assert sorted(p.name for p in (out / "exports").iterdir()) == ["robot-dog.gif"]  # no temp left


def test_nothing_to_export_is_a_usage_error(tmp_path: Path) -> None:
    out = make_dir(tmp_path, [SPECS[5], SPECS[6]])
    for kind in ("pdf", "gif", "zip"):
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

    pdf = PdfParser.PdfParser(str(export(out, "pdf")))
    assert len(pdf.pages) == 2
    pdf.close()
    assert frame_durations(export(out, "gif")) == [2000, 500]  # city and poster are left
    with zipfile.ZipFile(export(out, "zip")) as zf:
        assert not [n for n in zf.namelist() if "secret" in n]


def test_bitmap_fallback_font_never_crashes_on_japanese_or_arabic(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import ImageFont

    import storyboard.render.fonts

    # A machine without any font file: Pillow's bitmap font only knows Latin-1.
    monkeypatch.setattr(
        storyboard.render.fonts, "load_font", lambda size, text="", **kw: ImageFont.load_default_imagefont()
    )
    assert export(sample, "pdf", tmp_path / "a.pdf").stat().st_size > 0
    assert export(sample, "sheet", tmp_path / "a.png").stat().st_size > 0


def test_importing_export_does_not_import_pillow() -> None:
    code = "import sys, storyboard.export.core; sys.exit('PIL' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0
