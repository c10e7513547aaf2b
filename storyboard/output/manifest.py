"""The manifest: `DIR/manifest.json`, the record of a storyboard that the sheet and exports read.

Shape (schema_version 1; keys are added, never renamed)::

    schema_version: 1
    story:   {title, file (path as given), sha256 (of the story file),
              path (the story seen from DIR: which story owns the folder)}
    run:     {started, finished (ISO 8601 UTC), seconds, tool_version, backend (its name),
              base_url_host (null for an in-process backend), backend_label (where the images came
              from, for people), notice ({tag, text} the sheet shows, e.g. a draft preview, or null),
              free (bool), interrupted (bool),
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
       and the backend's own facts beside them: local models add steps, guidance, strength, scheduler,
       pipeline, revision (a Hub repo's commit), weights (the weights' identity) and licence, and
       backend_facts names them (absent when the backend records nothing),
       reads (what the request depends on beyond the frame's own keys, see story.reads:
              {number, previous: [id|number|caption|prompt|image], frames: {id: [...]}, any,
              position_seed}),
       file_stat ([size, mtime_ns, ctime_ns] of the frame file as written: an unchanged file is not re-hashed),
       edited_take (picked entries: null | {file: "takes/03-city-edited.png", sha256, media_type, width,
                    height}: the artist's file kept when `run --only ID --force` requested the frame
                    again; `pick: edited` shows it)}
    ]

Paths are relative to DIR and use "/". `gallery` and `export` need nothing but this file and
the images it names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from storyboard import names
from storyboard.errors import DiskError, UsageError

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


def load_manifest(out_dir: Path) -> dict[str, Any]:
    """Read DIR/manifest.json, or explain (UsageError) why there is none to read: no folder, no
    manifest, a damaged one, or one from a newer storyboard."""
    out_dir = Path(out_dir)
    path = out_dir / MANIFEST
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(
            f"{out_dir} is a file, not an output folder. Give the folder a run wrote (the one holding "
            f"{MANIFEST}), e.g. outputs/{out_dir.stem or 'story'}."
        )
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no manifest here. Run `storyboard run STORY -o {out_dir}` first.") from None
    except OSError as e:
        raise DiskError.of(path, e, reading=True) from None
    data, problems = parse_manifest(raw)
    if problems:
        head = f"{path}: not a valid manifest"
        if len(problems) == 1:
            raise UsageError(f"{head} ({problems[0]}). Run the story again to rebuild it.")
        raise UsageError("\n".join([f"{head}; run the story again to rebuild it:", *problems]))
    return data  # type: ignore[return-value]


def read_previous(out_dir: Path, problems: list[str] | None = None) -> dict[str, Any] | None:
    """Return the manifest a previous run left, or None when there is none or it is damaged (then
    what is wrong is appended to `problems`). One from a newer storyboard is refused (UsageError):
    it is never replaced."""
    try:
        raw = (Path(out_dir) / MANIFEST).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        if Path(out_dir).exists() and not Path(out_dir).is_dir():
            return None  # `-o` a file: said by the folder check
        raise DiskError.of(Path(out_dir) / MANIFEST, e, reading=True) from None
    data, found = parse_manifest(raw)
    if found:
        if problems is not None:
            problems.extend(found)
        return None
    return data


class NewerManifest(UsageError):
    """The manifest was written by a newer storyboard: this one must not read or replace it."""


def parse_manifest(raw: bytes) -> tuple[dict[str, Any] | None, list[str]]:
    """Return (manifest, []) or (None, what is wrong with it); raise NewerManifest for a newer one."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, [f"not JSON: {e}"]
    if not isinstance(data, dict):
        return None, ["not a JSON object"]
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise NewerManifest(
            f"{MANIFEST} was written by a newer storyboard (schema_version {version}; this one reads "
            f"{SCHEMA_VERSION}). Upgrade storyboard (pip install -U storyboard-chain), or choose another folder with -o."
        )
    problems = _shape_problems(data)
    return (None, problems) if problems else (data, [])


