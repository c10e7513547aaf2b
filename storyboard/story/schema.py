"""The story format: the pydantic schema of a story file (strict: an unknown key is an error)
and `LoadedStory`, a validated story with where each key stands in its file."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from storyboard.errors import Problem
from storyboard.models import DEFAULT_MODEL  # the product's default, in one place
from storyboard.story.yaml12 import as_text, plain

RESERVED = frozenset({"frame", "frames", "previous", "characters", "vars"})

PROJECT_MARKER = "storyboard.toml"  # marks a project folder: its stories share its files (e.g. cast/)
MAX_ID = 64
ID_RE = re.compile(r"[a-z0-9_-]{1,64}")  # whole id: use fullmatch (`$` would let "a\n" through)

# Text a writer may type unquoted: `caption: 1984` is the text "1984", as written (`007`, `2.50`).
Text = Annotated[str, BeforeValidator(as_text)]


def _scalar(value: Any) -> Any:
    if not isinstance(value, str | int | float):
        raise ValueError("a var is text, a number or true/false (not a list or a mapping)")
    return value


# A var keeps the number a writer typed, and renders in prompts as written (`010`, not `10`).
VarValue = Annotated[Any, AfterValidator(_scalar), WithJsonSchema({"type": ["string", "number", "boolean"]})]
Options = Annotated[dict[str, Any], AfterValidator(plain)]  # sent to the API as plain numbers

_TAKE: TypeAdapter[int] = TypeAdapter(Annotated[int, Field(ge=1)])
CAMERA_MOVES = ("static", "push-in", "pull-out", "pan-left", "pan-right", "tilt-up", "tilt-down")
Camera = Literal["static", "push-in", "pull-out", "pan-left", "pan-right", "tilt-up", "tilt-down"]
MAX_SEED = 2**32 - 1


MAX_DURATION = 600  # seconds a frame is shown in an animatic at most: ten minutes on one frame is a typo

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Character(_Strict):
    """A character: its description renders wherever a prompt names it."""

    description: Text = Field(min_length=1, description="Rendered wherever a prompt names the character.")
    reference: Text | list[Text] | None = Field(
        default=None,
        description="Image file(s) relative to the story, or `generate` to make a character sheet first.",
    )
    sheet_prompt: Text | None = Field(
        default=None, description="Prompt of the generated character sheet (with `reference: generate`)."
    )


class Outpaint(_Strict):
    """Extend a source image beyond its edges."""

    from_: Text = Field(alias="from", description="A frame id, `previous`, or an image file.")
    extend: Literal["left", "right", "up", "down", "all"]
    by: float = Field(gt=0, le=2, description="Fraction of the source's width or height to add.")


class Choice(_Strict):
    """A choice offered to the reader of an adventure."""

    label: Text = Field(min_length=1)
    goto: Text


class Frame(_Strict):
    """One frame of the story: a prompt, and optionally a chain to an earlier image."""

    id: Text | None = Field(
        default=None, description="[a-z0-9_-]+, at most 64 characters, unique; only frames with ids can be chained from."
    )
    prompt: Text | None = Field(default=None, min_length=1, description="Jinja2 template of the prompt.")
    caption: Text | None = Field(default=None, description="Shown under the frame.")
    notes: Text | None = Field(default=None, description="Action, dialogue, camera.")
    text: Text | None = Field(default=None, description="Passage shown with the image (adventures).")
    choices: list[Choice] = Field(default_factory=list, description="Adventures: `{label, goto: FRAME_ID}` each.")
    model: Text | None = None
    size: Text | None = None
    quality: Text | None = None
    options: Options = Field(default_factory=dict)
    duration: float | None = Field(default=None, gt=0, le=MAX_DURATION, allow_inf_nan=False, description="Seconds in animatics.")
    takes: int = Field(default=1, ge=1, le=10)
    pick: Annotated[int, Field(ge=1)] | Literal["edited"] = Field(
        default=1,
        description="The take shown and chained from (from 1), or `edited`: the artist's hand-edited take, kept "
        "when `run --only ID --force` requested the frame again.",
    )
    edit: Text | None = Field(default=None, description="Chain: edit this source (a frame id, `previous` or a file).")
    mask: Text | None = Field(default=None, description="With `edit`: a PNG whose transparent pixels may change.")
    outpaint: Outpaint | None = None
    variation: Text | None = Field(default=None, description="Chain: a variation of this source.")
    characters: list[Text] | None = Field(default=None, description="The characters shown [default: those the prompt names].")
    lock: bool = Field(default=False, description="Keep the current image even when the request changes.")
    dialogue: list[dict[Text, Text]] = Field(
        default_factory=list, description="Lines spoken in the frame, in order: `- mira: We have to go.`"
    )
    camera: Camera = Field(default="static", description="The animatic's camera move over this frame.")
    balloon: Literal["left", "right"] | None = Field(
        default=None, description="Where the comic's balloon tails point [default: alternating by speaker]."
    )
    page_break: bool = Field(default=False, description="Start a new comic page with this frame.")
    seed: int | None = Field(
        default=None, ge=0, le=MAX_SEED, description="Seed of take 1 for backends that take seeds; take K gets seed + K - 1."
    )

    @field_validator("dialogue")
    @classmethod
    def _one_speaker_each(cls, v: list[dict[str, str]]) -> list[dict[str, str]]:
        for line in v:
            if len(line) != 1:
                raise ValueError("each dialogue line is one `speaker: line` pair, e.g. `- mira: We have to go.`")
        return v

    @property
    def lines(self) -> list[tuple[str, str]]:
        """Return the dialogue as (speaker, line) pairs, in order."""
        return [next(iter(d.items())) for d in self.dialogue]

    @field_validator("pick", mode="wrap")
    @classmethod
    def _pick(cls, v: Any, handler: Any) -> int | str:
        # `edited`, or a take number: errors read as the number's, not as a union's two branches.
        if v == "edited":
            return v
        try:
            return _TAKE.validate_python(v)
        except ValidationError as e:
            first = e.errors()[0]
            raise PydanticCustomError(first["type"], first["msg"], first.get("ctx")) from None

    @field_validator("id")
    @classmethod
    def _id_shape(cls, v: str | None) -> str | None:
        if v is not None and len(v) > MAX_ID:
            raise ValueError(f"an id is at most {MAX_ID} characters (this one has {len(v)})")
        if v is not None and not ID_RE.fullmatch(v):
            raise ValueError("an id uses only a-z, 0-9, _ and - (e.g. `city-night`)")
        return v

    @property
    def source(self) -> str | None:
        """Return the chain source named by edit, outpaint or variation."""
        if self.edit:
            return self.edit
        if self.outpaint:
            return self.outpaint.from_
        return self.variation

    @property
    def kind(self) -> str:
        """Return generate, edit, outpaint or variation."""
        if self.edit:
            return "edit"
        if self.outpaint:
            return "outpaint"
        if self.variation:
            return "variation"
        return "generate"


class Story(_Strict):
    """A whole story file."""

    title: Text = Field(min_length=1)
    model: Text = DEFAULT_MODEL
    size: Text = Field(default="3:2", description="WxH, or a preset: 1:1 3:2 2:3 16:9 9:16.")
    quality: Text | None = Field(default=None, description="low, medium or high [default: medium; the model's own on legacy models].")
    parallel: int = Field(default=4, ge=1, le=64, description="Requests in flight at most; 1 = in order.")
    images_per_minute: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="Pacing for low rate-limit tiers."
    )
    budget: float | None = Field(default=None, ge=0, allow_inf_nan=False, description="USD.")
    duration: float | None = Field(
        default=None, gt=0, le=MAX_DURATION, allow_inf_nan=False,
        description="Seconds per frame in animatics (unset: 2, or long enough to read the frame's caption and dialogue).")
    options: Options = Field(default_factory=dict, description="Passed to the API, checked per model.")
    vars: dict[Text, VarValue] = Field(default_factory=dict, description="Names usable in prompts: `{{ style }}`.")
    characters: dict[Text, Character] = Field(default_factory=dict)
    frames: list[Frame] = Field(min_length=1)


@dataclass
class LoadedStory:
    """A validated story with where each key stands in its file."""

    story: Story
    path: Path
    sha256: str
    positions: dict[tuple[Any, ...], tuple[int, int]] = field(default_factory=dict)
    assets: tuple[Path, ...] = ()  # folders the command line allows beside the story's own (--assets)

    @property
    def base_dir(self) -> Path:
        """Return the folder that relative paths in the story start from."""
        return self.path.parent

    @property
    def project_dir(self) -> Path | None:
        """Return the nearest folder at or above the story's that holds a `storyboard.toml` marker."""
        here = self.base_dir.resolve()
        return next((d for d in (here, *here.parents) if (d / PROJECT_MARKER).is_file()), None)

    @property
    def roots(self) -> tuple[Path, ...]:
        """Return the folders the story's files may lie in (resolved): its own, its project's, --assets."""
        project = self.project_dir
        found = (self.base_dir.resolve(), *([project] if project else []), *(Path(a).resolve() for a in self.assets))
        return tuple(dict.fromkeys(found))

    @property
    def name(self) -> str:
        """Return the story's file name without its extension."""
        return self.path.stem

    def problem(self, path: tuple[Any, ...], message: str) -> Problem:
        """Return a Problem located at the nearest key of `path` in the file."""
        return problem_at(str(self.path), self.positions, path, message)

    @property
    def has_choices(self) -> bool:
        """Return True when the story branches (an adventure)."""
        return any(f.choices for f in self.story.frames)


def dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for p in path:
        if p == "__key__":
            continue
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def problem_at(file: str, positions: dict, path: tuple[Any, ...], message: str) -> Problem:
    probe = path
    while probe and probe not in positions:
        probe = probe[:-1]
    line, col = positions.get(probe, (None, None))
    return Problem(file, line, col, dotted(path), message)


def nearest(word: str, choices: list[str]) -> str:
    m = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean `{m[0]}`?)" if m else ""


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema of the story format, for editors."""
    schema = Story.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "storyboard story"
    return schema

