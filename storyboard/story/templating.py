"""Prompt templates: Jinja2, sandboxed, strict about undefined names, bounded in time and size.

Only values known before the run are in scope, so `plan` can price every request.
"""

from __future__ import annotations

import functools
import re
import sys
import time
from dataclasses import dataclass
from typing import Any

from storyboard.story.schema import RESERVED, LoadedStory

RENDER_SECONDS = 2.0  # a prompt renders in microseconds; a loop of 10^10 steps never ends
MAX_RENDER_CHARS = 100_000  # the longest prompt a model takes is 32,000 characters


class TemplateProblem(Exception):
    """A prompt template cannot be rendered; the message says why and where in the template
    (`path`: the story key it belongs to, for a var's or a description's own template)."""

    def __init__(self, message: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class CharacterValue:
    """A character in a template: renders as its description."""

    name: str
    description: str

    def __str__(self) -> str:
        return self.description


_PLAIN = (str, int, float, CharacterValue)  # bool is an int: str(True) == "True", as in Jinja


class _Overtime(Exception):
    """Raised inside a template that runs past its deadline."""


@functools.cache
def _env() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Env(ImmutableSandboxedEnvironment):
        """The sandbox, with `*` and `**` refused where they would build something huge."""

        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*" and isinstance(left, int) and isinstance(right, str | list | tuple):
                left, right = right, left
            if (operator == "*" and isinstance(left, str | list | tuple) and isinstance(right, int)
                    and len(left) * right > MAX_RENDER_CHARS):
                raise TemplateProblem(f"`* {right}` makes more than {MAX_RENDER_CHARS:,} characters or items")
            if (operator == "**" and isinstance(left, int | float) and isinstance(right, int | float)
                    and abs(left) > 1 and abs(right) > 1024):
                raise TemplateProblem(f"`{left} ** {right}` is too large a number for a prompt")
            return super().call_binop(context, operator, left, right)

    return Env(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def _bounded(template: Any, scope: dict[str, Any]) -> str:
    """Render with a deadline (a trace hook in the template's own frames: a thread cannot stop a
    Jinja loop) and a cap on the text made; raise TemplateProblem past either."""
    deadline = time.monotonic() + RENDER_SECONDS

    def in_template(frame: Any, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise _Overtime
        return in_template

    def on_call(frame: Any, event: str, arg: Any) -> Any:
        return in_template if frame.f_code.co_filename == "<template>" else None

    chunks: list[str] = []
    size = 0
    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        for chunk in template.generate(scope):
            size += len(chunk)
            if size > MAX_RENDER_CHARS:
                raise TemplateProblem(f"the template makes more than {MAX_RENDER_CHARS:,} characters; a prompt is far shorter")
            chunks.append(chunk)
    except _Overtime:
        raise TemplateProblem(f"the template still ran after {RENDER_SECONDS:g} s (a loop that never ends?); simplify it") from None
    finally:
        sys.settrace(previous)
    return "".join(chunks)


def parse(source: str) -> Any:
    """Parse a template; raise TemplateProblem with the template line on a syntax error."""
    from jinja2 import TemplateSyntaxError

    try:
        return _env().parse(source)
    except TemplateSyntaxError as e:
        raise TemplateProblem(f"template line {e.lineno}: {e.message}") from None


_SIMPLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def simple_names(source: str) -> list[str] | None:
    """Return the names of a template made only of text and `{{ name }}`; None for any other.

    Most prompts are that simple, and substituting them directly is ~100x cheaper than
    compiling them with Jinja (which a 1000-frame `plan` would do 1000 times)."""
    if "{%" in source or "{#" in source:
        return None
    parts = _SIMPLE.split(source)
    if any("{{" in text or "}}" in text for text in parts[::2]):
        return None
    return parts[1::2]


def unknown_names(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """Return (path, message) for each name a frame's prompt uses that nothing defines, read from a
    story's raw data: what planning would say, said with the story's other problems in one message."""
    from jinja2 import meta

    frames = data.get("frames") if isinstance(data.get("frames"), list) else []
    known = {str(k) for key in ("vars", "characters") if isinstance(data.get(key), dict) for k in data[key]}
    known |= RESERVED | set(_env().globals)
    out = []
    for i, f in enumerate(frames):
        prompt = f.get("prompt") if isinstance(f, dict) else None
        if not isinstance(prompt, str) or "{" not in prompt:
            continue
        try:
            simple = simple_names(prompt)
            used = set(simple) if simple is not None else set(meta.find_undeclared_variables(parse(prompt)))
        except TemplateProblem:
            continue  # a syntax error: planning names it, with its line in the template
        fid = f.get("id") if isinstance(f.get("id"), str) else None
        for name in sorted(used - known):
            scope = dict.fromkeys(known - set(_env().globals))
            msg = _undefined_message(f"'{name}' is undefined", scope)
            out.append((("frames", i, "prompt"), f"frame {i + 1}{' ' + fid if fid else ''}: {msg}"))
    return out


def names_used(source: str) -> set[str]:
    """Return the top-level names a template uses, plus `characters.X` / `characters['X']` (and the
    same of `vars`) as X."""
    from jinja2 import meta, nodes

    simple = simple_names(source)
    if simple is not None:
        return set(simple)
    ast = parse(source)
    found = set(meta.find_undeclared_variables(ast))
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        target = node.node
        if isinstance(target, nodes.Name) and target.name in ("characters", "vars"):
            if isinstance(node, nodes.Getattr):
                found.add(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                found.add(node.arg.value)
    return found


class Renderer:
    """Render every frame's prompt of one story, each at most once."""

    def __init__(self, loaded: LoadedStory) -> None:
        self.loaded = loaded
        s = loaded.story
        self._raw_characters = {n: CharacterValue(n, c.description) for n, c in s.characters.items()}
        self._values: tuple[dict[str, Any], dict[str, CharacterValue]] | TemplateProblem | None = None
        self._done: dict[int, str] = {}
        self._busy: set[int] = set()
        self._ids = {f.id: i for i, f in enumerate(s.frames) if f.id}
        self._choices = loaded.has_choices  # once: a scan of every frame, asked for each prompt

    def prompt(self, index: int) -> str:
        """Return frame `index`'s rendered prompt (raises TemplateProblem)."""
        if index in self._done:
            return self._done[index]
        if index in self._busy:
            raise TemplateProblem("prompts refer to each other in a circle (through `frames[...]` or `previous`)")
        self._busy.add(index)
        try:
            text = self.render(self.loaded.story.frames[index].prompt, index)
        finally:
            self._busy.discard(index)
        self._done[index] = text
        return text

    def render(self, source: str, index: int | None) -> str:
        """Render a template in the scope of frame `index` (None: no frame, e.g. a character sheet)."""
        variables, characters = self.values()
        s = self.loaded.story
        scope: dict[str, Any] = {**variables, **characters, "characters": characters, "vars": dict(variables)}
        if index is not None:
            f = s.frames[index]
            scope["frame"] = {"id": f.id, "number": index + 1}
            scope["frames"] = _LazyFrames(self)
            if index > 0 and not self._choices:
                scope["previous"] = _LazyFrame(self, index - 1)
        no_previous = None
        if index is not None and "previous" not in scope:
            no_previous = ("a story with choices has no reading order; name the frame: frames['some-id']"
                           if self._choices else "the first frame has no previous frame")
        return _render(source, scope, no_previous)

    @property
    def characters(self) -> dict[str, CharacterValue]:
        """Return the characters, their descriptions rendered (`{{ palette }}` in one is a var's value)."""
        return self.values()[1]

    def values(self) -> tuple[dict[str, Any], dict[str, CharacterValue]]:
        """Return the vars and the characters with the templates in their values rendered, once:
        `style: "ink, {{ palette }}"` reads another var, a description may too (raises TemplateProblem)."""
        if self._values is None:
            try:
                self._values = _resolve(dict(self.loaded.story.vars), self._raw_characters)
            except TemplateProblem as e:
                self._values = e
        if isinstance(self._values, TemplateProblem):
            raise self._values
        return self._values


def _resolve(variables: dict[str, Any], characters: dict[str, CharacterValue]) -> tuple[dict[str, Any], dict[str, CharacterValue]]:
    """Render the templates in vars' values and characters' descriptions, each after those it reads."""
    raw: dict[str, Any] = {**variables, **{n: c.description for n, c in characters.items()}}
    done: dict[str, Any] = {}
    busy: list[str] = []

    def where(name: str) -> str:
        return f"characters.{name}.description" if name in characters else f"vars.{name}"

    def path(name: str) -> tuple[str, ...]:
        return ("characters", name, "description") if name in characters else ("vars", name)

    def value(name: str) -> Any:
        if name in done:
            return done[name]
        text = raw[name]
        if not (isinstance(text, str) and ("{{" in text or "{%" in text)):
            done[name] = text
            return text
        if name in busy:
            circle = " -> ".join(where(n) for n in [*busy[busy.index(name):], name])
            raise TemplateProblem(f"vars and descriptions refer to each other in a circle: {circle}", path(name))
        busy.append(name)
        try:
            for dep in sorted(names_used(text) & raw.keys()):
                value(dep)
            # What it reads is rendered by now; the rest is in scope as written (for "did you mean").
            scope = {k: CharacterValue(k, str(v)) if k in characters else v for k, v in {**raw, **done}.items()}
            scope |= {"characters": {k: v for k, v in scope.items() if k in characters},
                      "vars": {k: v for k, v in scope.items() if k in variables}}
            try:
                done[name] = _render(text, scope)
            except TemplateProblem as e:
                raise TemplateProblem(str(e), e.path or path(name)) from None  # said at its own line
            if len(str(done[name])) > MAX_RENDER_CHARS:  # each step bounded: `{{ v }}{{ v }}` 30 deep is 2 GB
                raise TemplateProblem(f"the value grows to more than {MAX_RENDER_CHARS:,} characters; a var is a "
                                      "phrase, not a page", path(name))
        finally:
            busy.pop()
        return done[name]

    for name in raw:
        value(name)
    return ({k: done[k] for k in variables if k not in characters},
            {n: CharacterValue(n, str(done[n])) for n in characters})


def _render(source: str, scope: dict[str, Any], no_previous: str | None = None) -> str:
    """Render one template in `scope` (raises TemplateProblem saying why; `no_previous`: why a frame
    has no `previous`, when it has none)."""
    from jinja2 import TemplateError, UndefinedError
    from jinja2.exceptions import SecurityError

    simple = simple_names(source)
    if simple is not None and all(isinstance(scope.get(n), _PLAIN) for n in simple):
        # what Jinja would render: each value's str() in place of its `{{ name }}`
        parts = _SIMPLE.split(source)
        parts[1::2] = [str(scope[n]) for n in simple]
        return "".join(parts).strip()
    try:
        return _bounded(_env().from_string(source), scope).strip()
    except SecurityError as e:
        raise TemplateProblem(f"not allowed in a prompt: {e}") from None
    except UndefinedError as e:
        msg = _undefined_message(str(e), scope)
        if msg.startswith("`previous` is undefined") and no_previous:
            msg = f"`previous` is undefined: {no_previous}"
        raise TemplateProblem(msg) from None
    except TemplateError as e:
        line = getattr(e, "lineno", None)
        raise TemplateProblem(f"template line {line}: {e}" if line else str(e)) from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as e:  # the template's own code: 1/0, range(10**9)
        import traceback

        lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if f.filename == "<template>"]
        what = "`include`, `import` and `extends` are not available in prompts" if "no loader" in str(e) else str(e)
        raise TemplateProblem(f"template line {lines[-1]}: {what}" if lines else what) from None


class _LazyFrame:
    """A frame whose prompt is rendered only if a template reads it."""

    def __init__(self, renderer: Renderer, index: int) -> None:
        self._r, self._i = renderer, index

    def __getattr__(self, name: str) -> Any:
        if name == "prompt":
            return self._prompt()
        if name in {"id", "number", "caption"}:  # known without rendering: no false circles
            f = self._r.loaded.story.frames[self._i]
            return {"id": f.id, "number": self._i + 1, "caption": f.caption}[name]
        raise AttributeError(name)

    def __str__(self) -> str:
        return self._prompt()

    def _prompt(self) -> str:
        try:
            return self._r.prompt(self._i)
        except TemplateProblem as e:
            if "in a circle" in str(e):
                raise
            f = self._r.loaded.story.frames[self._i]
            name = f"frame {self._i + 1}{' ' + f.id if f.id else ''}"
            raise TemplateProblem(f"it uses the prompt of {name}, which has a problem ({e})") from None


class _LazyFrames:
    """`frames['some-id']` in templates."""

    def __init__(self, renderer: Renderer) -> None:
        self._r = renderer

    def __getitem__(self, key: str) -> _LazyFrame:
        if key not in self._r._ids:
            import difflib

            near = difflib.get_close_matches(str(key), list(self._r._ids), n=1)
            hint = f" (did you mean `{near[0]}`?)" if near else ""
            raise TemplateProblem(f"frames[{key!r}]: no frame has the id `{key}`{hint}")
        return _LazyFrame(self._r, self._r._ids[key])

    def __contains__(self, key: object) -> bool:
        return key in self._r._ids


def _undefined_message(text: str, scope: dict[str, Any]) -> str:
    import difflib
    import re

    m = re.search(r"'([^']+)' is undefined", text)
    attr = re.search(r"'(?:[\w.]+\.)?(\w+) object' has no attribute '([^']+)'", text)
    if not m and attr:  # e.g. `frames['lab'].seed`: say what the value has, not the class's module path
        kinds = {"_LazyFrame": ("frame", "; a frame has id, number, prompt and caption"),
                 "CharacterValue": ("character", "; a character has name and description")}
        kind, has = kinds.get(attr.group(1), (attr.group(1), ""))
        return f"`{attr.group(2)}` is not an attribute of this {kind}{has}"
    if not m:
        return f"{text}; define it under `vars:` or `characters:`"
    name = m.group(1)
    near = difflib.get_close_matches(name, [k for k in scope if not k.startswith("_")], n=1)
    hint = f" (did you mean `{near[0]}`?)" if near else "; define it under `vars:` or `characters:`"
    return f"`{name}` is undefined{hint}"
