"""Requests -> images on disk: a plan's jobs run as a graph (a chained frame starts as soon as
its sources exist), at most `parallel` requests in flight, every image verified and stored the
moment it arrives. The decisions live in their own modules: requests.py (what is sent),
run/cache.py (what is reused), run/retry.py (what follows a failure), run/pacing.py (when a
request may start), run/budget.py (whether it may); run/workers.py holds the threads that decode
and store. Never prints: progress goes to `on_event`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from functools import partial
from pathlib import Path
from typing import Any

from storyboard import requests
from storyboard.backends import Backend, GeneratedImage, ImageRequest
from storyboard.errors import FatalFailure, FrameFailure, RequestFailed, Unreachable
from storyboard.output.store import Store
from storyboard.plan import Job, Plan
from storyboard.ratelimits import tokens_used
from storyboard.results import Image, Kept, RunStats, Status, TakeResult
from storyboard.run import saving
from storyboard.run.budget import Budget
from storyboard.run.cache import bought_take, reusable, stored_image
from storyboard.run.options import Event, OnDecoded, OnImage, RunOptions
from storyboard.run.pacing import Pacer, Wait, WaitTooLong
from storyboard.run.retry import Action, Reachability, RetryPolicy
from storyboard.run.verify import Verified, verify
from storyboard.run.workers import Workers


class Runner:
    """Runs one plan against one backend into one output directory."""

    def __init__(
        self,
        plan: Plan,
        out_dir: Path,
        backend: Backend,
        options: RunOptions,
        *,
        kept: dict[int, Kept] | None = None,
        on_event: Event | None = None,
        on_image: OnImage | None = None,
        on_decoded: OnDecoded | None = None,
    ) -> None:
        self.plan = plan
        self.out_dir = Path(out_dir)
        self.backend = backend
        self.options = options
        self.kept = kept or {}
        self.on_event = on_event or (lambda _e, _r: None)
        self.on_image = on_image
        self.on_decoded = on_decoded
        self.store = Store(self.out_dir)
        self.stats = RunStats()
        self.results: dict[int, list[TakeResult]] = {}
        self.fatal: FatalFailure | None = None
        self.storage_error: OSError | None = None  # the output folder could not be written (a full disk)
        self.stopping = False
        # Keys of attempts that failed ambiguously and were retried: this run reports them as possibly
        # billed twice, so once reported they are settled in the journal, not reported again.
        self.retried_ambiguous: list[str] = []
        self.budget = Budget(options.budget)
        self.retry = RetryPolicy(options.max_attempts, options.backoff_base, options.backoff_cap)
        # A backend that makes one image at a time (a local model on its device) says so: more in
        # flight would only queue inside it, journalled as sent and not sent.
        cap = getattr(backend, "max_parallel", None) or options.parallel
        self._sem = asyncio.Semaphore(max(1, min(options.parallel, cap)))
        self._pacer = Pacer(options.ipm, max_wait=options.max_wait, on_wait=self._announce)
        self._reach = Reachability()
        self._done: dict[int, asyncio.Future[Image | None]] = {}
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._halt = asyncio.Event()  # set once nothing new may start: waits for slots end early
        self._workers = Workers(options.parallel)  # decoding, storing, thumbnails: off the event loop

    # -- the graph --------------------------------------------------------------------------

    async def run(self) -> dict[int, list[TakeResult]]:
        """Run every wanted job; return the takes' results by job index."""
        loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        jobs = self.plan.wanted(self.options.selected)
        self._done = {j.index: loop.create_future() for j in jobs}
        tasks = [asyncio.create_task(self._job(j), name=j.name) for j in jobs]
        try:
            await asyncio.gather(*tasks)
            await self._workers.drain()
        finally:
            for t in tasks:
                t.cancel()
            self._workers.shutdown()
            self.store.close()
            self.stats.seconds = time.monotonic() - t0
        return self.results

    def stop(self) -> None:
        """Start nothing new; requests in flight finish and are saved (first Ctrl-C)."""
        self.stopping = True
        self._halt.set()

    def abort(self) -> None:
        """Abandon requests in flight too (second Ctrl-C)."""
        self.stopping = True
        self._halt.set()
        for t in list(self._in_flight):
            t.cancel()

    @property
    def halted(self) -> bool:
        """Tell whether the run may start nothing new (interrupted, stopped by the provider, disk full)."""
        return self.stopping or self.fatal is not None or self.storage_error is not None

    def _halt_reason(self) -> str:
        if self.storage_error is not None:
            return f"run stopped: {saving.problem(self.storage_error)}"
        return "interrupted" if self.fatal is None else "run stopped"

    async def _job(self, job: Job) -> None:
        fut = self._done[job.index]
        image: Image | None = None
        try:
            image = await self._run_job(job)
        finally:
            if not fut.done():
                fut.set_result(image)

    async def _run_job(self, job: Job) -> Image | None:
        results = [TakeResult(job, t, prompt=job.prompt, size=job.size) for t in range(1, job.takes + 1)]
        self.results[job.index] = results
        sources: dict[int, Image] = {}
        for d in job.deps:
            img = await self._done[d]
            if img is None:
                for r in results:
                    self._skip(r, "source failed")
                return None
            sources[d] = img

        kept = self.kept.get(job.index)
        if kept is not None:
            return self._keep(job, results, kept, sources)

        try:
            assembled = requests.assemble(self.plan, job, sources)
        except FrameFailure as e:
            for r in results:
                r.status, r.error, r.reason = Status.FAILED, e.as_dict(), e.message
                self.on_event(Status.FAILED, r)
            return None
        if not self._copy_inputs(assembled.copies):
            for r in results:
                self._skip(r, self._halt_reason())
            return None
        for r in results:
            r.inputs, r.outpaint_added, r.size = assembled.inputs, assembled.added, assembled.request.size
        await asyncio.gather(*(self._take(job, r, assembled.request) for r in results))
        picked = results[job.pick - 1]
        return picked.image if picked.status in (Status.OK, Status.CACHED) else None

    def _keep(self, job: Job, results: list[TakeResult], kept: Kept, sources: dict[int, Image]) -> Image:
        """Show the artist's (or the locked) image as the picked take; request nothing. The frame's
        other takes stay in takes/ as they were bought (from the store); only those it lacks are skipped."""
        r = results[job.pick - 1]
        r.keep(kept)
        for other in results:
            found = bought_take(self.store, self.plan, job, other.take, sources) if other is not r else None
            if found is not None:
                other.key = found[0]
                other.reuse(stored_image(self.store, found[1]), found[1].meta)
            elif other is not r:
                other.status, other.reason = Status.SKIPPED, f"frame is {kept.status}"
        self.on_event(kept.status, r)
        return kept.image

    def _copy_inputs(self, copies: dict[str, bytes]) -> bool:
        try:
            saving.copy_inputs(self.out_dir, copies)
        except OSError as e:
            self._storage_failed(e)
            return False
        return True

    # -- one take ---------------------------------------------------------------------------

    async def _take(self, job: Job, r: TakeResult, request: ImageRequest) -> None:
        request, r.key = requests.for_take(self.plan, job, r.take, request)
        r.seed = request.seed
        record = reusable(self.store, r.key, forced=job.index in self.options.force)
        if record is not None:
            r.reuse(stored_image(self.store, record), record.meta)
            self.on_event(Status.CACHED, r)
            return
        task = asyncio.current_task()
        try:
            await self._send(job, r, request, task)
        except asyncio.CancelledError:
            if not self.stopping:
                raise
            # abandoned in flight by a second Ctrl-C: the journal knows it may have been paid for
            self._skip(r, "interrupted in flight")

    async def _send(self, job: Job, r: TakeResult, request: ImageRequest, task: asyncio.Task[Any] | None) -> None:
        """Send attempts until one brings an image, the policy gives up, or the run halts."""
        ambiguous_before = False
        in_a_row = limited = 0  # 429s: back-pressure, never counted against the attempts
        refused = 0  # connections refused in a row
        while True:
            try:
                await self._attempt(job, r, request, task, ambiguous_before)
            except WaitTooLong as w:
                self._wait_too_long(w, r)
                return
            except RequestFailed as e:
                if e.status == 429:
                    in_a_row, limited = in_a_row + 1, limited + 1
                else:
                    in_a_row = 0
                verdict = self.retry.verdict(e, r.attempts - limited, in_a_row)
                ambiguous_before = getattr(e, "ambiguous", False)
                if verdict.action is Action.RETRY and not ambiguous_before:
                    # answered (a 429, a 5xx): nothing made, nothing for a later run to report
                    self._journal("failed", r.key)
                if e.status == 429:
                    self.stats.rate_limited += 1
                refused = refused + 1 if isinstance(e, Unreachable) else 0
                if isinstance(e, Unreachable) and self._reach.unreachable(e, time.monotonic(), refused):
                    # Nothing was ever sent: the run stops, and this take is as unmade as the others.
                    self.fatal = self.fatal or FatalFailure(e.message, type=e.type, code=e.code)
                    self._halt.set()
                    self._skip(r, self._halt_reason())
                    return
                if verdict.action is Action.STOP:
                    self.fatal = self.fatal or e  # type: ignore[assignment]
                    self._halt.set()
                if verdict.action is not Action.RETRY:
                    self._fail(r, e, verdict.reason)
                    return
                if not verdict.pause_all:
                    try:
                        self._pacer.expect(verdict.delay, "the server")  # a 429's wait was judged by the pacer
                    except WaitTooLong as w:
                        self._wait_too_long(w, r)
                        return
                self.stats.retries += 1
                self.on_event("retry", r)
                await self._unless_halted(asyncio.sleep(verdict.delay))
                continue
            return

    async def _attempt(
        self, job: Job, r: TakeResult, request: ImageRequest, task: asyncio.Task[Any] | None, ambiguous_before: bool
    ) -> None:
        """Send one attempt within the cap, the pace and the budget, and store its image before the
        slot frees; the take is skipped when the run halted or the budget ran out meanwhile."""
        async with self._sem:
            if self.halted:
                self._skip(r, self._halt_reason())
                return
            estimate = job.estimate or 0.0
            # Reserve only now, in a slot: a reservation taken while queued lets the whole queue
            # pass the check before any spend lands. At most `parallel` reservations exist.
            if not self.budget.reserve(estimate):
                self._skip(r, "budget")
                return
            settled = False
            try:
                turn = await self._unless_halted(self._pacer.acquire())
                if self.halted or turn is None:
                    self._skip(r, self._halt_reason())
                    return
                try:
                    # Durable before the request goes; synced off the event loop, which meanwhile
                    # reads other responses.
                    await self._workers.store(self.store.journal, "sent", r.key, frame=job.name, take=r.take)
                except OSError as e:  # nothing sent yet: nothing lost
                    self._journal("failed", r.key)  # the line may be on disk though its sync failed
                    self._pacer.unsent(turn)
                    self._storage_failed(e)
                    self._skip(r, self._halt_reason())
                    return
                r.attempts += 1
                if ambiguous_before:  # the previous attempt may have been done and billed
                    r.possibly_billed_twice += 1
                    self.stats.possibly_billed_twice += 1
                    self.retried_ambiguous.append(r.key)  # type: ignore[arg-type]
                self.stats.requests += 1
                self.on_event("start", r)
                t0 = time.monotonic()
                if task is not None:
                    self._in_flight.add(task)
                try:
                    turn = self._pacer.stamp(turn)  # the journal's write may have taken a while
                    try:
                        image = await self.backend.generate(request)
                    except RequestFailed as e:
                        if self._pacer.heard(e, turn):  # or WaitTooLong: a 429 asked for too long
                            self._reach.answered()
                        raise
                    self._reach.answered()
                    self._pacer.answered(turn, image.limits, tokens=tokens_used(image.usage))
                    # Verified, on disk and its cost counted before this slot lets the next request
                    # go: a kill at any later moment loses nothing paid for, and the budget sees no gap.
                    received = await self._save(job, r, image, time.monotonic() - t0)
                finally:
                    if task is not None:
                        self._in_flight.discard(task)
                settled = True
                self.budget.settle(estimate, r.cost_usd if r.status is Status.OK or r.lost else None)
                if received is not None and self.on_image is not None:
                    # the thumbnail, on a thread of its own: the slot frees without waiting for it
                    await self._workers.after(partial(self.on_image, r, received))
            finally:
                if not settled:
                    self.budget.settle(estimate, None)

    def _announce(self, wait: Wait) -> None:
        self.on_event("wait", wait)

    def _wait_too_long(self, w: WaitTooLong, r: TakeResult) -> None:
        """Stop the run: the server asks for a wait beyond --max-wait. Nothing is lost: the take is
        skipped, as unmade as the others."""
        if w.failure is not None:  # a 429 asked for it: answered, nothing made
            self.stats.rate_limited += 1
            self._journal("failed", r.key)
        self.fatal = self.fatal or FatalFailure(w.sentence(), type="rate_limit", code="wait_too_long")
        self._halt.set()
        self._skip(r, self._halt_reason())

    async def _save(self, job: Job, r: TakeResult, image: GeneratedImage, seconds: float) -> Verified | None:
        """Verify and store the image first, then account for it: nothing paid for is lost."""
        # Decoding, hashing and fsync run in worker threads, overlapping other requests' waits.
        received = await self._workers.decode(self._decode, image.data, image.media_type)  # or BadImage
        meta = saving.account(job, r, image, seconds, self.plan.free)
        try:
            r.image = await self._workers.store(saving.store, self.store, r.key, image.data, received, meta)
        except OSError as e:  # received and paid for, but not on disk: said now and by the next run
            saving.mark_lost(r, e)
            self._journal("lost", r.key)
            self._storage_failed(e)
            self.stats.cost_usd += r.cost_usd or 0.0
            self.on_event(Status.FAILED, r)
            return None
        r.status = Status.OK
        self.stats.images += 1
        self.stats.cost_usd += r.cost_usd or 0.0
        self.on_event(Status.OK, r)
        return received

    def _decode(self, data: bytes, media_type: str | None) -> Verified:
        """Verify an image (on a decoding thread), then hand it to `on_decoded` there. What that
        does is for later (a thumbnail): should it fail, the image is stored all the same."""
        received = verify(data, media_type)
        if self.on_decoded is None:
            return received
        try:
            return self.on_decoded(received)
        except Exception:  # noqa: BLE001 - a paid-for image must not be lost to a thumbnail's step
            return received

    # -- endings ----------------------------------------------------------------------------

    async def _unless_halted(self, waiting: Coroutine[Any, Any, Any]) -> Any:
        """Wait for a pacer slot or a back-off, but no longer than until the run stops; return what
        it returned (None when the run stopped first)."""
        wait, halt = asyncio.ensure_future(waiting), asyncio.ensure_future(self._halt.wait())
        try:
            await asyncio.wait((wait, halt), return_when=asyncio.FIRST_COMPLETED)
        finally:
            halt.cancel()
            if not wait.done():
                wait.cancel()
        return wait.result() if wait.done() and not wait.cancelled() else None

    def _skip(self, r: TakeResult, reason: str) -> None:
        r.status, r.reason = Status.SKIPPED, reason
        self.on_event(Status.SKIPPED, r)

    def _fail(self, r: TakeResult, e: RequestFailed, reason: str) -> None:
        r.status, r.error, r.reason = Status.FAILED, e.as_dict(), reason
        r.request_id = e.request_id
        self._journal("failed", r.key)
        self.on_event(Status.FAILED, r)

    def _journal(self, event: str, key: str | None) -> None:
        """Journal an outcome; a full disk here must not hide the result it records."""
        if key:
            with contextlib.suppress(OSError):
                self.store.journal(event, key)

    def _storage_failed(self, e: OSError) -> None:
        """Stop the run: the output folder cannot be written (a full disk, a read-only folder)."""
        self.storage_error = self.storage_error or e
        self._halt.set()

