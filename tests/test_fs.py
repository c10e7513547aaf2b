"""The file-system operations every write of a run goes through (storyboard/output/fs.py): atomic
and durable, the umask honoured, symlinked folders never followed out of DIR, OS errors turned into
one clear message, and the crash hook that the crash tests (test_crash.py) stand on."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from stories import write_story
from typer.testing import CliRunner

from storyboard.cli import app
from storyboard.errors import DiskError, OutputDirError
from storyboard.output import fs
from storyboard.output.store import Store

STORY = """\
title: Files
size: 1024x1024
frames:
  - id: a
    prompt: a lighthouse at dawn
  - id: b
    prompt: a boat in a storm
    takes: 2
  - prompt: an id-less gull
"""


def draft(story: Path, out: Path, *args: str) -> object:
    """Run a story on the draft backend through the command line, in this process."""
    return CliRunner().invoke(app, ["run", str(story), "-o", str(out), "--backend", "draft", "--quiet", *args])


def files_and_folders(out: Path) -> tuple[list[Path], list[Path]]:
    """Return every file and every folder under DIR (the lock file aside: it is opened, not written)."""
    files, folders = [], []
    for p in out.rglob("*"):
        (folders if p.is_dir() else files).append(p)
    return [f for f in files if f.name != ".lock"], folders


# -- atomic, durable ---------------------------------------------------------------------------


def test_a_store_object_is_written_through_a_temp_file_fsynced_renamed_and_its_folder_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        log.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        log.append(("replace", f"{src} -> {dst}"))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    store = Store(tmp_path)
    data = b"\x89PNG\r\n\x1a\n" + b"x" * 100
    digest = store.put_bytes(data, "png")
    obj = store.object_path(digest, "png")

    renames = [e for e in log if e[0] == "replace"]
    assert len(renames) == 1
    src, dst = renames[0][1].split(" -> ")
    assert dst == str(obj) and Path(src).parent == obj.parent and Path(src).name.endswith(".tmp")
    i = log.index(renames[0])
    assert ("fsync", src) in log[:i]  # the bytes are on disk before the name points at them
    assert ("fsync", str(obj.parent)) in log[i:]  # and the rename itself survives a power cut
    assert obj.read_bytes() == data


def test_a_crash_mid_write_leaves_the_old_file_and_a_temp_file_the_next_holder_sweeps(tmp_path: Path) -> None:
    target = tmp_path / "frames" / "01-a.png"
    target.parent.mkdir()
    target.write_bytes(b"old")
    code = (
        "import sys; from pathlib import Path; from storyboard.output import fs; "
        "fs.crash_at(int(sys.argv[2])); fs.write(Path(sys.argv[1]), b'new' * 1000)"
    )
    # Boundary 1 is before anything is written, boundary 2 after the temp file is whole.
    for n, temps in ((1, 0), (2, 1)):
        proc = subprocess.run([sys.executable, "-c", code, str(target), str(n)])
        assert proc.returncode == fs.CRASH_EXIT
        assert target.read_bytes() == b"old"
        assert len([p for p in target.parent.iterdir() if fs.TEMP.match(p.name)]) == temps
    (target.parent / ".notes.tmp").write_text("an artist's hidden file that only looks like a temp file")
    assert fs.sweep(tmp_path) == 1
    assert sorted(p.name for p in target.parent.iterdir()) == [".notes.tmp", "01-a.png"]
    proc = subprocess.run([sys.executable, "-c", code, str(target), "3"])
    assert proc.returncode == 0 and target.read_bytes() == b"new" * 1000


def test_a_run_counts_its_boundaries_and_the_env_hook_crashes_at_one(tmp_path: Path) -> None:
    story, out = write_story(tmp_path, STORY), tmp_path / "out"
    env = {**os.environ, "STORYBOARD_CRASH_AT": "5"}
    cmd = [sys.executable, "-m", "storyboard", "run", str(story), "-o", str(out), "--backend", "draft", "--quiet"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert proc.returncode == fs.CRASH_EXIT, proc.stderr
    assert not (out / "manifest.json").exists()
    proc = subprocess.run(cmd, capture_output=True, text=True)  # the next run completes the folder
    assert proc.returncode == 0, proc.stderr
    assert (out / "manifest.json").is_file()


# -- the umask -----------------------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_every_file_of_a_run_gets_the_users_umask(tmp_path: Path, umask: int) -> None:
    story, out = write_story(tmp_path, STORY), tmp_path / "out"
    old = os.umask(umask)
    try:
        assert draft(story, out).exit_code == 0
        result = CliRunner().invoke(app, ["export", str(out), "--zip"])
        assert result.exit_code == 0, result.output
    finally:
        os.umask(old)
    files, folders = files_and_folders(out)
    names = {p.relative_to(out).as_posix().split("/")[0] for p in files}
    assert {"manifest.json", "index.html", "frames", "takes", "thumbs", ".cache", "exports"} <= names
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {oct(0o666 & ~umask)}
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in folders} == {oct(0o777 & ~umask)}


# -- symlinks out of DIR -----------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["frames", "takes", ".cache", "thumbs"])
def test_a_symlinked_folder_pointing_out_of_dir_is_never_followed(tmp_path: Path, folder: str) -> None:
    story, out = write_story(tmp_path, STORY), tmp_path / "out"
    assert draft(story, out).exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    (out / folder).rename(elsewhere)
    (elsewhere / "precious.png").write_bytes(b"not storyboard's")
    before = {p.relative_to(elsewhere): p.read_bytes() for p in elsewhere.rglob("*") if p.is_file()}
    (out / folder).symlink_to(elsewhere, target_is_directory=True)
    write_story(tmp_path, STORY.replace("a boat", "a ship").replace("  - id: a\n    prompt: a lighthouse at dawn\n", ""))

    result = draft(story, out)

    assert result.exit_code == 2, result.output
    assert f"Error: {out / folder} is a symbolic link to {elsewhere}, outside the output folder {out}" in result.stderr
    assert "storyboard never follows it. Replace the link with a real folder, or choose another -o." in result.stderr
    after = {p.relative_to(elsewhere): p.read_bytes() for p in elsewhere.rglob("*") if p.is_file()}
    assert after == before  # nothing outside DIR was written or removed


def test_a_symlink_at_a_frame_or_store_name_is_replaced_never_read(tmp_path: Path) -> None:
    # A folder someone sent may hold links: to a private file, to a device that never ends.
    story, out = write_story(tmp_path, STORY), tmp_path / "out"
    assert draft(story, out).exit_code == 0
    private = tmp_path / "private.png"
    private.write_bytes(b"\x89PNG\r\n\x1a\n" + b"a private file" * 100)
    frame = sorted((out / "frames").iterdir())[0]
    frame.unlink()
    frame.symlink_to(private)
    obj = next((out / ".cache" / "objects").rglob("*.png"))
    obj.unlink()
    obj.symlink_to("/dev/zero")
    write_story(tmp_path, STORY.replace("a boat", "a ship"))

    # In another process, with a deadline: a read of /dev/zero would never end.
    run = subprocess.run([sys.executable, "-m", "storyboard", "run", str(story), "-o", str(out), "--backend", "draft"],
                         capture_output=True, text=True, timeout=120, check=False)

    assert run.returncode == 0, run.stderr
    assert not frame.is_symlink() and frame.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # a real frame again
    assert private.read_bytes().endswith(b"a private file")  # what the link pointed to is untouched...
    assert not any(b"a private file" in p.read_bytes() for p in (out / ".cache").rglob("*") if p.is_file() and not p.is_symlink())


def test_a_symlinked_folder_inside_dir_is_fine(tmp_path: Path) -> None:
    story, out = write_story(tmp_path, STORY), tmp_path / "out"
    assert draft(story, out).exit_code == 0
    (out / "thumbs").rename(out / "real-thumbs")
    for p in (out / "real-thumbs").iterdir():
        p.unlink()
    (out / "thumbs").symlink_to("real-thumbs", target_is_directory=True)
    assert draft(story, out).exit_code == 0
    assert any((out / "real-thumbs").iterdir())


def test_a_relative_output_folder_is_written_where_it_says(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    story = write_story(tmp_path, STORY)
    monkeypatch.chdir(tmp_path)
    assert draft(story, Path("out")).exit_code == 0
    assert draft(story, Path("out")).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".cache", ".lock", "frames", "index.html", "manifest.json", "takes", "thumbs"
    ]


def test_paths_that_leave_the_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(OutputDirError, match="outside the output folder"):
        fs.write(tmp_path / "out" / ".." / "x.png", b"x", root=tmp_path / "out")
    with pytest.raises(OutputDirError, match="outside the output folder"):
        fs.unlink(Path("/etc/hostname"), root=tmp_path)
    assert not (tmp_path / "x.png").exists()


# -- OS errors: one message, exit 2 ---------------------------------------------------------------------


def test_an_output_path_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    story = write_story(tmp_path, STORY)
    out = tmp_path / "out.png"
    out.write_bytes(b"a file")
    result = draft(story, out)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: {out} is a file, not a folder: storyboard writes a folder of frames. Choose an output folder "
        f"with -o, e.g. -o {tmp_path / 'out'}."
    ]
    for command in (["gallery", str(out)], ["export", str(out), "--pdf"], ["gc", str(out)]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, command
        assert result.stderr.splitlines() == [
            f"Error: {out} is a file, not an output folder. Give the folder a run wrote (the one holding "
            "manifest.json), e.g. outputs/out."
        ]


def _read_only(out: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Make `out` read-only: for real where the tests run unprivileged, else (root writes anywhere)
    by refusing, as the kernel would, every file created in it."""
    out.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        folders = [out, *(p for p in out.rglob("*") if p.is_dir())]
        for d in folders:
            d.chmod(0o555)
        request.addfinalizer(lambda: [d.chmod(0o755) for d in folders])
        return
    real_open, real_mkdir = os.open, os.mkdir

    def refuse(path: str | Path) -> None:
        if Path(path).is_relative_to(out):
            raise PermissionError(13, "Permission denied", str(path))

    def open_(path: str | Path, flags: int, *args: object, **kw: object) -> int:
        if flags & os.O_CREAT:
            refuse(path)
        return real_open(path, flags, *args, **kw)  # type: ignore[arg-type]

    def mkdir(path: str | Path, *args: object, **kw: object) -> None:
        refuse(path)
        real_mkdir(path, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "mkdir", mkdir)


