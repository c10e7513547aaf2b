"""The contact sheet, checked by structure: the HTML is parsed, never compared as a whole."""

from __future__ import annotations

import json
import os
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sheetdata

from storyboard.sheet import render as sheet
from storyboard.sheet import thumbs
from storyboard.sheet.render import thumb_size, write_sheet

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    """One element of a parsed page: tag, attributes, children and its text."""

    def __init__(self, tag: str, attrs: dict[str, str | None], parent: Node | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node] = []
        self.parts: list[str] = []

    @property
    def classes(self) -> set[str]:
        """Return the element's classes."""
        return set((self.attrs.get("class") or "").split())

    @property
    def text(self) -> str:
        """Return all text inside the element, whitespace collapsed."""
        return " ".join("".join(self._texts()).split())

    def _texts(self) -> list[str]:
        out = list(self.parts)
        for child in self.children:
            out += child._texts()
        return out

    def iter(self) -> list[Node]:
        """Return this element and every element inside it, in document order."""
        out = [self]
        for child in self.children:
            out += child.iter()
        return out

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        """Return the elements inside that match a tag, a class and attribute values."""
        return [
            n
            for n in self.iter()[1:]
            if (tag is None or n.tag == tag)
            and (cls is None or cls in n.classes)
            and all(n.attrs.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())
        ]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        """Return the first matching element inside, failing the test when there is none."""
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag or '*'} class={cls} {attrs}> in <{self.tag} {self.attrs}>"
        return found[0]


