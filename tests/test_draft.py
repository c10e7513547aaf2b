"""The draft backend (offline panels) and the fonts it draws with."""

from __future__ import annotations

import asyncio
import hashlib
import io
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from PIL import Image, ImageChops

from storyboard.backends import FrameLabel, ImageRequest, InputImage, Outpainting, registry
from storyboard.backends.draft import DraftBackend
from storyboard.backends.draft import panel as draft_module
from storyboard.backends.draft.panel import render
from storyboard.errors import FrameFailure
from storyboard.render import fonts, imaging

SOURCE = (20, 200, 70)  # a green no part of a panel uses
REFERENCE = (230, 20, 200)  # a magenta no part of a panel uses
PROMPT = (
    "a small silver robot dog with one glowing blue eye and a red scarf explores a rain-soaked "
    "neon city at night, reflections in puddles, soft watercolor storybook illustration"
)


def png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    """Return a one-colour PNG."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def image_input(data: bytes, role: str, label: str) -> InputImage:
    """Wrap bytes as a request's input image."""
    return InputImage(data, hashlib.sha256(data).hexdigest(), "image/png", role, label)  # type: ignore[arg-type]


def request(
    size: str | None = "1536x1024",
    *,
    number: int = 3,
    caption: str | None = "Rex wakes up.",
    prompt: str = PROMPT,
    kind: str = "generate",
    take: tuple[int, int] = (1, 1),
    outpaint: Outpainting | None = None,
    images: tuple[InputImage, ...] = (),
    mask: InputImage | None = None,
    options: dict[str, object] | None = None,
    frame_id: str | None = "lab",
    chain: str | None = None,
    seed: int | None = None,
) -> ImageRequest:
    """Build a request with a label, as the runner sends them."""
    chain = chain or ("outpaint" if outpaint else kind)
    label = FrameLabel(number, frame_id, caption, take[0], take[1], ("rex",), outpaint, chain)
    return ImageRequest(
        kind=kind,  # type: ignore[arg-type]
        model="gpt-image-2",
        prompt=prompt,
        size=size,
        quality="medium",
        options=options or {},
        images=images,
        mask=mask,
        seed=seed,
        label=label,
    )


def decoded(data: bytes) -> Image.Image:
    """Decode image bytes to RGB."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return img.convert("RGB")


def region_of(img: Image.Image, colour: tuple[int, int, int]) -> tuple[int, int, int, int] | None:
    """Return the bounding box of pixels within a few levels of `colour`."""
    diff = ImageChops.difference(img, Image.new("RGB", img.size, colour)).convert("L")
    return diff.point(lambda v: 255 if v < 6 else 0).getbbox()


def _clear_font_caches() -> None:
    for f in (fonts._choose, fonts._load_font, fonts._open, fonts._well_known, fonts._fc_match):
        f.cache_clear()


@pytest.fixture
def no_fonts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Simulate a machine without fontconfig and without any known font file."""
    _clear_font_caches()
    monkeypatch.setattr(fonts, "_WELL_KNOWN", {False: (), True: ()})
    monkeypatch.setattr(fonts, "_fc_match_path", lambda: None)
    yield
    monkeypatch.undo()
    _clear_font_caches()


# -- the backend ----------------------------------------------------------------------------


def test_backend_shape() -> None:
    backend = registry.get("draft").from_environment({}, {})
    assert isinstance(backend, DraftBackend)
    assert backend.name == "draft" and backend.host is None
    image = asyncio.run(backend.generate(request()))
    asyncio.run(backend.aclose())
    assert image.media_type == "image/png"
    assert (image.revised_prompt, image.usage, image.request_id) == (None, None, None)


def test_generate_draws_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[threading.Thread] = []
    real = draft_module.render

    def spy(req: ImageRequest):  # noqa: ANN202
        seen.append(threading.current_thread())
        return real(req)

    monkeypatch.setattr(draft_module, "render", spy)
    asyncio.run(DraftBackend().generate(request()))
    assert seen and seen[0] is not threading.main_thread()


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("1536x1024", (1536, 1024)),
        ("1024x1536", (1024, 1536)),
        ("1536x864", (1536, 864)),
        ("1024x1024", (1024, 1024)),
        ("256x256", (256, 256)),
        ("2048x688", (2048, 688)),
        ("64x48", (64, 48)),
        (None, (1024, 1024)),
        ("auto", (1024, 1024)),
    ],
)
def test_exact_size(size: str | None, expected: tuple[int, int]) -> None:
    data = render(request(size)).data
    assert imaging.sniff(data) == ("image/png", "png")
    assert imaging.dimensions(data) == expected
    assert decoded(data).size == expected


