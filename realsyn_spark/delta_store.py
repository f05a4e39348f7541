"""One place for table I/O: every pipeline table is a Delta table under ``storage.root``.

Two backends behind one interface:

* ``spark-delta`` - Spark's native ``format("delta")`` when the delta-spark jar is on the
  classpath (Databricks, EMR, ``--packages io.delta:delta-spark_2.13:...``).
* ``delta-rs`` - for machines without the jar: Spark executors write Parquet files into
  the table folder, then the driver commits ONE Delta transaction with their AddActions
  through delta-rs. Reads go through ``DeltaTable(path, version).file_uris()`` and Spark's
  own Parquet reader, which gives time travel for free.

Writes are two-phase (:meth:`TableStore.stage` then :meth:`TableStore.commit`): a stage
writes all its outputs' files first, checks its row accounting, and only then commits,
so a stage that fails midway leaves no new table version behind.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from realsyn_spark.tables import describe_schema_difference, schema_for

log = logging.getLogger(__name__)

WriteMode = Literal["overwrite", "append"]
# Reader features the file-list reader cannot honour: it would return deleted rows or
# read columns by the wrong physical name.
UNSUPPORTED_READER_FEATURES = {"deletionVectors", "columnMapping"}


class TableStoreError(RuntimeError):
    """A table cannot be read or written as asked."""


class SchemaMismatchError(TableStoreError):
    """A write whose schema differs from the table's or the declared one."""


class UnsupportedTableError(TableStoreError):
    """A Delta table using features the active backend cannot honour."""


class TableNotFoundError(TableStoreError):
    pass


@dataclass
class StagedWrite:
    """Data written but not yet visible: commit() publishes it as one table version."""

    table: str
    mode: WriteMode
    schema: T.StructType
    write_id: str
    staging_path: str
    num_rows: int
    files: list[dict[str, Any]] = field(default_factory=list)


def _same_columns(a: T.StructType, b: T.StructType) -> bool:
    """Names and types in order; nullability is not part of the contract."""
    return [(f.name, f.dataType.simpleString()) for f in a.fields] == [
        (f.name, f.dataType.simpleString()) for f in b.fields
    ]


def delta_jar_available(spark: SparkSession) -> bool:
    try:
        jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
        jvm.java.lang.Class.forName("io.delta.tables.DeltaTable")
        return True
    except Exception:  # noqa: BLE001 - no JVM (Spark Connect) or class missing
        return False


