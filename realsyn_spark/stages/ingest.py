"""Stage ``ingest``: interleaved documents -> ``documents``, ``images``, ``sentences``.

Sources are OBELICS-layout records (parquet or JSONL) or folders of HTML pages with their
images. Every input document is kept or lands in ``ingest_rejects`` with a reason; every
image reference of a kept document is loaded (local file, ``data:`` URI, or fetched over
http/https by :class:`~realsyn_spark.fetch.BoundedFetcher` inside the Spark task) and
decoded, or rejected with a reason.
"""

from __future__ import annotations

import base64
import binascii
import os
import posixpath
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from realsyn_spark.config import FetchConfig, IngestConfig, SourceConfig
from realsyn_spark.documents import (
    DocumentRejected,
    ParsedDocument,
    html_to_document,
    jsonl_line_to_document,
    obelics_to_document,
)
from realsyn_spark.ids import bytes_id, content_id
from realsyn_spark.stage import Accounting, Stage, StageOutput, register_stage
from realsyn_spark.tables import DOCUMENTS_SCHEMA, IMAGES_SCHEMA, SENTENCES_SCHEMA

HTML_SUFFIXES = (".html", ".htm", ".xhtml")
HTML_FILES_PER_TASK = 64

RAW_SCHEMA = T.StructType(
    [
        T.StructField("source", T.StringType()),
        T.StructField("kind", T.StringType()),
        T.StructField("source_uri", T.StringType()),
        T.StructField("source_root", T.StringType()),
        T.StructField("payload", T.BinaryType()),
        T.StructField("texts", T.ArrayType(T.BinaryType())),
        T.StructField("images", T.ArrayType(T.BinaryType())),
        T.StructField("metadata", T.BinaryType()),
        T.StructField("general_metadata", T.BinaryType()),
    ]
)

PARSED_SCHEMA = T.StructType(
    [
        T.StructField("source", T.StringType()),
        T.StructField("source_uri", T.StringType()),
        T.StructField("source_root", T.StringType()),
        T.StructField("doc_id", T.StringType()),
        T.StructField("url", T.StringType()),
        T.StructField("texts", T.ArrayType(T.StringType())),
        T.StructField("images", T.ArrayType(T.StringType())),
        T.StructField("metadata", T.StringType()),
        T.StructField("general_metadata", T.StringType()),
        T.StructField("reject_reason", T.StringType()),
        T.StructField("reject_detail", T.StringType()),
    ]
)

LOADED_SCHEMA = T.StructType(
    [*IMAGES_SCHEMA.fields]
    + [
        T.StructField("reject_reason", T.StringType()),
        T.StructField("reject_detail", T.StringType()),
    ]
)


