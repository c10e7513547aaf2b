"""Story -> plan: the jobs to run (character sheets, then frames in story order), each with its
rendered prompt, model, size, options, inputs, dependencies and estimated cost. No I/O beyond
reading the sizes of source files. The requests themselves, and their keys: `requests.py`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from storyboard import models, names
from storyboard.errors import Problem, StoryError
from storyboard.story import LoadedStory, is_path, resolve_file, story_relative
from storyboard.story.templating import Renderer, TemplateProblem, names_used

VARIATION_INSTRUCTION = (
    "Create a variation of the input image: the same subject, composition, palette and style, "
    "with small natural differences in detail."
)
SHEET_PROMPT = (
    "Character reference sheet of {description}. Full body, front, three-quarter and side views, "
    "neutral pose, plain light background, consistent design and colours, clean and readable."
)


@dataclass(frozen=True)
class Source:
    """Where a chained job's input image comes from: another job, or a file."""

    job: int | None = None
    file: Path | None = None
    label: str = ""


@dataclass(frozen=True)
class Reference:
    """A character reference image: a file, or the character sheet made by another job."""

    character: str
    job: int | None = None
    file: Path | None = None
    label: str = ""


@dataclass
class Job:
    """One frame or character sheet: one request per take."""

    index: int
    number: int | None  # story position (1-based); None for a character sheet
    id: str | None
    name: str  # file stem: "03-city", or "rex" for a character sheet
    ident: str  # identity in request keys: the id, or "#N" for an id-less frame
    kind: str  # generate | edit | outpaint | variation
    model: str
    profile: models.ModelProfile
    size: str | None
    quality: str | None
    options: dict[str, Any]
    prompt: str
    caption: str | None = None
    notes: str | None = None
    text: str | None = None
    choices: list[dict[str, str]] = field(default_factory=list)
    duration: float | None = None
    takes: int = 1
    pick: int = 1
    pick_edited: bool = False  # `pick: edited`: show the artist's hand-edited take (takes/NN-id-edited.ext)
    lock: bool = False
    dialogue: list[tuple[str, str]] = field(default_factory=list)  # (speaker, line)
    camera: str = "static"
    balloon: str | None = None
    page_break: bool = False
    seed: int | None = None  # the story's `seed:` (take 1's); None: derived per take (requests.take_seed)
    source: Source | None = None
    mask: Path | None = None
    mask_label: str = ""  # the mask as the manifest records it: relative to the story
    outpaint: dict[str, Any] | None = None  # extend, by
    references: list[Reference] = field(default_factory=list)
    characters: tuple[str, ...] = ()
    character: str | None = None  # set on a character-sheet job
    estimate: float | None = None  # USD per take
    warnings: list[str] = field(default_factory=list)

    @property
    def deps(self) -> tuple[int, ...]:
        """Return the jobs whose images this job needs."""
        out = [self.source.job] if self.source and self.source.job is not None else []
        out += [r.job for r in self.references if r.job is not None]
        return tuple(dict.fromkeys(out))

    @property
    def request_kind(self) -> str:
        """Return the endpoint kind: generate, edit or variation (outpaints are edits)."""
        if self.kind == "variation":
            return "variation" if self.profile.variations == "endpoint" else "edit"
        if self.kind in ("edit", "outpaint") or self.references:
            return "edit"
        return "generate"

    @property
    def input_count(self) -> int:
        """Return how many input images the request carries."""
        return (1 if self.source else 0) + len(self.references)


