"""Chained frames against the fake Images API through the real openai SDK: what an edit, an
outpaint or a variation sends (bytes, order, canvas, mask), the order of the graph under
parallel runs, failures and changes that travel down a chain, and generated character sheets."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path
from typing import Any

import pytest
from fakeapi import FakeImagesAPI, RequestRecord
from PIL import Image, ImageChops
from test_runner import cli, frame_of, manifest, picked, requested, run_story, stderr_lines, write_story


def png(size: tuple[int, int], colour: tuple[int, ...], fmt: str = "PNG", mode: str = "RGB") -> bytes:
    """Return an encoded image of one colour."""
    buf = io.BytesIO()
    Image.new(mode, size, colour).save(buf, fmt)
    return buf.getvalue()


def sha(data: bytes) -> str:
    """Return the hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def images_sent(rec: RequestRecord) -> list[bytes]:
    """Return the image files of an edit or variation, in the order they were sent."""
    return [data for _name, _type, data in rec.files.get("image", []) + rec.files.get("image[]", [])]


def request_for(api: FakeImagesAPI, frame: str) -> RequestRecord:
    """Return the (one, successful) request of a frame."""
    (rec,) = [r for r in api.image_requests() if frame_of(r) == frame and r.status == 200]
    return rec


def decoded(data: bytes) -> Image.Image:
    """Return decoded pixels."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    """Tell whether two images have the same size and pixels (every band: getbbox alone looks at alpha only)."""
    return (
        a.size == b.size
        and a.mode == b.mode
        and ImageChops.difference(a, b).getbbox(alpha_only=False) is None
    )


# -- what a chained request carries ----------------------------------------------------------


def test_an_edit_sends_the_source_frame_bytes_then_the_references_in_order(
    fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    refs = tmp_path / "refs"
    refs.mkdir()
    files = {
        "rex.png": png((512, 512), (180, 180, 190)),
        "mia.png": png((512, 512), (250, 210, 40)),
        "mia-side.jpg": png((512, 768), (240, 200, 30), "JPEG"),
    }
    for name, data in files.items():
        (refs / name).write_bytes(data)
    story = write_story(
        tmp_path,
        [
            {"id": "city", "prompt": "city: a rain-soaked neon city", "takes": 3, "pick": 2},
            {
                "id": "night",
                "edit": "city",
                "prompt": "night: {{ rex }} meets {{ mia }} at night",
                "characters": ["mia", "rex"],
            },
        ],
        characters={
            "rex": {"description": "a small silver robot dog", "reference": "refs/rex.png"},
            "mia": {
                "description": "a girl in a yellow coat",
                "reference": ["refs/mia.png", "refs/mia-side.jpg"],
            },
        },
    )
    out = tmp_path / "out"
    assert run_story(story, out).exit_code == 0

    source = (out / "frames" / "01-city.png").read_bytes()
    assert source == (out / "takes" / "01-city-02.png").read_bytes()  # the picked take is the source
    sent = images_sent(request_for(fake_env, "night"))
    assert sent == [source, files["mia.png"], files["mia-side.jpg"], files["rex.png"]]  # byte for byte

    night = picked(out)["night"]
    assert [(i["role"], i.get("frame"), i.get("character"), i["sha256"]) for i in night["inputs"]] == [
        ("source", "city", None, sha(source)),
        ("reference", None, "mia", sha(files["mia.png"])),
        ("reference", None, "mia", sha(files["mia-side.jpg"])),
        ("reference", None, "rex", sha(files["rex.png"])),
    ]
    for i in night["inputs"][1:]:  # every reference is kept in inputs/ by its hash
        assert i["file"].startswith("inputs/") and sha((out / i["file"]).read_bytes()) == i["sha256"]
    assert night["source"] == {"frame": "city", "number": 1}


def test_a_file_source_and_a_mask_are_sent_and_recorded(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    photo = png((1024, 1024), (20, 90, 160))
    mask = Image.new("RGBA", (1024, 1024), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 512, 1024))  # repaint the left half
    buf = io.BytesIO()
    mask.save(buf, "PNG")
    (tmp_path / "photo.png").write_bytes(photo)
    (tmp_path / "mask.png").write_bytes(buf.getvalue())
    story = write_story(
        tmp_path, [{"id": "sky", "edit": "photo.png", "mask": "mask.png", "prompt": "sky: a stormy sky"}]
    )
    out = tmp_path / "out"
    assert run_story(story, out).exit_code == 0

    rec = request_for(fake_env, "sky")
    assert images_sent(rec) == [photo]
    assert [f[2] for f in rec.files["mask"]] == [buf.getvalue()]
    inputs = picked(out)["sky"]["inputs"]
    assert [(i["role"], i.get("frame"), i["sha256"]) for i in inputs] == [
        ("source", None, sha(photo)),
        ("mask", None, sha(buf.getvalue())),
    ]
    assert [(out / i["file"]).read_bytes() for i in inputs] == [photo, buf.getvalue()]


OUTPAINTS = [
    # gpt-image-2 takes any size: the canvas grows by exactly `by`, the source stays unscaled.
    ("gpt-image-2", "1024x1024", "right", (1536, 1024), (0, 0, 1024, 1024), {"left": 0, "top": 0, "right": 512, "bottom": 0}),
    ("gpt-image-2", "1024x1024", "left", (1536, 1024), (512, 0, 1536, 1024), {"left": 512, "top": 0, "right": 0, "bottom": 0}),
    ("gpt-image-2", "1024x1024", "up", (1024, 1536), (0, 512, 1024, 1536), {"left": 0, "top": 512, "right": 0, "bottom": 0}),
    ("gpt-image-2", "1024x1024", "all", (1536, 1536), (256, 256, 1280, 1280), {"left": 256, "top": 256, "right": 256, "bottom": 256}),
    # A fixed-size model: the legal size closest in aspect, the source scaled to fit, the amount really added.
    ("gpt-image-1.5", "1536x1024", "down", (1024, 1024), (0, 0, 1024, 683), {"left": 0, "top": 0, "right": 0, "bottom": 341}),
]  # fmt: skip


@pytest.mark.parametrize(("model", "size", "extend", "canvas", "box", "added"), OUTPAINTS)
def test_an_outpaint_sends_the_source_on_a_larger_canvas_with_its_mask(
    fake_env: FakeImagesAPI,
    tmp_path: Path,
    model: str,
    size: str,
    extend: str,
    canvas: tuple[int, int],
    box: tuple[int, int, int, int],
    added: dict[str, int],
) -> None:
    story = write_story(
        tmp_path,
        [
            {"id": "room", "prompt": "room: a cluttered lab"},
            {
                "id": "wide",
                "outpaint": {"from": "room", "extend": extend, "by": 0.5},
                "prompt": "wide: more lab",
            },
        ],
        model=model,
        size=size,
    )
    out = tmp_path / "out"
    assert run_story(story, out).exit_code == 0

    rec = request_for(fake_env, "wide")
    assert rec.form["size"] == f"{canvas[0]}x{canvas[1]}"
    (sent,) = images_sent(rec)
    image, mask = decoded(sent), decoded(rec.files["mask"][0][2])
    assert image.format == mask.format == "PNG"
    assert image.size == mask.size == canvas
    source = decoded((out / "frames" / "01-room.png").read_bytes()).convert("RGBA")
    placed = (box[2] - box[0], box[3] - box[1])
    if source.size != placed:  # only where the model's sizes leave no room
        source = source.resize(placed, Image.Resampling.LANCZOS)
    assert same_pixels(image.convert("RGBA").crop(box), source)  # placed where it belongs
    keep = Image.new("L", canvas, 0)
    keep.paste(255, box)  # opaque over the source (kept), transparent where the model paints
    assert same_pixels(mask.convert("RGBA").getchannel("A"), keep)
    assert same_pixels(image.convert("RGBA").getchannel("A"), keep)

    wide = picked(out)["wide"]
    assert wide["size"] == f"{canvas[0]}x{canvas[1]}"
    assert wide["outpaint"] == {"extend": extend, "by": 0.5, "added": added}
    assert [(i["role"], i.get("frame")) for i in wide["inputs"]] == [("source", "room"), ("mask", None)]
    assert decoded((out / "frames" / "02-wide.png").read_bytes()).size == canvas


def test_a_legacy_variation_uses_the_variations_endpoint_with_a_square_png(
    fake_env: FakeImagesAPI, tmp_path: Path
) -> None:
    (tmp_path / "wide.jpg").write_bytes(png((1536, 1024), (30, 120, 60), "JPEG"))
    story = write_story(
        tmp_path,
        [
            {"id": "a", "prompt": "a: a lighthouse"},
            {"id": "v", "variation": "a"},
            {"id": "w", "variation": "wide.jpg"},
        ],
        model="dall-e-2",
        size="1024x1024",
        quality="standard",
    )
    out = tmp_path / "out"
    assert run_story(story, out).exit_code == 0

    reqs = sorted(fake_env.image_requests(), key=lambda r: r.path)  # a and w go out in either order
    assert [r.path for r in reqs] == [
        "/v1/images/generations",
        "/v1/images/variations",
        "/v1/images/variations",
    ]
    assert reqs[0].json["response_format"] == "b64_json"
    source = decoded((out / "frames" / "01-a.png").read_bytes()).convert("RGBA")
    sent = []
    for rec in reqs[1:]:
        assert {k: rec.form[k] for k in ("model", "n", "response_format", "size")} == {
            "model": "dall-e-2",
            "n": "1",
            "response_format": "b64_json",
            "size": "1024x1024",
        }
        assert "prompt" not in rec.form
        (image,) = images_sent(rec)
        assert image.startswith(b"\x89PNG") and decoded(image).size == (1024, 1024)
        sent.append(decoded(image).convert("RGBA"))
    # v sent frame a's pixels; w the wide photo, cropped to its centre square.
    assert sorted(same_pixels(image, source) for image in sent) == [False, True]
    assert {e["status"] for e in picked(out).values()} == {"ok"}


def test_a_generated_character_sheet_comes_first_and_is_sent(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    story = write_story(
        tmp_path,
        [
            {"id": "lab", "prompt": "lab: {{ rex }} wakes up on a workbench"},
            {"id": "sea", "prompt": "sea: a calm sea"},
        ],
        characters={"rex": {"description": "a small silver robot dog", "reference": "generate"}},
    )
    out = tmp_path / "out"
    assert run_story(story, out).exit_code == 0

    sheet = (out / "characters" / "rex.png").read_bytes()
    reqs = fake_env.image_requests()
    sheet_req = next(
        r for r in reqs if (r.prompt or "").startswith("Character reference sheet of a small silver")
    )
    lab = request_for(fake_env, "lab")
    assert sheet_req.index < lab.index and lab.path == "/v1/images/edits"
    assert images_sent(lab) == [sheet]
    m = manifest(out)
    assert m["characters"][0]["sheet"]["file"] == "characters/rex.png"
    assert m["characters"][0]["sheet"]["sha256"] == sha(sheet)
    assert [(i["role"], i["character"], i["file"], i["sha256"]) for i in picked(out)["lab"]["inputs"]] == [
        ("reference", "rex", "characters/rex.png", sha(sheet))
    ]
    assert request_for(fake_env, "sea").path == "/v1/images/generations"  # no reference: a plain generate


# -- the graph -------------------------------------------------------------------------------


def graph() -> list[dict[str, Any]]:
    """Return a story with two chains among independent frames."""
    return [
        {"id": "a", "prompt": "a: a robot dog on a workbench"},
        {"id": "p", "prompt": "p: a poster"},
        {"id": "b", "edit": "a", "prompt": "b: the same dog at night"},
        {"id": "x", "prompt": "x: a harbour"},
        {"id": "c", "edit": "b", "prompt": "c: the same night, raining"},
        {"id": "q", "prompt": "q: a forest"},
        {"id": "y", "outpaint": {"from": "x", "extend": "right", "by": 0.25}, "prompt": "y: more harbour"},
        {"id": "z", "variation": "y", "prompt": "z: a variation"},
        {"id": "r", "prompt": "r: a desert"},
        {"id": "d", "edit": "c", "prompt": "d: dawn after the rain"},
    ]


SOURCES = {"b": "a", "c": "b", "d": "c", "y": "x", "z": "y"}


@pytest.mark.parametrize("seed", [1, 2])
def test_chained_requests_wait_for_their_sources_under_parallel_random_latencies(
    fake_env: FakeImagesAPI, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    latency: dict[int, float] = {}

    def draw(rec: RequestRecord) -> float:
        latency[rec.index] = rng.uniform(0.0, 0.08)
        return latency[rec.index]

    fake_env.latency = draw
    out = tmp_path / "out"
    assert run_story(write_story(tmp_path, graph(), parallel=4), out).exit_code == 0

    assert fake_env.max_in_flight > 1
    files = {e["id"]: (out / e["file"]).read_bytes() for e in picked(out).values()}
    for frame, source in SOURCES.items():
        rec, src = request_for(fake_env, frame), request_for(fake_env, source)
        # It started only after its source's answer was on its way: the server's own clock.
        assert rec.started >= src.started + latency[src.index]
        if frame != "y":  # an outpaint sends a canvas built from the source instead
            assert images_sent(rec)[0] == files[source]


def test_a_failed_source_skips_its_dependents(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    frames = graph()
    frames[0]["prompt"] = "a: a FORBIDDEN robot dog"
    out = tmp_path / "out"
    result = cli("run", write_story(tmp_path, frames), "-o", out)

    assert result.exit_code == 1
    assert sorted(requested(fake_env)) == ["a", "p", "q", "r", "x", "y", "z"]  # nothing for b, c, d
    entries = picked(out)
    assert entries["a"]["status"] == "failed"
    assert {i: (entries[i]["status"], entries[i]["reason"]) for i in "bcd"} == dict.fromkeys(
        "bcd", ("skipped", "source failed")
    )
    assert {entries[i]["status"] for i in "pqrxyz"} == {"ok"}
    assert "  frame  3 b: skipped: source failed" in stderr_lines(result)


def test_changing_a_source_requests_exactly_its_descendants(fake_env: FakeImagesAPI, tmp_path: Path) -> None:
    out = tmp_path / "out"
    frames = graph()
    assert run_story(write_story(tmp_path, frames), out).exit_code == 0
    n = len(fake_env.image_requests())

    frames[0]["prompt"] = "a: a robot dog asleep on a workbench"
    story = write_story(tmp_path, frames)
    assert run_story(story, out).exit_code == 0
    assert requested(fake_env, since=n) == ["a", "b", "c", "d"]

    # A hand edit is a change too: frames chained from it are made again, from the edit.
    n = len(fake_env.image_requests())
    edited = png((1024, 1024), (200, 40, 40))
    (out / "frames" / "04-x.png").write_bytes(edited)
    assert run_story(story, out).exit_code == 0
    assert requested(fake_env, since=n) == ["y", "z"]
    assert picked(out)["x"]["status"] == "edited"
    y_canvas = decoded(images_sent(fake_env.image_requests()[n])[0]).convert("RGB")
    assert same_pixels(y_canvas.crop((0, 0, 1024, 1024)), decoded(edited).convert("RGB"))
    assert picked(out)["y"]["inputs"][0] == {
        "role": "source",
        "frame": "x",
        "file": None,
        "sha256": sha(edited),
        "number": 4,
    }
