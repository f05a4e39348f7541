"""Stage ``image_semantic_dedup``: ``images_unique`` -> ``images_deduped`` (RealSyn step 3).

Images whose embeddings have cosine >= ``semantic_dedup.image_threshold`` (0.9, DanQing's
setting, in the paper profile) are grouped by connected components; the member nearest its
group's mean embedding is kept. See :mod:`realsyn_spark.semantic_dedup`."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from realsyn_spark.semantic_dedup import SemanticDedupStage
from realsyn_spark.stage import register_stage
from realsyn_spark.tables import IMAGE_DUPLICATES_SCHEMA, IMAGES_UNIQUE_SCHEMA


@register_stage
class ImageSemanticDedupStage(SemanticDedupStage):
    name = "image_semantic_dedup"
    description = "collapse images whose embeddings are near-identical"
    inputs = ("images_unique", "image_embeddings")
    outputs = ("images_deduped", "image_semantic_duplicates", "image_semantic_dedup_rejects")
    entity = "image"
    id_column = "image_id"
    threshold_field = "image_threshold"
    kept_schema = IMAGES_UNIQUE_SCHEMA
    mapping_schema = IMAGE_DUPLICATES_SCHEMA

    def source_column(self) -> Column:
        return F.col("source_url")
