"""Retries: what the runner does after a failed attempt. Transient failures (drops, timeouts,
408, 409, 429, 5xx) are tried again after the server's Retry-After or an exponential back-off;
a permanent one fails its frame alone; a fatal one (no quota, a bad key) stops the run. The
SDK's own retries are off, so this is the one place that decides."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import Enum

from storyboard.errors import FatalFailure, RequestFailed, TransientFailure


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

    def verdict(self, failure: RequestFailed, attempts: int) -> Verdict:
        """Decide what follows `failure`, the outcome of attempt number `attempts` (1-based)."""
        if isinstance(failure, FatalFailure):
            return Verdict(Action.STOP, failure.message)
        if not isinstance(failure, TransientFailure):
            return Verdict(Action.FAIL, failure.message)
        if failure.retry_after is not None:
            delay = failure.retry_after
        else:
            delay = backoff(attempts, self.backoff_base, self.backoff_cap)
        pause_all = failure.status == 429
        if attempts >= self.max_attempts:
            return Verdict(Action.FAIL, f"gave up after {attempts} attempts: {failure.message}", delay, pause_all)
        return Verdict(Action.RETRY, failure.message, delay, pause_all)


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Return the delay before retry `attempt` (1-based): exponential with full jitter above half."""
    delay = min(cap, base * 2 ** (attempt - 1))
    return delay * (0.5 + random.random() / 2)
