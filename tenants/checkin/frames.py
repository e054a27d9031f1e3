"""Reading QR codes from a camera frame or a photo, on the server.

Browsers without `BarcodeDetector` (Chromium on Linux and Windows, Firefox)
send the check-in page's camera frames, or a photo of a ticket, here. Pillow
decodes the image (JPEG, PNG or WebP only, size-checked before decoding) and
zxing-cpp finds the QR codes in it. Decoding is CPU work, so it runs in a
worker thread and never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import io

import zxingcpp
from PIL import Image, UnidentifiedImageError

from vistapass.platform.errors import VistapassError

MAX_FRAME_BYTES = 8 * 1024 * 1024  # a phone photo; camera frames are about 50 KB
MAX_PIXELS = 50_000_000  # refused before decoding: a small file may claim a huge image
# Larger images are scaled down to this side first: a ticket's QR code still has
# several pixels per module, and decoding stays in the tens of milliseconds.
WORK_SIDE = 1600
FORMATS = frozenset({"JPEG", "PNG", "WEBP"})


class FrameInvalid(VistapassError):
    status_code = 422
    code = "invalid_image"


def _open(data: bytes) -> Image.Image:
    if not data:
        raise FrameInvalid("Send a JPEG, PNG or WebP image.")
    if len(data) > MAX_FRAME_BYTES:
        raise FrameInvalid(
            "The image is larger than 8 MiB.",
            code="image_too_large",
            details={"limit": MAX_FRAME_BYTES},
        )
    try:
        image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise FrameInvalid("This is not a JPEG, PNG or WebP image.") from None
    if image.format not in FORMATS:
        raise FrameInvalid("This is not a JPEG, PNG or WebP image.")
    if image.width * image.height > MAX_PIXELS:
        raise FrameInvalid("The image has too many pixels.", code="image_too_large")
    return image


def read_codes(data: bytes) -> list[str]:
    """The text of every QR code in the image, each once, in the order found."""
    image = _open(data)
    try:
        # JPEG decodes straight to a smaller scale: much less work for a phone photo.
        image.draft("L", (WORK_SIDE, WORK_SIDE))
        gray = image.convert("L")
        gray.thumbnail((WORK_SIDE, WORK_SIDE))
    except (OSError, ValueError, Image.DecompressionBombError):
        raise FrameInvalid("The image is damaged.") from None
    found = zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode)
    texts: list[str] = []
    for barcode in found:
        if barcode.text and barcode.text not in texts:
            texts.append(barcode.text)
    return texts


async def read_codes_async(data: bytes) -> list[str]:
    return await asyncio.to_thread(read_codes, data)
