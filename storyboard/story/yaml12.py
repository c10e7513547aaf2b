"""YAML as a story file is read: YAML 1.2 core-schema scalars (`16:9` and `no` are text, `010` is
ten), numbers that remember how they were written, and a writer's usual YAML mistakes explained
(a colon or `{{` in an unquoted value, a tab) with what to do."""

from __future__ import annotations

import functools
import re
from typing import Any

BOOL, INT, FLOAT = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
# YAML 1.1 tags PyYAML resolves that YAML 1.2's core schema does not: dates, `=`, and its own
# bool, int and float rules (`on`, `no`, base 60 `16:9`, octal `010`), replaced below.
_DROPPED = {BOOL, INT, FLOAT, "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"}
_CORE = (  # https://yaml.org/spec/1.2.2/#1032-tag-resolution
    (BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    (INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (FLOAT, r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     "-+.0123456789"),
)


class _Sourced:
    """A YAML number that keeps, as text, what the writer wrote."""

    source: str

    def __new__(cls, value: float, source: str) -> _Sourced:
        obj = super().__new__(cls, value)  # type: ignore[call-arg]  # int's or float's
        obj.source = source
        return obj

    def __str__(self) -> str:
        return self.source


class YamlInt(_Sourced, int):
    """An integer read from YAML; as text it is what the writer wrote (`007` stays `007`)."""


class YamlFloat(_Sourced, float):
    """A float read from YAML; as text it is what the writer wrote (`2.50` stays `2.50`)."""


def as_text(value: Any) -> Any:
    """Return a YAML number as the text it was written as (a caption `1984`); anything else as is."""
    return value.source if isinstance(value, YamlInt | YamlFloat) else value


def plain(value: Any) -> Any:
    """Return `value` with YAML numbers made plain int and float, through lists and mappings."""
    if isinstance(value, YamlInt):
        return int(value)
    if isinstance(value, YamlFloat):
        return float(value)
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@functools.cache
def loader(pure: bool = False) -> type:
    """Return the story Loader: libyaml's parser where present (unless `pure`), YAML 1.2 core-schema scalars."""
    import yaml

    base = yaml.SafeLoader if pure else getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc,valid-type]
        """SafeLoader with YAML 1.2 core-schema scalar resolution."""

    resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {
        k: [(tag, rx) for tag, rx in v if tag not in _DROPPED] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    for tag, rx, first in _CORE:
        for ch in first:
            resolvers.setdefault(ch, []).append((tag, re.compile(rx)))
    Loader.yaml_implicit_resolvers = {k: v for k, v in resolvers.items() if v}
    Loader.add_constructor(INT, _construct_int)
    Loader.add_constructor(FLOAT, _construct_float)
    return Loader


def _construct_int(loader: Any, node: Any) -> YamlInt:
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return YamlInt(int(text[2:], 8), text)
    if text.startswith("0x"):
        return YamlInt(int(text[2:], 16), text)
    return YamlInt(int(text, 10), text)


def _construct_float(loader: Any, node: Any) -> YamlFloat:
    text = loader.construct_scalar(node)
    low = text.lower().lstrip("+")
    value = float("nan") if low == ".nan" else float(low.replace(".inf", "inf"))
    return YamlFloat(value, text)


# -- the writer's usual mistakes -------------------------------------------------------------------

_BLOCK_START = re.compile(r"(?:^|:|-)\s*[|>][-+0-9]*\s*(?:#.*)?$")
_KEY_VALUE = re.compile(r"^(?P<lead>\s*(?:-\s+)*)(?P<key>[^\s'\"#{\[\]},&*!|>%@`-][^:#]*?|'[^']*'|\"[^\"]*\"):[ \t]+(?P<value>\S.*)$")
_ITEM_VALUE = re.compile(r"^(?P<lead>\s*(?:-\s+)+)(?P<value>\S.*)$")
QUOTE_IT = "put the value in quotes"


def mistakes(text: str, error: Any) -> list[tuple[int, int, str]]:
    """Return (line, column, message) for each writer's mistake behind a YAML error, or [] when
    the error is none of them (then the parser's own words are the best there are)."""
    problem = str(getattr(error, "problem", "") or "")
    mark = getattr(error, "problem_mark", None)
    at_line = mark.line + 1 if mark else None
    lines = _content_lines(text)

    tabs = [(n, indent.index("\t") + 1) for n, line in lines if "\t" in (indent := line[: len(line) - len(line.lstrip(" \t"))])]
    if "'\\t'" in problem or any(n == at_line for n, _ in tabs):
        return [(n, c, "a tab in the indentation; indent with spaces") for n, c in tabs] or (
            [(at_line, mark.column + 1, "a tab where YAML expects spaces; indent with spaces")] if mark else []
        )

    braces = [(n, c, v) for n, c, k, v in _values(lines) if v.startswith("{{")]
    context = getattr(error, "context_mark", None)
    near = {at_line, context.line + 1 if context else None}
    if braces and any(n in near for n, _, _ in braces):
        return [(n, c, f"a value that starts with `{{{{` reads as a YAML mapping; {QUOTE_IT}: {_quoted_line(lines, n)}")
                for n, c, _ in braces]

    values = _values(lines)
    before = [(n, c, v) for n, c, _, v in values if at_line is None or n <= at_line]
    apostrophes = [(n, c, v) for n, c, v in before if _closes_early(v)]
    if apostrophes:
        return [(n, c, "an apostrophe inside single quotes ends the value there; write it twice (`it''s`) or put the "
                 f"value in double quotes: {_double_quoted(lines, n)}") for n, c, _ in apostrophes]
    unclosed = [(n, c, v) for n, c, v in before if n != at_line and _unclosed(v)]
    if unclosed:
        n, c, v = unclosed[-1]
        kind = "double" if v.startswith('"') else "single"
        reads_on = " to the end of the file" if "end of stream" in problem else f" to line {at_line}" if at_line else ""
        return [(n, c, f"the {kind} quote that opens this value is not closed on its line, so YAML reads on"
                 f"{reads_on}; close it at the end of the value")]

    if problem.startswith("mapping values are not allowed") and mark:
        line = dict(lines).get(at_line, "")
        colons = [(n, c, v) for n, c, k, v in _values(lines) if k is not None and _inner_colon(v)]
        if any(n == at_line for n, _, _ in colons):
            return [(n, c, f"a colon and a space inside a value start a new key; {QUOTE_IT}: {_quoted_line(lines, n)}")
                    for n, c, _ in colons]
        col = len(line) - len(line.lstrip()) + 1
        return [(at_line, col, "this line is indented deeper than the key above it (YAML reads it as more of that "
                 "value); line it up with the keys above")]
    return []


def _content_lines(text: str) -> list[tuple[int, str]]:
    """Return (line number, line) of the lines outside block scalars (`|`, `>`) and comments."""
    out: list[tuple[int, str]] = []
    block_indent: int | None = None
    for n, line in enumerate(text.splitlines(), 1):
        indent = len(line) - len(line.lstrip(" "))
        if block_indent is not None:
            if not line.strip() or indent > block_indent:
                continue
            block_indent = None
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        out.append((n, line))
        if _BLOCK_START.search(line):
            block_indent = indent
    return out


def _values(lines: list[tuple[int, str]]) -> list[tuple[int, int, str | None, str]]:
    """Return (line, column of the value, key or None for a list item, plain value) of each line."""
    out: list[tuple[int, int, str | None, str]] = []
    for n, line in lines:
        m = _KEY_VALUE.match(line)
        key: str | None = None
        if m:
            key, value, col = m["key"], m["value"], m.start("value")
        elif mm := _ITEM_VALUE.match(line):
            value, col = mm["value"], mm.start("value")
        else:
            continue
        out.append((n, col + 1, key, _strip_comment(value)))
    return out


def _strip_comment(value: str) -> str:
    return re.split(r"\s#", value, maxsplit=1)[0].rstrip()


def _inner_colon(value: str) -> bool:
    """Tell whether a plain (unquoted, not flow) value holds `: `, which YAML reads as a key."""
    if not value or value[0] in "\"'{[|>&*!":
        return False
    return bool(re.search(r":(?:\s|$)", value))


def _closes_early(value: str) -> bool:
    """Tell whether a single-quoted value ends before its line does (`'it's a dog'`: at `it'`)."""
    if not value.startswith("'"):
        return False
    i = 1
    while (i := value.find("'", i)) != -1:
        if value[i + 1 : i + 2] == "'":  # '' is a quote inside the value
            i += 2
            continue
        rest = value[i + 1 :].strip()
        return bool(rest) and not rest.startswith("#") and rest[0] not in ",]}"
    return False


def _unclosed(value: str) -> bool:
    """Tell whether a value opens a quote that its line does not close."""
    if not value or value[0] not in "'\"":
        return False
    if value[0] == "'":
        return re.fullmatch(r"'(?:[^']|'')*'.*", value) is None
    return re.fullmatch(r'"(?:[^"\\]|\\.)*".*', value) is None


def _double_quoted(lines: list[tuple[int, str]], n: int) -> str:
    """Return line `n` with its single-quoted value in double quotes, as the writer meant it."""
    line = dict(lines)[n]
    m = _KEY_VALUE.match(line) or _ITEM_VALUE.match(line)
    assert m is not None
    inner = _strip_comment(m["value"])[1:-1] if _strip_comment(m["value"]).endswith("'") else _strip_comment(m["value"])[1:]
    return (line[: m.start("value")] + '"' + inner.replace("''", "'").replace("\\", "\\\\").replace('"', '\\"') + '"').strip()


def _quoted_line(lines: list[tuple[int, str]], n: int) -> str:
    """Return line `n` as it would read with its value quoted (`caption: "MAYA: It is late."`)."""
    line = dict(lines)[n]
    m = _KEY_VALUE.match(line) or _ITEM_VALUE.match(line)
    assert m is not None
    value = _strip_comment(m["value"])
    if '"' not in value:
        quoted = f'"{value}"'
    elif "'" not in value:
        quoted = f"'{value}'"
    else:
        quoted = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return (line[: m.start("value")] + quoted).strip()
