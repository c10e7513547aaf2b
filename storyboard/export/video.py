"""The MP4 animatic: H.264 (yuv420p) through PyAV, each frame for its duration, with its camera move.

Frame k is shown from video frame round(T(k-1) x fps) to round(T(k) x fps), T being the
running sum of durations, so the video lasts the board's running time to the frame. One
output size for all (the board's most common aspect; other frames letterboxed). A crossfade
takes place inside the outgoing frame, so the length does not change. Captions and dialogue
go to an .srt beside the video, and into the picture with `burn_captions`. Images are read
one frame at a time; only the frame on screen (and the next, while fading) is in memory.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from typing import IO, TYPE_CHECKING, Any

from storyboard import threads
from storyboard.errors import UsageError
from storyboard.export import camera
from storyboard.export.subtitles import Cue, frame_cues, reading_warnings, to_srt

if TYPE_CHECKING:
    from PIL import Image

    from storyboard.export.board import Board, Frame
    from storyboard.export.job import ExportJob

MAX_SIDE = 1280  # the long side of the video at most (never larger than the frames themselves)
_ENCODERS = ("libx264", "libopenh264", "h264_videotoolbox", "h264_mf", "h264")
_INSTALL = "pip install 'storyboard-chain[video]'"
BLACK = (0, 0, 0)


def _av() -> Any:
    """Import PyAV, or raise a UsageError saying how to install it."""
    try:
        import av
    except ImportError:
        raise UsageError(f"--mp4 needs PyAV (FFmpeg for Python). Install it with: {_INSTALL}") from None
    return av


def h264_encoder(av: Any) -> str:
    """Return the name of an H.264 encoder this FFmpeg build has, or raise a UsageError."""
    for name in _ENCODERS:
        try:
            codec = av.codec.Codec(name, "w")
        except Exception:  # noqa: BLE001 - PyAV raises different errors for unknown and decode-only codecs
            continue
        if codec.name and codec.type == "video":
            return name
    raise UsageError(
        "--mp4: this FFmpeg build has no H.264 encoder (libx264 or another). "
        f"Reinstall PyAV from its wheels ({_INSTALL}), which include libx264."
    )


def video_size(board: Board) -> tuple[int, int]:
    """Return the even (width, height) of the animatic: the most common aspect, long side <= MAX_SIDE."""
    aspect = min(max(board.aspect(), 1 / 3), 3.0)
    longest = max((max(f.size) for f in board.frames if f.size and f.path), default=MAX_SIDE)
    long_side = max(64, min(MAX_SIDE, longest))
    w, h = (long_side, long_side / aspect) if aspect >= 1 else (long_side * aspect, long_side)
    return max(2, round(w / 2) * 2), max(2, round(h / 2) * 2)


def frame_bounds(durations: list[float], fps: int) -> list[tuple[int, int]]:
    """Return each frame's [first, end) video frame indices: boundaries at round(cumulative time x fps)."""
    bounds, elapsed, start = [], 0.0, 0
    for d in durations:
        elapsed += d
        end = round(elapsed * fps)
        bounds.append((start, end))
        start = end
    return bounds


def board_cues(board: Board, bounds: list[tuple[int, int]], fps: int) -> list[Cue]:
    """Return every cue of the board, timed by the frames' video boundaries."""
    cues: list[Cue] = []
    for frame, (start, end) in zip(board.frames, bounds, strict=True):
        cues += frame_cues(frame, start / fps, end / fps)
    return cues


@dataclass
class _Shot:
    """One board frame ready to film: its source picture (kept larger for close views) and placement."""

    frame: Frame
    source: Image.Image
    rect: tuple[int, int, int, int]  # x, y, w, h of the picture on the canvas

    def picture(self, t: float, size: tuple[int, int]) -> Image.Image:
        """Return the whole canvas at fraction t of the shot."""
        from PIL import Image

        x, y, w, h = self.rect
        view = camera.view_at(self.frame.camera, t)
        shown = camera.render_view(self.source, view, (w, h))
        if (w, h) == size:
            return shown
        canvas = Image.new("RGB", size, BLACK)
        canvas.paste(shown, (x, y))
        return canvas


