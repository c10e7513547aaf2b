"""The starter story written by `storyboard new`."""

from __future__ import annotations

STARTER = """\
# {title}: a storyboard. Run it offline first:  storyboard run {name}.yaml --backend draft
title: {title}
model: gpt-image-2
size: "3:2"                 # WxH, or 1:1 3:2 2:3 16:9 9:16
quality: medium
parallel: 4

vars:
  style: soft watercolor storybook illustration, warm light

characters:
  hero:
    description: a small silver robot dog with one glowing blue eye and a red scarf
    # reference: refs/hero.png     # or: generate (a character sheet is made first)

frames:
  - id: opening
    prompt: "{{{{ hero }}}} wakes up on a workbench in a cluttered lab. {{{{ style }}}}"
    caption: It wakes up.
    notes: "WIDE. Slow push in."

  - id: outside
    prompt: "{{{{ hero }}}} steps out into a rain-soaked neon city at dusk. {{{{ style }}}}"
    caption: The city is bigger than it thought.
    takes: 2                # two alternatives; `pick` chooses the one shown and chained from

  - id: night
    edit: outside           # chain: change the picked image of `outside`
    prompt: the same street at night, lights reflected in the puddles. {{{{ style }}}}
    caption: Night falls.
"""


def starter(name: str) -> str:
    """Return a starter story named after its file."""
    title = name.replace("-", " ").replace("_", " ").strip().title() or "My Story"
    return STARTER.format(title=title, name=name)
