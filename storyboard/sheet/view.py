"""The sheet's view model: a manifest (and its thumbnails) becomes the template's variables,
every value already formatted."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import quote

import storyboard
from storyboard.output.manifest import picked_entries
from storyboard.sheet.thumbs import Thumb


def sheet_context(manifest: dict[str, Any], thumbs: dict[str, Thumb]) -> dict[str, Any]:
    """Build the template's variables from a manifest and its thumbnails."""
    run = manifest.get("run") or {}
    totals = manifest.get("totals") or {}
    takes: dict[int, list[dict[str, Any]]] = {}
    for e in manifest.get("frames", []):
        takes.setdefault(e.get("number"), []).append(e)
    picked = {e.get("number"): e for e in picked_entries(manifest)}
    # A frame whose manifest marks no take as picked still gets its cell, from its first take.
    shown = [picked.get(number, entries[0]) for number, entries in takes.items()]
    digits = max(2, len(str(max((e.get("number") or 0 for e in shown), default=0))))
    numbers = {e.get("id"): e.get("number") for e in shown if e.get("id")}
    files = _files_by_sha(manifest)

    frames = [_frame_view(e, takes.get(e.get("number"), [e]), digits, numbers, files, thumbs) for e in shown]
    run_totals, all_totals = totals.get("run") or {}, totals.get("all") or {}
    draft = run.get("backend") == "draft"
    counts = Counter(f["status"] for f in frames)
    title = (manifest.get("story") or {}).get("title") or "Storyboard"
    return {
        "title": title,
        # The name only: a sheet is shared, and the path as given may name the author's folders.
        "story_file": str((manifest.get("story") or {}).get("file") or "")
        .replace("\\", "/")
        .rsplit("/", 1)[-1],
        "version": storyboard.__version__,
        "draft": draft,
        "backend": run.get("backend"),
        "base_url_host": run.get("base_url_host"),
        "interrupted": bool(run.get("interrupted")),
        "run_date": _date(run.get("finished") or run.get("started")),
        "run_iso": run.get("finished") or run.get("started") or "",
        "stats": _stats(frames, counts, run_totals, all_totals, run, draft),
        "frames": frames,
        "pages": [frames[i : i + 6] for i in range(0, len(frames), 6)],
        "aspect": _dominant_aspect(shown),
        "cast": [_cast_view(c, thumbs) for c in manifest.get("characters", []) or []],
        "has_play": any(e.get("choices") for e in shown),
        "data": {
            "title": title,
            "frames": [
                {
                    k: f[k]
                    for k in (
                        "number",
                        "label",
                        "anchor",
                        "id",
                        "caption",
                        "notes",
                        "text",
                        "status",
                        "reason",
                        "message",
                    )
                }
                | {
                    "src": f["src"],
                    "thumb": f["thumb"].src if f["thumb"] else None,
                    "choices": [
                        {"label": str(c.get("label", "")), "goto": c.get("goto")}
                        for c in f["choices"]
                        if isinstance(c, dict)
                    ],
                }
                for f in frames
            ],
        },
    }


