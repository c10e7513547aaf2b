"""The changes file: what the contact sheet's editor saves (`<story>.changes.json`) and
`storyboard apply` writes back into the story.

Format (version 1), a JSON object::

    {
      "format": "storyboard-changes",
      "version": 1,
      "story": {"file": "robot-dog.yaml", "title": "Robot Dog's Journey", "sha256": "<of the story file>"},
      "saved": "2026-05-01T12:00:00Z",            (optional, informative)
      "changes": [
        {"frame": "city", "field": "pick",     "before": 1,     "after": 2},
        {"frame": "lab",  "field": "caption",  "before": "Rex wakes up.", "after": "Rex wakes."},
        {"frame": "#4",   "field": "notes",    "before": null,  "after": "WIDE."},
        {"frame": "park", "field": "dialogue", "before": [{"speaker": "mira", "line": "Go!"}],
                                               "after":  [{"speaker": "mira", "line": "Run!"}]},
        {"frame": "lab",  "field": "lock",     "before": false, "after": true}
      ],
      "order": {"before": ["lab", "city", "#3"], "after": ["city", "lab", "#3"]}
    }

A frame is named by its id, or by "#N", its number in the story as the sheet loaded it (a frame
without an id has no move buttons, but shifts when others move past it). `pick` is a take number from 1, or "edited"
(the artist's own file); a null caption or notes removes the key. `order` lists every frame of
the story, before and after; it may be left out when nothing moved. Each change carries its
value before, so a file saved from an older version of the story applies where the story still
says what the sheet showed, and names the conflict where it does not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard.errors import UsageError

FORMAT = "storyboard-changes"
VERSION = 1
FIELDS = ("pick", "caption", "notes", "dialogue", "lock")
MAX_BYTES = 5_000_000
_FRAME = re.compile(r"^(?:[a-z0-9_-]{1,64}|#[1-9][0-9]{0,5})$")


@dataclass(frozen=True)
class Change:
    """One field of one frame, as the sheet showed it and as the user left it."""

    frame: str
    field: str
    before: Any
    after: Any

    def describe(self) -> str:
        """Return the change in words, e.g. `city: pick 1 -> 2`."""
        return f"frame {self.frame}: {self.field} {short(self.before)} -> {short(self.after)}"


@dataclass(frozen=True)
class Changes:
    """A whole changes file."""

    story_file: str | None
    story_title: str | None
    story_sha256: str | None
    changes: list[Change]
    order_before: list[str] | None
    order_after: list[str] | None

    @property
    def moves(self) -> bool:
        """Return True when the file reorders frames."""
        return self.order_after is not None and self.order_after != self.order_before


def read_changes(path: Path) -> Changes:
    """Read and check a changes file; raise UsageError listing every problem in it."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file. Save it from the contact sheet (Save changes).") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot be read ({e.strerror}).") from None
    if len(raw) > MAX_BYTES:
        raise UsageError(f"{path}: {len(raw):,} bytes is too large for a changes file.")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text (byte {e.start}); is it a changes file?") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg}). Save it again from the sheet.") from None
    except RecursionError:
        raise UsageError(f"{path}: nested too deeply for a changes file. Save it again from the sheet.") from None
    return parse_changes(data, str(path))


