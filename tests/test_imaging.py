"""Image helpers: sniffing, sizes, outpaint canvas and mask geometry, mask checks, conversions."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from PIL import Image

from storyboard.render import imaging

RED = (220, 30, 30)
GREEN = (30, 200, 60)
BLUE = (30, 60, 220)


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    """Return the image encoded in a Pillow format."""
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


def solid(size: tuple[int, int], colour: tuple[int, ...] = RED, mode: str = "RGB", fmt: str = "PNG") -> bytes:
    """Return a one-colour image."""
    return encode(Image.new(mode, size, colour), fmt)


def opened(data: bytes) -> Image.Image:
    """Decode bytes fully."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def mask_png(size: tuple[int, int], hole: tuple[int, int, int, int] | None = (0, 0, 10, 10)) -> bytes:
    """Return an RGBA mask, opaque except a fully transparent `hole`."""
    img = Image.new("RGBA", size, (0, 0, 0, 255))
    if hole:
        img.paste((0, 0, 0, 0), hole)
    return encode(img, "PNG")


# -- sniff and dimensions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("PNG", ("image/png", "png")),
        ("JPEG", ("image/jpeg", "jpg")),
        ("WEBP", ("image/webp", "webp")),
        ("GIF", ("image/gif", "gif")),
    ],
)
def test_sniff_and_dimensions(fmt: str, expected: tuple[str, str]) -> None:
    data = solid((37, 21), fmt=fmt)
    assert imaging.sniff(data) == expected
    assert imaging.dimensions(data) == (37, 21)


@pytest.mark.parametrize(
    "data", [b"", b"hello", b"RIFF\x00\x00\x00\x00WAVE", encode(Image.new("RGB", (4, 4)), "BMP")]
)
def test_sniff_unknown(data: bytes) -> None:
    assert imaging.sniff(data) is None


def test_dimensions_follow_exif_rotation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° when shown
    data = encode(Image.new("RGB", (40, 10)), "JPEG", exif=exif.tobytes())
    assert imaging.dimensions(data) == (10, 40)


def test_dimensions_of_garbage_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a readable image"):
        imaging.dimensions(b"definitely not an image")


# -- outpaint canvas and mask -------------------------------------------------------------


def test_outpaint_canvas_places_source_and_masks_new_area() -> None:
    canvas, mask = imaging.outpaint_canvas(solid((100, 60), RED), (150, 60), (0, 0, 100, 60))
    c, m = opened(canvas), opened(mask)
    assert imaging.sniff(canvas)[0] == imaging.sniff(mask)[0] == "image/png"
    assert (c.size, c.mode, m.size, m.mode) == ((150, 60), "RGBA", (150, 60), "RGBA")
    # Over the source: its pixels, opaque; the mask keeps them (alpha 255).
    assert c.getpixel((5, 5)) == (*RED, 255)
    assert c.getpixel((99, 59)) == (*RED, 255)
    assert m.getpixel((5, 5))[3] == 255
    assert m.getpixel((99, 59))[3] == 255
    # The new area: fully transparent on both, so the model paints there.
    assert c.getpixel((100, 0))[3] == 0
    assert c.getpixel((149, 59))[3] == 0
    assert m.getpixel((100, 0))[3] == 0
    assert m.getpixel((149, 30))[3] == 0


def test_outpaint_canvas_scales_source_into_a_box_of_another_size() -> None:
    # A fixed-size model: the 200x120 source shrinks into a 100x60 box in the middle.
    canvas, mask = imaging.outpaint_canvas(solid((200, 120), GREEN), (200, 60), (50, 0, 150, 60))
    c, m = opened(canvas), opened(mask)
    assert c.size == m.size == (200, 60)
    assert c.getpixel((100, 30)) == (*GREEN, 255)
    assert c.getpixel((49, 30))[3] == 0 and c.getpixel((150, 30))[3] == 0
    assert [m.getpixel((x, 30))[3] for x in (0, 49, 50, 149, 150, 199)] == [0, 0, 255, 255, 0, 0]


