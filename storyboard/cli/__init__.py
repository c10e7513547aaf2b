"""The command line: the only place that prints, reads the environment or exits.

Every `StoryboardError` becomes one message on stderr and its exit code (2 for bad input). Each
command lives in the module named for what it works on; importing them registers them, in the
order `--help` lists them.
"""

import contextlib
import importlib
import os
import sys

from storyboard.cli.app import app

# Importing a command module registers its commands; this order is the order of `--help`.
for _module in ("run", "plan", "apply", "outputs", "info"):
    importlib.import_module(f"storyboard.cli.{_module}")


def main() -> None:
    """Run the command line."""
    crash = os.environ.get("STORYBOARD_CRASH_AT")
    if crash and crash.isdigit():  # a test hook: end the process at the N-th file-system operation
        from storyboard.output import fs

        fs.crash_at(int(crash))
    try:
        app()
        code: object = 0
    except SystemExit as e:
        code = e.code
    _exit(code)


def _exit(code: object) -> None:
    """End the process with `code` now, skipping the interpreter's teardown of the ~500 modules a
    run imports (0.15 s, more under load): by then every file is closed and every thread joined."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (`storyboard plan x | head`)
            stream.flush()
    os._exit(code)


__all__ = ["app", "main"]
