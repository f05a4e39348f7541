"""Interleaved documents in the OBELICS layout, from HTML pages or OBELICS records.

Pure functions (no Spark): parsing and validation return a :class:`ParsedDocument` or
raise :class:`DocumentRejected` with a named reason, which the ingest stage turns into a
rejects row.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from realsyn_spark.ids import canonical_json, document_id


class DocumentRejected(ValueError):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail[:500]


@dataclass
class ParsedDocument:
    texts: list[str | None]
    images: list[str | None]
    metadata: str
    general_metadata: str
    url: str | None = None
    doc_id: str = field(init=False)

    def __post_init__(self) -> None:
        self.doc_id = document_id(self.texts, self.images)


# --------------------------------------------------------------------------- decoding

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_\-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_\-]+)""", re.I)


def decode_text(data: bytes, declared: str | None = None) -> str:
    """Strict decoding: UTF-8 unless the document declares another charset."""
    encoding = (declared or "utf-8").lower()
    try:
        text = data.decode(encoding)
    except LookupError as exc:
        raise DocumentRejected("unknown_encoding", f"declared charset {declared!r}") from exc
    except UnicodeDecodeError as exc:
        reason = "non_utf8" if encoding in ("utf-8", "utf8") else "undecodable_text"
        raise DocumentRejected(reason, f"{encoding}: {exc}") from exc
    if "\x00" in text:
        raise DocumentRejected("binary_content", "NUL characters in text")
    return text


def declared_html_charset(data: bytes) -> str | None:
    head = data[:4096]
    match = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    return match.group(1).decode("ascii") if match else None


# --------------------------------------------------------------------------- HTML

_BLOCK_TAGS = {
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "td",
    "th",
    "tr",
    "table",
    "dt",
    "dd",
    "dl",
    "pre",
    "blockquote",
    "figcaption",
    "caption",
    "section",
    "article",
    "main",
    "figure",
    "br",
    "hr",
    "body",
    "title",
}
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "nav", "button", "form"}
_VOID_TAGS = {"img", "br", "hr", "meta", "link", "input", "area", "base", "col", "wbr", "source"}
_SPACE = re.compile(r"\s+")


