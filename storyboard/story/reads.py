"""What a frame's prompt reads beyond the frame's own keys: its number, the frame before it, other
frames by id. The contact sheet's editor tells from it what a change of order or caption sends again.
"""

from __future__ import annotations

from typing import Any

from storyboard.story.schema import LoadedStory
from storyboard.story.templating import TemplateProblem, parse, simple_names

FRAME_ATTRS = ("id", "number", "caption", "prompt")


def reads(loaded: LoadedStory, index: int) -> dict[str, Any]:
    """Return what frame `index`'s request depends on beyond its own keys: its position, and the
    fields of other frames its prompt reads (the contact sheet's editor tells from it what a
    change of order or caption sends again).

    {"number": prompt uses frame.number, "previous": attrs of the frame before it ("image": it
    is chained from `previous`), "frames": {id: attrs}, "any": frames[...] with an index only
    known when rendering, "position_seed": id-less without `seed:` (its seed follows its place)}.
    """
    from jinja2 import nodes

    f = loaded.story.frames[index]
    out: dict[str, Any] = {"number": False, "previous": [], "frames": {}, "any": False,
                           "position_seed": f.id is None and f.seed is None}
    prev: set[str] = {"image"} if f.source == "previous" else set()
    by_id: dict[str, set[str]] = {}
    source = f.prompt or ""
    simple = simple_names(source)
    if simple is not None:
        used = set(simple)
        out["number"] = "frame" in used
        if "previous" in used:
            prev.add("prompt")
        out["any"] = "frames" in used
    else:
        try:
            ast = parse(source)
        except TemplateProblem:
            ast = None
        accessed: set[int] = set()
        for node in ast.find_all((nodes.Getattr, nodes.Getitem)) if ast is not None else ():
            target, attr = node.node, _attr_of(node)
            if isinstance(target, nodes.Name) and target.name in ("frame", "previous"):
                accessed.add(id(target))
                if target.name == "frame":
                    out["number"] |= attr in (None, "number")
                else:
                    prev.update([attr] if attr in FRAME_ATTRS else FRAME_ATTRS)
            elif isinstance(target, nodes.Getitem) and isinstance(target.node, nodes.Name) and target.node.name == "frames":
                key = _attr_of(target)
                if key is None:
                    out["any"] = True
                else:
                    by_id.setdefault(key, set()).update([attr] if attr in FRAME_ATTRS else FRAME_ATTRS)
                accessed.update((id(target), id(target.node)))
        for node in ast.find_all(nodes.Getitem) if ast is not None else ():
            if isinstance(node.node, nodes.Name) and node.node.name == "frames" and id(node) not in accessed:
                key = _attr_of(node)  # frames['x'] on its own renders its prompt
                if key is None:
                    out["any"] = True
                else:
                    by_id.setdefault(key, set()).add("prompt")
                accessed.add(id(node.node))
        for node in ast.find_all(nodes.Name) if ast is not None else ():
            if id(node) in accessed:
                continue
            if node.name == "frame":
                out["number"] = True  # the whole frame, passed on: assume it reads everything
            elif node.name == "previous":
                prev.add("prompt") if _bare(ast, node) else prev.update(FRAME_ATTRS)
            elif node.name == "frames":
                out["any"] = True
    out["previous"] = sorted(prev)
    out["frames"] = {k: sorted(v) for k, v in sorted(by_id.items())}
    return out


def _attr_of(node: Any) -> str | None:
    """Return the constant attribute or key a Getattr/Getitem reads, else None."""
    from jinja2 import nodes

    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None


def _bare(ast: Any, name: Any) -> bool:
    """Return True when a name is printed as it is (`{{ previous }}`: its prompt)."""
    from jinja2 import nodes

    return any(name in out.nodes for out in ast.find_all(nodes.Output))
