"""Round-trip YAML for `storyboard apply`: ruamel.yaml set up to write a story back as its writer
wrote it, and the text-level steps that keep a diff to the lines that changed.

- `round_trip(text)`: a ruamel.yaml instance in round-trip mode with `preserve_quotes`, a line
  width that never refolds a long prompt, and the file's own indentation guessed.
- `splice(original, base, ours)`: ruamel may re-space a few lines it did not change (a flow
  mapping's braces, a doubled space after a colon, an unused anchor); the edit it made (base ->
  ours) is carried onto the original text instead, so those lines stay as they were.
- `reorder(text, order)`: frames move as whole blocks of lines, each with the comments that sit
  on it, while the blank lines between frames keep their places.
"""

from __future__ import annotations

import difflib
import io
import re
from dataclasses import dataclass
from typing import Any

WIDTH = 1 << 30  # wider than any prompt: a long line is never folded


@dataclass(frozen=True)
class Indent:
    """A file's block indentation, as ruamel.yaml's `indent(mapping, sequence, offset)` takes it."""

    mapping: int = 2
    sequence: int = 4
    offset: int = 2


def yaml_rt(indent: Indent, *, explicit_start: bool = False) -> Any:
    """Return a round-trip ruamel.yaml instance for a file with this indentation."""
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = WIDTH
    y.indent(mapping=indent.mapping, sequence=max(indent.sequence, indent.offset + 2), offset=indent.offset)
    y.explicit_start = explicit_start
    return y


def load_rt(text: str) -> tuple[Any, Any]:
    """Parse text in round-trip mode; return (data, the YAML instance set up to dump it the same way)."""
    probe = yaml_rt(Indent())
    data = probe.load(text)
    y = yaml_rt(guess_indent(data), explicit_start=bool(re.match(r"(?:\s*#[^\n]*\n|\s*\n)*---(?:\s|$)", text)))
    return y.load(text), y


def dump(y: Any, data: Any) -> str:
    """Return the text of `data` as `y` writes it."""
    out = io.StringIO()
    y.dump(data, out)
    return out.getvalue()


