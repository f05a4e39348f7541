"""Stage ``image_dedup``: ``images_filtered`` -> ``images_unique`` + ``image_duplicates``.

Exact duplicates (same bytes, hence the same ``image_id``) and perceptual duplicates (64-bit
DCT hashes within ``phash_max_distance`` bits: re-encodes, resizes, small crops) collapse to
one representative.

Rules (deterministic):
* among occurrences of the same bytes, the first by (doc_id, position) is the kept row;
* in a perceptual group (connected components of the near-duplicate pairs), the
  representative is the image with the most pixels, then the most bytes, then the
  smallest image_id: the best-quality copy survives.

Near-duplicate pairs are found without comparing all pairs: by the pigeonhole principle two
64-bit hashes within d bits agree exactly on at least one of d+1 bands, so candidates are
the pairs sharing a band value (a self-join per band), verified with the full distance.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from realsyn_spark.components import connected_components
from realsyn_spark.stage import Accounting, Stage, StageOutput, register_stage
from realsyn_spark.tables import (
    IMAGE_DUPLICATES_SCHEMA,
    IMAGES_FILTERED_SCHEMA,
    IMAGES_UNIQUE_SCHEMA,
)

# Lineage arrays are capped; the mapping table holds every occurrence.
MAX_LINEAGE_DOCS = 1000

HASHED_SCHEMA = T.StructType([*IMAGES_FILTERED_SCHEMA.fields, T.StructField("phash", T.LongType())])


def add_phash(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    from PIL import Image

    from realsyn_spark.image_quality import phash64

    for batch in batches:
        hashes = []
        for data in batch["bytes"]:
            # Decoding was checked by image_filter; a failure here would be a bug upstream.
            with Image.open(io.BytesIO(data)) as image:
                image.draft("RGB", (64, 64))
                hashes.append(phash64(image))
        yield batch.assign(phash=pd.array(hashes, dtype="Int64"))


def band_columns(max_distance: int) -> list[Column]:
    """(band, value) structs: d+1 disjoint bit ranges covering the 64-bit hash."""
    bands = max_distance + 1
    width = -(-64 // bands)
    columns = []
    for band in range(bands):
        start = band * width
        bits = min(width, 64 - start)
        if bits <= 0:
            break
        mask = (1 << bits) - 1
        value = F.shiftrightunsigned(F.col("phash"), start).bitwiseAND(F.lit(mask).cast("long"))
        columns.append(F.struct(F.lit(band).alias("band"), value.alias("value")))
    return columns


def near_duplicate_pairs(hashed: DataFrame, max_distance: int, max_bucket: int) -> DataFrame:
    """(src, dst, distance) with src < dst and Hamming distance <= max_distance."""
    keyed = hashed.select(
        "image_id", "phash", F.explode(F.array(*band_columns(max_distance))).alias("b")
    ).select("image_id", "phash", "b.band", "b.value")
    bucket = Window.partitionBy("band", "value")
    keyed = keyed.withColumn("bucket_size", F.count("*").over(bucket)).filter(
        (F.col("bucket_size") > 1) & (F.col("bucket_size") <= max_bucket)
    )
    left = keyed.select(
        F.col("image_id").alias("src"), F.col("phash").alias("src_hash"), "band", "value"
    )
    right = keyed.select(
        F.col("image_id").alias("dst"), F.col("phash").alias("dst_hash"), "band", "value"
    )
    return (
        left.join(right, ["band", "value"])
        .filter(F.col("src") < F.col("dst"))
        .select(
            "src",
            "dst",
            F.bit_count(F.col("src_hash").bitwiseXOR(F.col("dst_hash"))).alias("distance"),
        )
        .filter(F.col("distance") <= max_distance)
        .distinct()
    )


@register_stage
class ImageDedupStage(Stage):
    name = "image_dedup"
    description = "collapse exact and perceptual (pHash) duplicate images to one"
    inputs = ("images_filtered",)
    outputs = ("images_unique", "image_duplicates", "image_dedup_rejects")
    config_sections = ("image_dedup", "components")

    def transform(self, spark: SparkSession, inputs: dict[str, DataFrame]) -> StageOutput:
        cfg, ccfg = self.config.image_dedup, self.config.components
        occurrences = inputs["images_filtered"]
        first = Window.partitionBy("image_id").orderBy("doc_id", "position")
        ranked = occurrences.withColumn("occurrence_rank", F.row_number().over(first))
        hashed = (
            ranked.filter(F.col("occurrence_rank") == 1)
            .select(*IMAGES_FILTERED_SCHEMA.fieldNames())
            .mapInPandas(add_phash, HASHED_SCHEMA)
            .persist(StorageLevel.DISK_ONLY)
        )

        pairs = near_duplicate_pairs(hashed, cfg.phash_max_distance, cfg.max_bucket_size)
        components = connected_components(
            pairs.select("src", "dst"), ccfg.method, ccfg.local_edge_limit, ccfg.max_iterations
        )
        quality = Window.partitionBy("component").orderBy(
            (F.col("width").cast("long") * F.col("height")).desc(),
            F.col("num_bytes").desc(),
            F.col("image_id"),
        )
        representatives = (
            hashed.join(components, hashed["image_id"] == components["id"])
            .withColumn("quality_rank", F.row_number().over(quality))
            .filter(F.col("quality_rank") == 1)
            .select(
                "component", F.col("image_id").alias("rep_id"), F.col("phash").alias("rep_hash")
            )
        )
        image_to_rep = (
            hashed.join(components, hashed["image_id"] == components["id"], "left")
            .join(representatives, "component", "left")
            .select(
                "image_id",
                F.coalesce("rep_id", "image_id").alias("representative_id"),
                F.when(F.col("rep_id").isNull(), F.lit(0.0))
                .otherwise(F.bit_count(F.col("phash").bitwiseXOR(F.col("rep_hash"))).cast("double"))
                .alias("distance"),
            )
            .persist(StorageLevel.MEMORY_AND_DISK)
        )

        resolved = ranked.join(image_to_rep, "image_id")
        is_kept = (F.col("occurrence_rank") == 1) & (
            F.col("image_id") == F.col("representative_id")
        )
        dropped = resolved.filter(~is_kept).withColumn(
            "method",
            F.when(F.col("image_id") == F.col("representative_id"), F.lit("exact")).otherwise(
                F.lit("perceptual")
            ),
        )
        lineage = resolved.groupBy(F.col("representative_id").alias("image_id")).agg(
            F.count("*").alias("num_occurrences"),
            F.slice(F.sort_array(F.collect_set("doc_id")), 1, MAX_LINEAGE_DOCS).alias("doc_ids"),
        )
        unique = (
            hashed.join(
                image_to_rep.filter(F.col("image_id") == F.col("representative_id")), "image_id"
            )
            .join(lineage, "image_id")
            .select(*IMAGES_UNIQUE_SCHEMA.fieldNames())
        )
        mapping = dropped.select(
            "image_id",
            "doc_id",
            "position",
            "source_url",
            "representative_id",
            "method",
            F.when(F.col("method") == "exact", F.lit(0.0))
            .otherwise(F.col("distance"))
            .alias("distance"),
        ).select(*IMAGE_DUPLICATES_SCHEMA.fieldNames())
        rejects = self.rejects(
            dropped,
            entity="image",
            record_id=F.col("image_id"),
            doc_id=F.col("doc_id"),
            position=F.col("position"),
            reason=F.concat(F.col("method"), F.lit("_duplicate")),
            detail=F.concat(F.lit("kept as "), F.col("representative_id")),
            source=F.col("source_url"),
        )
        return StageOutput(
            {"images_unique": unique, "image_duplicates": mapping, "image_dedup_rejects": rejects},
            [Accounting("image", occurrences, "images_unique", "image_dedup_rejects")],
            persisted=[hashed, image_to_rep],
        )
