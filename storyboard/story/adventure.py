"""Branching stories (choose your own adventure): the graph of frames joined by `choices`.

The start is the first frame; an ending is a frame without choices. Loops are allowed, but a
reader must always be able to reach an ending from the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from storyboard import names
from storyboard.errors import Problem

if TYPE_CHECKING:
    from storyboard.story.schema import LoadedStory, Story


@dataclass(frozen=True)
class Graph:
    """The frames of an adventure as a graph: who leads where, what the reader can reach."""

    labels: tuple[str, ...]  # "07 cave", per frame index
    edges: tuple[tuple[int, ...], ...]  # frame index -> frame indexes its choices lead to
    reachable: frozenset[int]  # from the start (frame 0)
    endings: tuple[int, ...]  # frames without choices, in story order
    stuck: tuple[int, ...]  # reachable frames from which no ending can be reached

    @property
    def unreachable(self) -> tuple[int, ...]:
        """Return the frames no path from the start leads to, in story order."""
        return tuple(i for i in range(len(self.labels)) if i not in self.reachable)

    @property
    def reachable_endings(self) -> tuple[int, ...]:
        """Return the endings a reader can reach from the start."""
        return tuple(i for i in self.endings if i in self.reachable)


def graph(story: Story) -> Graph:
    """Build the choice graph of a story; gotos naming no frame are left out (check_story reports them)."""
    frames = story.frames
    digits = names.digits(len(frames))
    ids: dict[str, int] = {}
    for i, f in enumerate(frames):
        if f.id is not None:
            ids.setdefault(f.id, i)  # a duplicate id is check_story's error; the first one wins
    edges = tuple(tuple(dict.fromkeys(ids[c.goto] for c in f.choices if c.goto in ids)) for f in frames)
    labels = tuple(names.number(i + 1, digits) + (f" {f.id}" if f.id else "") for i, f in enumerate(frames))
    endings = tuple(i for i, f in enumerate(frames) if not f.choices)

    reachable = _closure([0], edges)
    # Walk the edges backwards from the endings: whatever cannot get there is a trap.
    back: list[list[int]] = [[] for _ in frames]
    for i, outs in enumerate(edges):
        for j in outs:
            back[j].append(i)
    can_end = _closure(list(endings), tuple(tuple(b) for b in back))
    stuck = tuple(i for i in sorted(reachable) if i not in can_end)
    return Graph(labels, edges, frozenset(reachable), endings, stuck)


def _closure(start: list[int], edges: tuple[tuple[int, ...], ...]) -> set[int]:
    seen = set(start)
    todo = list(start)
    while todo:
        for j in edges[todo.pop()]:
            if j not in seen:
                seen.add(j)
                todo.append(j)
    return seen


def problems(loaded: LoadedStory) -> list[Problem]:
    """Return the hard errors of a branching story (none for a story without choices)."""
    s = loaded.story
    if not loaded.has_choices:
        return []
    g = graph(s)
    if g.reachable_endings:
        return []
    start = s.frames[0]
    # Point at the `choices:` key itself, not at its first item.
    where = ("frames", 0, "choices", "__key__") if start.choices else ("frames", 0)
    if not g.endings:
        why = "every frame has choices, so the story never ends; give at least one frame no `choices` (an ending)"
    else:
        names = ", ".join(g.labels[i] for i in g.endings)
        why = f"no ending can be reached from the start (frame {g.labels[0]}); add a choice that leads to {names}"
    return [loaded.problem(where, why)]


def warnings(loaded: LoadedStory) -> list[str]:
    """Return what looks wrong in a branching story but still runs: unreachable frames, loops without exit."""
    if not loaded.has_choices:
        return []
    g = graph(loaded.story)
    out = [f"frame {g.labels[i]} is unreachable from the start" for i in g.unreachable]
    if g.stuck and g.reachable_endings:
        names = ", ".join(g.labels[i] for i in g.stuck)
        out.append(f"frame{'s' if len(g.stuck) > 1 else ''} {names}: no ending can be reached from there "
                   "(the reader is caught in a loop)")
    return out


def summary(loaded: LoadedStory) -> str:
    """Return `, adventure: 2 endings (escape, caught), 0 unreachable` for validate, or "" without choices."""
    if not loaded.has_choices:
        return ""
    g = graph(loaded.story)
    frames = loaded.story.frames
    names = ", ".join(frames[i].id or f"frame {g.labels[i]}" for i in g.endings)
    n = len(g.endings)
    return f", adventure: {n} ending{'s' if n != 1 else ''} ({names}), {len(g.unreachable)} unreachable"
