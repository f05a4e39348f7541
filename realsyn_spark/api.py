"""The pipeline as a Python object: what the CLI and the notebooks both use."""

from __future__ import annotations

import io
import json
import os
from functools import cached_property
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from realsyn_spark.config import PipelineConfig, load_config
from realsyn_spark.delta_store import TableStore
from realsyn_spark.runner import Progress, Runner, RunRecord
from realsyn_spark.session import get_spark


class Pipeline:
    def __init__(self, config: PipelineConfig, progress: Progress | None = None) -> None:
        self.config = config
        self.progress = progress or Progress()

    @classmethod
    def from_profile(
        cls, profile: str = "local", overrides: list[str] | None = None, **kwargs: Any
    ) -> Pipeline:
        return cls(load_config(profile, overrides), **kwargs)

    @classmethod
    def from_env(cls, **kwargs: Any) -> Pipeline:
        """Profile from $REALSYN_PROFILE (default local), overrides from $REALSYN_SET
        (``;``-separated KEY=VALUE): how notebooks and jobs pick their config."""
        overrides = [o for o in os.environ.get("REALSYN_SET", "").split(";") if o.strip()]
        return cls.from_profile(os.environ.get("REALSYN_PROFILE", "local"), overrides, **kwargs)

    @cached_property
    def spark(self) -> SparkSession:
        return get_spark(self.config.spark)

    @cached_property
    def store(self) -> TableStore:
        return TableStore(self.spark, self.config.storage.root, self.config.storage.backend)

    @property
    def runner(self) -> Runner:
        return Runner(self.spark, self.store, self.config, self.progress)

    def run(self, stages: list[str] | None = None, force: bool = False) -> list[RunRecord]:
        return self.runner.run(stages, force=force)

    # ------------------------------------------------------------------ exploring

    def tables(self) -> list[dict[str, Any]]:
        """One entry per Delta table: name, version, rows (from the log's stats)."""
        return [
            {"table": name, "version": self.store.version(name), "rows": self.store.num_rows(name)}
            for name in self.store.list_tables()
        ]

    def table(self, name: str, version: int | None = None) -> DataFrame:
        return self.store.read(name, version)

    def sql(self, query: str) -> DataFrame:
        """Run SQL with every pipeline table registered as a view of the same name."""
        from realsyn_spark.funnel import register_funnel_view

        names = self.store.register_views()
        if "runs" in names:
            register_funnel_view(self.spark)
        return self.spark.sql(query)

    def document(self, doc_id: str) -> dict[str, Any]:
        """One document with its kept images (PIL) in order, for display."""
        from PIL import Image

        doc = self.table("documents").filter(F.col("doc_id") == doc_id).first()
        if doc is None:
            raise KeyError(f"no document {doc_id!r}")
        images = {
            row["position"]: Image.open(io.BytesIO(row["bytes"]))
            for row in self.table("images").filter(F.col("doc_id") == doc_id).collect()
        }
        return {
            "doc_id": doc_id,
            "url": doc["url"],
            "title": json.loads(doc["general_metadata"] or "{}").get("title"),
            "items": [
                ("text", text) if text is not None else ("image", images.get(pos, image))
                for pos, (text, image) in enumerate(zip(doc["texts"], doc["images"], strict=True))
            ],
        }
