"""One change of the changes file written into a frame's mapping (ruamel.yaml round-trip data):
keys added where a writer would put them, values in the old value's quoting style, and never a
write into an anchor, an alias or a merge key (one edit there would change other frames too)."""

from __future__ import annotations

from typing import Any

from storyboard.editor.changes import Change

# Where a new key goes in a frame: after the first of these keys that the frame has.
_AFTER = {
    "pick": ("takes", "prompt", "id"),
    "caption": ("prompt", "id"),
    "notes": ("caption", "prompt", "id"),
    "dialogue": ("notes", "caption", "prompt", "id"),
    "lock": (),
}

_ANCHORED_LINE = "a line of its dialogue carries an anchor that other keys reuse; edit it by hand"


class Refused(Exception):
    """One change cannot be written; the message says why."""


def write(fm: Any, c: Change, shared: set[int]) -> None:
    """Write one change into the frame's mapping (ruamel CommentedMap), or raise Refused."""
    from ruamel.yaml.comments import CommentedMap

    if not isinstance(fm, CommentedMap):
        raise Refused("the frame is not a mapping")
    if id(fm) in shared or _anchor(fm):
        raise Refused(f"the frame is an anchor (&{_anchor(fm) or '...'}) that other parts of the story reuse; edit it by hand")
    own = {k for k, _ in fm.non_merged_items()}
    key = c.field
    if key in fm and key not in own:
        raise Refused(f"its {key} comes from a merge key (`<<:`) that other frames share; edit it by hand")
    old = fm.get(key) if key in own else None
    if old is not None and (id(old) in shared or _anchor(old)):
        raise Refused(f"its {key} carries the anchor &{_anchor(old) or '...'}, which other keys reuse; edit it by hand")

    try:
        _write(fm, c, key, old, shared)
    finally:
        _quote_in_flow(fm, fm.fa.flow_style())


def _write(fm: Any, c: Change, key: str, old: Any, shared: set[int]) -> None:
    from ruamel.yaml.comments import CommentedSeq

    if c.field == "pick":
        _put(fm, key, c.after)
    elif c.field == "lock":
        if c.after:
            _put(fm, key, True)
        else:
            _drop(fm, key)
    elif c.field in ("caption", "notes"):
        if c.after is None or c.after == "":
            _drop(fm, key)
        else:
            _put(fm, key, _scalar(old, c.after))
    elif c.field == "dialogue":
        if not c.after:
            _drop(fm, key)
            return
        lines = list(c.after)
        if isinstance(old, CommentedSeq) and all(_one_line(d) for d in old):
            _edit_lines(old, lines, shared)
        else:
            new = CommentedSeq()
            for s, line in lines:
                new.append(_line(s, line))
            _put(fm, key, new)


def _one_line(d: Any) -> bool:
    from ruamel.yaml.comments import CommentedMap

    return isinstance(d, CommentedMap) and len(d) == 1


def _line(speaker: str, line: str) -> Any:
    from ruamel.yaml.comments import CommentedMap

    item = CommentedMap()
    item[_scalar(None, speaker)] = _scalar(None, line)  # `No:` would be false to a YAML 1.1 reader
    return item


def _edit_lines(seq: Any, lines: list[tuple[str, str]], shared: set[int]) -> None:
    """Make the dialogue sequence say `lines`, in place: lines kept stay as they are (with their
    comments and quoting); a line whose words or whose speaker changed is edited where it is; a
    line moved takes its comments along; removed lines go and new ones come in where they stand."""
    from difflib import SequenceMatcher

    old = [(next(iter(d)), str(d[next(iter(d))])) for d in seq]
    tail = _cut_tail(seq[-1], old[-1][0]) if seq else ""  # what follows the last line stays last
    ops = SequenceMatcher(None, old, lines, autojunk=False).get_opcodes()
    # The same line, a speaker's words or a line's speaker changed: edited where it stands.
    edited = [tag == "replace" and i2 - i1 == j2 - j1
              and all(a[0] == b[0] or a[1] == b[1] for a, b in zip(old[i1:i2], lines[j1:j2], strict=True))
              for tag, i1, i2, j1, j2 in ops]
    # Lines that go from one place may come back at another (a move): those are reused, not rewritten.
    going: dict[tuple[str, str], list[Any]] = {}
    for (tag, i1, i2, _, _), in_place in zip(ops, edited, strict=True):
        if tag in ("delete", "replace") and not in_place:
            for i in range(i1, i2):
                going.setdefault(old[i], []).append(seq[i])
    for (tag, i1, i2, j1, j2), in_place in reversed(list(zip(ops, edited, strict=True))):  # from the end: earlier positions stay valid
        if tag == "equal":
            continue
        if in_place:
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                d, (was, _), (speaker, line) = seq[i], old[i], lines[j]
                if id(d) in shared or _anchor(d) or _anchor(d[was]):
                    raise Refused(_ANCHORED_LINE)
                if speaker == was:
                    d[was] = _scalar(d[was], line)
                else:
                    seq[i] = _respoken(d, was, speaker, line)
            continue
        for i in range(i2 - 1, i1 - 1, -1):
            if id(seq[i]) in shared or _anchor(seq[i]):
                raise Refused(_ANCHORED_LINE)
            del seq[i]
        for offset, j in enumerate(range(j1, j2)):
            back = going.get(lines[j])
            seq.insert(i1 + offset, back.pop(0) if back else _line(*lines[j]))
    _add_tail(seq[-1], next(iter(seq[-1])), tail)


