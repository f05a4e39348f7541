"""The stage contract.

A stage is a small class that declares what it reads, what it writes and which config
sections it depends on; its :meth:`Stage.transform` takes DataFrames and returns
DataFrames, with no table I/O. The :mod:`realsyn_spark.runner` does the reading, writing,
row accounting, run records and skip-if-done for every stage in one place.

Every stage that drops rows also writes ``<stage>_rejects`` (schema
:data:`realsyn_spark.tables.REJECTS_SCHEMA`) and declares an :class:`Accounting` per
entity, so the runner can prove ``rows in = rows kept + rows rejected`` before it commits.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from realsyn_spark.config import PipelineConfig


@dataclass
class Accounting:
    """How one entity's rows must add up: ``count(rows_in) = kept + rejected``."""

    entity: str
    rows_in: DataFrame
    kept_table: str
    # Rejects of this entity are the rows of the stage's rejects table with this entity.
    rejects_table: str
    # When the kept table has several rows per entity (e.g. k retrievals per image):
    # count distinct values of this column instead of rows.
    kept_distinct: str | None = None


@dataclass
class StageOutput:
    tables: dict[str, DataFrame]
    accounting: list[Accounting] = field(default_factory=list)
    # DataFrames the stage persisted (e.g. fetched images): released after commit.
    persisted: list[DataFrame] = field(default_factory=list)


class Stage(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    inputs: ClassVar[tuple[str, ...]] = ()
    outputs: ClassVar[tuple[str, ...]] = ()
    config_sections: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        # Row counts of the input tables (from the Delta log), set by the runner.
        self.input_rows: dict[str, int] = {}

    @property
    def rejects_table(self) -> str:
        return f"{self.name}_rejects"

    def read_external(self, spark: SparkSession) -> dict[str, DataFrame]:
        """Source stages read files outside the table store here (the runner calls it)."""
        return {}

    def external_fingerprint(self, spark: SparkSession) -> str | None:
        """Identity of external inputs (file listing hash), for skip-if-done."""
        return None

    @abstractmethod
    def transform(self, spark: SparkSession, inputs: dict[str, DataFrame]) -> StageOutput:
        """DataFrames in, DataFrames out (one per name in ``outputs``); no table I/O."""

    # ------------------------------------------------------------------ helpers

    def spread(self, df: DataFrame, table: str) -> DataFrame:
        """Repartition a model stage's input so every core gets work.

        Small Delta tables come back as one or two partitions; a model UDF over them would
        run on one core. Aim for ``spark.model_task_rows`` rows per task, and at least one
        task per core.
        """
        rows = self.input_rows.get(table, 0)
        cores = df.sparkSession.sparkContext.defaultParallelism
        wanted = max(cores, -(-rows // self.config.spark.model_task_rows))
        if wanted > df.rdd.getNumPartitions():
            return df.repartition(wanted)
        return df

    def split_verdicts(
        self,
        scored: DataFrame,
        kept_columns: list[str],
        *,
        entity: str,
        record_id: Column,
        source: Column,
        position: Column | None = None,
    ) -> tuple[DataFrame, DataFrame]:
        """Scored rows carry ``reject_reason`` / ``reject_detail`` (null reason = kept): the
        kept rows with ``kept_columns``, and the rest shaped as rejects."""
        kept = scored.filter(F.col("reject_reason").isNull()).select(*kept_columns)
        rejects = self.rejects(
            scored.filter(F.col("reject_reason").isNotNull()),
            entity=entity,
            record_id=record_id,
            doc_id=F.col("doc_id"),
            position=position if position is not None else F.col("position"),
            reason=F.col("reject_reason"),
            detail=F.col("reject_detail"),
            source=source,
        )
        return kept, rejects

    def rejects(
        self,
        df: DataFrame,
        *,
        entity: str,
        reason: Column,
        record_id: Column | None = None,
        doc_id: Column | None = None,
        position: Column | None = None,
        detail: Column | None = None,
        source: Column | None = None,
    ) -> DataFrame:
        """Shape rejected rows into the common rejects schema."""

        def or_null(col: Column | None, dtype: str) -> Column:
            return (col if col is not None else F.lit(None)).cast(dtype)

        return df.select(
            F.lit(self.name).alias("stage"),
            F.lit(entity).alias("entity"),
            or_null(record_id, "string").alias("record_id"),
            or_null(doc_id, "string").alias("doc_id"),
            or_null(position, "int").alias("position"),
            reason.cast("string").alias("reason"),
            or_null(detail, "string").alias("detail"),
            or_null(source, "string").alias("source"),
        )


STAGES: dict[str, type[Stage]] = {}


def register_stage(cls: type[Stage]) -> type[Stage]:
    if cls.name in STAGES and STAGES[cls.name] is not cls:
        raise ValueError(f"stage {cls.name!r} registered twice")
    STAGES[cls.name] = cls
    return cls


def ordered_stages(names: list[str] | None = None) -> list[type[Stage]]:
    """Stages in dependency order (a stage after the stages producing its inputs)."""
    import realsyn_spark.stages  # noqa: F401 - registers the built-in stages

    if names:
        unknown = [n for n in names if n not in STAGES]
        if unknown:
            raise KeyError(f"unknown stage {unknown[0]!r} (stages: {', '.join(STAGES)})")
    producers = {out: cls for cls in STAGES.values() for out in cls.outputs}
    order: list[type[Stage]] = []
    visiting: set[str] = set()

    def visit(cls: type[Stage]) -> None:
        if cls in order:
            return
        if cls.name in visiting:
            raise ValueError(f"stage dependency cycle through {cls.name!r}")
        visiting.add(cls.name)
        for table in cls.inputs:
            if table in producers:
                visit(producers[table])
        visiting.discard(cls.name)
        order.append(cls)

    for cls in STAGES.values():
        visit(cls)
    if names:
        return [cls for cls in order if cls.name in names]
    return order