class TableStore:
    """Reads and writes the pipeline's Delta tables; see module docstring."""

    def __init__(self, spark: SparkSession, root: str, backend: str = "auto") -> None:
        self.spark = spark
        self.root = root.rstrip("/")
        if backend == "auto":
            backend = "spark-delta" if delta_jar_available(spark) else "delta-rs"
        if backend == "spark-delta" and not delta_jar_available(spark):
            raise TableStoreError(
                "storage.backend=spark-delta but the Delta jar is not on the classpath; add "
                "--packages io.delta:delta-spark_2.13:4.0.0 or use storage.backend=delta-rs"
            )
        if backend == "delta-rs":
            parsed = urlparse(self.root)
            if parsed.scheme not in ("", "file"):
                raise TableStoreError(
                    f"storage.backend=delta-rs writes local folders only, got {self.root!r}; "
                    "object stores go through storage.backend=spark-delta (the Delta jar)"
                )
            self.root = str(Path(parsed.path if parsed.scheme else self.root).resolve())
            # delta-rs keeps microsecond timestamps; Spark 4 would write INT96 otherwise.
            spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        self.backend = backend

    # ------------------------------------------------------------------ naming

    def table_path(self, table: str) -> str:
        if not table.replace("_", "").isalnum():
            raise TableStoreError(f"invalid table name {table!r}")
        return f"{self.root}/{table}"

    # ------------------------------------------------------------------ metadata

    def exists(self, table: str) -> bool:
        if self.backend == "delta-rs":
            return (Path(self.table_path(table)) / "_delta_log").is_dir()
        return self._hadoop_exists(f"{self.table_path(table)}/_delta_log")

    def list_tables(self) -> list[str]:
        if self.backend == "delta-rs":
            root = Path(self.root)
            if not root.is_dir():
                return []
            return sorted(p.name for p in root.iterdir() if (p / "_delta_log").is_dir())
        return sorted(name for name in self._hadoop_list_dirs(self.root) if self.exists(name))

    def version(self, table: str) -> int | None:
        if not self.exists(table):
            return None
        if self.backend == "delta-rs":
            return self._delta_rs_table(table).version()
        row = self.spark.sql(f"DESCRIBE HISTORY delta.`{self.table_path(table)}` LIMIT 1").first()
        return int(row["version"]) if row else None

    def versions(self) -> dict[str, int]:
        return {name: v for name in self.list_tables() if (v := self.version(name)) is not None}

    def history(self, table: str) -> list[dict[str, Any]]:
        """Newest first: version, timestamp, operation and our commit metadata."""
        self._require(table)
        if self.backend == "delta-rs":
            return list(self._delta_rs_table(table).history())
        rows = self.spark.sql(f"DESCRIBE HISTORY delta.`{self.table_path(table)}`").collect()
        return [row.asDict(recursive=True) for row in rows]

    def num_rows(self, table: str, version: int | None = None) -> int:
        """Row count from the Delta log's per-file stats when present (no data scan)."""
        self._require(table)
        if self.backend == "delta-rs":
            dt = self._delta_rs_table(table, version)
            actions = dt.get_add_actions(flatten=True)
            names = actions.schema.names
            if "num_records" in names:
                counts = actions.column("num_records").to_pylist()
                if all(c is not None for c in counts):
                    return int(sum(counts))
        return self.read(table, version).count()

    # ------------------------------------------------------------------ reads

    def read(self, table: str, version: int | None = None) -> DataFrame:
        self._require(table)
        path = self.table_path(table)
        if self.backend == "spark-delta":
            reader = self.spark.read.format("delta")
            if version is not None:
                reader = reader.option("versionAsOf", version)
            return reader.load(path)
        dt = self._delta_rs_table(table, version)
        self._check_readable(table, dt)
        from pyspark.sql.pandas.types import from_arrow_schema

        schema = from_arrow_schema(_arrow_schema(dt))
        files = dt.file_uris()
        if not files:
            return self.spark.createDataFrame([], schema)
        return self.spark.read.schema(schema).parquet(*files)

    def schema(self, table: str) -> T.StructType:
        return self.read(table).schema

    # ------------------------------------------------------------------ writes

    def write(
        self,
        table: str,
        df: DataFrame,
        mode: WriteMode = "overwrite",
        metadata: dict[str, str] | None = None,
    ) -> int:
        """Stage and commit in one go; returns the new version."""
        staged = self.stage(table, df, mode)
        try:
            return self.commit(staged, metadata)
        except BaseException:
            self.abort(staged)
            raise

    def stage(self, table: str, df: DataFrame, mode: WriteMode = "overwrite") -> StagedWrite:
        """Write the data files of a future version; nothing is visible until commit()."""
        if mode not in ("overwrite", "append"):
            raise TableStoreError(f"unknown write mode {mode!r}")
        self.check_schema(table, df.schema, mode)
        write_id = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"
        if self.backend == "delta-rs":
            staging = f"{self.table_path(table)}/{write_id}"
        else:
            staging = f"{self.root}/_staging/{table}/{write_id}"
        try:
            df.write.mode("errorifexists").parquet(staging)
        except BaseException:
            self._remove(staging)
            raise
        staged = StagedWrite(table, mode, df.schema, write_id, staging, 0)
        if self.backend == "delta-rs":
            staged.files = self._describe_files(staging, write_id)
            staged.num_rows = sum(f["num_rows"] for f in staged.files)
        else:
            staged.num_rows = self.spark.read.parquet(staging).count()
        return staged

    def read_staged(self, staged: StagedWrite) -> DataFrame:
        """The staged rows, e.g. to count rejects by reason before committing."""
        if self.backend == "delta-rs" and not staged.files:
            return self.spark.createDataFrame([], staged.schema)
        if self.backend == "delta-rs":
            paths = [f"{self.table_path(staged.table)}/{f['path']}" for f in staged.files]
            return self.spark.read.schema(staged.schema).parquet(*paths)
        return self.spark.read.schema(staged.schema).parquet(staged.staging_path)

    def commit(self, staged: StagedWrite, metadata: dict[str, str] | None = None) -> int:
        """Publish a staged write as ONE new Delta version; returns that version."""
        # Re-check: another writer may have changed the table since stage().
        self.check_schema(staged.table, staged.schema, staged.mode)
        meta = {f"realsyn.{k}": str(v) for k, v in (metadata or {}).items()}
        if self.backend == "spark-delta":
            writer = (
                self.spark.read.schema(staged.schema)
                .parquet(staged.staging_path)
                .write.format("delta")
                .mode(staged.mode)
                .option("userMetadata", json.dumps(meta, sort_keys=True))
            )
            if staged.mode == "overwrite":
                writer = writer.option("overwriteSchema", "true")
            writer.save(self.table_path(staged.table))
            self._remove(staged.staging_path)
            version = self.version(staged.table)
            assert version is not None
            return version
        return self._delta_rs_commit(staged, meta)

    def abort(self, staged: StagedWrite) -> None:
        """Forget a staged write: its files go, the table is untouched."""
        self._remove(staged.staging_path)
        if self.backend == "delta-rs":
            table_dir = Path(self.table_path(staged.table))
            if table_dir.is_dir() and not any(table_dir.iterdir()):
                table_dir.rmdir()

    def check_schema(self, table: str, schema: T.StructType, mode: WriteMode) -> None:
        declared = schema_for(table)
        if declared is not None and not _same_columns(declared, schema):
            raise SchemaMismatchError(
                f"write to {table!r} does not match its declared schema: "
                f"{describe_schema_difference(declared, schema)}"
            )
        if mode == "append" and self.exists(table):
            current = self.schema(table)
            if not _same_columns(current, schema):
                raise SchemaMismatchError(
                    f"append to {table!r} refused: schema differs from the table's "
                    f"({describe_schema_difference(current, schema)}); overwrite the table "
                    "or migrate it first"
                )

    # ------------------------------------------------------------------ SQL

    def register_views(self, tables: list[str] | None = None) -> list[str]:
        """Register each table (latest version) as a temp view named after it."""
        names = tables if tables is not None else self.list_tables()
        for name in names:
            self.read(name).createOrReplaceTempView(name)
        rejects = [n for n in names if n.endswith("_rejects")]
        if rejects:
            union = " UNION ALL ".join(f"SELECT * FROM {n}" for n in rejects)
            self.spark.sql(f"CREATE OR REPLACE TEMP VIEW rejects AS {union}")
        return names

    # ------------------------------------------------------------------ delta-rs internals

    def _delta_rs_table(self, table: str, version: int | None = None) -> Any:
        from deltalake import DeltaTable

        return DeltaTable(self.table_path(table), version=version)

    def _check_readable(self, table: str, dt: Any) -> None:
        protocol = dt.protocol()
        features = set(protocol.reader_features or [])
        config = dt.metadata().configuration or {}
        bad = sorted(features & UNSUPPORTED_READER_FEATURES)
        if config.get("delta.columnMapping.mode", "none") not in ("none", None):
            bad = sorted(set(bad) | {"columnMapping"})
        if bad:
            raise UnsupportedTableError(
                f"table {table!r} uses Delta features {bad} that the delta-rs file-list reader "
                "cannot honour (it would return deleted rows or misnamed columns). Read it "
                "with storage.backend=spark-delta, or rewrite it without them (e.g. "
                "ALTER TABLE ... SET TBLPROPERTIES ('delta.enableDeletionVectors'=false) and "
                "REORG TABLE ... APPLY (PURGE))."
            )

    def _describe_files(self, staging: str, write_id: str) -> list[dict[str, Any]]:
        import pyarrow.parquet as pq

        files = []
        for entry in sorted(Path(staging).iterdir()):
            if entry.suffix != ".parquet":
                # _SUCCESS and Hadoop's .crc side files are not table data.
                continue
            stat = entry.stat()
            files.append(
                {
                    "path": f"{write_id}/{entry.name}",
                    "size": stat.st_size,
                    "mtime_ms": int(stat.st_mtime * 1000),
                    "num_rows": pq.read_metadata(entry).num_rows,
                }
            )
        return files

    def _delta_rs_commit(self, staged: StagedWrite, meta: dict[str, str]) -> int:
        from deltalake import DeltaTable, Schema
        from deltalake.transaction import (
            AddAction,
            CommitProperties,
            create_table_with_add_actions,
        )
        from pyspark.sql.pandas.types import to_arrow_schema

        schema = Schema.from_arrow(to_arrow_schema(staged.schema, timezone="UTC"))
        actions = [
            AddAction(
                f["path"],  # raw: delta-rs percent-encodes itself
                f["size"],
                {},
                f["mtime_ms"],
                True,
                json.dumps({"numRecords": f["num_rows"]}),
            )
            for f in staged.files
        ]
        props = CommitProperties(custom_metadata=meta)
        path = self.table_path(staged.table)
        if not self.exists(staged.table):
            create_table_with_add_actions(
                path, schema, actions, mode="error", commit_properties=props
            )
        else:
            dt = DeltaTable(path)
            self._check_readable(staged.table, dt)
            dt.create_write_transaction(
                actions, mode=staged.mode, schema=schema, commit_properties=props
            )
        return DeltaTable(path).version()

    # ------------------------------------------------------------------ helpers

    def _require(self, table: str) -> None:
        if not self.exists(table):
            known = ", ".join(self.list_tables()) or "none yet"
            raise TableNotFoundError(
                f"table {table!r} does not exist under {self.root} (tables: {known})"
            )

    def _remove(self, path: str) -> None:
        if self.backend == "delta-rs" or urlparse(path).scheme in ("", "file"):
            shutil.rmtree(urlparse(path).path if path.startswith("file:") else path, True)
            return
        jvm = self.spark.sparkContext._jvm  # type: ignore[attr-defined]
        hpath = jvm.org.apache.hadoop.fs.Path(path)
        hpath.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration()).delete(hpath, True)

    def _hadoop_fs(self, path: str) -> tuple[Any, Any]:
        jvm = self.spark.sparkContext._jvm  # type: ignore[attr-defined]
        hpath = jvm.org.apache.hadoop.fs.Path(path)
        conf = self.spark.sparkContext._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
        return hpath.getFileSystem(conf), hpath

    def _hadoop_exists(self, path: str) -> bool:
        fs, hpath = self._hadoop_fs(path)
        return bool(fs.exists(hpath))

    def _hadoop_list_dirs(self, path: str) -> list[str]:
        fs, hpath = self._hadoop_fs(path)
        if not fs.exists(hpath):
            return []
        return [s.getPath().getName() for s in fs.listStatus(hpath) if s.isDirectory()]


def _arrow_schema(dt: Any) -> Any:
    import pyarrow as pa

    schema = dt.schema().to_arrow()
    # delta-rs hands back an arro3 schema; pyarrow takes it via the C data interface.
    return schema if isinstance(schema, pa.Schema) else pa.schema(schema)


__all__ = [
    "SchemaMismatchError",
    "StagedWrite",
    "TableNotFoundError",
    "TableStore",
    "TableStoreError",
    "UnsupportedTableError",
    "delta_jar_available",
]
