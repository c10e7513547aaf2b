"""File-system operations: every write a run makes goes through here.

- Atomic: bytes go to a hidden temp file beside the target, are flushed (and fsynced when durable),
  renamed over the target, and the folder is fsynced, so a kill at any moment leaves the old file
  or the new one, never half of one. `sweep` removes temp files a killed process left.
- The umask is honoured: files are created with mode 0o666 and folders 0o777, and the kernel
  applies the umask (no mkstemp 0600, no umask read-and-reset racing other threads).
- Inside an output folder (`root=`), a path never leaves it: a symlinked `frames/`, `takes/`,
  `.cache/` (any folder on the way) that points out of the folder is refused, not followed.
- Reads of files inside an output folder (`read`, `open_read`) never follow a symlink and take
  regular files only: a link planted in a folder someone sent (to a private file, to /dev/zero)
  is neither copied into the store nor read forever.
- An OSError becomes a `DiskError` saying which file, what went wrong and what to do.
- A test hook, `crash_at(n)`, ends the process with `os._exit(CRASH_EXIT)` at the n-th
  operation boundary, so tests can crash a run between any two of its writes.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from storyboard.errors import DiskError, OutputDirError

CRASH_EXIT = 86  # the exit status of a process ended by the crash hook
TEMP = re.compile(r"^\..+~\d+-\d+\.tmp$")  # our temp files: .NAME~PID-N.tmp

_lock = threading.Lock()
_count = 0
_crash_at: int | None = None
_serial = itertools.count()
_real_roots: dict[str, str] = {}
_inside_folders: dict[tuple[str, str], tuple[int, int]] = {}  # see _seen_inside


# -- the crash hook -----------------------------------------------------------------------------


def crash_at(n: int | None) -> None:
    """Crash the process at the n-th operation boundary from now on (a test hook; None: never)."""
    global _crash_at, _count
    with _lock:
        _crash_at, _count = n, 0


def boundary() -> None:
    """Count one operation boundary; crash here if the hook says so."""
    global _count
    with _lock:
        _count += 1
        if _crash_at is not None and _count >= _crash_at:
            os._exit(CRASH_EXIT)


def boundaries() -> int:
    """Return how many operation boundaries passed since `crash_at` was last called."""
    return _count


# -- guarding an output folder --------------------------------------------------------------------


def inside(root: Path, path: Path) -> Path:
    """Return `path` (absolute) if it stays inside the output folder `root`, symlinked folders
    resolved; raise OutputDirError if it would leave it."""
    root_s = os.path.abspath(root)  # a relative root means another folder after a chdir
    real_root = _real_roots.get(root_s)
    if real_root is None:
        real_root = _real_roots[root_s] = os.path.realpath(root)
    p_s = os.path.abspath(path)  # paths are built from root by the caller: relative means to the cwd
    if p_s != root_s and not p_s.startswith(root_s.rstrip(os.sep) + os.sep):
        raise OutputDirError(f"{path}: outside the output folder {root}; storyboard writes only inside it.")
    parent_s = os.path.dirname(p_s)
    if not _seen_inside(real_root, parent_s):
        parent = os.path.realpath(parent_s)
        if parent != real_root and not parent.startswith(real_root.rstrip(os.sep) + os.sep):
            link = _first_link(Path(root_s), Path(parent_s))
            raise OutputDirError(
                f"{link} is a symbolic link to {os.path.realpath(link)}, outside the output folder {root}: "
                "storyboard never follows it. Replace the link with a real folder, or choose another -o."
            )
        _remember_inside(real_root, parent_s)
    return Path(p_s)


def recheck() -> None:
    """Forget which folders were found inside their output folder: the next write checks each
    again. Called whenever the folder lock is taken, so a folder moved away and linked back
    between two runs (or two commands of one process) is refused, not trusted from before."""
    _real_roots.clear()
    _inside_folders.clear()


def _seen_inside(real_root: str, folder: str) -> bool:
    """Tell whether `folder` was found inside `real_root` before and is still the same folder.

    Resolving a path walks it a component at a time (~0.3 ms in Python, holding the GIL; a run
    checks a few folders per image, hundreds of times over). A folder checked once is known by
    its device and inode: one stat tells that it was not replaced since, e.g. by a link to
    another folder (whose inode differs). A folder that does not exist yet is never cached."""
    known = _inside_folders.get((real_root, folder))
    if known is None:
        return False
    try:
        st = os.stat(folder)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == known


def _remember_inside(real_root: str, folder: str) -> None:
    try:
        st = os.stat(folder)
    except OSError:
        return
    if len(_inside_folders) > 4096:  # a long-lived process (the tests) writing many folders
        _inside_folders.clear()
    _inside_folders[(real_root, folder)] = (st.st_dev, st.st_ino)


def _first_link(root: Path, folder: Path) -> Path:
    """Return the first symlinked folder on the way from root down to folder."""
    cur = root
    for part in folder.relative_to(root).parts:
        cur = cur / part
        if cur.is_symlink():
            return cur
    return folder


def _where(path: Path, root: Path | None) -> Path:
    return inside(root, path) if root is not None else path


# -- operations -----------------------------------------------------------------------------------


def open_read(path: Path) -> BinaryIO:
    """Open a file inside an output folder for reading: never through a symlink (its last part), and
    only a regular file (not a FIFO or a device). Raises OSError otherwise."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read(path: Path) -> bytes:
    """Return a file's bytes as `open_read` opens it (OSError for a symlink, a FIFO, a device)."""
    with open_read(path) as f:
        return f.read()


