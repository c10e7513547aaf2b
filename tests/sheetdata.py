"""Sample output folders for tests: real images drawn with Pillow and a manifest in the shape
that `storyboard.output.manifest` documents, so the sheet and the exports can be tested without a run.

`build(out_dir, specs)` is the general factory; `rich`, `branching` and `many` are presets.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from pathlib import Path
from typing import Any

HOSTILE_PROMPT = '<script>alert(1)</script> a robot dog & his "friend" </textarea><!--'
HOSTILE_CAPTION = "<img src=x onerror=alert(2)> Rex's caption"
JAPANESE_CAPTION = "ロボット犬が雨の街で目を覚ます。"

_EXT = {"png": "png", "jpeg": "jpg", "webp": "webp"}
_MEDIA = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
_PALETTE = [
    ((64, 92, 140), (214, 190, 160)),
    ((40, 70, 60), (200, 210, 170)),
    ((120, 60, 70), (240, 200, 170)),
    ((30, 40, 80), (120, 150, 210)),
    ((90, 80, 60), (230, 220, 190)),
    ((50, 90, 110), (170, 220, 220)),
]


def image_bytes(width: int, height: int, *, label: str = "", seed: int = 0, fmt: str = "png") -> bytes:
    """Draw a small scene (sky, ground, sun, a label) and return it encoded as `fmt`."""
    from PIL import ImageDraw

    bottom = _PALETTE[seed % len(_PALETTE)][1]
    img = _gradient(seed % len(_PALETTE)).resize((width, height))
    draw = ImageDraw.Draw(img)
    horizon = int(height * (0.62 + 0.08 * ((seed * 7) % 3 - 1)))
    draw.rectangle([0, horizon, width, height], fill=tuple(max(0, c - 60) for c in bottom))
    r = max(4, min(width, height) // 9)
    cx = width * (2 + (seed * 5) % 7) // 10
    draw.ellipse([cx - r, horizon // 3 - r, cx + r, horizon // 3 + r], fill=(250, 236, 200))
    if label and min(width, height) >= 64:  # illegible below that; skipping keeps big sets quick
        size = max(10, min(width, height) // 8)
        font = _font(size)
        draw.text((width // 20, height - size * 1.3), label, fill=(255, 255, 255), font=font)
    buf = io.BytesIO()
    img.save(buf, format=fmt.upper(), **({"quality": 85} if fmt != "png" else {}))
    return buf.getvalue()


@functools.lru_cache(maxsize=len(_PALETTE))
def _gradient(index: int) -> Any:
    from PIL import Image

    # A 1-pixel-wide gradient, stretched: far faster than drawing line by line.
    top, bottom = _PALETTE[index]
    column = Image.new("RGB", (1, 256))
    column.putdata([tuple(top[c] + (bottom[c] - top[c]) * y // 255 for c in range(3)) for y in range(256)])
    return column


@functools.lru_cache(maxsize=8)
def _font(size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _write(out_dir: Path, rel: str, data: bytes) -> str:
    path = out_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _entry_defaults() -> dict[str, Any]:
    return {
        "number": 1,
        "id": None,
        "take": 1,
        "takes": 1,
        "picked": True,
        "file": None,
        "take_file": None,
        "sha256": None,
        "media_type": None,
        "width": None,
        "height": None,
        "kind": "generate",
        "prompt": "",
        "revised_prompt": None,
        "caption": None,
        "notes": None,
        "text": None,
        "choices": [],
        "duration": 2,
        "model": "gpt-image-2",
        "size": "1536x1024",
        "quality": "medium",
        "options": {},
        "characters": [],
        "source": None,
        "inputs": [],
        "outpaint": None,
        "status": "ok",
        "reason": None,
        "error": None,
        "attempts": 1,
        "seconds": 12.5,
        "usage": None,
        "cost_usd": 0.042,
        "cost_estimated": True,
        "request_id": None,
        "key": None,
        "possibly_billed_twice": 0,
    }


def build(
    out_dir: Path,
    specs: list[dict[str, Any]],
    *,
    title: str = "Robot Dog's Journey",
    backend: str = "openai",
    characters: list[dict[str, Any]] | None = None,
    image_size: tuple[int, int] = (768, 512),
    write_manifest: bool = True,
    all_runs_factor: float = 2.0,
) -> dict[str, Any]:
    """Write images and `manifest.json` for `specs` (one dict per frame) into `out_dir`; return the manifest.

    A spec holds any manifest entry key plus: `takes`/`pick` (ints), `take_status` (a status per
    take), `image_size` (w, h), `fmt` (png, jpeg, webp), `from` (a frame id: chained from it) and
    `refs` (character names whose references are inputs). Frames that `failed` or are `skipped`
    get no image.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    digits = max(2, len(str(len(specs))))
    cast = _characters(out_dir, characters or [])
    picked_by_id: dict[str, dict[str, Any]] = {}
    entries: list[dict[str, Any]] = []
    for number, spec in enumerate(specs, 1):
        spec = dict(spec)
        n_takes = spec.pop("takes", 1)
        pick = spec.pop("pick", 1)
        take_status = spec.pop("take_status", None)
        w, h = spec.pop("image_size", image_size)
        fmt = spec.pop("fmt", "png")
        source_id = spec.pop("from", None)
        refs = spec.pop("refs", [])
        frame_status = spec.get("status", "ok")
        stem = f"{number:0{digits}d}" + (f"-{spec['id']}" if spec.get("id") else "")
        for take in range(1, n_takes + 1):
            e = _entry_defaults()
            e.update(spec)
            e.update(number=number, take=take, takes=n_takes, picked=take == pick)
            e["status"] = take_status[take - 1] if take_status else frame_status
            if e["status"] in ("failed", "skipped"):
                e.update(cost_usd=0.0 if e["status"] == "skipped" else e["cost_usd"], seconds=e["seconds"])
                if e["status"] == "skipped":
                    e.update(attempts=0, seconds=0.0)
            else:
                data = image_bytes(
                    w, h, label=stem + (f" t{take}" if n_takes > 1 else ""), seed=number * 3 + take, fmt=fmt
                )
                take_file = f"takes/{stem}-{take:02d}.{_EXT[fmt]}" if n_takes > 1 else None
                file = f"frames/{stem}.{_EXT[fmt]}" if e["picked"] else take_file
                sha = _write(out_dir, file, data)
                if take_file and e["picked"]:
                    _write(out_dir, take_file, data)
                e.update(
                    file=file, take_file=take_file, sha256=sha, media_type=_MEDIA[fmt], width=w, height=h
                )
                e["request_id"] = f"req_{number:04d}{take:02d}"
                e["key"] = hashlib.sha256(f"{number}/{take}".encode()).hexdigest()
            if source_id:
                src = picked_by_id[source_id]
                e["source"] = {"frame": source_id, "number": src["number"]}
                e["inputs"] = [{"role": "source", "frame": source_id, "file": None, "sha256": src["sha256"]}]
                e["kind"] = spec.get("kind", "edit")
            for name in refs:
                e["characters"] = sorted(set(e["characters"]) | {name})
                for ref in next(c for c in cast if c["name"] == name)["references"]:
                    e["inputs"].append(
                        {"role": "reference", "frame": None, "file": ref["file"], "sha256": ref["sha256"]}
                    )
            entries.append(e)
            if e["picked"] and e.get("id"):
                picked_by_id[e["id"]] = e
    manifest = {
        "schema_version": 1,
        "story": {"title": title, "file": "story.yaml", "sha256": hashlib.sha256(title.encode()).hexdigest()},
        "run": {
            "started": "2026-03-14T09:30:00Z",
            "finished": "2026-03-14T09:31:12Z",
            "seconds": 72.4,
            "tool_version": "0.1.0",
            "backend": backend,
            "base_url_host": None if backend == "draft" else "api.openai.com",
            "interrupted": False,
        },
        "totals": _totals(entries, all_runs_factor),
        "characters": cast,
        "frames": entries,
    }
    if backend == "draft":
        for e in entries:
            e.update(cost_usd=0.0, model="gpt-image-2")
        manifest["totals"] = _totals(entries, 1.0)
    if write_manifest:
        (out_dir / "manifest.json").write_text(
            json.dumps(manifest, indent=1 if len(entries) < 100 else None, ensure_ascii=False),
            encoding="utf-8",
        )
    return manifest


