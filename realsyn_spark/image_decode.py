"""Defensive image decoding shared by every stage that opens image bytes.

Never raises anything but :class:`ImageRejected`, whose ``reason`` names what was wrong:
a task must not die because one of a million images is a decompression bomb or a
truncated JPEG.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError


class ImageRejected(ValueError):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail[:300]


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str


def probe_image(data: bytes, max_pixels: int) -> ImageInfo:
    """Size and format of encoded image bytes, after checking they decode completely.

    The pixel count is checked from the header before any pixel is decoded (Pillow alone
    only refuses at twice its own limit). JPEGs decode in draft mode (DCT scaling) so the
    integrity check costs a fraction of a full decode.
    """
    if not data:
        raise ImageRejected("empty_image", "0 bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                fmt = (image.format or "unknown").lower()
                if width <= 0 or height <= 0:
                    raise ImageRejected("corrupt_image", f"size {width}x{height}")
                if width * height > max_pixels:
                    raise ImageRejected(
                        "decompression_bomb", f"{width}x{height} > {max_pixels} pixels"
                    )
                if fmt == "jpeg":
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
    except ImageRejected:
        raise
    except UnidentifiedImageError as exc:
        raise ImageRejected("undecodable_image", "not an image format Pillow can read") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("decompression_bomb", str(exc)) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # Pillow reports truncation and bad chunks as OSError/SyntaxError.
        raise ImageRejected("corrupt_image", f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - plugin bugs on hostile input
        raise ImageRejected("corrupt_image", f"{type(exc).__name__}: {exc}") from exc
    return ImageInfo(width, height, fmt)
