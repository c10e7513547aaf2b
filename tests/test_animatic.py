"""The MP4 animatic (decoded back with PyAV), its camera moves, crossfades, audio, and the .srt beside it."""

from __future__ import annotations

import json
import math
import statistics
import struct
import wave
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image, ImageChops, ImageStat
from sheetdata import build
from typer.testing import CliRunner

from storyboard.cli import app
from storyboard.errors import UsageError
from storyboard.export import camera, subtitles, video
from storyboard.export.board import CAMERA_MOVES, load_board
from storyboard.export.core import export
from storyboard.export.job import ExportOptions

SIZE = (96, 64)  # small frames keep encoding fast; the video takes the frames' size


def make_dir(root: Path, specs: list[dict[str, Any]], image_size: tuple[int, int] = SIZE) -> Path:
    out = root / "board"
    manifest = build(out, specs, image_size=image_size)
    manifest["story"]["file"] = "anim.yaml"
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return out


def decode(path: Path) -> tuple[Any, list[Image.Image]]:
    """Return the video stream's facts and every decoded picture (greyscale)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        facts = {
            "codec": stream.codec_context.name,
            "size": (stream.codec_context.width, stream.codec_context.height),
            "pix_fmt": stream.codec_context.pix_fmt,
            "rate": stream.average_rate,
            "audio": [s.codec_context.name for s in container.streams.audio],
        }
        pictures = [f.to_image().convert("L") for f in container.decode(video=0)]
    return facts, pictures


def diff(a: Image.Image, b: Image.Image) -> float:
    """Return the mean absolute difference of two greyscale pictures (0-255)."""
    return ImageStat.Stat(ImageChops.difference(a, b)).mean[0]


@pytest.mark.parametrize(("durations", "fps"), [([2, 1.5, 0.5], 24), ([0.3, 0.3, 0.3, 0.45], 24), ([1.25, 0.7], 10)])
def test_mp4_is_h264_yuv420p_with_one_video_frame_per_tick(tmp_path: Path, durations: list[float], fps: int) -> None:
    out = make_dir(tmp_path, [{"id": f"s{i}", "duration": d} for i, d in enumerate(durations)])
    path = export(out, "mp4", options=ExportOptions(fps=fps))
    assert path == out / "exports" / "anim.mp4"
    facts, pictures = decode(path)
    assert facts["codec"] == "h264" and facts["pix_fmt"] == "yuv420p" and facts["audio"] == []
    assert facts["size"] == SIZE and facts["rate"] == fps
    assert len(pictures) == round(sum(durations) * fps)


def test_frame_boundaries_follow_the_running_time() -> None:
    # 0.3 s at 24 fps is 7.2 ticks: the boundaries round the running sum, so no drift builds up.
    assert video.frame_bounds([0.3, 0.3, 0.3, 0.45], 24) == [(0, 7), (7, 14), (14, 22), (22, 32)]
    assert video.frame_bounds([1 / 3] * 3, 24) == [(0, 8), (8, 16), (16, 24)]


def test_one_size_for_all_most_common_aspect_others_letterboxed(tmp_path: Path) -> None:
    specs = [{"id": "a"}, {"id": "b"}, {"id": "tall", "image_size": (64, 96)}]
    out = make_dir(tmp_path, specs, image_size=(120, 80))
    facts, pictures = decode(export(out, "mp4"))
    assert facts["size"] == (120, 80)  # 3:2, as two of the three
    tall = pictures[-1]
    # Black bars left and right of the portrait frame, picture in the middle.
    assert tall.crop((0, 0, 30, 80)).getextrema()[1] < 24 and tall.crop((90, 0, 120, 80)).getextrema()[1] < 24
    assert tall.crop((50, 10, 70, 70)).getextrema()[1] > 100


def test_sizes_are_even_and_never_above_the_frames_or_1280(tmp_path: Path) -> None:
    board = load_board(make_dir(tmp_path, [{"id": "a"}], image_size=(97, 61)))
    w, h = video.video_size(board)
    assert (w % 2, h % 2) == (0, 0) and w <= 98
    board.frames[0].entry.update(width=4000, height=2000)
    assert video.video_size(board) == (1280, 640)


def test_push_in_changes_smoothly(tmp_path: Path) -> None:
    out = make_dir(tmp_path, [{"id": "push", "camera": "push-in", "duration": 2}, {"id": "hold", "duration": 1}], image_size=(192, 128))
    _, pictures = decode(export(out, "mp4"))
    push, hold = pictures[:48], pictures[48:]
    steps = [diff(a, b) for a, b in zip(push, push[1:], strict=False)]
    typical = statistics.median(steps)
    assert typical > 0.05  # it moves every tick, never stands still ...
    assert min(steps) > typical / 3
    assert max(steps) < typical * 3 and max(steps) < 2  # ... in small, steady steps: no jump
    assert diff(push[0], push[-1]) > 10 * typical  # and it gets somewhere
    assert max(diff(a, b) for a, b in zip(hold, hold[1:], strict=False)) < 0.2  # a static frame holds


@pytest.mark.parametrize("move", CAMERA_MOVES)
def test_every_view_stays_inside_the_image(move: str) -> None:
    for step in range(11):
        left, top, right, bottom = camera.view_at(move, step / 10).box(300, 200)
        assert -1e-9 <= left < right <= 300 + 1e-9 and -1e-9 <= top < bottom <= 200 + 1e-9


def test_moves_go_the_way_they_say() -> None:
    assert camera.view_at("push-in", 1).zoom > camera.view_at("push-in", 0).zoom == 1
    assert camera.view_at("pull-out", 0).zoom > camera.view_at("pull-out", 1).zoom == 1
    assert camera.view_at("pan-left", 1).cx < camera.view_at("pan-left", 0).cx  # the camera turns left
    assert camera.view_at("pan-right", 1).cx > camera.view_at("pan-right", 0).cx
    assert camera.view_at("tilt-up", 1).cy < camera.view_at("tilt-up", 0).cy
    assert camera.view_at("tilt-down", 1).cy > camera.view_at("tilt-down", 0).cy
    assert camera.view_at("static", 0.5) == camera.view_at("static", 0) == camera.View(0.5, 0.5, 1.0)


def test_crossfade_happens_inside_the_outgoing_frame(tmp_path: Path) -> None:
    specs = [{"id": "a", "duration": 1}, {"id": "b", "duration": 1}]
    out = make_dir(tmp_path, specs)
    _, cut = decode(export(out, "mp4", tmp_path / "cut.mp4"))
    _, fade = decode(export(out, "mp4", tmp_path / "fade.mp4", options=ExportOptions(crossfade=0.5)))
    assert len(fade) == len(cut) == 48  # the length does not change
    assert diff(fade[0], cut[0]) < 1 and diff(fade[24], cut[24]) < 1  # both frames start as they are
    middle = fade[17]  # half way through the fade (ticks 12-23 of frame a)
    assert diff(middle, cut[17]) > 3 and diff(middle, cut[24]) > 3
    blend = Image.blend(cut[17], cut[24], 0.5)
    assert diff(middle, blend) < diff(middle, cut[17]) / 2
    steps = [diff(a, b) for a, b in zip(fade[10:26], fade[11:26], strict=False)]
    assert max(steps) < 3 * statistics.median(steps[2:13])  # no cut left: even steps through the fade


def test_frames_without_an_image_get_a_card_for_their_duration(tmp_path: Path) -> None:
    specs = [{"id": "a", "duration": 1}, {"id": "storm", "duration": 1, "status": "failed", "reason": "moderation"}]
    _, pictures = decode(export(make_dir(tmp_path, specs), "mp4"))
    assert len(pictures) == 48
    card = pictures[30]
    assert 25 < ImageStat.Stat(card).mean[0] < 60  # the dark card, with its words on it


def test_burned_captions_are_in_the_picture(tmp_path: Path) -> None:
    specs = [{"id": "a", "caption": "Rex wakes up.", "duration": 1}]
    out = make_dir(tmp_path, specs, image_size=(240, 160))
    _, plain = decode(export(out, "mp4", tmp_path / "plain.mp4"))
    _, burned = decode(export(out, "mp4", tmp_path / "burned.mp4", options=ExportOptions(burn_captions=True)))
    lower = (0, 110, 240, 160)
    assert diff(plain[5].crop(lower), burned[5].crop(lower)) > 5  # the caption's band
    assert diff(plain[5].crop((0, 0, 240, 90)), burned[5].crop((0, 0, 240, 90))) < 1  # nothing above it


def test_burned_captions_of_a_letterboxed_frame_sit_on_its_picture_not_its_bars(tmp_path: Path) -> None:
    specs = [{"id": "a", "duration": 1}, {"id": "wide", "caption": "Rex wakes up.", "duration": 1, "image_size": (240, 80)}]
    out = make_dir(tmp_path, specs, image_size=(240, 160))
    _, plain = decode(export(out, "mp4", tmp_path / "plain.mp4"))
    _, burned = decode(export(out, "mp4", tmp_path / "burned.mp4", options=ExportOptions(burn_captions=True)))
    shot = 24 + 5  # a picture of the wide frame: 240x80 inside 240x160, black bars of 40 above and below
    assert diff(plain[shot].crop((0, 80, 240, 120)), burned[shot].crop((0, 80, 240, 120))) > 5  # the band, on the picture
    assert diff(plain[shot].crop((0, 122, 240, 160)), burned[shot].crop((0, 122, 240, 160))) < 1  # the bar below, untouched


def _tone(path: Path, seconds: float, rate: int = 22050) -> None:
    """Write a mono 440 Hz WAV (stdlib only)."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(int(seconds * rate))))


