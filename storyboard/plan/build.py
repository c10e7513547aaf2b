"""Story -> plan: a validated story becomes its jobs, every problem of the whole story collected in
one StoryError and its warnings said once each."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from storyboard import models, names
from storyboard.backends.plugin import Identity, Plugin
from storyboard.errors import Problem, StoryError
from storyboard.plan.checks import check_job, estimate, quality_of, size_quality
from storyboard.plan.jobs import Job, Plan, Reference, Source
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


def build_plan(
    loaded: LoadedStory,
    *,
    backend: str,
    host: str | None,
    model_override: str | None = None,
    today: date | None = None,
    seeds: bool | None = None,
) -> Plan:
    """Turn a validated story into a plan for a backend (by name) and host; raise StoryError
    listing every problem. `seeds` overrides the backend's own say (True: every take)."""
    from storyboard.backends import registry

    s = loaded.story
    today = today or date.today()
    plugin = registry.get(backend).for_story(loaded.path.resolve().parent)  # model paths resolve in its folder
    identity = Identity(backend, host)
    takes_seeds = plugin.seeds if seeds is None else ("every" if seeds else "none")
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
    first: list[str] = []  # the first model used: another backend's model beside it is an error

    def profile_for(model: str, where: tuple[Any, ...], who: str) -> models.ModelProfile:
        profile = plugin.get_profile(model)
        if model not in checked_models:
            checked_models.add(model)
            first[:] = first or [model]
            foreign = _foreign(plugin, model, first[0])
            error, lifecycle[model] = plugin.check_model(profile, identity=identity, today=today)
            if foreign or error:
                problems.append(loaded.problem(where, foreign or error))  # type: ignore[arg-type]
        warn(who, [w for w in [lifecycle[model]] if w])
        return profile

    # A var's or a description's own template problem is said once, at its line (not at every prompt).
    values_problem: TemplateProblem | None = None
    try:
        renderer.values()
    except TemplateProblem as e:
        values_problem = e
        problems.append(loaded.problem(e.path or ("vars",), str(e)))
    # Character sheets come first: frames that show the character wait for them.
    sheet_job: dict[str, int] = {}
    for name, c in s.characters.items():
        if c.reference != "generate":
            continue
        model = model_override or s.model
        profile = profile_for(model, ("characters", name) if model_override else ("model",), f"character sheet {name}")
        try:
            prompt = renderer.render(c.sheet_prompt, None) if c.sheet_prompt else SHEET_PROMPT.format(description=renderer.characters[name].description)
        except TemplateProblem as e:
            if e is not values_problem:
                problems.append(loaded.problem(("characters", name, "sheet_prompt"), str(e)))
            prompt = ""
        sheet_warnings: list[str] = []
        size, quality = size_quality(loaded, profile, "3:2", quality_of(s.quality, profile), ("characters", name), problems, sheet_warnings)
        warn(f"character sheet {name}", sheet_warnings)
        job = Job(
            index=len(jobs), number=None, id=None, name=name, ident=f"character:{name}", kind="generate",
            model=model, profile=profile, size=size, quality=quality, options=dict(s.options), prompt=prompt,
            caption=f"{name}: character sheet", character=name,
        )
        # A sheet is a generation like any other: its options (the story's) are checked as one's are.
        for msg in plugin.check_options(profile, job.options, kind="generate"):
            problems.append(loaded.problem(("options",), f"{msg} (the character sheet of {name} is a generation)"))
        job.estimate = estimate(job)
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
            if e is not values_problem:
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
        if job.kind == "variation" and profile.variations == "edit":
            job.prompt = f"{VARIATION_INSTRUCTION} {prompt}".strip()
        elif job.kind == "variation" and profile.variations == "endpoint":
            job.prompt = ""  # the legacy variations endpoint takes no prompt
        jobs.append(job)

    # A chain may name a later frame (acyclic: check_story refuses cycles), so sizes are settled
    # sources first; identities and estimates then in story order.
    for job in _chain_order(jobs, first_frame):
        job_warnings: list[str] = []
        check_job(loaded, plugin, job, s.frames[job.number - 1].size, jobs, problems, job_warnings)  # type: ignore[operator]
        warn(f"frame {job.name}", job_warnings)
    for job in jobs[first_frame:]:
        f, source, model = s.frames[job.number - 1], job.source, job.model  # type: ignore[operator]
        if not f.id:
            sig = json.dumps([job.kind, model, job.prompt, job.size, job.quality, sorted(job.options.items()),
                              source.label if source else None], default=str)
            job.ident = f"#{occurrences.get(sig, 0)}"
            occurrences[sig] = occurrences.get(sig, 0) + 1
        job.estimate = estimate(job)

    if problems:  # one line per problem, even when many frames share it
        raise StoryError(sorted(dict.fromkeys(problems), key=lambda p: (p.line or 0, p.column or 0)))
    from storyboard.story import adventure

    for job in jobs if takes_seeds == "none" else []:
        if job.seed is not None:
            warn(f"frame {job.name}", [f"`seed:` is ignored: the {backend} backend takes no seeds"])
    frame_count = len(jobs) - first_frame
    warnings = [f"{_who(whos, frame_count)}: {_explained(text)}" for text, whos in said.items()]
    warnings += adventure.warnings(loaded)
    if plugin.free:  # e.g. drafts, drawn offline
        for job in jobs:
            job.estimate = 0.0
    return Plan(loaded, backend, host, jobs, digits, warnings, takes_seeds, plugin)


def _foreign(plugin: Plugin, model: str, first: str) -> str | None:
    """Say why a model cannot run on this backend because another backend owns it (one backend
    per run); None when it can."""
    from storyboard.backends import registry

    if plugin.previews:  # a stand-in for any backend, but for one backend per story
        mine, theirs = registry.owner(model), registry.owner(first)
        if mine is None or theirs is None or mine is theirs:
            return None
        return (f"{model} is a model of the {mine.name} backend, but {first} is {theirs.name}'s: a story runs "
                f"on one backend; choose models of one")  # fmt: skip
    if plugin.claims(model):
        return None
    owner = registry.owner(model)
    if owner is None or owner.name == plugin.name:
        return None
    return (f"{model} is a model of the {owner.name} backend, but this run uses {plugin.name}: a run uses "
            f"one backend; use --backend {owner.name}, or a model of {plugin.name}")  # fmt: skip


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
