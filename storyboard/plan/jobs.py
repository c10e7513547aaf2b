"""The plan's data: the jobs a story becomes (character sheets, then frames in story order), each
with its rendered prompt, model, size, options, inputs, dependencies and estimated cost, and the
plan that holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storyboard import models
from storyboard.backends.plugin import Plugin
from storyboard.story import LoadedStory


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
            return "variation" if self.profile.variations in ("endpoint", "native") else "edit"
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
    seeds: str = "none"  # which takes' requests carry a seed: 'every', 'explicit' (a story's `seed:`) or 'none'
    story_plugin: Plugin | None = None  # the backend's plugin as `for_story` made it for this story

    @property
    def plugin(self) -> Plugin:
        """Return the backend's plugin: its profiles, checks and facts (free, notice, key material)."""
        if self.story_plugin is not None:
            return self.story_plugin
        from storyboard.backends import registry

        return registry.get(self.backend)

    @property
    def free(self) -> bool:
        """Tell whether the backend costs nothing (its estimates are 0 and nothing asks before spending)."""
        return self.plugin.free

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
