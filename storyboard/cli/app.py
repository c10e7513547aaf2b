"""The typer app, the one place that turns a `StoryboardError` into a message and an exit code,
and the options several commands share."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from storyboard.errors import StoryboardError

app = typer.Typer(
    name="storyboard",
    help="Turn a YAML story into a storyboard: chained image prompts, numbered frames, an HTML contact sheet.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals could hold the API key
    rich_markup_mode=None,
)


F = TypeVar("F", bound=Callable[..., Any])


def err(message: str) -> None:
    typer.echo(message, err=True)


def handles_errors(fn: F) -> F:
    """Turn StoryboardError into `Error: ...` and its exit code; the one place that does."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StoryboardError as e:
            lines = e.message.splitlines()
            if len(lines) > 1:
                err(f"Error: {len(lines)} problems:")
                for line in lines:
                    err(f"  {line}")
            else:
                err(f"Error: {e.message}")
            raise typer.Exit(e.exit_code) from None

    return wrapper  # type: ignore[return-value]


StoryArg = Annotated[Path, typer.Argument(help="The story file (.yaml).", show_default=False)]


OutOpt = Annotated[Path | None, typer.Option("-o", "--out", help="Output folder [default: ./outputs/<story>/].")]


BackendOpt = Annotated[str, typer.Option("--backend", help="auto, openai or draft.")]


ModelOpt = Annotated[str | None, typer.Option("--model", help="Use this model for every frame.")]


OnlyOpt = Annotated[str | None, typer.Option("--only", help="Frame ids (or numbers), comma-separated; their sources run too.")]


ForceOpt = Annotated[bool, typer.Option("--force", help="Request the chosen frames again (never discards edited or locked ones).")]


BudgetOpt = Annotated[float | None, typer.Option("--budget", help="Refuse plans above this many USD; stop spending at it.")]


IpmOpt = Annotated[float | None, typer.Option("--ipm", help="Images per minute at most (rate-limit tiers).")]

