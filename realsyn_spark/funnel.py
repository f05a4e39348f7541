"""The data funnel: rows in / kept / rejected per reason at each step, as in the paper.

Built from the ``runs`` table (the latest successful run of each stage), so it is exactly
what the stages accounted for when they committed, and it reconciles with the tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from realsyn_spark.delta_store import TableStore

# (chain, stage, entity, the paper's name for the step, paper in -> out)
FUNNEL_STEPS: list[tuple[str, str, str, str, str]] = [
    ("images", "ingest", "image", "image extraction", "118M docs -> 336M"),
    ("images", "image_filter", "image", "image quality filter", "336M -> 285M"),
    ("images", "image_dedup", "image", "image dedup (exact + perceptual)", "285M -> 198M"),
    ("images", "image_semantic_dedup", "image", "image dedup (semantic)", "(in the above)"),
    ("sentences", "sentence_quality", "sentence", "sentence quality filter", "2.13B -> 1.82B"),
    ("sentences", "sentence_semantic", "sentence", "sentence semantic filter", "1.82B -> 1.16B"),
    ("sentences", "sentence_dedup", "sentence", "sentence dedup (exact)", "1.16B -> 0.84B"),
    (
        "sentences",
        "sentence_semantic_dedup",
        "sentence",
        "sentence dedup (semantic)",
        "(in the above)",
    ),
]

FUNNEL_VIEW_SQL = """
CREATE OR REPLACE TEMP VIEW funnel AS
SELECT r.stage, a.entity, a.rows_in, a.rows_kept, a.rows_rejected, a.rejected_by_reason,
       r.run_id, r.started_at
FROM (
  SELECT *, row_number() OVER (PARTITION BY stage ORDER BY started_at DESC) AS recency
  FROM runs WHERE status = 'succeeded'
) r
LATERAL VIEW explode(accounting) t AS a
WHERE r.recency = 1
"""


@dataclass
class FunnelStep:
    chain: str
    stage: str
    entity: str
    label: str
    paper: str
    rows_in: int
    rows_kept: int
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected_by_reason.values())


def register_funnel_view(spark: SparkSession) -> None:
    """Needs the ``runs`` view (TableStore.register_views) to exist."""
    spark.sql(FUNNEL_VIEW_SQL)


def funnel(store: TableStore) -> list[FunnelStep]:
    if not store.exists("runs"):
        return []
    store.register_views(["runs"])
    register_funnel_view(store.spark)
    # One row per (stage, entity): bounded by the number of stages, not the corpus.
    rows = {(r["stage"], r["entity"]): r for r in store.spark.table("funnel").collect()}
    steps = []
    for chain, stage, entity, label, paper in FUNNEL_STEPS:
        row = rows.get((stage, entity))
        if row is None:
            continue
        steps.append(
            FunnelStep(
                chain,
                stage,
                entity,
                label,
                paper,
                int(row["rows_in"]),
                int(row["rows_kept"]),
                dict(row["rejected_by_reason"] or {}),
            )
        )
    return steps


def plot_funnel(steps: list[FunnelStep], path: str) -> None:
    """A PNG: one panel per chain (images, sentences), kept vs rejected bars per step, and
    the rejection reasons stacked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chains = [c for c in ("images", "sentences") if any(s.chain == c for s in steps)]
    if not chains:
        raise ValueError("no finished stages to plot; run the pipeline first")
    fig, axes = plt.subplots(len(chains), 1, figsize=(11, 3.2 * len(chains)), squeeze=False)
    for ax, chain in zip(axes[:, 0], chains, strict=True):
        chain_steps = [s for s in steps if s.chain == chain]
        labels = [f"{s.label}\n(paper {s.paper})" for s in chain_steps]
        ys = list(range(len(chain_steps)))[::-1]
        ax.barh(ys, [s.rows_kept for s in chain_steps], color="#3b7dd8", label="kept")
        left = [s.rows_kept for s in chain_steps]
        reasons = sorted({r for s in chain_steps for r in s.rejected_by_reason})
        palette = plt.get_cmap("tab20")
        for i, reason in enumerate(reasons):
            widths = [s.rejected_by_reason.get(reason, 0) for s in chain_steps]
            ax.barh(ys, widths, left=left, color=palette(i % 20), label=reason)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        for y, s in zip(ys, chain_steps, strict=True):
            ax.text(s.rows_in, y, f" {s.rows_in:,} -> {s.rows_kept:,}", va="center", fontsize=8)
        ax.set_yticks(ys, labels, fontsize=8)
        ax.set_title(f"{chain}: rows kept and rejected per step")
        ax.legend(fontsize=7, loc="lower right", ncol=2)
        ax.set_xlim(0, max(s.rows_in for s in chain_steps) * 1.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
