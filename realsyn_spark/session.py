"""The one place a SparkSession is obtained.

Embedded (``realsyn`` / ``python -m realsyn_spark`` on a laptop or CI): we build a
``local[*]`` session from the profile's ``spark`` section. Under spark-submit, on
Databricks, or in a notebook with a live session, the session already belongs to the
cluster: we take it and only fill in profile settings the cluster left unset.
"""

from __future__ import annotations

import logging
import os
import sys

from pyspark.sql import SparkSession

from realsyn_spark.config import SparkConfig

log = logging.getLogger(__name__)

# Settings every embedded session needs regardless of profile.
EMBEDDED_DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # No _SUCCESS marker files inside Delta table folders.
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
    "spark.ui.showConsoleProgress": "false",
}


def launched_by_cluster() -> bool:
    """True under spark-submit (it opens the Py4J gateway for us) or on Databricks."""
    return bool(
        os.environ.get("PYSPARK_GATEWAY_PORT") or os.environ.get("DATABRICKS_RUNTIME_VERSION")
    )


def get_spark(config: SparkConfig) -> SparkSession:
    active = SparkSession.getActiveSession()
    batch = str(config.arrow_max_records_per_batch)
    if active is not None or launched_by_cluster():
        spark = active or SparkSession.builder.getOrCreate()
        for key, value in {
            **config.conf,
            "spark.sql.execution.arrow.maxRecordsPerBatch": batch,
        }.items():
            if spark.conf.get(key, None) is None:
                try:
                    spark.conf.set(key, value)
                except Exception:  # noqa: BLE001 - static confs cannot be set at runtime
                    log.debug("not setting static conf %s on a running session", key)
        return spark
    builder = SparkSession.builder.master(config.master).appName(config.app_name)
    settings = {
        **EMBEDDED_DEFAULTS,
        "spark.sql.execution.arrow.maxRecordsPerBatch": batch,
        **config.conf,
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Workers must run this interpreter (the one with our packages), not python3 on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("REALSYN_SPARK_LOG_LEVEL", "ERROR"))
    logging.getLogger("py4j").setLevel(logging.WARNING)
    return spark