def test_audio_is_added_and_cut_at_the_end(tmp_path: Path) -> None:
    tone = tmp_path / "tone.wav"
    _tone(tone, 5)
    out = make_dir(tmp_path, [{"id": "a", "duration": 1}, {"id": "b", "duration": 0.5}])
    path = export(out, "mp4", options=ExportOptions(audio=tone))
    facts, pictures = decode(path)
    assert facts["audio"] == ["aac"] and len(pictures) == 36
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        heard = sum(f.samples for f in container.decode(audio=0)) / stream.codec_context.sample_rate
    assert 1.4 < heard < 1.6  # the 5 s tone, cut at the video's 1.5 s


def test_audio_that_is_not_audio_is_a_usage_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    out = make_dir(tmp_path, [{"id": "a", "duration": 1}])
    with pytest.raises(UsageError, match=r"--audio .*junk.wav: cannot read it as audio"):
        export(out, "mp4", options=ExportOptions(audio=junk))
    assert not (out / "exports" / "anim.mp4").exists()


def test_without_pyav_the_message_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def no_av(name: str, *args: Any, **kw: Any) -> Any:
        if name == "av" or name.startswith("av."):
            raise ImportError("No module named 'av'")
        return real(name, *args, **kw)

    out = make_dir(tmp_path, [{"id": "a"}])
    monkeypatch.setattr(builtins, "__import__", no_av)
    result = CliRunner().invoke(app, ["export", str(out), "--mp4"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: --mp4 needs PyAV (FFmpeg for Python). Install it with: pip install 'storyboard-chain[video]'"
    )
    assert not (out / "exports" / "anim.mp4").exists()


def test_without_an_h264_encoder_the_message_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video, "_ENCODERS", ("no-such-encoder",))
    with pytest.raises(UsageError, match="this FFmpeg build has no H.264 encoder"):
        export(make_dir(tmp_path, [{"id": "a"}]), "mp4")


