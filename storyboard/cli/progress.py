"""The progress display of a run: done / failed / cached / waiting and spend so far (rich, on
stderr, only in a terminal)."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """Counts the runner's events and shows them as a live bar."""

    def __init__(self, plan: Any, *, enabled: bool = True) -> None:
        self.total = sum(j.takes for j in plan.jobs)
        self.enabled = enabled
        self.counts = {"ok": 0, "cached": 0, "failed": 0, "skipped": 0, "edited": 0, "locked": 0, "retry": 0}
        self.spend = 0.0
        self._live: Any = None
        self._task: Any = None
        self._stage: str | None = None  # what the backend is doing now: "frame 03: step 2/4"

    def __enter__(self) -> Progress:
        if self.enabled and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self._live = Bar(
                TextColumn("[bold]storyboard"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                TimeElapsedColumn(), transient=False, redirect_stdout=False,
            )
            self._live.__enter__()
            self._task = self._live.add_task(self._text(), total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the live bar (before the report is printed below it); again is a no-op."""
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def event(self, kind: str, result: Any) -> None:
        """Take one runner event."""
        if kind == "wait":  # a wait of the whole run, over a minute: said also without a terminal
            self.say(_waiting(result))
            return
        if kind in self.counts:
            self.counts[kind] += 1
        if kind == "ok":
            self.spend += result.cost_usd or 0.0
        if kind == "failed" and self.enabled and self._live is None:
            print(f"  failed: {result.job.name} take {result.take}: {result.reason}", file=sys.stderr)
        if self._live is not None:
            done = sum(v for k, v in self.counts.items() if k != "retry")
            self._live.update(self._task, completed=done, description=self._text())

    def backend_event(self, event: str, d: dict[str, Any]) -> None:
        """Show what a backend reports: a model loading (a line), denoising steps (on the bar only).
        Called from the backend's worker thread too (rich's updates are thread-safe)."""
        if not self.enabled:
            return
        if event == "loading":
            self.say(f"Loading {d['model']} on {d['device']} ...")
        elif event == "loaded":
            self.say(f"Loaded {d['model']} in {d['seconds']:.1f} s.")
        elif event == "step" and self._live is not None:
            self._stage = f"frame {d['frame']}" + (f" take {d['take']}" if d.get("takes", 1) > 1 else "") + \
                f": step {d['done']}/{d['total']}"
            self._live.update(self._task, description=self._text())
        elif event == "made":
            self._stage = None

    def interrupt(self, count: int) -> None:
        """Say what a Ctrl-C does."""
        self.say("Stopping: no new requests; waiting for those in flight (already paid for). Ctrl-C again to abandon them."
                 if count == 1 else "Abandoning requests in flight.")

    def say(self, msg: str) -> None:
        """Print one line above the bar, or on stderr without one (also with --quiet: it explains a pause)."""
        if self._live is not None:
            self._live.console.print(msg, style="yellow", markup=False, highlight=False)
        else:
            print(msg, file=sys.stderr, flush=True)

    def _text(self) -> str:
        c = self.counts
        waiting = self.total - sum(v for k, v in c.items() if k != "retry")
        parts = [f"{c['ok']} new", f"{c['cached']} cached", f"{waiting} waiting"]
        parts += [f"{c[k]} {k}" for k in ("failed", "skipped", "retry", "edited", "locked") if c[k]]
        return " · ".join(parts) + f" · ${self.spend:.2f}" + (f" · {self._stage}" if self._stage else "")


class BackendEvents:
    """Relays what a backend reports to whatever shows it; made before the display exists."""

    def __init__(self) -> None:
        self.target: Any = None

    def __call__(self, event: str, details: dict[str, Any]) -> None:
        if self.target is not None:
            self.target(event, details)


def _waiting(wait: Any) -> str:
    """Say a long wait: how long, until when, and why."""
    import time

    from storyboard.run.pacing import say_seconds

    clock = "%H:%M:%S" if wait.seconds < 20 * 3600 else "%Y-%m-%d %H:%M"
    return (f"Waiting {say_seconds(wait.seconds)} for {wait.why} (until {time.strftime(clock, time.localtime(wait.until))}); "
            "Ctrl-C stops, nothing is lost.")