def test_outpaint_canvas_keeps_all_sides_for_extend_all() -> None:
    canvas, mask = imaging.outpaint_canvas(solid((40, 40), BLUE), (80, 80), (20, 20, 60, 60))
    m = opened(mask)
    assert [m.getpixel(p)[3] for p in [(10, 10), (40, 40), (70, 70), (40, 10), (40, 70)]] == [0, 255, 0, 0, 0]
    assert opened(canvas).getpixel((40, 40)) == (*BLUE, 255)


def test_outpaint_canvas_rejects_an_empty_box() -> None:
    with pytest.raises(ValueError, match="empty"):
        imaging.outpaint_canvas(solid((10, 10)), (20, 10), (10, 0, 10, 10))


# -- square_png -----------------------------------------------------------------------------


def test_square_png_centre_crops() -> None:
    img = Image.new("RGB", (300, 100), RED)
    img.paste(GREEN, (100, 0, 200, 100))
    img.paste(BLUE, (200, 0, 300, 100))
    out = opened(imaging.square_png(encode(img, "JPEG", quality=95), 256))
    assert (out.format, out.size, out.mode) == ("PNG", (256, 256), "RGBA")
    r, g, b, a = out.getpixel((128, 128))
    assert g > 150 and r < 90 and b < 110 and a == 255  # the green middle, the sides cropped away
    assert out.getpixel((3, 128))[1] > 150


# -- check_mask -----------------------------------------------------------------------------


def test_check_mask_accepts_a_good_mask() -> None:
    assert imaging.check_mask(mask_png((64, 32)), (64, 32)) is None


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        (
            solid((64, 32), fmt="JPEG"),
            "the mask is a JPEG, not a PNG; save it as a PNG with transparency where the image may change.",
        ),
        (
            b"nonsense",
            "the mask is not an image; save it as a PNG with transparency where the image may change.",
        ),
        (
            solid((64, 32), (0, 0, 0), mode="RGB"),
            "the mask has no alpha channel (mode RGB); the model edits where the mask is fully transparent, "
            "so save it as RGBA with that area transparent.",
        ),
        (
            mask_png((32, 32)),
            "the mask is 32x32 but the source image is 64x32; they must be the same size.",
        ),
        (
            mask_png((64, 32), hole=None),
            "the mask has no fully transparent pixel, so nothing would change; make the area to repaint "
            "fully transparent (alpha 0).",
        ),
    ],
    ids=["jpeg", "garbage", "no-alpha", "size", "opaque"],
)
def test_check_mask_problems(mask: bytes, expected: str) -> None:
    assert imaging.check_mask(mask, (64, 32)) == expected


def test_check_mask_accepts_palette_transparency() -> None:
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 0, 255, 255, 255])
    img.paste(1, (0, 0, 4, 4))
    assert imaging.check_mask(encode(img, "PNG", transparency=1), (8, 8)) is None


# -- to_png and thumbnail -------------------------------------------------------------------


def test_to_png_converts_gif_and_bmp() -> None:
    gif = Image.new("P", (20, 10), 0)
    gif.putpalette([255, 0, 0, 0, 0, 255])
    gif.paste(1, (10, 0, 20, 10))
    out = opened(imaging.to_png(encode(gif, "GIF", transparency=1)))
    assert (out.format, out.size, out.mode) == ("PNG", (20, 10), "RGBA")
    assert out.getpixel((2, 2)) == (255, 0, 0, 255)
    assert out.getpixel((15, 5))[3] == 0  # transparency survives

    bmp = opened(imaging.to_png(solid((7, 5), BLUE, fmt="BMP")))
    assert (bmp.format, bmp.size, bmp.mode, bmp.getpixel((3, 3))) == ("PNG", (7, 5), "RGB", BLUE)


def test_import_is_cheap() -> None:
    code = "import sys, storyboard.render.imaging; assert 'PIL' not in sys.modules, 'PIL imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
