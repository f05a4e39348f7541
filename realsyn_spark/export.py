"""Exports of the ``pairs`` table in the formats users train from.

* ``realsyn-parquet``: the released RealSyn layout, columns ``raw_image_url``, ``text1``,
  ``text2``, ``text3``, ``syn_text`` (all strings), read by img2dataset exactly as RealSyn's
  own instructions use it (``--url_col raw_image_url --caption_col text1
  --save_additional_columns '["text2","text3","syn_text"]'``). ``tokenized=True`` writes
  the released text style: lower-cased and word-tokenised ("it 's").
* ``webdataset``: tar shards of ``<key>.jpg`` (the image, re-encoded as JPEG when it is not
  one), ``<key>.txt`` (text1) and ``<key>.json`` (text2, text3, syn_text, scores, ids), the
  layout open_clip's WebDataset loader reads (``--csv-caption-key txt``). Shards are
  written by the executors; rows are range-partitioned and sorted by image_id, so the same
  pairs give the same shards.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

RELEASED_COLUMNS = ("raw_image_url", "text1", "text2", "text3", "syn_text")
SHARD_SUMMARY_SCHEMA = "shard string, samples long, bytes long"


def released_text(text: str | None) -> str | None:
    """RealSyn's released style: lower-cased Penn-Treebank word tokens joined by spaces."""
    if text is None:
        return None
    from nltk.tokenize import TreebankWordTokenizer

    return " ".join(TreebankWordTokenizer().tokenize(text.lower()))


def _released_style(texts: pd.Series) -> pd.Series:
    return texts.map(released_text)


def realsyn_parquet(pairs: DataFrame, out: str, rows_per_file: int, tokenized: bool) -> int:
    """Write the released layout; returns the number of rows."""
    from pyspark.sql.functions import pandas_udf

    style = pandas_udf(_released_style, T.StringType())
    texts = {
        name: style(F.col(name)) if tokenized else F.col(name)
        for name in ("text1", "text2", "text3", "syn_text")
    }
    rows = pairs.count()
    files = max(1, -(-rows // rows_per_file))
    # Range-partitioned on image_id: the same pairs give the same files.
    frame = (
        pairs.repartitionByRange(files, "image_id")
        .sortWithinPartitions("image_id")
        .select(
            F.col("image_url").alias("raw_image_url"),
            *[
                texts[name].cast("string").alias(name)
                for name in ("text1", "text2", "text3", "syn_text")
            ],
        )
    )
    frame.write.mode("overwrite").parquet(out)
    return rows


def _jpeg(data: bytes, quality: int) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        if image.format == "JPEG":
            return data
        if image.mode == "P":
            image = image.convert("RGBA")
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=quality)
        return buffer.getvalue()


def write_shards(
    batches: Iterator[pd.DataFrame], out: str, prefix: str, quality: int
) -> Iterator[pd.DataFrame]:
    """mapInPandas: write this partition as one tar shard; yield its summary row."""
    from pyspark import TaskContext

    context = TaskContext.get()
    index = context.partitionId() if context is not None else 0
    name = f"{prefix}-{index:06d}.tar"
    path = Path(out) / name
    tmp = path.with_suffix(".tar.tmp")
    samples = 0
    with tarfile.open(tmp, "w") as tar:
        for batch in batches:
            for row in batch.itertuples(index=False):
                meta = {
                    "image_id": row.image_id,
                    "url": row.image_url,
                    "text2": row.text2,
                    "text3": row.text3,
                    "syn_text": row.syn_text,
                    "scores": [row.text1_score, row.text2_score, row.text3_score],
                    "doc_ids": [row.text1_doc_id, row.text2_doc_id, row.text3_doc_id],
                }
                members = {
                    "jpg": _jpeg(bytes(row.bytes), quality),
                    "txt": (row.text1 or "").encode("utf-8"),
                    "json": json.dumps(meta, default=_json_default).encode("utf-8"),
                }
                for ext, payload in members.items():
                    info = tarfile.TarInfo(f"{row.image_id}.{ext}")
                    info.size = len(payload)
                    info.mtime = 0  # reproducible shards
                    tar.addfile(info, io.BytesIO(payload))
                samples += 1
    size = tmp.stat().st_size
    if samples:
        tmp.replace(path)
    else:
        tmp.unlink()
    yield pd.DataFrame({"shard": [name if samples else ""], "samples": [samples], "bytes": [size]})


def _json_default(value: object) -> object:
    if value != value:  # NaN from pandas for missing scores
        return None
    return str(value)


def webdataset(
    pairs: DataFrame, images: DataFrame, out: str, samples_per_shard: int, quality: int
) -> list[tuple[str, int, int]]:
    """Write tar shards under ``out``; returns (shard, samples, bytes) per shard."""
    Path(out).mkdir(parents=True, exist_ok=True)
    for old in Path(out).glob("shard-*.tar"):
        old.unlink()
    rows = pairs.count()
    shards = max(1, -(-rows // samples_per_shard))
    frame = (
        pairs.join(images.select("image_id", "bytes"), "image_id")
        .repartitionByRange(shards, "image_id")
        .sortWithinPartitions("image_id")
    )
    summary = frame.mapInPandas(
        lambda it: write_shards(it, out, "shard", quality), SHARD_SUMMARY_SCHEMA
    ).collect()  # one row per shard
    return sorted((r["shard"], r["samples"], r["bytes"]) for r in summary if r["samples"])
