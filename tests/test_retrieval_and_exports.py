"""Text clustering, hierarchical retrieval (against brute force), pairs and the exports."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import make_config
from imagegen import image_bytes

from realsyn_spark import export
from realsyn_spark.delta_store import TableStore
from realsyn_spark.ids import bytes_id, content_id
from realsyn_spark.runner import Progress, Runner
from realsyn_spark.stages.pairs import PairsStage
from realsyn_spark.stages.retrieval import RetrievalStage, probe_clusters
from realsyn_spark.stages.text_clustering import TextClusteringStage
from realsyn_spark.tables import (
    DOCUMENTS_SCHEMA,
    EMBEDDINGS_SCHEMA,
    IMAGES_UNIQUE_SCHEMA,
    SENTENCES_UNIQUE_SCHEMA,
)

DIM = 16
N_SENTENCES = 240
N_IMAGES = 40
K = 3


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _corpus():
    rng = np.random.default_rng(3)
    centres = _unit(rng.normal(size=(8, DIM)))
    sentence_vecs = _unit(
        centres[rng.integers(0, 8, N_SENTENCES)] + 0.3 * rng.normal(size=(N_SENTENCES, DIM))
    )
    image_vecs = _unit(
        centres[rng.integers(0, 8, N_IMAGES)] + 0.3 * rng.normal(size=(N_IMAGES, DIM))
    )
    image_vecs[1] = image_vecs[0]  # identical embeddings must get identical texts
    return sentence_vecs, image_vecs


def _write(spark, store, sentence_vecs, image_vecs):
    sentence_ids = [content_id("s", str(i)) for i in range(N_SENTENCES)]
    store.write(
        "sentences_deduped",
        spark.createDataFrame(
            [
                (
                    sid,
                    f"doc{i % 7}",
                    0,
                    i,
                    f"Sentence number {i} about a topic.",
                    6,
                    1,
                    1,
                    1.0,
                    50.0,
                    1,
                    [f"doc{i % 7}"],
                )
                for i, sid in enumerate(sentence_ids)
            ],
            SENTENCES_UNIQUE_SCHEMA,
        ),
    )
    store.write(
        "sentence_embeddings",
        spark.createDataFrame(
            [
                (sid, "synthetic", v.tolist())
                for sid, v in zip(sentence_ids, sentence_vecs, strict=True)
            ],
            EMBEDDINGS_SCHEMA,
        ),
    )
    images, image_ids = [], []
    for i in range(N_IMAGES):
        data = image_bytes(120, 100, "PNG", seed=100 + i)
        image_id = bytes_id(data)
        image_ids.append(image_id)
        url = f"https://example.org/{i}.png" if i % 2 else f"img/{i}.png"
        images.append(
            (image_id, "docimg", i, url, data, len(data), 120, 100, "png", "RGB", 0, 1, ["docimg"])
        )
    store.write("images_deduped", spark.createDataFrame(images, IMAGES_UNIQUE_SCHEMA))
    store.write(
        "image_embeddings",
        spark.createDataFrame(
            [(iid, "synthetic", v.tolist()) for iid, v in zip(image_ids, image_vecs, strict=True)],
            EMBEDDINGS_SCHEMA,
        ),
    )
    store.write(
        "documents",
        spark.createDataFrame(
            [("docimg", "html", "file:/x/page.html", "page.html", ["t"], [None], "[]", "{}", 1, 0)],
            DOCUMENTS_SCHEMA,
        ),
    )
    return sentence_ids, image_ids


def _brute_force(sentence_ids, sentence_vecs, image_vecs):
    order = np.argsort(np.array(sentence_ids), kind="stable")
    ids = np.array(sentence_ids)[order]
    scores = image_vecs @ sentence_vecs[order].T
    best = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return [list(ids[row]) for row in best]


def _retrieved(store, image_ids):
    rows = store.read("retrievals").collect()
    by_image = {i: [None] * K for i in image_ids}
    for r in rows:
        by_image[r["image_id"]][r["rank"] - 1] = r["sentence_id"]
    return [by_image[i] for i in image_ids]


@pytest.fixture(scope="module")
def retrieval_store(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("retrieval")
    sentence_vecs, image_vecs = _corpus()
    config = make_config(
        tmp,
        ingest={"sources": [{"kind": "html_dir", "path": str(tmp), "name": "html"}]},
        text_clustering={"num_clusters": 8},
        retrieval={"probe_clusters": 8, "top_k": K},
    )
    store = TableStore(spark, config.storage.root, "delta-rs")
    sentence_ids, image_ids = _write(spark, store, sentence_vecs, image_vecs)
    runner = Runner(spark, store, config, Progress(quiet=True))
    for cls in (TextClusteringStage, RetrievalStage, PairsStage):
        runner.run_stage(cls)
    return {
        "store": store,
        "runner": runner,
        "config": config,
        "tmp": tmp,
        "sentence_ids": sentence_ids,
        "image_ids": image_ids,
        "sentence_vecs": sentence_vecs,
        "image_vecs": image_vecs,
    }


def test_all_clusters_probed_equals_brute_force(retrieval_store):
    s = retrieval_store
    expected = _brute_force(s["sentence_ids"], s["sentence_vecs"], s["image_vecs"])
    assert _retrieved(s["store"], s["image_ids"]) == expected


def test_one_probe_is_close_to_brute_force_and_identical_images_agree(spark, retrieval_store):
    s = retrieval_store
    config = make_config(
        s["tmp"] / "one",
        text_clustering={"num_clusters": 8},
        retrieval={"probe_clusters": 1, "top_k": K},
    )
    store = TableStore(spark, config.storage.root, "delta-rs")
    _write(spark, store, s["sentence_vecs"], s["image_vecs"])
    runner = Runner(spark, store, config, Progress(quiet=True))
    runner.run_stage(TextClusteringStage)
    runner.run_stage(RetrievalStage)
    got = _retrieved(store, s["image_ids"])
    expected = _brute_force(s["sentence_ids"], s["sentence_vecs"], s["image_vecs"])
    recall = np.mean([len(set(g) & set(e)) / K for g, e in zip(got, expected, strict=True)])
    assert recall >= 0.7
    assert got[0] == got[1]
    assert all(None not in g for g in got)


def test_small_clusters_fall_back_to_the_next_nearest():
    import pandas as pd

    centroids = _unit(np.eye(4, DIM, dtype=np.float32) + 0.01)
    sizes = np.array([1, 1, 5, 0])
    image = centroids[0] + 0.05 * centroids[1]
    batch = pd.DataFrame({"image_id": ["img"], "embedding": [image.tolist()]})
    (probed,) = probe_clusters(iter([batch]), centroids, sizes, top_k=3, probes=1, max_probes=4)
    # Cluster 0 holds 1 sentence, cluster 1 one more: a third cluster is needed for k=3.
    assert probed["cluster_id"].tolist()[:2] == [0, 1]
    assert len(probed) == 3 and sizes[probed["cluster_id"]].sum() >= 3
    (enough,) = probe_clusters(iter([batch]), centroids, np.array([5, 5, 5, 5]), 3, 1, 4)
    assert enough["cluster_id"].tolist() == [0]


def test_clusters_table_and_assignment(retrieval_store):
    store = retrieval_store["store"]
    clusters = store.read("text_clusters").collect()
    assert len(clusters) == 8
    assert sum(c["num_sentences"] for c in clusters) == N_SENTENCES
    assert store.read("sentence_clusters").count() == N_SENTENCES


def test_pairs_hold_three_ranked_texts_with_sources(retrieval_store):
    store = retrieval_store["store"]
    pairs = {r["image_id"]: r for r in store.read("pairs").collect()}
    assert len(pairs) == N_IMAGES
    for row in pairs.values():
        assert row["text1_score"] >= row["text2_score"] >= row["text3_score"]
        assert row["text1"].startswith("Sentence number")
        assert row["text1_doc_id"].startswith("doc")
        assert row["syn_text"] is None
    urls = sorted(r["image_url"] for r in pairs.values())
    assert any(u.startswith("https://example.org/") for u in urls)
    local = [u for u in urls if u.startswith("file://")]
    assert local and all(u.startswith(f"file://{retrieval_store['tmp']}") for u in local)


def test_realsyn_parquet_export_has_exactly_the_released_columns(retrieval_store, tmp_path):
    store = retrieval_store["store"]
    out = tmp_path / "parquet"
    rows = export.realsyn_parquet(store.read("pairs"), str(out), rows_per_file=15, tokenized=True)
    assert rows == N_IMAGES
    table = pq.read_table(str(out))
    assert table.schema.names == list(export.RELEASED_COLUMNS)
    assert all(str(t) in ("string", "large_string") for t in table.schema.types)
    assert table.num_rows == N_IMAGES
    assert len(list(out.glob("*.parquet"))) == 3
    text = table.column("text1")[0].as_py()
    assert text == text.lower() and text.endswith(" .")
    assert export.released_text("It's the GIMP's filter.") == "it 's the gimp 's filter ."


def test_webdataset_shards_open_with_the_webdataset_package(retrieval_store, tmp_path):
    import webdataset as wds

    store = retrieval_store["store"]
    out = tmp_path / "wds"
    shards = export.webdataset(
        store.read("pairs"),
        store.read("images_deduped"),
        str(out),
        samples_per_shard=16,
        quality=90,
    )
    assert [s[1] for s in shards] and sum(s[1] for s in shards) == N_IMAGES
    assert len(shards) == 3
    urls = [str(out / s[0]) for s in shards]
    samples = list(
        wds.WebDataset(urls, shardshuffle=False).decode("pil").to_tuple("jpg", "txt", "json")
    )
    assert len(samples) == N_IMAGES
    image, text, meta = samples[0]
    assert image.size == (120, 100)
    assert text.startswith("Sentence number")
    assert {"text2", "text3", "syn_text", "scores"} <= set(meta)
    # Same pairs, same shards.
    again = export.webdataset(store.read("pairs"), store.read("images_deduped"), str(out), 16, 90)
    assert again == shards
