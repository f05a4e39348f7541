"""Stage ``sentence_semantic_dedup``: ``sentences_unique`` -> ``sentences_deduped`` (step 5).

Sentences whose embeddings have cosine >= ``semantic_dedup.sentence_threshold`` (0.95 by
default: near-verbatim variants, not paraphrases) collapse to the member nearest their
group's mean embedding."""

from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from realsyn_spark.semantic_dedup import semantic_duplicates, split_by_representative
from realsyn_spark.stage import Accounting, Stage, StageOutput, register_stage
from realsyn_spark.tables import SENTENCE_DUPLICATES_SCHEMA, SENTENCES_UNIQUE_SCHEMA


@register_stage
class SentenceSemanticDedupStage(Stage):
    name = "sentence_semantic_dedup"
    description = "collapse sentences whose embeddings are near-identical (cosine >= 0.95)"
    inputs = ("sentences_unique", "sentence_embeddings")
    outputs = (
        "sentences_deduped",
        "sentence_semantic_duplicates",
        "sentence_semantic_dedup_rejects",
    )
    config_sections = ("semantic_dedup", "components", "embedding")

    def transform(self, spark: SparkSession, inputs: dict[str, DataFrame]) -> StageOutput:
        cfg = self.config.semantic_dedup
        sentences = inputs["sentences_unique"]
        representatives = semantic_duplicates(
            spark,
            inputs["sentence_embeddings"],
            self.input_rows.get("sentence_embeddings", 0),
            cfg.sentence_threshold,
            cfg,
            self.config.components,
            self.config.seed,
        ).persist(StorageLevel.MEMORY_AND_DISK)
        kept, dropped = split_by_representative(sentences, "sentence_id", representatives)
        mapping = dropped.select(
            "sentence_id",
            "doc_id",
            "representative_id",
            F.lit("semantic").alias("method"),
            "distance",
        ).select(*SENTENCE_DUPLICATES_SCHEMA.fieldNames())
        rejects = self.rejects(
            dropped,
            entity="sentence",
            record_id=F.col("sentence_id"),
            doc_id=F.col("doc_id"),
            position=F.col("position"),
            reason=F.lit("semantic_duplicate"),
            detail=F.format_string("kept as %s (cosine %.3f)", "representative_id", "similarity"),
            source=F.substring("text", 1, 200),
        )
        return StageOutput(
            {
                "sentences_deduped": kept.select(*SENTENCES_UNIQUE_SCHEMA.fieldNames()),
                "sentence_semantic_duplicates": mapping,
                "sentence_semantic_dedup_rejects": rejects,
            },
            [
                Accounting(
                    "sentence", sentences, "sentences_deduped", "sentence_semantic_dedup_rejects"
                )
            ],
            persisted=[representatives],
        )
