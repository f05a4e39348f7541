"""Pure image checks: the paper's size/aspect rule and a perceptual hash."""

from __future__ import annotations

import numpy as np
from PIL import Image


def size_reject_reason(width: int, height: int, min_side: int, max_aspect: float) -> str | None:
    """None when kept: short side >= min_side and 1/max_aspect <= w/h <= max_aspect."""
    if min(width, height) < min_side:
        return "short_side_too_small"
    # Compare by cross-multiplication: exact at the bounds (w/h == 3 stays).
    if width > max_aspect * height or height > max_aspect * width:
        return "aspect_ratio_out_of_range"
    return None


def phash64(image: Image.Image) -> int:
    """DCT perceptual hash (64 bits as a signed int64): the 8x8 lowest frequencies of a
    32x32 grey thumbnail, each bit = coefficient above the median (DC excluded from it).
    Stable under re-encoding and resizing, tolerant of small crops."""
    from scipy.fft import dctn

    if image.mode == "P":
        # Palette images with transparency: go through RGBA (what Pillow asks for).
        image = image.convert("RGBA")
    grey = image.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    coefficients = dctn(np.asarray(grey, dtype=np.float64), norm="ortho")[:8, :8].flatten()
    bits = coefficients > np.median(coefficients[1:])
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return value - (1 << 64) if value >= (1 << 63) else value


def hamming64(a: int, b: int) -> int:
    return ((a ^ b) & ((1 << 64) - 1)).bit_count()
