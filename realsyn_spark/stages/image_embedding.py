"""Stage ``image_embedding``: ``images_unique`` -> ``image_embeddings`` (RealSyn step 3).

The embedder (open_clip, EVA02-E-14-plus in the paper profile; the offline
MiniLM+EfficientNet embedder locally) runs in mapInPandas, loaded once per Python worker on
the task's GPU when there is one (half precision there)."""

from __future__ import annotations

import os

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from realsyn_spark.embedding import embed_partition
from realsyn_spark.models.embedders import resolve_embedder
from realsyn_spark.stage import Stage, StageOutput, register_stage
from realsyn_spark.tables import EMBEDDINGS_SCHEMA


@register_stage
class ImageEmbeddingStage(Stage):
    name = "image_embedding"
    description = "embed every unique image (L2-normalised, one model per worker)"
    inputs = ("images_unique",)
    outputs = ("image_embeddings",)
    config_sections = ("embedding", "models")

    def transform(self, spark: SparkSession, inputs: dict[str, DataFrame]) -> StageOutput:
        cfg = self.config.embedding
        spec = resolve_embedder(cfg.model, cfg.pretrained)
        device, batch = self.config.models.device, cfg.batch_size
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        embeddings = (
            self.spread(inputs["images_unique"], "images_unique")
            .select(F.col("image_id").alias("id"), F.col("bytes").alias("payload"))
            .mapInPandas(
                lambda it: embed_partition(it, spec, "image", batch, device), EMBEDDINGS_SCHEMA
            )
        )
        return StageOutput({"image_embeddings": embeddings})
