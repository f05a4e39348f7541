"""Ingest end to end: generated OBELICS (JSONL + parquet) and HTML sources, images from
files, data: URIs and a real HTTP server; every bad input ends in ingest_rejects."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import make_config
from httpserver import serve
from imagegen import corrupt_png, image_bytes, truncated_jpeg
from pyspark.sql import functions as F

from realsyn_spark.delta_store import TableStore
from realsyn_spark.runner import Progress, Runner
from realsyn_spark.stages.ingest import IngestStage

GOOD_TEXT = "The red fox jumps over the lazy dog. It then runs into the forest!"


def _data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _write_jsonl(path: Path, base_url: str) -> dict[str, str]:
    """Lines and the reason each bad one must be rejected with."""
    good = {
        "texts": [GOOD_TEXT, None, None, None, "A second paragraph follows here."],
        "images": [
            None,
            _data_uri(image_bytes(150, 150, seed=1)),
            f"{base_url}/ok.png",
            f"{base_url}/flaky.png?case=ingest",
            None,
        ],
        "metadata": "[]",
        "general_metadata": json.dumps({"url": "https://example.org/good"}),
    }
    fetch_cases = {
        "texts": ["Images that cannot be fetched.", None, None, None, None, None, None, None],
        "images": [
            None,
            f"{base_url}/missing.png",
            f"{base_url}/big.png",
            f"{base_url}/slow.png",
            f"{base_url}/redirect-ftp",
            f"{base_url}/not-an-image.png",
            "ftp://127.0.0.1/x.png",
            "data:image/png;base64,!!notbase64!!",
        ],
    }
    lines: list[tuple[bytes, str | None]] = [
        (json.dumps(good).encode(), None),
        (json.dumps(fetch_cases).encode(), None),
        (b'{"texts": ["caf\xe9 au lait"], "images": [null]}', "non_utf8"),
        (b'{"texts": ["unterminated"', "invalid_json"),
        (json.dumps({"texts": ["a", None], "images": [None]}).encode(), "mismatched_lists"),
        (json.dumps({"texts": [], "images": []}).encode(), "empty_document"),
        (json.dumps({"texts": ["x" * 20_000], "images": [None]}).encode(), "document_too_large"),
        (json.dumps({"texts": [None], "images": [None]}).encode(), "invalid_layout"),
        (json.dumps(["not", "an", "object"]).encode(), "invalid_layout"),
        (json.dumps(good).encode(), "duplicate_document"),
    ]
    path.write_bytes(b"\n".join(line for line, _ in lines) + b"\n")
    return {line.decode("utf-8", "replace")[:40]: reason for line, reason in lines if reason}


def _write_parquet(path: Path) -> None:
    table = pa.table(
        {
            "texts": [["Parquet documents carry parallel lists.", None], ["one", "two"]],
            "images": [[None, _data_uri(image_bytes(128, 128, seed=3))], [None]],
            "metadata": ["[]", "[]"],
            "general_metadata": ['{"url": "https://example.org/pq"}', "{}"],
        }
    )
    pq.write_table(table, path)


def _write_html(root: Path) -> None:
    (root / "img").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "img" / "a.png").write_bytes(image_bytes(200, 120, seed=11))
    (root / "img" / "photo.jpg").write_bytes(image_bytes(240, 160, "JPEG", seed=12))
    (root / "img" / "corrupt.png").write_bytes(corrupt_png())
    (root / "img" / "trunc.jpg").write_bytes(truncated_jpeg())
    (root / "img" / "bomb.png").write_bytes(image_bytes(400, 400, seed=13))
    (root / "img" / "cmyk.jpg").write_bytes(image_bytes(120, 120, "JPEG", seed=14, mode="CMYK"))
    (root / "img" / "notes.txt").write_bytes(b"plain text, not an image")
    (root / "page1.html").write_text(
        """<!DOCTYPE html><html><head><title>Filters: Blur</title>
        <style>p { color: red }</style><script>var x = "<p>not text</p>";</script></head>
        <body><div class="navheader"><img src="img/prev.png" alt="Prev"/> Navigation</div>
        <h1>Blur filters</h1>
        <p>The blur filter softens the image. It removes fine detail.</p>
        <div class="figure"><img src="img/a.png" alt="before"/>
        <p class="title">Figure 1. The original image</p></div>
        <img src="img/photo.jpg"><img src="img/corrupt.png"><img src="img/trunc.jpg">
        <img src="img/bomb.png"><img src="img/cmyk.jpg"><img src="img/missing.png">
        <img src="../../../etc/passwd"><img src="img/notes.txt">
        <p>After blurring, edges look &amp; feel smoother.</p>
        <div class="navfooter">Next page</div></body></html>""",
        encoding="utf-8",
    )
    (root / "sub" / "page2.html").write_text(
        "<html><body><p>The same picture again, seen from another page.</p>"
        '<img src="../img/a.png"></body></html>',
        encoding="utf-8",
    )
    (root / "latin1.html").write_bytes(
        b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
        b"</head><body><p>Caf\xe9 cr\xe8me is served here daily.</p></body></html>"
    )
    (root / "bad_utf8.html").write_bytes(b"<html><body><p>Broken \xff\xfe bytes</p></body></html>")
    (root / "empty.html").write_bytes(b"")
    (root / "chrome_only.html").write_text(
        '<html><body><div class="navheader">only navigation</div><script>x()</script></body></html>'
    )
    (root / "unclosed.html").write_text("<html><body><p>Unclosed paragraph with <b>bold text")
    (root / "huge.html").write_text("<html><body><p>" + "word " * 5000 + "</p></body></html>")


@pytest.fixture(scope="module")
def ingested(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ingest")
    with serve() as base_url:
        expected_doc_rejects = _write_jsonl(tmp / "docs.jsonl", base_url)
        _write_parquet(tmp / "docs.parquet")
        _write_html(tmp / "html")
        config = make_config(
            tmp,
            ingest={
                "sources": [
                    {"kind": "obelics_jsonl", "path": str(tmp / "docs.jsonl"), "name": "jsonl"},
                    {"kind": "obelics_parquet", "path": str(tmp / "docs.parquet"), "name": "pq"},
                    {"kind": "html_dir", "path": str(tmp / "html"), "name": "html"},
                ],
                "max_document_bytes": 10_000,
                "max_image_pixels": 100_000,
                "fetch": {
                    "total_timeout_s": 1.0,
                    "read_timeout_s": 1.0,
                    "connect_timeout_s": 1.0,
                    "retries": 1,
                    "backoff_s": 0.01,
                    "max_bytes": 100_000,
                },
            },
        )
        store = TableStore(spark, config.storage.root, "delta-rs")
        runner = Runner(spark, store, config, Progress(quiet=True))
        record = runner.run_stage(IngestStage)
        yield {
            "spark": spark,
            "store": store,
            "runner": runner,
            "record": record,
            "expected_doc_rejects": expected_doc_rejects,
        }


def _rejects(store, entity):
    df = store.read("ingest_rejects").filter(F.col("entity") == entity)
    return {(r["source"], r["record_id"], r["reason"]) for r in df.collect()}


def test_every_input_document_is_kept_or_rejected(ingested):
    record = ingested["record"]
    doc = next(a for a in record.accounting if a.entity == "document")
    # 10 JSONL lines + 2 parquet rows + 9 HTML pages.
    assert doc.rows_in == 20
    assert doc.rows_kept + doc.rows_rejected == 20
    store = ingested["store"]
    assert store.read("documents").count() == doc.rows_kept


def test_bad_documents_are_rejected_with_their_reason(ingested):
    rejects = ingested["store"].read("ingest_rejects").filter(F.col("entity") == "document")
    by_reason = {r["reason"]: r["count"] for r in rejects.groupBy("reason").count().collect()}
    expected = {
        "non_utf8": 2,  # one JSONL line, one HTML page
        "invalid_json": 1,
        "mismatched_lists": 2,  # one JSONL line, one parquet row
        "empty_document": 3,  # empty JSONL lists, empty.html, chrome_only.html
        "document_too_large": 2,  # JSONL line, huge.html
        "invalid_layout": 2,
        "duplicate_document": 1,
    }
    assert by_reason == expected
    details = {r["reason"]: r["detail"] for r in rejects.collect()}
    assert "same content as" in details["duplicate_document"]


def test_html_pages_become_interleaved_documents(ingested):
    docs = {r["url"]: r for r in ingested["store"].read("documents").collect()}
    page = docs["page1.html"]
    texts = [t for t in page["texts"] if t]
    assert texts[0] == "Blur filters"
    assert "The blur filter softens the image. It removes fine detail." in texts
    assert "After blurring, edges look & feel smoother." in texts
    # Navigation chrome, scripts and styles are not content.
    assert not any("Navigation" in t or "not text" in t or "color" in t for t in texts)
    images = [i for i in page["images"] if i]
    assert images[0] == "img/a.png"
    assert "img/prev.png" not in images
    assert json.loads(page["general_metadata"])["title"] == "Filters: Blur"
    assert docs["sub/page2.html"]["images"][1] == "img/a.png"  # relative to the source root
    assert any("Café crème" in (t or "") for t in docs["latin1.html"]["texts"])
    unclosed = [t for t in docs["unclosed.html"]["texts"] if t]
    assert unclosed == ["Unclosed paragraph with bold text"]


def test_images_are_loaded_decoded_or_rejected_with_reasons(ingested):
    store = ingested["store"]
    rejects = {(src, reason) for src, _, reason in _rejects(store, "image")}
    reasons_by_ref = {}
    for src, reason in rejects:
        reasons_by_ref[src.rsplit("/", 1)[-1] if "://" in src else src] = reason
    assert reasons_by_ref["img/corrupt.png"] == "corrupt_image"
    assert reasons_by_ref["img/trunc.jpg"] == "corrupt_image"
    assert reasons_by_ref["img/bomb.png"] == "decompression_bomb"
    assert reasons_by_ref["img/missing.png"] == "image_not_found"
    assert reasons_by_ref["img/notes.txt"] == "undecodable_image"
    assert reasons_by_ref["../../../etc/passwd"] == "outside_source_root"
    assert reasons_by_ref["missing.png"] == "fetch_http_404"
    assert reasons_by_ref["big.png"] == "fetch_too_large"
    assert reasons_by_ref["slow.png"] == "fetch_timeout"
    assert reasons_by_ref["redirect-ftp"] == "fetch_redirect_bad_scheme"
    assert reasons_by_ref["not-an-image.png"] == "undecodable_image"
    assert reasons_by_ref["x.png"] == "unsupported_scheme"
    assert reasons_by_ref["data:image/png;base64,!!notbase64!!"] == "corrupt_data_uri"

    kept = {r["source_url"].rsplit("/", 1)[-1]: r for r in store.read("images").collect()}
    assert {"a.png", "photo.jpg", "cmyk.jpg", "ok.png", "flaky.png?case=ingest"} <= set(kept)
    assert (kept["a.png"]["width"], kept["a.png"]["height"], kept["a.png"]["format"]) == (
        200,
        120,
        "png",
    )
    assert kept["cmyk.jpg"]["format"] == "jpeg"
    image = next(a for a in ingested["record"].accounting if a.entity == "image")
    assert image.rows_kept + image.rows_rejected == image.rows_in


def test_image_ids_are_content_hashes(ingested):
    images = ingested["store"].read("images")
    same = images.filter(F.col("source_url") == "img/a.png").select("image_id", "doc_id").collect()
    assert len(same) == 2  # page1 and sub/page2
    assert len({r["image_id"] for r in same}) == 1
    assert len({r["doc_id"] for r in same}) == 2


def test_sentences_are_split_with_punkt(ingested):
    sentences = ingested["store"].read("sentences")
    texts = {r["text"] for r in sentences.collect()}
    assert "The red fox jumps over the lazy dog." in texts
    assert "It then runs into the forest!" in texts
    assert sentences.select("sentence_id").distinct().count() == sentences.count()


def test_rerun_is_a_noop_and_force_gives_identical_rows(ingested):
    store, runner = ingested["store"], ingested["runner"]
    versions = {t: store.version(t) for t in IngestStage.outputs}
    skipped = runner.run_stage(IngestStage)
    assert skipped.status == "skipped"
    assert {t: store.version(t) for t in IngestStage.outputs} == versions

    def snapshot(table, key):
        return sorted(tuple(r) for r in store.read(table).drop("bytes").orderBy(key).collect())

    before = {
        t: snapshot(t, k)
        for t, k in [("documents", "doc_id"), ("sentences", "sentence_id"), ("images", "image_id")]
    }
    forced = runner.run_stage(IngestStage, force=True)
    assert forced.status == "succeeded"
    assert all(store.version(t) == versions[t] + 1 for t in IngestStage.outputs)
    after = {
        t: snapshot(t, k)
        for t, k in [("documents", "doc_id"), ("sentences", "sentence_id"), ("images", "image_id")]
    }
    assert after == before


def test_runs_table_records_the_accounting(ingested):
    runs = ingested["store"].read("runs").filter(F.col("stage") == "ingest").collect()
    first = min(runs, key=lambda r: r["started_at"])
    accounting = {a["entity"]: a for a in first["accounting"]}
    doc = accounting["document"]
    assert doc["rows_in"] == doc["rows_kept"] + doc["rows_rejected"] == 20
    assert doc["rejected_by_reason"]["non_utf8"] == 2
    assert first["output_versions"]["documents"] == 0
    assert first["config_hash"]
