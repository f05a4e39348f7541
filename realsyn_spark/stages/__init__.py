"""Built-in stages; importing this package registers them (see realsyn_spark.stage)."""

from realsyn_spark.stages import (  # noqa: F401
    image_dedup,
    image_embedding,
    image_filter,
    image_semantic_dedup,
    ingest,
    pairs,
    retrieval,
    sentence_dedup,
    sentence_embedding,
    sentence_quality,
    sentence_semantic,
    sentence_semantic_dedup,
    text_clustering,
)
