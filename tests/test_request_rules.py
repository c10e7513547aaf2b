"""Requests the API would refuse are caught or mended before they are sent (issue 11, item 8): a
character sheet's options are checked as a generation's, DALL·E 2 edits send one square PNG
under 4 MB, and a character reference on a model that takes none is a plan error.

The fake API enforces the real rules (a generation refuses `input_fidelity`, a DALL·E 2 edit
anything but a square PNG), so what it accepts the real one would too."""

from __future__ import annotations

import io
from pathlib import Path

from fakeapi import FakeImagesAPI, parse_multipart
from PIL import Image
from test_runner import cli, picked, run_story, stderr_lines, write_story


def picture(path: Path, size: tuple[int, int], fmt: str = "JPEG", mode: str = "RGB") -> Path:
    """Write a picture to `path` and return it (an RGBA one is transparent on its left half: a mask)."""
    out = io.BytesIO()
    img = Image.new(mode, size, (200, 120, 40) if mode == "RGB" else (200, 120, 40, 255))
    if mode == "RGBA":
        img.paste((0, 0, 0, 0), (0, 0, size[0] // 2, size[1]))
    img.save(out, fmt)
    path.write_bytes(out.getvalue())
    return path


def test_a_character_sheet_gets_no_option_a_generation_refuses(tmp_path: Path) -> None:
    # Before: validate said ok, and the sheet's request carried input_fidelity (an edit option)
    # through extra_body, which the API refuses for a generation.
    story = write_story(
        tmp_path, [{"id": "a", "prompt": "{{ rex }} in a lab"}, {"id": "b", "edit": "a", "prompt": "at night"}],
        model="gpt-image-1", size="1024x1024", options={"input_fidelity": "high"},
        characters={"rex": {"description": "a robot dog", "reference": "generate"}},
    )
    result = cli("validate", story)

    assert result.exit_code == 2
    assert any(line.endswith("options: option 'input_fidelity' is for edits only: this frame sends no input image. "
                             "(the character sheet of rex is a generation)") for line in stderr_lines(result)), \
        result.stderr


def test_a_character_sheet_takes_the_options_a_generation_takes(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    story = write_story(
        tmp_path, [{"id": "a", "prompt": "a: {{ rex }} in a lab"}], options={"background": "opaque"},
        characters={"rex": {"description": "a robot dog", "reference": "generate"}},
    )
    out = tmp_path / "out"
    assert run_story(story, out).exit_code == 0
    sheet, frame = fake_env.image_requests()
    assert sheet.json["background"] == "opaque" and sheet.status == 200
    assert frame.kind == "edit" and frame.status == 200


def test_a_dall_e_2_edit_sends_one_square_png(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    # A wide JPEG source and a mask drawn for it: the API takes a square PNG under 4 MB (and a mask
    # of its size) from DALL·E 2. Before: sent as they were, refused (400), the frame failed.
    picture(tmp_path / "wide.jpg", (900, 600))
    picture(tmp_path / "mask.png", (900, 600), "PNG", "RGBA")
    story = write_story(
        tmp_path, [{"id": "a", "edit": "wide.jpg", "mask": "mask.png", "prompt": "a: a lighthouse at dusk"}],
        model="dall-e-2", size="512x512", quality="standard",
    )
    out = tmp_path / "out"
    assert run_story(story, out).exit_code == 0, picked(out)["a"]["reason"]

    (sent,) = fake_env.image_requests()
    _form, files = parse_multipart(sent.body, sent.headers["content-type"])
    (image,), (mask,) = files["image"], files["mask"]
    for _name, ctype, data in (image, mask):
        with Image.open(io.BytesIO(data)) as img:
            assert (ctype, img.format, img.size) == ("image/png", "PNG", (512, 512))
    assert len(image[2]) < 4 * 1024 * 1024


def test_a_dall_e_2_edit_of_a_square_png_is_sent_as_it_is(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    source = picture(tmp_path / "square.png", (256, 256), "PNG")
    story = write_story(tmp_path, [{"id": "a", "edit": "square.png", "prompt": "a: a lighthouse at dusk"}],
                        model="dall-e-2", size="256x256", quality="standard")
    assert run_story(story, tmp_path / "out").exit_code == 0
    (sent,) = fake_env.image_requests()
    assert parse_multipart(sent.body, sent.headers["content-type"])[1]["image"][0][2] == source.read_bytes()


def test_a_character_reference_on_a_model_without_references_is_a_plan_error(tmp_path: Path) -> None:
    # Before: the frame became a DALL·E 2 edit of the reference picture, silently.
    picture(tmp_path / "rex.png", (256, 256), "PNG")
    story = write_story(
        tmp_path, [{"id": "a", "prompt": "{{ rex }} on a beach"}], model="dall-e-2", size="256x256",
        quality="standard", characters={"rex": {"description": "a robot dog", "reference": "rex.png"}},
    )
    result = cli("validate", story)

    assert result.exit_code == 2
    assert any(line.endswith("frames[0]: frame 01-a names rex, whose reference images dall-e-2 cannot take; use a "
                             "model that takes references, such as gpt-image-2, or leave them out with "
                             "`characters: []`.") for line in stderr_lines(result)), result.stderr
