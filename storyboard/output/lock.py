"""The folder lock `DIR/.lock`: one run (or `gc`) at a time on an output folder.

An OS lock (`flock`), held on an open file for as long as the holder lives: the kernel frees it
when the process dies, however it dies, so there is no staleness to guess. The file is never
removed (a process that removed it would let a third one lock a fresh file beside a live holder);
it holds the holder's pid, for the message of whoever is refused.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from storyboard.errors import DiskError, OutputDirError
from storyboard.output import fs

LOCK = ".lock"

try:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # Windows
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


@contextlib.contextmanager
def dir_lock(out_dir: Path, *, doing: str = "run") -> Iterator[None]:
    """Hold DIR/.lock while the block runs; refuse (OutputDirError) while another process holds it.

    `doing` names what the caller is about to do, for the message ("run", "gc")."""
    out_dir = Path(out_dir)
    path = out_dir / LOCK
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as e:
        raise DiskError.of(path, e) from None
    try:
        if not _try_lock(fd):
            raise OutputDirError(_busy(out_dir, fd, doing))
        fs.recheck()  # what another process did to the folder since: seen afresh
        try:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, str(os.getpid()).encode())
        except OSError:
            pass  # the pid is only for messages; the lock holds without it
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            _unlock(fd)
    finally:
        os.close(fd)


def _busy(out_dir: Path, fd: int, doing: str) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        pid = os.read(fd, 32).decode("ascii", "replace").strip()
    except OSError:
        pid = ""
    who = f"another storyboard run (pid {pid})" if pid.isdigit() else "another storyboard process"
    if doing == "gc":
        return f"{out_dir}: {who} is using this folder; gc would delete images it may need. Run gc when it has finished."
    return f"{out_dir}: {who} is using this folder. Wait for it to finish, or choose another -o."