@pytest.mark.parametrize(
    ("fmt", "media"),
    [("png", "image/png"), ("jpeg", "image/jpeg"), ("webp", "image/webp"), ("gif", "image/png")],
)
def test_output_format(fmt: str, media: str) -> None:
    image = render(request("1024x1024", options={"output_format": fmt}))
    assert image.media_type == media
    assert imaging.sniff(image.data)[0] == media
    assert imaging.dimensions(image.data) == (1024, 1024)


@pytest.mark.parametrize("size", ["banana", "0x100", "100x99999", "1024"])
def test_bad_size_fails_the_frame(size: str) -> None:
    with pytest.raises(FrameFailure):
        render(request(size))


def test_same_request_same_bytes() -> None:
    src = image_input(png((640, 480), SOURCE), "source", "frame 02 city")
    req = request(kind="edit", images=(src,))
    first = render(req).data
    assert render(req).data == first
    # Also through the async path, as the runner calls it (caching relies on this).
    assert asyncio.run(DraftBackend().generate(req)).data == first


def test_a_draft_draws_only_what_its_request_key_holds() -> None:
    """SPEC §4: the number, caption and take count change without the request (a reorder, a new
    caption, one more take): a cached draft showing them would go stale (#12.13)."""
    one = render(request(number=1, caption="Rex wakes up.", take=(1, 2))).data
    assert render(request(number=7, caption="Something else entirely", take=(1, 5))).data == one
    # What is in the key shows: the frame's id, the take's index, the seed.
    assert render(request(frame_id="city", take=(1, 2))).data != one
    assert render(request(take=(2, 2))).data != one
    assert render(request(take=(1, 2), seed=42)).data != one


def test_a_generation_with_references_is_not_badged_as_an_edit() -> None:
    """References go through the edits endpoint, but the story asked for a generation (#12.13)."""
    ref = image_input(png((300, 300), REFERENCE), "reference", "refs/rex.png")
    as_sent = render(request(kind="edit", chain="generate", images=(ref,))).data
    assert as_sent == render(request(kind="generate", chain="generate", images=(ref,))).data
    assert as_sent != render(request(kind="edit", chain="edit", images=(ref,))).data


def test_colour_hint_varies_per_frame_and_not_with_its_number() -> None:
    accents = {draft_module.accent(request(frame_id=f"f{n}")) for n in range(1, 30)}
    assert len(accents) >= 8
    assert {draft_module.accent(request(number=n)) for n in range(1, 9)} == {draft_module.accent(request())}


@pytest.mark.parametrize(
    ("caption", "prompt"),
    [
        (
            "レックスが目を覚ます。",
            "銀色の小さなロボット犬が散らかった研究室の作業台で目を覚ます。水彩画の絵本風。" * 4,
        ),
        ("يستيقظ ريكس", "كلب آلي فضي صغير يستيقظ على طاولة عمل في مختبر مزدحم"),
        (
            "Рекс 🐶 ✨ ሰላም",
            "emoji 🐶🤖 and Ethiopic ሰላም, Hangul 안녕하세요, Hebrew שלום, controls \x00\x07\u200f",
        ),
        ("", ""),
        (None, "x" * 40000),  # longer than any prompt limit: truncated, not slow
        ("\ud800 lone surrogate", "\U0010ffff private"),
    ],
    ids=["japanese", "arabic", "mixed", "empty", "huge", "odd"],
)
def test_any_text_draws(caption: str | None, prompt: str) -> None:
    data = render(request("1024x1024", caption=caption, prompt=prompt)).data
    assert imaging.dimensions(data) == (1024, 1024)


