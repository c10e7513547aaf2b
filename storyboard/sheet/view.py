"""The sheet's view model: a manifest (and its thumbnails) becomes the template's variables,
every value already formatted."""

from __future__ import annotations

from collections import Counter
from typing import Any

import storyboard
from storyboard import names
from storyboard.output.manifest import picked_entries
from storyboard.sheet.editing import editor_data, takes_of
from storyboard.sheet.format import count, date, duration, money, url
from storyboard.sheet.thumbs import Thumb

# Facts a backend may record on an entry (local models: SPEC §5), shown under Details when present.
_BACKEND_FACTS = (("steps", "Steps"), ("guidance", "Guidance"), ("strength", "Strength"), ("scheduler", "Scheduler"),
                  ("revision", "Revision"), ("licence", "Licence"))


def sheet_context(manifest: dict[str, Any], thumbs: dict[str, Thumb], *, exports: list[str] | None = None) -> dict[str, Any]:
    """Build the template's variables from a manifest, its thumbnails and the animatics in exports/."""
    run = manifest.get("run") or {}
    totals = manifest.get("totals") or {}
    takes: dict[int, list[dict[str, Any]]] = {}
    for e in manifest.get("frames", []):
        takes.setdefault(e.get("number"), []).append(e)
    picked = {e.get("number"): e for e in picked_entries(manifest)}
    # A frame whose manifest marks no take as picked still gets its cell, from its first take.
    shown = [picked.get(number, entries[0]) for number, entries in takes.items()]
    digits = names.digits(max((e.get("number") or 0 for e in shown), default=0))
    numbers = {e.get("id"): e.get("number") for e in shown if e.get("id")}
    files = _files_by_sha(manifest)
    reachable = _reachable(shown)

    frames = [
        _frame_view(e, takes.get(e.get("number"), [e]), digits, numbers, files, thumbs, reachable) for e in shown
    ]
    run_totals, all_totals = totals.get("run") or {}, totals.get("all") or {}
    facts = _backend_facts(run)
    free = bool(facts.get("free"))
    counts = Counter(f["status"] for f in frames)
    story = manifest.get("story") or {}
    title = story.get("title") or "Storyboard"
    # The name only: a sheet is shared, and the path as given may name the author's folders.
    story_file = str(story.get("file") or "").replace("\\", "/").rsplit("/", 1)[-1]
    return {
        "title": title,
        "story_file": story_file,
        "version": storyboard.__version__,
        "notice": facts.get("notice"),
        "backend_label": facts.get("label"),
        "interrupted": bool(run.get("interrupted")),
        "run_date": date(run.get("finished") or run.get("started")),
        "run_iso": run.get("finished") or run.get("started") or "",
        "stats": _stats(frames, counts, run_totals, all_totals, run, free),
        "frames": frames,
        "frames_count": count(len(frames), "frame"),
        "pages": [frames[i : i + 6] for i in range(0, len(frames), 6)],
        "aspect": _dominant_aspect(shown),
        "cast": [_cast_view(c, thumbs) for c in manifest.get("characters", []) or []],
        "has_play": any(e.get("choices") for e in shown),
        "animatics": [{"href": url(p), "name": p.rsplit("/", 1)[-1]} for p in exports or []],
        "data": {
            "title": title,
            "frames": [
                {
                    k: f[k]
                    for k in ("number", "label", "anchor", "id", "caption", "notes", "text", "status", "reason", "message")
                }
                | {
                    "src": f["src"],
                    "thumb": f["thumb"].src if f["thumb"] else None,
                    "choices": [{"label": c["label"], "goto": c["goto"]} for c in f["choices"]],
                }
                for f in frames
            ],
            "editor": editor_data(manifest, shown, takes, thumbs, story_file=story_file, free=free),
        },
    }


def _backend_facts(run: dict[str, Any]) -> dict[str, Any]:
    """Return what the sheet says about the run's backend: label, notice ({tag, text} or None), free."""
    from storyboard.backends.registry import run_facts  # the backends' own words (issue 13)

    return run_facts(run)


def _reachable(entries: list[dict[str, Any]]) -> set[str] | None:
    """Return the ids an adventure's reader can reach from its first frame (None: not an adventure)."""
    if not any(e.get("choices") for e in entries):
        return None
    by_id = {e.get("id"): e for e in entries if e.get("id")}
    start = entries[0].get("id") if entries else None
    seen: set[str] = set()
    todo = [start] if start else []
    while todo:
        fid = todo.pop()
        if fid in seen or fid not in by_id:
            continue
        seen.add(fid)
        todo += [c.get("goto") for c in by_id[fid].get("choices") or [] if isinstance(c, dict)]
    return seen


