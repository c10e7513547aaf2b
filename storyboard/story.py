"""The story file: its schema (pydantic, strict) and `load_story`, which reports every problem
of a file at once with file:line:column, the key path and a fix."""

from __future__ import annotations

import difflib
import functools
import keyword
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from storyboard.errors import Problem, StoryError

MAX_STORY_BYTES = 2_000_000
MAX_NODES = 200_000  # YAML values after aliases are expanded; a long story has a few thousand
RESERVED = frozenset({"frame", "frames", "previous", "characters", "vars"})
ID_RE = re.compile(r"^[a-z0-9_-]+$")
DEFAULT_MODEL = "gpt-image-2"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Character(_Strict):
    """A character: its description renders wherever a prompt names it."""

    description: str = Field(min_length=1, description="Rendered wherever a prompt names the character.")
    reference: str | list[str] | None = Field(
        default=None,
        description="Image file(s) relative to the story, or `generate` to make a character sheet first.",
    )
    sheet_prompt: str | None = Field(
        default=None, description="Prompt of the generated character sheet (with `reference: generate`)."
    )


class Outpaint(_Strict):
    """Extend a source image beyond its edges."""

    from_: str = Field(alias="from", description="A frame id, `previous`, or an image file.")
    extend: Literal["left", "right", "up", "down", "all"]
    by: float = Field(gt=0, le=2, description="Fraction of the source's width or height to add.")


class Choice(_Strict):
    """A choice offered to the reader of an adventure."""

    label: str = Field(min_length=1)
    goto: str


class Frame(_Strict):
    """One frame of the story: a prompt, and optionally a chain to an earlier image."""

    id: str | None = Field(default=None, description="[a-z0-9_-]+, unique; only frames with ids can be chained from.")
    prompt: str | None = Field(default=None, min_length=1, description="Jinja2 template of the prompt.")
    caption: str | None = None
    notes: str | None = Field(default=None, description="Action, dialogue, camera.")
    text: str | None = Field(default=None, description="Passage shown with the image (adventures).")
    choices: list[Choice] = Field(default_factory=list)
    model: str | None = None
    size: str | None = None
    quality: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    duration: float | None = Field(default=None, gt=0)
    takes: int = Field(default=1, ge=1, le=10)
    pick: int = Field(default=1, ge=1)
    edit: str | None = None
    mask: str | None = None
    outpaint: Outpaint | None = None
    variation: str | None = None
    characters: list[str] | None = None
    lock: bool = False

    @field_validator("id")
    @classmethod
    def _id_shape(cls, v: str | None) -> str | None:
        if v is not None and not ID_RE.match(v):
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

    title: str = Field(min_length=1)
    model: str = DEFAULT_MODEL
    size: str = Field(default="3:2", description="WxH, or a preset: 1:1 3:2 2:3 16:9 9:16.")
    quality: str | None = Field(default=None, description="low, medium or high [default: medium; the model's own on legacy models].")
    parallel: int = Field(default=4, ge=1, le=64, description="Requests in flight at most; 1 = in order.")
    images_per_minute: float | None = Field(default=None, gt=0, description="Pacing for low rate-limit tiers.")
    budget: float | None = Field(default=None, ge=0, description="USD.")
    duration: float = Field(default=2.0, gt=0, description="Seconds per frame in animatics.")
    options: dict[str, Any] = Field(default_factory=dict)
    vars: dict[str, str | int | float | bool] = Field(default_factory=dict)
    characters: dict[str, Character] = Field(default_factory=dict)
    frames: list[Frame] = Field(min_length=1)


@dataclass
class LoadedStory:
    """A validated story with where each key stands in its file."""

    story: Story
    path: Path
    sha256: str
    positions: dict[tuple[Any, ...], tuple[int, int]] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        """Return the folder that relative paths in the story start from."""
        return self.path.parent

    @property
    def name(self) -> str:
        """Return the story's file name without its extension."""
        return self.path.stem

    def problem(self, path: tuple[Any, ...], message: str) -> Problem:
        """Return a Problem located at the nearest key of `path` in the file."""
        return _problem(str(self.path), self.positions, path, message)

    @property
    def has_choices(self) -> bool:
        """Return True when the story branches (an adventure)."""
        return any(f.choices for f in self.story.frames)


