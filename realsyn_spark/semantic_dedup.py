"""Near-duplicate pairs by embedding cosine, without comparing all pairs.

1. k-means (FAISS, spherical) on a sample of the embeddings, on the driver: the centroids
   split the space into partitions of about ``partition_rows`` items.
2. Every item is assigned to its ``probes`` nearest centroids in mapInPandas (centroids
   broadcast, FAISS flat inner-product search).
3. Inside each partition (applyInPandas), exact cosine by blocked matrix products; pairs at
   or above the threshold become edges.
4. Connected components group the edges; in each component the member nearest the
   component's mean embedding is kept.

Cost: assignment is O(N k d); the in-partition search is O(N * probes * partition_rows * d)
instead of O(N^2 d).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from realsyn_spark.components import connected_components
from realsyn_spark.config import ComponentsConfig, SemanticDedupConfig
from realsyn_spark.stage import Accounting, Stage, StageOutput

PAIRS_SCHEMA = "src string, dst string, similarity double"
KEEP_SCHEMA = "id string, representative_id string, similarity double"
BLOCK = 2048


def train_centroids(
    embeddings: DataFrame, total_rows: int, cfg: SemanticDedupConfig, seed: int
) -> np.ndarray:
    """Spherical k-means on a sample (driver memory: train_sample x dim floats); an empty
    array when everything fits in one partition."""
    from realsyn_spark.clustering import kmeans, sample_vectors

    k = max(1, -(-total_rows // cfg.partition_rows))
    if k == 1:
        return np.zeros((0, 0), dtype=np.float32)
    vectors = sample_vectors(embeddings, total_rows, cfg.train_sample, seed)
    return kmeans(vectors, k, cfg.iterations, seed)


def assign_partitions(
    batches: Iterator[pd.DataFrame], centroids: np.ndarray, probes: int
) -> Iterator[pd.DataFrame]:
    import faiss

    if centroids.size == 0:
        for batch in batches:
            yield pd.DataFrame({"id": batch["id"], "partition": 0, "embedding": batch["embedding"]})
        return
    index = faiss.IndexFlatIP(centroids.shape[1])
    index.add(centroids)
    probes = min(probes, centroids.shape[0])
    for batch in batches:
        vectors = np.stack(batch["embedding"].to_numpy()).astype(np.float32)
        _, nearest = index.search(vectors, probes)
        yield pd.DataFrame(
            {
                "id": np.repeat(batch["id"].to_numpy(), probes),
                "partition": nearest.reshape(-1).astype(np.int64),
                "embedding": np.repeat(batch["embedding"].to_numpy(), probes),
            }
        )


def pairs_in_partition(group: pd.DataFrame, threshold: float) -> pd.DataFrame:
    ids = group["id"].to_numpy()
    vectors = np.stack(group["embedding"].to_numpy()).astype(np.float32)
    src, dst, sim = [], [], []
    for start in range(0, len(ids), BLOCK):
        block = vectors[start : start + BLOCK] @ vectors.T
        rows, cols = np.nonzero(block >= threshold)
        rows = rows + start
        keep = ids[rows] < ids[cols]
        src.append(ids[rows[keep]])
        dst.append(ids[cols[keep]])
        sim.append(block[rows[keep] - start, cols[keep]])
    if not src:
        return pd.DataFrame({"src": [], "dst": [], "similarity": []})
    return pd.DataFrame(
        {
            "src": np.concatenate(src),
            "dst": np.concatenate(dst),
            "similarity": np.concatenate(sim).astype(np.float64),
        }
    )


def choose_representatives(group: pd.DataFrame) -> pd.DataFrame:
    """Keep the member nearest the component's mean direction (ties: smallest id)."""
    vectors = np.stack(group["embedding"].to_numpy()).astype(np.float32)
    centre = vectors.mean(axis=0)
    centre /= max(np.linalg.norm(centre), 1e-12)
    scores = vectors @ centre
    order = sorted(
        range(len(group)), key=lambda i: (-round(float(scores[i]), 6), group["id"].iloc[i])
    )
    best = order[0]
    rep_vector = vectors[best]
    return pd.DataFrame(
        {
            "id": group["id"],
            "representative_id": group["id"].iloc[best],
            "similarity": (vectors @ rep_vector).astype(np.float64),
        }
    )