def _frame_view(
    e: dict[str, Any],
    all_takes: list[dict[str, Any]],
    digits: int,
    numbers: dict[str, int],
    files: dict[str, str],
    thumbs: dict[str, Thumb],
    reachable: set[str] | None,
) -> dict[str, Any]:
    number = e.get("number") or 0
    label = names.number(number, digits)
    status = e.get("status") or "ok"
    error = e.get("error") or {}
    source = e.get("source") or None
    src_number = source.get("number") if source else None
    if source and src_number is None:
        src_number = numbers.get(source.get("frame"))
    source_thumb = None
    refs = []
    for inp in e.get("inputs", []) or []:
        if inp.get("role") == "source":
            source_thumb = thumbs.get(inp.get("sha256") or "")
            if source:
                continue  # shown as the "from" link
        refs.append(_ref_view(inp, e, files, thumbs))
    for r in refs:
        if r["role"] == "mask":
            r["over"] = source_thumb  # a mask shows over the image it masks
    take_views = []
    for t in takes_of(e, all_takes):
        seed = f" · seed {t['seed']}" if t["seed"] is not None else ""
        name = "the edited take" if t["take"] == "edited" else f"take {t['take']} of {e.get('takes')}"
        take_views.append(
            {
                "take": t["take"],
                "picked": t["picked"],
                "status": t["status"],
                "href": url(t["file"]),
                "thumb": thumbs.get(t["sha256"] or ""),
                "title": f"{label} · {name}{seed}",
                "seed": t["seed"],
            }
        )
    choices = []
    for c in e.get("choices") or []:
        if not isinstance(c, dict):
            continue
        target = numbers.get(c.get("goto"))
        choices.append(
            {
                "label": str(c.get("label", "")),
                "goto": c.get("goto"),
                "target": names.number(target, digits) if target else None,
                "anchor": "f" + names.number(target, digits) if target else None,
            }
        )
    return {
        "number": number,
        "label": label,
        "anchor": f"f{label}",
        "id": e.get("id"),
        "key": e.get("id") or f"#{number}",
        "name": e.get("id") or str(number),
        "caption": e.get("caption"),
        "notes": e.get("notes"),
        "text": e.get("text"),
        "choices": choices,
        "unreachable": reachable is not None and number != 1 and e.get("id") not in reachable,
        "dialogue": [d for d in e.get("dialogue") or [] if isinstance(d, dict) and d.get("speaker")],
        "lock": bool(e.get("lock")),
        "seed": e.get("seed"),
        "status": status,
        "reason": e.get("reason"),
        "message": error.get("message"),
        "error_code": error.get("code") or error.get("type"),
        "src": url(e.get("file")),
        "thumb": thumbs.get(e.get("sha256") or "") if e.get("file") else None,
        "kind": e.get("kind") or "generate",
        "source": {
            "label": names.number(src_number, digits),
            "anchor": "f" + names.number(src_number, digits),
            "id": source.get("frame"),
        }
        if source and src_number
        else None,
        "refs": refs,
        "takes": take_views,
        "take": e.get("take") or 1,
        "takes_count": e.get("takes") or 1,
        "prompt": e.get("prompt"),
        "revised_prompt": e.get("revised_prompt"),
        "details": _details(e),
    }


def _ref_view(inp: dict[str, Any], e: dict[str, Any], files: dict[str, str], thumbs: dict[str, Thumb]) -> dict[str, Any]:
    role = inp.get("role") or "input"
    file = inp.get("file") or files.get(inp.get("sha256") or "")
    if inp.get("frame"):
        name = f"frame {inp['frame']}"
    elif inp.get("path"):
        name = str(inp["path"])  # as the story names it, e.g. masks/sky.png
    elif role == "mask" and e.get("kind") == "outpaint":
        name = "the new area, made by storyboard"
    else:
        name = (inp.get("file") or "").rsplit("/", 1)[-1]
    words = {"mask": "mask", "reference": "reference", "source": "source file"}
    return {
        "role": role,
        "title": f"{words.get(role, role)}: {name}",
        "href": url(file),
        "thumb": thumbs.get(inp.get("sha256") or ""),
        "over": None,
    }


