"""`storyboard apply`: write a changes file from the contact sheet into the story file.

The story is edited in round-trip mode (comments, quotes, layout and the file's indentation
kept), and the result must mean exactly the story with the changes: it is parsed again and
compared, and validated, before it replaces the file (atomically, after a backup `STORY.bak`).
Each change applies where the story still holds its "before" value, is skipped where it already
holds its "after" value, and is refused, with the reason, where it holds neither (the story
changed since the sheet was made) or where writing it would change more than one frame (an
anchor, an alias or a merge key).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ruamel.yaml.error import YAMLError

from storyboard.editor import yamltext
from storyboard.editor.changes import Changes, short
from storyboard.editor.writes import Refused, shared_nodes, write
from storyboard.errors import StoryError, UsageError


@dataclass
class Outcome:
    """What `apply` did, or would do with --dry-run."""

    path: Path
    original: str
    text: str  # the story after the changes (== original when nothing applies)
    applied: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    backup: Path | None = None
    written: bool = False
    stale: bool = False  # the story changed since the sheet was made

    @property
    def diff(self) -> str:
        """Return the unified diff of the story file."""
        name = self.path.name
        return "".join(
            difflib.unified_diff(
                self.original.splitlines(True), self.text.splitlines(True), fromfile=f"a/{name}", tofile=f"b/{name}"
            )
        )

    @property
    def changed(self) -> bool:
        """Return True when the story's text changes."""
        return self.text != self.original