def write(path: Path, data: bytes, *, root: Path | None = None, durable: bool = True) -> None:
    """Write bytes to `path` atomically (durably: fsync the file and its folder)."""
    write_with(path, lambda f: f.write(data), root=root, durable=durable)


def write_with(path: Path, fill: Callable[[BinaryIO], object], *, root: Path | None = None, durable: bool = True) -> None:
    """Write a file atomically through `fill(file)` (e.g. an image encoder)."""
    path = _where(Path(path), root)
    boundary()
    mkdir(path.parent, root=root, durable=durable)
    tmp, fd = _temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)  # type: ignore[arg-type]
            f.flush()
            if durable:
                os.fsync(f.fileno())
        boundary()  # the temp file is whole; the target is not yet replaced
        os.replace(tmp, path)
        if durable:
            _sync_dir(path.parent)
    except BaseException as e:
        _discard(tmp)
        if isinstance(e, OSError):
            raise DiskError.of(path, e) from None
        raise


def copy(src: Path, dst: Path, *, root: Path | None = None, durable: bool = False) -> None:
    """Copy a file to `dst` atomically (bytes as they are; the copy gets the umask's mode)."""
    try:
        f = open(src, "rb")  # noqa: SIM115 - closed below
    except OSError as e:
        raise DiskError.of(Path(src), e, reading=True) from None
    with f:
        write_with(dst, lambda out: _pump(f, out), root=root, durable=durable)


def replace(src: Path, dst: Path, *, root: Path | None = None, durable: bool = True) -> None:
    """Rename `src` over `dst` (both in one folder tree), atomically."""
    src, dst = _where(Path(src), root), _where(Path(dst), root)
    boundary()
    try:
        mkdir(dst.parent, root=root, durable=durable)
        os.replace(src, dst)
        if durable:
            _sync_dir(dst.parent)
            if src.parent != dst.parent:
                _sync_dir(src.parent)
    except OSError as e:
        raise DiskError.of(dst, e) from None


def unlink(path: Path, *, root: Path | None = None, missing_ok: bool = True) -> bool:
    """Remove a file (a symlink itself, never what it points to); return whether one was removed."""
    path = _where(Path(path), root)
    boundary()
    try:
        os.unlink(path)
    except FileNotFoundError:
        if not missing_ok:
            raise
        return False
    except OSError as e:
        raise DiskError.of(path, e) from None
    return True


def mkdir(path: Path, *, root: Path | None = None, durable: bool = True) -> None:
    """Create a folder and its parents (as the umask says) unless it exists."""
    path = Path(path)
    if path.is_dir():
        if root is not None:
            inside(root, path / "x")
        return
    if root is not None:
        inside(root, path / "x")
    boundary()
    try:
        path.mkdir(parents=True, exist_ok=True)
        if durable:
            _sync_dir(path.parent)
    except OSError as e:
        raise DiskError.of(path, e) from None


class Log:
    """An append-only file (the journal): one line per call, flushed, fsynced when asked."""

    def __init__(self, path: Path, *, root: Path | None = None) -> None:
        self.path = _where(Path(path), root)
        self._root = root
        self._f: BinaryIO | None = None
        self._lock = threading.Lock()  # the run appends from its event loop and its store threads

    def append(self, line: str, *, durable: bool = True) -> None:
        """Append one line (a newline is added)."""
        boundary()
        try:
            with self._lock:
                if self._f is None:
                    mkdir(self.path.parent, root=self._root)
                    fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | _CLOEXEC | _NOFOLLOW, 0o666)
                    self._f = os.fdopen(fd, "ab")
                self._f.write(line.encode("utf-8") + b"\n")
                self._f.flush()
                fileno = self._f.fileno()
            if durable:
                os.fsync(fileno)  # outside the lock: lines appended meanwhile share the sync
        except OSError as e:
            raise DiskError.of(self.path, e) from None

    def close(self) -> None:
        """Close the file."""
        if self._f is not None:
            self._f.close()
            self._f = None


def sweep(folder: Path) -> int:
    """Remove the temp files a killed process left in `folder` and below; return how many.

    Only the holder of the folder lock may call this: another live writer's temp files look
    the same."""
    removed = 0
    if not folder.is_dir() or folder.is_symlink():
        return 0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            if TEMP.match(name):
                try:
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
                except FileNotFoundError:
                    pass
    return removed


# -- helpers ----------------------------------------------------------------------------------------

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)  # not on Windows (handles are not inherited there anyway)


def _temp(path: Path) -> tuple[Path, int]:
    """Create a new temp file beside `path` (mode 0o666 less the umask); return it and its fd."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC | getattr(os, "O_BINARY", 0)
    stem = path.name[:200]  # room for the suffix within NAME_MAX
    for _ in range(100):
        tmp = path.with_name(f".{stem}~{os.getpid()}-{next(_serial)}.tmp")
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue  # left by a killed process with our pid
        except OSError as e:
            raise DiskError.of(path, e) from None
    raise DiskError.of(path, OSError(errno.EEXIST, "no free temp file name"))


def _discard(tmp: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _sync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (where the platform can)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # e.g. Windows: folders cannot be opened; renames there are durable enough
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _pump(src: BinaryIO, dst: BinaryIO) -> None:
    while chunk := src.read(1 << 20):
        dst.write(chunk)
