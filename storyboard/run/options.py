"""How a run goes (the options the command line gives it) and the callbacks through which the runner
tells the rest (progress, each decoded image, each image stored)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storyboard.results import TakeResult
    from storyboard.run.verify import Verified


@dataclass
class RunOptions:
    """How to run: the cap, pacing, budget, selection, retries."""

    parallel: int = 4
    ipm: float | None = None
    budget: float | None = None
    selected: set[int] | None = None  # job indices to run (with their sources); None: all
    force: set[int] = field(default_factory=set)  # job indices to request again
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_wait: float | None = 15 * 60.0  # seconds: a longer wait stops the run (exit 1), nothing lost


# (kind, payload): the payload is the TakeResult, except for "wait", a run-wide wait (pacing.Wait).
Event = Callable[[str, Any], None]
# Called in a worker thread with each image received, decoded once, after its request's slot freed.
OnImage = Callable[["TakeResult", "Verified"], None]
# Called on the decoding thread with each verified image, while its pixels are still in the CPU's
# cache; what it returns goes on to `OnImage` (e.g. the image reduced towards its thumbnail).
OnDecoded = Callable[["Verified"], "Verified"]