def _respoken(d: Any, was: str, speaker: str, line: str) -> Any:
    """Return a dialogue line given to another speaker: its words as they were (or edited), its comment kept."""
    from ruamel.yaml.comments import CommentedMap

    words = d[was] if str(d[was]) == line else _scalar(d[was], line)
    item = CommentedMap()
    key = _scalar(None, speaker)
    item[key] = words
    entry = d.ca.items.get(was)
    if entry:
        token = entry[2] if len(entry) > 2 else None
        column = getattr(getattr(token, "start_mark", None), "column", None)
        if isinstance(column, int):  # the comment keeps its distance from the words
            from ruamel.yaml.error import CommentMark
            from ruamel.yaml.tokens import CommentToken

            entry = [*entry[:2], CommentToken(token.value, CommentMark(max(0, column + len(speaker) - len(was)))), *entry[3:]]
        item.ca.items[key] = entry
    return item


def _put(fm: Any, key: str, value: Any) -> None:
    if key in fm:
        fm[key] = value
        return
    own = [k for k, _ in fm.non_merged_items()]
    at = len(own)
    for prev in _AFTER[key]:
        if prev in own:
            at = own.index(prev) + 1
            break
    # ruamel counts a merge key (`<<: *x`) as a position of its own.
    merge_pos = getattr(getattr(fm, "merge", None), "merge_pos", -1)
    pos = at + 1 if 0 <= merge_pos <= at else at
    tail = ""
    if at == len(own) and own:
        # What follows the frame's last line (a blank line, the comments above the next frame) must
        # stay after the frame: it moves to the new last line.
        tail = _cut_tail(*_last_key(fm, own[-1]))
    fm.insert(pos, key, value)
    _add_tail(*_last_key(fm, key), tail)


def _last_key(fm: Any, key: str) -> tuple[Any, Any]:
    """Return the mapping and key whose value is written last under fm[key] (a new dialogue's last
    line): a comment that follows it is written after the whole value, not between key and value."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    holder, last = fm, key
    while True:
        value = holder[last]
        if isinstance(value, CommentedSeq) and value and isinstance(value[-1], CommentedMap) and value[-1]:
            value = value[-1]
        if not (isinstance(value, CommentedMap) and value):
            return holder, last
        holder, last = value, list(value.keys())[-1]


def _drop(fm: Any, key: str) -> None:
    if key not in fm:
        return
    last = list(fm.keys())[-1] == key
    # Its own comment goes with it; what follows the frame (the next frame's lead) stays.
    tail = _cut_tail(*_last_key(fm, key)) if last else ""
    fm.ca.items.pop(key, None)
    del fm[key]
    if len(fm):
        _add_tail(*_last_key(fm, list(fm.keys())[-1]), tail)


def _cut_tail(holder: Any, key: Any) -> str:
    """Cut what follows holder[key]'s line (blank lines, comments on lines of their own) off its
    comment, keeping the comment on the line itself; return what was cut."""
    entry = holder.ca.items.get(key)
    token = entry[2] if isinstance(entry, list) and len(entry) > 2 else None
    value = getattr(token, "value", None)
    if not isinstance(value, str) or "\n" not in value:
        return ""
    own, tail = value.split("\n", 1)
    if own.strip():
        token.value = own + "\n"
    else:
        entry[2] = None
        if not any(entry):
            del holder.ca.items[key]
    return tail


def _add_tail(holder: Any, key: Any, tail: str) -> None:
    """Put `tail` (from _cut_tail) after holder[key]'s line and its comment."""
    if not tail:
        return
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    entry = holder.ca.items.setdefault(key, [None, None, None, None])
    token = entry[2]
    if token is not None and isinstance(token.value, str):
        token.value = token.value.rstrip("\n") + "\n" + tail
    else:
        entry[2] = CommentToken("\n" + tail, CommentMark(0))


