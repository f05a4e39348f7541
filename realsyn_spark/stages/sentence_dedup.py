"""Stage ``sentence_dedup``: ``sentences_semantic`` -> ``sentences_unique`` + mapping.

Exact dedup on normalised text (NFKC, case-folded, punctuation and whitespace folded). Rule:
the first occurrence by (doc_id, position, sentence_index) is kept; every other one maps to
it in ``sentence_duplicates`` and is rejected as ``exact_duplicate``.
"""

from __future__ import annotations

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.functions import pandas_udf

from realsyn_spark.stage import Accounting, Stage, StageOutput, register_stage
from realsyn_spark.tables import SENTENCE_DUPLICATES_SCHEMA, SENTENCES_UNIQUE_SCHEMA

MAX_LINEAGE_DOCS = 1000


@pandas_udf(T.StringType())
def normalized_text(texts: pd.Series) -> pd.Series:
    from realsyn_spark.text_filters import normalize_for_dedup

    return texts.map(normalize_for_dedup)


@register_stage
class SentenceDedupStage(Stage):
    name = "sentence_dedup"
    description = "collapse sentences whose normalised text is identical"
    inputs = ("sentences_semantic",)
    outputs = ("sentences_unique", "sentence_duplicates", "sentence_dedup_rejects")
    config_sections = ()

    def transform(self, spark: SparkSession, inputs: dict[str, DataFrame]) -> StageOutput:
        sentences = inputs["sentences_semantic"]
        keyed = sentences.withColumn("dedup_key", F.sha2(normalized_text("text"), 256))
        order = Window.partitionBy("dedup_key").orderBy("doc_id", "position", "sentence_index")
        ranked = (
            keyed.withColumn("rank", F.row_number().over(order))
            .withColumn("representative_id", F.first("sentence_id").over(order))
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        lineage = ranked.groupBy("dedup_key").agg(
            F.count("*").alias("num_occurrences"),
            F.slice(F.sort_array(F.collect_set("doc_id")), 1, MAX_LINEAGE_DOCS).alias("doc_ids"),
        )
        unique = (
            ranked.filter(F.col("rank") == 1)
            .join(lineage, "dedup_key")
            .select(*SENTENCES_UNIQUE_SCHEMA.fieldNames())
        )
        dropped = ranked.filter(F.col("rank") > 1)
        mapping = dropped.select(
            "sentence_id",
            "doc_id",
            "representative_id",
            F.lit("exact").alias("method"),
            F.lit(0.0).alias("distance"),
        ).select(*SENTENCE_DUPLICATES_SCHEMA.fieldNames())
        rejects = self.rejects(
            dropped,
            entity="sentence",
            record_id=F.col("sentence_id"),
            doc_id=F.col("doc_id"),
            position=F.col("position"),
            reason=F.lit("exact_duplicate"),
            detail=F.concat(F.lit("kept as "), F.col("representative_id")),
            source=F.substring("text", 1, 200),
        )
        return StageOutput(
            {
                "sentences_unique": unique,
                "sentence_duplicates": mapping,
                "sentence_dedup_rejects": rejects,
            },
            [Accounting("sentence", sentences, "sentences_unique", "sentence_dedup_rejects")],
            persisted=[ranked],
        )
