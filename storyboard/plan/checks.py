"""The plan's checks of each job against its model: size (resolved, inherited from a chain source,
or an outpaint's canvas), quality, options, prompt length, input images and mask; and each job's
estimated cost. Problems and warnings are collected, never raised one by one."""

from __future__ import annotations

from typing import Any

from storyboard import models
from storyboard.backends.plugin import Plugin
from storyboard.errors import Problem
from storyboard.plan.jobs import Job
from storyboard.story import LoadedStory


def check_job(
    loaded: LoadedStory, plugin: Plugin, job: Job, size: str | None, jobs: list[Job], problems: list[Problem], warnings: list[str]
) -> None:
    """Fill the job's size and quality and check them, its options and inputs against the model."""
    s = loaded.story
    i = job.number - 1  # type: ignore[operator]
    f = s.frames[i]
    where = ("frames", i)
    p = job.profile

    if job.kind == "outpaint":
        src_size = _source_size(job, jobs)
        job.quality = f.quality or quality_of(s.quality, p)
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
            job.size, _ = size_quality(loaded, p, s.size, quality_of(s.quality, p), ("size",), problems, warnings)
            warnings.append(f"its source is {inherited}, which {job.model} cannot make; using {job.size}")
        job.quality = f.quality or quality_of(s.quality, p)
        _quality(loaded, p, job.quality, (*where, "quality") if f.quality else ("quality",), problems)
    else:
        job.size, job.quality = size_quality(
            loaded, p, size or s.size, f.quality or quality_of(s.quality, p),
            where, problems, warnings, size_key="size" if size else None, quality_key="quality" if f.quality else None,
        )

    # A problem the story's own options have is the story's, said at its line, even for a frame with options of its own.
    story_level = set(plugin.check_options(p, dict(s.options), kind=job.request_kind)) if f.options and s.options else set()
    for msg in plugin.check_options(p, job.options, kind=job.request_kind):
        key = (*where, "options") if f.options and msg not in story_level else ("options",)
        problems.append(loaded.problem(key, msg))
    if len(job.prompt) > p.prompt_limit:
        problems.append(loaded.problem((*where, "prompt"), f"the prompt is {len(job.prompt):,} characters; {job.model} takes at most {p.prompt_limit:,}. Shorten it."))
    if job.request_kind != "generate" and not p.edits and not (job.kind == "variation" and p.variations == "endpoint"):
        why = "references of " + ", ".join(job.characters) if job.references and job.kind == "generate" else f"`{job.kind}`"
        problems.append(loaded.problem(where, f"{job.model} cannot take input images ({why}); use a GPT image model such as gpt-image-2"))
    elif job.references and not p.references:
        names = ", ".join(sorted({r.character for r in job.references}))
        fix = plugin.hints.references or "use a model that takes references, such as gpt-image-2"
        problems.append(loaded.problem(where, f"frame {job.name} names {names}, whose reference images {job.model} cannot take; {fix}, or leave them out with `characters: []`."))
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


def size_quality(
    loaded: LoadedStory, p: models.ModelProfile, size: str, quality: str, where: tuple[Any, ...],
    problems: list[Problem], warnings: list[str], *, size_key: str | None = None, quality_key: str | None = None,
) -> tuple[str | None, str | None]:
    """Resolve a size and check it and a quality against the model, collecting problems."""
    resolved = None
    try:
        resolved, warn = models.resolve_size(p, size)
        warnings += warn
    except ValueError as e:
        problems.append(loaded.problem((*where, size_key) if size_key else ("size",), str(e)))
    _quality(loaded, p, quality, (*where, quality_key) if quality_key else ("quality",), problems)
    return resolved, quality


def quality_of(story_quality: str | None, p: models.ModelProfile) -> str:
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
    return models.parse_size(size)


def estimate(job: Job) -> float | None:
    """Return the estimated cost of one take of a job (None: it cannot be priced)."""
    if not job.size or not job.quality:
        return None
    return models.estimate_cost(job.profile, job.size, job.quality, input_images=job.input_count, prompt_chars=len(job.prompt))