@dataclass
class Plan:
    """Everything a run will do, in order, with what it costs."""

    loaded: LoadedStory
    backend: str
    host: str | None
    jobs: list[Job]
    digits: int
    warnings: list[str]
    seeds: bool = False  # the backend takes seeds: each take's request carries one (requests.take_seed)

    @property
    def frames(self) -> list[Job]:
        """Return the frame jobs in story order."""
        return [j for j in self.jobs if j.number is not None]

    @property
    def sheets(self) -> list[Job]:
        """Return the character-sheet jobs."""
        return [j for j in self.jobs if j.character is not None]

    def by_id(self, frame_id: str) -> Job | None:
        """Return the frame job with this id."""
        return next((j for j in self.frames if j.id == frame_id), None)

    def wanted(self, selected: set[int] | None) -> list[Job]:
        """Return the jobs a run of `selected` (job indices; None: all) touches: those and,
        transitively, their sources, in plan order."""
        if selected is None:
            return list(self.jobs)
        need: set[int] = set()
        stack = list(selected)
        while stack:
            i = stack.pop()
            if i not in need:
                need.add(i)
                stack += self.jobs[i].deps
        return [j for j in self.jobs if j.index in need]

    def estimate(self, jobs: list[Job] | None = None) -> tuple[float, int]:
        """Return the estimated cost of all takes of `jobs`, and how many cannot be priced."""
        total, unpriced = 0.0, 0
        for j in self.jobs if jobs is None else jobs:
            if j.estimate is None:
                unpriced += j.takes
            else:
                total += j.estimate * j.takes
        return total, unpriced