class Tree(HTMLParser):
    """A forgiving HTML parser that builds `Node`s."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.cur)
        self.cur.children.append(node)
        if tag not in VOID:
            self.cur = node

    def handle_endtag(self, tag: str) -> None:
        node = self.cur
        while node is not self.root and node.tag != tag:
            node = node.parent  # type: ignore[assignment]
        if node is not self.root:
            self.cur = node.parent  # type: ignore[assignment]

    def handle_data(self, data: str) -> None:
        self.cur.parts.append(data)


def parse(html: str) -> Node:
    """Parse a page into a tree of `Node`s."""
    tree = Tree()
    tree.feed(html)
    tree.close()
    return tree.root


def render(out: Path) -> tuple[str, Node]:
    """Write the sheet of `out` and return its HTML and parsed tree."""
    html = write_sheet(out).read_text(encoding="utf-8")
    return html, parse(html)


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str, Node]:
    out = tmp_path_factory.mktemp("rich")
    manifest = sheetdata.rich(out)
    html, doc = render(out)
    return out, manifest, html, doc


def cards(doc: Node) -> list[Node]:
    return doc.find_all("article", "card")


def card(doc: Node, label: str) -> Node:
    return doc.find("article", id=f"f{label}")


def test_cells_are_in_story_order(rich: tuple[Path, dict, str, Node]) -> None:
    _, manifest, _, doc = rich
    shown = [e for e in manifest["frames"] if e["picked"]]
    assert [c.attrs["id"] for c in cards(doc)] == [f"f{n:02d}" for n in range(1, len(shown) + 1)]
    assert [c.attrs.get("data-id") for c in cards(doc)] == [e["id"] for e in shown]
    assert [c.find("span", "num").text for c in cards(doc)] == [f"{n:02d}" for n in range(1, 10)]


def test_captions_notes_and_japanese_text(rich: tuple[Path, dict, str, Node]) -> None:
    _, _, _, doc = rich
    assert card(doc, "01").find("p", "caption").text == "Rex wakes up."
    assert card(doc, "01").find("p", "notes").text == "WIDE. Slow push in. SFX: servo whine"
    assert card(doc, "02").find("p", "caption").text == sheetdata.JAPANESE_CAPTION


def test_hostile_text_is_escaped(rich: tuple[Path, dict, str, Node]) -> None:
    _, _, html, doc = rich
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "<b>not bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    hostile = card(doc, "05")
    assert hostile.find("pre", "prompt").text == " ".join(sheetdata.HOSTILE_PROMPT.split())
    assert hostile.find("p", "caption").text == sheetdata.HOSTILE_CAPTION
    assert not hostile.find_all("b")
    assert not [n for n in doc.iter() if any(k.startswith("on") for k in n.attrs)]
    scripts = doc.find_all("script")
    assert len(scripts) == 2  # the data block and the sheet's own code, nothing injected
    data_block = doc.find("script", id="sb-data")
    assert data_block.attrs["type"] == "application/json"
    raw = "".join(data_block.parts)
    assert "<" not in raw  # tojson escapes it, so no "</script>" can end the block early
    data = json.loads(raw)
    assert data["frames"][4]["caption"] == sheetdata.HOSTILE_CAPTION


def test_failed_and_skipped_cells_show_why(rich: tuple[Path, dict, str, Node]) -> None:
    _, _, _, doc = rich
    failed, skipped = card(doc, "07"), card(doc, "08")
    assert "st-failed" in failed.classes and "st-skipped" in skipped.classes
    assert failed.find(cls="badge").text == "Failed"
    assert "moderation" in failed.find("a", "shot").text
    assert failed.find(cls="message").text == "Your request was rejected by the safety system."
    assert failed.find("code").text == "moderation_blocked"
    assert not failed.find_all("img")
    assert skipped.find(cls="badge").text == "Skipped"
    assert "source failed" in skipped.find("a", "shot").text
    assert skipped.find("a", "from").attrs["href"] == "#f07"


def test_takes_side_by_side_with_the_pick_marked(rich: tuple[Path, dict, str, Node]) -> None:
    _, _, _, doc = rich
    takes = card(doc, "02").find("div", "takes").find_all("a", "take")
    assert [t.attrs["href"] for t in takes] == [f"takes/02-city-{k:02d}.jpg" for k in (1, 2, 3)]
    assert ["picked" in t.classes for t in takes] == [False, True, False]
    assert "picked" in takes[1].text
    assert all(t.find("img").attrs["src"].startswith("thumbs/") for t in takes)
    assert not card(doc, "01").find_all("div", "takes")


def test_chained_frames_link_to_their_source(rich: tuple[Path, dict, str, Node]) -> None:
    _, _, _, doc = rich
    night = card(doc, "03")
    link = night.find("a", "from")
    assert (link.attrs["href"], link.text) == ("#f02", "from 02")
    assert card(doc, "04").find("a", "from").attrs["href"] == "#f03"
    refs = card(doc, "01").find_all("a", "ref")
    assert len(refs) == 2
    assert all(
        r.attrs["href"].startswith("inputs/") and r.find("img").attrs["src"].startswith("thumbs/")
        for r in refs
    )


def test_edited_and_locked_frames_are_marked(rich: tuple[Path, dict, str, Node]) -> None:
    _, _, _, doc = rich
    assert card(doc, "03").find(cls="badge").text == "Edited by hand"
    assert card(doc, "06").find(cls="badge").text == "Locked"
    assert not card(doc, "01").find_all(cls="badge")


def test_details_carry_the_request(rich: tuple[Path, dict, str, Node]) -> None:
    _, _, _, doc = rich
    details = card(doc, "05").find("details")
    facts = {dt.text: dd.text for dt, dd in zip(details.find_all("dt"), details.find_all("dd"), strict=True)}
    assert facts["Model"] == "gpt-image-2"
    assert facts["Size"].startswith("1536x1024")
    assert facts["Quality"] == "medium"
    assert facts["Attempts"] == "1"
    assert facts["Time"] == "12.5 s"
    assert facts["Cost"] == "≈$0.042"
    assert details.find("pre", "revised").text == "<script>alert(3)</script> revised"


def test_header_totals_and_date(rich: tuple[Path, dict, str, Node]) -> None:
    _, _, _, doc = rich
    header = doc.find("header", "top")
    assert header.find("h1").text == "Robot Dog's Journey"
    stats = {s.find("dt").text: s.find("dd").text for s in header.find_all("div", "stat")}
    assert stats["Frames"] == "9"
    assert stats["Failed"] == "1" and stats["Skipped"] == "1"
    assert stats["This run"].startswith("≈$") and stats["All runs"].startswith("≈$")
    assert stats["Time"] == "1 min 12 s"
    assert header.find("time").attrs["datetime"] == "2026-03-14T09:31:12Z"
    assert "14 Mar 2026" in header.find("time").text
    assert not doc.find_all(cls="banner-notice")


def test_cast_section(rich: tuple[Path, dict, str, Node]) -> None:
    _, _, _, doc = rich
    cast = doc.find("section", id="Cast")
    people = cast.find_all("article", "person")
    assert [p.find("h3").text for p in people] == ["rex", "mia"]
    assert people[0].find("a", "sheet").attrs["href"] == "characters/rex.png"
    assert len(people[0].find_all("a", "ref")) == 2
    assert "rejected by the safety system" in people[1].find(cls="sheet").text
    assert people[1].find("p", "notes").text == "a girl in a yellow raincoat <b>&</b> boots"


def test_nothing_points_outside_the_folder(rich: tuple[Path, dict, str, Node]) -> None:
    _, _, html, doc = rich
    assert "http://" not in html and "https://" not in html
    links = [
        (n.tag, n.attrs.get("src") or n.attrs.get("href"))
        for n in doc.iter()
        if n.attrs.get("src") or n.attrs.get("href")
    ]
    assert links
    for tag, url in links:
        assert ":" not in url.split("#")[0] and not url.startswith(("/", "\\")), (tag, url)
        assert ".." not in url.split("/"), (tag, url)
    assert not doc.find_all("link") and not doc.find_all("iframe")
    assert "@import" not in html and "url(" not in html


def test_images_avoid_layout_shift(rich: tuple[Path, dict, str, Node]) -> None:
    _, _, _, doc = rich
    shot = card(doc, "01").find("a", "shot").find("img")
    assert (shot.attrs["loading"], shot.attrs["decoding"]) == ("lazy", "async")
    assert (shot.attrs["width"], shot.attrs["height"]) == ("512", "341")
    assert shot.attrs["data-full"] == "frames/01-lab.png"
    portrait = card(doc, "06").find("img")
    assert (portrait.attrs["width"], portrait.attrs["height"]) == ("341", "512")


def test_thumbnails_are_made_once_per_image(tmp_path: Path) -> None:
    manifest = sheetdata.rich(tmp_path)
    write_sheet(tmp_path)
    shas = {e["sha256"] for e in manifest["frames"] if e["sha256"]}
    shas |= {r["sha256"] for c in manifest["characters"] for r in c["references"]}
    shas |= {c["sheet"]["sha256"] for c in manifest["characters"] if c["sheet"]["sha256"]}
    made = {p.name: p.stat() for p in (tmp_path / "thumbs").iterdir()}
    assert set(made) == {f"{sha}.jpg" for sha in shas}  # opaque pictures: JPEG
    from PIL import Image

    with Image.open(tmp_path / "thumbs" / f"{manifest['frames'][0]['sha256']}.jpg") as im:
        assert (im.format, im.size) == ("JPEG", (512, 341))
    time.sleep(0.01)
    write_sheet(tmp_path, manifest)
    again = {p.name: p.stat() for p in (tmp_path / "thumbs").iterdir()}
    assert {k: (v.st_mtime_ns, v.st_ino) for k, v in again.items()} == {
        k: (v.st_mtime_ns, v.st_ino) for k, v in made.items()
    }
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]


def test_a_new_image_gets_a_thumbnail_and_the_rest_stay(tmp_path: Path) -> None:
    sheetdata.many(tmp_path, 3)
    write_sheet(tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "thumbs").iterdir()}
    manifest = sheetdata.many(tmp_path, 4)
    write_sheet(tmp_path, manifest)
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "thumbs").iterdir()}
    assert len(after) == 4 and {k: after[k] for k in before} == before


def test_missing_or_broken_images_do_not_break_the_sheet(tmp_path: Path) -> None:
    manifest = sheetdata.many(tmp_path, 3)
    (tmp_path / manifest["frames"][0]["file"]).unlink()
    (tmp_path / manifest["frames"][1]["file"]).write_bytes(b"not an image")
    _, doc = render(tmp_path)
    assert len(cards(doc)) == 3
    # No thumbnail could be made: the cell points at the frame file itself.
    assert card(doc, "01").find("img").attrs["src"] == manifest["frames"][0]["file"]
    assert card(doc, "03").find("img").attrs["src"].startswith("thumbs/")


@pytest.mark.parametrize(("mode", "fmt"), [("RGBA", "WEBP"), ("P", "JPEG"), ("L", "JPEG"), ("CMYK", "JPEG"), ("LA", "WEBP")])
def test_thumbnails_of_any_image_mode(tmp_path: Path, mode: str, fmt: str) -> None:
    from PIL import Image

    src = tmp_path / "in.jpg" if mode == "CMYK" else tmp_path / "in.png"
    Image.new(mode, (1000, 400)).save(src)
    path, size = thumbs.make_thumb(src, tmp_path / "t")
    assert size == (512, 205) and path.name == ("t.webp" if fmt == "WEBP" else "t.jpg")
    with Image.open(path) as im:
        assert (im.format, im.size) == (fmt, (512, 205))  # transparency needs WebP, the rest is JPEG


@pytest.mark.parametrize(
    ("size", "thumb"),
    [
        ((1536, 1024), (512, 342)),  # 3x3 pixels each: the last row averages what there is
        ((1024, 1536), (342, 512)),
        ((1024, 1024), (512, 512)),
        ((300, 200), (300, 200)),
        ((1792, 1024), (512, 293)),
        ((3840, 2160), (512, 288)),
    ],
)
def test_thumb_size(size: tuple[int, int], thumb: tuple[int, int]) -> None:
    assert thumb_size(*size) == thumb


@pytest.mark.parametrize(("size", "reduced"), [((1536, 1024), (512, 342)), ((1024, 1024), (512, 512)),
                                             ((1792, 1024), (1792, 1024)), ((512, 512), (512, 512))])
def test_an_early_reduction_makes_the_same_thumbnail(tmp_path: Path, size: tuple[int, int], reduced: tuple[int, int]) -> None:
    """The run reduces each image where it decoded it (`shrink`); the thumbnail made from that is
    the one the full pixels make, byte for byte, and of the size the sheet expects."""
    from PIL import Image

    pixels = Image.effect_noise(size, 60).convert("RGB")
    small = thumbs.shrink(pixels)
    assert small.size == reduced
    a, b = thumbs.write_thumb(pixels, tmp_path / "full"), thumbs.write_thumb(small, tmp_path / "early")
    assert a is not None and b is not None and a[1] == b[1] == thumb_size(*size)
    assert a[0].read_bytes() == b[0].read_bytes()
    palette = pixels.convert("P")
    assert thumbs.shrink(palette) is palette  # modes a box reduction does not take are left whole


def test_draft_runs_are_labelled(tmp_path: Path) -> None:
    sheetdata.many(tmp_path, 2, backend="draft")
    html, doc = render(tmp_path)
    # The banner is the backend's own notice (the manifest's run.notice), not a test of its name.
    assert "Draft preview" in doc.find(cls="banner-notice").text
    assert "draft preview" in doc.find("title").text
    stats = {s.find("dt").text: s.find("dd").text for s in doc.find_all("div", "stat")}
    assert stats["Spend"] == "free"


def test_play_view_only_for_stories_with_choices(tmp_path: Path) -> None:
    sheetdata.branching(tmp_path / "b")
    _, doc = render(tmp_path / "b")
    assert doc.find("a", href="#play").text == "Play"
    assert "hidden" in doc.find("section", "play").attrs
    data = json.loads("".join(doc.find("script", id="sb-data").parts))
    start = data["frames"][0]
    assert start["text"] == "Rex reaches a fork in the path. Which way?"
    assert start["choices"] == [{"label": "Go left", "goto": "left"}, {"label": "Go right", "goto": "right"}]
    sheetdata.many(tmp_path / "plain", 2)
    _, plain = render(tmp_path / "plain")
    assert not plain.find_all("section", "play") and not plain.find_all("a", href="#play")


def test_print_pages_hold_six_frames(tmp_path: Path) -> None:
    sheetdata.many(tmp_path, 14)
    _, doc = render(tmp_path)
    pages = doc.find_all("div", "page")
    assert [len(p.find_all("article", "card")) for p in pages] == [6, 6, 2]
    assert pages[1].find(cls="page-head").text.endswith("page 2 / 3")


def test_numbers_pad_to_the_frame_count(tmp_path: Path) -> None:
    sheetdata.many(tmp_path, 100, image_size=(16, 16))
    _, doc = render(tmp_path)
    assert cards(doc)[0].attrs["id"] == "f001" and cards(doc)[-1].attrs["id"] == "f100"


def test_empty_story(tmp_path: Path) -> None:
    sheetdata.build(tmp_path, [])
    _, doc = render(tmp_path)
    assert not cards(doc)
    assert "no frames" in doc.find(cls="empty-story").text


def test_template_override_and_partials(tmp_path: Path) -> None:
    sheetdata.many(tmp_path, 2)
    custom = tmp_path / "custom" / "mine.html.j2"
    custom.parent.mkdir()
    custom.write_text(
        "<h1>{{ title }}</h1>{% for f in frames %}<p>{{ f.label }}</p>{% endfor %}"
        "<style>{{ inline('sheet.css')|length > 100 }}</style>",
        encoding="utf-8",
    )
    html = write_sheet(tmp_path, template=custom).read_text(encoding="utf-8")
    assert html == "<h1>2 frames</h1><p>01</p><p>02</p><style>True</style>"


def test_templates_are_found_from_a_checkout() -> None:
    assert (sheet.template_dir() / "index.html.j2").is_file()
    assert (sheet.template_dir() / "sheet.css").is_file() and (sheet.template_dir() / "sheet.js").is_file()


def test_index_is_replaced_atomically(tmp_path: Path) -> None:
    sheetdata.many(tmp_path, 2)
    path = write_sheet(tmp_path)
    inode = path.stat().st_ino
    write_sheet(tmp_path)
    assert path.stat().st_ino != inode  # a rename, never a rewrite in place a reader could catch half done
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "index.html", "manifest.json", "thumbs"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_a_thousand_frames_render_and_stay_light(tmp_path: Path) -> None:
    # How fast: bench/run.py --only scale (`gallery` on 1000 frames); tests time nothing.
    sheetdata.many(tmp_path, 1000, image_size=(24, 16))
    write_sheet(tmp_path)
    html, doc = render(tmp_path)
    assert len(cards(doc)) == 1000
    assert len(html) < 1800 * 1000  # bytes per frame, editor data included


def test_sheet_module_does_not_import_pillow_or_jinja_at_import_time() -> None:
    import subprocess
    import sys

    code = "import sys, storyboard.sheet.render; print('PIL' in sys.modules, 'jinja2' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(sheet.__file__).parent.parent)},
    )
    assert out.stdout.split() == ["False", "False"]


def test_a_frame_with_no_picked_take_still_gets_its_cell(tmp_path: Path) -> None:
    manifest = sheetdata.many(tmp_path, 3)
    manifest["frames"][1]["picked"] = False
    _, doc = render_manifest(tmp_path, manifest)
    assert [c.attrs["id"] for c in cards(doc)] == ["f01", "f02", "f03"]


def render_manifest(out: Path, manifest: dict) -> tuple[str, Node]:
    """Write the sheet of `out` from a manifest in memory and return its HTML and parsed tree."""
    html = write_sheet(out, manifest).read_text(encoding="utf-8")
    return html, parse(html)


def test_a_thumbnail_is_small_and_never_enlarged(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (2000, 1000), (0, 160, 0)).save(tmp_path / "big.jpg", quality=90)
    assert thumbs.make_thumb(tmp_path / "big.jpg", tmp_path / "big") == (tmp_path / "big.jpg", (512, 256))
    Image.new("RGB", (50, 30)).save(tmp_path / "small.png")
    assert thumbs.make_thumb(tmp_path / "small.png", tmp_path / "small")[1] == (50, 30)


def test_a_thumbnail_stands_as_the_photo_s_exif_says(tmp_path: Path) -> None:
    from PIL import Image

    # A phone photo stored landscape with "rotate 90°" in its EXIF: it shows portrait.
    img = Image.new("RGB", (600, 300), (200, 20, 20))
    img.paste((20, 20, 200), (0, 0, 300, 300))  # the left half blue
    exif = Image.Exif()
    exif[0x0112] = 6
    img.save(tmp_path / "photo.jpg", exif=exif, quality=95)
    assert thumbs.make_thumb(tmp_path / "photo.jpg", tmp_path / "t") == (tmp_path / "t.jpg", (256, 512))
    with Image.open(tmp_path / "t.jpg") as t:
        assert t.size == (256, 512)
        top = t.convert("RGB").getpixel((120, 80))
        assert top[2] > 150 and top[0] < 80  # orientation 6 turns the left half to the top


# -- what the sheet shows beyond the pictures -----------------------------------------------------


def test_dialogue_shows_under_its_frame_with_speakers(tmp_path: Path) -> None:
    sheetdata.build(tmp_path, [{"id": "a", "caption": "A.", "dialogue": [
        {"speaker": "mira", "line": "We have to go."}, {"speaker": "narrator", "line": "<b>She</b> did."}]}])
    html, doc = render(tmp_path)
    lines = card(doc, "01").find("ul", "dialogue").find_all("li")
    assert [(li.find(cls="speaker").text, li.find(cls="line").text) for li in lines] == [
        ("mira", "We have to go."), ("narrator", "<b>She</b> did.")]
    assert "<b>She" not in html


def test_seeds_show_in_details_and_on_each_take(tmp_path: Path) -> None:
    manifest = sheetdata.build(tmp_path, [{"id": "a", "takes": 2}], write_manifest=False)
    for e in manifest["frames"]:
        e["seed"] = 41 + e["take"]
        e["steps"] = 4
    _, doc = render_manifest(tmp_path, manifest)
    facts = {d.find("dt").text: d.find("dd").text for d in card(doc, "01").find("dl", "facts").find_all("div")}
    assert facts["Seed"] == "42" and facts["Steps"] == "4"
    assert [t.find(cls="seed").text for t in card(doc, "01").find_all("a", "take")] == ["seed 42", "seed 43"]
    # Backends without seeds record none, and nothing says "seed".
    sheetdata.build(tmp_path / "b", [{"id": "a", "takes": 2}])
    _, plain = render(tmp_path / "b")
    assert "Seed" not in plain.text and not plain.find_all(cls="seed")


def test_the_sheet_links_the_animatic_when_there_is_one(tmp_path: Path) -> None:
    sheetdata.many(tmp_path, 2)
    _, doc = render(tmp_path)
    assert not doc.find_all("a", "animatic")
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "2 frames.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    _, doc = render(tmp_path)
    link = doc.find("a", "animatic")
    assert link.attrs["href"] == "exports/2%20frames.mp4" and "2 frames.mp4" in link.text


def test_an_exports_folder_linked_out_of_dir_is_not_linked_from_the_sheet(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    sheetdata.many(out, 2)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "film.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    (out / "exports").symlink_to(elsewhere, target_is_directory=True)
    _, doc = render(out)
    assert not doc.find_all("a", "animatic")


def test_the_banner_is_the_backend_s_notice_from_the_manifest(tmp_path: Path) -> None:
    manifest = sheetdata.many(tmp_path, 1, backend="openai", write_manifest=False)
    manifest["run"]["notice"] = {"tag": "Local preview", "text": "Drawn on this machine by <i>a</i> tiny model."}
    manifest["run"]["free"] = True
    html, doc = render_manifest(tmp_path, manifest)
    banner = doc.find(cls="banner-notice")
    assert banner.find("strong").text == "Local preview." and banner.parts[-1].strip() == "Drawn on this machine by <i>a</i> tiny model."
    assert "<i>a</i>" not in html
    stats = {s.find("dt").text: s.find("dd").text for s in doc.find_all("div", "stat")}
    assert stats["Spend"] == "free"
    # A draft run whose manifest says it has no notice shows none: the name decides nothing.
    manifest = sheetdata.many(tmp_path / "d", 1, backend="draft", write_manifest=False)
    manifest["run"].update(notice=None, free=True)
    _, doc = render_manifest(tmp_path / "d", manifest)
    assert not doc.find_all(cls="banner-notice")


def test_an_adventure_shows_passages_choices_and_unreachable_frames(tmp_path: Path) -> None:
    manifest = sheetdata.branching(tmp_path, write_manifest=False)
    manifest["frames"].append(dict(manifest["frames"][-1], id="attic", number=6, text="A dusty attic.", choices=[
        {"label": "Climb down", "goto": "home"}, {"label": "Jump", "goto": "nowhere"}]))
    _, doc = render_manifest(tmp_path, manifest)
    start = card(doc, "01")
    assert start.find("p", "passage").text == "Rex reaches a fork in the path. Which way?"
    choices = [(li.find(cls="choice-label").text, li.find("a", "goto").find(cls="num").text, li.find("a", "goto").parts[-1].strip())
               for li in start.find("ul", "choices").find_all("li")]
    assert choices == [("Go left", "02", "left"), ("Go right", "03", "right")]
    assert start.find("a", "goto").attrs["href"] == "#f02"
    assert card(doc, "04").find("p", "ending").text == "The end"
    attic = card(doc, "06")
    assert "unreachable" in attic.classes and attic.find(cls="b-unreachable").text == "Unreachable"
    assert attic.find("span", "missing").text == "nowhere (no such frame)"
    assert [c.attrs["id"] for c in cards(doc) if "unreachable" in c.classes] == ["f06"]


def test_a_mask_is_named_as_the_story_names_it_and_shows_over_its_source(tmp_path: Path) -> None:
    manifest = sheetdata.build(tmp_path, [{"id": "street"}, {"id": "sky", "from": "street"}], write_manifest=False)
    sky = manifest["frames"][1]
    sky["inputs"].append({"role": "mask", "frame": None, "file": manifest["frames"][0]["file"],
                          "sha256": manifest["frames"][0]["sha256"], "path": "masks/sky.png"})
    _, doc = render_manifest(tmp_path, manifest)
    mask = card(doc, "02").find("a", "ref-mask")
    assert mask.attrs["title"] == "mask: masks/sky.png"
    under, over = mask.find_all("img")
    assert "under" in under.classes and under.attrs["src"] == f"thumbs/{manifest['frames'][0]['sha256']}.jpg"


def test_counts_agree_with_their_number(tmp_path: Path) -> None:
    sheetdata.many(tmp_path, 1)
    _, doc = render(tmp_path)
    assert "· 1 frame ·" in doc.find("footer").text


def test_the_editor_knows_what_each_frame_depends_on_and_costs(tmp_path: Path) -> None:
    manifest = sheetdata.build(tmp_path, [
        {"id": "a", "takes": 3, "cost_usd": 0.04},
        {"id": "b", "from": "a", "cost_usd": 0.05, "reads": {"previous": ["image"]}},
        {"status": "failed", "cost_usd": 0.0, "reads": {"previous": ["caption"], "number": True, "position_seed": True}},
    ], write_manifest=False)
    _, doc = render_manifest(tmp_path, manifest)
    editor = json.loads("".join(doc.find("script", id="sb-data").parts))["editor"]
    assert editor["story"]["sha256"] == manifest["story"]["sha256"]
    assert editor["storage"] == "storyboard-changes:" + manifest["story"]["sha256"]
    assert editor["changes_file"] == "story.changes.json"
    a, b, c = editor["frames"]
    assert a == {"pick": 1, "cost": 0.12, "requests": 3, "takes": [
        {"take": k, "src": f"takes/01-a-{k:02d}.png",
         "thumb": f"thumbs/{manifest['frames'][k - 1]['sha256']}.jpg", "status": "ok"} for k in (1, 2, 3)]}
    # `edit: previous` follows the order, so the source is not a fixed id.
    assert b == {"pick": 1, "cost": 0.05, "reads": {"number": False, "previous": ["image"], "frames": {}, "any": False,
                                                   "position_seed": False}}
    # A failed frame cost nothing, but asking again costs what its like cost; no seed was recorded
    # (the backend takes none), so its place does not change its seed.
    assert (c["cost"], c["reads"]["number"], c["reads"]["position_seed"]) == (0.04, True, False)


def test_the_artist_s_kept_file_is_a_take_to_pick(tmp_path: Path) -> None:
    manifest = sheetdata.build(tmp_path, [{"id": "a", "takes": 2}, {"id": "b"}], write_manifest=False)
    a1, _, b = manifest["frames"]
    kept = sheetdata.image_bytes(96, 64, label="by hand", seed=9)
    sha = sheetdata._write(tmp_path, "takes/01-a-edited.png", kept)
    a1["edited_take"] = {"file": "takes/01-a-edited.png", "sha256": sha, "media_type": "image/png", "width": 96, "height": 64}
    _, doc = render_manifest(tmp_path, manifest)
    takes = card(doc, "01").find_all("div", "take-item")
    assert [t.attrs["data-take"] for t in takes] == ["1", "2", "edited"]
    assert takes[2].find("a").attrs["href"] == "takes/01-a-edited.png" and takes[2].find("img").attrs["src"] == f"thumbs/{sha}.jpg"
    assert ["picked" in t.find("a").classes for t in takes] == [True, False, False]
    # `pick: edited` (the frame shows the kept file): that take is the picked one.
    a1.update(sha256=sha, status="edited")
    _, doc = render_manifest(tmp_path, manifest)
    assert ["picked" in t.find("a").classes for t in card(doc, "01").find_all("div", "take-item")] == [False, False, True]
    editor = json.loads("".join(doc.find("script", id="sb-data").parts))["editor"]
    assert editor["frames"][0]["pick"] == "edited" and editor["frames"][0]["edited"] is True
    # A frame of one take with a kept file offers both.
    b["edited_take"] = dict(a1["edited_take"])
    _, doc = render_manifest(tmp_path, manifest)
    assert [t.attrs["data-take"] for t in card(doc, "02").find_all("div", "take-item")] == ["1", "edited"]
