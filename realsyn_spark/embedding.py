"""Shared executor code for the embedding stages: mapInPandas over (id, payload) batches,
the embedder loaded once per Python worker on the task's device."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from realsyn_spark.models.embedders import EmbedderSpec


def embed_partition(
    batches: Iterator[pd.DataFrame],
    spec: EmbedderSpec,
    kind: str,
    batch_size: int,
    device_preference: str,
) -> Iterator[pd.DataFrame]:
    """``kind`` is "image" (payload = encoded bytes) or "text" (payload = a string)."""
    import torch

    from realsyn_spark.models.device import task_cpu_threads, task_device
    from realsyn_spark.models.embedders import load_embedder

    device = task_device(device_preference)
    if device == "cpu":
        torch.set_num_threads(task_cpu_threads())
    embedder = load_embedder(spec, device)
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