def _local_path(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def list_html_files(root: str) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of every HTML page under ``root``, sorted by path."""
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            if name.lower().endswith(HTML_SUFFIXES):
                path = os.path.join(folder, name)
                stat = os.stat(path)
                found.append((path, stat.st_size, stat.st_mtime_ns))
    return sorted(found)


def _html_root(src: SourceConfig, index: int) -> str:
    root = str(Path(_local_path(src.path)).resolve())
    if not Path(root).is_dir():
        raise FileNotFoundError(
            f"ingest.sources[{index}]: folder {root} does not exist"
            + (" (run `realsyn setup` to fetch the sample corpus)" if "sample" in root else "")
        )
    return root


# --------------------------------------------------------------------------- executor code


def parse_documents(
    batches: Iterator[pd.DataFrame], max_bytes: int, skip_classes: list[str]
) -> Iterator[pd.DataFrame]:
    """mapInPandas: raw records -> validated OBELICS documents or named rejections."""
    for batch in batches:
        rows = []
        for rec in batch.itertuples(index=False):
            doc: ParsedDocument | None = None
            reason = detail = None
            try:
                if rec.kind == "html_dir":
                    doc = _parse_html_file(rec.source_uri, rec.source_root, max_bytes, skip_classes)
                elif rec.kind == "obelics_jsonl":
                    doc = jsonl_line_to_document(bytes(rec.payload), max_bytes)
                else:
                    size = sum(len(x) for x in (rec.texts if rec.texts is not None else []) if x)
                    if size > max_bytes:
                        raise DocumentRejected("document_too_large", f"{size} bytes > {max_bytes}")
                    doc = obelics_to_document(
                        rec.texts, rec.images, rec.metadata, rec.general_metadata
                    )
            except DocumentRejected as exc:
                reason, detail = exc.reason, exc.detail
            except Exception as exc:  # noqa: BLE001 - a bad record must not kill the task
                reason, detail = "unparseable_document", f"{type(exc).__name__}: {exc}"[:500]
            rows.append(
                {
                    "source": rec.source,
                    "source_uri": rec.source_uri,
                    "source_root": rec.source_root,
                    "doc_id": doc.doc_id if doc else None,
                    "url": doc.url if doc else None,
                    "texts": doc.texts if doc else None,
                    "images": doc.images if doc else None,
                    "metadata": doc.metadata if doc else None,
                    "general_metadata": doc.general_metadata if doc else None,
                    "reject_reason": reason,
                    "reject_detail": detail,
                }
            )
        yield pd.DataFrame(rows, columns=PARSED_SCHEMA.fieldNames())


def _parse_html_file(
    uri: str, root: str, max_bytes: int, skip_classes: list[str]
) -> ParsedDocument:
    path = _local_path(uri)
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise DocumentRejected("unreadable_file", str(exc)) from exc
    page = os.path.relpath(path, root).replace(os.sep, "/")
    doc = html_to_document(data, url=page, skip_classes=skip_classes, max_bytes=max_bytes)
    # Image src values are relative to the page; store them relative to the source root
    # so ids do not depend on where the folder sits on this machine.
    page_dir = posixpath.dirname(page)
    doc.images = [
        _resolve_html_ref(src, page_dir) if src is not None else None for src in doc.images
    ]
    doc.__post_init__()
    return doc


def _resolve_html_ref(src: str, page_dir: str) -> str:
    if urlparse(src).scheme:
        return src
    return posixpath.normpath(posixpath.join(page_dir, unquote(src.split("#")[0].split("?")[0])))


def load_images(
    batches: Iterator[pd.DataFrame], fetch: FetchConfig, max_bytes: int, max_pixels: int
) -> Iterator[pd.DataFrame]:
    """mapInPandas: image references -> decoded image rows or named rejections."""
    from realsyn_spark.fetch import BoundedFetcher
    from realsyn_spark.image_decode import ImageRejected, probe_image

    fetcher = BoundedFetcher(fetch)
    for batch in batches:
        refs = batch["ref"].tolist()
        remote = [i for i, r in enumerate(refs) if urlparse(r).scheme.lower() in ("http", "https")]
        fetched = dict(zip(remote, fetcher.fetch_many([refs[i] for i in remote]), strict=True))
        rows = []
        for i, rec in enumerate(batch.itertuples(index=False)):
            row = {
                "image_id": None,
                "doc_id": rec.doc_id,
                "position": int(rec.position),
                "source_url": rec.ref,
                "bytes": None,
                "num_bytes": None,
                "width": None,
                "height": None,
                "format": None,
                "reject_reason": None,
                "reject_detail": None,
            }
            try:
                if i in fetched:
                    result = fetched[i]
                    if not result.ok:
                        raise ImageRejected(result.reason or "fetch_failed", result.detail)
                    data = result.data or b""
                else:
                    data = _read_non_remote(rec.ref, rec.source_root, max_bytes)
                info = probe_image(data, max_pixels)
                row.update(
                    image_id=bytes_id(data),
                    bytes=data,
                    num_bytes=len(data),
                    width=info.width,
                    height=info.height,
                    format=info.format,
                )
            except ImageRejected as exc:
                row.update(reject_reason=exc.reason, reject_detail=exc.detail)
            except Exception as exc:  # noqa: BLE001 - never let one image kill the task
                row.update(
                    reject_reason="image_load_error",
                    reject_detail=f"{type(exc).__name__}: {exc}"[:300],
                )
            rows.append(row)
        yield pd.DataFrame(rows, columns=LOADED_SCHEMA.fieldNames())


def _read_non_remote(ref: str, source_root: str | None, max_bytes: int) -> bytes:
    from realsyn_spark.image_decode import ImageRejected

    parsed = urlparse(ref)
    scheme = parsed.scheme.lower()
    if scheme == "data":
        header, _, payload = ref.partition(",")
        if ";base64" not in header:
            raise ImageRejected("unsupported_data_uri", "only base64 data: URIs are images")
        if len(payload) * 3 // 4 > max_bytes:
            raise ImageRejected("image_too_large", f"data: URI over {max_bytes} bytes")
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ImageRejected("corrupt_data_uri", str(exc)) from exc
    if scheme or source_root is None:
        raise ImageRejected("unsupported_scheme", f"cannot load {ref[:200]!r}")
    root = os.path.realpath(source_root)
    path = os.path.realpath(os.path.join(root, ref))
    if os.path.commonpath([root, path]) != root:
        raise ImageRejected("outside_source_root", f"{ref[:200]} resolves outside {root}")
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            raise ImageRejected("image_too_large", f"{size} bytes > {max_bytes}")
        with open(path, "rb") as handle:
            return handle.read(max_bytes + 1)
    except OSError as exc:
        raise ImageRejected("image_not_found", f"{ref[:200]}: {exc.strerror}") from exc


def split_texts(batches: Iterator[pd.DataFrame], language: str) -> Iterator[pd.DataFrame]:
    """mapInPandas: text blocks -> sentences (NLTK punkt), one row per sentence."""
    from realsyn_spark.punkt_models import split_sentences

    for batch in batches:
        rows = []
        for rec in batch.itertuples(index=False):
            for index, sentence in enumerate(split_sentences(rec.text, language)):
                rows.append(
                    {
                        "sentence_id": content_id(
                            rec.doc_id, str(rec.position), str(index), sentence
                        ),
                        "doc_id": rec.doc_id,
                        "position": int(rec.position),
                        "sentence_index": index,
                        "text": sentence,
                    }
                )
        yield pd.DataFrame(rows, columns=SENTENCES_SCHEMA.fieldNames())


# --------------------------------------------------------------------------- the stage


@register_stage
class IngestStage(Stage):
    name = "ingest"
    description = "interleaved documents -> documents, images, sentences"
    inputs = ()
    outputs = ("documents", "images", "sentences", "ingest_rejects")
    config_sections = ("ingest",)

    @property
    def cfg(self) -> IngestConfig:
        return self.config.ingest

    def _sources(self) -> list[SourceConfig]:
        if not self.cfg.sources:
            raise ValueError(
                "ingest.sources is empty: add one in the profile or with "
                "--set 'ingest.sources=[{kind: html_dir, path: DIR}]'"
            )
        return self.cfg.sources

    def _read_source(self, spark: SparkSession, src: SourceConfig, index: int) -> DataFrame:
        name = src.name or f"source{index}"
        if src.kind == "html_dir":
            root = _html_root(src, index)
            # Listed here rather than with Spark's binaryFile source, which silently skips
            # zero-length files; an empty page must reach the rejects table.
            paths = [(str(p),) for p, _, _ in list_html_files(root)]
            listing = spark.createDataFrame(paths, "path string")
            if paths:
                listing = listing.repartition(max(1, len(paths) // HTML_FILES_PER_TASK))
            return listing.select(
                F.lit(name).alias("source"),
                F.lit(src.kind).alias("kind"),
                F.col("path").alias("source_uri"),
                F.lit(root).alias("source_root"),
                *[F.lit(None).cast(f.dataType).alias(f.name) for f in RAW_SCHEMA.fields[4:]],
            )
        if src.kind == "obelics_jsonl":
            lines = spark.read.text(src.path)
            return lines.select(
                F.lit(name).alias("source"),
                F.lit(src.kind).alias("kind"),
                F.input_file_name().alias("source_uri"),
                F.lit(None).cast("string").alias("source_root"),
                # Binary keeps the raw bytes so non-UTF-8 is detected, not replaced.
                F.col("value").cast("binary").alias("payload"),
                *[F.lit(None).cast(f.dataType).alias(f.name) for f in RAW_SCHEMA.fields[5:]],
            )
        records = spark.read.parquet(src.path)
        missing = {"texts", "images"} - set(records.columns)
        if missing:
            raise ValueError(
                f"ingest.sources[{index}] ({src.path}): not OBELICS layout, "
                f"missing {sorted(missing)}"
            )

        def as_binary_list(col: str) -> F.Column:
            return F.transform(F.col(col), lambda x: x.cast("binary"))

        def optional(col: str) -> F.Column:
            return (
                F.col(col).cast("binary") if col in records.columns else F.lit(None).cast("binary")
            )

        return records.select(
            F.lit(name).alias("source"),
            F.lit(src.kind).alias("kind"),
            F.input_file_name().alias("source_uri"),
            F.lit(None).cast("string").alias("source_root"),
            F.lit(None).cast("binary").alias("payload"),
            as_binary_list("texts").alias("texts"),
            as_binary_list("images").alias("images"),
            optional("metadata").alias("metadata"),
            optional("general_metadata").alias("general_metadata"),
        )

    def read_external(self, spark: SparkSession) -> dict[str, DataFrame]:
        frames = [self._read_source(spark, s, i) for i, s in enumerate(self._sources())]
        raw = frames[0]
        for frame in frames[1:]:
            raw = raw.unionByName(frame)
        return {"raw_documents": raw}

    def external_fingerprint(self, spark: SparkSession) -> str | None:
        """Order-independent hash of every source file's path, size and mtime."""
        parts = []
        for index, src in enumerate(self._sources()):
            if src.kind == "html_dir":
                listing = list_html_files(_html_root(src, index))
                parts.append(f"{src.kind}:{src.path}:" + content_id(*(repr(f) for f in listing)))
                continue
            files = (
                spark.read.format("binaryFile")
                .option("recursiveFileLookup", "true")
                .load(src.path)
                .select(F.xxhash64("path", "length", "modificationTime").alias("h"))
            )
            row = files.agg(
                F.count("h").alias("n"), F.sum(F.col("h").cast("decimal(38,0)")).alias("s")
            ).first()
            parts.append(f"{src.kind}:{src.path}:{row['n']}:{row['s']}")
        return content_id(*parts)

    def transform(self, spark: SparkSession, inputs: dict[str, DataFrame]) -> StageOutput:
        cfg = self.cfg
        raw = inputs["raw_documents"]
        parsed = raw.mapInPandas(
            lambda it: parse_documents(it, cfg.max_document_bytes, cfg.html_skip_classes),
            PARSED_SCHEMA,
        ).persist(StorageLevel.MEMORY_AND_DISK)

        # Identical content found twice (mirrors, re-crawls) is one document.
        first = Window.partitionBy("doc_id").orderBy("source_uri", "source")
        ranked = parsed.withColumn(
            "dup_rank",
            F.when(F.col("reject_reason").isNull(), F.row_number().over(first)),
        ).withColumn("first_uri", F.first("source_uri").over(first))
        ranked = ranked.withColumn(
            "reject_reason",
            F.when(F.col("dup_rank") > 1, F.lit("duplicate_document")).otherwise(
                F.col("reject_reason")
            ),
        ).withColumn(
            "reject_detail",
            F.when(
                F.col("dup_rank") > 1, F.concat(F.lit("same content as "), F.col("first_uri"))
            ).otherwise(F.col("reject_detail")),
        )
        kept_docs = ranked.filter(F.col("reject_reason").isNull())
        documents = kept_docs.select(
            "doc_id",
            "source",
            "source_uri",
            "url",
            "texts",
            "images",
            "metadata",
            "general_metadata",
            F.size(F.filter("texts", lambda x: x.isNotNull())).cast("int").alias("num_texts"),
            F.size(F.filter("images", lambda x: x.isNotNull())).cast("int").alias("num_images"),
        )
        doc_rejects = self.rejects(
            ranked.filter(F.col("reject_reason").isNotNull()),
            entity="document",
            record_id=F.col("doc_id"),
            doc_id=F.col("doc_id"),
            reason=F.col("reject_reason"),
            detail=F.col("reject_detail"),
            source=F.col("source_uri"),
        )

        image_refs = kept_docs.select(
            "doc_id", "source_root", F.posexplode("images").alias("position", "ref")
        ).filter(F.col("ref").isNotNull())
        fetch_cfg, max_img, max_px = cfg.fetch, cfg.max_image_bytes, cfg.max_image_pixels
        loaded = (
            image_refs.select("doc_id", "position", "ref", "source_root")
            .mapInPandas(lambda it: load_images(it, fetch_cfg, max_img, max_px), LOADED_SCHEMA)
            # Fetching twice would cost the network twice and could disagree with itself.
            .persist(StorageLevel.DISK_ONLY)
        )
        images, image_rejects = self.split_verdicts(
            loaded,
            IMAGES_SCHEMA.fieldNames(),
            entity="image",
            record_id=F.col("source_url"),
            source=F.col("source_url"),
        )

        language = cfg.language
        sentences = (
            kept_docs.select("doc_id", F.posexplode("texts").alias("position", "text"))
            .filter(F.col("text").isNotNull())
            .mapInPandas(lambda it: split_texts(it, language), SENTENCES_SCHEMA)
        )
        return StageOutput(
            tables={
                "documents": documents.select(*DOCUMENTS_SCHEMA.fieldNames()),
                "images": images,
                "sentences": sentences,
                "ingest_rejects": doc_rejects.unionByName(image_rejects),
            },
            accounting=[
                Accounting("document", raw, "documents", "ingest_rejects"),
                Accounting("image", image_refs, "images", "ingest_rejects"),
            ],
            persisted=[parsed, loaded],
        )
