"""Benchmark (run by hand, not a test): hierarchical retrieval versus brute-force exact
search on the same synthetic embeddings, in one run.

    .venv/bin/python bench/bench_retrieval.py                      # 1M sentences x 100k images
    .venv/bin/python bench/bench_retrieval.py --clusters 1000 4000 --probes 1 2 4

Data: unit vectors from a mixture of topics (sentences = topic + noise, images = topic +
more noise), 256-d. The hierarchical path uses the pipeline's own functions
(clustering.train, retrieval.probe_clusters, retrieval.top_k_in_cluster). Brute force is
timed on ``--exact-sample`` images and scaled to all images (its cost is exactly linear
in the number of images); recall@3 is measured on the same sample.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd


def synthetic(n_sentences: int, n_images: int, dim: int, topics: int, seed: int):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(topics, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def draw(n: int, noise: float) -> np.ndarray:
        out = np.empty((n, dim), dtype=np.float32)
        for start in range(0, n, 100_000):
            m = min(100_000, n - start)
            block = centres[rng.integers(0, topics, m)] + noise * rng.normal(size=(m, dim)).astype(
                np.float32
            ) / np.sqrt(dim)
            out[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
        return out

    return draw(n_sentences, 0.8), draw(n_images, 1.0)


def exact_top3(images: np.ndarray, sentences: np.ndarray) -> np.ndarray:
    out = np.empty((len(images), 3), dtype=np.int64)
    for start in range(0, len(images), 256):
        scores = images[start : start + 256] @ sentences.T
        part = np.argpartition(-scores, 3, axis=1)[:, :3]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
        out[start : start + 256] = np.take_along_axis(part, order, axis=1)
    return out


def build_clusters(
    sentences: np.ndarray, clusters: int, seed: int
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Train on a 40-per-centre sample (FAISS's minimum is 39) and assign every sentence."""
    from realsyn_spark.clustering import nearest, train

    timings = {}
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    sample = sentences[rng.choice(len(sentences), min(len(sentences), 40 * clusters), False)]
    centroids = train(sample, clusters, 20, seed, two_level_above=65_536).vectors
    timings["train"] = time.perf_counter() - started
    started = time.perf_counter()
    assignment = np.concatenate(
        [
            nearest(sentences[s : s + 200_000], centroids, 1)[:, 0]
            for s in range(0, len(sentences), 200_000)
        ]
    )
    timings["assign"] = time.perf_counter() - started
    return centroids, assignment, timings


def hierarchical_top3(
    images: np.ndarray,
    sentences: np.ndarray,
    centroids: np.ndarray,
    assignment: np.ndarray,
    probes: int,
) -> tuple[np.ndarray, float]:
    """The retrieval stage's own functions, without Spark around them."""
    from realsyn_spark.stages.retrieval import probe_clusters, top_k_in_cluster

    started = time.perf_counter()
    sizes = np.bincount(assignment, minlength=len(centroids))
    ids = np.array([f"{i:09d}" for i in range(len(images))])
    batch = pd.DataFrame({"image_id": ids, "embedding": list(images)})
    (probed,) = probe_clusters(iter([batch]), centroids, sizes, 3, probes, max(32, probes))
    sentence_ids = np.array([f"{i:09d}" for i in range(len(sentences))])
    by_cluster = np.argsort(assignment, kind="stable")
    bounds = np.searchsorted(assignment[by_cluster], np.arange(len(centroids) + 1))
    results = []
    for cluster, group in probed.groupby("cluster_id"):
        members = by_cluster[bounds[cluster] : bounds[cluster + 1]]
        sentence_frame = pd.DataFrame(
            {"sentence_id": sentence_ids[members], "embedding": list(sentences[members])}
        )
        results.append(top_k_in_cluster(group, sentence_frame, 3))
    merged = pd.concat(results).sort_values(
        ["image_id", "score", "sentence_id"], ascending=[True, False, True]
    )
    top = merged.groupby("image_id").head(3)
    seconds = time.perf_counter() - started
    found = np.full((len(images), 3), -1, dtype=np.int64)
    for image, group in top.groupby("image_id"):
        values = group["sentence_id"].astype(np.int64).to_numpy()
        found[int(image), : len(values)] = values
    return found, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=1_000_000)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--topics", type=int, default=5_000)
    parser.add_argument("--clusters", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--probes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--exact-sample", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sentences, images = synthetic(args.sentences, args.images, args.dim, args.topics, args.seed)
    sample = images[: args.exact_sample]
    started = time.perf_counter()
    exact = exact_top3(sample, sentences)
    exact_s = (time.perf_counter() - started) * len(images) / len(sample)
    print(
        f"{args.sentences:,} sentences x {args.images:,} images, {args.dim}-d, "
        f"{os.cpu_count()} cores"
    )
    print(f"brute force (exact), scaled from {len(sample):,} images: {exact_s:.0f}s\n")
    print("| clusters | probes | train s | assign s | search s | total s | speed-up | recall@3 |")
    print("|---|---|---|---|---|---|---|---|")
    for clusters in args.clusters:
        centroids, assignment, t = build_clusters(sentences, clusters, args.seed)
        for probes in args.probes:
            found, search_s = hierarchical_top3(images, sentences, centroids, assignment, probes)
            # Clustering is paid once per corpus; the search is what scales with images.
            total = t["train"] + t["assign"] + search_s
            hits = [len(set(found[i]) & set(exact[i])) / 3 for i in range(len(sample))]
            print(
                f"| {clusters} | {probes} | {t['train']:.1f} | {t['assign']:.1f} | "
                f"{search_s:.1f} | {total:.1f} | {exact_s / total:.0f}x | {np.mean(hits):.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
