"""A GIF written a frame at a time, so an animatic of a thousand frames holds a few frames in
memory, not all of them (Pillow's multi-frame GIF writer keeps every frame until the end).

Pillow encodes each frame on its own as a one-frame GIF (its own adaptive palette, LZW); this
module moves that frame's colour table and image data into the animation, with its delay, as
the GIF89a format lays frames out: a header, the looping extension, then per frame a graphic
control extension (delay, disposal), an image descriptor with a local colour table, the image data.
"""

from __future__ import annotations

import io
import struct
from typing import IO, Any

_DISPOSE_NONE = 1  # leave the frame in place: the next one covers the whole canvas


class GifWriter:
    """Write an animated GIF of `size` to `f`, one frame per `add`; `close` ends the file."""

    def __init__(self, f: IO[bytes], size: tuple[int, int], *, loop: int = 0) -> None:
        self._f, self.size = f, size
        # Header, logical screen (no global colour table: each frame brings its own), looping.
        f.write(b"GIF89a" + struct.pack("<HHBBB", size[0], size[1], 0x70, 0, 0))
        f.write(b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\x00")

    def add(self, frame: Any, duration_ms: int) -> None:
        """Append a frame (a PIL image of the canvas' size, mode P) shown for `duration_ms`."""
        if frame.size != self.size:
            raise ValueError(f"a frame of {frame.size} in a GIF of {self.size}")
        one = io.BytesIO()
        frame.save(one, format="GIF", optimize=False, interlace=False)
        table, descriptor, data = _parts(one.getvalue())
        delay = max(0, min(0xFFFF, round(duration_ms / 10)))  # GIF counts hundredths of a second
        self._f.write(b"\x21\xf9\x04" + struct.pack("<BHB", _DISPOSE_NONE << 2, delay, 0) + b"\x00")
        left, top, width, height, packed = struct.unpack("<HHHHB", descriptor)
        bits = max(1, (len(table) // 3 - 1).bit_length()) - 1  # the table holds 2 ** (bits + 1) colours
        flags = 0x80 | (packed & 0x40) | bits  # a local table; interlaced as the frame was written
        self._f.write(b"\x2c" + struct.pack("<HHHHB", left, top, width, height, flags) + table + data)

    def close(self) -> None:
        """End the file (the trailer)."""
        self._f.write(b"\x3b")


def _parts(gif: bytes) -> tuple[bytes, bytes, bytes]:
    """Return a one-frame GIF's colour table, image descriptor (its 9 bytes after the separator) and
    image data (LZW code size and sub-blocks, through the terminator)."""
    if gif[:3] != b"GIF":
        raise ValueError("not a GIF")
    packed = gif[10]
    pos = 13
    table = b""
    if packed & 0x80:  # a global colour table
        n = 3 * 2 ** ((packed & 7) + 1)
        table, pos = gif[pos:pos + n], pos + n
    while pos < len(gif):
        kind = gif[pos]
        if kind == 0x21:  # an extension: its label, then sub-blocks
            pos = _skip_blocks(gif, pos + 2)
        elif kind == 0x2C:
            descriptor = gif[pos + 1:pos + 10]
            pos += 10
            if descriptor[8] & 0x80:  # a local colour table takes the global one's place
                n = 3 * 2 ** ((descriptor[8] & 7) + 1)
                table, pos = gif[pos:pos + n], pos + n
            end = _skip_blocks(gif, pos + 1)  # the LZW minimum code size, then the data's sub-blocks
            if not table:
                raise ValueError("a GIF frame without a colour table")
            return table, descriptor, gif[pos:end]
        else:
            break
    raise ValueError("a GIF without an image")


def _skip_blocks(gif: bytes, pos: int) -> int:
    """Return the position after the sub-blocks that start at `pos` (through the 0 terminator)."""
    while True:
        size = gif[pos]
        pos += 1 + size
        if size == 0:
            return pos
