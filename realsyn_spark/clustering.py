"""K-means for text semantic clustering and hierarchical retrieval (RealSyn steps 6-7).

Training runs on a sample on the driver (FAISS; on its GPU when faiss-gpu sees one).
Up to ``two_level_above`` clusters: one spherical k-means. Above: two levels - a coarse
k-means of sqrt(k) centres, then, inside each coarse cell, a k-means with as many centres
as the cell's share of the sample calls for. Training cost drops from O(n k d) per
iteration to about O(n sqrt(k) d), and each sub-problem fits in memory on its own.

Assignment of every row happens in Spark (mapInPandas) against broadcast centroids: a
flat inner-product index up to ``two_level_above`` clusters, an IVF index over the
centroids above it (the coarse centres as its lists, ``nprobe`` of them searched).

Memory: the driver holds ``train_sample x d`` floats for training and ``k x d`` centroids;
every executor holds the broadcast centroids. At paper scale (2M x 1024 floats) that is
8 GB in float32: broadcast them as float16 (4 GB), or cluster a 256-d projection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame


@dataclass
class Centroids:
    vectors: np.ndarray  # (k, d) float32, unit norm
    # Two-level only: the coarse centres (the IVF lists at assignment time).
    coarse: np.ndarray | None = None


def kmeans(vectors: np.ndarray, k: int, iterations: int, seed: int) -> np.ndarray:
    import faiss

    k = max(1, min(k, len(vectors)))
    gpu = hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0
    kmeans = faiss.Kmeans(
        vectors.shape[1], k, niter=iterations, seed=seed, spherical=True, gpu=gpu, verbose=False
    )
    kmeans.train(np.ascontiguousarray(vectors, dtype=np.float32))
    return kmeans.centroids.astype(np.float32)


def sample_vectors(embeddings: DataFrame, total: int, size: int, seed: int) -> np.ndarray:
    """A seeded sample, sorted by id so the k-means input does not depend on task order."""
    fraction = min(1.0, size / max(total, 1))
    rows = embeddings.sample(fraction=fraction, seed=seed).limit(size).collect()
    rows.sort(key=lambda r: r["id"])
    return np.array([r["embedding"] for r in rows], dtype=np.float32)


def train(
    sample: np.ndarray, k: int, iterations: int, seed: int, two_level_above: int
) -> Centroids:
    if k <= two_level_above:
        return Centroids(kmeans(sample, k, iterations, seed))
    coarse_k = max(2, int(math.sqrt(k)))
    coarse = kmeans(sample, coarse_k, iterations, seed)
    cells = nearest(sample, coarse, 1)[:, 0]
    parts = []
    for cell in range(coarse.shape[0]):
        members = sample[cells == cell]
        if len(members) == 0:
            continue
        share = max(1, round(k * len(members) / len(sample)))
        parts.append(kmeans(members, share, iterations, seed + cell + 1))
    return Centroids(np.concatenate(parts), coarse)


def nearest(vectors: np.ndarray, centroids: np.ndarray, top: int) -> np.ndarray:
    """Indices of the ``top`` most similar centroids per row (exact, inner product)."""
    import faiss

    index = faiss.IndexFlatIP(centroids.shape[1])
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    _, found = index.search(
        np.ascontiguousarray(vectors, dtype=np.float32), min(top, len(centroids))
    )
    return found


def assignment_index(centroids: Centroids, nprobe: int):  # noqa: ANN201 - a faiss index
    """Flat index over the centroids, or IVF (coarse cells as lists) when two-level."""
    import faiss

    d = centroids.vectors.shape[1]
    if centroids.coarse is None:
        index = faiss.IndexFlatIP(d)
        index.add(centroids.vectors)
        return index
    quantizer = faiss.IndexFlatIP(d)
    quantizer.add(centroids.coarse)
    index = faiss.IndexIVFFlat(quantizer, d, len(centroids.coarse), faiss.METRIC_INNER_PRODUCT)
    index.is_trained = True  # the coarse centres are the trained quantizer
    index.add_with_ids(
        np.ascontiguousarray(centroids.vectors),
        np.arange(len(centroids.vectors), dtype=np.int64),
    )
    index.nprobe = nprobe
    return index
