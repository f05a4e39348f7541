"""Benchmark (run by hand, not a test): connected components by method, and embedding
throughput inside Spark versus a plain torch loop over the same batches.

    .venv/bin/python bench/bench_components_embeddings.py components --edges 1000000
    .venv/bin/python bench/bench_components_embeddings.py embeddings --images 256 --sentences 4000
    # on a GPU machine:
    python bench/bench_components_embeddings.py embeddings --model ViT-B-32 --device cuda
    python bench/bench_components_embeddings.py embeddings --model EVA02-E-14-plus --device cuda
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _spark():
    from realsyn_spark.config import load_config
    from realsyn_spark.session import get_spark

    config = load_config(
        "local", ["spark.conf={spark.ui.enabled: 'false', spark.driver.memory: 8g}"]
    )
    return get_spark(config.spark), config


def bench_components(args) -> None:
    import numpy as np

    from realsyn_spark.components import connected_components

    spark, _ = _spark()
    spark.sparkContext.setCheckpointDir(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    n_vertices = args.edges  # sparse random graph: average degree 2
    random_edges = rng.integers(0, n_vertices, size=(args.edges, 2))
    # Dedup-like: many small groups plus long chains (near-duplicate chains a~b~c~...).
    chain_len = 1000
    chains = args.edges // 2 // chain_len
    chain_edges = [
        (c * chain_len + i, c * chain_len + i + 1)
        for c in range(chains)
        for i in range(chain_len - 1)
    ]
    groups = [
        (g * 4 + 2_000_000_000, g * 4 + 2_000_000_000 + i)
        for g in range(args.edges // 6)
        for i in range(1, 4)
    ]
    graphs = {
        "random": [(int(a), int(b)) for a, b in random_edges],
        "chain-heavy": chain_edges + groups,
    }
    print("| graph | edges | method | seconds | components |\n|---|---|---|---|---|")
    for name, edges in graphs.items():
        df = (
            spark.createDataFrame(
                [(f"{a:010d}", f"{b:010d}") for a, b in edges], "src string, dst string"
            )
            .repartition(8)
            .cache()
        )
        df.count()
        for method in args.methods:
            started = time.perf_counter()
            result = connected_components(
                df, method, local_edge_limit=10_000_000, max_iterations=200
            ).cache()
            count = result.select("component").distinct().count()
            seconds = time.perf_counter() - started
            print(f"| {name} | {len(edges):,} | {method} | {seconds:.1f} | {count:,} |", flush=True)
            result.unpersist()
        df.unpersist()


def bench_embeddings(args) -> None:
    import io

    import numpy as np
    import pandas as pd
    import torch
    from PIL import Image

    from realsyn_spark.embedding import embed_partition
    from realsyn_spark.models.device import task_device
    from realsyn_spark.models.embedders import load_embedder, resolve_embedder

    spark, _ = _spark()
    rng = np.random.default_rng(0)
    images = []
    for _ in range(args.images):
        array = rng.integers(0, 255, size=(256, 320, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="JPEG")
        images.append(buffer.getvalue())
    words = "the a cat dog sits runs over under red blue image filter layer tool".split()
    sentences = [" ".join(rng.choice(words, 12)) for _ in range(args.sentences)]
    spec = resolve_embedder(args.model, args.pretrained)
    device = task_device(args.device)
    print(f"model {args.model}, device {device}, batch {args.batch_size}, {os.cpu_count()} cores")
    for kind, payloads in (("image", images), ("text", sentences)):
        df = (
            spark.createDataFrame(
                pd.DataFrame({"id": [str(i) for i in range(len(payloads))], "payload": payloads})
            )
            .repartition(spark.sparkContext.defaultParallelism)
            .cache()
        )
        df.count()
        schema = "id string, model string, embedding array<float>"
        # Warm-up run loads the model in each worker; the timed run measures throughput.
        for label in ("spark (incl. model load)", "spark (warm workers)"):
            started = time.perf_counter()
            df.mapInPandas(
                lambda it, kind=kind: embed_partition(it, spec, kind, args.batch_size, args.device),
                schema,
            ).count()
            seconds = time.perf_counter() - started
            print(f"{kind}: {label}: {len(payloads) / seconds:.1f}/s")
        spark_rate = len(payloads) / seconds
        if device == "cpu":
            torch.set_num_threads(os.cpu_count() or 1)
        embedder = load_embedder(spec, device)
        embed = embedder.embed_images if kind == "image" else embedder.embed_texts
        started = time.perf_counter()
        for start in range(0, len(payloads), args.batch_size):
            embed(payloads[start : start + args.batch_size])
        loop_rate = len(payloads) / (time.perf_counter() - started)
        print(
            f"{kind}: plain loop, one process: {loop_rate:.1f}/s; ratio spark/loop "
            f"{spark_rate / loop_rate:.2f}"
        )
        df.unpersist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    c = sub.add_parser("components")
    c.add_argument("--edges", type=int, default=1_000_000)
    c.add_argument("--methods", nargs="+", default=["local", "spark"])
    e = sub.add_parser("embeddings")
    e.add_argument("--model", default="offline-minilm-effnet")
    e.add_argument("--pretrained", default="")
    e.add_argument("--device", default="auto")
    e.add_argument("--images", type=int, default=256)
    e.add_argument("--sentences", type=int, default=4000)
    e.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    bench_components(args) if args.what == "components" else bench_embeddings(args)


if __name__ == "__main__":
    main()
