"""Real photos for the face checks, from scikit-image's bundled data (no download).

`astronaut()` is a portrait of Eileen Collins: one frontal face of about 100 px
in a 512 px image. Two of them side by side make a photo with two faces; the
coffee cup has none. Everything else is made from these by the usual accidents of
a phone camera: too far away, shaken, in the dark, turned sideways.
"""

from __future__ import annotations

import io
import struct
import zlib
from functools import cache

import numpy as np
from PIL import Image, ImageFilter
from skimage import data


@cache
def _astronaut() -> np.ndarray:
    return data.astronaut()


def jpeg(pixels: np.ndarray, quality: int = 92, exif: bytes | None = None) -> bytes:
    out = io.BytesIO()
    image = Image.fromarray(pixels)
    if exif is None:
        image.save(out, format="JPEG", quality=quality)
    else:
        image.save(out, format="JPEG", quality=quality, exif=exif)
    return out.getvalue()


def one_face() -> bytes:
    return jpeg(_astronaut())


def two_faces() -> bytes:
    return jpeg(np.hstack([_astronaut(), _astronaut()]))


def no_face() -> bytes:
    return jpeg(data.coffee())


def far_away() -> bytes:
    """The same portrait taken from much further: the face is about 50 px wide."""
    small = Image.fromarray(_astronaut()).resize((256, 256), Image.Resampling.LANCZOS)
    return jpeg(np.asarray(small))


def shaken() -> bytes:
    blurred = Image.fromarray(_astronaut()).filter(ImageFilter.GaussianBlur(2))
    return jpeg(np.asarray(blurred))


def in_the_dark() -> bytes:
    return jpeg((_astronaut() * 0.15).astype(np.uint8))


def sideways(with_orientation: bool) -> bytes:
    """Pixels stored turned a quarter left, as a phone held sideways stores them; with
    EXIF orientation 6 ("turn 90° clockwise to show") the photo displays upright."""
    turned = np.ascontiguousarray(np.rot90(_astronaut()))
    if not with_orientation:
        return jpeg(turned)
    exif = Image.Exif()
    exif[0x0112] = 6
    return jpeg(turned, exif=exif.tobytes())


def bigger_than(limit: int) -> bytes:
    """A real photo padded past `limit` bytes: random pixels do not compress."""
    rng = np.random.default_rng(7)
    side = 1800
    while True:
        noise = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
        noise[: _astronaut().shape[0], : _astronaut().shape[1]] = _astronaut()
        out = io.BytesIO()
        Image.fromarray(noise).save(out, format="PNG", compress_level=1)
        if out.tell() > limit:
            return out.getvalue()
        side += 600


def huge_canvas(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height`: a decompression bomb's shape."""
    out = io.BytesIO()
    Image.new("L", (1, 1)).save(out, format="PNG")
    png = bytearray(out.getvalue())
    # IHDR is the first chunk: length (4), type (4), then width and height.
    png[16:24] = struct.pack(">II", width, height)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    return bytes(png)
