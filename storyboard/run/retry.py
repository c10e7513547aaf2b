"""Retries: what the runner does after a failed attempt. Transient failures (drops, timeouts,
408, 409, 429, 5xx) are tried again after the server's Retry-After or an exponential back-off;
a permanent one fails its frame alone; a fatal one (no quota, a bad key) stops the run. The
SDK's own retries are off, so this is the one place that decides.

A 429 is back-pressure, not a failure: it never uses up an attempt (the pacer slows the whole
run instead). A server that cannot be reached at all stops the run within seconds."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from storyboard.errors import FatalFailure, RequestFailed, TransientFailure, Unreachable

# A take answered 429 this many times in a row gives up: a server that never lets it through.
MAX_RATE_LIMITED = 200
# With nothing but refused connections for this long (and at least UNREACHABLE_TRIES of them), or
# UNREACHABLE_TRIES in a row for one take (a second or so of back-off), stop.
UNREACHABLE_SECONDS = 1.0
UNREACHABLE_TRIES = 3


class Action(Enum):
    """What follows a failed attempt."""

    RETRY = "retry"  # wait `delay`, then send again
    FAIL = "fail"  # this take fails; the run goes on
    STOP = "stop"  # the run stops: nothing new is sent


@dataclass(frozen=True)
class Verdict:
    """The decision after one failed attempt."""

    action: Action
    reason: str
    delay: float = 0.0
    pause_all: bool = False  # back-pressure (a 429): every request waits `delay`, not this one alone


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to try again."""

    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0

    def verdict(self, failure: RequestFailed, attempts: int, rate_limited: int = 0) -> Verdict:
        """Decide what follows `failure`, after `attempts` attempts that were not 429s (1-based) and
        `rate_limited` 429s in a row."""
        if isinstance(failure, FatalFailure):
            return Verdict(Action.STOP, failure.message)
        if not isinstance(failure, TransientFailure):
            return Verdict(Action.FAIL, failure.message)
        if failure.status == 429:
            delay = failure.retry_after if failure.retry_after is not None else backoff(
                rate_limited, self.backoff_base, self.backoff_cap)
            if rate_limited >= MAX_RATE_LIMITED:
                return Verdict(Action.FAIL, f"rate limited {rate_limited} times in a row: {failure.message}", delay)
            return Verdict(Action.RETRY, failure.message, delay, pause_all=True)
        if failure.retry_after is not None:
            delay = failure.retry_after
        else:
            delay = backoff(attempts, self.backoff_base, self.backoff_cap)
        if attempts >= self.max_attempts:
            return Verdict(Action.FAIL, f"gave up after {attempts} attempts: {failure.message}", delay)
        return Verdict(Action.RETRY, failure.message, delay)


class Reachability:
    """Tells when a server has refused every connection long enough to stop the run: any answer
    from it (an image, an error status) starts the count again."""

    def __init__(self, seconds: float = UNREACHABLE_SECONDS, tries: int = UNREACHABLE_TRIES) -> None:
        self.seconds, self.tries = seconds, tries
        self._since: float | None = None
        self._count = 0

    def answered(self) -> None:
        """The server answered: it can be reached."""
        self._since, self._count = None, 0

    def unreachable(self, failure: Unreachable, now: float, in_a_row: int = 1) -> bool:
        """Count a refused connection (`in_a_row` for its take); return True when the run should stop:
        one take refused `tries` times in a row, or the whole run refused for `seconds`."""
        if self._since is None:
            self._since = now
        self._count += 1
        return in_a_row >= self.tries or (self._count >= self.tries and now - self._since >= self.seconds)


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Return the delay before retry `attempt` (1-based): exponential with full jitter above half."""
    delay = min(cap, base * 2 ** (max(1, attempt) - 1))
    return delay * (0.5 + random.random() / 2)
