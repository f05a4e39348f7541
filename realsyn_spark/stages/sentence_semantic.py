"""Stage ``sentence_semantic``: ``sentences_quality`` -> ``sentences_semantic`` (step 4, part 2).

Information entropy θ(x) = −Σ p(w) log_b p(w) over the sentence's words, with p the
relative word frequency over the whole input sentence corpus (a Spark aggregation, kept as
the ``word_frequencies`` table); drop θ < ``entropy_min``. Then perplexity with a causal
LM, keep ``perplexity.min <= PPL <= perplexity.max``. Only sentences that pass the entropy
check are scored by the model.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from realsyn_spark.config import PerplexityConfig
from realsyn_spark.models.causal_lm import CausalLMSpec, resolve_causal_lm
from realsyn_spark.stage import Accounting, Stage, StageOutput, register_stage
from realsyn_spark.tables import SENTENCES_SEMANTIC_SCHEMA, WORD_FREQUENCIES_SCHEMA
from realsyn_spark.text_filters import ENTROPY_WORDS_SQL

PERPLEXITY_SCHEMA = T.StructType(
    [*SENTENCES_SEMANTIC_SCHEMA.fields]
    + [
        T.StructField("reject_reason", T.StringType()),
        T.StructField("reject_detail", T.StringType()),
    ]
)


def score_perplexity(
    batches: Iterator[pd.DataFrame],
    spec: CausalLMSpec,
    cfg: PerplexityConfig,
    models_dir: str,
    device_preference: str,
) -> Iterator[pd.DataFrame]:
    """mapInPandas: add perplexity and the window verdict; model loaded once per worker."""
    from realsyn_spark.models.causal_lm import load_causal_lm, perplexities
    from realsyn_spark.models.device import prepare_worker

    device = prepare_worker(device_preference)
    model, tokenizer = load_causal_lm(spec, models_dir, device)
    for batch in batches:
        scores = perplexities(
            batch["text"].tolist(), model, tokenizer, device, cfg.batch_size, cfg.max_tokens
        )
        reasons, details = [], []
        for score in scores:
            if math.isnan(score):
                reasons.append("perplexity_unscorable")
            elif score < cfg.min:
                reasons.append("perplexity_too_low")
            elif score > cfg.max:
                reasons.append("perplexity_too_high")
            else:
                reasons.append(None)
            details.append(None if reasons[-1] is None else f"perplexity {score:.1f}")
        yield batch.assign(perplexity=scores, reject_reason=reasons, reject_detail=details)[
            PERPLEXITY_SCHEMA.fieldNames()
        ]


def word_frequencies(sentences: DataFrame) -> DataFrame:
    words = sentences.select(F.explode(F.expr(ENTROPY_WORDS_SQL)).alias("word"))
    counts = words.groupBy("word").agg(F.count("*").alias("count"))
    total = counts.agg(F.sum("count").alias("total"))
    return counts.crossJoin(F.broadcast(total)).select(
        "word", "count", (F.col("count") / F.col("total")).alias("probability")
    )


def sentence_entropies(sentences: DataFrame, frequencies: DataFrame, base: float) -> DataFrame:
    """(sentence_id, entropy); a sentence with no words gets 0."""
    occurrences = sentences.select(
        "sentence_id", F.explode(F.expr(ENTROPY_WORDS_SQL)).alias("word")
    )
    terms = occurrences.join(frequencies.select("word", "probability"), "word").select(
        "sentence_id",
        (-F.col("probability") * F.log(F.col("probability")) / math.log(base)).alias("term"),
    )
    sums = terms.groupBy("sentence_id").agg(F.sum("term").alias("entropy"))
    return (
        sentences.select("sentence_id")
        .join(sums, "sentence_id", "left")
        .select("sentence_id", F.coalesce("entropy", F.lit(0.0)).alias("entropy"))
    )


@register_stage
class SentenceSemanticStage(Stage):
    name = "sentence_semantic"
    description = "drop low-entropy sentences and those outside the perplexity window"
    inputs = ("sentences_quality",)
    outputs = ("sentences_semantic", "word_frequencies", "sentence_semantic_rejects")
    config_sections = ("sentence_semantic", "models")

    def transform(self, spark: SparkSession, inputs: dict[str, DataFrame]) -> StageOutput:
        cfg = self.config.sentence_semantic
        ppl_cfg = cfg.perplexity
        spec = resolve_causal_lm(ppl_cfg.model)
        models_dir = str(os.path.abspath(self.config.models.dir))
        device = self.config.models.device
        sentences = inputs["sentences_quality"]

        frequencies = word_frequencies(sentences).persist(StorageLevel.MEMORY_AND_DISK)
        with_entropy = sentences.join(
            sentence_entropies(sentences, frequencies, cfg.entropy_log_base), "sentence_id"
        ).persist(StorageLevel.MEMORY_AND_DISK)
        low_entropy = with_entropy.filter(F.col("entropy") < cfg.entropy_min)
        scored = (
            self.spread(with_entropy, "sentences_quality")
            .filter(F.col("entropy") >= cfg.entropy_min)
            .withColumn("perplexity", F.lit(None).cast("double"))
            .select(*SENTENCES_SEMANTIC_SCHEMA.fieldNames())
            .mapInPandas(
                lambda it: score_perplexity(it, spec, ppl_cfg, models_dir, device),
                PERPLEXITY_SCHEMA,
            )
            # The model pass is the expensive part: never run it twice.
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        low_entropy = low_entropy.withColumn("perplexity", F.lit(None).cast("double")).select(
            *SENTENCES_SEMANTIC_SCHEMA.fieldNames(),
            F.lit("low_entropy").alias("reject_reason"),
            F.format_string("entropy %.3f", "entropy").alias("reject_detail"),
        )
        kept, rejects = self.split_verdicts(
            scored.unionByName(low_entropy),
            SENTENCES_SEMANTIC_SCHEMA.fieldNames(),
            entity="sentence",
            record_id=F.col("sentence_id"),
            source=F.substring("text", 1, 200),
        )
        return StageOutput(
            {
                "sentences_semantic": kept,
                "word_frequencies": frequencies.select(*WORD_FREQUENCIES_SCHEMA.fieldNames()),
                "sentence_semantic_rejects": rejects,
            },
            [Accounting("sentence", sentences, "sentences_semantic", "sentence_semantic_rejects")],
            persisted=[frequencies, with_entropy, scored],
        )
