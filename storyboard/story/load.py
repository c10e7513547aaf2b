"""Reading a story file: YAML parsed with positions, validated against the schema, every
problem of a file reported at once with file:line:column, the key path and a fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from storyboard.errors import Problem, StoryError
from storyboard.story.check import check_story
from storyboard.story.schema import (
    ID_RE,
    Character,
    Choice,
    Frame,
    LoadedStory,
    Outpaint,
    Story,
    dotted,
    nearest,
    problem_at,
)
from storyboard.story.templating import unknown_names
from storyboard.story.yaml12 import loader, mistakes, plain

MAX_STORY_BYTES = 2_000_000

MAX_NODES = 200_000  # YAML values after aliases are expanded; a long story has a few thousand
MAX_DEPTH = 50  # nesting of mappings and lists; a story needs about six


def load_story(path: str | Path, *, assets: tuple[Path, ...] = ()) -> LoadedStory:
    """Read, parse and validate a story file; raise StoryError listing every problem.

    `assets`: folders beyond the story's own (and its project's) that its files may lie in."""
    import hashlib

    import yaml

    p = Path(path)
    shown = str(path)
    try:
        with p.open("rb") as f:  # bounded: /dev/zero or a huge file is refused, not read into memory
            raw = f.read(MAX_STORY_BYTES + 1)
    except FileNotFoundError:
        raise StoryError([Problem(shown, None, None, "", "no such file. Check the path.")]) from None
    except IsADirectoryError:
        raise StoryError([Problem(shown, None, None, "", "is a folder; give a story .yaml file.")]) from None
    except OSError as e:
        raise StoryError([Problem(shown, None, None, "", f"cannot be read ({e.strerror}).")]) from None
    if len(raw) > MAX_STORY_BYTES:
        size = p.stat().st_size if p.is_file() else 0
        what = f"is {size:,} bytes" if size > MAX_STORY_BYTES else f"holds more than {MAX_STORY_BYTES:,} bytes"
        raise StoryError([Problem(shown, None, None, "", f"{what}; a story file is at most {MAX_STORY_BYTES:,}.")])
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise StoryError([Problem(shown, None, None, "", "is UTF-16 text; save it as UTF-8 (in most editors: Save As, "
                                  "Encoding UTF-8).")])
    if b"\0" in raw[:8192]:
        raise StoryError([Problem(shown, None, None, "", "is a binary file, not a YAML story.")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = len(raw[raw.rfind(b"\n", 0, e.start) + 1 : e.start].decode("utf-8", "replace")) + 1
        raise StoryError([Problem(shown, line, column, "", "not UTF-8 text (a character saved in another encoding, "
                                  "e.g. Latin-1 or Windows-1252); save the file as UTF-8.")]) from None

    parser = loader()(text)
    positions: dict[tuple[Any, ...], tuple[int, int]] = {}
    problems: list[Problem] = []
    try:
        # libyaml's parser when present (a 1000-frame story: 30 ms instead of 500); on an error the
        # pure-Python parser parses again, for its wording of the message.
        node = parser.get_single_node()
        if node is None:
            raise StoryError([Problem(shown, 1, 1, "", "the file is empty. Start from `storyboard new NAME`.")])
        _walk(node, (), positions, problems, shown)
        data = parser.construct_document(node)
    except yaml.YAMLError as e:
        raise _yaml_error(shown, text, e) from None
    finally:
        parser.dispose()
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
        partial = LoadedStory(_salvage(data), p, "", positions, tuple(assets))
        problems += [q for q in check_story(partial) if q not in problems]
        problems += [q for q in (partial.problem(path, msg) for path, msg in unknown_names(data)) if q not in problems]
        raise StoryError(_sorted(list(dict.fromkeys(problems)))) from None

    loaded = LoadedStory(story, p, hashlib.sha256(raw).hexdigest(), positions, tuple(assets))
    problems += check_story(loaded)
    if problems:  # and what planning would say of unknown names, in the same message
        problems += [q for q in (loaded.problem(path, msg) for path, msg in unknown_names(data)) if q not in problems]
        raise StoryError(_sorted(problems))
    return loaded


def _yaml_error(shown: str, text: str, first: Exception) -> StoryError:
    """Return the StoryError of text the YAML parser refused: what to do where a writer's usual
    mistake is behind it, else the pure-Python parser's words (libyaml's are terser)."""
    import yaml

    error: Exception = first
    if "maximum nesting depth" not in str(first):  # else the pure-Python parser would recurse too deep
        try:
            yaml.load(text, Loader=loader(pure=True))  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as e:
            error = e
        except RecursionError:
            pass
    if "maximum nesting depth" in str(error):
        mark = getattr(error, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        return StoryError([Problem(shown, line, col, "", f"nests more than {MAX_DEPTH} levels deep; a story needs a few.")])
    found = mistakes(text, error)
    if found:
        return StoryError([Problem(shown, line, col, "", f"not valid YAML: {what}") for line, col, what in found])
    mark = getattr(error, "problem_mark", None)
    what = getattr(error, "problem", None) or str(error)
    line = mark.line + 1 if mark else None
    col = mark.column + 1 if mark else None
    return StoryError([Problem(shown, line, col, "", f"not valid YAML: {what}. Check indentation and quotes.")])


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
        fid = fid if isinstance(fid, str) and ID_RE.fullmatch(fid) else None
        return Frame.model_construct(id=fid, prompt="-", choices=[], options={}, takes=1, pick=1, lock=False)

    frames = [valid(Frame, f, blank(f)) for f in raw_frames]
    chars = data.get("characters") if isinstance(data.get("characters"), dict) else {}
    characters = {
        str(k): valid(Character, v, Character.model_construct(description="-")) for k, v in chars.items() if k is not None
    }
    vars_ = {str(k): v for k, v in data["vars"].items() if k is not None} if isinstance(data.get("vars"), dict) else {}
    return Story.model_construct(title="-", frames=frames, characters=characters, vars=vars_)


def _walk(
    node: Any, path: tuple[Any, ...], positions: dict, problems: list[Problem], file: str, _state: Any = None
) -> None:
    import yaml

    # Aliases make the node tree a graph: a 400-byte "billion laughs" would take hours to walk,
    # and an alias inside its own anchor never ends. Count every visit; refuse cycles.
    state = _state if _state is not None else {"count": 0, "open": set()}
    state["count"] += 1
    if len(path) > MAX_DEPTH:
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        raise StoryError([Problem(file, line, col, dotted(path[:1]), f"nests more than {MAX_DEPTH} levels deep; a story needs a few.")])
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
        raise StoryError([Problem(file, line, col, dotted(path), why)])
    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        state["open"].add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode):  # `prompt: {{ x }}` is a mapping with a mapping as its key
                raise yaml.constructor.ConstructorError(None, None, "found a mapping or list as a key", k.start_mark)
            key = k.value
            if key in seen:
                line, col = k.start_mark.line + 1, k.start_mark.column + 1
                where = dotted((*path, key))
                problems.append(Problem(file, line, col, where, "duplicate key; the later one would silently win"))
            seen.add(key)
            positions[(*path, key, "__key__")] = (k.start_mark.line + 1, k.start_mark.column + 1)
            _walk(v, (*path, key), positions, problems, file, state)
    elif isinstance(node, yaml.SequenceNode):
        for j, v in enumerate(node.value):
            _walk(v, (*path, j), positions, problems, file, state)
    state["open"].discard(id(node))


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
        msg = f"unknown key{nearest(str(loc[-1]), names)}"
        if not nearest(str(loc[-1]), names):
            msg += f"; valid keys: {', '.join(sorted(names))}"
        return problem_at(file, positions, (*loc, "__key__"), msg)
    if kind == "missing":
        return problem_at(file, positions, loc, "required key is missing")
    if loc == ("frames",) and (kind == "too_short" or err.get("input") is None):
        return problem_at(file, positions, loc, "a story needs at least one frame, e.g. `frames: [{prompt: a lighthouse at dusk}]`")
    msg = err["msg"]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        got = plain(err.get("input"))
        msg = f"{msg} (got {type(got).__name__} {str(got)[:40]!r})" if got is not None else msg
    msg = msg.replace("Value error, ", "")
    return problem_at(file, positions, loc, msg)


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