def build_plan(
    loaded: LoadedStory,
    *,
    backend: str,
    host: str | None,
    model_override: str | None = None,
    today: date | None = None,
    seeds: bool = False,
) -> Plan:
    """Turn a validated story into a plan; raise StoryError listing every problem."""
    s = loaded.story
    today = today or date.today()
    openai_host = backend == "openai" and (host or "api.openai.com") == "api.openai.com"
    problems: list[Problem] = []
    said: dict[str, list[str]] = {}  # warning -> the frames (or character sheets) it is about, said once
    renderer = Renderer(loaded)
    jobs: list[Job] = []
    digits = names.digits(len(s.frames))
    checked_models: set[str] = set()

    def warn(who: str, texts: list[str]) -> None:
        for text in texts:
            said.setdefault(text, []).append(who)

    lifecycle: dict[str, str | None] = {}

    def profile_for(model: str, where: tuple[Any, ...], who: str) -> models.ModelProfile:
        profile = models.get_profile(model)
        if model not in checked_models:
            checked_models.add(model)
            error, lifecycle[model] = models.lifecycle(profile, openai_host=openai_host, today=today)
            if error:
                problems.append(loaded.problem(where, error))
        warn(who, [w for w in [lifecycle[model]] if w])
        return profile

    # Character sheets come first: frames that show the character wait for them.
    sheet_job: dict[str, int] = {}
    for name, c in s.characters.items():
        if c.reference != "generate":
            continue
        model = model_override or s.model
        profile = profile_for(model, ("characters", name) if model_override else ("model",), f"character sheet {name}")
        try:
            prompt = renderer.render(c.sheet_prompt, None) if c.sheet_prompt else SHEET_PROMPT.format(description=c.description)
        except TemplateProblem as e:
            problems.append(loaded.problem(("characters", name, "sheet_prompt"), str(e)))
            prompt = ""
        sheet_warnings: list[str] = []
        size, quality = _size_quality(loaded, profile, "3:2", _quality_of(s.quality, profile), ("characters", name), problems, sheet_warnings)
        warn(f"character sheet {name}", sheet_warnings)
        job = Job(
            index=len(jobs), number=None, id=None, name=name, ident=f"character:{name}", kind="generate",
            model=model, profile=profile, size=size, quality=quality, options=dict(s.options), prompt=prompt,
            caption=f"{name}: character sheet", character=name,
        )
        # A sheet is a generation like any other: its options (the story's) are checked as one's are.
        for msg in models.check_options(profile, job.options, kind="generate"):
            problems.append(loaded.problem(("options",), f"{msg} (the character sheet of {name} is a generation)"))
        job.estimate = _estimate(job)
        sheet_job[name] = job.index
        jobs.append(job)

    first_frame = len(jobs)
    ids = {f.id: first_frame + i for i, f in enumerate(s.frames) if f.id}
    occurrences: dict[str, int] = {}
    for i, f in enumerate(s.frames):
        where = ("frames", i)
        model = model_override or f.model or s.model
        name = names.stem(i + 1, f.id, digits)
        profile = profile_for(model, (*where, "model") if f.model else ("model",), f"frame {name}")
        try:
            prompt = renderer.prompt(i) if f.prompt else ""
            used = names_used(f.prompt) if f.prompt else set()
        except TemplateProblem as e:
            problems.append(loaded.problem((*where, "prompt"), f"frame {i + 1}{' ' + f.id if f.id else ''}: {e}"))
            prompt, used = "", set()
        chars = tuple(f.characters) if f.characters is not None else tuple(n for n in s.characters if n in used)

        source = None
        if f.source:
            src = f.source
            if src == "previous":
                source = Source(job=first_frame + i - 1, label=f"frame {names.number(i, digits)}")
            elif is_path(src):
                source = Source(file=resolve_file(loaded, src), label=story_relative(loaded, src))
            else:
                k = ids[src]
                source = Source(job=k, label=f"frame {names.number(k - first_frame + 1, digits)} {src}")

        refs: list[Reference] = []
        for c_name in chars:
            c = s.characters[c_name]
            if c.reference == "generate":
                refs.append(Reference(c_name, job=sheet_job[c_name], label=f"character sheet {c_name}"))
            elif c.reference:
                for r in [c.reference] if isinstance(c.reference, str) else c.reference:
                    refs.append(Reference(c_name, file=resolve_file(loaded, r), label=story_relative(loaded, r)))

        job = Job(
            index=len(jobs), number=i + 1, id=f.id, name=name, ident=f.id or "", kind=f.kind, model=model,
            profile=profile, size=None, quality=None, options={**s.options, **f.options}, prompt=prompt,
            caption=f.caption, notes=f.notes, text=f.text, choices=[c.model_dump() for c in f.choices],
            duration=f.duration or s.duration, takes=f.takes, pick=f.pick if isinstance(f.pick, int) else 1, pick_edited=f.pick == "edited", lock=f.lock, source=source,
            dialogue=f.lines, camera=f.camera, balloon=f.balloon, page_break=f.page_break, seed=f.seed,
            mask=resolve_file(loaded, f.mask) if f.mask else None, mask_label=story_relative(loaded, f.mask) if f.mask else "",
            outpaint={"extend": f.outpaint.extend, "by": f.outpaint.by} if f.outpaint else None,
            references=refs, characters=chars,
        )
        if job.kind == "variation" and profile.variations != "endpoint":
            job.prompt = f"{VARIATION_INSTRUCTION} {prompt}".strip()
        elif job.kind == "variation":
            job.prompt = ""  # the legacy variations endpoint takes no prompt
        jobs.append(job)

    # A chain may name a later frame (acyclic: check_story refuses cycles), so sizes are settled
    # sources first; identities and estimates then in story order.
    for job in _chain_order(jobs, first_frame):
        job_warnings: list[str] = []
        _check_job(loaded, job, s.frames[job.number - 1].size, jobs, problems, job_warnings)  # type: ignore[operator]
        warn(f"frame {job.name}", job_warnings)
    for job in jobs[first_frame:]:
        f, source, model = s.frames[job.number - 1], job.source, job.model  # type: ignore[operator]
        if not f.id:
            sig = json.dumps([job.kind, model, job.prompt, job.size, job.quality, sorted(job.options.items()),
                              source.label if source else None], default=str)
            job.ident = f"#{occurrences.get(sig, 0)}"
            occurrences[sig] = occurrences.get(sig, 0) + 1
        job.estimate = _estimate(job)

    if problems:  # one line per problem, even when many frames share it
        raise StoryError(sorted(dict.fromkeys(problems), key=lambda p: (p.line or 0, p.column or 0)))
    from storyboard.story import adventure

    frame_count = len(jobs) - first_frame
    warnings = [f"{_who(whos, frame_count)}: {_explained(text)}" for text, whos in said.items()]
    warnings += adventure.warnings(loaded)
    seeded = [j.name for j in jobs if j.seed is not None]
    if seeded and not seeds:
        warnings.append(f"frame{'s' if len(seeded) > 1 else ''} {', '.join(seeded)} set{'' if len(seeded) > 1 else 's'} "
                        f"`seed:`, but the {backend} backend takes no seeds: it is ignored.")
    if backend == "draft":  # drafts are drawn offline: free
        for job in jobs:
            job.estimate = 0.0
    return Plan(loaded, backend, host, jobs, digits, warnings, seeds)


