"""The contact sheet as an editor, end to end: a real run against the fake Images API, the sheet
in chromium from file:// (pick, edit, move by button and by drag, lock, reload, undo, save), then
`storyboard apply` and a second run that sends exactly what the sheet said it would."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import test_browser
from fakeapi import FakeImagesAPI
from test_browser import ARTIFACTS, CHROMIUM, Watch, new_context, url

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
expect = sync_api.expect

browser = test_browser.browser  # the browser fixtures, shared
page = test_browser.page
ROOT = Path(__file__).resolve().parent.parent
SHOTS = Path("/work/coord/shots")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


def storyboard(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the command line in a process of its own (Playwright's sync API holds this thread's loop)."""
    cmd = [sys.executable, "-m", "storyboard", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ.copy())


def run(story: Path, out: Path) -> None:
    proc = storyboard("run", story, "-o", out, "--yes", "--quiet")
    assert proc.returncode == 0, proc.stderr


def frames_sent(api: FakeImagesAPI, since: int, out: Path) -> list[str]:
    """Return the frames (id, or #N) the requests since `since` were for, from the manifest's prompts."""
    manifest = json.loads((out / "manifest.json").read_text())
    by_prompt = {e["prompt"]: e["id"] or f"#{e['number']}" for e in manifest["frames"]}
    return [by_prompt.get(r.prompt or "", f"? {r.prompt}") for r in api.image_requests()[since:]]


def copy_story(name: str, folder: Path) -> Path:
    story = folder / name
    shutil.copy(ROOT / "pipelines" / name, story)
    return story


def run_and_open(pg: Any, api: FakeImagesAPI, name: str, folder: Path) -> tuple[Path, Path, int]:
    """Copy pipelines/NAME into `folder`, run it and open its sheet; return (story, out, requests so far)."""
    story = copy_story(name, folder)
    out = folder / "out"
    run(story, out)
    first = len(api.image_requests())
    pg.goto(url(out))
    return story, out, first


def save_and_apply(pg: Any, story: Path) -> dict[str, Any]:
    """Save the sheet's changes beside the story and apply them; return the changes file's content."""
    name, changes = saved_changes(pg)
    (story.parent / name).write_text(json.dumps(changes))
    assert storyboard("apply", story, story.parent / name).returncode == 0
    return changes


def speakers(pg: Any, key: str) -> list[str]:
    """Return the speakers of a frame's dialogue lines, as its card shows them."""
    return pg.locator(f"article[data-key={key}] .edit-dialogue input.speaker").evaluate_all("xs => xs.map(x => x.value)")


def order_on_page(pg: Any) -> list[str]:
    return pg.locator("article.card").evaluate_all("cs => cs.map(c => c.dataset.key)")


def saved_changes(pg: Any) -> dict[str, Any]:
    with pg.expect_download() as info:
        pg.get_by_role("button", name="Save changes").click()
    download = info.value
    return download.suggested_filename, json.loads(Path(download.path()).read_text(encoding="utf-8"))


def panel(pg: Any) -> str:
    toggle = pg.locator(".editbar-toggle")
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    return pg.locator(".editbar-panel").inner_text()


def predicted(pg: Any) -> list[str]:
    """Return the frames the sheet says a run after apply would send again."""
    total = pg.locator(".editbar-total").inner_text()
    if "sends nothing" in total:
        return []
    m = re.search(r"re-runs \d+ frames? \(([^)]*)\)", total)
    assert m, total
    return [k if not k.isdigit() else f"#{k}" for k in m.group(1).split(", ")]


