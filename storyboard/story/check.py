"""What the schema cannot check: ids, names, chain sources, cycles, files and choices."""

from __future__ import annotations

import keyword
import os
from pathlib import Path
from typing import Any

from storyboard.errors import Problem
from storyboard.story.schema import PROJECT_MARKER, RESERVED, LoadedStory, nearest


def check_story(loaded: LoadedStory) -> list[Problem]:
    """Check what the schema cannot: ids, names, chain sources, cycles, files, choices."""
    s = loaded.story
    out: list[Problem] = []
    at = loaded.problem

    for name in list(s.vars) + list(s.characters):
        where = ("vars", name, "__key__") if name in s.vars else ("characters", name, "__key__")  # at the name
        if not name.isidentifier() or keyword.iskeyword(name):
            out.append(at(where, f"`{name}` must be a Python-style identifier (letters, digits, _) to be used in prompts"))
        elif name in RESERVED:
            out.append(at(where, f"`{name}` is a reserved name in prompts; rename it (e.g. `{name}_`)"))
    for name in set(s.vars) & set(s.characters):
        out.append(at(("characters", name, "__key__"), f"`{name}` is both a var and a character; rename one"))

    ids: dict[str, int] = {}
    for i, f in enumerate(s.frames):
        if f.id is None:
            continue
        if f.id in ids:
            out.append(at(("frames", i, "id"), f"duplicate id `{f.id}` (also frame {ids[f.id] + 1}); ids must be unique"))
        elif f.id == "previous":
            out.append(at(("frames", i, "id"), "`previous` is reserved as a chain source; choose another id"))
        else:
            ids[f.id] = i

    for i, f in enumerate(s.frames):
        if f.prompt is None and not f.variation:
            out.append(at(("frames", i), "`prompt` is missing; every frame but a variation needs one"))
        kinds = [k for k in ("edit", "outpaint", "variation") if getattr(f, k)]
        if len(kinds) > 1:
            out.append(at(("frames", i, kinds[1]), f"a frame chains one way only; it has {' and '.join(kinds)}"))
        if f.mask and not f.edit:
            out.append(at(("frames", i, "mask"), "`mask` goes with `edit:` (an outpaint makes its own mask)"))
        if f.outpaint and f.size:
            out.append(at(("frames", i, "size"), "an outpaint's size follows from its source and `by`; remove `size`"))
        if isinstance(f.pick, int) and f.pick > f.takes:
            out.append(at(("frames", i, "pick"), f"pick {f.pick} but the frame has {f.takes} take(s); pick from 1 to {f.takes}"))
        src = f.source
        key = "outpaint" if f.outpaint else kinds[0] if kinds else None
        if src is not None and key is not None:
            out += _check_source(loaded, i, src, key, ids)
        if f.mask:
            out += _check_file(loaded, ("frames", i, "mask"), f.mask, "mask")
        for c in f.characters or []:
            if c not in s.characters:
                hint = nearest(c, list(s.characters))
                out.append(at(("frames", i, "characters"), f"unknown character `{c}`{hint}"))
        for j, ch in enumerate(f.choices):
            if ch.goto not in ids:
                hint = nearest(ch.goto, list(ids))
                out.append(at(("frames", i, "choices", j, "goto"), f"goto `{ch.goto}` names no frame id{hint}"))

    for name, c in s.characters.items():
        refs = [c.reference] if isinstance(c.reference, str) else (c.reference or [])
        if "generate" in refs and len(refs) > 1:
            out.append(at(("characters", name, "reference"), "`generate` stands alone; give files or `generate`"))
            continue
        for j, r in enumerate(refs):
            if r != "generate":
                where = ("characters", name, "reference") + ((j,) if isinstance(c.reference, list) else ())
                out += _check_file(loaded, where, r, "reference")

    out += _check_cycles(loaded, ids)  # with the other problems: one message names them all
    if not out:
        from storyboard.story.adventure import problems as adventure_problems

        out += adventure_problems(loaded)
    return out


def _check_source(loaded: LoadedStory, i: int, src: str, key: str, ids: dict[str, int]) -> list[Problem]:
    path: tuple[Any, ...] = ("frames", i, key) + (("from",) if key == "outpaint" else ())
    if src == "previous":
        if loaded.has_choices:
            return [loaded.problem(path, "`previous` has no meaning in a story with choices; name the frame id")]
        if i == 0:
            return [loaded.problem(path, "the first frame has no previous frame")]
        return []
    if is_path(src):
        return _check_file(loaded, path, src, "source")
    if src not in ids:
        return [loaded.problem(path, f"`{src}` names no frame id{nearest(src, list(ids))}")]
    return []