def _check_job(
    loaded: LoadedStory, job: Job, size: str | None, jobs: list[Job], problems: list[Problem], warnings: list[str]
) -> None:
    """Fill the job's size and quality and check them, its options and inputs against the model."""
    s = loaded.story
    i = job.number - 1  # type: ignore[operator]
    f = s.frames[i]
    where = ("frames", i)
    p = job.profile

    if job.kind == "outpaint":
        src_size = _source_size(job, jobs)
        job.quality = f.quality or _quality_of(s.quality, p)
        _quality(loaded, p, job.quality, (*where, "quality") if f.quality else ("quality",), problems)
        if src_size:
            try:
                geo = models.outpaint_geometry(p, *src_size, f.outpaint.extend, f.outpaint.by)  # type: ignore[union-attr]
            except ValueError as e:
                problems.append(loaded.problem((*where, "outpaint"), str(e)))
            else:
                job.size = f"{geo.canvas[0]}x{geo.canvas[1]}"
                warnings += geo.warnings
    elif job.kind in ("edit", "variation") and not size:
        src_size = _source_size(job, jobs)
        inherited = f"{src_size[0]}x{src_size[1]}" if src_size else None
        try:
            job.size, warn = models.resolve_size(p, inherited) if inherited else (None, [])
            warnings += warn
        except ValueError:
            # a file source of a size the model cannot make: fall back to the story's size
            job.size, _ = _size_quality(loaded, p, s.size, _quality_of(s.quality, p), ("size",), problems, warnings)
            warnings.append(f"its source is {inherited}, which {job.model} cannot make; using {job.size}")
        job.quality = f.quality or _quality_of(s.quality, p)
        _quality(loaded, p, job.quality, (*where, "quality") if f.quality else ("quality",), problems)
    else:
        job.size, job.quality = _size_quality(
            loaded, p, size or s.size, f.quality or _quality_of(s.quality, p),
            where, problems, warnings, size_key="size" if size else None, quality_key="quality" if f.quality else None,
        )

    for msg in models.check_options(p, job.options, kind=job.request_kind):
        key = (*where, "options") if f.options else ("options",)
        problems.append(loaded.problem(key, msg))
    if len(job.prompt) > p.prompt_limit:
        problems.append(loaded.problem((*where, "prompt"), f"the prompt is {len(job.prompt):,} characters; {job.model} takes at most {p.prompt_limit:,}. Shorten it."))
    if job.request_kind != "generate" and not p.edits and not (job.kind == "variation" and p.variations == "endpoint"):
        why = "references of " + ", ".join(job.characters) if job.references and job.kind == "generate" else f"`{job.kind}`"
        problems.append(loaded.problem(where, f"{job.model} cannot take input images ({why}); use a GPT image model such as gpt-image-2"))
    elif job.references and not p.references:
        names = ", ".join(sorted({r.character for r in job.references}))
        problems.append(loaded.problem(where, f"frame {job.name} names {names}, whose reference images {job.model} cannot take; use a model that takes references, such as gpt-image-2, or leave them out with `characters: []`."))
    elif job.input_count > p.max_inputs:
        problems.append(loaded.problem(where, f"frame {job.name} sends {job.input_count} input images (source and character references); {job.model} takes at most {p.max_inputs}. Name fewer characters with `characters: [...]`."))
    if job.mask and not p.mask:
        problems.append(loaded.problem((*where, "mask"), f"{job.model} does not take a mask"))
    elif job.mask and job.source is not None:
        from storyboard.render.imaging import check_mask

        src_size = _source_size(job, jobs)
        problem = check_mask(job.mask.read_bytes(), src_size) if src_size else None
        if problem:
            problems.append(loaded.problem((*where, "mask"), problem))


