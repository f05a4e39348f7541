"""Runs stages: table I/O, row accounting, run records and skip-if-done, in one place."""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from realsyn_spark import __version__
from realsyn_spark.config import PipelineConfig
from realsyn_spark.delta_store import StagedWrite, TableStore
from realsyn_spark.stage import Stage, StageOutput, ordered_stages
from realsyn_spark.tables import RUNS_SCHEMA

RUNS_TABLE = "runs"


class AccountingError(RuntimeError):
    """A stage's kept + rejected rows do not add up to its input: a silent drop."""


class MissingInputError(RuntimeError):
    pass


@dataclass
class EntityAccount:
    entity: str
    rows_in: int
    rows_kept: int
    rejected_by_reason: dict[str, int]

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected_by_reason.values())


@dataclass
class RunRecord:
    run_id: str
    stage: str
    status: str  # succeeded | skipped
    config_hash: str
    input_versions: dict[str, int]
    input_fingerprint: str | None
    output_versions: dict[str, int] = field(default_factory=dict)
    output_rows: dict[str, int] = field(default_factory=dict)
    accounting: list[EntityAccount] = field(default_factory=list)
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    duration_s: float = 0.0
    message: str = ""

    def as_row(self) -> tuple:
        return (
            self.run_id,
            self.stage,
            self.status,
            self.config_hash,
            self.input_versions,
            self.input_fingerprint,
            self.output_versions,
            self.output_rows,
            [
                (a.entity, a.rows_in, a.rows_kept, a.rows_rejected, a.rejected_by_reason)
                for a in self.accounting
            ],
            self.started_at.replace(tzinfo=None),
            self.duration_s,
            __version__,
            self.message,
        )


class Progress:
    """Prints what the runner does and, for long Spark jobs, task progress every few seconds."""

    def __init__(
        self, stream: TextIO | None = None, interval_s: float = 10.0, quiet: bool = False
    ) -> None:
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.quiet = quiet

    def say(self, message: str) -> None:
        if not self.quiet:
            print(f"[realsyn {time.strftime('%H:%M:%S')}] {message}", file=self.stream, flush=True)

    @contextmanager
    def step(self, spark: SparkSession, description: str) -> Iterator[None]:
        sc = spark.sparkContext
        sc.setJobDescription(description)
        self.say(description)
        stop = threading.Event()

        def poll() -> None:
            tracker = sc.statusTracker()
            last = ""
            while not stop.wait(self.interval_s):
                parts = []
                for stage_id in tracker.getActiveStageIds():
                    info = tracker.getStageInfo(stage_id)
                    if info:
                        parts.append(f"{info.numCompletedTasks}/{info.numTasks} tasks")
                line = ", ".join(parts)
                if line and line != last:
                    self.say(f"  {description}: {line}")
                    last = line

        thread = threading.Thread(target=poll, daemon=True)
        if not self.quiet:
            thread.start()
        started = time.monotonic()
        try:
            yield
        finally:
            stop.set()
            sc.setJobDescription(None)  # type: ignore[arg-type]
            self.say(f"  done in {time.monotonic() - started:.1f}s")