def _characters(out_dir: Path, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    cast = []
    for i, spec in enumerate(specs):
        refs = []
        for j in range(spec.get("references", 0)):
            data = image_bytes(256, 256, label=f"ref{j + 1}", seed=40 + i * 5 + j)
            sha = hashlib.sha256(data).hexdigest()
            _write(out_dir, f"inputs/{sha}.png", data)
            refs.append(
                {"file": f"inputs/{sha}.png", "sha256": sha, "source": f"refs/{spec['name']}-{j + 1}.png"}
            )
        sheet = None
        if spec.get("sheet"):
            status = spec.get("sheet_status", "ok")
            sheet = {
                "file": None,
                "sha256": None,
                "prompt": f"character sheet: {spec['description']}",
                "status": status,
                "model": "gpt-image-2",
                "size": "1536x1024",
                "cost_usd": 0.063,
                "error": None,
            }
            if status == "failed":
                sheet["error"] = {
                    "type": "BadRequestError",
                    "code": "moderation_blocked",
                    "message": "Your request was rejected by the safety system.",
                }
            else:
                data = image_bytes(768, 512, label=spec["name"], seed=60 + i)
                sheet["file"] = f"characters/{spec['name']}.png"
                sheet["sha256"] = _write(out_dir, sheet["file"], data)
        cast.append(
            {"name": spec["name"], "description": spec["description"], "references": refs, "sheet": sheet}
        )
    return cast


def _totals(entries: list[dict[str, Any]], factor: float) -> dict[str, Any]:
    def count(status: str) -> int:
        return sum(e["status"] == status for e in entries)

    run = {
        "requests": sum(e["status"] in ("ok", "failed") for e in entries),
        "images": sum(e["file"] is not None for e in entries),
        "failures": count("failed"),
        "skipped": count("skipped"),
        "cached": count("cached"),
        "retries": sum(max(0, (e["attempts"] or 0) - 1) for e in entries),
        "possibly_billed_twice": sum(e["possibly_billed_twice"] for e in entries),
        "cost_usd": round(sum(e["cost_usd"] or 0 for e in entries if e["status"] != "cached"), 4),
        "cost_estimated": any(e["cost_estimated"] for e in entries),
        "seconds": 72.4,
    }
    every = dict(
        run,
        requests=int(run["requests"] * factor),
        images=int(run["images"] * factor),
        cost_usd=round(run["cost_usd"] * factor, 4),
        seconds=round(72.4 * factor, 1),
    )
    return {"run": run, "all": every}


def rich(out_dir: Path, **kwargs: Any) -> dict[str, Any]:
    """Write a story that shows everything the sheet draws: takes, chains, cast, failures, hostile text."""
    specs: list[dict[str, Any]] = [
        {
            "id": "lab",
            "prompt": "A small silver robot dog wakes up on a workbench. soft watercolor",
            "caption": "Rex wakes up.",
            "notes": "WIDE. Slow push in. SFX: servo whine",
            "refs": ["rex"],
        },
        {
            "id": "city",
            "prompt": "Rex explores a rain-soaked neon city.",
            "caption": JAPANESE_CAPTION,
            "takes": 3,
            "pick": 2,
            "fmt": "jpeg",
            "notes": "MEDIUM. Tracking left to right.",
        },
        {
            "id": "night",
            "from": "city",
            "prompt": "the same street at night, lights reflected in puddles",
            "caption": "Night falls.",
            "status": "edited",
            "notes": "Hand-painted fix on the sign.",
        },
        {
            "id": "wider",
            "from": "night",
            "kind": "outpaint",
            "prompt": "the street continues into a harbour",
            "caption": "The harbour.",
            "image_size": (1024, 512),
            "outpaint": {
                "extend": "right",
                "by": 0.5,
                "added": {"left": 0, "top": 0, "right": 256, "bottom": 0},
            },
        },
        {
            "id": "hostile",
            "prompt": HOSTILE_PROMPT,
            "caption": HOSTILE_CAPTION,
            "notes": '<b>not bold</b> & "quoted"',
            "revised_prompt": "<script>alert(3)</script> revised",
        },
        {
            "id": "poster",
            "prompt": "Rex on a movie poster",
            "caption": "Poster.",
            "image_size": (512, 768),
            "status": "locked",
            "size": "1024x1536",
            "fmt": "webp",
        },
        {
            "id": "storm",
            "prompt": "a storm over the harbour",
            "caption": "The storm.",
            "status": "failed",
            "reason": "moderation",
            "attempts": 1,
            "cost_usd": 0.0,
            "error": {
                "type": "BadRequestError",
                "code": "moderation_blocked",
                "message": "Your request was rejected by the safety system.",
            },
        },
        {
            "id": "aftermath",
            "from": None,
            "prompt": "after the storm",
            "caption": "After the storm.",
            "status": "skipped",
            "reason": "source failed",
            "source": {"frame": "storm", "number": 7},
        },
        {
            "prompt": "Rex sleeps under the stars",
            "caption": "Goodnight, Rex.",
            "status": "cached",
            "notes": "CLOSE. Fade out.",
        },
    ]
    characters = [
        {
            "name": "rex",
            "description": "a small silver robot dog with one glowing blue eye and a red scarf",
            "references": 2,
            "sheet": True,
        },
        {
            "name": "mia",
            "description": "a girl in a yellow raincoat <b>&</b> boots",
            "sheet": True,
            "sheet_status": "failed",
        },
    ]
    return build(out_dir, specs, characters=characters, **kwargs)


def branching(out_dir: Path, **kwargs: Any) -> dict[str, Any]:
    """Write a branching story: start -> left -> cave (an ending) or start -> right -> river -> home."""
    specs = [
        {
            "id": "start",
            "prompt": "a fork in a forest path",
            "caption": "The fork.",
            "text": "Rex reaches a fork in the path. Which way?",
            "choices": [{"label": "Go left", "goto": "left"}, {"label": "Go right", "goto": "right"}],
        },
        {
            "id": "left",
            "prompt": "a dark cave mouth",
            "caption": "The cave.",
            "text": "A cold wind blows from a cave.",
            "choices": [{"label": "Enter the cave", "goto": "cave"}],
        },
        {
            "id": "right",
            "prompt": "a river",
            "caption": "The river.",
            "text": "A river blocks the way.",
            "choices": [{"label": "Swim", "goto": "home"}, {"label": "Go back", "goto": "start"}],
        },
        {
            "id": "cave",
            "prompt": "crystals glowing in a cave",
            "caption": "Crystals.",
            "text": "The cave glitters with crystals. Rex stays forever.",
        },
        {"id": "home", "prompt": "a warm kitchen", "caption": "Home.", "text": "Rex is home, dripping wet."},
    ]
    return build(out_dir, specs, title="Rex's Choice", **kwargs)


def many(out_dir: Path, n: int, *, image_size: tuple[int, int] = (96, 64), **kwargs: Any) -> dict[str, Any]:
    """Write `n` plain frames with small distinct images (for scale and timing tests)."""
    specs = [
        {"id": f"shot-{i}", "prompt": f"shot {i}", "caption": f"Shot {i}.", "fmt": "jpeg" if i % 2 else "png"}
        for i in range(1, n + 1)
    ]
    return build(out_dir, specs, title=f"{n} frames", image_size=image_size, **kwargs)
