"""A new user's first hour, as a user types it: every mistake gets one message (where, what to do),
exit code 2 and no traceback; no money moves by surprise."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakeapi import FakeImagesAPI
from stories import write_png, write_story
from typer.testing import CliRunner, Result

from storyboard.cli import app

# 8 takes at high quality: about $1.32, above the $1 question.
PRICEY = """\
title: Pricey
quality: high
size: 1536x1024
budget: 50
frames:
  - id: a
    prompt: a lighthouse at dusk
    takes: 4
  - id: b
    prompt: the lighthouse at night
    takes: 4
"""
REFUSED = (
    "Error: the new requests are estimated at $1.32, above $1, and without a terminal there is no one to ask. "
    "Nothing was sent. Add --yes to send them, or --budget USD to cap the spend.\n"
)


def sb(*args: object, env: dict[str, str] | None = None) -> Result:
    """Invoke the CLI in-process (no terminal); a bug (any exception but an exit) fails the test."""
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200", **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def storyboard(*args: object, cwd: Path, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run `python -m storyboard` as a user would, in a real process."""
    return subprocess.run(
        [sys.executable, "-m", "storyboard", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "200"}, **kw,  # type: ignore[call-overload]
    )


def in_terminal(args: list[str], cwd: Path, answer: str | None, *, stderr_tty: bool = True,
                question: bytes = b"Send them?") -> tuple[int, str]:
    """Run the CLI with stdin (and stderr) on a pseudo-terminal; answer the first question; return (exit, terminal text)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "storyboard", *args], cwd=cwd, stdin=slave, stdout=subprocess.PIPE,
        stderr=slave if stderr_tty else subprocess.PIPE, env={**os.environ, "COLUMNS": "200", "TERM": "dumb"},
    )
    os.close(slave)
    seen, answered, deadline = b"", answer is None, time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        if not answered and question in seen:
            os.write(master, answer.encode() + b"\n")  # type: ignore[union-attr]
            answered = True
        if proc.poll() is not None and not ready:
            break
    rc = proc.wait(timeout=60)
    os.close(master)
    return rc, seen.decode(errors="replace")


@pytest.fixture
def pricey(tmp_path: Path, fake_env: FakeImagesAPI, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # outputs/pricey is written here
    return write_story(tmp_path, PRICEY)


# -- 1. the $1 question: refused without a terminal, asked in one ---------------------------------


def test_above_a_dollar_without_a_terminal_is_refused_and_nothing_is_sent(pricey: Path, fake_env: FakeImagesAPI) -> None:
    result = sb("run", pricey, "--backend", "openai")  # the story's own `budget: 50` is no consent
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", REFUSED)
    assert fake_env.image_requests() == []
    assert not (pricey.parent / "outputs").exists()


def test_above_a_dollar_in_a_real_process_with_stdin_from_dev_null(pricey: Path, fake_env: FakeImagesAPI) -> None:
    proc = storyboard("run", pricey.name, "--backend", "openai", cwd=pricey.parent, stdin=subprocess.DEVNULL)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", REFUSED)
    assert fake_env.image_requests() == []


def test_a_terminal_on_stdin_alone_is_not_enough(pricey: Path, fake_env: FakeImagesAPI) -> None:
    """`storyboard run x 2> log`: stderr is not a terminal, so the question could not be seen."""
    rc, _ = in_terminal(["run", pricey.name, "--backend", "openai"], pricey.parent, None, stderr_tty=False)
    assert rc == 2
    assert fake_env.image_requests() == []


@pytest.mark.parametrize("flag", [["--yes"], ["--budget", "5"]])
def test_yes_or_a_budget_on_the_command_line_sends(pricey: Path, fake_env: FakeImagesAPI, flag: list[str]) -> None:
    result = sb("run", pricey, "--backend", "openai", "-q", *flag)
    assert (result.exit_code, result.stderr) == (0, "")
    assert len(fake_env.image_requests()) == 8
    assert (pricey.parent / "outputs" / "story" / "manifest.json").is_file()


def test_in_a_terminal_the_plan_is_shown_and_asked(pricey: Path, fake_env: FakeImagesAPI) -> None:
    rc, screen = in_terminal(["run", pricey.name, "--backend", "openai"], pricey.parent, "n")
    assert rc == 1
    assert "8 request(s) to send" in screen
    assert "These new requests are estimated at $1.32. Send them? [y/N]" in screen
    assert fake_env.image_requests() == []
    rc, screen = in_terminal(["run", pricey.name, "--backend", "openai"], pricey.parent, "y")
    assert rc == 0, screen
    assert len(fake_env.image_requests()) == 8


# -- --force alone asks first (SPEC §4): refused without a terminal, like the spend guard -----------------

CHEAP = "title: Cheap\nquality: low\nsize: 1024x1024\nframes:\n  - id: a\n    prompt: a lighthouse\n  - id: b\n    prompt: a boat\n"
FORCE_REFUSED = (
    "Error: --force without --only sends all 2 request(s) of this story again, each paid for again, and without a "
    "terminal there is no one to ask. Nothing was sent. Add --yes to go ahead, or choose frames with --only ID,...\n"
)


@pytest.fixture
def cheap(tmp_path: Path, fake_env: FakeImagesAPI, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    story = write_story(tmp_path, CHEAP)
    assert sb("run", story, "--backend", "openai", "-q").exit_code == 0  # cents: nothing asked
    assert len(fake_env.image_requests()) == 2
    return story


def test_force_alone_without_a_terminal_is_refused_and_nothing_is_sent(cheap: Path, fake_env: FakeImagesAPI) -> None:
    result = sb("run", cheap, "--backend", "openai", "--force")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", FORCE_REFUSED)
    proc = storyboard("run", cheap.name, "--backend", "openai", "--force", cwd=cheap.parent, stdin=subprocess.DEVNULL)
    assert (proc.returncode, proc.stderr) == (2, FORCE_REFUSED)
    assert len(fake_env.image_requests()) == 2


def test_force_alone_with_yes_or_only_sends_without_asking(cheap: Path, fake_env: FakeImagesAPI) -> None:
    assert sb("run", cheap, "--backend", "openai", "--force", "--yes", "-q").exit_code == 0
    assert len(fake_env.image_requests()) == 4
    assert sb("run", cheap, "--backend", "openai", "--force", "--only", "b", "-q").exit_code == 0
    assert len(fake_env.image_requests()) == 5


def test_force_alone_on_the_free_draft_backend_asks_nothing(tmp_path: Path) -> None:
    story = write_story(tmp_path, CHEAP)
    result = sb("run", story, "-o", tmp_path / "out", "--backend", "draft", "--force", "-q")
    assert (result.exit_code, result.output) == (0, "")


def test_force_alone_in_a_terminal_asks_first(cheap: Path, fake_env: FakeImagesAPI) -> None:
    args = ["run", cheap.name, "--backend", "openai", "--force"]
    rc, screen = in_terminal(args, cheap.parent, "n", question=b"Continue?")
    assert rc == 1, screen
    assert ("--force without --only sends all 2 request(s) of this story again, each paid for again (edited and "
            "locked frames are kept). Continue? [y/N]") in screen
    assert len(fake_env.image_requests()) == 2
    rc, screen = in_terminal(args, cheap.parent, "y", question=b"Continue?")
    assert rc == 0, screen
    assert len(fake_env.image_requests()) == 4


# -- 6. a chain may name a later frame ------------------------------------------------------------------


def test_a_chain_naming_a_later_frame_validates_and_runs(tmp_path: Path) -> None:
    story = write_story(
        tmp_path,
        """\
        title: T
        size: "1:1"
        frames:
          - id: night
            edit: day
            prompt: the same street at night
          - id: wide
            outpaint: {from: day, extend: right, by: 0.5}
            prompt: the street continues
          - id: day
            prompt: a street by day
        """,
    )
    result = sb("validate", story, "--backend", "draft")
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"{story}: ok (3 frames)\n", "")
    out = tmp_path / "out"
    result = sb("run", story, "-o", out, "--backend", "draft", "-q")
    assert (result.exit_code, result.output) == (0, "")
    m = json.loads((out / "manifest.json").read_text())
    by = {e["id"]: e for e in m["frames"]}
    assert by["night"]["inputs"][0]["sha256"] == by["day"]["sha256"]
    assert by["wide"]["inputs"][0]["sha256"] == by["day"]["sha256"]
    assert (by["night"]["size"], by["wide"]["size"]) == ("1024x1024", "1536x1024")


def test_a_chain_cycle_through_a_later_frame_is_an_error(tmp_path: Path) -> None:
    story = write_story(
        tmp_path, "title: T\nframes:\n  - id: a\n    edit: b\n    prompt: x\n  - id: b\n    edit: a\n    prompt: y\n"
    )
    result = sb("validate", story, "--backend", "draft")
    assert (result.exit_code, result.stderr) == (
        2, f"Error: {story}:3:5: frames[0]: chain cycle a -> b -> a; a frame cannot depend on itself\n"
    )


# -- 7. warnings name their frame, once ---------------------------------------------------------------


def test_warnings_name_their_frames_and_are_said_once(tmp_path: Path) -> None:
    story = write_story(
        tmp_path,
        """\
        title: T
        size: 2880x2880
        frames:
          - id: a
            prompt: x
            takes: 3
          - id: b
            prompt: y
          - id: c
            prompt: z
            size: 1024x1024
        """,
    )
    result = sb("plan", story, "-o", tmp_path / "out", "--backend", "draft")
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning")]
    assert warnings == [
        "Warning: frames 01-a and 02-b: 2880x2880 is above 2560x1440: experimental (OpenAI's word: such sizes may "
        "fail or come out less reliably; 2560x1440 and below are safe)"
    ]


# -- 8. tracebacks that became messages -----------------------------------------------------------------


@pytest.fixture
def made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A story run on the draft backend in tmp_path (the working directory): outputs/story."""
    monkeypatch.chdir(tmp_path)
    write_story(tmp_path, "title: T\nframes:\n  - id: a\n    prompt: x\n")
    assert sb("run", "story.yaml", "--backend", "draft", "-q").exit_code == 0
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [["gallery", "story.yaml"], ["export", "story.yaml", "--pdf"], ["gc", "story.yaml"]],
    ids=["gallery", "export", "gc"],
)
def test_a_story_given_where_the_output_folder_goes(made: Path, args: list[str]) -> None:
    result = sb(*args)
    assert (result.exit_code, result.stdout, result.stderr) == (
        2, "", "Error: story.yaml is a story file; give its output folder, e.g. outputs/story.\n"
    )


