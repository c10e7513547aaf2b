"""The contact sheet in a real browser: Debian's chromium driven by Playwright, from file://."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sheetdata

from storyboard.sheet.render import write_sheet

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = sync_api.expect
# Waits are on conditions (a value shown, an element visible); this only turns a hang into a failure.
# Playwright's own defaults (5 s for expect, 30 s for actions) are exceeded by a loaded machine.
HANG_MS = 120_000
expect.set_options(timeout=HANG_MS)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parent / "artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def rich_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rich")
    sheetdata.rich(out)
    write_sheet(out)
    return out


@pytest.fixture(scope="module")
def branch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("branch")
    sheetdata.branching(out)
    write_sheet(out)
    return out


def new_context(browser: Any, **options: Any) -> Any:
    """Return a browser context (a desktop window unless told otherwise) whose waits only bound a hang."""
    context = browser.new_context(**{"viewport": {"width": 1400, "height": 1000}, **options})
    context.set_default_timeout(HANG_MS)
    return context


class Watch:
    """What a page did behind our back: requests, dialogs, script errors."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, Watch]]:
    context = new_context(browser)
    pg = context.new_page()
    watch = Watch()
    pg.on("request", lambda r: watch.requests.append(r.url))
    pg.on("pageerror", lambda e: watch.errors.append(str(e)))

    def on_dialog(d: Any) -> None:
        watch.dialogs.append(d.message)
        d.dismiss()

    pg.on("dialog", on_dialog)
    yield pg, watch
    context.close()
    assert not watch.errors, watch.errors


def url(out: Path, fragment: str = "") -> str:
    return (out / "index.html").as_uri() + (f"#{fragment}" if fragment else "")