def test_pick_edit_move_lock_save_apply_and_run(
    page: tuple[Any, Watch], fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    pg, watch = page
    story = copy_story("night-market.yaml", tmp_path)
    out = tmp_path / "out"
    run(story, out)
    first = len(fake_env.image_requests())
    assert first == 8  # 6 frames, the market in 3 takes
    manifest = json.loads((out / "manifest.json").read_text())
    take2 = next(e for e in manifest["frames"] if e["id"] == "market" and e["take"] == 2)

    pg.goto(url(out))
    market = pg.locator("article[data-key=market]")
    # Pick: the picked take becomes the frame's picture at once.
    pg.get_by_role("button", name="Pick take 2 of frame market").click()
    expect(market.locator(".shot img")).to_have_attribute("src", f"thumbs/{take2['sha256']}.jpg")
    expect(pg.get_by_role("button", name="Pick take 2 of frame market")).to_have_attribute("aria-pressed", "true")
    expect(pg.get_by_role("button", name="Pick take 1 of frame market")).to_have_attribute("aria-pressed", "false")
    expect(pg.locator(".editbar-count")).to_have_text("1 unsaved change")
    assert re.search(r"Picking take 2 of market re-runs 2 chained frames \(stall, rain\), ≈\$0\.0\d\d", panel(pg))

    # Edit in place: a caption, a line of dialogue.
    pg.get_by_role("textbox", name="Caption of frame gate").fill("Mira reaches the night market.")
    pg.get_by_role("textbox", name="Dialogue line 1 of frame rain").fill("Under here, quick!")
    pg.get_by_role("checkbox", name="Lock frame gate").check()
    expect(pg.locator(".editbar-count")).to_have_text("4 unsaved changes")
    assert "The caption of gate sends nothing" in panel(pg)

    # Move by button: the end card now follows the rain, whose caption it quotes.
    assert order_on_page(pg) == ["gate", "market", "stall", "rain", "#5", "end"]
    pg.get_by_role("button", name="Move frame end earlier").click()
    assert order_on_page(pg) == ["gate", "market", "stall", "rain", "end", "#5"]
    expect(pg.locator("article[data-key=end] .num")).to_have_text("05")
    expect(pg.locator("article[data-key=end] .was")).to_have_text("was 06")
    # ... and by drag: the gate dropped on the right half of the market card lands after it.
    box = market.bounding_box()
    pg.locator("article[data-key=gate] .grip").drag_to(market, target_position={"x": box["width"] * 0.8, "y": 40})
    assert order_on_page(pg) == ["market", "gate", "stall", "rain", "end", "#5"]
    expect(pg.locator(".editbar-count")).to_have_text("6 unsaved changes")
    assert "re-runs 1 frame that follows the order (end)" in panel(pg)

    # The id-less frame is edited in place but cannot move.
    idless = pg.locator("article[data-key='#5']")
    expect(idless.locator(".no-move")).to_have_text("give it an id to move it")
    assert idless.get_by_role("button", name=re.compile("Move frame")).count() == 0
    expect(pg.get_by_role("textbox", name="Caption of frame 5")).to_have_value("She waits it out.")

    # A reload keeps every change; undo takes them back one by one.
    pg.reload()
    assert order_on_page(pg) == ["market", "gate", "stall", "rain", "end", "#5"]
    expect(pg.get_by_role("textbox", name="Caption of frame gate")).to_have_value("Mira reaches the night market.")
    expect(pg.get_by_role("checkbox", name="Lock frame gate")).to_be_checked()
    expect(pg.locator(".editbar-count")).to_have_text("6 unsaved changes")
    pg.get_by_role("button", name="Undo").click()
    assert order_on_page(pg) == ["gate", "market", "stall", "rain", "end", "#5"]
    pg.get_by_role("button", name="Undo").click()
    assert order_on_page(pg) == ["gate", "market", "stall", "rain", "#5", "end"]
    expect(pg.locator(".editbar-count")).to_have_text("4 unsaved changes")
    pg.get_by_role("button", name="Move frame end earlier").click()
    pg.get_by_role("button", name="Move frame gate later").click()
    assert order_on_page(pg) == ["market", "gate", "stall", "rain", "end", "#5"]
    assert predicted(pg) == ["stall", "rain", "end"]
    text = panel(pg)
    assert "A run after apply re-runs 3 frames (stall, rain, end): 3 requests, ≈$" in text
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "editor.png"))  # for people to look at
    if SHOTS.parent.is_dir():  # the lead's folder, where there is one
        SHOTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(SHOTS / "editor.png"))

    # Save: the download is the changes file.
    name, changes = saved_changes(pg)
    assert name == "night-market.changes.json"
    assert changes["format"] == "storyboard-changes" and changes["version"] == 1
    assert changes["story"] == {"file": "night-market.yaml", "title": "The Night Market", "sha256": manifest["story"]["sha256"]}
    assert changes["changes"] == [
        {"frame": "gate", "field": "caption", "before": "Mira reaches the market.", "after": "Mira reaches the night market."},
        {"frame": "gate", "field": "lock", "before": False, "after": True},
        {"frame": "market", "field": "pick", "before": 1, "after": 2},
        {"frame": "rain", "field": "dialogue",
         "before": [{"speaker": "vendor", "line": "Under the awning, quick!"}, {"speaker": "mira", "line": "No"}],
         "after": [{"speaker": "vendor", "line": "Under here, quick!"}, {"speaker": "mira", "line": "No"}]},
    ]
    assert changes["order"] == {"before": ["gate", "market", "stall", "rain", "#5", "end"],
                                "after": ["market", "gate", "stall", "rain", "end", "#5"]}
    expect(pg.locator(".editbar-count")).to_have_text("6 changes saved to night-market.changes.json (not yet applied)")

    # Apply: only the changed lines change, comments stay (and move with their frames).
    saved = tmp_path / name
    saved.write_text(json.dumps(changes))
    before = story.read_text()
    proc = storyboard("apply", story, saved)
    assert proc.returncode == 0, proc.stderr
    after = story.read_text()
    assert set(after.splitlines()) - set(before.splitlines()) == {
        "    caption: Mira reaches the night market.",
        "    lock: true",
        "    pick: 2",
        "      - vendor: Under here, quick!",
    }
    assert set(before.splitlines()) - set(after.splitlines()) == {
        "    caption: Mira reaches the market.",
        "      - vendor: Under the awning, quick!",
    }
    assert "# Act 1: arriving\n  - id: gate" in after
    assert '      - mira: "No"   # quoted: a YAML 1.1 reader' in after
    assert storyboard("apply", story, saved).stderr.startswith("Already applied")

    # Run: exactly the frames the sheet named, and the files in the new order.
    run(story, out)
    assert sorted(frames_sent(fake_env, first, out)) == sorted(["stall", "rain", "end"])
    assert sorted(p.name for p in (out / "frames").iterdir()) == [
        "01-market.png", "02-gate.png", "03-stall.png", "04-rain.png", "05-end.png", "06.png",
    ]
    assert not watch.dialogs