def guess_indent(data: Any) -> Indent:
    """Return the indentation of the first nested block mapping and block sequence in the file."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    mapping = sequence = offset = None
    stack = [data]
    while stack and (mapping is None or sequence is None):
        node = stack.pop(0)
        if not isinstance(node, CommentedMap):
            if isinstance(node, CommentedSeq):
                stack.extend(node)
            continue
        for key in list(node.keys()):
            try:
                value = node[key]
                key_line, key_col, _, _ = node.lc.data[key]
            except (KeyError, TypeError, ValueError):
                continue
            if isinstance(value, CommentedMap) and mapping is None and not value.fa.flow_style() and len(value):
                first = next(iter(value))
                if first in value.lc.data and value.lc.data[first][0] > key_line:
                    mapping = value.lc.data[first][1] - key_col
            if (
                isinstance(value, CommentedSeq) and sequence is None and not value.fa.flow_style() and len(value)
                and value.lc.line > key_line and 0 in value.lc.data
            ):
                offset = value.lc.col - key_col
                sequence = value.lc.data[0][1] - key_col
            stack.append(value)
    ind = Indent()
    mapping = mapping if mapping and mapping > 0 else ind.mapping
    if sequence is None or offset is None or offset < 0 or sequence < offset + 2:
        sequence, offset = ind.sequence if mapping == 2 else mapping + 2, ind.offset if mapping == 2 else mapping
    return Indent(mapping, sequence, offset)


def splice(original: str, base: str, ours: str) -> str | None:
    """Return `original` with the edit base -> ours applied, or None where it cannot be carried over."""
    if base == original:
        return ours
    o, b, u = original.splitlines(True), base.splitlines(True), ours.splitlines(True)
    to_o: dict[int, int] = {}
    # Lines are matched by their text without the spaces (ruamel writes `key: value` where a
    # writer may have aligned `key:    value`, or `{ a: b }` as `{a: b}`): an untouched line keeps
    # its layout, and a changed one keeps the spaces after its key.
    squeeze = [_squeezed(line) for line in b], [_squeezed(line) for line in o]
    for blk in difflib.SequenceMatcher(None, *squeeze, autojunk=False).get_matching_blocks():
        for k in range(blk.size):
            to_o[blk.a + k] = blk.b + k
    out: list[str] = []
    pos = 0  # next line of the original not yet copied
    for tag, b1, b2, u1, u2 in difflib.SequenceMatcher(None, b, u, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if b1 < b2:  # replace or delete: every line of base must stand unchanged in the original
            if any(k not in to_o for k in range(b1, b2)) or to_o[b2 - 1] - to_o[b1] != b2 - b1 - 1:
                return None
            start, end = to_o[b1], to_o[b2 - 1] + 1
        else:  # insert before base line b1
            if b1 in to_o:
                start = end = to_o[b1]
            elif b1 - 1 in to_o:
                start = end = to_o[b1 - 1] + 1
            elif b1 == 0:
                start = end = 0
            else:
                return None
        if start < pos:
            return None
        new = u[u1:u2]
        if end - start == len(new):  # line for line: each keeps the gap its writer left after its key
            new = [_gap_kept(was, line) for was, line in zip(o[start:end], new, strict=True)]
        out += o[pos:start] + new
        pos = end
    return "".join(out + o[pos:])


_KEY_GAP = re.compile(r"^(?P<key>\s*(?:-\s+)*[^\s:#'\"{}\[\],][^:#]*?:)(?P<gap>[ \t]+)(?=\S)")


def _squeezed(line: str) -> str:
    """Return a line without its whitespace, to tell a line from its re-spaced self."""
    return "".join(line.split())


def _gap_kept(was: str, line: str) -> str:
    """Return `line` with the spaces after its key as `was` (the same key's line before) had them."""
    a, b = _KEY_GAP.match(was), _KEY_GAP.match(line)
    if a is None or b is None or a["key"] != b["key"] or a["gap"] == b["gap"]:
        return line
    return a["key"] + a["gap"] + line[b.end():]


@dataclass(frozen=True)
class _Block:
    lead: list[str]  # comment lines directly above the item's dash
    body: list[str]  # the item, with comments indented deeper than its dash right after it


def reorder(text: str, data: Any, key: str, order: list[int]) -> str | None:
    """Return `text` with the block sequence `data[key]` in the order `order` (old indexes), each
    item moving with its comments; None when the sequence is not a block sequence of mappings."""
    from ruamel.yaml.comments import CommentedSeq

    seq = data.get(key)
    if not isinstance(seq, CommentedSeq) or seq.fa.flow_style() or len(seq) != len(order) or len(seq) < 2:
        return None
    ends_nl = text.endswith("\n")
    lines = text.splitlines(True)
    if not ends_nl:
        lines[-1] += "\n"
    dash_col = seq.lc.col
    starts = []
    for i in range(len(seq)):
        line = seq.lc.data[i][0]
        while line >= 0 and not _is_dash(lines[line], dash_col):
            line -= 1
        if line < 0 or (starts and line <= starts[-1]):
            return None
        starts.append(line)
    keys = list(data.keys())
    nxt = keys.index(key) + 1
    # What follows the last frame at the dash's column or left of it (a comment above the next
    # key) stays where it is: it is not the last frame's.
    region_end = data.lc.data[keys[nxt]][0] if nxt < len(keys) else len(lines)

    blocks: list[_Block] = []
    seps: list[list[str]] = []
    pre_lead = _lead(lines, data.lc.data[key][0] + 1, starts[0])
    pre = lines[: starts[0] - len(pre_lead)]
    lead = pre_lead
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else region_end
        region = lines[start:stop]
        body_len = _body_length(region, dash_col)
        body = region[:body_len]
        rest = region[body_len:]
        if i + 1 < len(starts):
            nlead = _trailing_comments(rest)
            seps.append(rest[: len(rest) - len(nlead)])
        else:
            nlead = []
            seps.append(rest)
        blocks.append(_Block(lead, body))
        lead = nlead
    out = list(pre)
    for pos, old in enumerate(order):
        out += blocks[old].lead + blocks[old].body + seps[pos]
    out += lines[region_end:]
    result = "".join(out)
    return result if ends_nl else result[:-1]


def _is_dash(line: str, col: int) -> bool:
    return len(line) > col and line[:col].strip() == "" and line[col] == "-" and (len(line) == col + 1 or line[col + 1] in " \t\r\n")


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _is_blank(line: str) -> bool:
    return not line.strip()


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _lead(lines: list[str], first: int, dash: int) -> list[str]:
    """Return the comment lines directly above line `dash` (not above `first`)."""
    k = dash
    while k > first and _is_comment(lines[k - 1]):
        k -= 1
    return lines[k:dash]


def _trailing_comments(lines: list[str]) -> list[str]:
    k = len(lines)
    while k > 0 and _is_comment(lines[k - 1]):
        k -= 1
    return lines[k:]


def _body_length(region: list[str], dash_col: int) -> int:
    """Return how many lines of an item's region are the item: up to its last content line, plus
    comments indented deeper than the dash that follow it without a blank line."""
    last = 0
    for k, line in enumerate(region):
        if not _is_blank(line) and not _is_comment(line):
            last = k
    n = last + 1
    while n < len(region) and _is_comment(region[n]) and _indent_of(region[n]) > dash_col:
        n += 1
    return n
