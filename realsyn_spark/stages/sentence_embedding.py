"""Stage ``sentence_embedding``: ``sentences_unique`` -> ``sentence_embeddings`` (steps 5-6).

The same embedder as the images (its text tower), so images and sentences share a space for
retrieval."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from realsyn_spark.embedding import embed_partition
from realsyn_spark.models.embedders import resolve_embedder
from realsyn_spark.stage import Stage, StageOutput, register_stage
from realsyn_spark.tables import EMBEDDINGS_SCHEMA


@register_stage
class SentenceEmbeddingStage(Stage):
    name = "sentence_embedding"
    description = "embed every unique sentence with the same model's text tower"
    inputs = ("sentences_unique",)
    outputs = ("sentence_embeddings",)
    config_sections = ("embedding", "models")

    def transform(self, spark: SparkSession, inputs: dict[str, DataFrame]) -> StageOutput:
        cfg = self.config.embedding
        spec = resolve_embedder(cfg.model, cfg.pretrained)
        device, batch = self.config.models.device, cfg.batch_size
        embeddings = (
            self.spread(inputs["sentences_unique"], "sentences_unique")
            .select(F.col("sentence_id").alias("id"), F.col("text").alias("payload"))
            .mapInPandas(
                lambda it: embed_partition(it, spec, "text", batch, device), EMBEDDINGS_SCHEMA
            )
        )
        return StageOutput({"sentence_embeddings": embeddings})
