"""Pacing and back-off shared by every request of a run: one limiter, so a 429 slows the whole
run rather than each task alone, and `images_per_minute` keeps a low-tier key clean of 429s."""

from __future__ import annotations

import asyncio
import time


class Pacer:
    """Spaces request starts evenly (at most `ipm` a minute) and pauses everyone after a 429."""

    def __init__(self, ipm: float | None = None, clock: type = time) -> None:
        self.interval = 60.0 / ipm if ipm else 0.0
        self._next = 0.0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self._clock = clock

    async def acquire(self) -> None:
        """Wait for this request's slot."""
        async with self._lock:  # slots are handed out in arrival order
            while (pause := self._paused_until - self._clock.monotonic()) > 0:
                await asyncio.sleep(pause)
            now = self._clock.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)
        # a 429 may have paused the run while this request waited for its slot
        while (pause := self._paused_until - self._clock.monotonic()) > 0:
            await asyncio.sleep(pause)

    def pause(self, seconds: float) -> None:
        """Hold every new request for `seconds` (a 429's Retry-After)."""
        self._paused_until = max(self._paused_until, self._clock.monotonic() + seconds)