def parse_changes(data: Any, where: str = "changes") -> Changes:
    """Check a decoded changes document; raise UsageError listing every problem."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(f"{where}: not a storyboard changes file (no \"format\": \"{FORMAT}\").")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UsageError(f"{where}: version: must be a whole number.")
    if version > VERSION:
        raise UsageError(
            f"{where}: version {version} was saved by a newer storyboard; this one reads version {VERSION}. Upgrade storyboard."
        )
    problems: list[str] = []
    unknown = sorted(set(data) - {"format", "version", "story", "saved", "changes", "order"})
    if unknown:
        problems.append(f"unknown key(s) {', '.join(unknown)}")
    story = data.get("story") or {}
    if not isinstance(story, dict):
        problems.append("story: must be an object with file, title and sha256")
        story = {}
    sha = story.get("sha256")
    if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
        problems.append("story.sha256: must be the 64 hex digits of the story's sha256")
        sha = None

    changes: list[Change] = []
    items = data.get("changes", [])
    if not isinstance(items, list):
        problems.append("changes: must be a list")
        items = []
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(items):
        at = f"changes[{i}]"
        if not isinstance(item, dict):
            problems.append(f"{at}: must be an object with frame, field, before and after")
            continue
        extra = sorted(set(item) - {"frame", "field", "before", "after"})
        missing = [k for k in ("frame", "field", "before", "after") if k not in item]
        if extra or missing:
            problems.append(f"{at}: " + "; ".join(
                ([f"unknown key(s) {', '.join(extra)}"] if extra else []) + ([f"missing {', '.join(missing)}"] if missing else [])
            ))
            continue
        frame, field = item["frame"], item["field"]
        if not (isinstance(frame, str) and _FRAME.match(frame)):
            problems.append(f"{at}.frame: {frame!r} is neither a frame id nor #N")
            continue
        if field not in FIELDS:
            problems.append(f"{at}.field: {field!r} is not one of {', '.join(FIELDS)}")
            continue
        bad = [k for k in ("before", "after") if _value_problem(field, item[k])]
        if bad:
            problems.append(f"{at}.{bad[0]}: {_value_problem(field, item[bad[0]])}")
            continue
        if (frame, field) in seen:
            problems.append(f"{at}: a second change of {field} for frame {frame}; keep one")
            continue
        seen.add((frame, field))
        changes.append(Change(frame, field, _norm(field, item["before"]), _norm(field, item["after"])))

    before = after = None
    order = data.get("order")
    if order is not None:
        if not isinstance(order, dict) or set(order) != {"before", "after"}:
            problems.append("order: must be an object with before and after (lists of frame ids)")
        else:
            for key in ("before", "after"):
                lst = order[key]
                if not (isinstance(lst, list) and all(isinstance(x, str) and _FRAME.match(x) for x in lst)):
                    problems.append(f"order.{key}: must be a list of frame ids (or #N)")
                elif len(set(lst)) != len(lst):
                    dup = next(x for x in lst if lst.count(x) > 1)
                    problems.append(f"order.{key}: {dup} is listed twice")
            if not problems or not any(p.startswith("order") for p in problems):
                before, after = list(order["before"]), list(order["after"])
                if sorted(before) != sorted(after):
                    problems.append("order: before and after must list the same frames")
    if problems:
        raise UsageError("\n".join(f"{where}: {p}" for p in problems))
    return Changes(
        story_file=story.get("file") if isinstance(story.get("file"), str) else None,
        story_title=story.get("title") if isinstance(story.get("title"), str) else None,
        story_sha256=sha,
        changes=changes,
        order_before=before,
        order_after=after,
    )


def changes_document(
    story_file: str, title: str, sha256: str, changes: list[Change], order: tuple[list[str], list[str]] | None = None
) -> dict[str, Any]:
    """Return a changes document, as the sheet saves it (for tests and scripts)."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "story": {"file": story_file, "title": title, "sha256": sha256},
        "changes": [
            {"frame": c.frame, "field": c.field, "before": _plain(c.field, c.before), "after": _plain(c.field, c.after)}
            for c in changes
        ],
    }
    if order is not None:
        doc["order"] = {"before": list(order[0]), "after": list(order[1])}
    return doc


def _value_problem(field: str, value: Any) -> str | None:
    if field == "pick":
        ok = value == "edited" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10_000)
        return None if ok else "a take number from 1, or \"edited\""
    if field in ("caption", "notes"):
        return None if value is None or isinstance(value, str) else "text, or null for none"
    if field == "lock":
        return None if isinstance(value, bool) else "true or false"
    if field == "dialogue":
        ok = isinstance(value, list) and all(
            isinstance(d, dict) and set(d) == {"speaker", "line"} and isinstance(d["speaker"], str)
            and d["speaker"].strip() and isinstance(d["line"], str)
            for d in value
        )
        return None if ok else "a list of {\"speaker\": ..., \"line\": ...}"
    return "unknown field"


def _norm(field: str, value: Any) -> Any:
    """Return the value in the form compared with the story: dialogue as (speaker, line) tuples."""
    if field == "dialogue":
        return tuple((d["speaker"], d["line"]) for d in value)
    return value


def _plain(field: str, value: Any) -> Any:
    if field == "dialogue":
        return [{"speaker": s, "line": line} for s, line in value]
    return value


def short(value: Any) -> str:
    """Return a value as the messages show it: JSON, cut at 48 characters."""
    if isinstance(value, tuple):
        value = "; ".join(f"{s}: {line}" for s, line in value)
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 48 else text[:45] + "...\""
