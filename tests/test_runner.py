"""The runner's guarantees, with small test-only stages (not registered globally)."""

from __future__ import annotations

import pytest
from conftest import make_config
from pyspark.sql import functions as F

from realsyn_spark.delta_store import TableStore
from realsyn_spark.runner import AccountingError, MissingInputError, Progress, Runner
from realsyn_spark.stage import Accounting, Stage, StageOutput, ordered_stages


class NumbersStage(Stage):
    name = "numbers"
    description = "source of 0..99"
    outputs = ("numbers", "numbers_rejects")
    config_sections = ("balance",)

    def read_external(self, spark):
        return {"raw": spark.range(100)}

    def transform(self, spark, inputs):
        raw = inputs["raw"]
        kept = raw.filter(F.col("id") % 10 != 0)
        rejects = self.rejects(
            raw.filter(F.col("id") % 10 == 0),
            entity="number",
            reason=F.lit("multiple_of_ten"),
            record_id=F.col("id"),
        )
        return StageOutput(
            {"numbers": kept, "numbers_rejects": rejects},
            [Accounting("number", raw, "numbers", "numbers_rejects")],
        )


class SquaresStage(Stage):
    name = "squares"
    description = "squares of numbers; fails on its second output when asked"
    inputs = ("numbers",)
    outputs = ("squares", "squares_rejects")
    fail = False
    drop_silently = False

    def transform(self, spark, inputs):
        numbers = inputs["numbers"]
        squares = numbers.select((F.col("id") * F.col("id")).alias("sq"))
        if self.drop_silently:
            squares = squares.limit(5)
        rejects = self.rejects(numbers.limit(0), entity="number", reason=F.lit("never"))
        if self.fail:
            rejects = rejects.withColumn(
                "detail",
                F.lit("x").cast("int").cast("string"),  # ANSI cast error at write time
            )
        return StageOutput(
            {"squares": squares, "squares_rejects": rejects},
            [Accounting("number", numbers, "squares", "squares_rejects")],
        )


@pytest.fixture
def runner(spark, tmp_path):
    config = make_config(tmp_path)
    store = TableStore(spark, config.storage.root, "delta-rs")
    return Runner(spark, store, config, Progress(quiet=True))


def test_accounting_is_recorded(runner):
    record = runner.run_stage(NumbersStage)
    (account,) = record.accounting
    assert (account.rows_in, account.rows_kept, account.rejected_by_reason) == (
        100,
        90,
        {"multiple_of_ten": 10},
    )


def test_a_stage_failing_midway_leaves_no_new_version(runner, monkeypatch):
    runner.run_stage(NumbersStage)
    runner.run_stage(SquaresStage)
    store = runner.store
    before = {t: store.version(t) for t in ("squares", "squares_rejects", "runs")}
    monkeypatch.setattr(SquaresStage, "fail", True)
    with pytest.raises(Exception, match="(?i)cast|invalid"):
        runner.run_stage(SquaresStage, force=True)
    assert {t: store.version(t) for t in ("squares", "squares_rejects", "runs")} == before


def test_a_silent_drop_is_refused_before_commit(runner, monkeypatch):
    runner.run_stage(NumbersStage)
    monkeypatch.setattr(SquaresStage, "drop_silently", True)
    with pytest.raises(AccountingError, match="90 rows in but 5 kept"):
        runner.run_stage(SquaresStage)
    assert not runner.store.exists("squares")


def test_missing_input_names_the_table(runner):
    with pytest.raises(MissingInputError, match=r"needs table\(s\) \['numbers'\]"):
        runner.run_stage(SquaresStage)


def test_skip_if_done_tracks_config_and_input_versions(runner, spark, tmp_path):
    runner.run_stage(NumbersStage)
    assert runner.run_stage(SquaresStage).status == "succeeded"
    assert runner.run_stage(SquaresStage).status == "skipped"
    # A new version of the input makes the stage stale.
    runner.run_stage(NumbersStage, force=True)
    assert runner.run_stage(SquaresStage).status == "succeeded"
    # A change in a section the stage depends on does too; other sections do not.
    other = Runner(
        spark,
        runner.store,
        make_config(tmp_path, ["text_clustering.iterations=3"]),
        Progress(quiet=True),
    )
    assert other.run_stage(NumbersStage).status == "skipped"
    changed = Runner(
        spark, runner.store, make_config(tmp_path, ["balance.seed=3"]), Progress(quiet=True)
    )
    assert changed.run_stage(NumbersStage).status == "succeeded"


def test_registered_stages_are_ordered_by_dependencies():
    names = [cls.name for cls in ordered_stages()]
    assert names[0] == "ingest"
    with pytest.raises(KeyError, match="unknown stage"):
        ordered_stages(["nope"])