def _chain_order(jobs: list[Job], first_frame: int) -> list[Job]:
    """Return the frame jobs with every chain source before the frames chained from it."""
    done: set[int] = set()
    order: list[Job] = []
    for job in jobs[first_frame:]:
        stack: list[Job] = []
        on_stack: set[int] = set()
        j: Job | None = job
        while j is not None and j.index not in done and j.index not in on_stack:
            stack.append(j)
            on_stack.add(j.index)
            src = j.source.job if j.source else None
            j = jobs[src] if src is not None and src >= first_frame else None
        for j in reversed(stack):
            done.add(j.index)
            order.append(j)
    return order


def _who(names: list[str], frame_count: int) -> str:
    """Return who a warning is about: `frame 03-city`, `frames 01-lab and 02-city`, `every frame`."""
    names = list(dict.fromkeys(names))
    frames = [n.removeprefix("frame ") for n in names if n.startswith("frame ")]
    others = [n for n in names if not n.startswith("frame ")]
    parts = others
    if frames and len(frames) == frame_count and frame_count > 1:
        parts = ["every frame", *others]
    elif len(frames) == 1:
        parts = [f"frame {frames[0]}", *others]
    elif frames:
        shown = frames if len(frames) <= 4 else [*frames[:3], f"{len(frames) - 3} more"]
        parts = [f"frames {', '.join(shown[:-1])} and {shown[-1]}", *others]
    return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]


def _explained(text: str) -> str:
    """Return a warning with what its jargon means."""
    if text.endswith(": experimental"):
        return text + " (OpenAI's word: such sizes may fail or come out less reliably; 2560x1440 and below are safe)"
    return text


def _size_quality(
    loaded: LoadedStory, p: models.ModelProfile, size: str, quality: str, where: tuple[Any, ...],
    problems: list[Problem], warnings: list[str], *, size_key: str | None = None, quality_key: str | None = None,
) -> tuple[str | None, str | None]:
    resolved = None
    try:
        resolved, warn = models.resolve_size(p, size)
        warnings += warn
    except ValueError as e:
        problems.append(loaded.problem((*where, size_key) if size_key else ("size",), str(e)))
    _quality(loaded, p, quality, (*where, quality_key) if quality_key else ("quality",), problems)
    return resolved, quality


def _quality_of(story_quality: str | None, p: models.ModelProfile) -> str:
    """Return the story's quality, or the default: medium, or the model's own where it has no medium."""
    if story_quality:
        return story_quality
    return "medium" if "medium" in p.qualities or not p.known else (p.default_quality or "medium")


def _quality(loaded: LoadedStory, p: models.ModelProfile, quality: str, where: tuple[Any, ...], problems: list[Problem]) -> None:
    try:
        models.check_quality(p, quality)
    except ValueError as e:
        problems.append(loaded.problem(where, str(e)))


def _source_size(job: Job, jobs: list[Job]) -> tuple[int, int] | None:
    """Return the planned size of the job's source (a job's size, or a file's pixels)."""
    src = job.source
    if src is None:
        return None
    if src.job is not None:
        size = jobs[src.job].size
        return _wh(size) if size else None
    from storyboard.render.imaging import dimensions

    return dimensions(src.file.read_bytes())  # type: ignore[union-attr]


def _wh(size: str) -> tuple[int, int]:
    w, h = size.lower().split("x")
    return int(w), int(h)


def _estimate(job: Job) -> float | None:
    if not job.size or not job.quality:
        return None
    return models.estimate_cost(job.profile, job.size, job.quality, input_images=job.input_count, prompt_chars=len(job.prompt))
