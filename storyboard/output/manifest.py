"""The manifest: `DIR/manifest.json`, the record of a storyboard that the sheet and exports read.

Shape (schema_version 1; keys are added, never renamed)::

    schema_version: 1
    story:   {title, file (path as given), sha256 (of the story file),
              path (the story seen from DIR: which story owns the folder)}
    run:     {started, finished (ISO 8601 UTC), seconds, tool_version, backend ("openai"|"draft"),
              base_url_host (null for draft), interrupted (bool),
              possibly_paid_without_image (requests an earlier, killed run sent whose image never came)}
    totals:  {run: T, all: T}  where T = {requests, images, failures, skipped, cached,
              retries, rate_limited, possibly_billed_twice, cost_usd, cost_estimated (bool), seconds}
    characters: [ {name, description,
                   references: [{file: "inputs/<sha>.png", sha256, source: "refs/rex.png"}],
                   sheet: null | {file: "characters/rex.png", sha256, prompt, status, model, size,
                                  cost_usd, error}} ]
    frames: [ one entry per frame and take, in story order:
      {number (1-based story position), id (null when the frame has none), take (1-based),
       takes (how many the frame has), picked (bool: the take shown and chained from),
       file ("frames/03-city.png" for the picked take, "takes/03-city-02.png" for the others;
             null when there is no image),
       take_file ("takes/03-city-02.png" when takes > 1, else null),
       sha256, media_type, width, height,
       kind ("generate"|"edit"|"outpaint"|"variation"),
       prompt (as sent), revised_prompt, caption, notes, text, choices ([{label, goto}] or []),
       duration (seconds in animatics), model, size, quality, options,
       characters (names), source (null | {frame: id, number}),
       inputs ([{role: "source"|"reference"|"mask", frame: id|null, file: path|null, sha256}]),
       outpaint (null | {extend, by, added: {left, top, right, bottom}}),
       status ("ok"|"cached"|"edited"|"locked"|"failed"|"skipped"), reason (null | text),
       error (null | {type, code, message}), attempts, seconds, usage, cost_usd,
       cost_estimated (bool), request_id, key (request key), possibly_billed_twice (int),
       ident (id, or "#N" for an id-less frame), lock (bool),
       dialogue ([{speaker, line}] in order), camera (static|push-in|pull-out|pan-left|pan-right|
       tilt-up|tilt-down), balloon (null|left|right), page_break (bool),
       seed (the take's seed where the backend takes seeds, else null),
       reads (what the request depends on beyond the frame's own keys, see templating.reads:
              {number, previous: [id|number|caption|prompt|image], frames: {id: [...]}, any,
              position_seed}),
       file_stat ([size, mtime_ns] of the frame file as written: an unchanged file is not re-hashed)}
    ]

Paths are relative to DIR and use "/". `gallery` and `export` need nothing but this file and
the images it names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from storyboard.errors import UsageError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


def load_manifest(out_dir: Path) -> dict[str, Any]:
    """Read DIR/manifest.json, or explain why there is none to read."""
    path = Path(out_dir) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no manifest here. Run `storyboard run STORY -o {out_dir}` first."
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path}: not a valid manifest ({e}). Run the story again to rebuild it.") from None
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise UsageError(f"{path}: unknown manifest schema_version; this is storyboard for version {SCHEMA_VERSION}.")
    return data


def picked_entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the entry shown for each frame (its picked take), in story order."""
    return [e for e in manifest.get("frames", []) if e.get("picked")]


def _take_entry(job: Any, r: Any, placed: dict[str, Any] | None, digits_number: int | None) -> dict[str, Any]:
    """Return one manifest entry for one take of a frame."""
    img = r.image
    placed = placed or {}
    return {
        "number": digits_number,
        "id": job.id,
        "ident": job.ident,
        "take": r.take,
        "takes": job.takes,
        "picked": r.take == job.pick,
        "file": placed.get("file"),
        "take_file": placed.get("take_file"),
        "file_stat": placed.get("file_stat"),
        "sha256": img.sha256 if img else None,
        "media_type": img.media_type if img else None,
        "width": img.width if img else None,
        "height": img.height if img else None,
        "kind": job.kind,
        "prompt": r.prompt,
        "revised_prompt": r.revised_prompt,
        "caption": job.caption,
        "notes": job.notes,
        "text": job.text,
        "choices": job.choices,
        "duration": job.duration,
        "model": job.model,
        "size": r.size,
        "quality": job.quality,
        "options": job.options,
        "characters": list(job.characters),
        "source": None,  # filled by build_manifest, which knows the other jobs
        "inputs": r.inputs,
        "outpaint": {**job.outpaint, "added": r.outpaint_added} if job.outpaint else None,
        "lock": job.lock,
        "dialogue": [{"speaker": who, "line": line} for who, line in job.dialogue],
        "camera": job.camera,
        "balloon": job.balloon,
        "page_break": job.page_break,
        "seed": getattr(r, "seed", None),
        "status": r.status,
        "reason": r.reason,
        "error": r.error,
        "attempts": r.attempts,
        "seconds": r.seconds,
        "usage": r.usage,
        "cost_usd": r.cost_usd,
        "cost_estimated": r.cost_estimated,
        "request_id": r.request_id,
        "key": r.key,
        "possibly_billed_twice": r.possibly_billed_twice,
    }


