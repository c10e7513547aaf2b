"""The threads a run's CPU and disk work runs on, off the event loop (which meanwhile reads other
responses). Decoding is CPU work: a thread per core but one, so the first image of a round is stored
(and its slot free) first, not all of them together at the end of the round, and one core is left
to the event loop, which sends every request and reads every answer: with a decode on each core it
waited for one (measured on 2 cores: a decoding thread each made the run 5-10 % slower). Storing is mostly
waiting on the disk (fsync): a thread per slot, so those waits overlap. What follows a stored image
(its thumbnail) holds no slot: threads of its own (as many as cores) at a lower priority, so they
never queue ahead of a store nor take the cores from the work that holds slots, and the thumbnails
still waiting when the last image is stored are made on every core."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from storyboard import threads

T = TypeVar("T")


class Workers:
    """The thread pools of one run, for `parallel` requests in flight."""

    def __init__(self, parallel: int) -> None:
        self._decoding = ThreadPoolExecutor(max(1, min(threads.cores() - 1, parallel)), thread_name_prefix="decode")
        self._storing = ThreadPoolExecutor(max(1, min(parallel, 32)), thread_name_prefix="store")
        self._after = ThreadPoolExecutor(max(1, min(threads.cores(), parallel)), thread_name_prefix="after",
                                         initializer=_yield_cpu)
        # Images waiting for what follows them, at most this many: when thumbnails lag, requests
        # wait for room (memory stays bounded: ~5 MB of pixels per 1536x1024 image).
        self._after_room = asyncio.Semaphore(max(2, parallel))
        self._after_jobs: list[asyncio.Future[None]] = []

    async def decode(self, fn: Callable[..., T], *args: Any) -> T:
        """Return fn(*args), run on a decoding thread."""
        return await _on(self._decoding, fn, *args)

    async def store(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Return fn(*args, **kwargs), run on a storing thread."""
        return await _on(self._storing, partial(fn, *args, **kwargs))

    async def after(self, work: Callable[[], None]) -> None:
        """Queue `work` on the after thread and return without waiting for it, unless too many
        wait already (then once there is room)."""
        await self._after_room.acquire()
        loop = asyncio.get_running_loop()

        def run() -> None:
            try:
                work()
            finally:
                loop.call_soon_threadsafe(self._after_room.release)

        self._after_jobs.append(loop.run_in_executor(self._after, run))

    async def drain(self) -> None:
        """Wait for all the work queued with `after`."""
        await asyncio.gather(*self._after_jobs)

    def shutdown(self) -> None:
        """Wait for every thread's work, then end the threads."""
        for pool in (self._decoding, self._storing, self._after):
            pool.shutdown(wait=True)


async def _on(pool: Executor, fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)


def _yield_cpu() -> None:
    """Lower this thread's CPU priority (Linux: a thread has its own nice value), so the work that holds
    request slots wins the cores; thumbnails get what is left, and all of it at the end."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
