"""A draft panel, drawn with Pillow: the request a real image would be asked with (its kind,
prompt, size, model, chain and seed), and nothing that can change without the request changing:
a frame's number and caption come from the sheet and the exports, never from a cached draft.

The same request always gives the same bytes, so drafts cache like real images. The colours are
palette.py's; the pictures a panel shows (a source, references) are prepared by pictures.py.
"""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storyboard.backends import GeneratedImage, ImageRequest, InputImage
from storyboard.backends.draft.palette import INK, MUTED, PAPER, RULE, Colour, accent, mix
from storyboard.backends.draft.pictures import fitted, shape
from storyboard.errors import FrameFailure
from storyboard.media import FORMATS, PIL_FORMATS
from storyboard.models import parse_size as parse_wxh
from storyboard.render.fonts import load_font
from storyboard.render.text import draw_lines, draw_text, fit, line_height, measure, wrap

if TYPE_CHECKING:
    from PIL import Image

    from storyboard.render.fonts import Font

DEFAULT_SIZE = (1024, 1024)
MAX_SIDE = 8192  # beyond any model's sizes; keeps a typo from drawing a gigapixel panel
PROMPT_CHARS = 4000  # more than any panel can show; wrapping the rest would be wasted work


def parse_size(size: str | None) -> tuple[int, int]:
    """Return (width, height) of a request size; None and 'auto' mean 1024x1024."""
    if size is None or size == "auto":
        return DEFAULT_SIZE
    try:
        w, h = parse_wxh(size)
    except ValueError:
        raise FrameFailure(f"the draft backend cannot draw size {size!r}; give WIDTHxHEIGHT", type="draft") from None
    if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
        raise FrameFailure(f"size {size} is outside 1..{MAX_SIDE} px a side", type="draft")
    return w, h


def render(request: ImageRequest) -> GeneratedImage:
    """Draw the request as a storyboard panel at exactly its size and encode it."""
    from PIL import Image

    w, h = parse_size(request.size)
    img = Image.new("RGB", (w, h), PAPER)
    _Panel(img, request).layout()
    fmt = str(request.options.get("output_format") or "png").lower()
    media_type = FORMATS.get(fmt, "image/png")
    if media_type not in ("image/png", "image/jpeg", "image/webp"):
        media_type = "image/png"  # what a draft cannot encode (gif, svg) is drawn as PNG
    pil_format = PIL_FORMATS[media_type]
    out = io.BytesIO()
    # The fastest settings: a draft is mostly flat paper, and Pillow's defaults cost more than
    # the drawing (compress_level 1 for PNG; WebP method 0 is ~3x faster than its default).
    extra = {"compress_level": 1} if pil_format == "PNG" else {"quality": 90, **({"method": 0} if pil_format == "WEBP" else {})}
    img.save(out, pil_format, **extra)
    return GeneratedImage(out.getvalue(), media_type)


@dataclass
class _Box:
    """A rectangle of the panel (left, top, right, bottom)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        """Return the width in pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """Return the height in pixels."""
        return self.y1 - self.y0


