"""When a request may start: one pacer for every request of a run, so a rate limit slows the whole
run together instead of each request on its own.

The pacer keeps a token bucket in step with the server's own: each request takes a token. The
server's `x-ratelimit-*-requests` headers set the bucket's size, its level (what remains, less what
was sent since) and its refill rate ((limit - remaining) / reset); the `-tokens` triple keeps a
second bucket, charged with the tokens an image really used. A 429 empties the bucket until its
Retry-After (every request waits), after which requests go one refill apart until answers speak
again. A 429 the headers did not foresee (a server without them, or a limit no header reports,
such as images per minute) teaches a rate of its own: halved at each new such 429, raised a
step with each success (AIMD), so the run speeds up again. `--ipm` (images_per_minute)
spaces starts evenly on top, for keys whose limit no header reports.

Waits longer than a minute are announced (`on_wait`); one beyond `max_wait` raises `WaitTooLong`,
which says what to do.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storyboard.errors import RequestFailed, TransientFailure, Unreachable
from storyboard.ratelimits import Limit, Limits

ANNOUNCE_AFTER = 60.0  # seconds: a wait this long is announced with its length
MIN_RATE = 1 / 60.0  # requests a second: the slowest a run learning from 429s alone will go
_SPAN = 5.0  # seconds of sends over which a run's own rate is measured
_CALM = 1.0  # seconds: at most one halving of the rate in this long


@dataclass(frozen=True)
class Turn:
    """A request's start, handed back with its answer: its place in the run's order and its time."""

    seq: int
    at: float


@dataclass(frozen=True)
class Wait:
    """A wait of the run: how long, until when (wall-clock seconds since the epoch), and why."""

    seconds: float
    until: float
    why: str


class WaitTooLong(Exception):
    """The server asks for a wait longer than the run may wait (`--max-wait`)."""

    def __init__(self, wait: Wait, max_wait: float) -> None:
        super().__init__(f"{wait.why} asks for a wait of {say_seconds(wait.seconds)}")
        self.wait = wait
        self.max_wait = max_wait
        self.failure: Exception | None = None  # the 429 that asked for it, if one did

    def sentence(self) -> str:
        """Return what stops the run, said for people: who asks to wait how long, until when, and
        what to do. Nothing is lost."""
        wait = self.wait
        until = time.strftime("%H:%M" if wait.seconds < 20 * 3600 else "%Y-%m-%d %H:%M", time.localtime(wait.until))
        return (f"{wait.why} asks to wait {say_seconds(wait.seconds)} (until {until}), longer than "
                f"--max-wait {say_seconds(self.max_wait)}. Nothing is lost: run the same command again after "
                f"{until}, or raise --max-wait.")


def say_seconds(seconds: float) -> str:
    """Return a wait for people: `45 s`, `2 min 30 s`, `1 h 5 min`."""
    seconds = max(0, math.ceil(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min" + (f" {secs} s" if secs else "")
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


class _Bucket:
    """One of the server's limits as this run knows it: size, level at `at`, refill a second."""

    def __init__(self) -> None:
        self.rate: float | None = None  # None: no limit known, nothing to wait for
        self.capacity = 1.0
        self.level = 0.0
        self.at = 0.0
        self.seen = -1  # the latest turn whose answer set the level

    def level_at(self, now: float) -> float:
        if self.rate is None:
            return math.inf
        return min(self.capacity, self.level + (now - self.at) * self.rate)

    def wait(self, now: float, cost: float) -> float:
        """Return how long until `cost` tokens are there (0: now)."""
        if self.rate is None or cost <= 0:
            return 0.0
        short = min(cost, self.capacity) - self.level_at(now)
        return short / self.rate if short > 1e-9 else 0.0  # a rounding error's shortfall is none

    def take(self, now: float, cost: float) -> None:
        if self.rate is not None:
            self.level, self.at = self.level_at(now) - cost, now

    def observe(self, lim: Limit, turn: Turn, now: float, spent_since: float) -> None:
        """Follow what the server said of this limit when it admitted the request of `turn`."""
        if lim.remaining is None:
            return
        size = lim.limit if lim.limit else max(self.capacity, lim.remaining)
        if lim.reset is not None and lim.reset > 0 and size > lim.remaining:
            self.rate = (size - lim.remaining) / lim.reset  # the refill that makes it whole at `reset`
        elif lim.remaining <= 0 and lim.reset is not None and lim.reset > 0:
            self.rate = 1 / lim.reset
        if self.rate is None:
            return
        self.capacity = max(1.0, float(size))
        # The server counted up to this request; what this run sent after it is not in that count.
        level = min(self.capacity, lim.remaining + (now - turn.at) * self.rate - spent_since)
        if turn.seq > self.seen:
            self.level, self.seen = level, turn.seq
        else:  # an answer overtaken by a later request's: it may only say there is less
            self.level = min(self.level_at(now), level)
        self.at = now


