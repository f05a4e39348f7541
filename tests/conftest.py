"""One SparkSession for the whole suite, quiet logs, and config/fixture helpers."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
# Python workers must run this interpreter (the venv), not whatever python3 is on PATH.
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")

from realsyn_spark.config import PipelineConfig, load_config  # noqa: E402

TEST_JVM_FLAGS = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("realsyn-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "64")
        .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
        .config("spark.driver.extraJavaOptions", TEST_JVM_FLAGS)
        .config("spark.executor.extraJavaOptions", TEST_JVM_FLAGS)
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    logging.getLogger("SQLQueryContextLogger").setLevel(logging.ERROR)
    logging.getLogger("py4j").setLevel(logging.ERROR)
    yield session
    session.stop()


def make_config(tmp_path: Path, overrides: list[str] | None = None, **extra: Any) -> PipelineConfig:
    """The local profile pointed at a temporary Delta root, plus section overrides."""
    data: dict[str, Any] = {"storage": {"root": str(tmp_path / "delta"), "backend": "delta-rs"}}
    data.update(extra)
    return load_config("local", overrides, extra=data)


@pytest.fixture
def config_factory(tmp_path):
    def factory(overrides: list[str] | None = None, **extra: Any) -> PipelineConfig:
        return make_config(tmp_path, overrides, **extra)

    return factory