class _InterleavedHTMLParser(HTMLParser):
    """Walks the page in document order, emitting text blocks and images."""

    def __init__(self, skip_classes: set[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.skip_classes = skip_classes
        self.entries: list[tuple[str, str, dict[str, str]]] = []
        self.title = ""
        self._buffer: list[str] = []
        self._skip_tag: str | None = None
        self._skip_depth = 0
        self._in_title = False

    def _flush(self) -> None:
        text = _SPACE.sub(" ", "".join(self._buffer)).strip()
        self._buffer = []
        if text:
            self.entries.append(("text", text, {}))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if self._skip_tag is not None:
            if tag == self._skip_tag and tag not in _VOID_TAGS:
                self._skip_depth += 1
            return
        if tag == "title":
            self._in_title = True
            return
        classes = set(attributes.get("class", "").split())
        if (tag in _SKIP_TAGS or classes & self.skip_classes) and tag not in _VOID_TAGS:
            self._flush()
            self._skip_tag, self._skip_depth = tag, 1
            return
        if tag == "img":
            src = attributes.get("src", "").strip()
            if src:
                self._flush()
                self.entries.append(("image", src, {"alt": attributes.get("alt", "")}))
            return
        if tag in _BLOCK_TAGS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            return
        if self._skip_tag is not None:
            if tag == self._skip_tag:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
            return
        if tag in _BLOCK_TAGS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif self._skip_tag is None:
            self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def html_to_document(
    data: bytes, *, url: str | None, skip_classes: list[str], max_bytes: int
) -> ParsedDocument:
    """An HTML page -> OBELICS layout. Image ``src`` values are kept as written."""
    if len(data) > max_bytes:
        raise DocumentRejected("document_too_large", f"{len(data)} bytes > {max_bytes}")
    if not data.strip():
        raise DocumentRejected("empty_document", "empty file")
    text = decode_text(data, declared_html_charset(data))
    parser = _InterleavedHTMLParser(set(skip_classes))
    try:
        parser.feed(text)
        parser.close()
    except Exception as exc:  # noqa: BLE001 - html.parser is lenient; anything left is broken
        raise DocumentRejected("broken_html", f"{type(exc).__name__}: {exc}") from exc
    texts: list[str | None] = []
    images: list[str | None] = []
    metadata: list[dict[str, str] | None] = []
    for kind, value, attrs in parser.entries:
        texts.append(value if kind == "text" else None)
        images.append(value if kind == "image" else None)
        metadata.append({"src": value, **attrs} if kind == "image" else None)
    if not any(t for t in texts) and not any(i for i in images):
        raise DocumentRejected("empty_document", "no text and no images in the page")
    general = {"url": url, "title": _SPACE.sub(" ", parser.title).strip()}
    return ParsedDocument(texts, images, canonical_json(metadata), canonical_json(general), url)


# --------------------------------------------------------------------------- OBELICS


def _as_list(value: Any, name: str) -> list[Any]:
    if hasattr(value, "tolist"):  # numpy arrays out of Arrow
        value = value.tolist()
    if not isinstance(value, list):
        raise DocumentRejected("invalid_layout", f"{name} is {type(value).__name__}, not a list")
    return value


def _decode_item(item: Any, name: str) -> str | None:
    if item is None:
        return None
    if isinstance(item, (bytes, bytearray)):
        return decode_text(bytes(item))
    if isinstance(item, str):
        return item
    raise DocumentRejected("invalid_layout", f"{name} item of type {type(item).__name__}")


def obelics_to_document(
    texts: Any, images: Any, metadata: Any, general_metadata: Any
) -> ParsedDocument:
    """Validate one OBELICS record (values may still be raw UTF-8 bytes)."""
    if texts is None or images is None:
        raise DocumentRejected("invalid_layout", "texts or images missing")
    text_list = [_decode_item(t, "texts") for t in _as_list(texts, "texts")]
    image_list = [_decode_item(i, "images") for i in _as_list(images, "images")]
    if len(text_list) != len(image_list):
        raise DocumentRejected(
            "mismatched_lists", f"{len(text_list)} texts vs {len(image_list)} images"
        )
    for pos, (text, image) in enumerate(zip(text_list, image_list, strict=True)):
        if (text is None) == (image is None):
            raise DocumentRejected(
                "invalid_layout", f"position {pos} must hold exactly one of text/image"
            )
    if not any(t and t.strip() for t in text_list) and not any(image_list):
        raise DocumentRejected("empty_document", "no text and no images")
    meta = _decode_item(metadata, "metadata") if metadata is not None else "[]"
    general = _decode_item(general_metadata, "general_metadata") if general_metadata else "{}"
    url = None
    try:
        parsed = json.loads(general or "{}")
        if isinstance(parsed, dict) and isinstance(parsed.get("url"), str):
            url = parsed["url"]
    except json.JSONDecodeError:
        pass  # general_metadata is free-form; a non-JSON value is kept as given
    return ParsedDocument(text_list, image_list, meta or "[]", general or "{}", url)


def jsonl_line_to_document(line: bytes, max_bytes: int) -> ParsedDocument:
    if len(line) > max_bytes:
        raise DocumentRejected("document_too_large", f"{len(line)} bytes > {max_bytes}")
    if not line.strip():
        raise DocumentRejected("empty_document", "blank line")
    text = decode_text(line)
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DocumentRejected("invalid_json", str(exc)) from exc
    if not isinstance(record, dict):
        raise DocumentRejected("invalid_layout", "a JSON line must be an object")
    meta = record.get("metadata")
    general = record.get("general_metadata")
    return obelics_to_document(
        record.get("texts"),
        record.get("images"),
        meta if isinstance(meta, str) or meta is None else canonical_json(meta),
        general if isinstance(general, str) or general is None else canonical_json(general),
    )
