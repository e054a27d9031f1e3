"""The face check on real photos: one clear face passes, everything else says why not."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from tests.tenants.visitors import face_images
from vistapass.tenants.visitors.faces import (
    MAX_PHOTO_BYTES,
    FacePhotoRejected,
    check_face_photo,
    check_face_photo_async,
)


def refusal(data: bytes) -> FacePhotoRejected:
    with pytest.raises(FacePhotoRejected) as caught:
        check_face_photo(data)
    return caught.value


def test_a_portrait_with_one_face_is_accepted_and_cropped_to_the_face():
    photo = check_face_photo(face_images.one_face())
    x, y, width, height = photo.face
    # Eileen Collins' face sits left of centre near the top of the 512 px portrait.
    assert 150 <= x <= 200 and 40 <= y <= 90 and 90 <= width <= 110 and width == height
    crop = Image.open(io.BytesIO(photo.jpeg))
    assert crop.format == "JPEG"
    # The face with a margin for alignment, not the whole picture.
    assert width < crop.width < 512 and width < crop.height < 512
    assert not crop.getexif()
    # The kept crop passes the same check: enrolment will find the face in it.
    assert check_face_photo(photo.jpeg).face[2] >= 80


def test_the_check_runs_in_a_thread_with_the_same_answer():
    photo = asyncio.run(check_face_photo_async(face_images.one_face()))
    assert photo.face == check_face_photo(face_images.one_face()).face
    with pytest.raises(FacePhotoRejected) as caught:
        asyncio.run(check_face_photo_async(face_images.no_face()))
    assert caught.value.code == "no_face"


def test_a_photo_without_a_face_is_refused():
    assert refusal(face_images.no_face()).code == "no_face"
    blank = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 190, 180)).save(blank, format="PNG")
    assert refusal(blank.getvalue()).code == "no_face"


def test_two_people_in_one_photo_are_refused():
    refused = refusal(face_images.two_faces())
    assert refused.code == "several_faces" and refused.details["faces"] == 2
    assert refused.status_code == 422


def test_a_face_too_far_away_is_refused_as_too_small():
    refused = refusal(face_images.far_away())
    assert refused.code == "face_too_small"
    assert refused.details["width"] < refused.details["min_width"]


def test_a_shaken_photo_is_refused_as_blurred():
    assert refusal(face_images.shaken()).code == "face_blurred"


def test_a_photo_in_the_dark_is_refused_as_too_dark():
    assert refusal(face_images.in_the_dark()).code == "photo_too_dark"


def test_a_phone_photo_is_turned_upright_by_its_exif_orientation():
    # Without the tag the face lies on its side and a frontal detector misses it.
    assert refusal(face_images.sideways(with_orientation=False)).code == "no_face"
    assert check_face_photo(face_images.sideways(with_orientation=True)).face[2] >= 80


@pytest.mark.parametrize(
    "data",
    [b"", b"not a photo at all" * 20, face_images.one_face()[:4000]],
    ids=["empty", "text", "truncated-jpeg"],
)
def test_what_is_not_a_photo_is_refused_as_unreadable(data):
    assert refusal(data).code == "photo_unreadable"


def test_a_file_over_the_size_cap_is_refused_before_it_is_decoded():
    data = face_images.bigger_than(MAX_PHOTO_BYTES)
    refused = refusal(data)
    assert refused.code == "photo_too_large" and refused.status_code == 413
    assert refused.details == {"bytes": len(data), "max_bytes": MAX_PHOTO_BYTES}


@pytest.mark.parametrize("side", [8_000, 20_000])
def test_a_small_file_claiming_a_vast_image_is_refused_as_too_large(side):
    # 8 000² (64 MP) is under Pillow's own ceiling and meets ours; 20 000² meets Pillow's.
    refused = refusal(face_images.huge_canvas(side, side))
    assert refused.code == "photo_too_large" and refused.status_code == 413
