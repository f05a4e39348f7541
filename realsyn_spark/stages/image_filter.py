"""Stage ``image_filter``: ``images`` -> ``images_filtered`` (RealSyn step 2).

Drops images whose short side is under ``min_side_px`` or whose aspect ratio is outside
[1/max, max] (both bounds kept). Bytes are decoded again, defensively: whatever ingest
let through, a bomb or a truncated file becomes a rejects row here, never a task failure.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from realsyn_spark.stage import Accounting, Stage, StageOutput, register_stage
from realsyn_spark.tables import IMAGES_FILTERED_SCHEMA

CHECKED_SCHEMA = T.StructType(
    [*IMAGES_FILTERED_SCHEMA.fields]
    + [
        T.StructField("reject_reason", T.StringType()),
        T.StructField("reject_detail", T.StringType()),
    ]
)


def check_images(
    batches: Iterator[pd.DataFrame], min_side: int, max_aspect: float, max_pixels: int
) -> Iterator[pd.DataFrame]:
    from PIL import Image

    from realsyn_spark.image_decode import ImageRejected, probe_image
    from realsyn_spark.image_quality import size_reject_reason

    for batch in batches:
        modes, widths, heights, reasons, details = [], [], [], [], []
        for data in batch["bytes"]:
            mode = reason = detail = None
            width = height = None
            try:
                info = probe_image(bytes(data), max_pixels)
                width, height = info.width, info.height
                with Image.open(io.BytesIO(data)) as image:
                    mode = image.mode
                reason = size_reject_reason(width, height, min_side, max_aspect)
                if reason:
                    detail = f"{width}x{height}"
            except ImageRejected as exc:
                reason, detail = exc.reason, exc.detail
            modes.append(mode)
            widths.append(width)
            heights.append(height)
            reasons.append(reason)
            details.append(detail)
        batch = batch.assign(
            width=pd.array(widths, dtype="Int32"),
            height=pd.array(heights, dtype="Int32"),
            mode=modes,
            reject_reason=reasons,
            reject_detail=details,
        )
        yield batch[CHECKED_SCHEMA.fieldNames()]


@register_stage
class ImageFilterStage(Stage):
    name = "image_filter"
    description = "drop images with a short side < min_side_px or an extreme aspect ratio"
    inputs = ("images",)
    outputs = ("images_filtered", "image_filter_rejects")
    config_sections = ("image_filter", "ingest")

    def transform(self, spark: SparkSession, inputs: dict[str, DataFrame]) -> StageOutput:
        cfg = self.config.image_filter
        max_pixels = self.config.ingest.max_image_pixels
        images = inputs["images"]
        checked = (
            self.spread(images, "images")
            .withColumn("mode", F.lit(None).cast("string"))
            .select(*IMAGES_FILTERED_SCHEMA.fieldNames())
            .mapInPandas(
                lambda it: check_images(it, cfg.min_side_px, cfg.max_aspect_ratio, max_pixels),
                CHECKED_SCHEMA,
            )
            .persist(StorageLevel.DISK_ONLY)
        )
        kept, rejects = self.split_verdicts(
            checked,
            IMAGES_FILTERED_SCHEMA.fieldNames(),
            entity="image",
            record_id=F.col("image_id"),
            source=F.col("source_url"),
        )
        return StageOutput(
            {"images_filtered": kept, "image_filter_rejects": rejects},
            [Accounting("image", images, "images_filtered", "image_filter_rejects")],
            persisted=[checked],
        )