def test_cli_mp4_prints_both_files_and_relinks_the_sheet(tmp_path: Path) -> None:
    out = make_dir(tmp_path, [{"id": "a", "caption": "Rex wakes up.", "duration": 1}])
    (out / "index.html").write_text("old sheet", encoding="utf-8")
    result = CliRunner().invoke(app, ["export", str(out), "--mp4", "--fps", "12", "--burn-captions"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [str(out / "exports" / "anim.mp4"), str(out / "exports" / "anim.srt")]
    assert (out / "index.html").read_text(encoding="utf-8") != "old sheet"  # the sheet was rendered again
    assert len(decode(out / "exports" / "anim.mp4")[1]) == 12


# -- subtitles ---------------------------------------------------------------------------------


def _srt_cues(text: str) -> list[tuple[float, float, str]]:
    """Parse SRT text into (start, end, text) triples."""
    cues = []
    for block in text.strip().split("\n\n"):
        number, times, *lines = block.split("\n")
        start, end = (sum(float(p) * f for p, f in zip(t.replace(",", ".").split(":"), (3600, 60, 1), strict=True)) for t in times.split(" --> "))
        cues.append((start, end, "\n".join(lines)))
        assert number.isdigit()
    return cues


def test_srt_beside_the_video_with_captions_and_dialogue_timed_in_their_frame(tmp_path: Path) -> None:
    specs = [
        {"id": "lab", "caption": "Rex wakes up.", "duration": 4,
         "dialogue": [{"speaker": "rex", "line": "Where am I?"}, {"speaker": "mira", "line": "You are home, little one."}]},
        {"id": "quiet", "duration": 1},
        {"id": "city", "caption": "The city.", "duration": 2},
    ]
    out = make_dir(tmp_path, specs)
    warnings: list[str] = []
    export(out, "mp4", warn=warnings.append)
    cues = _srt_cues((out / "exports" / "anim.srt").read_text(encoding="utf-8"))
    assert [c[2] for c in cues] == ["Rex wakes up.", "REX: Where am I?", "MIRA: You are home, little one.", "The city."]
    assert cues[0][0] == 0 and cues[2][1] == 4  # the first frame's three cues share its 4 s ...
    assert cues[0][1] == cues[1][0] and cues[1][1] == cues[2][0]  # ... one after another, never overlapping
    assert cues[2][1] - cues[2][0] > cues[1][1] - cues[1][0]  # the longer line shows longer
    assert all(end - start >= subtitles.MIN_CUE for start, end, _ in cues)
    assert cues[3][:2] == (5, 7)  # the quiet frame says nothing; the city's caption fills its frame
    assert warnings == []


def test_cues_never_overlap_and_group_lines_when_a_frame_is_short() -> None:
    board_frame = load_board_frame({"caption": "A.", "dialogue": [{"speaker": "a", "line": f"Line {i}."} for i in range(5)]})
    cues = subtitles.frame_cues(board_frame, 10.0, 12.0)  # 6 units in 2 s: at most 2 cues of 0.8 s or more
    assert len(cues) == 2 and cues[0].start == 10 and cues[-1].end == 12
    assert "\n".join(c.text for c in cues).splitlines() == ["A.", *(f"A: Line {i}." for i in range(5))]
    assert all(c.end - c.start >= subtitles.MIN_CUE for c in cues)
    assert cues[0].end == cues[1].start
    assert subtitles.frame_cues(board_frame, 3.0, 3.5)[0].text.count("\n") == 5  # one cue when under MIN_CUE


def test_fast_reading_is_warned_about(tmp_path: Path) -> None:
    specs = [{"id": "rush", "duration": 1, "dialogue": [{"speaker": "rex", "line": "I have so very much to say in just one second."}]}]
    warnings: list[str] = []
    export(make_dir(tmp_path, specs), "mp4", warn=warnings.append)
    assert warnings == [
        "frame 01 (rush): its subtitles read at 51 characters a second (17 is comfortable); "
        "give the frame a longer `duration:` or shorten its caption and dialogue."
    ]


def test_srt_time_stamps() -> None:
    frame = load_board_frame({"caption": "Hi."})
    text = subtitles.to_srt([subtitles.Cue(3661.2345, 3662.5, "Hi.\n\n", frame)])
    assert text == "1\n01:01:01,234 --> 01:01:02,500\nHi.\n"


def load_board_frame(fields: dict[str, Any]) -> Any:
    """Return a board Frame made from manifest fields."""
    from storyboard.export.board import Frame

    return Frame({"id": "x", **fields}, None, 2.0, "01")


def test_a_frame_without_a_duration_is_held_long_enough_to_read(tmp_path: Path) -> None:
    long_line = "Grandpa said this kite flew all the way to the lighthouse once, and back again."
    specs = [  # as a story without `duration:` writes its frames: null
        {"id": "quiet", "duration": None},  # nothing to read: the default 2 s
        {"id": "talk", "duration": None, "caption": "The windiest day.",
         "dialogue": [{"speaker": "ada", "line": long_line}, {"speaker": "theo", "line": "No."}]},
        {"id": "set", "duration": 1.5, "dialogue": [{"speaker": "ada", "line": long_line}]},  # the story's own time stands
    ]
    out = make_dir(tmp_path, specs)

    quiet, talk, fixed = load_board(out).frames
    assert quiet.duration == 2.0 and fixed.duration == 1.5
    words = len(" ".join(subtitles.frame_units(talk)))
    assert talk.duration >= words / subtitles.READING_CPS and (talk.duration * 2).is_integer()
    assert talk.duration - 0.5 < words / subtitles.READING_CPS + 1.0  # no longer than it needs (the short line's cue aside)
    warnings: list[str] = []
    export(out, "mp4", warn=warnings.append)
    assert [w.split(":")[0] for w in warnings] == ["frame 03 (set)"]  # only the frame the story timed too short
    facts, pictures = decode(out / "exports" / "anim.mp4")
    assert len(pictures) == round((2.0 + talk.duration + 1.5) * 24)


def test_a_story_without_durations_exports_an_animatic_that_reads(tmp_path: Path) -> None:
    line = "Grandpa said this kite flew all the way to the lighthouse once, and back again."
    story = tmp_path / "kite.yaml"
    story.write_text(
        "title: Kite\nsize: 1:1\nframes:\n"
        f"  - id: beach\n    prompt: a beach\n    dialogue:\n      - ada: {line}\n"
        f"  - id: rush\n    prompt: a kite\n    duration: 1\n    dialogue:\n      - ada: {line}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert CliRunner().invoke(app, ["run", str(story), "--backend", "draft", "-o", str(out)]).exit_code == 0
    assert [e["duration"] for e in json.loads((out / "manifest.json").read_text(encoding="utf-8"))["frames"]] == [None, 1]
    result = CliRunner().invoke(app, ["export", str(out), "--mp4"])
    assert result.exit_code == 0, result.output
    assert "frame 02 (rush): its subtitles read at" in result.output and "frame 01" not in result.output
    srt = (out / "exports" / "kite.srt").read_text(encoding="utf-8")
    first_end = srt.split("\n")[1].split(" --> ")[1]
    assert first_end == "00:00:05,000"  # "ADA: " and the line, 85 characters, at 17 a second