def test_dialogue_lines_are_added_and_removed_then_applied_in_place(
    page: tuple[Any, Watch], fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    pg, _ = page
    story, out, first = run_and_open(pg, fake_env, "night-market.yaml", tmp_path)
    # who a new line may be given to: the cast, then whoever speaks
    assert pg.locator("#sb-speakers option").evaluate_all("os => os.map(o => o.value)") == ["mira", "vendor"]

    # A line for a frame without dialogue: its speaker, then its words. Empty, it is no change yet.
    pg.get_by_role("button", name="Write dialogue for frame stall").click()
    expect(pg.get_by_role("combobox", name="Speaker of a new dialogue line in frame stall")).to_be_focused()
    pg.get_by_role("combobox", name="Speaker of a new dialogue line in frame stall").fill("mira")
    pg.get_by_role("button", name="Add a dialogue line to frame stall").click()
    line = pg.get_by_role("textbox", name="Dialogue line 1 of frame stall")
    expect(line).to_be_focused()
    expect(pg.locator(".editbar-count")).to_have_text("No unsaved changes")
    line.press_sequentially("Noodles!")
    expect(pg.locator(".editbar-count")).to_have_text("1 unsaved change")
    assert speakers(pg, "stall") == ["mira"]

    # The vendor's line goes; mira's stays, now the first.
    pg.get_by_role("button", name="Remove dialogue line 1 of frame rain").click()
    expect(pg.get_by_role("textbox", name="Dialogue line 1 of frame rain")).to_have_value("No")
    assert pg.get_by_role("textbox", name="Dialogue line 2 of frame rain").count() == 0
    expect(pg.get_by_role("button", name="Remove dialogue line 1 of frame rain")).to_be_focused()
    # Without a speaker typed, a new line is the last speaker's; left empty, it changes nothing.
    pg.get_by_role("button", name="Add a dialogue line to frame rain").click()
    expect(pg.get_by_role("combobox", name="Speaker of dialogue line 2 of frame rain")).to_have_value("mira")
    assert speakers(pg, "rain") == ["mira", "mira"]
    expect(pg.locator(".editbar-count")).to_have_text("2 unsaved changes")
    # Undo takes back the empty line, then the removal.
    pg.get_by_role("button", name="Undo").click()
    pg.get_by_role("button", name="Undo").click()
    expect(pg.get_by_role("textbox", name="Dialogue line 1 of frame rain")).to_have_value("Under the awning, quick!")
    expect(pg.locator(".editbar-count")).to_have_text("1 unsaved change")
    pg.get_by_role("button", name="Remove dialogue line 1 of frame rain").click()

    pg.reload()
    expect(pg.get_by_role("textbox", name="Dialogue line 1 of frame stall")).to_have_value("Noodles!")
    expect(pg.get_by_role("textbox", name="Dialogue line 1 of frame rain")).to_have_value("No")
    before = story.read_text()
    changes = save_and_apply(pg, story)
    assert changes["changes"] == [
        {"frame": "stall", "field": "dialogue", "before": [], "after": [{"speaker": "mira", "line": "Noodles!"}]},
        {"frame": "rain", "field": "dialogue",
         "before": [{"speaker": "vendor", "line": "Under the awning, quick!"}, {"speaker": "mira", "line": "No"}],
         "after": [{"speaker": "mira", "line": "No"}]},
    ]
    after = story.read_text()
    assert set(after.splitlines()) - set(before.splitlines()) == {"      - mira: Noodles!"}
    assert "    caption: Steam and noodles.\n    dialogue:\n      - mira: Noodles!\n\n  - id: rain" in after
    assert set(before.splitlines()) - set(after.splitlines()) == {"      - vendor: Under the awning, quick!"}
    assert '      - mira: "No"   # quoted: a YAML 1.1 reader' in after  # the kept line, as it was
    run(story, out)
    assert frames_sent(fake_env, first, out) == []  # dialogue is lettered, not drawn: nothing to buy
    manifest = json.loads((out / "manifest.json").read_text())
    by_id = {e["id"]: e for e in manifest["frames"] if e["picked"]}
    assert by_id["stall"]["dialogue"] == [{"speaker": "mira", "line": "Noodles!"}]
    assert by_id["rain"]["dialogue"] == [{"speaker": "mira", "line": "No"}]
    if SHOTS.parent.is_dir():
        pg.goto(url(out))
        pg.locator("article[data-key=rain]").screenshot(path=str(SHOTS / "editor-dialogue.png"))


def test_an_empty_line_the_story_has_stays_when_another_line_is_edited(
    page: tuple[Any, Watch], fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    pg, _ = page
    story = tmp_path / "beat.yaml"
    story.write_text(
        "title: Beat\nsize: 1:1\nquality: low\nframes:\n  - id: rain\n    prompt: rain\n    dialogue:\n"
        '      - vendor: Under the awning, quick!\n      - mira: ""   # a beat: she says nothing\n      - mira: "No"\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    run(story, out)
    pg.goto(url(out))
    line = pg.get_by_role("textbox", name="Dialogue line 1 of frame rain")
    line.fill("Under here!")
    line.press("Tab")
    expect(pg.locator(".editbar-count")).to_have_text("1 unsaved change")
    changes = save_and_apply(pg, story)
    assert changes["changes"][0]["after"] == [
        {"speaker": "vendor", "line": "Under here!"}, {"speaker": "mira", "line": ""}, {"speaker": "mira", "line": "No"},
    ]
    assert '      - mira: ""   # a beat: she says nothing\n' in story.read_text()  # untouched, with its comment


def test_unsaved_changes_come_back_after_the_story_is_edited_by_hand_and_run(
    page: tuple[Any, Watch], fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    pg, _ = page
    story, out, _ = run_and_open(pg, fake_env, "night-market.yaml", tmp_path)
    caption = pg.get_by_role("textbox", name="Caption of frame stall")
    caption.fill("Steam, noodles, neon.")
    caption.press("Tab")
    notes = pg.get_by_role("textbox", name="Notes of frame gate")
    notes.fill("WIDE, from the street.")
    notes.press("Tab")
    expect(pg.locator(".editbar-count")).to_have_text("2 unsaved changes")
    # Not saved: the story is edited by hand (the same frame's caption, and another line), then run.
    text = story.read_text(encoding="utf-8")
    story.write_text(text.replace("caption: Steam and noodles.", "caption: Steam and dumplings."), encoding="utf-8")
    run(story, out)
    pg.reload()
    expect(pg.locator(".editbar-earlier")).to_contain_text("2 unsaved changes from an earlier version of this story (edited since) are kept")
    expect(pg.locator(".editbar-count")).to_have_text("")
    pg.get_by_role("button", name="Restore them").click()
    # The notes come back; the caption does not: the story itself changed it since.
    expect(pg.get_by_role("textbox", name="Notes of frame gate")).to_have_value("WIDE, from the street.")
    expect(pg.get_by_role("textbox", name="Caption of frame stall")).to_have_value("Steam and dumplings.")
    expect(pg.locator(".editbar-count")).to_have_text("1 unsaved change")
    expect(pg.locator(".editbar-notice")).to_have_text(
        "Restored 1 change; left out, as the story itself changed them since: stall caption.")
    expect(pg.locator(".editbar-earlier")).to_be_hidden()
    pg.reload()  # kept for this version now, and offered no more
    expect(pg.locator(".editbar-count")).to_have_text("1 unsaved change")
    expect(pg.locator(".editbar-earlier")).to_be_hidden()


def test_restored_changes_follow_a_frame_without_an_id_when_a_frame_is_added_above_it(
    page: tuple[Any, Watch], fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    pg, _ = page
    story, out, _ = run_and_open(pg, fake_env, "night-market.yaml", tmp_path)
    notes = pg.get_by_role("textbox", name="Notes of frame 5")  # the frame without an id
    notes.fill("CLOSE on her face.")
    notes.press("Tab")
    expect(pg.locator(".editbar-count")).to_have_text("1 unsaved change")
    text = story.read_text(encoding="utf-8")
    story.write_text(text.replace("frames:\n", "frames:\n  - id: intro\n    prompt: the market at dusk\n", 1), encoding="utf-8")
    run(story, out)
    pg.reload()
    pg.get_by_role("button", name="Restore them").click()
    expect(pg.get_by_role("textbox", name="Notes of frame 6")).to_have_value("CLOSE on her face.")  # the same frame, one lower
    expect(pg.locator(".editbar-notice")).to_have_text("Restored 1 change.")


def test_a_line_is_given_to_another_speaker_and_moved_then_applied_with_its_comment(
    page: tuple[Any, Watch], fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    pg, _ = page
    story, out, first = run_and_open(pg, fake_env, "night-market.yaml", tmp_path)
    rain = "article[data-key=rain]"
    assert speakers(pg, "rain") == ["vendor", "mira"]
    expect(pg.get_by_role("button", name="Move earlier: dialogue line 1 of frame rain")).to_be_disabled()
    expect(pg.get_by_role("button", name="Move later: dialogue line 2 of frame rain")).to_be_disabled()
    # mira's line first; the focus follows the line (to its other button, at the top)
    pg.get_by_role("button", name="Move earlier: dialogue line 2 of frame rain").click()
    assert speakers(pg, "rain") == ["mira", "vendor"]
    expect(pg.get_by_role("textbox", name="Dialogue line 1 of frame rain")).to_have_value("No")
    expect(pg.get_by_role("button", name="Move later: dialogue line 1 of frame rain")).to_be_focused()
    expect(pg.locator(".editbar-count")).to_have_text("1 unsaved change")
    # the vendor's words given to mira; an empty name is no name: the field shows the speaker again
    who = pg.get_by_role("combobox", name="Speaker of dialogue line 2 of frame rain")
    who.fill("")
    who.press("Enter")
    expect(who).to_have_value("vendor")
    who.fill("  mira ")
    who.press("Enter")
    assert speakers(pg, "rain") == ["mira", "mira"]
    expect(pg.get_by_role("combobox", name="Speaker of dialogue line 2 of frame rain")).to_be_focused()
    # marked changed where the speaker at that place is not the story's (line 1: mira, was vendor)
    assert pg.locator(f"{rain} input.speaker").evaluate_all("xs => xs.map(x => x.classList.contains('changed'))") == [True, False]
    # two lines of one speaker swapped: the words move, the rows stay
    pg.get_by_role("button", name="Move later: dialogue line 1 of frame rain").click()
    expect(pg.get_by_role("textbox", name="Dialogue line 1 of frame rain")).to_have_value("Under the awning, quick!")
    expect(pg.get_by_role("textbox", name="Dialogue line 2 of frame rain")).to_have_value("No")
    pg.get_by_role("button", name="Undo").click()
    expect(pg.get_by_role("textbox", name="Dialogue line 1 of frame rain")).to_have_value("No")
    # the card's plain copy (what prints) says the same
    plain = pg.locator(f"{rain} .dialogue:not(.edit-dialogue) li").evaluate_all("xs => xs.map(x => x.textContent)")
    assert plain == ["mira No", "mira Under the awning, quick!"]

    pg.reload()
    assert speakers(pg, "rain") == ["mira", "mira"]
    before = story.read_text()
    changes = save_and_apply(pg, story)
    assert changes["changes"] == [{"frame": "rain", "field": "dialogue",
                                   "before": [{"speaker": "vendor", "line": "Under the awning, quick!"},
                                              {"speaker": "mira", "line": "No"}],
                                   "after": [{"speaker": "mira", "line": "No"},
                                             {"speaker": "mira", "line": "Under the awning, quick!"}]}]
    after = story.read_text()
    # mira's "No" moved with its quoting and comment; the vendor's line is now mira's; the blank
    # line that closes the frame stays after its last line
    assert ('    dialogue:\n      - mira: "No"   # quoted: a YAML 1.1 reader would take a bare No for false\n'
            '      - mira: Under the awning, quick!\n\n  - prompt:') in after
    assert len(after.splitlines()) == len(before.splitlines())
    run(story, out)
    assert frames_sent(fake_env, first, out) == []
    manifest = json.loads((out / "manifest.json").read_text())
    rain_entry = next(e for e in manifest["frames"] if e["id"] == "rain" and e["picked"])
    assert rain_entry["dialogue"] == [{"speaker": "mira", "line": "No"}, {"speaker": "mira", "line": "Under the awning, quick!"}]


def test_moving_a_frame_to_either_end_keeps_the_focus_on_it(page: tuple[Any, Watch], fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    pg, _ = page
    run_and_open(pg, fake_env, "night-market.yaml", tmp_path)
    pg.get_by_role("button", name="Move frame market earlier").focus()
    pg.keyboard.press("Enter")  # market is first now: its "earlier" button is disabled
    assert order_on_page(pg)[:2] == ["market", "gate"]
    expect(pg.get_by_role("button", name="Move frame market later")).to_be_focused()
    pg.keyboard.press("Enter")  # and the keyboard goes on from there
    assert order_on_page(pg)[:2] == ["gate", "market"]


@pytest.mark.parametrize("edit", ["move", "caption"])
def test_a_move_or_a_caption_sends_nothing(
    page: tuple[Any, Watch], fake_env: FakeImagesAPI, tmp_path: Path, edit: str
) -> None:
    pg, _ = page
    story, out, first = run_and_open(pg, fake_env, "robot-dog.yaml", tmp_path)
    if edit == "move":
        pg.get_by_role("button", name="Move frame sunset earlier").click()
        assert "The new order renumbers the frame files and sends nothing" in panel(pg)
    else:
        pg.get_by_role("textbox", name="Caption of frame city").fill("Rex, in the city.")
        assert "The caption of city sends nothing" in panel(pg)
    assert predicted(pg) == []
    save_and_apply(pg, story)
    run(story, out)
    assert frames_sent(fake_env, first, out) == []
    expected = ["01-lab.png", "02-sunset.png", "03-city.png"] if edit == "move" else ["01-lab.png", "02-city.png", "03-sunset.png"]
    assert sorted(p.name for p in (out / "frames").iterdir()) == expected


def test_a_move_in_a_progressive_story_re_runs_the_frames_that_follow_the_order(
    page: tuple[Any, Watch], fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    pg, _ = page
    story, out, first = run_and_open(pg, fake_env, "robot-dog-progressive.yaml", tmp_path)
    pg.get_by_role("button", name="Move frame park earlier").click()
    # Each frame edits the one before: park, street (now after park) and sunset (now after street).
    assert predicted(pg) == ["park", "street", "sunset"]
    save_and_apply(pg, story)
    run(story, out)
    assert frames_sent(fake_env, first, out) == ["park", "street", "sunset"]


def two_tabs(browser: Any, tmp_path: Path, *, second_script: str | None = None) -> tuple[Any, Any, Any]:
    """Open the rich sheet in two tabs of one browser context; return (context, one, two)."""
    import sheetdata

    from storyboard.sheet.render import write_sheet

    sheetdata.rich(tmp_path)
    write_sheet(tmp_path)
    context = new_context(browser)
    one, two = context.new_page(), context.new_page()
    one.goto(url(tmp_path))
    if second_script:
        two.add_init_script(second_script)
    two.goto(url(tmp_path))
    return context, one, two


def test_two_tabs_stay_in_step(browser: Any, tmp_path: Path) -> None:
    context, one, two = two_tabs(browser, tmp_path)
    # The user switches tabs between the steps, as people do (bring_to_front): a browser may drop the
    # storage event for a background tab, and coming back to a tab reads the changes again.
    one.bring_to_front()
    one.get_by_role("textbox", name="Caption of frame lab").fill("Changed in tab one.")
    two.bring_to_front()
    expect(two.get_by_role("textbox", name="Caption of frame lab")).to_have_value("Changed in tab one.")
    expect(two.locator(".editbar-count")).to_have_text("1 unsaved change")
    two.get_by_role("button", name="Discard changes").click()
    one.bring_to_front()
    expect(one.get_by_role("textbox", name="Caption of frame lab")).to_have_value("Rex wakes up.")
    expect(one.locator(".editbar-count")).to_have_text("No unsaved changes")
    # Discarding is a step too: Undo brings the changes back.
    one.get_by_role("button", name="Undo").click()
    two.bring_to_front()
    expect(two.get_by_role("textbox", name="Caption of frame lab")).to_have_value("Changed in tab one.")


def test_coming_back_to_a_tab_reads_what_another_tab_changed(browser: Any, tmp_path: Path) -> None:
    """Without any storage event (blocked here), focusing the tab again shows the other tab's changes."""
    block = "window.addEventListener('storage', (e) => e.stopImmediatePropagation(), true);"
    context, one, two = two_tabs(browser, tmp_path, second_script=block)
    one.bring_to_front()
    one.get_by_role("textbox", name="Caption of frame lab").fill("Changed in tab one.")
    expect(one.locator(".editbar-count")).to_have_text("1 unsaved change")
    assert two.get_by_role("textbox", name="Caption of frame lab").input_value() == "Rex wakes up."  # no event came
    two.bring_to_front()
    two.evaluate("window.dispatchEvent(new Event('focus'))")
    expect(two.get_by_role("textbox", name="Caption of frame lab")).to_have_value("Changed in tab one.")
    expect(two.locator(".editbar-count")).to_have_text("1 unsaved change")
    context.close()
    context.close()


def test_without_javascript_the_sheet_shows_everything_read_only(browser: Any, tmp_path: Path) -> None:
    import sheetdata

    from storyboard.sheet.render import write_sheet

    sheetdata.rich(tmp_path)
    write_sheet(tmp_path)
    context = new_context(browser, java_script_enabled=False)
    pg = context.new_page()
    pg.goto(url(tmp_path))
    card = pg.locator("#f01")
    expect(card.locator(".caption")).to_have_text("Rex wakes up.")
    expect(card.locator(".notes")).to_be_visible()
    expect(pg.locator("#f02 .take")).to_have_count(3)
    assert pg.get_by_role("textbox").count() == 0 and pg.get_by_role("checkbox").count() == 0
    assert pg.get_by_role("button", name=re.compile("^(Pick|Move)")).count() == 0
    expect(pg.locator(".editbar")).to_be_hidden()
    context.close()


def test_hostile_text_typed_in_the_editor_stays_text(page: tuple[Any, Watch], tmp_path: Path) -> None:
    import sheetdata

    from storyboard.sheet.render import write_sheet

    pg, watch = page
    sheetdata.rich(tmp_path)
    write_sheet(tmp_path)
    pg.goto(url(tmp_path))
    hostile = '<img src=x onerror=alert(9)> "</script>'
    pg.get_by_role("textbox", name="Caption of frame lab").fill(hostile)
    pg.get_by_role("textbox", name="Caption of frame lab").blur()
    pg.reload()
    expect(pg.get_by_role("textbox", name="Caption of frame lab")).to_have_value(hostile)
    assert pg.locator("#f01 img[src=x]").count() == 0 and not watch.dialogs
    _, changes = saved_changes(pg)
    assert changes["changes"][0]["after"] == hostile


# What a change re-runs: the sheet's rules (changes.js), on stories made up to test each one.

GRAPH = [  # (id, editor record): "a" has takes; b edits a, c edits b; d quotes b's caption; e reads its number
    ("a", {"pick": 1, "cost": 0.12, "requests": 3}),
    ("b", {"pick": 1, "cost": 0.04, "source": "a"}),
    ("c", {"pick": 1, "cost": 0.04, "source": "b"}),
    ("d", {"pick": 1, "cost": 0.04, "reads": {"frames": {"b": ["caption"]}}}),
    ("e", {"pick": 1, "cost": 0.04, "reads": {"number": True}}),
    ("f", {"pick": 1, "cost": 0.04, "reads": {"previous": ["image"]}}),
    ("g", {"pick": 1, "cost": None, "reads": {"previous": ["prompt"]}}),
]


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        ([{"type": "set", "key": "a", "field": "pick", "value": 2}], ["b", "c"]),  # down the whole chain
        ([{"type": "set", "key": "a", "field": "pick", "value": 2}, {"type": "set", "key": "b", "field": "lock", "value": True}], []),
        ([{"type": "set", "key": "b", "field": "caption", "value": "new"}], ["d"]),
        ([{"type": "set", "key": "c", "field": "caption", "value": "new"}], []),
        ([{"type": "set", "key": "a", "field": "notes", "value": "new"}], []),
        # e moves from 5th to 4th: it reads its number; d moves too but reads none; f edits the frame
        # before it, now d
        ([{"type": "move", "key": "e", "to": 3}], ["e", "f"]),
        # f to the end: it edits g now, and g prints the prompt of the frame before it, now e; e keeps its number
        ([{"type": "move", "key": "f", "to": 6}], ["g", "f"]),
        # g to second: it prints a's prompt now; e's number changes, and f edits e's new image; b and c
        # are chained by id and keep their sources
        ([{"type": "move", "key": "g", "to": 1}], ["g", "e", "f"]),
    ],
)
def test_what_a_change_re_runs(page: tuple[Any, Watch], tmp_path: Path, actions: list, expected: list[str]) -> None:
    pg, _ = page
    (tmp_path / "index.html").write_text("<!doctype html><title>t</title>")
    pg.goto(url(tmp_path))
    source = (ROOT / "templates" / "changes.js").read_text()
    data = {
        "frames": [{"id": k, "number": i + 1, "caption": "c", "notes": None, "status": "ok"} for i, (k, _) in enumerate(GRAPH)],
        "editor": {"free": False, "adventure": False, "frames": [rec for _, rec in GRAPH]},
    }
    got = pg.evaluate(
        "([source, data, actions]) => { eval(source); const m = window.storyboardChanges(data);"
        " const s = m.replay(actions); const keys = m.affected(s); return [keys, m.costOf(keys)]; }",
        [source, data, actions],
    )
    assert got[0] == expected
    costs = {k: rec["cost"] for k, rec in GRAPH}
    want = None if any(costs[k] is None for k in expected) else pytest.approx(sum(costs[k] for k in expected))
    assert got[1]["total"] == want


def test_a_printed_sheet_shows_the_new_order_six_to_a_page(page: tuple[Any, Watch], tmp_path: Path) -> None:
    import sheetdata

    from storyboard.sheet.render import write_sheet

    pg, _ = page
    sheetdata.rich(tmp_path)
    write_sheet(tmp_path)
    pg.goto(url(tmp_path))
    pg.get_by_role("button", name="Move frame poster later").click()  # from page 1 to page 2
    pg.get_by_role("textbox", name="Caption of frame lab").fill("Rex wakes, printed.")
    pg.emulate_media(media="print")
    pg.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    pages = pg.locator(".page").evaluate_all("ps => ps.map(p => Array.from(p.querySelectorAll('article.card')).map(c => c.dataset.key))")
    assert pages == [["lab", "city", "night", "wider", "hostile", "storm"], ["poster", "aftermath", "#9"]]
    # What prints is the text as edited, without the editing controls.
    expect(pg.locator("#f01 .words .caption")).to_have_text("Rex wakes, printed.")
    expect(pg.locator("#f01 .edit")).to_be_hidden()


def test_moving_an_adventure_s_first_frame_says_where_it_now_starts(page: tuple[Any, Watch], tmp_path: Path) -> None:
    import sheetdata

    from storyboard.sheet.render import write_sheet

    pg, _ = page
    sheetdata.branching(tmp_path)
    write_sheet(tmp_path)
    pg.goto(url(tmp_path))
    pg.get_by_role("button", name="Move frame left earlier").click()
    assert "sends nothing; the adventure now starts at left" in panel(pg)