def test_gallery_with_a_template_naming_something_undefined(made: Path) -> None:
    (made / "mine.j2").write_text("<h1>{{ title }}</h1>{{ nope }}")
    result = sb("gallery", "outputs/story", "--template", "mine.j2")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: --template mine.j2: 'nope' is undefined. The names a sheet template can use are listed in the "
        "README (Contact sheet templates).\n",
    )
    (made / "mine.j2").write_text("<h1>{{ title }}</h1>\n{% for f in frames %}{{ f.label }} {{ f.caption }}{% endfor %}")
    result = sb("gallery", "outputs/story", "--template", "mine.j2")
    assert result.exit_code == 0
    assert (made / "outputs" / "story" / "index.html").read_text() == "<h1>T</h1>\n01 None"


def test_new_in_a_folder_that_does_not_exist_yet_and_a_name_with_spaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = sb("new", "sub/dir/x")
    assert (result.exit_code, result.stdout) == (0, "wrote sub/dir/x.yaml. Try: storyboard run sub/dir/x.yaml --backend draft\n")
    result = sb("new", "My Comic")
    assert (result.exit_code, result.stdout) == (0, "wrote My Comic.yaml. Try: storyboard run 'My Comic.yaml' --backend draft\n")
    # the hint works when pasted into a shell
    hint = result.stdout.split("Try: ", 1)[1].strip()
    proc = subprocess.run(
        hint.replace("storyboard", f"{sys.executable} -m storyboard", 1) + " -q", shell=True, cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    (tmp_path / "afile").write_text("")
    for name, message in [
        ("afile/x", "afile is a file, not a folder; choose another place for afile/x.yaml."),
        ("", "'' is no story name; give one, e.g. `storyboard new my-comic`."),
        ("My Comic", "My Comic.yaml exists; choose another name."),
    ]:
        result = sb("new", name)
        assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")


# -- 11. flags ------------------------------------------------------------------------------------------

STORY = "title: T\nframes:\n  - id: door\n    prompt: a door\n  - id: hall\n    prompt: a hall\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "dor"], "--only dor: no frame has that id or number; did you mean door? (ids: door, hall)."),
        (["--only", ""], "--only needs frame ids or numbers, e.g. --only city,night (leave it out to run every frame)."),
        (["--only", " , "], "--only needs frame ids or numbers, e.g. --only city,night (leave it out to run every frame)."),
        (["-j", "2", "--sequential"], "-j and --sequential contradict each other; give one (--sequential is -j 1)."),
        (["--ipm", "0"], "--ipm must be above 0 (images per minute), e.g. --ipm 5."),
        (["--ipm", "-3"], "--ipm must be above 0 (images per minute), e.g. --ipm 5."),
        (["--budget", "-1"], "--budget must be 0 or more (USD), e.g. --budget 2.50."),
        (["--budget", "nan"], "--budget must be 0 or more (USD), e.g. --budget 2.50."),
    ],
)
def test_flag_mistakes(tmp_path: Path, args: list[str], message: str) -> None:
    story = write_story(tmp_path, STORY)
    result = sb("run", story, "-o", tmp_path / "out", "--backend", "draft", *args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")
    assert not (tmp_path / "out").exists()


def test_open_without_a_browser_says_so(tmp_path: Path) -> None:
    write_story(tmp_path, STORY)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run(
        [sys.executable, "-m", "storyboard", "run", "story.yaml", "--backend", "draft", "-q", "--open"], cwd=tmp_path,
        capture_output=True, text=True, timeout=120, env={**env, "BROWSER": "false"},  # a browser that fails
    )
    sheet = Path("outputs") / "story" / "index.html"
    assert (proc.returncode, proc.stderr) == (
        0, f"Note: no web browser found to open the contact sheet (--open); open {tmp_path / sheet} yourself.\n"
    )


def test_version_and_short_help() -> None:
    from storyboard import __version__

    assert (sb("--version").exit_code, sb("--version").stdout) == (0, f"storyboard {__version__}\n")
    for args in (["-h"], ["run", "-h"], ["validate", "-h"]):
        result = sb(*args)
        assert result.exit_code == 0 and result.stdout.startswith("Usage: storyboard"), args
        assert result.stdout == sb(*args[:-1], "--help").stdout


@pytest.mark.parametrize("command", ["run", "validate", "plan", "gallery", "export", "gc", "new", "write", "models"])
def test_help_shows_no_python_types(command: str) -> None:
    text = sb(command, "--help").stdout
    assert "<" not in text.replace("<story>", ""), text  # `<list[Path]>`, `<str>`, `<float>`
    assert "Usage: storyboard " + command in text


def test_validate_against_openai_needs_no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL")
    story = write_story(tmp_path, STORY)
    result = sb("validate", story, "--backend", "openai")
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"{story}: ok (2 frames)\n", "")
    result = sb("plan", story, "--backend", "openai", "-o", tmp_path / "out")
    assert result.exit_code == 0 and "2 request(s) to send" in result.stdout
    result = sb("run", story, "--backend", "openai", "-o", tmp_path / "out")  # run sends: it needs the key
    assert (result.exit_code, result.stderr) == (2, "Error: OPENAI_API_KEY is not set. Export it, or use --backend draft.\n")