_INT, _NUM, _STR, _BOOL, _LIST, _DICT = "an integer", "a number", "a string", "true or false", "a list", "an object"
_ENTRY = {
    "number": _INT, "take": _INT, "takes": _INT, "width": _INT, "height": _INT, "attempts": _INT,
    "possibly_billed_twice": _INT, "picked": _BOOL, "lock": _BOOL, "page_break": _BOOL, "cost_estimated": _BOOL,
    "duration": _NUM, "seconds": _NUM, "cost_usd": _NUM, "seed": _INT,
    "id": _STR, "ident": _STR, "file": _STR, "take_file": _STR, "sha256": _STR, "media_type": _STR, "kind": _STR,
    "prompt": _STR, "revised_prompt": _STR, "caption": _STR, "notes": _STR, "text": _STR, "model": _STR,
    "size": _STR, "quality": _STR, "status": _STR, "reason": _STR, "request_id": _STR, "key": _STR,
    "camera": _STR, "balloon": _STR,
    "choices": _LIST, "characters": _LIST, "inputs": _LIST, "dialogue": _LIST, "file_stat": _LIST,
    "options": _DICT, "source": _DICT, "outpaint": _DICT, "error": _DICT, "usage": _DICT, "edited_take": _DICT,
}
_SHEET = {"file": _STR, "sha256": _STR, "media_type": _STR, "status": _STR, "prompt": _STR, "file_stat": _LIST}
_TOP = {"story": _DICT, "run": _DICT, "totals": _DICT, "characters": _LIST}


def _fits(value: Any, kind: str) -> bool:
    if value is None:
        return True
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _NUM:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {_STR: str, _BOOL: bool, _LIST: list, _DICT: dict}[kind])


def _shape_problems(data: dict[str, Any], limit: int = 10) -> list[str]:
    """Return what in a manifest has the wrong type (the sheet, exports and runs rely on these)."""
    out: list[str] = []

    def check(where: str, obj: dict[str, Any], table: dict[str, str]) -> None:
        for key, kind in table.items():
            if key in obj and not _fits(obj[key], kind):
                out.append(f"{where}{key}: expected {kind}, got {json.dumps(obj[key], ensure_ascii=False)[:40]}")

    if data.get("schema_version") != SCHEMA_VERSION:
        out.append(f"schema_version: expected {SCHEMA_VERSION}, got {json.dumps(data.get('schema_version'))}")
    check("", data, _TOP)
    frames = data.get("frames")
    if not isinstance(frames, list):
        out.append(f"frames: expected a list, got {json.dumps(frames, ensure_ascii=False)[:40]}")
        frames = []
    for i, e in enumerate(frames):
        if not isinstance(e, dict):
            out.append(f"frames[{i}]: expected an object")
            continue
        check(f"frames[{i}].", e, _ENTRY)
        sha = e.get("sha256")
        if isinstance(sha, str) and not _is_sha(sha):
            out.append(f"frames[{i}].sha256: not a sha256")
    for i, c in enumerate(data.get("characters") or [] if isinstance(data.get("characters"), list) else []):
        if not isinstance(c, dict):
            out.append(f"characters[{i}]: expected an object")
        elif isinstance(c.get("sheet"), dict):
            check(f"characters[{i}].sheet.", c["sheet"], _SHEET)
        elif c.get("sheet") is not None:
            out.append(f"characters[{i}].sheet: expected an object")
    return out[:limit]


def _is_sha(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def picked_entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the entry shown for each frame (its picked take), in story order."""
    return [e for e in manifest.get("frames", []) if e.get("picked")]


def _take_entry(job: Any, r: Any, placed: dict[str, Any] | None, digits_number: int | None) -> dict[str, Any]:
    """Return one manifest entry for one take of a frame, with the backend's own facts (`details`)
    added under keys the entry does not already have."""
    entry = _shared_entry(job, r, placed, digits_number)
    added = [k for k in getattr(r, "details", None) or {} if k not in entry]
    for k in added:
        entry[k] = r.details[k]
    if added:
        entry["backend_facts"] = added
    return entry


def _shared_entry(job: Any, r: Any, placed: dict[str, Any] | None, digits_number: int | None) -> dict[str, Any]:
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
    from storyboard.story.reads import reads

    frame_reads = {j.number: reads(plan.loaded, j.number - 1) for j in plan.frames}
    for e in frames:
        e["reads"] = frame_reads.get(e["number"])
        # Entries carried from an earlier run (`--only`) name their sources by id: renumber them too.
        e["inputs"] = [{**i, "number": id_numbers[i["frame"]]} if i.get("frame") in id_numbers else i
                       for i in e.get("inputs") or []]
        if isinstance(e.get("source"), dict) and e["source"].get("frame") in id_numbers:
            e["source"] = {**e["source"], "number": id_numbers[e["source"]["frame"]]}

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
        e["file"] = names.frame_file(job.name, e["file"].rsplit(".", 1)[-1])
    if e.get("take_file"):
        e["take_file"] = names.take_file(job.name, e["take"], e["take_file"].rsplit(".", 1)[-1])
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