def semantic_duplicates(
    spark: SparkSession,
    embeddings: DataFrame,
    total_rows: int,
    threshold: float,
    cfg: SemanticDedupConfig,
    components: ComponentsConfig,
    seed: int,
) -> DataFrame:
    """``(id, representative_id, similarity)`` for every item in a duplicate group
    (representatives map to themselves); items without near-duplicates are absent."""
    vectors = embeddings.select("id", "embedding")
    centroids = train_centroids(vectors, total_rows, cfg, seed)
    shared = spark.sparkContext.broadcast(centroids)
    probes = cfg.probes
    assigned = vectors.mapInPandas(
        lambda it: assign_partitions(it, shared.value, probes),
        "id string, partition long, embedding array<float>",
    )
    pairs = (
        assigned.groupBy("partition")
        .applyInPandas(lambda g: pairs_in_partition(g, threshold), PAIRS_SCHEMA)
        .groupBy("src", "dst")
        .agg(F.max("similarity").alias("similarity"))
    )
    groups = connected_components(
        pairs.select("src", "dst"),
        components.method,
        components.local_edge_limit,
        components.max_iterations,
    )
    members = groups.join(vectors, "id")
    return members.groupBy("component").applyInPandas(
        lambda g: choose_representatives(g[["id", "embedding"]]), KEEP_SCHEMA
    )


def split_by_representative(
    items: DataFrame, id_col: str, representatives: DataFrame, max_lineage: int = 1000
) -> tuple[DataFrame, DataFrame]:
    """(kept items with their duplicates' lineage merged in, dropped items with
    ``representative_id`` and ``distance`` = 1 - cosine to it)."""
    resolved = items.join(
        representatives.withColumnRenamed("id", id_col), id_col, "left"
    ).withColumn("representative_id", F.coalesce("representative_id", id_col))
    lineage = resolved.groupBy(F.col("representative_id").alias(id_col)).agg(
        F.sum("num_occurrences").alias("merged_occurrences"),
        F.slice(
            F.array_sort(F.array_distinct(F.flatten(F.collect_list("doc_ids")))), 1, max_lineage
        ).alias("merged_doc_ids"),
    )
    kept = (
        resolved.filter(F.col(id_col) == F.col("representative_id"))
        .join(lineage, id_col)
        .withColumn("num_occurrences", F.col("merged_occurrences"))
        .withColumn("doc_ids", F.col("merged_doc_ids"))
        .drop("merged_occurrences", "merged_doc_ids", "representative_id", "similarity")
    )
    dropped = resolved.filter(F.col(id_col) != F.col("representative_id")).withColumn(
        "distance", (F.lit(1.0) - F.col("similarity")).cast("double")
    )
    return kept, dropped


class SemanticDedupStage(Stage):
    """inputs = (items table, its embeddings); outputs = (kept items, mapping, rejects)."""

    entity: ClassVar[str]
    id_column: ClassVar[str]
    threshold_field: ClassVar[str]  # a field of SemanticDedupConfig
    kept_schema: ClassVar[T.StructType]
    mapping_schema: ClassVar[T.StructType]
    config_sections = ("semantic_dedup", "components", "embedding")

    def source_column(self) -> Column:
        """What the rejects table shows as the record's source."""
        raise NotImplementedError

    def transform(self, spark: SparkSession, inputs: dict[str, DataFrame]) -> StageOutput:
        cfg = self.config.semantic_dedup
        items_table, embeddings_table = self.inputs
        kept_table, mapping_table, rejects_table = self.outputs
        items = inputs[items_table]
        representatives = semantic_duplicates(
            spark,
            inputs[embeddings_table],
            self.input_rows.get(embeddings_table, 0),
            getattr(cfg, self.threshold_field),
            cfg,
            self.config.components,
            self.config.seed,
        ).persist(StorageLevel.MEMORY_AND_DISK)
        kept, dropped = split_by_representative(items, self.id_column, representatives)
        dropped = dropped.withColumn("method", F.lit("semantic"))
        rejects = self.rejects(
            dropped,
            entity=self.entity,
            record_id=F.col(self.id_column),
            doc_id=F.col("doc_id"),
            position=F.col("position"),
            reason=F.lit("semantic_duplicate"),
            detail=F.format_string("kept as %s (cosine %.3f)", "representative_id", "similarity"),
            source=self.source_column(),
        )
        return StageOutput(
            {
                kept_table: kept.select(*self.kept_schema.fieldNames()),
                mapping_table: dropped.select(*self.mapping_schema.fieldNames()),
                rejects_table: rejects,
            },
            [Accounting(self.entity, items, kept_table, rejects_table)],
            persisted=[representatives],
        )
