"""Stage ``text_clustering``: sentence embeddings -> ``text_clusters`` + ``sentence_clusters``
(RealSyn step 6). k-means on a sample on the driver, every sentence assigned in Spark
against the broadcast centroids; see :mod:`realsyn_spark.clustering` for scaling."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from realsyn_spark.clustering import Centroids, assignment_index, sample_vectors, train
from realsyn_spark.stage import Stage, StageOutput, register_stage
from realsyn_spark.tables import SENTENCE_CLUSTERS_SCHEMA, TEXT_CLUSTERS_SCHEMA


def assign_clusters(
    batches: Iterator[pd.DataFrame], centroids: Centroids, nprobe: int
) -> Iterator[pd.DataFrame]:
    index = assignment_index(centroids, nprobe)
    for batch in batches:
        vectors = np.stack(batch["embedding"].to_numpy()).astype(np.float32)
        scores, found = index.search(vectors, 1)
        yield pd.DataFrame(
            {
                "sentence_id": batch["id"],
                "cluster_id": found[:, 0].astype(np.int32),
                "similarity": scores[:, 0].astype(np.float64),
            }
        )


@register_stage
class TextClusteringStage(Stage):
    name = "text_clustering"
    description = "k-means of sentence embeddings; every sentence assigned to a cluster"
    inputs = ("sentences_deduped", "sentence_embeddings")
    outputs = ("text_clusters", "sentence_clusters")
    config_sections = ("text_clustering", "embedding")

    def transform(self, spark: SparkSession, inputs: dict[str, DataFrame]) -> StageOutput:
        cfg = self.config.text_clustering
        embeddings = inputs["sentence_embeddings"].join(
            inputs["sentences_deduped"].select(F.col("sentence_id").alias("id")), "id"
        )
        total = self.input_rows.get("sentences_deduped", 0)
        k = cfg.num_clusters or max(1, -(-total // cfg.sentences_per_cluster))
        sample = sample_vectors(embeddings, total, cfg.train_sample, self.config.seed)
        if len(sample) == 0:
            raise ValueError("text_clustering: no sentence embeddings to cluster")
        centroids = train(sample, k, cfg.iterations, self.config.seed, cfg.two_level_above)
        shared = spark.sparkContext.broadcast(centroids)
        nprobe = cfg.nprobe
        assigned = self.spread(embeddings, "sentences_deduped").mapInPandas(
            lambda it: assign_clusters(it, shared.value, nprobe), SENTENCE_CLUSTERS_SCHEMA
        )
        coarse = None
        if centroids.coarse is not None:
            from realsyn_spark.clustering import nearest

            coarse = nearest(centroids.vectors, centroids.coarse, 1)[:, 0]
        # One row per cluster (k rows): built on the driver from the centroids it holds.
        clusters = spark.createDataFrame(
            [
                (i, centroids.vectors[i].tolist(), None, None if coarse is None else int(coarse[i]))
                for i in range(len(centroids.vectors))
            ],
            TEXT_CLUSTERS_SCHEMA,
        )
        sizes = assigned.groupBy("cluster_id").agg(F.count("*").alias("n"))
        clusters = (
            clusters.join(sizes, "cluster_id", "left")
            .withColumn("num_sentences", F.coalesce("n", F.lit(0)).cast("long"))
            .select(*TEXT_CLUSTERS_SCHEMA.fieldNames())
        )
        return StageOutput({"text_clusters": clusters, "sentence_clusters": assigned})
