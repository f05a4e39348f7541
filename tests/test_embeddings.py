"""Embedders (tiny open_clip registered from a config, the offline cross-modal embedder)
and the semantic dedup stages on planted near-duplicates of real images and sentences."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from conftest import make_config
from PIL import Image
from pyspark.sql import functions as F

from realsyn_spark.delta_store import TableStore
from realsyn_spark.embedding import embed_partition
from realsyn_spark.ids import bytes_id, content_id
from realsyn_spark.models.embedders import load_embedder, resolve_embedder
from realsyn_spark.runner import Progress, Runner
from realsyn_spark.stages.image_embedding import ImageEmbeddingStage
from realsyn_spark.stages.image_semantic_dedup import ImageSemanticDedupStage
from realsyn_spark.stages.sentence_embedding import SentenceEmbeddingStage
from realsyn_spark.stages.sentence_semantic_dedup import SentenceSemanticDedupStage
from realsyn_spark.tables import IMAGES_UNIQUE_SCHEMA, SENTENCES_UNIQUE_SCHEMA

# Real photos whose subject is an ImageNet class, with a caption each.
CAPTIONED = {
    "coffee": "a cup of coffee on a saucer",
    "chelsea": "a tabby cat lying down",
    "rocket": "a rocket on the launch pad",
    "camera": "a man with a camera on a tripod",
}


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _photos() -> dict[str, bytes]:
    from skimage import data

    return {name: _png(Image.fromarray(getattr(data, name)()).convert("RGB")) for name in CAPTIONED}


def test_tiny_open_clip_embeddings_are_unit_norm_and_batch_independent():
    spec = resolve_embedder("tiny-clip-random")
    photos = list(_photos().values())
    batch = pd.DataFrame({"id": [str(i) for i in range(len(photos))], "payload": photos})
    one = next(embed_partition(iter([batch]), spec, "image", 1, "cpu"))
    many = next(embed_partition(iter([batch]), spec, "image", 8, "cpu"))
    a, b = np.stack(one["embedding"]), np.stack(many["embedding"])
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.allclose(a, b, atol=1e-5)
    texts = pd.DataFrame({"id": ["x", "y"], "payload": ["a cat", "a rocket launch"]})
    text_vectors = np.stack(
        next(embed_partition(iter([texts]), spec, "text", 1, "cpu"))["embedding"]
    )
    assert text_vectors.shape == (2, 32)
    assert np.allclose(np.linalg.norm(text_vectors, axis=1), 1.0, atol=1e-5)


def test_offline_embedder_ranks_each_photos_own_caption_first():
    embedder = load_embedder(resolve_embedder("offline-minilm-effnet"), "cpu")
    photos = _photos()
    images = embedder.embed_images(list(photos.values()))
    captions = embedder.embed_texts([CAPTIONED[name] for name in photos])
    similarity = images @ captions.T
    assert list(similarity.argmax(axis=1)) == list(range(len(photos)))
    assert np.allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)


def _variants(payload: bytes) -> list[bytes]:
    image = Image.open(io.BytesIO(payload)).convert("RGB")
    jpeg = io.BytesIO()
    # q85: at q60 the offline embedder drifts to 0.90-0.96 (pHash, one stage earlier, still
    # catches those at 0-2 bits); see README.
    image.save(jpeg, format="JPEG", quality=85)
    small = image.resize((image.width // 2, image.height // 2))
    return [jpeg.getvalue(), _png(small)]


@pytest.fixture(scope="module")
def deduped(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("semantic")
    config = make_config(
        tmp,
        models={"device": "cpu"},
        # Tiny partitions force several k-means partitions and probing on 14 items.
        semantic_dedup={"partition_rows": 4, "probes": 2},
    )
    store = TableStore(spark, config.storage.root, "delta-rs")
    rows, groups = [], {}
    for name, payload in _photos().items():
        members = []
        for i, data in enumerate([payload, *_variants(payload)]):
            with Image.open(io.BytesIO(data)) as im:
                w, h, fmt, mode = im.width, im.height, im.format.lower(), im.mode
            image_id = bytes_id(data)
            rows.append(
                (
                    image_id,
                    f"doc-{name}-{i}",
                    0,
                    f"{name}-{i}",
                    data,
                    len(data),
                    w,
                    h,
                    fmt,
                    mode,
                    0,
                    1,
                    [f"doc-{name}-{i}"],
                )
            )
            members.append(image_id)
        groups[name] = members
    store.write("images_unique", spark.createDataFrame(rows, IMAGES_UNIQUE_SCHEMA))
    texts = [
        "The rocket lifts off from the launch pad at dawn.",
        "A tabby cat sleeps on the warm windowsill.",
        "Fresh coffee is poured into a white cup.",
        "The photographer adjusts the tripod before the shot.",
    ]
    sentence_rows = []
    for i, text in enumerate(texts + texts[:2]):  # two exact copies from other documents
        sentence_rows.append(
            (
                content_id("s", str(i), text),
                f"doc{i}",
                0,
                0,
                text,
                9,
                2,
                1,
                1.0,
                50.0,
                1,
                [f"doc{i}"],
            )
        )
    store.write("sentences_unique", spark.createDataFrame(sentence_rows, SENTENCES_UNIQUE_SCHEMA))
    runner = Runner(spark, store, config, Progress(quiet=True))
    records = {
        cls.name: runner.run_stage(cls)
        for cls in (
            ImageEmbeddingStage,
            SentenceEmbeddingStage,
            ImageSemanticDedupStage,
            SentenceSemanticDedupStage,
        )
    }
    return {"store": store, "groups": groups, "records": records, "texts": texts}


def test_embedding_tables_are_unit_norm(deduped):
    store = deduped["store"]
    for table, n in (("image_embeddings", 12), ("sentence_embeddings", 6)):
        rows = store.read(table).collect()
        assert len(rows) == n
        norms = [np.linalg.norm(np.array(r["embedding"])) for r in rows]
        assert np.allclose(norms, 1.0, atol=1e-5)
        assert {r["model"] for r in rows} == {"offline-minilm-effnet"}


def test_planted_image_near_duplicates_collapse_to_one_per_group(deduped):
    store, groups = deduped["store"], deduped["groups"]
    kept = {r["image_id"]: r for r in store.read("images_deduped").collect()}
    mapping = store.read("image_semantic_duplicates").collect()
    for name, members in groups.items():
        survivors = set(members) & set(kept)
        assert len(survivors) == 1, name
        (rep,) = survivors
        assert kept[rep]["num_occurrences"] == 3
        assert len(kept[rep]["doc_ids"]) == 3
    assert len(kept) == len(groups)
    assert all(m["representative_id"] in kept and m["method"] == "semantic" for m in mapping)
    assert all(0 <= m["distance"] <= 0.1 + 1e-6 for m in mapping)
    (account,) = deduped["records"]["image_semantic_dedup"].accounting
    assert (account.rows_in, account.rows_kept, account.rejected_by_reason) == (
        12,
        4,
        {"semantic_duplicate": 8},
    )


def test_planted_sentence_copies_collapse(deduped):
    store = deduped["store"]
    kept = sorted(r["text"] for r in store.read("sentences_deduped").collect())
    assert kept == sorted(deduped["texts"])
    mapping = store.read("sentence_semantic_duplicates").collect()
    assert len(mapping) == 2
    kept_ids = {r["sentence_id"] for r in store.read("sentences_deduped").collect()}
    assert all(m["representative_id"] in kept_ids for m in mapping)
    merged = store.read("sentences_deduped").filter(F.col("num_occurrences") == 2).count()
    assert merged == 2
