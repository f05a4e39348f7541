"""Stage ``image_semantic_dedup``: ``images_unique`` -> ``images_deduped`` (RealSyn step 3).

Images whose embeddings have cosine >= ``semantic_dedup.image_threshold`` (0.9: DanQing's
setting) are grouped by connected components; the member nearest its group's mean
embedding is kept. See :mod:`realsyn_spark.semantic_dedup`."""

from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from realsyn_spark.semantic_dedup import semantic_duplicates, split_by_representative
from realsyn_spark.stage import Accounting, Stage, StageOutput, register_stage
from realsyn_spark.tables import IMAGE_DUPLICATES_SCHEMA, IMAGES_UNIQUE_SCHEMA


@register_stage
class ImageSemanticDedupStage(Stage):
    name = "image_semantic_dedup"
    description = "collapse images whose embeddings are near-identical (cosine >= 0.9)"
    inputs = ("images_unique", "image_embeddings")
    outputs = ("images_deduped", "image_semantic_duplicates", "image_semantic_dedup_rejects")
    config_sections = ("semantic_dedup", "components", "embedding")

    def transform(self, spark: SparkSession, inputs: dict[str, DataFrame]) -> StageOutput:
        cfg = self.config.semantic_dedup
        images = inputs["images_unique"]
        representatives = semantic_duplicates(
            spark,
            inputs["image_embeddings"],
            self.input_rows.get("image_embeddings", 0),
            cfg.image_threshold,
            cfg,
            self.config.components,
            self.config.seed,
        ).persist(StorageLevel.MEMORY_AND_DISK)
        kept, dropped = split_by_representative(images, "image_id", representatives)
        mapping = dropped.select(
            "image_id",
            "doc_id",
            "position",
            "source_url",
            "representative_id",
            F.lit("semantic").alias("method"),
            "distance",
        ).select(*IMAGE_DUPLICATES_SCHEMA.fieldNames())
        rejects = self.rejects(
            dropped,
            entity="image",
            record_id=F.col("image_id"),
            doc_id=F.col("doc_id"),
            position=F.col("position"),
            reason=F.lit("semantic_duplicate"),
            detail=F.format_string("kept as %s (cosine %.3f)", "representative_id", "similarity"),
            source=F.col("source_url"),
        )
        return StageOutput(
            {
                "images_deduped": kept.select(*IMAGES_UNIQUE_SCHEMA.fieldNames()),
                "image_semantic_duplicates": mapping,
                "image_semantic_dedup_rejects": rejects,
            },
            [Accounting("image", images, "images_deduped", "image_semantic_dedup_rejects")],
            persisted=[representatives],
        )
