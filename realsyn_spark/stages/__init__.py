"""Built-in stages; importing this package registers them (see realsyn_spark.stage)."""

from realsyn_spark.stages import ingest  # noqa: F401
