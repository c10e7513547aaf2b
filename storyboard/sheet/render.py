"""The contact sheet: `DIR/manifest.json` becomes `DIR/index.html` (thumbnails in `DIR/thumbs/`).

The page is one self-contained HTML file (CSS, JS and data inline) that opens from `file://`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import storyboard
from storyboard.output import fs
from storyboard.output.manifest import load_manifest
from storyboard.sheet.thumbs import (
    Thumb,
    make_thumbnails,
    shrink,
    thumb_size,
    thumbnail_ahead,
    write_thumb,
)
from storyboard.sheet.view import sheet_context

INDEX = "index.html"
TEMPLATE = "index.html.j2"
__all__ = ["Thumb", "render_sheet", "shrink", "template_dir", "thumb_size", "thumbnail_ahead", "write_sheet", "write_thumb"]


def template_dir() -> Path:
    """Return the folder of the sheet templates: inside the package (wheel), else the checkout's."""
    packaged = Path(storyboard.__file__).parent / "templates"
    if (packaged / TEMPLATE).is_file():
        return packaged
    return Path(storyboard.__file__).resolve().parent.parent / "templates"


def write_sheet(
    out_dir: Path, manifest: dict[str, Any] | None = None, *, template: Path | None = None
) -> Path:
    """Make missing thumbnails and write `DIR/index.html` atomically; return its path."""
    out_dir = Path(out_dir)
    if manifest is None:
        manifest = load_manifest(out_dir)
    thumbs = make_thumbnails(out_dir, manifest)
    html = render_sheet(manifest, thumbs, template=template, exports=animatics(out_dir))
    path = out_dir / INDEX
    fs.write(path, html.encode("utf-8"), root=out_dir)
    return path


def render_sheet(
    manifest: dict[str, Any],
    thumbs: dict[str, Thumb],
    *,
    template: Path | None = None,
    exports: list[str] | None = None,
) -> str:
    """Render the sheet's HTML from a manifest and its thumbnails (keyed by image sha256)."""
    import jinja2
    from markupsafe import Markup

    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(template_dir())]
    name = TEMPLATE
    if template is not None:
        # The override's own folder comes first, so it can replace partials too.
        loaders.insert(0, jinja2.FileSystemLoader(Path(template).parent))
        name = Path(template).name
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def inline(name: str) -> Markup:
        # CSS and JS partials go in verbatim: they are ours, and Jinja syntax inside JS would bite.
        source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
        return Markup(source)

    env.globals["inline"] = inline
    return env.get_template(name).render(**sheet_context(manifest, thumbs, exports=exports))


def animatics(out_dir: Path) -> list[str]:
    """Return the animatics in `DIR/exports/` (paths relative to DIR), for the sheet to link."""
    folder = Path(out_dir) / "exports"
    if not folder.is_dir() or folder.is_symlink():  # a link out of DIR: not the storyboard's, never linked
        return []
    return sorted(f"exports/{p.name}" for p in folder.glob("*.mp4") if p.is_file() and not p.is_symlink())
