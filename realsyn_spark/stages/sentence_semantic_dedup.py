"""Stage ``sentence_semantic_dedup``: ``sentences_unique`` -> ``sentences_deduped`` (step 5).

Sentences whose embeddings have cosine >= ``semantic_dedup.sentence_threshold`` (0.95 by
default: near-verbatim variants, not paraphrases) collapse to the member nearest their
group's mean embedding. See :mod:`realsyn_spark.semantic_dedup`."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from realsyn_spark.semantic_dedup import SemanticDedupStage
from realsyn_spark.stage import register_stage
from realsyn_spark.tables import SENTENCE_DUPLICATES_SCHEMA, SENTENCES_UNIQUE_SCHEMA


@register_stage
class SentenceSemanticDedupStage(SemanticDedupStage):
    name = "sentence_semantic_dedup"
    description = "collapse sentences whose embeddings are near-identical"
    inputs = ("sentences_unique", "sentence_embeddings")
    outputs = (
        "sentences_deduped",
        "sentence_semantic_duplicates",
        "sentence_semantic_dedup_rejects",
    )
    entity = "sentence"
    id_column = "sentence_id"
    threshold_field = "sentence_threshold"
    kept_schema = SENTENCES_UNIQUE_SCHEMA
    mapping_schema = SENTENCE_DUPLICATES_SCHEMA

    def source_column(self) -> Column:
        return F.substring("text", 1, 200)
