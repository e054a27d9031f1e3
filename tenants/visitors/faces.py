"""Is this photo fit for face entry? One clear face, big, sharp and bright enough.

Visitors send a selfie from the booking page; it is checked here before it is
kept, so a photo that could never enrol a face is refused while the visitor can
still take another. Detection uses OpenCV's bundled Haar cascade (frontal face,
default): it ships inside the wheel, so nothing is downloaded at run time. The
later enrolment (detect, align, embed with onnxruntime) is stricter; this check
only turns away what is plainly unusable, with a reason a visitor can act on.

Everything here is CPU-bound and synchronous: call `check_face_photo_async`
from the event loop, which runs the check in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vistapass.platform.errors import VistapassError

MAX_PHOTO_BYTES = 8 * 1024 * 1024
# Pixels, not bytes: a small file can decode into a huge bitmap (a "decompression bomb").
MAX_PIXELS = 50_000_000
# The image is decoded at most this big, the crop is taken from it.
WORK_SIDE = 1600
# Detection runs on a copy at most this big: fast, and fewer false faces in fine texture.
DETECT_SIDE = 800
MIN_DETECT_PX = 32
# Coarser than OpenCV's 1.1: twice as fast, and fewer false faces on clothes.
SCALE_STEP = 1.15
# Neighbouring detections a face needs: OpenCV's 3 (and even 5) let a fold of
# clothing pass for a second face, which would refuse a good selfie.
MIN_NEIGHBOURS = 7
# Two detections overlapping by this share of the smaller one are one face.
SAME_FACE_OVERLAP = 0.3
# A face narrower than this (in pixels of the photo as sent) carries too little
# detail for enrolment (the usual embedders take a 112 px aligned face).
MIN_FACE_PX = 80
# A second face counts when it is at least this share of the largest one's width:
# a stranger far behind, or a small false detection in a pattern, does not.
RIVAL_SHARE = 0.4
# Mean brightness (0-255) of the face; below it the features are lost in the dark.
MIN_FACE_BRIGHTNESS = 45
# Whole-photo brightness below which "no face" is more likely "too dark to see one".
MIN_PHOTO_BRIGHTNESS = 35
# Sharpness: the Laplacian's variance over the face's own variance (x100), so the
# measure does not depend on lighting or skin tone. Sharp faces score ~8-12, a
# face blurred by one pixel's Gaussian ~1.2.
MIN_SHARPNESS = 2.0
SHARPNESS_SIDE = 128
# The kept crop: the face with a margin (for alignment later), at most this big.
CROP_MARGIN = 0.4
CROP_SIDE = 512
JPEG_QUALITY = 90

CASCADE_FILE = "haarcascade_frontalface_default.xml"

Box = tuple[int, int, int, int]  # x, y, width, height


class FacePhotoRejected(VistapassError):
    """The photo cannot be used for face entry; `code` says why."""

    status_code = 422
    code = "face_photo_rejected"


class NoFace(FacePhotoRejected):
    code = "no_face"


class SeveralFaces(FacePhotoRejected):
    code = "several_faces"


class FaceTooSmall(FacePhotoRejected):
    code = "face_too_small"


class FaceBlurred(FacePhotoRejected):
    code = "face_blurred"


class PhotoTooDark(FacePhotoRejected):
    code = "photo_too_dark"


class PhotoUnreadable(FacePhotoRejected):
    code = "photo_unreadable"


class PhotoTooLarge(FacePhotoRejected):
    status_code = 413
    code = "photo_too_large"


@dataclass(frozen=True, slots=True)
class FacePhoto:
    """An accepted photo: the face crop as JPEG, and what the check measured."""

    jpeg: bytes
    face: Box  # in the photo as sent
    brightness: float
    sharpness: float


_local = threading.local()


def _cascade() -> cv2.CascadeClassifier:
    # One classifier per thread: OpenCV does not promise that one instance may
    # run detectMultiScale from several threads at once.
    cascade = getattr(_local, "cascade", None)
    if cascade is None:
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILE)
        if cascade.empty():
            raise RuntimeError(f"OpenCV's {CASCADE_FILE} did not load")
        _local.cascade = cascade
    return cascade


def _decode(data: bytes) -> tuple[np.ndarray, float]:
    """The photo upright as RGB at most WORK_SIDE big, and its scale to the photo as sent."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoTooLarge(
            f"A photo is at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB.",
            details={"bytes": len(data), "max_bytes": MAX_PHOTO_BYTES},
        )
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise PhotoTooLarge(
                "The photo has too many pixels.",
                details={"width": width, "height": height, "max_pixels": MAX_PIXELS},
            )
        # JPEG can decode at 1/2, 1/4 or 1/8 size directly: much faster for a
        # 12-megapixel phone photo than decoding it whole and shrinking it.
        image.draft("RGB", (WORK_SIDE, WORK_SIDE))
        # Phones store the camera's orientation in EXIF rather than turning the
        # pixels; a sideways face is not found by a frontal-face detector.
        image = ImageOps.exif_transpose(image).convert("RGB")
        image.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
    except Image.DecompressionBombError:
        # Pillow's own ceiling, met before ours when the header claims a vast image.
        raise PhotoTooLarge(
            "The photo has too many pixels.", details={"max_pixels": MAX_PIXELS}
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        # What Pillow raises for a truncated, corrupt or unknown file.
        raise PhotoUnreadable(
            "The file is not a photo in a format we read (JPEG, PNG, WebP...).",
            details={"reason": type(exc).__name__},
        ) from None
    # Orientation swaps width and height; the scale is the same along either side.
    scale = max(image.size) / max(width, height)
    return np.asarray(image), scale


def _faces(gray: np.ndarray) -> list[Box]:
    """Faces in `gray` (any size), in its own pixels, largest first."""
    shrink = min(1.0, DETECT_SIDE / max(gray.shape))
    small = gray
    if shrink < 1.0:
        size = (round(gray.shape[1] * shrink), round(gray.shape[0] * shrink))
        small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    # Equalised: the cascade then finds faces in dim or flat light as well.
    found = _cascade().detectMultiScale(
        cv2.equalizeHist(small),
        scaleFactor=SCALE_STEP,
        minNeighbors=MIN_NEIGHBOURS,
        minSize=(MIN_DETECT_PX, MIN_DETECT_PX),
    )
    boxes: list[Box] = sorted(
        (_box(round(int(v) / shrink) for v in box) for box in found),
        key=lambda box: box[2] * box[3],
        reverse=True,
    )
    faces: list[Box] = []
    for box in boxes:
        # The cascade sometimes reports one face twice at neighbouring scales.
        if not any(_overlap(box, kept) > SAME_FACE_OVERLAP for kept in faces):
            faces.append(box)
    return faces


def _box(values: Iterable[int]) -> Box:
    x, y, w, h = values
    return (x, y, w, h)


def _overlap(a: Box, b: Box) -> float:
    """The intersection's share of the smaller box."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    return width * height / min(a[2] * a[3], b[2] * b[3])


def _sharpness(face: np.ndarray) -> float:
    sample = cv2.resize(face, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
    sample = sample.astype(np.float64)
    spread = max(float(sample.var()), 1.0)
    return float(cv2.Laplacian(sample, cv2.CV_64F).var()) / spread * 100


def _crop(rgb: np.ndarray, box: Box) -> bytes:
    x, y, w, h = box
    margin_x, margin_y = round(w * CROP_MARGIN), round(h * CROP_MARGIN)
    top, left = max(0, y - margin_y), max(0, x - margin_x)
    bottom = min(rgb.shape[0], y + h + margin_y)
    right = min(rgb.shape[1], x + w + margin_x)
    image = Image.fromarray(rgb[top:bottom, left:right])
    image.thumbnail((CROP_SIDE, CROP_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    # No EXIF or other metadata is carried over: only the pixels of the face.
    image.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def check_face_photo(data: bytes) -> FacePhoto:
    """Accept a photo with exactly one clear face, or raise a `FacePhotoRejected`
    whose code says what to change: `photo_too_large`, `photo_unreadable`,
    `no_face`, `photo_too_dark`, `several_faces`, `face_too_small`, `face_blurred`."""
    rgb, scale = _decode(data)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    faces = _faces(gray)
    if not faces:
        if float(gray.mean()) < MIN_PHOTO_BRIGHTNESS:
            raise PhotoTooDark("The photo is too dark to find a face.")
        raise NoFace("No face was found in the photo.")
    largest = faces[0]
    rivals = [box for box in faces[1:] if box[2] >= largest[2] * RIVAL_SHARE]
    if rivals:
        raise SeveralFaces(
            "The photo shows more than one face.", details={"faces": len(rivals) + 1}
        )
    x, y, w, h = largest
    if w / scale < MIN_FACE_PX:
        raise FaceTooSmall(
            "The face is too small in the photo.",
            details={"width": round(w / scale), "min_width": MIN_FACE_PX},
        )
    face = gray[y : y + h, x : x + w]
    brightness = float(face.mean())
    if brightness < MIN_FACE_BRIGHTNESS:
        raise PhotoTooDark("The face is too dark.", details={"brightness": round(brightness)})
    sharpness = _sharpness(face)
    if sharpness < MIN_SHARPNESS:
        raise FaceBlurred("The face is blurred.", details={"sharpness": round(sharpness, 2)})
    original = (round(x / scale), round(y / scale), round(w / scale), round(h / scale))
    return FacePhoto(_crop(rgb, largest), original, brightness, sharpness)


async def check_face_photo_async(data: bytes) -> FacePhoto:
    """`check_face_photo` in a worker thread: a second of CPU must not stall the loop."""
    return await asyncio.to_thread(check_face_photo, data)
