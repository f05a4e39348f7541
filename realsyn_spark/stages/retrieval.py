"""Stage ``retrieval``: the top-k real sentences of the whole corpus for every image, by
hierarchical retrieval (RealSyn step 7).

Inter-cluster: each image finds its nearest text-cluster centres (FAISS over the
broadcast centroids), ``probe_clusters`` of them, more while the probed clusters hold fewer
than ``top_k`` sentences. Intra-cluster: images and sentences are co-grouped by cluster and
scored exactly with one matrix product per cluster; the best ``top_k`` over all probed
clusters win (ties: smaller sentence_id). With every cluster probed this is exactly
brute-force search.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from realsyn_spark.stage import Accounting, Stage, StageOutput, register_stage
from realsyn_spark.tables import RETRIEVALS_SCHEMA

PROBES_SCHEMA = "image_id string, cluster_id int, embedding array<float>"
CANDIDATES_SCHEMA = "image_id string, sentence_id string, score double, cluster_id int"
IMAGE_BLOCK = 1024


def probe_clusters(
    batches: Iterator[pd.DataFrame],
    centroids: np.ndarray,
    sizes: np.ndarray,
    top_k: int,
    probes: int,
    max_probes: int,
) -> Iterator[pd.DataFrame]:
    """mapInPandas: (image_id, embedding) -> one row per probed cluster."""
    import faiss

    index = faiss.IndexFlatIP(centroids.shape[1])
    index.add(centroids)
    search = min(max(max_probes, probes), len(centroids))
    for batch in batches:
        vectors = np.stack(batch["embedding"].to_numpy()).astype(np.float32)
        _, order = index.search(vectors, search)
        ids, clusters, embeddings = [], [], []
        for row, image_id in enumerate(batch["image_id"]):
            held = 0
            for rank, cluster in enumerate(order[row]):
                if cluster < 0:
                    break
                if rank >= probes and held >= top_k:
                    break
                if sizes[cluster] == 0:
                    continue  # nothing to retrieve there; look further
                held += int(sizes[cluster])
                ids.append(image_id)
                clusters.append(int(cluster))
                embeddings.append(batch["embedding"].iloc[row])
        yield pd.DataFrame({"image_id": ids, "cluster_id": clusters, "embedding": embeddings})


def top_k_in_cluster(images: pd.DataFrame, sentences: pd.DataFrame, top_k: int) -> pd.DataFrame:
    """cogroup applyInPandas: exact top-k sentences of one cluster for its images."""
    if images.empty or sentences.empty:
        return pd.DataFrame(
            {
                "image_id": pd.Series([], dtype=object),
                "sentence_id": pd.Series([], dtype=object),
                "score": pd.Series([], dtype="float64"),
                "cluster_id": pd.Series([], dtype="int32"),
            }
        )
    cluster = int(images["cluster_id"].iloc[0])
    order = np.argsort(sentences["sentence_id"].to_numpy(), kind="stable")
    sentence_ids = sentences["sentence_id"].to_numpy()[order]
    matrix = np.stack(sentences["embedding"].to_numpy()).astype(np.float32)[order]
    k = min(top_k, len(sentence_ids))
    out_images, out_sentences, out_scores = [], [], []
    image_ids = images["image_id"].to_numpy()
    image_vectors = np.stack(images["embedding"].to_numpy()).astype(np.float32)
    for start in range(0, len(image_ids), IMAGE_BLOCK):
        scores = image_vectors[start : start + IMAGE_BLOCK] @ matrix.T
        # Stable sort on -score over id-sorted columns: ties go to the smaller id.
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        for row in range(best.shape[0]):
            for col in best[row]:
                out_images.append(image_ids[start + row])
                out_sentences.append(sentence_ids[col])
                out_scores.append(float(scores[row, col]))
    return pd.DataFrame(
        {
            "image_id": out_images,
            "sentence_id": out_sentences,
            "score": out_scores,
            "cluster_id": cluster,
        }
    )


@register_stage
class RetrievalStage(Stage):
    name = "retrieval"
    description = "top-k corpus sentences per image by hierarchical (cluster) retrieval"
    inputs = (
        "images_deduped",
        "image_embeddings",
        "sentences_deduped",
        "sentence_embeddings",
        "sentence_clusters",
        "text_clusters",
    )
    outputs = ("retrievals", "retrieval_rejects")
    config_sections = ("retrieval",)

    def transform(self, spark: SparkSession, inputs: dict[str, DataFrame]) -> StageOutput:
        cfg = self.config.retrieval
        clusters = inputs["text_clusters"].orderBy("cluster_id").collect()  # k rows
        centroids = np.array([r["centroid"] for r in clusters], dtype=np.float32)
        sizes = np.array([r["num_sentences"] for r in clusters], dtype=np.int64)
        shared = spark.sparkContext.broadcast((centroids, sizes))
        top_k, probes, max_probes = cfg.top_k, cfg.probe_clusters, cfg.max_probe_clusters

        images = inputs["images_deduped"].select("image_id")
        image_vectors = images.join(
            inputs["image_embeddings"].select(F.col("id").alias("image_id"), "embedding"),
            "image_id",
        )
        probed = self.spread(image_vectors, "images_deduped").mapInPandas(
            lambda it: probe_clusters(it, *shared.value, top_k, probes, max_probes), PROBES_SCHEMA
        )
        sentence_vectors = (
            inputs["sentence_clusters"]
            .join(inputs["sentences_deduped"].select("sentence_id"), "sentence_id")
            .join(
                inputs["sentence_embeddings"].select(F.col("id").alias("sentence_id"), "embedding"),
                "sentence_id",
            )
            .select("cluster_id", "sentence_id", "embedding")
        )
        candidates = (
            probed.groupBy("cluster_id")
            .cogroup(sentence_vectors.groupBy("cluster_id"))
            .applyInPandas(lambda i, s: top_k_in_cluster(i, s, top_k), CANDIDATES_SCHEMA)
        )
        best = Window.partitionBy("image_id").orderBy(F.col("score").desc(), "sentence_id")
        retrievals = (
            candidates.withColumn("rank", F.row_number().over(best))
            .filter(F.col("rank") <= top_k)
            .join(inputs["sentences_deduped"].select("sentence_id", "doc_id"), "sentence_id")
            .select(*RETRIEVALS_SCHEMA.fieldNames())
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        with_texts = retrievals.select("image_id").distinct()
        missing = images.join(with_texts, "image_id", "left_anti")
        rejects = self.rejects(
            missing,
            entity="image",
            record_id=F.col("image_id"),
            reason=F.lit("no_texts_retrieved"),
            detail=F.lit("the probed clusters held no sentences"),
        )
        return StageOutput(
            {"retrievals": retrievals, "retrieval_rejects": rejects},
            [
                Accounting(
                    "image", images, "retrievals", "retrieval_rejects", kept_distinct="image_id"
                )
            ],
            persisted=[retrievals],
        )