def load_story(path: str | Path) -> LoadedStory:
    """Read, parse and validate a story file; raise StoryError listing every problem."""
    import hashlib

    import yaml

    p = Path(path)
    shown = str(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise StoryError([Problem(shown, None, None, "", "no such file. Check the path.")]) from None
    except IsADirectoryError:
        raise StoryError([Problem(shown, None, None, "", "is a folder; give a story .yaml file.")]) from None
    except OSError as e:
        raise StoryError([Problem(shown, None, None, "", f"cannot be read ({e.strerror}).")]) from None
    if len(raw) > MAX_STORY_BYTES:
        raise StoryError(
            [Problem(shown, None, None, "", f"is {len(raw):,} bytes; a story file is at most {MAX_STORY_BYTES:,}.")]
        )
    if b"\0" in raw[:8192]:
        raise StoryError([Problem(shown, None, None, "", "is a binary file, not a YAML story.")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise StoryError([Problem(shown, None, None, "", f"is not UTF-8 text (byte {e.start}).")]) from None

    try:
        # libyaml's parser when present (a 1000-frame story: 30 ms instead of 500); on an error the
        # pure-Python parser parses again, for its wording of the message.
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        e = _python_yaml_error(text)
        mark = getattr(e, "problem_mark", None)
        what = getattr(e, "problem", None) or str(e)
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        raise StoryError([Problem(shown, line, col, "", f"not valid YAML: {what}. Check indentation and quotes.")]) from None
    if node is None:
        raise StoryError([Problem(shown, 1, 1, "", "the file is empty. Start from `storyboard new NAME`.")])

    positions: dict[tuple[Any, ...], tuple[int, int]] = {}
    problems: list[Problem] = []
    _walk(node, (), positions, problems, shown)
    try:
        data = yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise StoryError([Problem(shown, None, None, "", f"not valid YAML: {e}")]) from None
    if not isinstance(data, dict):
        raise StoryError(
            [Problem(shown, 1, 1, "", "a story is a mapping with `title:` and `frames:`. Start from `storyboard new NAME`.")]
        )

    try:
        story = Story.model_validate(data)
    except ValidationError as e:
        problems += _merge_unions([_problem_from_pydantic(shown, positions, err) for err in e.errors()])
        # The chain, id and file checks still run on the parts that are valid, so one message
        # lists every problem of the file.
        partial = LoadedStory(_salvage(data), p, "", positions)
        problems += [q for q in check_story(partial) if q not in problems]
        raise StoryError(_sorted(list(dict.fromkeys(problems)))) from None

    loaded = LoadedStory(story, p, hashlib.sha256(raw).hexdigest(), positions)
    problems += check_story(loaded)
    if problems:
        raise StoryError(_sorted(problems))
    return loaded


def _python_yaml_error(text: str) -> Exception:
    """Return the error of the pure-Python YAML parser on text libyaml refused."""
    import yaml

    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        return e
    return yaml.YAMLError("libyaml refused the file")


@functools.cache
def _loader() -> type:
    """Return a SafeLoader that keeps dates and times as strings (a var `date: 2026-01-01`)."""
    import yaml

    class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        pass

    Loader.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return Loader


def _salvage(data: dict[str, Any]) -> Story:
    """Build a Story of the valid parts of invalid data; an invalid frame becomes a plain one."""

    def valid(model: type[BaseModel], value: Any, fallback: BaseModel) -> Any:
        try:
            return model.model_validate(value)
        except ValidationError:
            return fallback

    raw_frames = data.get("frames") if isinstance(data.get("frames"), list) else []
    def blank(raw: Any) -> Frame:
        fid = raw.get("id") if isinstance(raw, dict) else None
        fid = fid if isinstance(fid, str) and ID_RE.match(fid) else None
        return Frame.model_construct(id=fid, prompt="-", choices=[], options={}, takes=1, pick=1, lock=False)

    frames = [valid(Frame, f, blank(f)) for f in raw_frames]
    chars = data.get("characters") if isinstance(data.get("characters"), dict) else {}
    characters = {k: valid(Character, v, Character.model_construct(description="-")) for k, v in chars.items()}
    vars_ = data.get("vars") if isinstance(data.get("vars"), dict) else {}
    return Story.model_construct(title="-", frames=frames, characters=characters, vars=vars_)


def check_story(loaded: LoadedStory) -> list[Problem]:
    """Check what the schema cannot: ids, names, chain sources, cycles, files, choices."""
    s = loaded.story
    out: list[Problem] = []
    at = loaded.problem

    for name in list(s.vars) + list(s.characters):
        where = ("vars", name, "__key__") if name in s.vars else ("characters", name, "__key__")  # at the name
        if not name.isidentifier() or keyword.iskeyword(name):
            out.append(at(where, f"`{name}` must be a Python-style identifier (letters, digits, _) to be used in prompts"))
        elif name in RESERVED:
            out.append(at(where, f"`{name}` is a reserved name in prompts; rename it (e.g. `{name}_`)"))
    for name in set(s.vars) & set(s.characters):
        out.append(at(("characters", name, "__key__"), f"`{name}` is both a var and a character; rename one"))

    ids: dict[str, int] = {}
    for i, f in enumerate(s.frames):
        if f.id is None:
            continue
        if f.id in ids:
            out.append(at(("frames", i, "id"), f"duplicate id `{f.id}` (also frame {ids[f.id] + 1}); ids must be unique"))
        elif f.id == "previous":
            out.append(at(("frames", i, "id"), "`previous` is reserved as a chain source; choose another id"))
        else:
            ids[f.id] = i

    for i, f in enumerate(s.frames):
        if f.prompt is None and not f.variation:
            out.append(at(("frames", i), "`prompt` is missing; every frame but a variation needs one"))
        kinds = [k for k in ("edit", "outpaint", "variation") if getattr(f, k)]
        if len(kinds) > 1:
            out.append(at(("frames", i, kinds[1]), f"a frame chains one way only; it has {' and '.join(kinds)}"))
        if f.mask and not f.edit:
            out.append(at(("frames", i, "mask"), "`mask` goes with `edit:` (an outpaint makes its own mask)"))
        if f.outpaint and f.size:
            out.append(at(("frames", i, "size"), "an outpaint's size follows from its source and `by`; remove `size`"))
        if f.pick > f.takes:
            out.append(at(("frames", i, "pick"), f"pick {f.pick} but the frame has {f.takes} take(s); pick from 1 to {f.takes}"))
        src = f.source
        key = "outpaint" if f.outpaint else kinds[0] if kinds else None
        if src is not None and key is not None:
            out += _check_source(loaded, i, src, key, ids)
        if f.mask:
            out += _check_file(loaded, ("frames", i, "mask"), f.mask, "mask")
        for c in f.characters or []:
            if c not in s.characters:
                hint = _nearest(c, list(s.characters))
                out.append(at(("frames", i, "characters"), f"unknown character `{c}`{hint}"))
        for j, ch in enumerate(f.choices):
            if ch.goto not in ids:
                hint = _nearest(ch.goto, list(ids))
                out.append(at(("frames", i, "choices", j, "goto"), f"goto `{ch.goto}` names no frame id{hint}"))

    for name, c in s.characters.items():
        refs = [c.reference] if isinstance(c.reference, str) else (c.reference or [])
        if "generate" in refs and len(refs) > 1:
            out.append(at(("characters", name, "reference"), "`generate` stands alone; give files or `generate`"))
            continue
        for j, r in enumerate(refs):
            if r != "generate":
                where = ("characters", name, "reference") + ((j,) if isinstance(c.reference, list) else ())
                out += _check_file(loaded, where, r, "reference")

    if not out:
        from storyboard import adventure

        out += _check_cycles(loaded, ids)
        out += adventure.problems(loaded)
    return out


def _check_source(loaded: LoadedStory, i: int, src: str, key: str, ids: dict[str, int]) -> list[Problem]:
    path: tuple[Any, ...] = ("frames", i, key) + (("from",) if key == "outpaint" else ())
    if src == "previous":
        if loaded.has_choices:
            return [loaded.problem(path, "`previous` has no meaning in a story with choices; name the frame id")]
        if i == 0:
            return [loaded.problem(path, "the first frame has no previous frame")]
        return []
    if is_path(src):
        return _check_file(loaded, path, src, "source")
    if src not in ids:
        return [loaded.problem(path, f"`{src}` names no frame id{_nearest(src, list(ids))}")]
    return []


def is_path(src: str) -> bool:
    """Return True when a chain source names a file rather than a frame (SPEC §3)."""
    return "/" in src or "." in src


def resolve_file(loaded: LoadedStory, name: str) -> Path:
    """Return the path of a file named in the story, relative to the story's folder."""
    return (loaded.base_dir / name).resolve()


def _check_file(loaded: LoadedStory, path: tuple[Any, ...], name: str, what: str) -> list[Problem]:
    p = resolve_file(loaded, name)
    if not p.is_file():
        return [loaded.problem(path, f"{what} file `{name}` not found (paths are relative to the story's folder)")]
    head = p.read_bytes()[:16]
    if not (head.startswith(b"\x89PNG") or head.startswith(b"\xff\xd8\xff") or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")):
        return [loaded.problem(path, f"{what} file `{name}` is not a PNG, JPEG or WebP image")]
    return []


def _check_cycles(loaded: LoadedStory, ids: dict[str, int]) -> list[Problem]:
    frames = loaded.story.frames
    deps: dict[int, int] = {}
    for i, f in enumerate(frames):
        src = f.source
        if src is None or is_path(src):
            continue
        deps[i] = i - 1 if src == "previous" else ids[src]
    out = []
    for start in deps:
        seen, i = [start], deps[start]
        while i in deps and i not in seen:
            seen.append(i)
            i = deps[i]
        if i == start:
            names = " -> ".join(frames[k].id or str(k + 1) for k in [*seen, start])
            out.append(loaded.problem(("frames", start), f"chain cycle {names}; a frame cannot depend on itself"))
    return out[:1]


def _nearest(word: str, choices: list[str]) -> str:
    m = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean `{m[0]}`?)" if m else ""


def _walk(
    node: Any, path: tuple[Any, ...], positions: dict, problems: list[Problem], file: str, _state: Any = None
) -> None:
    import yaml

    # Aliases make the node tree a graph: a 400-byte "billion laughs" would take hours to walk,
    # and an alias inside its own anchor never ends. Count every visit; refuse cycles.
    state = _state if _state is not None else {"count": 0, "open": set()}
    state["count"] += 1
    if state["count"] > MAX_NODES or id(node) in state["open"]:
        why = (
            "a YAML alias (`*name`) inside its own anchor (`&name`); a story cannot contain itself"
            if id(node) in state["open"]
            else f"the story expands to more than {MAX_NODES:,} values (each use of an alias `*name` counts)"
        )
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        if id(node) not in state["open"]:  # name the top key: the rest of the path is alias noise
            line, col = positions.get((*path[:1], "__key__"), (line, col))
            path = path[:1]
        raise StoryError([Problem(file, line, col, _dotted(path), why)])
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        state["open"].add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for k, v in node.value:
            key = k.value
            if key in seen:
                line, col = k.start_mark.line + 1, k.start_mark.column + 1
                dotted = _dotted((*path, key))
                problems.append(Problem(file, line, col, dotted, "duplicate key; the later one would silently win"))
            seen.add(key)
            positions[(*path, key, "__key__")] = (k.start_mark.line + 1, k.start_mark.column + 1)
            _walk(v, (*path, key), positions, problems, file, state)
    elif isinstance(node, yaml.SequenceNode):
        for j, v in enumerate(node.value):
            _walk(v, (*path, j), positions, problems, file, state)
    state["open"].discard(id(node))


def _dotted(path: tuple[Any, ...]) -> str:
    out = ""
    for p in path:
        if p == "__key__":
            continue
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _problem(file: str, positions: dict, path: tuple[Any, ...], message: str) -> Problem:
    probe = path
    while probe and probe not in positions:
        probe = probe[:-1]
    line, col = positions.get(probe, (None, None))
    return Problem(file, line, col, _dotted(path), message)


_MODELS = {"": Story, "frames": Frame, "characters": Character, "outpaint": Outpaint, "choices": Choice}


def _model_for(loc: tuple[Any, ...]) -> type[BaseModel]:
    model: type[BaseModel] = Story
    for part in loc:
        if isinstance(part, str) and part in _MODELS and part != "":
            model = _MODELS[part]
    return model


def _problem_from_pydantic(file: str, positions: dict, err: Any) -> Problem:
    loc = tuple(err["loc"])
    # pydantic reports union members as extra loc parts ("str", "list[str]"): drop them
    loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in {"str", "int", "float", "bool"})))
    loc = tuple("from" if p == "from_" else p for p in loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = loc[:-1]
        model = _model_for(tuple(p for p in parent if isinstance(p, str)))
        names = [f.alias or n for n, f in model.model_fields.items()]
        msg = f"unknown key{_nearest(str(loc[-1]), names)}"
        if not _nearest(str(loc[-1]), names):
            msg += f"; valid keys: {', '.join(sorted(names))}"
        return _problem(file, positions, (*loc, "__key__"), msg)
    if kind == "missing":
        return _problem(file, positions, loc, "required key is missing")
    msg = err["msg"]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        got = err.get("input")
        msg = f"{msg} (got {type(got).__name__} {str(got)[:40]!r})" if got is not None else msg
    msg = msg.replace("Value error, ", "")
    return _problem(file, positions, loc, msg)


def _merge_unions(problems: list[Problem]) -> list[Problem]:
    """Report a key once: pydantic lists each member of a union (`str | list[str]`) on its own."""
    merged: dict[tuple[Any, ...], Problem] = {}
    prefix = "Input should be a valid "
    for p in problems:
        key = (p.line, p.column, p.path)
        old = merged.get(key)
        if old is None:
            merged[key] = p
            continue
        head, sep, got = old.message.partition(" (got ")
        more = p.message.partition(" (got ")[0]
        if head.startswith(prefix) and more.startswith(prefix):
            kinds = head[len(prefix):].replace(" or ", ", ").split(", ") + [more[len(prefix):]]
            joined = ", ".join(kinds[:-1]) + " or " + kinds[-1]
            merged[key] = Problem(p.file, p.line, p.column, p.path, f"{prefix}{joined}{sep}{got}")
        else:
            merged[(*key, len(merged))] = p
    return list(merged.values())


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.line or 0, p.column or 0))


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema of the story format, for editors."""
    schema = Story.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "storyboard story"
    return schema
