"""The CLI's table/SQL commands and the exploration notebook over a small ingested store."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from imagegen import image_bytes
from nbclient import NotebookClient

from realsyn_spark.cli import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def small_store(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    html = tmp / "html"
    (html / "img").mkdir(parents=True)
    (html / "img" / "cat.png").write_bytes(image_bytes(160, 160, seed=21))
    (html / "cat.html").write_text(
        "<html><head><title>Cats</title></head><body><p>A cat sleeps on the sofa. "
        'It purrs loudly.</p><img src="img/cat.png"><p>The end of the page.</p></body></html>'
    )
    (html / "broken.html").write_bytes(b"\xff\xfe not utf-8")
    models = Path(__file__).resolve().parent.parent / "data" / "models"
    overrides = [
        f"storage.root={tmp / 'delta'}",
        f"ingest.sources=[{{kind: html_dir, path: '{html}', name: fixture}}]",
        f"models.dir={models}",
        "sentence_semantic.perplexity.model=tiny-gpt2-random",
        "sentence_semantic.perplexity.max=1e12",
        "sentence_semantic.entropy_min=0",
    ]
    assert main(["run", "--all", "-q", *sum((["--set", o] for o in overrides), [])]) == 0
    return overrides


def _args(overrides):
    return sum((["--set", o] for o in overrides), [])


def test_tables_lists_versions_and_rows(small_store, capsys):
    assert main(["tables", *_args(small_store)]) == 0
    out = capsys.readouterr().out
    lines = {line.split("|")[0].strip(): line for line in out.splitlines()}
    assert {
        "documents",
        "images",
        "sentences",
        "ingest_rejects",
        "runs",
        "images_unique",
        "sentences_unique",
        "word_frequencies",
    } <= set(lines)
    assert lines["documents"].split("|")[2].strip() == "1"
    assert lines["ingest_rejects"].split("|")[2].strip() == "1"


def test_sql_sees_every_table_and_the_rejects_view(small_store, capsys):
    assert (
        main(
            [
                "sql",
                "SELECT reason, count(*) AS n FROM rejects WHERE stage = 'ingest' GROUP BY reason",
                "--format",
                "json",
                *_args(small_store),
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip() == '{"reason": "non_utf8", "n": 1}'
    assert (
        main(
            [
                "sql",
                "SELECT text FROM sentences ORDER BY position, sentence_index",
                "--format",
                "csv",
                *_args(small_store),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out == ["text", "A cat sleeps on the sofa.", "It purrs loudly.", "The end of the page."]


def test_second_run_skips_and_history_shows_versions(small_store, capsys):
    assert main(["run", "--all", *_args(small_store)]) == 0
    captured = capsys.readouterr()
    assert "ingest: skipped" in captured.out
    assert "sentence_dedup: skipped" in captured.out
    assert "up to date" in captured.err
    assert main(["history", "documents", *_args(small_store)]) == 0
    assert "ingest" in capsys.readouterr().out


def test_funnel_command_prints_steps_and_plots(small_store, capsys, tmp_path):
    png = tmp_path / "funnel.png"
    assert main(["funnel", "--plot", str(png), *_args(small_store)]) == 0
    out = capsys.readouterr().out
    for step in (
        "image extraction",
        "image quality filter",
        "sentence quality filter",
        "sentence semantic filter",
        "sentence dedup",
    ):
        assert step in out
    assert png.stat().st_size > 1000
    assert (
        main(
            [
                "sql",
                "SELECT stage, rows_in FROM funnel ORDER BY stage",
                "--format",
                "csv",
                *_args(small_store),
            ]
        )
        == 0
    )
    assert "sentence_quality," in capsys.readouterr().out


def test_run_needs_stage_names_or_all(capsys):
    assert main(["run"]) == 2
    assert "give stage names or --all" in capsys.readouterr().err


def test_exploration_notebook_executes(small_store, tmp_path):
    notebook = nbformat.read(REPO / "notebooks" / "explore.ipynb", as_version=4)
    sources = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    assert "import" in sources
    imports = [line for line in sources.splitlines() if line.startswith(("import ", "from "))]
    assert all("realsyn_spark" in line or "IPython" in line for line in imports)
    env_before = dict(os.environ)
    os.environ["REALSYN_SET"] = ";".join(small_store)
    os.environ["REALSYN_PROFILE"] = "local"
    try:
        client = NotebookClient(
            notebook,
            timeout=300,
            kernel_name="python3",
            resources={"metadata": {"path": str(tmp_path)}},
        )
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "cat.html: Cats" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="the sample corpus is a Debian package")
def test_sample_corpus_comes_from_the_debian_archive(tmp_path):
    from realsyn_spark.config import SampleCorpusConfig
    from realsyn_spark.sample_corpus import prepare_sample_corpus

    cfg = SampleCorpusConfig(dir=str(tmp_path / "sample"), max_pages=5)
    html = prepare_sample_corpus(cfg, log=lambda _: None)
    assert len(list(html.rglob("*.html"))) == 5
    source = (html.parent / "SOURCE.json").read_text()
    assert "GFDL" in source and "gimp-help-en" in source
    assert "GNU Free Documentation License" in (html.parent / "COPYRIGHT").read_text()
    # Idempotent: a second call does not download again.
    marker_mtime = (html.parent / "SOURCE.json").stat().st_mtime
    prepare_sample_corpus(cfg, log=lambda _: None)
    assert (html.parent / "SOURCE.json").stat().st_mtime == marker_mtime