def _frame_view(
    e: dict[str, Any],
    all_takes: list[dict[str, Any]],
    digits: int,
    numbers: dict[str, int],
    files: dict[str, str],
    thumbs: dict[str, Thumb],
) -> dict[str, Any]:
    number = e.get("number") or 0
    label = f"{number:0{digits}d}"
    status = e.get("status") or "ok"
    error = e.get("error") or {}
    source = e.get("source") or None
    src_number = source.get("number") if source else None
    if source and src_number is None:
        src_number = numbers.get(source.get("frame"))
    refs = []
    for inp in e.get("inputs", []) or []:
        if inp.get("role") == "source" and source:
            continue  # shown as the "from" link
        file = inp.get("file") or files.get(inp.get("sha256") or "")
        name = inp.get("frame") or (inp.get("file") or "").rsplit("/", 1)[-1]
        refs.append(
            {
                "role": inp.get("role") or "input",
                "title": f"{inp.get('role') or 'input'}: {name}",
                "href": _url(file),
                "thumb": thumbs.get(inp.get("sha256") or ""),
            }
        )
    take_views = []
    if (e.get("takes") or 1) > 1:
        for t in sorted(all_takes, key=lambda t: t.get("take") or 0):
            take_views.append(
                {
                    "take": t.get("take"),
                    "picked": bool(t.get("picked")),
                    "status": t.get("status"),
                    "href": _url(t.get("take_file") or t.get("file")),
                    "thumb": thumbs.get(t.get("sha256") or ""),
                    "title": f"{label} · take {t.get('take')} of {e.get('takes')}",
                }
            )
    return {
        "number": number,
        "label": label,
        "anchor": f"f{label}",
        "id": e.get("id"),
        "caption": e.get("caption"),
        "notes": e.get("notes"),
        "text": e.get("text"),
        "choices": e.get("choices") or [],
        "status": status,
        "reason": e.get("reason"),
        "message": error.get("message"),
        "error_code": error.get("code") or error.get("type"),
        "src": _url(e.get("file")),
        "thumb": thumbs.get(e.get("sha256") or "") if e.get("file") else None,
        "kind": e.get("kind") or "generate",
        "source": {
            "label": f"{src_number:0{digits}d}",
            "anchor": f"f{src_number:0{digits}d}",
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
    rows += [
        ("Status", e.get("status") or "ok"),
        ("Attempts", str(e.get("attempts") if e.get("attempts") is not None else "—")),
        ("Time", _duration(e.get("seconds"))),
        ("Cost", _money(e.get("cost_usd"), bool(e.get("cost_estimated")))),
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
    draft: bool,
) -> list[dict[str, Any]]:
    stats = [{"label": "Frames", "value": str(len(frames)), "tone": ""}]
    if counts["failed"]:
        stats.append({"label": "Failed", "value": str(counts["failed"]), "tone": "failed"})
    if counts["skipped"]:
        stats.append({"label": "Skipped", "value": str(counts["skipped"]), "tone": "skipped"})
    for status, label in (("edited", "Edited"), ("locked", "Locked")):
        if counts[status]:
            stats.append({"label": label, "value": str(counts[status]), "tone": ""})
    if draft:
        stats.append({"label": "Spend", "value": "free (draft)", "tone": ""})
    else:
        stats.append(
            {
                "label": "This run",
                "tone": "",
                "value": _money(run_totals.get("cost_usd"), bool(run_totals.get("cost_estimated"))),
            }
        )
        if all_totals:
            stats.append(
                {
                    "label": "All runs",
                    "tone": "",
                    "value": _money(all_totals.get("cost_usd"), bool(all_totals.get("cost_estimated"))),
                }
            )
    if run_totals.get("possibly_billed_twice"):
        stats.append(
            {
                "label": "Maybe billed twice",
                "value": str(run_totals["possibly_billed_twice"]),
                "tone": "skipped",
            }
        )
    seconds = run.get("seconds", run_totals.get("seconds"))
    stats.append({"label": "Time", "value": _duration(seconds), "tone": ""})
    return stats


def _cast_view(c: dict[str, Any], thumbs: dict[str, Thumb]) -> dict[str, Any]:
    sheet = c.get("sheet") or None
    sheet_view = None
    if sheet:
        error = sheet.get("error") or {}
        sheet_view = {
            "href": _url(sheet.get("file")),
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
                "href": _url(r.get("file")),
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
    ratios = Counter()
    for e in entries:
        w, h = e.get("width"), e.get("height")
        if not (w and h) and isinstance(e.get("size"), str) and "x" in e["size"]:
            w, h = (int(p) if p.isdigit() else 0 for p in e["size"].split("x", 1))
        if w and h:
            ratios[(w, h)] += 1
    if not ratios:
        return "3 / 2"
    (w, h), _ = ratios.most_common(1)[0]
    # Keep the box between 2:1 and 1:1, so one odd frame cannot make every card tall or thin.
    ratio = min(2.0, max(1.0, w / h))
    return f"{ratio:.4f}"


def _url(path: str | None) -> str | None:
    """Quote a manifest path for use in src/href; it stays relative to DIR."""
    if not path:
        return None
    # Quoting ':' and a leading '/' keeps every link inside the folder, whatever the manifest says.
    return quote(path.lstrip("/"), safe="/-_.~")


def _money(value: Any, estimated: bool) -> str:
    if value is None:
        return "unknown"
    value = float(value)
    text = f"${value:,.3f}" if 0 < value < 0.1 else f"${value:,.2f}"
    return ("≈" + text) if estimated and value else text


def _duration(seconds: Any) -> str:
    if seconds is None:
        return "—"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(round(s), 60)
    if m < 60:
        return f"{m} min {s} s"
    h, m = divmod(m, 60)
    return f"{h} h {m} min"


def _date(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    zone = " UTC" if when.utcoffset() is not None and not when.utcoffset() else ""
    return f"{when.day} {when:%b %Y, %H:%M}{zone}"
