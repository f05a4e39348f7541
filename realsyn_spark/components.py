"""Connected components of a duplicate graph, three interchangeable ways.

* ``graphframes`` - GraphFrames' ``connectedComponents`` when its jar is on the classpath
  (clusters: ``--packages io.graphframes:graphframes-spark4_2.13:0.10.0`` plus the
  ``graphframes-py`` Python package).
* ``local`` - edges collected to the driver and solved with scipy, when there are at most
  ``local_edge_limit`` of them (duplicate graphs are usually tiny next to the corpus).
* ``spark`` - large-star / small-star (Kiveris et al., "Connected Components in MapReduce
  and Beyond", SoCC 2014) on DataFrames, with the plan cut every round so it does not grow.

All return ``(id, component)`` for every vertex that appears in an edge, with ``component``
the smallest vertex id of its component, so the methods give identical rows.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

log = logging.getLogger(__name__)

COMPONENTS_SCHEMA = "id string, component string"


def graphframes_available(spark: SparkSession) -> bool:
    try:
        jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
        jvm.java.lang.Class.forName("org.graphframes.GraphFrame")
        import graphframes  # noqa: F401

        return True
    except Exception:  # noqa: BLE001 - jar or Python package missing
        return False


def connected_components(
    edges: DataFrame,
    method: str = "auto",
    local_edge_limit: int = 5_000_000,
    max_iterations: int = 100,
) -> DataFrame:
    """Components of the undirected graph ``edges(src string, dst string)``."""
    spark = edges.sparkSession
    edges = edges.select(F.col("src").cast("string"), F.col("dst").cast("string"))
    if method == "auto":
        if graphframes_available(spark):
            method = "graphframes"
        else:
            method = "local" if edges.count() <= local_edge_limit else "spark"
    if method == "local":
        return _local_components(spark, edges, local_edge_limit)
    if method == "graphframes":
        return _graphframes_components(spark, edges)
    if method == "spark":
        return _star_components(edges, max_iterations)
    raise ValueError(f"unknown components method {method!r}")


def _local_components(spark: SparkSession, edges: DataFrame, limit: int) -> DataFrame:
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components as scipy_components

    rows = edges.limit(limit + 1).collect()
    if len(rows) > limit:
        raise ValueError(
            f"{len(rows)}+ edges exceed components.local_edge_limit={limit}; use method spark"
        )
    if not rows:
        return spark.createDataFrame([], COMPONENTS_SCHEMA)
    vertices = sorted({v for row in rows for v in (row[0], row[1])})
    index = {v: i for i, v in enumerate(vertices)}
    src = np.array([index[r[0]] for r in rows])
    dst = np.array([index[r[1]] for r in rows])
    graph = coo_matrix((np.ones(len(rows)), (src, dst)), shape=(len(vertices), len(vertices)))
    _, labels = scipy_components(graph, directed=False)
    smallest: dict[int, str] = {}
    for vertex, label in zip(vertices, labels, strict=True):  # vertices are sorted
        smallest.setdefault(int(label), vertex)
    result = [(v, smallest[int(label)]) for v, label in zip(vertices, labels, strict=True)]
    return spark.createDataFrame(result, COMPONENTS_SCHEMA)


def _graphframes_components(spark: SparkSession, edges: DataFrame) -> DataFrame:
    from graphframes import GraphFrame

    if not spark.sparkContext.getCheckpointDir():
        raise RuntimeError("GraphFrames connectedComponents needs sparkContext.setCheckpointDir")
    vertices = (
        edges.select(F.col("src").alias("id")).union(edges.select(F.col("dst").alias("id")))
    ).distinct()
    result = GraphFrame(vertices, edges).connectedComponents()
    # GraphFrames labels components with a long; relabel with the smallest member id.
    smallest = result.groupBy("component").agg(F.min("id").alias("smallest"))
    return result.join(smallest, "component").select(
        F.col("id"), F.col("smallest").alias("component")
    )


def _cut(df: DataFrame) -> DataFrame:
    # Cuts the lineage each round; iterative joins would otherwise grow the plan without bound.
    return df.localCheckpoint(eager=True)


def _large_star(edges: DataFrame) -> DataFrame:
    """Each vertex u links its larger neighbours to min(N(u) ∪ {u})."""
    both = edges.union(edges.select(F.col("dst").alias("src"), F.col("src").alias("dst")))
    smallest = both.groupBy("src").agg(F.least(F.min("dst"), F.col("src")).alias("m"))
    return (
        both.join(smallest, "src")
        .filter(F.col("dst") > F.col("src"))
        .select(F.col("dst").alias("src"), F.col("m").alias("dst"))
        .distinct()
    )


def _small_star(edges: DataFrame) -> DataFrame:
    """Each vertex u links itself and its smaller neighbours to min(smaller N(u) ∪ {u})."""
    oriented = edges.select(
        F.greatest("src", "dst").alias("src"), F.least("src", "dst").alias("dst")
    ).filter(F.col("src") != F.col("dst"))
    smallest = oriented.groupBy("src").agg(F.least(F.min("dst"), F.col("src")).alias("m"))
    members = oriented.join(smallest, "src").select(F.col("dst").alias("v"), "m")
    centres = smallest.select(F.col("src").alias("v"), "m")
    return (
        members.union(centres)
        .filter(F.col("v") != F.col("m"))
        .select(F.col("v").alias("src"), F.col("m").alias("dst"))
        .distinct()
    )


def _star_components(edges: DataFrame, max_iterations: int) -> DataFrame:
    current = _cut(edges.filter(F.col("src") != F.col("dst")).distinct())
    vertices = edges.select(F.col("src").alias("id")).union(edges.select(F.col("dst").alias("id")))
    for iteration in range(max_iterations):
        updated = _cut(_small_star(_large_star(current)))
        changed = not (
            updated.exceptAll(current).isEmpty() and current.exceptAll(updated).isEmpty()
        )
        current = updated
        if not changed:
            log.info("large-star/small-star converged after %d rounds", iteration + 1)
            break
    else:
        raise RuntimeError(f"connected components did not converge in {max_iterations} rounds")
    # Converged: every edge is (member, root) with root the component's smallest id.
    roots = current.groupBy("src").agg(F.min("dst").alias("component"))
    result = (
        vertices.distinct()
        .join(roots, vertices["id"] == roots["src"], "left")
        .select("id", F.coalesce("component", "id").alias("component"))
    )
    return result