def is_path(src: str) -> bool:
    """Return True when a chain source names a file rather than a frame."""
    return "/" in src or "." in src


def resolve_file(loaded: LoadedStory, name: str) -> Path:
    """Return the real path of a file named in the story (relative to the story's folder, symlinks followed)."""
    return (loaded.base_dir / Path(name).expanduser()).resolve()


def story_relative(loaded: LoadedStory, name: str) -> str:
    """Return a file's name as the manifest records it: relative to the story, never absolute."""
    if not Path(name).expanduser().is_absolute():
        return name  # as written: request keys of id-less frames include it
    return os.path.relpath(resolve_file(loaded, name), loaded.base_dir.resolve())


MAX_INPUT_SIDE = 16_384  # pixels; a camera photo is ~6000, the API's largest output 3840
MAX_INPUT_PIXELS = 64_000_000


def image_problem(data: bytes) -> str | None:
    """Return why bytes are no usable input image (not PNG/JPEG/WebP, damaged, absurdly large), or None."""
    import io
    import warnings

    from PIL import Image

    from storyboard.render.imaging import sniff

    kind = sniff(data)
    if kind is None or kind[1] == "gif":
        return "is not a PNG, JPEG or WebP image"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                w, h = img.size
                if max(w, h) > MAX_INPUT_SIDE or w * h > MAX_INPUT_PIXELS:
                    return (f"is {w}x{h}; an input image is at most {MAX_INPUT_SIDE:,} pixels a side and "
                            f"{MAX_INPUT_PIXELS // 1_000_000} megapixels. Scale it down")
                if img.format == "PNG":
                    img.verify()  # every chunk's checksum, without decoding the pixels
                else:
                    if img.format == "JPEG":
                        img.draft("RGB", (max(1, w // 8), max(1, h // 8)))  # decode at 1/8: truncation still shows
                    img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"has more than {MAX_INPUT_PIXELS // 1_000_000} megapixels. Scale it down"
    except (OSError, SyntaxError, ValueError, EOFError):
        return "cannot be decoded: the file is truncated or damaged. Save it again"
    return None


def _check_file(loaded: LoadedStory, path: tuple[Any, ...], name: str, what: str) -> list[Problem]:
    p = resolve_file(loaded, name)
    if not p.is_file():
        return [loaded.problem(path, f"{what} file `{name}` not found (paths are relative to the story's folder)")]
    roots = loaded.roots
    if not any(p.is_relative_to(r) for r in roots):
        story_dir = roots[0]
        return [loaded.problem(path, (
            f"{what} file `{name}` is {p}, outside the folders this story may read (its own, {story_dir}"
            f"{''.join(', ' + str(r) for r in roots[1:])}). Move or copy it into the story's folder (or into a "
            f"project folder above it marked by a {PROJECT_MARKER} file), or allow its folder with "
            f"--assets {p.parent} (or STORYBOARD_ASSETS)"
        ))]
    try:
        problem = image_problem(p.read_bytes())
    except OSError as e:
        problem = f"cannot be read ({e.strerror})"
    return [loaded.problem(path, f"{what} file `{name}` {problem}")] if problem else []


def _check_cycles(loaded: LoadedStory, ids: dict[str, int]) -> list[Problem]:
    frames = loaded.story.frames
    deps: dict[int, int] = {}
    for i, f in enumerate(frames):
        src = f.source
        if src is None or is_path(src) or (src != "previous" and src not in ids):
            continue  # (an unknown source is its own problem)
        deps[i] = i - 1 if src == "previous" else ids[src]
    # Each frame has one source at most: walk each chain once (linear, however long), and name
    # every cycle once, from its first frame in the story.
    out = []
    done: set[int] = set()
    for start in deps:
        path: dict[int, int] = {}  # frame -> its place on this walk
        i = start
        while i in deps and i not in done and i not in path:
            path[i] = len(path)
            i = deps[i]
        if i in path:
            cycle = list(path)[path[i]:]
            first = min(cycle)
            cycle = cycle[cycle.index(first):] + cycle[:cycle.index(first)]
            names = " -> ".join(frames[k].id or str(k + 1) for k in [*cycle, first])
            out.append(loaded.problem(("frames", first), f"chain cycle {names}; a frame cannot depend on itself"))
        done |= path.keys()
    return out