def _scalar(old: Any, new: str) -> Any:
    """Return `new` as a YAML string in the old value's style, quoted wherever a YAML 1.1 reader
    (PyYAML, older tools) would read it as something else (`No`, `16:9`, `010`, `=`)."""
    from ruamel.yaml.scalarstring import (
        DoubleQuotedScalarString,
        FoldedScalarString,
        LiteralScalarString,
        SingleQuotedScalarString,
    )

    multi = "\n" in new.rstrip("\n") or isinstance(old, (LiteralScalarString, FoldedScalarString)) and "\n" in new
    if multi and _literal_safe(new):
        return LiteralScalarString(new)
    if not _printable(new) or multi:
        return DoubleQuotedScalarString(new)  # escapes: the one style that holds any character
    if isinstance(old, SingleQuotedScalarString):
        return SingleQuotedScalarString(new)
    if isinstance(old, DoubleQuotedScalarString) or _misread(new):
        return DoubleQuotedScalarString(new)
    return new


def _printable(text: str) -> bool:
    """Return True when every character may stand in a YAML scalar as it is (no control characters)."""
    return all(c == "\n" or (c.isprintable() and c not in "\u2028\u2029\ufeff") for c in text)


def _literal_safe(text: str) -> bool:
    """Return True when a `|` block holds the text exactly: printable lines, none ending in a space,
    the first not starting with one, at most one newline at the end."""
    lines = text.rstrip("\n").split("\n")
    return (
        _printable(text)
        and not text.endswith("\n\n")
        and not lines[0][:1].isspace()
        and all(line == line.rstrip() for line in lines)
    )


def _quote_in_flow(node: Any, flow: bool) -> None:
    """Double-quote every plain string in a flow collection (`{id: a, caption: x}`, `[{mira: x}]`) that
    would not read back there: `?! What`, `:)`, `a, b` are plain text in a block, not in a flow. What
    was read from the file there reads back already; only what was written can need it."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString

    def quoted(text: Any) -> Any:
        plain = isinstance(text, str) and not isinstance(text, ScalarString)
        return DoubleQuotedScalarString(text) if plain and flow_here and _flow_misread(text) else text

    if isinstance(node, CommentedMap):
        flow_here = flow or node.fa.flow_style()
        for k, v in list(node.non_merged_items()):  # what a merge key brings is not this node's
            if (new_key := quoted(k)) is not k:
                node.insert(list(node).index(k), new_key, node.pop(k))
                k = new_key
            if (new := quoted(v)) is not v:
                node[k] = new
            _quote_in_flow(v, flow_here)
    elif isinstance(node, CommentedSeq):
        flow_here = flow or node.fa.flow_style()
        for i, item in enumerate(node):
            if (new := quoted(item)) is not item:
                node[i] = new
            _quote_in_flow(item, flow_here)


def _flow_misread(text: str) -> bool:
    """Return True when a plain scalar would not read back as the string `text` inside a flow mapping
    or list (its type aside: `_misread` sees to that)."""
    import yaml

    try:
        return (yaml.load(f"[{text}]", Loader=yaml.BaseLoader) != [text]
                or yaml.load(f"{{k: {text}, {text}: v}}", Loader=yaml.BaseLoader) != {"k": text, text: "v"})
    except yaml.YAMLError:
        return True


def _misread(text: str) -> bool:
    """Return True when a plain scalar `text` would not read back as this string under YAML 1.1 or 1.2."""
    import yaml

    if text != text.strip() or "\n" in text:
        return True
    try:
        return yaml.safe_load(text) != text
    except yaml.YAMLError:
        return True


def _anchor(node: Any) -> str | None:
    anchor = getattr(node, "anchor", None)
    return getattr(anchor, "value", None) if anchor is not None else None


def shared_nodes(data: Any) -> set[int]:
    """Return the ids of nodes that stand in more than one place (aliases and merge sources)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    seen: set[int] = set()
    shared: set[int] = set()

    def walk(node: Any) -> None:
        if not isinstance(node, (CommentedMap, CommentedSeq)) and _anchor(node) is None:
            return
        if id(node) in seen:
            shared.add(id(node))
            return
        seen.add(id(node))
        if isinstance(node, CommentedMap):
            for source in getattr(node, "merge", []) or []:
                shared.add(id(source[1] if isinstance(source, tuple) else source))
                walk(source[1] if isinstance(source, tuple) else source)
            for _, v in node.non_merged_items():
                walk(v)
        elif isinstance(node, CommentedSeq):
            for v in node:
                walk(v)

    walk(data)
    return shared