class Pacer:
    """Decides when each request of a run may start (see the module's docstring)."""

    def __init__(
        self,
        ipm: float | None = None,
        clock: Any = time,
        *,
        max_wait: float | None = None,
        on_wait: Callable[[Wait], None] | None = None,
    ) -> None:
        self.interval = 60.0 / ipm if ipm else 0.0
        self.max_wait = max_wait
        self.on_wait = on_wait
        self._clock = clock
        self._next = 0.0  # the --ipm spacing: the earliest next start
        self._paused_until = 0.0
        self._requests = _Bucket()  # the -requests triple's
        self._learned_rate = _Bucket()  # learned from 429s no header explains (AIMD)
        self._tokens = _Bucket()
        self._tokens_per_request = 0.0  # the mean an image used, once usage says
        self._told = False  # the server sends x-ratelimit-*-requests headers
        # seq -> (start, tokens charged) of the requests the server may count, in start order
        self._sends: dict[int, tuple[float, float]] = {}
        self._seq = 0
        self._learned = -1  # the last seq started when a 429 last halved the rate
        self._learned_at = -math.inf  # and when
        self._step = 0.0  # the rate's additive increase per success
        self._limited_in_a_row = 0
        self._announced = 0.0  # `until` of the last wait announced
        # After a refused connection, one request at a time until the server answers (a probe).
        self._probing = False
        self._probe_out = False
        self._refused = 0  # refusals since the last answer
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()

    @property
    def rate(self) -> float | None:
        """Return the request rate the run keeps to now (a second), or None when unlimited."""
        rates = [b.rate for b in (self._requests, self._learned_rate) if b.rate is not None]
        return min(rates) if rates else None

    # -- starting a request --------------------------------------------------------------------

    async def acquire(self) -> Turn:
        """Wait for this request's turn; return it, to hand back with its answer."""
        async with self._lock:  # turns are handed out in arrival order
            while True:
                now = self._clock.monotonic()
                pause = self._paused_until - now
                spacing = self._next - now
                limit = max(self._requests.wait(now, 1), self._learned_rate.wait(now, 1),
                            self._tokens.wait(now, self._tokens_per_request))
                wait = max(pause, spacing, limit)
                if wait <= 1e-6 and self._probing and self._probe_out:
                    await self._sleep(1.0)  # the probe's answer (or refusal) wakes us
                    continue
                if wait <= 1e-6:  # less than a clock can tell: go
                    break
                if self.interval and spacing >= max(pause, limit):
                    self.expect(wait, f"--ipm {60 / self.interval:g}", judge=False)  # asked for: never too long
                else:
                    self.expect(wait, "the server's rate limit")
                await self._sleep(wait)
            self._requests.take(now, 1)
            self._learned_rate.take(now, 1)
            self._tokens.take(now, self._tokens_per_request)
            self._next = max(self._next, now) + self.interval
            self._seq += 1
            self._sends[self._seq] = (now, self._tokens_per_request)
            self._probe_out = self._probing
            self._prune(now)
            return Turn(self._seq, now)

    def stamp(self, turn: Turn) -> Turn:
        """Return the turn timed now, as its request really leaves (after the journal's write)."""
        now = self._clock.monotonic()
        if turn.seq in self._sends:
            self._sends[turn.seq] = (now, self._sends[turn.seq][1])
        return Turn(turn.seq, now)

    def expect(self, seconds: float, why: str, *, judge: bool = True) -> None:
        """Judge a wait: raise WaitTooLong past `max_wait`; announce one longer than a minute."""
        if judge and self.max_wait is not None and seconds > self.max_wait:
            raise WaitTooLong(Wait(seconds, time.time() + seconds, why), self.max_wait)
        until = time.time() + seconds
        if seconds > ANNOUNCE_AFTER and abs(until - self._announced) > 1.0:
            self._announced = until
            if self.on_wait is not None:
                self.on_wait(Wait(seconds, until, why))

    async def _sleep(self, seconds: float) -> None:
        """Sleep, waking early when an answer changes what is known."""
        self._changed.clear()
        sleeper = asyncio.ensure_future(asyncio.sleep(seconds))
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait((sleeper, changed), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            changed.cancel()

    # -- what answers say ----------------------------------------------------------------------

    def answered(self, turn: Turn, limits: Limits | None, *, tokens: float | None = None) -> None:
        """Take an answer that was not a 429 (an image, or an error the server counted)."""
        now = self._clock.monotonic()
        if tokens:
            charged = self._tokens_per_request
            self._tokens_per_request = tokens if not charged else 0.8 * charged + 0.2 * tokens
        self._observe(turn, limits, now)
        self._limited_in_a_row = 0
        self._probing = self._probe_out = False
        self._refused = 0
        learned = self._learned_rate
        if learned.rate is not None:
            # Additive increase: the run speeds up again while the server keeps answering.
            learned.rate += self._step
            if learned.rate > 1000:
                learned.rate = None  # as good as unlimited
        self._changed.set()

    def heard(self, failure: RequestFailed, turn: Turn) -> bool:
        """Take a failed attempt: what it says of the server's limits. A 429's `retry_after` becomes
        the wait the whole run shares (WaitTooLong past `max_wait`, carrying the 429). Return whether
        the server answered (False: the connection was refused, dropped or timed out)."""
        if isinstance(failure, Unreachable):
            self.refused(turn)
            return False
        if failure.status is None and isinstance(failure, TransientFailure):
            return False  # a dropped connection or a timeout: no answer, nothing learned
        if failure.status == 429 and isinstance(failure, TransientFailure):
            try:
                failure.retry_after = self.limited(turn, failure.retry_after, failure.limits)
            except WaitTooLong as w:
                w.failure = failure
                raise
        else:
            self.answered(turn, failure.limits)
        return True

    def unsent(self, turn: Turn) -> None:
        """Forget a request that was never sent: it took no token."""
        self._sends.pop(turn.seq, None)
        self._probe_out = False
        self._changed.set()

    def refused(self, turn: Turn) -> None:
        """Take a connection the server refused: nothing was sent. Until it answers again, requests
        go one at a time, after a pause that doubles with each refusal (0.5 s, 1 s, 2 s ...)."""
        now = self._clock.monotonic()
        self._sends.pop(turn.seq, None)
        self._refused += 1
        self._probing, self._probe_out = True, False
        self._paused_until = max(self._paused_until, now + min(30.0, 0.5 * 2 ** (self._refused - 1)))
        self._changed.set()

    def limited(self, turn: Turn, retry_after: float | None, limits: Limits | None) -> float:
        """Take a 429: hold every request until the server's hint; return this request's wait.

        Raise WaitTooLong when that wait is beyond `max_wait`."""
        now = self._clock.monotonic()
        # Did the headers see it coming (the bucket they describe was empty)? If not, another limit
        # binds, one no header reports (images per minute): that one is learned from the 429s.
        explained = self._told and self._requests.level_at(now) < 1.0
        self._sends.pop(turn.seq, None)  # rejected: the server did not count it
        self._observe(turn, limits, now)
        self._probing = self._probe_out = False
        self._refused = 0
        self._limited_in_a_row += 1
        learned = self._learned_rate
        if not explained and turn.seq > self._learned and now - self._learned_at >= _CALM:
            # A new 429, not one more answer to the burst that met the last (nor a quick run of them,
            # which one halving answers): halve the rate (AIMD).
            recent = [t for t, _ in self._sends.values() if t > now - _SPAN]
            span = max(1.0, now - min(recent)) if recent else _SPAN
            measured = (len(recent) + 1) / span
            learned.rate = max(MIN_RATE, 0.5 * (learned.rate if learned.rate is not None else measured))
            learned.capacity, self._step = 1.0, learned.rate / 8
            self._learned, self._learned_at = self._seq, now
        known = [b for b in (self._requests, learned) if b.rate is not None]
        if retry_after is None:
            slowest = min((b.rate for b in known), default=None)  # type: ignore[type-var]
            retry_after = 1 / slowest if slowest else min(30.0, 0.5 * 2 ** (self._limited_in_a_row - 1))
        # Empty until the hint; one request fits then, and more as the buckets refill.
        for bucket in known:
            bucket.level, bucket.at = min(bucket.level_at(now), 1.0 - retry_after * bucket.rate), now  # type: ignore[operator]
        if now + retry_after >= self._paused_until:
            self._paused_until, wait = now + retry_after, retry_after
        else:  # an earlier 429 holds everyone longer
            wait = self._paused_until - now
        self._changed.set()
        self.expect(wait, "the server's rate limit")
        return wait

    def _observe(self, turn: Turn, limits: Limits | None, now: float) -> None:
        if limits is None:
            return
        later = [cost for seq, (_t, cost) in self._sends.items() if seq > turn.seq]
        for lim, bucket, spent in ((limits.requests, self._requests, len(later)),
                                   (limits.tokens, self._tokens, sum(later))):
            if lim is not None and lim.remaining is not None:
                bucket.observe(lim, turn, now, spent)
                self._told = self._told or (bucket is self._requests and bucket.rate is not None)

    def _prune(self, now: float) -> None:
        # Older starts matter only to answers still to come: keep a few minutes' worth.
        if len(self._sends) > 512:
            self._sends = {seq: s for seq, s in self._sends.items() if s[0] > now - 600}