def test_any_text_draws_without_fonts(no_fonts: None) -> None:
    assert fonts.load_font(30, "日本語").getlength("abc") > 0
    for caption in ("レックスが目を覚ます。", "يستيقظ ريكس", "Rex wakes up."):
        data = render(request("768x512", caption=caption, prompt=caption * 5)).data
        assert imaging.dimensions(data) == (768, 512)


def test_no_label() -> None:
    req = ImageRequest(
        kind="generate", model="gpt-image-2", prompt="character sheet", size="1536x1024", quality=None
    )
    assert imaging.dimensions(render(req).data) == (1536, 1024)


# -- chains -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["1536x1024", "1024x1536", "1024x1024"])
def test_edit_draws_the_source_in(size: str) -> None:
    src = image_input(png((900, 600), SOURCE), "source", "frame 02 city")
    img = decoded(render(request(size, kind="edit", images=(src,))).data)
    box = region_of(img, SOURCE)
    assert box is not None
    w, h = box[2] - box[0], box[3] - box[1]
    assert w * h > 0.12 * img.width * img.height  # a real picture, not a thumbnail
    assert abs(w / h - 1.5) < 0.03  # the source's own shape
    assert img.getpixel(((box[0] + box[2]) // 2, (box[1] + box[3]) // 2)) == SOURCE


def test_variation_draws_the_source_in() -> None:
    src = image_input(png((1024, 1024), SOURCE), "source", "frame 01 lab")
    img = decoded(render(request("1024x1024", kind="variation", prompt="", images=(src,))).data)
    box = region_of(img, SOURCE)
    assert box is not None and abs((box[2] - box[0]) - (box[3] - box[1])) <= 2


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared-canvas", "plain-source"])
def test_outpaint_places_source_and_hatches_the_new_area(prepared: bool) -> None:
    source = png((512, 512), SOURCE)
    box = (0, 0, 512, 512)
    if prepared:  # what the runner sends: the canvas with the new area transparent
        source, _ = imaging.outpaint_canvas(source, (768, 512), box)
    req = request(
        "768x512",
        kind="edit",
        images=(image_input(source, "source", "frame 02 city"),),
        outpaint=Outpainting("right", box),
    )
    img = decoded(render(req).data)
    found = region_of(img, SOURCE)
    assert found is not None
    x0, y0, x1, y1 = found
    assert abs((x1 - x0) - (y1 - y0)) <= 3  # the square source, at its place on the canvas
    # Right of it, over the canvas's new third: the hatching (two colours, neither the source).
    strip = img.crop((x1 + 2, y0 + 2, x1 + (x1 - x0) // 2 - 2, y1 - 2))
    colours = {c for _, c in strip.getcolors(100000)}
    assert SOURCE not in colours
    assert len(colours) >= 2
    # Left of it is no canvas: the source starts the picture (extend right).
    assert img.getpixel((x0 + 3, y0 + 3)) == SOURCE


def test_references_and_mask_are_shown() -> None:
    src = image_input(png((600, 400), SOURCE), "source", "frame 02 city")
    ref = image_input(png((300, 300), REFERENCE), "reference", "refs/rex.png")
    mask = image_input(png((600, 400), (0, 0, 0)), "mask", "refs/mask.png")
    with_inputs = decoded(render(request(kind="edit", images=(src, ref), mask=mask)).data)
    assert region_of(with_inputs, REFERENCE) is not None  # the thumbnail
    without = render(request(kind="edit", images=(src, ref))).data
    assert render(request(kind="edit", images=(src, ref), mask=mask)).data != without


def test_many_references_fit() -> None:
    refs = tuple(
        image_input(png((64, 64 + i), REFERENCE), "reference", f"refs/character-{i}.png") for i in range(16)
    )
    data = render(request(kind="generate", images=refs)).data
    assert imaging.dimensions(data) == (1536, 1024)


def test_unreadable_input_still_draws() -> None:
    junk = InputImage(b"not an image", "0" * 64, "image/png", "source", "frame 02 city")
    assert imaging.dimensions(render(request(kind="edit", images=(junk,))).data) == (1536, 1024)


def test_import_is_cheap() -> None:
    code = "import sys, storyboard.backends.draft, storyboard.render.fonts; assert 'PIL' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
