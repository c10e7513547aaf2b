"""Threads shared by the run and the exports: how many cores this process may use, and work
done a few pieces ahead on a pool while its results are taken in order (Pillow's decoding,
resizing and quantizing let go of the GIL, so a pool of threads uses every core)."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import TypeVar

T = TypeVar("T")


def cores() -> int:
    """Return how many cores this process may use."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def ahead(pool: Executor, work: Iterable[Callable[[], T]], n: int) -> Iterator[T]:
    """Yield each piece of work's result in order, with up to `n` more pieces running on `pool`
    (memory holds n + 1 results at most)."""
    pending: deque[Future[T]] = deque()
    for piece in work:
        pending.append(pool.submit(piece))
        if len(pending) > n:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
