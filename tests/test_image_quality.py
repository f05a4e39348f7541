from __future__ import annotations

import io

import pytest
from PIL import Image

from realsyn_spark.config import ImageDedupConfig
from realsyn_spark.image_quality import hamming64, phash64, size_reject_reason


@pytest.mark.parametrize(
    ("size", "reason"),
    [
        ((99, 150), "short_side_too_small"),
        ((150, 99), "short_side_too_small"),
        ((100, 100), None),
        ((300, 100), None),  # aspect exactly 3: kept
        ((100, 300), None),  # exactly 1/3: kept
        ((301, 100), "aspect_ratio_out_of_range"),
        ((100, 301), "aspect_ratio_out_of_range"),
        ((3000, 1001), None),  # just inside
        ((3004, 1001), "aspect_ratio_out_of_range"),  # 3.001: just outside
    ],
)
def test_size_and_aspect_boundaries(size, reason):
    assert size_reject_reason(*size, min_side=100, max_aspect=3.0) == reason


def _real_images():
    from skimage import data

    return {
        "astronaut": Image.fromarray(data.astronaut()),
        "coffee": Image.fromarray(data.coffee()),
        "chelsea": Image.fromarray(data.chelsea()),
        "rocket": Image.fromarray(data.rocket()),
        "camera": Image.fromarray(data.camera()),
    }


def _reencode(image: Image.Image, quality: int = 70) -> Image.Image:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


def test_phash_is_stable_under_reencode_resize_and_small_crops():
    for image in _real_images().values():
        base = phash64(image)
        w, h = image.size
        variants = [
            _reencode(image),
            image.resize((w // 2, h // 2)),
            image.crop((int(w * 0.015), int(h * 0.015), int(w * 0.985), int(h * 0.985))),
        ]
        for variant in variants:
            assert hamming64(base, phash64(variant)) <= ImageDedupConfig().phash_max_distance


def test_phash_separates_different_photos():
    hashes = {name: phash64(image) for name, image in _real_images().items()}
    names = sorted(hashes)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert hamming64(hashes[a], hashes[b]) > 2 * ImageDedupConfig().phash_max_distance, (
                a,
                b,
            )
