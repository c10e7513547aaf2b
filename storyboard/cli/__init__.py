"""The command line: the only place that prints, reads the environment or exits.

Every `StoryboardError` becomes one message on stderr and its exit code (2 for bad input). Each
command lives in the module named for what it works on; importing them registers them, in the
order `--help` lists them.
"""

import importlib
import os

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
    app()


__all__ = ["app", "main"]
