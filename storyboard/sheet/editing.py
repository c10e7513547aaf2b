"""What the sheet's editor needs, computed at sheet time: each frame's editable values, its takes,
what its request depends on (chain source, the manifest's `reads`) and what running it again
would cost, so the page can say what a change sends before it is saved (sheet.js does the rest)."""

from __future__ import annotations

from statistics import median
from typing import Any

from storyboard.sheet.format import url
from storyboard.sheet.thumbs import Thumb

STORAGE_PREFIX = "storyboard-changes:"
_BILLED = ("ok", "cached", "edited", "locked")


def editor_data(
    manifest: dict[str, Any],
    shown: list[dict[str, Any]],
    takes: dict[int, list[dict[str, Any]]],
    thumbs: dict[str, Thumb],
    *,
    story_file: str,
    free: bool,
) -> dict[str, Any]:
    """Return the editor's JSON: the story it belongs to, and one record per frame in story order
    (beside the page's own frame data, in the same order)."""
    story = manifest.get("story") or {}
    sha = story.get("sha256") or ""
    per_take = _take_costs(manifest)
    frames = []
    for e in shown:
        number = e.get("number") or 0
        entries = takes.get(number, [e])
        reads = e.get("reads") or {}
        source = (e.get("source") or {}).get("frame")
        previous_image = "image" in (reads.get("previous") or [])
        cost = _rerun_cost(entries, per_take, free)
        shown_takes = takes_of(e, entries)
        record: dict[str, Any] = {"pick": next((t["take"] for t in shown_takes if t["picked"]), e.get("take") or 1),
                                  "cost": cost}
        picks = [
            {
                "take": t["take"],
                "src": url(t["file"]),
                "thumb": thumbs[t["sha256"]].src if t["sha256"] in thumbs else None,
                "status": t["status"],
            }
            for t in shown_takes
        ]
        dialogue = [
            {"speaker": str(d["speaker"]), "line": str(d.get("line") or "")}
            for d in e.get("dialogue") or []
            if isinstance(d, dict) and d.get("speaker")
        ]
        depends = {
            "number": bool(reads.get("number")),
            "previous": [a for a in reads.get("previous") or [] if isinstance(a, str)],
            "frames": {str(k): list(v) for k, v in (reads.get("frames") or {}).items()},
            "any": bool(reads.get("any")),
            # Only where the backend takes seeds does a seed that follows the place matter.
            "position_seed": bool(reads.get("position_seed")) and e.get("seed") is not None,
        }
        requests = len([t for t in entries if t.get("take") != "edited"]) or 1
        # What the page has elsewhere (id, number, caption, notes) is not repeated, nor a default:
        # a 1000-frame sheet stays light.
        optional = {
            "takes": picks,
            "dialogue": dialogue,
            "lock": bool(e.get("lock")),
            # `edit: previous` follows the order; a source named by id does not.
            "source": None if previous_image else source,
            "reads": depends if any(depends.values()) else None,
            "requests": requests if requests != 1 else None,
            "edited": (e.get("status") == "edited") or None,
        }
        record.update({k: v for k, v in optional.items() if v})
        frames.append(record)
    return {
        "story": {"file": story_file, "title": story.get("title") or "", "sha256": sha},
        "storage": STORAGE_PREFIX + (sha or f"{story_file}:{story.get('title') or ''}"),
        "storage_prefix": STORAGE_PREFIX,  # unsaved changes of an earlier version of the story are found by it
        "changes_file": (story_file.rsplit(".", 1)[0] if "." in story_file else story_file or "story") + ".changes.json",
        "free": free,
        "adventure": any(e.get("choices") for e in shown),
        "frames": frames,
        "speakers": _speakers(manifest, frames),
    }


def _speakers(manifest: dict[str, Any], frames: list[dict[str, Any]]) -> list[str]:
    """Return who a new line of dialogue may be given to: the cast, then whoever speaks in the story."""
    cast = [str(c["name"]) for c in manifest.get("characters") or [] if isinstance(c, dict) and c.get("name")]
    return list(dict.fromkeys(cast + [d["speaker"] for f in frames for d in f.get("dialogue") or []]))


def takes_of(e: dict[str, Any], entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the takes a frame offers to pick from (none for a frame of one take): each
    {take (a number, or "edited"), file, sha256, status, seed, picked}. The artist's kept file
    (`edited_take`, from `run --only ID --force`) is a take too; `pick: edited` shows it."""
    edited = e.get("edited_take") if isinstance(e.get("edited_take"), dict) else None
    if not ((e.get("takes") or 1) > 1 or (edited and edited.get("file"))):
        return []
    showing_edited = bool(edited and edited.get("sha256") and edited.get("sha256") == e.get("sha256"))
    out = [
        {
            "take": t.get("take"),
            "file": t.get("take_file") or t.get("file"),
            "sha256": t.get("sha256"),
            "status": t.get("status"),
            "seed": t.get("seed"),
            "picked": bool(t.get("picked")) and not showing_edited,
        }
        for t in sorted(entries, key=lambda t: t.get("take") if isinstance(t.get("take"), int) else 0)
    ]
    if edited and edited.get("file"):
        out.append({"take": "edited", "file": edited["file"], "sha256": edited.get("sha256"), "status": "edited",
                    "seed": None, "picked": showing_edited})
    return out


def _take_costs(manifest: dict[str, Any]) -> dict[tuple[Any, ...], float]:
    """Return the typical cost of one take per (model, size, quality), from the takes that were billed."""
    seen: dict[tuple[Any, ...], list[float]] = {}
    for e in manifest.get("frames", []):
        if e.get("status") in _BILLED and isinstance(e.get("cost_usd"), (int, float)) and e["cost_usd"] > 0:
            seen.setdefault((e.get("model"), e.get("size"), e.get("quality")), []).append(float(e["cost_usd"]))
    return {k: median(v) for k, v in seen.items()}


def _rerun_cost(entries: list[dict[str, Any]], per_take: dict[tuple[Any, ...], float], free: bool) -> float | None:
    """Return what requesting every take of a frame again would cost, or None when it cannot be told."""
    if free:
        return 0.0
    total = 0.0
    for t in entries:
        if t.get("take") == "edited":
            continue
        cost = t.get("cost_usd")
        if t.get("status") not in _BILLED or not isinstance(cost, (int, float)) or cost <= 0:
            # A failed or skipped take cost nothing, but asking again would: its like's price.
            cost = per_take.get((t.get("model"), t.get("size"), t.get("quality")))
        if cost is None:
            return None
        total += float(cost)
    return round(total, 6)