def build_manifest(
    plan: Any,
    results: dict[int, list[Any]],
    placed: dict[tuple[int, int], dict[str, Any]],
    previous: dict[str, Any] | None,
    run: dict[str, Any],
    stats: Any,
) -> dict[str, Any]:
    """Return the manifest of a run: this run's results, merged with the previous manifest for
    frames this run did not touch (`--only`)."""
    from storyboard.output.frames import entry_identity, job_identity

    prev_by_identity: dict[Any, list[dict[str, Any]]] = {}
    for e in (previous or {}).get("frames", []):
        prev_by_identity.setdefault(entry_identity(e), []).append(e)
    numbers = {j.index: j.number for j in plan.frames}
    id_numbers = {j.id: j.number for j in plan.frames if j.id}

    frames: list[dict[str, Any]] = []
    for job in plan.frames:
        takes = results.get(job.index)
        if takes is None:  # not part of this run: carry the previous entries, renumbered
            old = prev_by_identity.get(job_identity(job))
            if old:
                frames += [_renumbered(e, job) for e in old]
            else:
                frames.append(_placeholder(job))
            continue
        for r in takes:
            entry = _take_entry(job, r, placed.get((job.index, r.take)), numbers[job.index])
            if job.source and job.source.job is not None:
                src_job = plan.jobs[job.source.job]
                entry["source"] = {"frame": src_job.id, "number": src_job.number}
            frames.append(entry)
    # What the sheet's editor needs to say what a change re-runs.
    from storyboard.story.templating import reads

    frame_reads = {j.number: reads(plan.loaded, j.number - 1) for j in plan.frames}
    for e in frames:
        e["reads"] = frame_reads.get(e["number"])
        for i in e.get("inputs") or []:
            if i.get("frame") in id_numbers:
                i["number"] = id_numbers[i["frame"]]

    characters = []
    for name, c in plan.loaded.story.characters.items():
        refs = [i for j in plan.frames for r in results.get(j.index, [])[:1] for i in r.inputs
                if i.get("role") == "reference" and i.get("character") == name and i.get("path")]
        unique = list({r["sha256"]: {"file": r["file"], "sha256": r["sha256"], "source": r["path"]} for r in refs}.values())
        sheet = None
        sheet_job = next((j for j in plan.sheets if j.character == name), None)
        if sheet_job is not None:
            rs = results.get(sheet_job.index)
            if rs:
                r = rs[0]
                p = placed.get((sheet_job.index, 1), {})
                sheet = {"file": p.get("file"), "file_stat": p.get("file_stat"), "sha256": r.image.sha256 if r.image else None,
                         "media_type": r.image.media_type if r.image else None, "prompt": r.prompt, "status": r.status,
                         "model": sheet_job.model, "size": r.size, "cost_usd": r.cost_usd, "error": r.error,
                         "reason": r.reason, "key": r.key}
            else:
                sheet = next((c.get("sheet") for c in (previous or {}).get("characters", []) if c.get("name") == name), None)
        characters.append({"name": name, "description": c.description, "references": unique, "sheet": sheet})

    this_run = _totals(frames, stats)
    all_runs = dict((previous or {}).get("totals", {}).get("all") or {})
    for k, v in this_run.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            all_runs[k] = round((all_runs.get(k) or 0) + v, 6)
    all_runs["cost_estimated"] = bool(all_runs.get("cost_estimated")) or this_run["cost_estimated"]
    return {
        "schema_version": SCHEMA_VERSION,
        "story": {"title": plan.loaded.story.title, "file": str(plan.loaded.path), "sha256": plan.loaded.sha256},
        "run": run,
        "totals": {"run": this_run, "all": all_runs},
        "characters": characters,
        "frames": frames,
    }


def _totals(frames: list[dict[str, Any]], stats: Any) -> dict[str, Any]:
    """Return the totals of this run: requests and spend from the runner, statuses from the entries."""
    statuses = [e["status"] for e in frames]
    return {
        "requests": stats.requests,
        "images": stats.images,
        "failures": statuses.count("failed"),
        "skipped": statuses.count("skipped"),
        "cached": statuses.count("cached"),
        "retries": stats.retries,
        "rate_limited": stats.rate_limited,
        "possibly_billed_twice": stats.possibly_billed_twice,
        "cost_usd": round(stats.cost_usd, 6),
        "cost_estimated": any(e.get("cost_estimated") for e in frames if e["status"] == "ok"),
        "seconds": round(stats.seconds, 3),
    }


def _renumbered(entry: dict[str, Any], job: Any) -> dict[str, Any]:
    e = dict(entry)
    e["number"] = job.number
    if e.get("file") and e.get("picked"):
        e["file"] = f"frames/{job.name}.{e['file'].rsplit('.', 1)[-1]}"
    if e.get("take_file"):
        e["take_file"] = f"takes/{job.name}-{e['take']:02d}.{e['take_file'].rsplit('.', 1)[-1]}"
        if not e.get("picked"):
            e["file"] = e["take_file"]
    return e


def _placeholder(job: Any) -> dict[str, Any]:
    from types import SimpleNamespace

    r = SimpleNamespace(take=job.pick, image=None, prompt=job.prompt, revised_prompt=None, size=job.size, inputs=[],
                        outpaint_added=None, status="skipped", reason="not run yet (outside --only)", error=None,
                        attempts=0, seconds=None, usage=None, cost_usd=None, cost_estimated=True, request_id=None,
                        key=None, possibly_billed_twice=0)
    return _take_entry(job, r, None, job.number)


def write_manifest(out_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write DIR/manifest.json atomically."""
    from storyboard.output import fs

    path = Path(out_dir) / MANIFEST
    fs.write(path, json.dumps(manifest, indent=1, ensure_ascii=False).encode("utf-8"), root=Path(out_dir))
    return path


def read_previous(out_dir: Path) -> dict[str, Any] | None:
    """Return the manifest a previous run left, or None (a broken one is treated as none)."""
    try:
        data = json.loads((Path(out_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) and data.get("schema_version") == SCHEMA_VERSION else None
