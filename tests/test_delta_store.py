from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from realsyn_spark.delta_store import (
    SchemaMismatchError,
    TableNotFoundError,
    TableStore,
    UnsupportedTableError,
)


@pytest.fixture
def store(spark, tmp_path):
    return TableStore(spark, str(tmp_path / "delta"), backend="delta-rs")


def rows(df, key="id"):
    return [tuple(r) for r in df.orderBy(key).collect()]


def test_write_append_overwrite_versions_and_time_travel(spark, store):
    first = spark.createDataFrame([(1, "a"), (2, "b")], "id long, name string")
    assert store.write("scratch", first) == 0
    assert store.write("scratch", spark.createDataFrame([(3, "c")], first.schema), "append") == 1
    assert store.write("scratch", spark.createDataFrame([(9, "z")], first.schema)) == 2

    assert store.version("scratch") == 2
    assert rows(store.read("scratch")) == [(9, "z")]
    assert rows(store.read("scratch", version=0)) == [(1, "a"), (2, "b")]
    assert rows(store.read("scratch", version=1)) == [(1, "a"), (2, "b"), (3, "c")]
    assert store.num_rows("scratch", version=1) == 3
    assert [h["version"] for h in store.history("scratch")] == [2, 1, 0]

    # Real Delta: the transaction log is there and other Delta readers agree.
    path = Path(store.table_path("scratch"))
    assert sorted(p.name for p in (path / "_delta_log").glob("*.json")) == [
        f"{v:020d}.json" for v in range(3)
    ]
    assert DeltaTable(str(path)).to_pyarrow_table().to_pydict() == {"id": [9], "name": ["z"]}
    assert DeltaTable(str(path), version=1).to_pyarrow_table().num_rows == 3
    assert pl.read_delta(str(path)).to_dicts() == [{"id": 9, "name": "z"}]


def test_commit_metadata_is_recorded(spark, store):
    df = spark.createDataFrame([(1,)], "id long")
    store.write("scratch", df, metadata={"stage": "unit", "run_id": "r1"})
    commit = store.history("scratch")[0]
    assert commit["realsyn.stage"] == "unit"
    assert commit["realsyn.run_id"] == "r1"


def test_append_with_a_different_schema_is_refused(spark, store):
    store.write("scratch", spark.createDataFrame([(1, "a")], "id long, name string"))
    wider = spark.createDataFrame([(2, "b", 1.0)], "id long, name string, score double")
    with pytest.raises(SchemaMismatchError, match=r"extra columns \['score'\]"):
        store.write("scratch", wider, "append")
    retyped = spark.createDataFrame([("2", "b")], "id string, name string")
    with pytest.raises(SchemaMismatchError, match="changed types"):
        store.write("scratch", retyped, "append")
    assert store.version("scratch") == 0


def test_declared_schema_is_enforced(spark, store):
    bad = spark.createDataFrame([("x", "y")], "sentence_id string, text string")
    with pytest.raises(SchemaMismatchError, match="declared schema"):
        store.write("sentences", bad)
    assert not store.exists("sentences")


def test_a_failing_write_leaves_no_version_and_no_files(spark, store):
    df = spark.createDataFrame([(1,)], "id long")
    store.write("scratch", df)
    before = sorted(p.name for p in Path(store.table_path("scratch")).iterdir())

    # ANSI mode: a cast error raised inside the write job, midway through.
    failing = spark.range(0, 1000).select(
        F.when(F.col("id") < 900, F.col("id")).otherwise(F.lit("boom").cast("long")).alias("id")
    )
    with pytest.raises(Exception, match="(?i)cast|boom|invalid"):
        store.write("scratch", failing, "append")
    assert store.version("scratch") == 0
    assert sorted(p.name for p in Path(store.table_path("scratch")).iterdir()) == before


def test_staged_data_is_invisible_until_commit(spark, store):
    store.write("scratch", spark.createDataFrame([(1,)], "id long"))
    staged = store.stage("scratch", spark.createDataFrame([(2,), (3,)], "id long"), "append")
    assert staged.num_rows == 2
    assert rows(store.read("scratch")) == [(1,)]
    assert rows(store.read_staged(staged)) == [(2,), (3,)]
    store.abort(staged)
    assert store.version("scratch") == 0
    assert not Path(staged.staging_path).exists()


def test_empty_write_gives_an_empty_readable_table(spark, store):
    store.write("scratch", spark.createDataFrame([], "id long"))
    assert store.read("scratch").count() == 0
    assert store.num_rows("scratch") == 0


def _write_log(path: Path, protocol: dict, configuration: dict, field_meta: dict) -> None:
    log = path / "_delta_log"
    log.mkdir(parents=True)
    actions = [
        {"protocol": protocol},
        {
            "metaData": {
                "id": "00000000-0000-0000-0000-000000000001",
                "format": {"provider": "parquet", "options": {}},
                "schemaString": json.dumps(
                    {
                        "type": "struct",
                        "fields": [
                            {"name": "id", "type": "long", "nullable": True, "metadata": field_meta}
                        ],
                    }
                ),
                "partitionColumns": [],
                "configuration": configuration,
                "createdTime": 0,
            }
        },
    ]
    (log / f"{0:020d}.json").write_text("\n".join(json.dumps(a) for a in actions) + "\n")


def test_tables_with_deletion_vectors_or_column_mapping_are_refused(store):
    root = Path(store.root)
    _write_log(
        root / "with_dv",
        {
            "minReaderVersion": 3,
            "minWriterVersion": 7,
            "readerFeatures": ["deletionVectors"],
            "writerFeatures": ["deletionVectors"],
        },
        {"delta.enableDeletionVectors": "true"},
        {},
    )
    _write_log(
        root / "with_cm",
        {"minReaderVersion": 2, "minWriterVersion": 5},
        {"delta.columnMapping.mode": "name", "delta.columnMapping.maxColumnId": "1"},
        {"delta.columnMapping.id": 1, "delta.columnMapping.physicalName": "col-5f1a"},
    )
    with pytest.raises(UnsupportedTableError, match="deletionVectors"):
        store.read("with_dv")
    with pytest.raises(UnsupportedTableError, match="columnMapping"):
        store.read("with_cm")


def test_missing_table_error_lists_known_tables(spark, store):
    store.write("scratch", spark.createDataFrame([(1,)], "id long"))
    with pytest.raises(TableNotFoundError, match="tables: scratch"):
        store.read("nope")


def test_spark_delta_backend_needs_the_jar(spark, tmp_path):
    from realsyn_spark.delta_store import TableStoreError

    with pytest.raises(TableStoreError, match="Delta jar is not on the classpath"):
        TableStore(spark, str(tmp_path), backend="spark-delta")


def test_auto_backend_picks_delta_rs_without_the_jar(spark, tmp_path):
    assert TableStore(spark, str(tmp_path), backend="auto").backend == "delta-rs"