def _details(e: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [("Kind", e.get("kind") or "generate"), ("Model", e.get("model") or "—")]
    size = e.get("size") or "—"
    if e.get("width") and e.get("height") and f"{e['width']}x{e['height']}" != size:
        size += f" (received {e['width']}x{e['height']})"
    rows += [("Size", size), ("Quality", e.get("quality") or "—")]
    if e.get("options"):
        rows.append(("Options", ", ".join(f"{k}={v}" for k, v in sorted(e["options"].items()))))
    if e.get("outpaint"):
        o = e["outpaint"]
        added = o.get("added") or {}
        px = ", ".join(f"{k} {v}px" for k, v in added.items() if v)
        rows.append(("Outpaint", f"{o.get('extend')} by {o.get('by')}" + (f" (added {px})" if px else "")))
    if e.get("characters"):
        rows.append(("Characters", ", ".join(e["characters"])))
    if e.get("seed") is not None:
        rows.append(("Seed", str(e["seed"])))
    for key, label in _BACKEND_FACTS:
        if e.get(key) not in (None, ""):
            rows.append((label, str(e[key])))
    if e.get("camera") and e["camera"] != "static":
        rows.append(("Camera", str(e["camera"])))
    rows += [
        ("Status", e.get("status") or "ok"),
        ("Attempts", str(e.get("attempts") if e.get("attempts") is not None else "—")),
        ("Time", duration(e.get("seconds"))),
        ("Cost", money(e.get("cost_usd"), bool(e.get("cost_estimated")))),
    ]
    if e.get("possibly_billed_twice"):
        rows.append(("Possibly billed twice", str(e["possibly_billed_twice"])))
    if e.get("request_id"):
        rows.append(("Request", e["request_id"]))
    return rows


def _stats(
    frames: list[dict[str, Any]],
    counts: Counter[str],
    run_totals: dict[str, Any],
    all_totals: dict[str, Any],
    run: dict[str, Any],
    free: bool,
) -> list[dict[str, Any]]:
    stats = [{"label": "Frames", "value": str(len(frames)), "tone": ""}]
    if counts["failed"]:
        stats.append({"label": "Failed", "value": str(counts["failed"]), "tone": "failed"})
    if counts["skipped"]:
        stats.append({"label": "Skipped", "value": str(counts["skipped"]), "tone": "skipped"})
    for status, label in (("edited", "Edited"), ("locked", "Locked")):
        if counts[status]:
            stats.append({"label": label, "value": str(counts[status]), "tone": ""})
    if free:
        stats.append({"label": "Spend", "value": "free", "tone": ""})
    else:
        stats.append(
            {
                "label": "This run",
                "tone": "",
                "value": money(run_totals.get("cost_usd"), bool(run_totals.get("cost_estimated"))),
            }
        )
        if all_totals:
            stats.append(
                {
                    "label": "All runs",
                    "tone": "",
                    "value": money(all_totals.get("cost_usd"), bool(all_totals.get("cost_estimated"))),
                }
            )
    if run_totals.get("possibly_billed_twice"):
        stats.append(
            {"label": "Maybe billed twice", "value": str(run_totals["possibly_billed_twice"]), "tone": "skipped"}
        )
    seconds = run.get("seconds", run_totals.get("seconds"))
    stats.append({"label": "Time", "value": duration(seconds), "tone": ""})
    return stats


def _cast_view(c: dict[str, Any], thumbs: dict[str, Thumb]) -> dict[str, Any]:
    sheet = c.get("sheet") or None
    sheet_view = None
    if sheet:
        error = sheet.get("error") or {}
        sheet_view = {
            "href": url(sheet.get("file")),
            "thumb": thumbs.get(sheet.get("sha256") or ""),
            "status": sheet.get("status") or "ok",
            "message": error.get("message"),
            "prompt": sheet.get("prompt"),
        }
    return {
        "name": c.get("name"),
        "description": c.get("description"),
        "sheet": sheet_view,
        "refs": [
            {
                "href": url(r.get("file")),
                "thumb": thumbs.get(r.get("sha256") or ""),
                "title": r.get("source") or r.get("file"),
            }
            for r in c.get("references", []) or []
        ],
    }


def _files_by_sha(manifest: dict[str, Any]) -> dict[str, str]:
    files: dict[str, str] = {}
    for e in manifest.get("frames", []):
        if e.get("file") and e.get("sha256"):
            files.setdefault(e["sha256"], e["file"])
    return files


def _dominant_aspect(entries: list[dict[str, Any]]) -> str:
    """Return the most common width/height of the frames, so every card's picture box matches it."""
    from storyboard.models import dominant_aspect, parse_size

    sizes = []
    for e in entries:
        w, h = e.get("width"), e.get("height")
        if not (w and h) and isinstance(e.get("size"), str):
            try:
                w, h = parse_size(e["size"])
            except ValueError:
                continue
        if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
            sizes.append((w, h))
    if not sizes:
        return "3 / 2"
    # Keep the box between 2:1 and 1:1, so one odd frame cannot make every card tall or thin.
    ratio = min(2.0, max(1.0, dominant_aspect(sizes)))
    return f"{ratio:.4f}"