@pytest.mark.parametrize(
    ("flag", "name", "message"),
    [
        ("--gif", "anim.png", "-o anim.png: --gif writes a .gif file, not .png; name it anim.gif."),
        ("--pdf", "board.gif", "-o board.gif: --pdf writes a .pdf file, not .gif; name it board.pdf."),
        ("--sheet", "sheet.jpg", "-o sheet.jpg: --sheet writes a .png file, not .jpg; name it sheet.png."),
    ],
)
def test_export_refuses_a_file_name_of_another_type(made: Path, flag: str, name: str, message: str) -> None:
    result = sb("export", "outputs/story", flag, "-o", name)
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")
    assert not (made / name).exists()
    result = sb("export", "outputs/story", flag, "-o", Path(name).stem.upper() + Path(name).suffix.upper())
    assert result.exit_code == 2  # the suffix is compared without case


# -- #10.5: files outside the story, and --assets ------------------------------------------------------


def test_assets_flag_and_environment_allow_a_shared_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_png(tmp_path / "shared" / "rex.png")
    story = write_story(
        tmp_path / "stories",
        "title: T\ncharacters:\n  rex:\n    description: a dog\n    reference: ../shared/rex.png\n"
        "frames:\n  - prompt: '{{ rex }}'\n",
    )
    result = sb("validate", story, "--backend", "draft")
    assert result.exit_code == 2
    assert "--assets " + str((tmp_path / "shared").resolve()) in result.stderr
    assert sb("validate", story, "--backend", "draft", "--assets", tmp_path / "shared").exit_code == 0
    result = sb("validate", story, "--backend", "draft", env={"STORYBOARD_ASSETS": str(tmp_path / "shared")})
    assert (result.exit_code, result.stdout) == (0, f"{story}: ok (1 frame)\n")
    out = tmp_path / "out"
    result = sb("run", story, "-o", out, "--backend", "draft", "-q", "--assets", tmp_path / "shared")
    assert result.exit_code == 0
    m = json.loads((out / "manifest.json").read_text())
    (ref,) = m["characters"][0]["references"]
    assert ref["source"] == "../shared/rex.png"  # as written: relative to the story, never absolute
    result = sb("plan", story, "--backend", "draft", "--assets", tmp_path / "nope")
    assert (result.exit_code, result.stderr) == (2, f"Error: --assets {tmp_path / 'nope'}: no such folder.\n")


