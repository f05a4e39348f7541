"""The embedding stages' shared parts: mapInPandas over (id, payload) batches with the
embedder loaded once per Python worker on the task's device (open_clip on the task's GPU
in half precision when there is one), and the stage base class."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from realsyn_spark.models.embedders import EmbedderSpec, resolve_embedder
from realsyn_spark.stage import Stage, StageOutput
from realsyn_spark.tables import EMBEDDINGS_SCHEMA


def embed_partition(
    batches: Iterator[pd.DataFrame],
    spec: EmbedderSpec,
    kind: str,
    batch_size: int,
    device_preference: str,
) -> Iterator[pd.DataFrame]:
    """``kind`` is "image" (payload = encoded bytes) or "text" (payload = a string)."""
    from realsyn_spark.models.device import prepare_worker
    from realsyn_spark.models.embedders import load_embedder

    embedder = load_embedder(spec, prepare_worker(device_preference))
    embed = embedder.embed_images if kind == "image" else embedder.embed_texts
    for batch in batches:
        payloads = batch["payload"].tolist()
        vectors = []
        for start in range(0, len(payloads), batch_size):
            chunk = payloads[start : start + batch_size]
            if kind == "image":
                chunk = [bytes(p) for p in chunk]
            vectors.extend(list(embed(chunk)))
        yield pd.DataFrame(
            {"id": batch["id"], "model": spec.name, "embedding": [v.tolist() for v in vectors]}
        )


class EmbeddingStage(Stage):
    """Embeds one table's rows: ``inputs[0]``'s ``id_column`` and ``payload_column``."""

    kind: ClassVar[str]  # "image" (payload = encoded bytes) or "text"
    id_column: ClassVar[str]
    payload_column: ClassVar[str]
    config_sections = ("embedding", "models")

    def transform(self, spark: SparkSession, inputs: dict[str, DataFrame]) -> StageOutput:
        cfg = self.config.embedding
        spec = resolve_embedder(cfg.model, cfg.pretrained)
        kind, device, batch = self.kind, self.config.models.device, cfg.batch_size
        (source,) = self.inputs
        (target,) = self.outputs
        embeddings = (
            self.spread(inputs[source], source)
            .select(F.col(self.id_column).alias("id"), F.col(self.payload_column).alias("payload"))
            .mapInPandas(
                lambda it: embed_partition(it, spec, kind, batch, device), EMBEDDINGS_SCHEMA
            )
        )
        return StageOutput({target: embeddings})
