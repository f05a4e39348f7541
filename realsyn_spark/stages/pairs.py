"""Stage ``pairs``: the realistic-text dataset, one row per image with its top-3 real
sentences in rank order, their scores and source documents. ``syn_text`` stays empty until
the generation stage exists.

``image_url``: the image's URL when it was fetched over http(s); for images from a local
HTML folder, a ``file://`` URL under the configured source folder; otherwise a stable
``realsyn-image:<image_id>`` reference to the ``images_deduped`` row.
"""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from realsyn_spark.stage import Accounting, Stage, StageOutput, register_stage
from realsyn_spark.tables import PAIRS_SCHEMA


@register_stage
class PairsStage(Stage):
    name = "pairs"
    description = "one row per image: top-3 retrieved real texts, scores and source docs"
    inputs = ("images_deduped", "retrievals", "sentences_deduped", "documents")
    outputs = ("pairs", "pairs_rejects")
    config_sections = ("retrieval", "ingest")

    def _local_roots(self) -> dict[str, str]:
        return {
            (src.name or f"source{i}"): str(Path(src.path).resolve())
            for i, src in enumerate(self.config.ingest.sources)
            if src.kind == "html_dir"
        }

    def transform(self, spark: SparkSession, inputs: dict[str, DataFrame]) -> StageOutput:
        images = inputs["images_deduped"]
        texts = inputs["retrievals"].join(
            inputs["sentences_deduped"].select("sentence_id", "text"), "sentence_id"
        )
        wide = (
            texts.groupBy("image_id")
            .pivot("rank", [1, 2, 3])
            .agg(
                F.first("text").alias("text"),
                F.first("score").alias("score"),
                F.first("doc_id").alias("doc_id"),
                F.first("sentence_id").alias("sentence_id"),
            )
        )
        roots = self._local_roots()
        root_map = F.create_map(*[F.lit(x) for kv in roots.items() for x in kv]) if roots else None
        source = inputs["documents"].select("doc_id", "source")
        located = images.select("image_id", "doc_id", "source_url").join(source, "doc_id", "left")
        root = root_map[F.col("source")] if root_map is not None else F.lit(None).cast("string")
        url = (
            F.when(F.col("source_url").rlike("^(?i)https?://"), F.col("source_url"))
            .when(
                root.isNotNull() & ~F.col("source_url").contains(":"),
                F.concat(F.lit("file://"), root, F.lit("/"), F.col("source_url")),
            )
            .otherwise(F.concat(F.lit("realsyn-image:"), F.col("image_id")))
        )
        columns = []
        for i in (1, 2, 3):
            for suffix in ("", "_score", "_doc_id", "_sentence_id"):
                columns.append(
                    F.col(f"{i}_{suffix.lstrip('_') or 'text'}").alias(f"text{i}{suffix}")
                )
        pairs = located.join(wide, "image_id").select(
            "image_id",
            url.alias("image_url"),
            F.col("doc_id").alias("image_doc_id"),
            *columns,
            F.lit(None).cast("string").alias("syn_text"),
        )
        missing = images.join(wide.select("image_id"), "image_id", "left_anti")
        rejects = self.rejects(
            missing,
            entity="image",
            record_id=F.col("image_id"),
            doc_id=F.col("doc_id"),
            reason=F.lit("no_texts_retrieved"),
            source=F.col("source_url"),
        )
        return StageOutput(
            {"pairs": pairs.select(*PAIRS_SCHEMA.fieldNames()), "pairs_rejects": rejects},
            [Accounting("image", images, "pairs", "pairs_rejects")],
        )
