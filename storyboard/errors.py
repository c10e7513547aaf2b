"""One exception tree for everything storyboard raises on purpose.

`cli.py` turns a `StoryboardError` into one message and an exit code (SPEC §7); any other
exception is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storyboard.ratelimits import Limits


class StoryboardError(Exception):
    """A problem the user can fix; carries its exit code."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Problem:
    """One problem found in a story file: where, what, and how to fix it."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.path + ': ' if self.path else ''}{self.message}"


class StoryError(StoryboardError):
    """A story file has problems; every one of them is listed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UsageError(StoryboardError):
    """The command line or environment asks for something that cannot be done."""


class OutputDirError(StoryboardError):
    """The output directory is locked by a live run or belongs to another story."""


class DiskError(StoryboardError, OSError):
    """A file cannot be written or removed: no permission, a full disk, a file in a folder's way.

    Also an OSError (with its errno and strerror), so code that handles a full disk still does."""

    def __init__(self, message: str, errno: int | None = None, strerror: str | None = None) -> None:
        StoryboardError.__init__(self, message)
        self.errno = errno  # type: ignore[misc]
        self.strerror = strerror  # type: ignore[misc]

    @classmethod
    def of(cls, path: object, e: OSError, *, reading: bool = False) -> DiskError:
        """Return the error for an OSError on `path`, saying what to do."""
        import errno as E

        what = e.strerror or str(e)
        verb = "cannot read" if reading else "cannot write"
        if e.errno in (E.ENOSPC, E.EDQUOT):
            fix = "The disk is full: free some space, then run again (what arrived is kept)."
        elif e.errno in (E.EACCES, E.EPERM, E.EROFS):
            fix = "Make the folder writable, or choose another folder with -o."
        elif e.errno in (E.ENOTDIR, E.EEXIST, E.EISDIR):
            fix = "A file stands where a folder should be (or the reverse): choose another folder with -o."
        elif e.errno == E.ENAMETOOLONG:
            fix = "The name is too long for this file system: use shorter frame ids or a shorter -o path."
        else:
            fix = "Check the folder, or choose another one with -o."
        return cls(f"{path}: {verb} ({what}). {fix}", e.errno, e.strerror)


class BudgetError(StoryboardError):
    """The plan costs more than the budget, or cannot be priced under one."""


class StorageError(StoryboardError):
    """The output folder could not be written mid-run (a full disk): what arrived is kept."""

    exit_code = 1  # requests were sent: not "bad input, nothing sent"


# Failures a backend raises for one request. The runner decides what happens next.


class RequestFailed(Exception):
    """A request failed; the subclass says whether the runner may retry it."""

    def __init__(
        self,
        message: str,
        *,
        type: str | None = None,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        limits: Limits | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.type = type
        self.code = code
        self.status = status
        self.request_id = request_id
        self.limits = limits  # what the answer's x-ratelimit headers said, if it had any

    def as_dict(self) -> dict[str, str | None]:
        """Return the manifest's `error` object."""
        return {"type": self.type, "code": self.code, "message": self.message}


class TransientFailure(RequestFailed):
    """A failure worth retrying: a drop, a timeout, 408, 409, 429 or 5xx."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        ambiguous: bool = False,
        **kw: object,
    ) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after
        # True when the server may have done (and billed) the work before the failure.
        self.ambiguous = ambiguous


class Unreachable(TransientFailure):
    """The server could not be reached at all (connection refused, no such host): nothing was sent."""

    def __init__(self, message: str, *, host: str | None = None, **kw: object) -> None:
        super().__init__(message, ambiguous=False, **kw)  # type: ignore[arg-type]
        self.host = host


class FrameFailure(RequestFailed):
    """A permanent failure of this request alone (moderation, a rejected parameter)."""


class FatalFailure(RequestFailed):
    """A failure that stops the whole run: no quota, bad key, no permission."""
