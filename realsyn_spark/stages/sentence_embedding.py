"""Stage ``sentence_embedding``: ``sentences_unique`` -> ``sentence_embeddings`` (steps 5-6).

The same model's text tower as the images', so both share a space for retrieval."""

from __future__ import annotations

from realsyn_spark.embedding import EmbeddingStage
from realsyn_spark.stage import register_stage


@register_stage
class SentenceEmbeddingStage(EmbeddingStage):
    name = "sentence_embedding"
    description = "embed every unique sentence with the same model's text tower"
    inputs = ("sentences_unique",)
    outputs = ("sentence_embeddings",)
    kind = "text"
    id_column = "sentence_id"
    payload_column = "text"