def shot(pg: Any, name: str, **kwargs: Any) -> None:
    """Save a screenshot for people to look at (tests/artifacts/ is gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), **kwargs)


def lightbox_label(pg: Any) -> str:
    return pg.locator(".lb .lb-num").text_content()


def test_frames_in_story_order(page: tuple[Any, Watch], rich_dir: Path) -> None:
    pg, _ = page
    pg.goto(url(rich_dir))
    ids = pg.locator("article.card").evaluate_all("els => els.map(e => e.id)")
    assert ids == [f"f{n:02d}" for n in range(1, 10)]
    first = pg.locator("#f01 .shot img")
    first.wait_for()
    pg.wait_for_function("document.querySelector('#f01 .shot img').naturalWidth > 0")
    shot(pg, "sheet-desktop")


def test_lightbox_opens_moves_and_closes(page: tuple[Any, Watch], rich_dir: Path) -> None:
    pg, _ = page
    pg.goto(url(rich_dir))
    lb = pg.locator(".lb")
    assert lb.is_hidden()
    pg.click("#f01 .shot")
    lb.wait_for(state="visible")
    assert lightbox_label(pg) == "01"
    assert pg.url.endswith("#f01")
    # The full frame, not the thumbnail, once it has loaded.
    pg.wait_for_function("document.querySelector('.lb-img').src.endsWith('frames/01-lab.png')")
    pg.keyboard.press("ArrowRight")
    pg.wait_for_function("document.querySelector('.lb-num').textContent === '02'")
    pg.wait_for_function("document.querySelector('.lb-img').src.endsWith('frames/02-city.jpg')")
    assert pg.locator(".lb-caption").text_content() == sheetdata.JAPANESE_CAPTION
    shot(pg, "lightbox")
    pg.keyboard.press("ArrowRight")
    pg.wait_for_function("document.querySelector('.lb-num').textContent === '03'")
    pg.keyboard.press("ArrowLeft")
    pg.wait_for_function("document.querySelector('.lb-num').textContent === '02'")
    assert pg.url.endswith("#f02")
    pg.keyboard.press("Escape")
    lb.wait_for(state="hidden")
    assert "#" not in pg.url


def test_a_failed_frame_opens_with_its_reason(page: tuple[Any, Watch], rich_dir: Path) -> None:
    pg, _ = page
    pg.goto(url(rich_dir, "f07"))
    pg.locator(".lb").wait_for(state="visible")
    assert pg.locator(".lb-img").is_hidden()
    assert "rejected by the safety system" in pg.locator(".lb-empty").text_content()


@pytest.mark.parametrize(("fragment", "label"), [("f02", "02"), ("f2", "02"), ("night", "03")])
def test_a_hash_opens_its_frame(page: tuple[Any, Watch], rich_dir: Path, fragment: str, label: str) -> None:
    pg, _ = page
    pg.goto(url(rich_dir, fragment))
    pg.locator(".lb").wait_for(state="visible")
    assert lightbox_label(pg) == label


def test_takes_open_in_the_lightbox(page: tuple[Any, Watch], rich_dir: Path) -> None:
    pg, _ = page
    pg.goto(url(rich_dir))
    pg.locator("#f02 .take").nth(2).click()
    pg.locator(".lb").wait_for(state="visible")
    pg.wait_for_function("document.querySelector('.lb-img').src.endsWith('takes/02-city-03.jpg')")
    pg.keyboard.press("ArrowLeft")
    pg.wait_for_function("document.querySelector('.lb-img').src.endsWith('takes/02-city-02.jpg')")
    pg.keyboard.press("Escape")
    pg.locator(".lb").wait_for(state="hidden")


def test_hostile_prompt_renders_as_text_and_runs_nothing(page: tuple[Any, Watch], rich_dir: Path) -> None:
    pg, watch = page
    pg.goto(url(rich_dir, "f05"))
    pg.locator(".lb").wait_for(state="visible")
    assert pg.locator(".lb-caption").text_content() == sheetdata.HOSTILE_CAPTION
    pg.keyboard.press("Escape")
    pg.click("#f05 details summary")
    assert pg.locator("#f05 pre.prompt").first.text_content() == sheetdata.HOSTILE_PROMPT
    assert pg.evaluate("document.scripts.length") == 2
    assert pg.evaluate("document.querySelectorAll('#f05 b, #f05 script, [onerror]').length") == 0
    pg.wait_for_timeout(200)
    assert watch.dialogs == []


def test_the_page_requests_nothing_outside_its_folder(page: tuple[Any, Watch], rich_dir: Path) -> None:
    pg, watch = page
    pg.goto(url(rich_dir))
    pg.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # wake every lazy image
    pg.wait_for_timeout(200)
    pg.click("#f01 .shot")
    pg.wait_for_function("document.querySelector('.lb-img').src.endsWith('frames/01-lab.png')")
    folder = rich_dir.as_uri() + "/"
    assert any("/thumbs/" in u for u in watch.requests)
    assert [u for u in watch.requests if not u.startswith(folder)] == []


def test_no_horizontal_scroll_on_a_phone(browser: Any, rich_dir: Path) -> None:
    context = new_context(browser, viewport={"width": 375, "height": 812}, device_scale_factor=2)
    pg = context.new_page()
    pg.goto(url(rich_dir))
    # Open every details block too: long prompts and request ids must wrap, not widen the page.
    pg.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    widths = pg.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], widths
    shot(pg, "sheet-phone")
    pg.goto(url(rich_dir, "f02"))
    pg.locator(".lb").wait_for(state="visible")
    shot(pg, "lightbox-phone")
    context.close()


def test_dark_mode(browser: Any, rich_dir: Path) -> None:
    context = new_context(browser, color_scheme="dark")
    pg = context.new_page()
    pg.goto(url(rich_dir))
    background = pg.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(244, 243, 239)"
    shot(pg, "sheet-dark")
    context.close()


def test_print_lays_out_six_frames_a_page(page: tuple[Any, Watch], tmp_path: Path) -> None:
    pg, _ = page
    sheetdata.many(tmp_path, 8, image_size=(384, 256))
    write_sheet(tmp_path)
    pg.goto(url(tmp_path))
    pg.emulate_media(media="print")
    boxes = (
        pg.locator(".page")
        .first.locator("article.card")
        .evaluate_all(
            "els => els.map(e => { const r = e.getBoundingClientRect(); return [Math.round(r.x), Math.round(r.y)]; })"
        )
    )
    assert len(boxes) == 6
    assert len({x for x, _ in boxes}) == 3 and len({y for _, y in boxes}) == 2
    hidden = pg.evaluate(
        "['.top', 'details', '.lb'].map(s => getComputedStyle(document.querySelector(s)).display)"
    )
    assert hidden == ["none", "none", "none"]
    ARTIFACTS.mkdir(exist_ok=True)
    pg.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    pg.wait_for_function(
        "Array.from(document.images).filter(i => i.getAttribute('src')).every(i => i.complete && i.naturalWidth > 0)"
    )
    pdf = pg.pdf(path=str(ARTIFACTS / "print.pdf"), prefer_css_page_size=True, print_background=True)
    assert pdf.startswith(b"%PDF")


def play_to_the_end(pg: Any, choices: list[str]) -> None:
    for label in choices:
        pg.get_by_role("button", name=label, exact=True).click()


def test_play_view_reaches_two_different_endings(page: tuple[Any, Watch], branch_dir: Path) -> None:
    pg, _ = page
    pg.goto(url(branch_dir))
    pg.click(".views a[data-nav=play]")
    play = pg.locator("section.play")
    play.wait_for(state="visible")
    assert pg.locator("section.frames").is_hidden()
    expect(pg.locator(".play-text")).to_have_text("Rex reaches a fork in the path. Which way?")
    expect(pg.locator(".play-back")).to_be_disabled()

    play_to_the_end(pg, ["Go left", "Enter the cave"])
    assert pg.url.endswith("#play=start,left,cave")
    expect(pg.locator(".play-end")).to_have_text("The end")
    expect(pg.locator(".play-text")).to_have_text("The cave glitters with crystals. Rex stays forever.")
    shot(pg, "play-ending")

    pg.click(".play-restart")
    pg.wait_for_function("location.hash === '#play=start'")
    play_to_the_end(pg, ["Go right", "Swim"])
    assert pg.url.endswith("#play=start,right,home")
    expect(pg.locator(".play-end")).to_be_visible()
    expect(pg.locator(".play-text")).to_have_text("Rex is home, dripping wet.")

    pg.click(".play-back")
    pg.wait_for_function("location.hash === '#play=start,right'")
    expect(pg.locator(".play-text")).to_have_text("A river blocks the way.")
    expect(pg.locator(".play-end")).to_be_hidden()

    pg.click(".views a[data-nav=grid]")
    pg.locator("section.frames").wait_for(state="visible")
    assert play.is_hidden()


def test_play_path_in_the_url_survives_a_reload(page: tuple[Any, Watch], branch_dir: Path) -> None:
    pg, _ = page
    pg.goto(url(branch_dir, "play=start,right"))
    pg.locator("section.play").wait_for(state="visible")
    expect(pg.locator(".play-text")).to_have_text("A river blocks the way.")
    pg.reload()
    expect(pg.locator(".play-text")).to_have_text("A river blocks the way.")
    expect(pg.locator(".play-back")).to_be_enabled()
    # An unknown step (an older story) keeps the part of the path that still exists.
    pg.goto(url(branch_dir, "play=start,left,gone"))
    expect(pg.locator(".play-text")).to_have_text("A cold wind blows from a cave.")


@pytest.fixture(scope="module")
def adventure_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import subprocess
    import sys

    # a process of its own: Playwright's sync API keeps an event loop running in this thread
    out = tmp_path_factory.mktemp("adventure") / "out"
    story = Path(__file__).parent.parent / "pipelines" / "adventure.yaml"
    cmd = [sys.executable, "-m", "storyboard", "run", str(story), "-o", str(out), "--backend", "draft", "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


def paths_to_endings(story: Path) -> dict[str, list[str]]:
    """Return, for every ending of a story, the choice labels of a shortest path to it."""
    import yaml

    frames = yaml.safe_load(story.read_text())["frames"]
    by_id = {f["id"]: f for f in frames}
    start = frames[0]["id"]
    paths: dict[str, list[str]] = {start: []}
    queue = [start]
    while queue:
        here = queue.pop(0)
        for choice in by_id[here].get("choices") or []:
            if choice["goto"] not in paths:
                paths[choice["goto"]] = [*paths[here], choice["label"]]
                queue.append(choice["goto"])
    return {fid: p for fid, p in paths.items() if not by_id[fid].get("choices")}


def test_the_example_adventure_plays_to_every_ending(page: tuple[Any, Watch], adventure_dir: Path) -> None:
    pg, _ = page
    endings = paths_to_endings(Path(__file__).parent.parent / "pipelines" / "adventure.yaml")
    assert len(endings) >= 2
    for ending, labels in endings.items():
        pg.goto(url(adventure_dir, "play=" + "edge"))
        pg.locator("section.play").wait_for(state="visible")
        play_to_the_end(pg, labels)
        expect(pg.locator(".play-end")).to_be_visible()
        assert pg.url.rsplit(",", 1)[-1] == ending
        shot(pg, f"adventure-{ending}")


def print_to_pdf(out: Path, pdf: Path) -> list[str]:
    """Print the sheet as a user's browser does (chromium --print-to-pdf) and return each page's text."""
    import subprocess

    from pypdf import PdfReader

    cmd = [str(CHROMIUM), "--headless", *ARGS, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", url(out)]
    subprocess.run(cmd, capture_output=True, timeout=120, check=True)
    return [" ".join((p.extract_text() or "").split()) for p in PdfReader(pdf).pages]


@pytest.mark.parametrize(("frames", "cast", "pages"), [(9, True, 3), (6, False, 1), (7, False, 2)])
def test_printed_pages_are_counted_right(tmp_path: Path, frames: int, cast: bool, pages: int) -> None:
    if cast:
        sheetdata.rich(tmp_path)
    else:
        sheetdata.many(tmp_path, frames, image_size=(384, 256))
    write_sheet(tmp_path)
    texts = print_to_pdf(tmp_path, tmp_path / "sheet.pdf")
    assert len(texts) == pages
    for n, text in enumerate(texts, 1):
        assert f"page {n} / {pages}" in text  # every page is headed, the cast's too
    if cast:
        assert "Cast" in texts[-1] and "rex" in texts[-1] and "Goodnight, Rex." in texts[1]
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "print-rich.pdf").write_bytes((tmp_path / "sheet.pdf").read_bytes())


def test_printed_cards_line_up(page: tuple[Any, Watch], rich_dir: Path) -> None:
    pg, _ = page
    pg.goto(url(rich_dir))
    pg.emulate_media(media="print")
    first = pg.locator(".page").first
    cards = first.locator("article.card").evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect(); return [Math.round(r.y), Math.round(r.height)]; })"
    )
    rows: dict[int, set[int]] = {}
    for y, h in cards:
        rows.setdefault(y, set()).add(h)
    assert len(rows) == 2 and all(len(heights) == 1 for heights in rows.values())  # no ragged rows
    # A portrait frame sits in the middle of its column, not at its left.
    shot_box, img_box = (pg.locator(f"#f06 {s}").bounding_box() for s in (".shot", ".shot img"))
    assert img_box["width"] < shot_box["width"] / 2
    assert abs((img_box["x"] + img_box["width"] / 2) - (shot_box["x"] + shot_box["width"] / 2)) < 2
