"""Images generated in the tests (no committed binaries)."""

from __future__ import annotations

import io

from PIL import Image


def image_bytes(
    width: int = 160, height: int = 120, fmt: str = "PNG", seed: int = 0, mode: str = "RGB"
) -> bytes:
    """A small image with content that differs per seed (so hashes differ)."""
    image = Image.new(mode, (width, height))
    pixels = image.load()
    for x in range(width):
        for y in range(height):
            value = (x * 7 + y * 13 + seed * 31) % 256
            if mode == "RGB":
                pixels[x, y] = (value, (value + seed) % 256, (x + y) % 256)
            elif mode == "RGBA":
                pixels[x, y] = (value, value, 255 - value, (x * 3) % 256)
            else:
                pixels[x, y] = value
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    data = image_bytes(200, 150, "JPEG", seed=5)
    return data[: len(data) // 2]


def corrupt_png() -> bytes:
    data = bytearray(image_bytes(120, 120, "PNG", seed=9))
    # Flip bytes in the middle of the IDAT stream: header still parses, decode fails.
    for i in range(len(data) // 2, len(data) // 2 + 40):
        data[i] ^= 0xFF
    return bytes(data)