def test_a_read_only_output_folder_is_refused_before_anything_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    story, out = write_story(tmp_path, STORY), tmp_path / "out"
    _read_only(out, monkeypatch, request)
    result = draft(story, out)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: {out}: cannot write (Permission denied). Make the folder writable, or choose another "
        "folder with -o."
    ]


def test_gallery_export_and_gc_on_a_read_only_folder_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    story, out = write_story(tmp_path, STORY), tmp_path / "out"
    assert draft(story, out).exit_code == 0
    (out / "index.html").unlink()
    write_story(tmp_path, STORY.replace("at dawn", "at dusk"))
    assert draft(story, out).exit_code == 0  # an image for gc to remove
    _read_only(out, monkeypatch, request)
    for args in (["gallery", str(out)], ["export", str(out), "--sheet"], ["gc", str(out)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert result.stderr.startswith("Error: ") and "Make the folder writable" in result.stderr, result.stderr


def test_disk_errors_say_what_to_do() -> None:
    full = DiskError.of("DIR/x", OSError(28, "No space left on device"))
    assert full.message == (
        "DIR/x: cannot write (No space left on device). The disk is full: free some space, then run again "
        "(what arrived is kept)."
    )
    assert full.errno == 28 and full.exit_code == 2


def test_a_folder_where_a_frame_file_goes_is_named_with_what_to_do(tmp_path: Path) -> None:
    story, out = write_story(tmp_path, STORY), tmp_path / "out"
    assert draft(story, out).exit_code == 0
    frame = sorted((out / "frames").iterdir())[0]
    frame.unlink()
    frame.mkdir()
    result = draft(story, out)
    assert result.exit_code == 1
    assert f"Error: the run stopped: {frame}: cannot write (Is a directory). A file stands where a folder should be" in (
        " ".join(result.stderr.split()))
    assert "Free some space" not in result.stderr


def test_the_root_of_the_disk_as_dir_is_refused_with_a_folder_to_use(tmp_path: Path) -> None:
    story = write_story(tmp_path, STORY)
    result = draft(story, Path("/"))
    assert result.exit_code == 2 and "Choose an empty or new folder with -o, e.g. -o /storyboard" in " ".join(result.stderr.split())


def test_new_with_a_name_too_long_for_the_disk_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["new", "a" * 300])
    assert result.exit_code == 2 and "a name is at most 255 bytes on most disks; choose a shorter one" in result.stderr
