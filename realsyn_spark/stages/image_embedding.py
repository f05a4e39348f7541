"""Stage ``image_embedding``: ``images_unique`` -> ``image_embeddings`` (RealSyn step 3).

EVA02-E-14-plus (open_clip) in the paper profile; the offline MiniLM+EfficientNet embedder
locally. See :class:`realsyn_spark.embedding.EmbeddingStage`."""

from __future__ import annotations

from realsyn_spark.embedding import EmbeddingStage
from realsyn_spark.stage import register_stage


@register_stage
class ImageEmbeddingStage(EmbeddingStage):
    name = "image_embedding"
    description = "embed every unique image (L2-normalised, one model per worker)"
    inputs = ("images_unique",)
    outputs = ("image_embeddings",)
    kind = "image"
    id_column = "image_id"
    payload_column = "bytes"