def test_an_absolute_path_inside_an_assets_folder_is_recorded_relative_to_the_story(tmp_path: Path) -> None:
    ref = write_png(tmp_path / "shared" / "rex.png")
    story = write_story(
        tmp_path / "stories",
        f"title: T\ncharacters:\n  rex:\n    description: a dog\n    reference: {ref}\nframes:\n  - prompt: '{{{{ rex }}}}'\n",
    )
    out = tmp_path / "out"
    result = sb("run", story, "-o", out, "--backend", "draft", "-q", "--assets", tmp_path / "shared")
    assert result.exit_code == 0, result.output
    manifest = (out / "manifest.json").read_text()
    assert str(tmp_path / "shared") not in manifest and str(tmp_path / "shared") not in (out / "index.html").read_text()
    assert json.loads(manifest)["characters"][0]["references"][0]["source"] == "../shared/rex.png"


def test_the_manifest_records_every_file_as_the_story_names_it(tmp_path: Path) -> None:
    write_png(tmp_path / "refs" / "rex.png")
    write_png(tmp_path / "art" / "street.png", 1024, 1024)
    from PIL import Image

    mask = Image.new("RGBA", (1024, 1024), (0, 0, 0, 255))
    mask.putpixel((0, 0), (0, 0, 0, 0))  # a mask needs a transparent pixel
    (tmp_path / "masks").mkdir()
    mask.save(tmp_path / "masks" / "sky.png")
    story = write_story(
        tmp_path,
        """\
        title: T
        size: "1:1"
        characters:
          rex: {description: a dog, reference: refs/rex.png}
        frames:
          - id: a
            edit: art/street.png
            mask: masks/sky.png
            prompt: "{{ rex }} in the street"
        """,
    )
    out = tmp_path / "out"
    result = sb("run", story, "-o", out, "--backend", "draft", "-q")
    assert result.exit_code == 0, result.output
    (entry,) = json.loads((out / "manifest.json").read_text())["frames"]
    assert [(i["role"], i.get("path")) for i in entry["inputs"]] == [
        ("source", "art/street.png"), ("mask", "masks/sky.png"), ("reference", "refs/rex.png")
    ]


def test_a_real_process_ends_with_its_exit_code_and_all_its_output(tmp_path: Path) -> None:
    """main() ends the process at once (no interpreter teardown): buffered output still arrives whole."""
    proc = storyboard("schema", cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert json.loads(proc.stdout)["title"] == "storyboard story"
    proc = storyboard("validate", "nope.yaml", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", "Error: nope.yaml: no such file. Check the path.\n")