def apply_changes(story: Path, changes: Changes, *, dry_run: bool = False) -> Outcome:
    """Apply `changes` to the story file; raise UsageError or StoryError for bad input (nothing written)."""
    from storyboard.story import load_story

    story = Path(story)
    loaded = load_story(story)  # a story with problems is fixed first: its problems are the message
    raw = story.read_bytes()
    bom = raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    crlf = "\r\n" in text
    if crlf:
        text = text.replace("\r\n", "\n")

    frames = loaded.story.frames
    keys = [f.id or f"#{i + 1}" for i, f in enumerate(frames)]
    index = {k: i for i, k in enumerate(keys)}
    stale = bool(changes.story_sha256) and changes.story_sha256 != loaded.sha256
    changes = _as_now(changes, keys)
    changes, lost = _follow_idless(changes, keys)
    unknown = _unknown(story, changes, index, frames, lost)
    if unknown and not stale:  # the story is the one the sheet showed: the file itself is wrong
        raise UsageError("\n".join(f"{changes.changes[k].describe()}: {why}" for k, why in unknown.items()))

    try:
        data, y = yamltext.load_rt(text)
    except YAMLError as e:  # our loader read it; the round-trip one (ruamel) is stricter, e.g. a tab after a key
        mark = getattr(e, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise UsageError(f"{story}{at}: apply cannot edit this line as written ({getattr(e, 'problem', None) or e}); "
                         "replace a tab there with spaces, then apply again. Nothing written.") from None
    shared = shared_nodes(data)
    seq = data["frames"]
    out = Outcome(story, text, text, stale=stale)
    for k, c in enumerate(changes.changes):
        if k in unknown:  # a story edited since: this frame is gone, or cannot be told apart
            out.refused.append(f"{c.describe()}: refused, {unknown[k]}")
            continue
        i = index[c.frame]
        current = _current(frames[i], c.field)
        if current == c.after and current != c.before:
            out.already.append(c.describe())
            continue
        if current == c.after:  # before == after: nothing to do
            continue
        if current != c.before:
            out.refused.append(
                f"{c.describe()}: refused, the story now has {c.field} {_shown(current)} "
                f"(the sheet showed {_shown(c.before)}); the story changed since the sheet was made"
            )
            continue
        try:
            write(seq[i], c, shared)
        except Refused as e:
            out.refused.append(f"{c.describe()}: refused, {e}")
            continue
        out.applied.append(c.describe())

    new_text = text
    if out.applied:
        base = yamltext.dump(y, yamltext.load_rt(text)[0])
        ours = yamltext.dump(y, data)
        new_text = yamltext.splice(text, base, ours) or ours
        if _meaning(new_text) != _plain(data):
            new_text = ours  # the carried-over edit did not mean the same: take ruamel's own text
    expected = _plain(data)

    if changes.moves:
        move = _order(changes, keys)
        if move == "already":
            out.already.append("frame order")
        elif isinstance(move, str):
            out.refused.append(f"frame order: refused, {move}")
        else:
            try:
                new_text = _reorder(new_text, move)
            except Refused as e:
                out.refused.append(f"frame order: refused, {e}")
            else:
                expected["frames"] = [expected["frames"][k] for k in move]
                out.applied.append("frame order: " + " ".join(keys[k] for k in move))

    if new_text != text:
        if _meaning(new_text) != expected:
            raise UsageError(
                f"{story}: the changes could not be written without changing something else in the story; nothing "
                "written. Make them by hand (and please report this, with the story, as a bug)."
            )
        out.text = new_text
        _validate(story, new_text)
    if out.changed and not dry_run:
        final = out.text.replace("\n", "\r\n") if crlf else out.text
        out.backup = _write_file(story, raw, ("\ufeff" if bom else "") + final)
        out.written = True
    return out


def _unknown(story: Path, changes: Changes, index: dict[str, int], frames: list[Any], lost: set[int]) -> dict[int, str]:
    """Return, by position in the file, why each change cannot be applied to any frame of the story:
    it names no frame, a take the frame lacks, or a frame without an id that cannot be found again."""
    problems: dict[int, str] = {}
    for k, c in enumerate(changes.changes):
        if k in lost:
            problems[k] = (
                "frames were added or removed around this frame without an id since the sheet was made, so "
                "which frame it is now cannot be told; make the change by hand, or give the frame an id"
            )
        elif c.frame not in index:
            what = "no frame is numbered" if c.frame.startswith("#") else "no frame has the id"
            problems[k] = f"{what} {c.frame.lstrip('#')} in {story.name}"
        elif c.field == "pick" and isinstance(c.after, int) and c.after > (takes := frames[index[c.frame]].takes):
            problems[k] = f"frame {c.frame} has {takes} take{'s' if takes != 1 else ''}; take {c.after} does not exist"
    return problems


def _follow_idless(changes: Changes, keys: list[str]) -> tuple[Changes, set[int]]:
    """Return the changes with each frame without an id ("#N", by its place when the sheet was made)
    named by its place now, when frames were added, removed or moved since; and the positions of the
    changes whose frame cannot be told: it is found again between the same two frames with ids, at the
    same place among as many frames without one."""
    before = changes.order_before
    if not before or before == keys or changes.order_after == keys:
        return changes, set()
    rename = {k: _same_place(k, before, keys) for k in before if k.startswith("#")}
    lost = {k for k, c in enumerate(changes.changes) if c.frame in rename and rename[c.frame] is None}
    moved = [c if k in lost else replace(c, frame=rename.get(c.frame) or c.frame) for k, c in enumerate(changes.changes)]
    if any(v is None for v in rename.values()):
        return replace(changes, changes=moved), lost  # the order cannot follow either: it is refused
    order = {"order_before": [rename.get(k) or k for k in before],
             "order_after": [rename.get(k) or k for k in changes.order_after or []]}
    return replace(changes, changes=moved, **order), lost


def _same_place(key: str, old: list[str], new: list[str]) -> str | None:
    """Return the name in `new` of the id-less frame `key` of `old`, or None when it cannot be told."""
    at = old.index(key)
    after = next((old[j] for j in range(at - 1, -1, -1) if not old[j].startswith("#")), None)
    before = next((old[j] for j in range(at + 1, len(old)) if not old[j].startswith("#")), None)

    def gap(names: list[str]) -> list[str] | None:
        """The id-less frames between `after` and `before` (the start and the end when None)."""
        if (after is not None and after not in names) or (before is not None and before not in names):
            return None
        start = names.index(after) + 1 if after is not None else 0
        end = names.index(before) if before is not None else len(names)
        return [n for n in names[start:end] if n.startswith("#")] if start <= end else None

    was, now = gap(old), gap(new)
    return now[was.index(key)] if was is not None and now is not None and len(now) == len(was) else None


def _current(frame: Any, field: str) -> Any:
    if field == "dialogue":
        return tuple(frame.lines)
    return getattr(frame, field)


def _as_now(changes: Changes, keys: list[str]) -> Changes:
    """Return the changes with each id-less frame ("#N", its number when the sheet was made) named
    by its number now, when the story already has the new order (the file was applied before)."""
    after = changes.order_after or []
    now = [k if not k.startswith("#") else f"#{i + 1}" for i, k in enumerate(after)]
    if not changes.moves or keys == changes.order_before or keys != now:
        return changes
    rename = dict(zip(after, now, strict=True))
    return replace(
        changes,
        changes=[replace(c, frame=rename.get(c.frame, c.frame)) for c in changes.changes],
        order_before=[rename.get(k, k) for k in changes.order_before or []],
        order_after=now,
    )


def _order(changes: Changes, keys: list[str]) -> list[int] | str:
    """Return the new order as old indexes, "already" when the story has it, or why it cannot apply."""
    before, after = changes.order_before or [], changes.order_after or []
    if keys == after:
        return "already"
    if keys != before:
        gone = [k for k in before if k not in keys]
        new = [k for k in keys if k not in before]
        why = (f"frames {', '.join(gone)} are gone" if gone else "") + (
            f"{'; ' if gone else ''}frames {', '.join(new)} are new" if new else ""
        )
        return f"the story's frames are no longer in the order the sheet showed ({why or 'they were reordered'})"
    pos = {k: i for i, k in enumerate(keys)}
    return [pos[k] for k in after]


def _reorder(text: str, move: list[int]) -> str:
    """Return the text with the frames in the new order (old indexes), or raise Refused."""
    from ruamel.yaml.comments import CommentedSeq
    from ruamel.yaml.error import YAMLError

    data, y = yamltext.load_rt(text)
    moved = yamltext.reorder(text, data, "frames", move)
    if moved is None:
        # Not a block sequence (`frames: [...]`): ruamel writes the list again, in the new order.
        seq = data["frames"]
        data["frames"] = CommentedSeq([seq[k] for k in move])
        if seq.fa.flow_style():
            data["frames"].fa.set_flow_style()
        moved = yamltext.dump(y, data)
    try:
        yamltext.load_rt(moved)
    except YAMLError as e:
        if "alias" in str(e):
            raise Refused(
                "a frame would come before the anchor (&name) it reuses; move the frames by hand"
            ) from None
        raise Refused(f"the moved story would not be valid YAML ({e})") from None
    return moved


def _meaning(text: str) -> Any:
    """Return what a YAML text means, as plain Python; None when it is not valid YAML."""
    from ruamel.yaml.error import YAMLError

    try:
        return _plain(yamltext.load_rt(text)[0])
    except YAMLError:
        return None


def _plain(node: Any) -> Any:
    """Return ruamel data as plain Python (merge keys resolved), for comparing two texts' meaning."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def _shown(value: Any) -> str:
    return short(value)


def _validate(story: Path, text: str) -> None:
    """Check the new text as a story, in the story's own folder (relative paths resolve the same)."""
    from storyboard.errors import Problem
    from storyboard.story import load_story

    fd, tmp = tempfile.mkstemp(dir=story.resolve().parent, prefix=f".{story.name}.", suffix=".check.yaml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        try:
            load_story(tmp)
        except StoryError as e:
            problems = [Problem(str(story), p.line, p.column, p.path, p.message) for p in e.problems]
            raise StoryError(
                [Problem(str(story), None, None, "", "the changes would make the story invalid; nothing written:")] + problems
            ) from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _write_file(story: Path, old: bytes, text: str) -> Path:
    """Back the story up as STORY.bak, then replace it atomically (its mode kept); return the backup."""
    from storyboard.output import fs

    target = story.resolve()  # a symlinked story: the file it points to is edited, the link stays
    if target.read_bytes() != old:
        raise UsageError(f"{story}: changed on disk while the changes were applied; nothing written. Run apply again.")
    backup = story.with_name(story.name + ".bak")
    mode = target.stat().st_mode & 0o7777
    fs.write(backup, old)
    os.chmod(backup, mode)
    fs.write(target, text.encode("utf-8"))
    os.chmod(target, mode)
    return backup
