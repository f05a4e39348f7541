"""Built-in stages; importing this package registers them (see realsyn_spark.stage)."""

from realsyn_spark.stages import (  # noqa: F401
    image_dedup,
    image_filter,
    ingest,
    sentence_dedup,
    sentence_quality,
    sentence_semantic,
)
