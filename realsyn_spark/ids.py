"""Content-hash ids: the same content gives the same id on every run and machine."""

from __future__ import annotations

import hashlib
import json
from typing import Any

ID_HEX_CHARS = 32


def content_id(*parts: str | bytes) -> str:
    """sha256 over length-prefixed parts (so ("ab","c") != ("a","bc")), 128 bits as hex."""
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()[:ID_HEX_CHARS]


def bytes_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:ID_HEX_CHARS]


def document_id(texts: list[str | None], images: list[str | None]) -> str:
    """A document is its interleaved content; where it was found does not change it."""
    blob = json.dumps({"texts": texts, "images": images}, ensure_ascii=False, sort_keys=True)
    return content_id("document", blob)


def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