class Runner:
    def __init__(
        self,
        spark: SparkSession,
        store: TableStore,
        config: PipelineConfig,
        progress: Progress | None = None,
    ) -> None:
        self.spark = spark
        self.store = store
        self.config = config
        self.progress = progress or Progress()

    # ------------------------------------------------------------------ public

    def run(self, names: list[str] | None = None, force: bool = False) -> list[RunRecord]:
        """Run the named stages (all when None) in dependency order."""
        return [self.run_stage(cls, force=force) for cls in ordered_stages(names)]

    def run_stage(self, stage_cls: type[Stage], force: bool = False) -> RunRecord:
        stage = stage_cls(self.config)
        missing = [t for t in stage.inputs if not self.store.exists(t)]
        if missing:
            raise MissingInputError(
                f"stage {stage.name!r} needs table(s) {missing}; run the stages that produce "
                "them first (or `realsyn run --all`)"
            )
        input_versions = {t: int(self.store.version(t)) for t in stage.inputs}  # type: ignore[arg-type]
        fingerprint = stage.external_fingerprint(self.spark)
        config_hash = self.config.section_hash(*stage.config_sections)
        record = RunRecord(
            run_id=uuid.uuid4().hex[:16],
            stage=stage.name,
            status="succeeded",
            config_hash=config_hash,
            input_versions=input_versions,
            input_fingerprint=fingerprint,
        )
        if not force:
            previous = self.last_success(stage.name)
            if previous is not None and self._up_to_date(stage, previous, record):
                self.progress.say(
                    f"stage {stage.name}: up to date (run {previous['run_id']}, same config "
                    "and inputs); skipping. Use --force to redo it."
                )
                record.status = "skipped"
                record.output_versions = dict(previous["output_versions"] or {})
                return record

        self.progress.say(f"stage {stage.name}: {stage.description}")
        started = time.monotonic()
        inputs = {t: self.store.read(t, input_versions[t]) for t in stage.inputs}
        stage.input_rows = {t: self.store.num_rows(t, input_versions[t]) for t in stage.inputs}
        inputs.update(stage.read_external(self.spark))
        output = stage.transform(self.spark, inputs)
        unexpected = set(output.tables) ^ set(stage.outputs)
        if unexpected:
            raise RuntimeError(
                f"stage {stage.name!r} returned tables {sorted(output.tables)}, declared "
                f"{list(stage.outputs)}"
            )
        staged: dict[str, StagedWrite] = {}
        committed: set[str] = set()
        try:
            for table in stage.outputs:
                with self.progress.step(self.spark, f"{stage.name}: writing {table}"):
                    staged[table] = self.store.stage(table, output.tables[table])
            record.accounting = self._account(stage, output, staged)
            meta = {"stage": stage.name, "run_id": record.run_id, "config_hash": config_hash}
            for table in stage.outputs:
                record.output_versions[table] = self.store.commit(staged[table], meta)
                committed.add(table)
                record.output_rows[table] = staged[table].num_rows
        except BaseException:
            for table, write in staged.items():
                if table not in committed:
                    self.store.abort(write)
            raise
        finally:
            for df in output.persisted:
                df.unpersist()
        record.duration_s = time.monotonic() - started
        self._write_record(record)
        self._report(record)
        return record

    def last_success(self, stage: str) -> dict | None:
        if not self.store.exists(RUNS_TABLE):
            return None
        row = (
            self.store.read(RUNS_TABLE)
            .filter((F.col("stage") == stage) & (F.col("status") == "succeeded"))
            .orderBy(F.col("started_at").desc())
            .limit(1)
            .first()
        )
        return row.asDict(recursive=True) if row else None

    # ------------------------------------------------------------------ internals

    def _up_to_date(self, stage: Stage, previous: dict, current: RunRecord) -> bool:
        if previous["config_hash"] != current.config_hash:
            return False
        if (previous["input_versions"] or {}) != current.input_versions:
            return False
        if previous["input_fingerprint"] != current.input_fingerprint:
            return False
        outputs_now = {t: self.store.version(t) for t in stage.outputs}
        return outputs_now == (previous["output_versions"] or {})

    def _account(
        self, stage: Stage, output: StageOutput, staged: dict[str, StagedWrite]
    ) -> list[EntityAccount]:
        accounts = []
        for acc in output.accounting:
            with self.progress.step(self.spark, f"{stage.name}: accounting for {acc.entity}"):
                rows_in = acc.rows_in.count()
                by_reason = {
                    row["reason"]: int(row["count"])
                    for row in self.store.read_staged(staged[acc.rejects_table])
                    .filter(F.col("entity") == acc.entity)
                    .groupBy("reason")
                    .count()
                    .collect()
                }
                kept = staged[acc.kept_table].num_rows
                if acc.kept_distinct:
                    kept = (
                        self.store.read_staged(staged[acc.kept_table])
                        .select(acc.kept_distinct)
                        .distinct()
                        .count()
                    )
            account = EntityAccount(acc.entity, rows_in, kept, by_reason)
            if account.rows_kept + account.rows_rejected != account.rows_in:
                raise AccountingError(
                    f"stage {stage.name!r}, entity {acc.entity!r}: {account.rows_in} rows in but "
                    f"{account.rows_kept} kept + {account.rows_rejected} rejected; refusing to "
                    "commit a silent drop"
                )
            accounts.append(account)
        return accounts

    def _write_record(self, record: RunRecord) -> None:
        df = self.spark.createDataFrame([record.as_row()], RUNS_SCHEMA)
        self.store.write(RUNS_TABLE, df, mode="append", metadata={"stage": record.stage})

    def _report(self, record: RunRecord) -> None:
        say: Callable[[str], None] = self.progress.say
        say(f"stage {record.stage}: finished in {record.duration_s:.1f}s (run {record.run_id})")
        for acc in record.accounting:
            reasons = ", ".join(f"{k}={v}" for k, v in sorted(acc.rejected_by_reason.items()))
            say(
                f"  {acc.entity}: in {acc.rows_in}, kept {acc.rows_kept}, rejected "
                f"{acc.rows_rejected}" + (f" ({reasons})" if reasons else "")
            )
        for table, version in record.output_versions.items():
            say(f"  {table}: version {version}, {record.output_rows.get(table, 0)} rows")