def _shot(frame: Frame, size: tuple[int, int]) -> _Shot:
    """Decode a frame's image (or draw a card for a frame without one) and scale it for its move."""
    from PIL import Image

    zoom = camera.max_zoom(frame.camera)
    image = frame.open((round(size[0] * zoom), round(size[1] * zoom)))
    if image is None:
        return _Shot(frame, _missing_card(frame, size), (0, 0, *size))
    x, y, w, h = camera.fit(image.size, size)
    want = (max(1, round(w * zoom)), max(1, round(h * zoom)))
    if image.size != want:
        image = image.resize(want, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return _Shot(frame, image, (x, y, w, h))


def _missing_card(frame: Frame, size: tuple[int, int]) -> Image.Image:
    """Draw the card shown for a frame without an image: its number, id and what happened."""
    from PIL import Image, ImageDraw

    from storyboard.render import text as typeset
    from storyboard.render.fonts import load_font

    card = Image.new("RGB", size, (38, 38, 42))
    draw = ImageDraw.Draw(card)
    unit = min(size) / 20
    head = f"{frame.label} {frame.ident}".strip() + " · " + frame.status_word
    font = load_font(round(unit * 1.4), head, bold=True)
    typeset.draw_text(draw, (size[0] / 2, size[1] * 0.42), typeset.fit(draw, head, font, size[0] * 0.9), font, (235, 235, 235), "mm")
    reason = frame.missing_reason
    if reason:
        small = load_font(round(unit * 0.9), reason)
        typeset.draw_block(draw, reason, small, size[0] * 0.1, size[0] * 0.9, size[1] * 0.5, (170, 170, 175), max_lines=3, align="centre")
    return card


def write_mp4(f: IO[bytes], job: ExportJob) -> None:
    """Encode the animatic into `f` and write its .srt beside the target."""
    from storyboard.export.burnin import Overlays
    from storyboard.output import fs

    av = _av()
    encoder = h264_encoder(av)
    board, options = job.board, job.options
    fps = options.fps
    size = video_size(board)
    bounds = frame_bounds([fr.duration for fr in board.frames], fps)
    cues = board_cues(board, bounds, fps)
    for message in reading_warnings(cues):
        job.warn(message)
    overlays = Overlays(board, cues, size, job.warn) if options.burn_captions else None

    container = av.open(f, mode="w", format="mp4")
    try:
        stream = container.add_stream(encoder, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        # Frame threads: x264 encodes several frames at once (~1.3x faster on 2 cores than its
        # default here, slices of one frame at a time).
        stream.codec_context.thread_type = "FRAME"
        if encoder == "libx264":
            # An animatic is mostly held pictures: "stillimage" suits it, and veryfast is ~4x faster than
            # "faster" here for files no larger.
            stream.options = {"crf": "20", "preset": "veryfast", "tune": "stillimage"}
        audio = _AudioTrack(av, container, options.audio, bounds[-1][1] / fps) if options.audio else None
        _film(av, container, stream, board, bounds, size, fps, options.crossfade, overlays, audio, job)
        for packet in stream.encode(None):
            container.mux(packet)
        if audio:
            audio.finish()
    finally:
        container.close()
    srt = to_srt(cues)
    fs.write(job.target.with_suffix(".srt"), srt.encode("utf-8"))


def _film(
    av: Any, container: Any, stream: Any, board: Board, bounds: list[tuple[int, int]], size: tuple[int, int],
    fps: int, crossfade: float, overlays: Any, audio: _AudioTrack | None, job: ExportJob,
) -> None:
    """Encode every video frame, shot by shot, reading each image only when its shot starts."""
    frames = board.frames
    nxt: _Shot | None = _shot(frames[0], size) if frames else None
    with ThreadPoolExecutor(1, thread_name_prefix="camera") as pool:
        for k, (_, end) in enumerate(bounds):
            shot = nxt
            assert shot is not None
            nxt = _shot(frames[k + 1], size) if k + 1 < len(frames) else None
            _film_shot(av, container, stream, shot, nxt, bounds, k, size, fps, crossfade, overlays, pool)
            if audio:
                audio.mux_until(end / fps)
            job.progress(k + 1, len(frames))


def _film_shot(
    av: Any, container: Any, stream: Any, shot: _Shot, nxt: _Shot | None, bounds: list[tuple[int, int]], k: int,
    size: tuple[int, int], fps: int, crossfade: float, overlays: Any, pool: ThreadPoolExecutor,
) -> None:
    """Encode one shot's video frames. A moving shot's pictures are drawn a few ahead on `pool`
    (Pillow's resize lets go of the GIL) while this thread hands the last ones to the encoder."""
    from PIL import Image

    start, end = bounds[k]
    count = end - start
    fade = min(round(crossfade * fps), count // 2, ((bounds[k + 1][1] - bounds[k + 1][0]) // 2) if nxt else 0)
    incoming = nxt.picture(0.0, size) if nxt is not None and fade else None
    still: tuple[Any, Any] | None = None  # a static shot's last video frame and what made it
    moving = shot.frame.camera != "static"
    ts = [j / (count - 1) if count > 1 else 0.0 for j in range(count)]
    drawn = threads.ahead(pool, (partial(shot.picture, t, size) for t in ts), 4) if moving else None
    for j in range(count):
        t = ts[j]
        alpha = (j - (count - fade) + 1) / (fade + 1) if j >= count - fade else 0.0
        overlay = overlays.at((start + j) / fps) if overlays else None
        key = (alpha, id(overlay))
        if not moving and still is not None and still[0] == key:
            video_frame = still[1]  # the same picture again: the encoder copies it, so one will do
        else:
            picture = next(drawn) if drawn is not None else shot.picture(t, size)
            if incoming is not None and alpha > 0:
                picture = Image.blend(picture, incoming, alpha)
            if overlay is not None:
                picture = overlay.apply(picture, shot.rect[1] + shot.rect[3])  # on the picture, not its black bars
            video_frame = av.VideoFrame.from_image(picture)
            still = (key, video_frame)
        video_frame.pts = start + j
        for packet in stream.encode(video_frame):
            container.mux(packet)


class _AudioTrack:
    """An audio file re-encoded as AAC into the animatic, cut at the video's end."""

    RATE = 48000

    def __init__(self, av: Any, container: Any, path: Any, length: float) -> None:
        self.av = av
        self.container = container
        self.length = length
        try:
            self.source = av.open(str(path))
            self.source_stream = next(s for s in self.source.streams if s.type == "audio")
        except StopIteration:
            raise UsageError(f"--audio {path}: the file has no audio stream.") from None
        except Exception as e:  # noqa: BLE001 - FFmpeg's errors for a file it cannot read vary by format
            raise UsageError(f"--audio {path}: cannot read it as audio ({e}).") from None
        self.stream = container.add_stream("aac", rate=self.RATE)
        self.stream.layout = "stereo"
        self.resampler = av.AudioResampler(format="fltp", layout="stereo", rate=self.RATE)
        self.frames = self._decoded()
        self.samples = 0
        self.done = False

    def _decoded(self) -> Any:
        """Yield the source's audio as AAC-ready frames."""
        for frame in self.source.decode(self.source_stream):
            yield from self.resampler.resample(frame)
        yield from self.resampler.resample(None)

    def mux_until(self, seconds: float) -> None:
        """Encode and mux audio up to `seconds` (and never past the video's end)."""
        limit = min(seconds, self.length) * self.RATE
        while not self.done and self.samples < limit:
            frame = next(self.frames, None)
            if frame is None:
                self.done = True
                break
            frame.pts = self.samples
            frame.time_base = Fraction(1, self.RATE)
            self.samples += frame.samples
            for packet in self.stream.encode(frame):
                self.container.mux(packet)

    def finish(self) -> None:
        """Flush the encoder and close the source."""
        self.mux_until(self.length)
        for packet in self.stream.encode(None):
            self.container.mux(packet)
        self.source.close()