class _Panel:
    """One draft panel: header (id, kind, take), body (picture, prompt), inputs, footer (model, size, seed)."""

    def __init__(self, img: Image.Image, request: ImageRequest) -> None:
        from PIL import ImageDraw

        self.img = img
        self.r = request
        self.draw = ImageDraw.Draw(img)
        self.w, self.h = img.size
        self.u = min(self.w, self.h) / 1000  # one unit: every size scales with the shorter side
        self.accent = accent(request)
        self.tint = mix(self.accent, PAPER, 0.88)
        self.source = next((i for i in request.images if i.role == "source"), None)
        self.refs = [i for i in request.images if i.role == "reference"]

    # -- drawing helpers ---------------------------------------------------------------------

    def px(self, n: float, least: int = 1) -> int:
        """Scale n units to pixels, at least `least`."""
        return max(least, round(n * self.u))

    def font(self, n: float, text: str, bold: bool = False) -> Font:
        """Load a font of n units covering text (never below a legible 9 px)."""
        return load_font(self.px(n, 9), text, bold=bold)

    def text(self, xy: tuple[float, float], text: str, font: Font, fill: Colour, anchor: str = "la") -> None:
        """Draw one line of text (never fails, whatever the font covers)."""
        draw_text(self.draw, xy, text, font, fill, anchor)

    def lines(self, rows: list[str], font: Font, box: _Box, y: float, lh: int, fill: Colour) -> float:
        """Draw lines at their start side (right to left at the right); return the next y."""
        return draw_lines(self.draw, rows, font, box.x0, box.x1, y, lh, fill)

    def length(self, text: str, font: Font) -> float:
        """Measure text width in pixels."""
        return measure(self.draw, text, font)

    def fit_end(self, text: str, font: Font, width: float) -> str:
        """Shorten text from the left to fit `width` (a path's file name is its telling end)."""
        return fit(self.draw, text, font, width, keep="end")

    # -- layout ------------------------------------------------------------------------------

    def layout(self) -> None:
        """Lay out and draw every part of the panel."""
        m = self.px(22, 2)
        self.draw.rectangle((m, m, self.w - 1 - m, self.h - 1 - m), outline=INK, width=self.px(2.5))
        pad = self.px(30, 3)
        box = _Box(m + pad, m + pad, self.w - m - pad, self.h - m - pad)
        if box.width < 40 or box.height < 40:
            return  # a thumbnail-sized request: paper and border are all that fits
        top = self.header(box)
        bottom = self.footer(box)
        if self.refs or self.r.mask is not None:
            bottom = self.inputs(_Box(box.x0, top, box.x1, bottom))
        self.body(_Box(box.x0, top, box.x1, bottom))

    def header(self, box: _Box) -> int:
        """Draw the frame's id (its name in the request key) and the kind badge; return the body's top."""
        label = self.r.label
        badge_left, badge_bottom = self.badge(box)
        column = _Box(box.x0, box.y0, max(badge_left - self.px(24), box.x0 + self.px(60)), box.y1)
        title = (label.id if label is not None else None) or "untitled frame"
        font = self.font(60, title, bold=True)
        rows = wrap(self.draw, title, font, column.width, max_lines=1)
        colour = self.accent if label is not None and label.id else MUTED
        y = self.lines(rows, font, column, box.y0, line_height(font, 1.2), colour)
        rule_y = round(max(y, badge_bottom) + self.px(20))
        self.draw.line((box.x0, rule_y, box.x1, rule_y), fill=RULE, width=self.px(2))
        self.draw.line((box.x0, rule_y, box.x0 + self.px(150), rule_y), fill=self.accent, width=self.px(6))
        return rule_y + self.px(28)

    def badge(self, box: _Box) -> tuple[int, int]:
        """Draw the story's kind of request (and a take after the first) at the top right; return
        (left edge, bottom). A frame that sends references through the edits endpoint is still a
        generation: the badge says what the story asked for, not which endpoint."""
        label = self.r.label
        chain = label.chain if label is not None else self.r.kind
        if label is not None and label.outpaint is not None:
            kind = f"outpaint {label.outpaint.extend}"
        else:
            kind = "draft" if chain == "generate" else chain
        font = self.font(25, "A", bold=True)
        text = kind.upper()
        size = getattr(font, "size", 12)
        ph, pv = self.px(17), self.px(10)
        x1, y0 = box.x1, box.y0
        x0 = round(x1 - self.length(text, font) - 2 * ph)
        y1 = y0 + size + 2 * pv
        if kind == "draft":  # a plain generation: an outline, quieter than a chain's filled badge
            self.draw.rounded_rectangle((x0, y0, x1, y1), radius=(y1 - y0) // 2, outline=MUTED, width=self.px(2))
            self.text(((x0 + x1) / 2, (y0 + y1) / 2), text, font, MUTED, "mm")
        else:
            self.draw.rounded_rectangle((x0, y0, x1, y1), radius=(y1 - y0) // 2, fill=self.accent)
            self.text(((x0 + x1) / 2, (y0 + y1) / 2), text, font, PAPER, "mm")
        if label is None or label.take <= 1:
            return x0, y1
        # The take's index is in the request key; how many takes the frame has is not.
        take_font = self.font(30, "0", bold=True)
        take = f"take {label.take}"
        y = y1 + self.px(14)
        self.text((x1, y), take, take_font, INK, "ra")
        return min(x0, round(x1 - self.length(take, take_font))), y + line_height(take_font)

    def footer(self, box: _Box) -> int:
        """Draw model, size, quality, seed and options along the bottom; return the space's end."""
        r = self.r
        parts = [r.model, f"{self.w}x{self.h}"]
        if r.quality:
            parts.append(f"{r.quality} quality")
        if r.seed is not None:
            parts.append(f"seed {r.seed}")
        parts += [f"{k} {v}" for k, v in sorted(r.options.items()) if v not in (None, "")]
        font = self.font(25, " ".join(str(p) for p in parts))
        mark = "DRAFT PREVIEW"
        mark_font = self.font(22, mark, bold=True)
        width = round(box.width - self.length(mark, mark_font) - self.px(30))
        # Break between the parts, never inside one ("seed 42" stays whole).
        lines = [""]
        for part in (str(p) for p in parts):
            joined = f"{lines[-1]}  ·  {part}" if lines[-1] else part
            if lines[-1] and self.length(joined, font) > width:
                lines.append(part)
            else:
                lines[-1] = joined
        if len(lines) > 2:
            lines = [lines[0], wrap(self.draw, "  ·  ".join(lines[1:]), font, width, max_lines=1)[0]]
        lh = line_height(font)
        base = box.y1 - (len(lines) - 1) * lh
        for i, line in enumerate(lines):
            self.text((box.x0, base + i * lh), line, font, MUTED, "ls")
        self.text((box.x1, box.y1), mark, mark_font, mix(MUTED, PAPER, 0.35), "rs")
        top = base - lh - self.px(12)
        self.draw.line((box.x0, top, box.x1, top), fill=RULE, width=self.px(2))
        return top - self.px(24)

    def inputs(self, box: _Box) -> int:
        """Draw reference thumbnails with labels, and the mask, above the footer; return the top."""
        size = self.px(96, 12)
        every = " ".join(i.label for i in self.refs) + (self.r.mask.label if self.r.mask else "")
        font = self.font(25, every)
        head_font = self.font(20, "A", bold=True)
        top = box.y1 - size
        if top - box.y0 < self.px(220):
            return box.y1  # no room: the picture and prompt matter more
        heading = "REFERENCES" if self.refs else "MASK"
        self.text((box.x0, top - self.px(12)), heading, head_font, MUTED, "ls")
        items: list[tuple[InputImage | None, str]] = [(i, i.label) for i in self.refs]
        if self.r.mask is not None:
            items.append((None, f"mask: {self.r.mask.label}"))
        x, gap, label_w = box.x0, self.px(14), self.px(300)
        for n, (image, text) in enumerate(items):
            left = len(items) - n
            # Leave room to say how many did not fit, unless this is the last one.
            reserve = self.length(f"+{left - 1} more", font) + gap if left > 1 else 0
            if x + size + gap + min(label_w, self.length(text, font)) + reserve > box.x1:
                self.text((x, top + size / 2), f"+{left} more", font, MUTED, "lm")
                break
            rect = (x, top, x + size, top + size)
            used = self.thumb(image, rect) if image is not None else self.checker(rect)
            text = self.fit_end(text, font, min(label_w, box.x1 - x - used - gap))
            self.text((x + used + gap, top + size / 2), text, font, INK, "lm")
            x += round(used + gap + self.length(text, font) + self.px(40))
        return top - self.px(12) - line_height(head_font) - self.px(18)

    def thumb(self, image: InputImage, rect: tuple[int, int, int, int]) -> int:
        """Draw an input image fitted to the rect's height; return the width used."""
        x0, y0, _, y1 = rect
        pic = fitted(image, (self.px(240), y1 - y0))
        if pic is None:
            return self.checker(rect)
        top = y0 + (y1 - y0 - pic.height) // 2
        self.img.paste(pic, (x0, top))
        self.draw.rectangle((x0, top, x0 + pic.width - 1, top + pic.height - 1), outline=INK, width=1)
        return pic.width

    def checker(self, rect: tuple[int, int, int, int]) -> int:
        """Draw a transparency checkerboard (the mask's icon); return the width used."""
        x0, y0, x1, y1 = rect
        cell = max(2, (y1 - y0) // 6)
        self.draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=(255, 255, 255))
        for j, y in enumerate(range(y0, y1, cell)):
            for x in range(x0 + (j % 2) * cell, x1, 2 * cell):
                self.draw.rectangle(
                    (x, y, min(x + cell, x1) - 1, min(y + cell, y1) - 1), fill=(214, 210, 202)
                )
        self.draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=INK, width=1)
        return x1 - x0

    def body(self, box: _Box) -> None:
        """Draw the picture (the chain's source) and the prompt in the space between."""
        if box.height < self.px(40):
            return
        if self.source is None:
            self.prompt(box)
            return
        gap = self.px(36)
        if self.w >= self.h * 1.15:  # landscape: picture left, prompt right
            pic = _Box(box.x0, box.y0, box.x0 + round(box.width * 0.56), box.y1)
            self.prompt(_Box(pic.x1 + gap, box.y0, box.x1, box.y1))
            self.picture(pic, centre=False)
        else:
            pic = _Box(box.x0, box.y0, box.x1, box.y0 + round(box.height * 0.6))
            self.prompt(_Box(box.x0, pic.y1 + gap, box.x1, box.y1))
            self.picture(pic, centre=True)

    def picture(self, box: _Box, centre: bool) -> None:
        """Draw the source: fitted for an edit or variation, on its canvas for an outpaint."""
        source = self.source
        assert source is not None
        label = self.r.label
        outpaint = label.outpaint if label is not None else None
        cap_font = self.font(25, source.label)
        area = _Box(box.x0, box.y0, box.x1, box.y1 - line_height(cap_font) - self.px(12))
        aspect = self.w / self.h if outpaint else shape(source) or self.w / self.h
        pw = min(area.width, round(area.height * aspect))
        ph = min(area.height, round(pw / aspect))
        if pw < 8 or ph < 8:
            return
        x0 = area.x0 + ((area.width - pw) // 2 if centre else 0)
        y0 = area.y0
        frame = (x0, y0, x0 + pw, y0 + ph)
        if outpaint is not None:
            # The whole canvas in miniature: the source at its box, the rest hatched.
            self.hatch(frame)
            sx, sy = pw / self.w, ph / self.h
            bl, bt, br, bb = outpaint.box
            rect = (x0 + round(bl * sx), y0 + round(bt * sy), x0 + round(br * sx), y0 + round(bb * sy))
            size = (rect[2] - rect[0], rect[3] - rect[1])
            pic = fitted(source, size, crop=outpaint.box, canvas=(self.w, self.h), exact=True)
            if pic is not None:
                self.img.paste(pic, rect[:2])
            self.draw.rectangle((rect[0], rect[1], rect[2] - 1, rect[3] - 1), outline=INK, width=self.px(2))
            caption = f"source: {source.label}  ·  new area hatched"
        else:
            pic = fitted(source, (pw, ph), exact=True)
            if pic is not None:
                self.img.paste(pic, (x0, y0))
            else:
                self.hatch(frame)
            caption = f"source: {source.label}"
        self.draw.rectangle((x0, y0, x0 + pw - 1, y0 + ph - 1), outline=INK, width=self.px(2))
        self.text((x0, y0 + ph + self.px(12)), self.fit_end(caption, cap_font, pw), cap_font, MUTED)

    def hatch(self, rect: tuple[int, int, int, int]) -> None:
        """Fill a rect with the tint and diagonal accent hatching (the area the model paints)."""
        x0, y0, x1, y1 = rect
        self.draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=self.tint)
        step = self.px(18, 4)
        colour = mix(self.accent, self.tint, 0.5)
        width = self.px(2.5)
        h = y1 - 1 - y0
        for k in range(x0 - h, x1, step):
            # Clip each 45° line to the rect by hand: cheaper than drawing through a mask.
            ax, ay = max(k, x0), y0 + max(0, x0 - k)
            bx, by = min(k + h, x1 - 1), y0 + min(h, x1 - 1 - k)
            if ax <= bx and ay <= by:
                self.draw.line((ax, ay, bx, by), fill=colour, width=width)

    def prompt(self, box: _Box) -> None:
        """Draw the prompt on a tinted card, as large as fits, truncated with an ellipsis."""
        if box.height < self.px(60) or box.width < self.px(120):
            return
        self.draw.rounded_rectangle((box.x0, box.y0, box.x1, box.y1), radius=self.px(16), fill=self.tint)
        inner = _Box(box.x0 + self.px(34), box.y0 + self.px(30), box.x1 - self.px(34), box.y1 - self.px(30))
        head_font = self.font(21, "A", bold=True)
        head_h = line_height(head_font) + self.px(10)
        prompt, colour = self.r.prompt.strip()[:PROMPT_CHARS], INK
        if not prompt:
            prompt = "no prompt: a variation of the source" if self.r.kind == "variation" else "empty prompt"
            colour = MUTED
        avail = inner.height - head_h
        # Pick the largest size whose estimated capacity holds the prompt, then wrap once:
        # wrapping at every candidate size would cost more than the rest of the drawing.
        wide = sum(unicodedata.east_asian_width(c) in "WF" for c in prompt[:400]) / min(len(prompt), 400)
        need = len(prompt) * (1 + wide) * 1.15
        sizes = (58, 52, 46, 42, 38, 34, 30, 27, 24, 22)
        start = next(
            (
                i
                for i, n in enumerate(sizes)
                if (inner.width / (self.px(n, 9) * 0.55)) * (avail / (self.px(n, 9) * 1.4)) >= need
            ),
            len(sizes) - 1,
        )
        # The estimate can be off for a short prompt: step down (twice at most) if it was cut.
        for n in sizes[start : start + 3]:
            font = self.font(n, prompt)
            lh = line_height(font, 1.36)
            text = wrap(self.draw, prompt, font, inner.width, max_lines=max(1, avail // lh))
            if not text or not text[-1].endswith("…") or prompt.endswith("…"):
                break
        # Centre the block in the card: a short prompt reads as a title, not as a stray line.
        y = inner.y0 + max(0, (avail - len(text) * lh) // 2)
        self.text((inner.x0, y), "PROMPT", head_font, self.accent)
        self.lines(text, font, inner, y + head_h, lh, colour)
