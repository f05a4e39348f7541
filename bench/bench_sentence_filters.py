"""Benchmark (run by hand, not a test): sentence filter throughput and the perplexity UDF
inside Spark versus a plain transformers loop over the same sentences.

    .venv/bin/python bench/bench_sentence_filters.py --sentences 2000
    .venv/bin/python bench/bench_sentence_filters.py --model gpt2-large-random --device cuda

Input: real sentences from the main job's ``sentences`` table (run ``make run`` first).
Prints one table; copy the figures into the issue note.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--store", default="data/delta", help="where the main job wrote tables")
    args = parser.parse_args()

    from pyspark.sql import functions as F

    from realsyn_spark.config import load_config
    from realsyn_spark.delta_store import TableStore
    from realsyn_spark.models.causal_lm import load_causal_lm, perplexities, resolve_causal_lm
    from realsyn_spark.models.device import task_device
    from realsyn_spark.runner import Progress, Runner
    from realsyn_spark.session import get_spark
    from realsyn_spark.stages.sentence_quality import SentenceQualityStage
    from realsyn_spark.stages.sentence_semantic import (
        SentenceSemanticStage,
        sentence_entropies,
        word_frequencies,
    )

    scratch = tempfile.mkdtemp(prefix="realsyn-bench-")
    config = load_config(
        "local",
        [
            f"storage.root={scratch}",
            f"models.device={args.device}",
            f"sentence_semantic.perplexity.model={args.model}",
            f"sentence_semantic.perplexity.batch_size={args.batch_size}",
        ],
    )
    spark = get_spark(config.spark)
    source = TableStore(spark, args.store, "delta-rs")
    store = TableStore(spark, scratch, "delta-rs")
    sentences = source.read("sentences").orderBy("sentence_id").limit(args.sentences)
    store.write("sentences", sentences)
    n = store.num_rows("sentences")
    runner = Runner(spark, store, config, Progress(quiet=True))

    started = time.perf_counter()
    runner.run_stage(SentenceQualityStage)
    quality_s = time.perf_counter() - started
    survivors = store.num_rows("sentences_quality")

    # Without the model: the entropy filter alone (word frequencies + per-sentence sums).
    quality = store.read("sentences_quality").cache()
    quality.count()
    started = time.perf_counter()
    frequencies = word_frequencies(quality)
    entropies = sentence_entropies(quality, frequencies, 2.0)
    low = entropies.filter(F.col("entropy") < config.sentence_semantic.entropy_min).count()
    entropy_s = time.perf_counter() - started

    started = time.perf_counter()
    runner.run_stage(SentenceSemanticStage)
    semantic_s = time.perf_counter() - started
    texts = [
        r["text"]
        for r in quality.join(entropies, "sentence_id")
        .filter(F.col("entropy") >= config.sentence_semantic.entropy_min)
        .select("text")
        .collect()
    ]

    # The same sentences, model and batch size through a plain single-process loop.
    import torch

    device = task_device(args.device)
    if device == "cpu":
        torch.set_num_threads(os.cpu_count() or 1)
    spec = resolve_causal_lm(args.model)
    started = time.perf_counter()
    model, tokenizer = load_causal_lm(spec, os.path.abspath(config.models.dir), device)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    perplexities(texts, model, tokenizer, device, args.batch_size, 160)
    loop_s = time.perf_counter() - started

    total_without = quality_s + entropy_s
    total_with = quality_s + semantic_s
    print(f"\nsentence filters on {n} real sentences, {os.cpu_count()} cores, model {args.model}")
    print("| step | sentences in | seconds | sentences/s |\n|---|---|---|---|")
    print(
        f"| quality (emoji/URL, length, CAT parse) | {n} | {quality_s:.1f} | {n / quality_s:.0f} |"
    )
    print(f"| entropy only | {survivors} | {entropy_s:.1f} | {survivors / entropy_s:.0f} |")
    print(
        f"| entropy + perplexity (stage) | {survivors} | {semantic_s:.1f} | "
        f"{survivors / semantic_s:.1f} |"
    )
    print(
        f"| all filters without perplexity | {n} | {total_without:.1f} | {n / total_without:.0f} |"
    )
    print(f"| all filters with perplexity | {n} | {total_with:.1f} | {n / total_with:.1f} |")
    print(
        f"\nperplexity over the same {len(texts)} sentences (batch {args.batch_size}, {low} "
        "low-entropy sentences skipped):"
    )
    print(f"  Spark stage (model loads per worker, writes, entropy): {semantic_s:.1f}s")
    print(f"  plain transformers loop, one process: {loop_s:.1f}s (+ {load_s:.1f}s model load)")
    print(
        f"  ratio Spark / loop: {semantic_s / loop_s:.2f} "
        f"(incl. the loop's load: {semantic_s / (loop_s + load_s):.2f})"
    )


if __name__ == "__main__":
    main()
