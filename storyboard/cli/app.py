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
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from storyboard import __version__

        typer.echo(f"storyboard {__version__}")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Turn a YAML story into a storyboard: chained image prompts, numbered frames, an HTML contact sheet."""


def _argument_type(self: Any, ctx: Any) -> str | None:
    # typer prints an argument's Python type beside it (`STORY <list[Path]>`) even when it has a
    # metavar; options show their metavar alone, and so do our arguments.
    return None if self.metavar else self.display_type(ctx)


typer.core.TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign]


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


StoryArg = Annotated[Path, typer.Argument(help="The story file (.yaml).", metavar="STORY", show_default=False)]


DirArg = Annotated[
    Path, typer.Argument(help="An output folder (with manifest.json), e.g. outputs/story.", metavar="DIR", show_default=False)
]


OutOpt = Annotated[
    Path | None, typer.Option("-o", "--out", metavar="DIR", help="Output folder [default: ./outputs/<story>/].")
]


BackendOpt = Annotated[
    str, typer.Option("--backend", metavar="NAME", help="auto, or an installed backend (`storyboard models` lists them).")
]


ModelOpt = Annotated[str | None, typer.Option("--model", metavar="MODEL", help="Use this model for every frame.")]


OnlyOpt = Annotated[
    str | None,
    typer.Option("--only", metavar="IDS", help="Frame ids (or numbers), comma-separated; their sources run too."),
]


ForceOpt = Annotated[bool, typer.Option("--force", help="Request the chosen frames again (never discards edited or locked ones).")]


BudgetOpt = Annotated[
    float | None, typer.Option("--budget", metavar="USD", help="Refuse plans above this many USD; stop spending at it.")
]


IpmOpt = Annotated[float | None, typer.Option("--ipm", metavar="N", help="Images per minute at most (rate-limit tiers).")]


AssetsOpt = Annotated[
    list[Path] | None,
    typer.Option("--assets", metavar="DIR", help="Also allow the story's files from this folder (repeatable; "
                 "also STORYBOARD_ASSETS, folders separated by ':')."),
]


def _device(value: str | None) -> str | None:
    import re

    if value is not None and not re.fullmatch(r"cpu|mps|cuda(:\d+)?", value):
        raise typer.BadParameter("use cuda, cuda:N, mps or cpu")
    return value


# Machine settings, for backends that run models here (local): never story keys, never in request keys.
DeviceOpt = Annotated[str | None, typer.Option("--device", metavar="DEVICE", callback=_device, help="Where local models run: cuda, cuda:N, mps or cpu [default: cuda, then mps, then cpu].")]


OffloadOpt = Annotated[bool, typer.Option("--offload", help="Local models: keep only the working part on the GPU (small GPUs; slower).")]
