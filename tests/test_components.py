"""Connected components: the Spark large-star/small-star method and the local method
against scipy computed directly, on random, star and long-chain graphs."""

from __future__ import annotations

import random

import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as scipy_components

from realsyn_spark.components import connected_components


def _graphs() -> dict[str, list[tuple[str, str]]]:
    rng = random.Random(7)
    random_edges = [
        (f"r{rng.randrange(400):04d}", f"r{rng.randrange(400):04d}") for _ in range(300)
    ]
    star = [("s0000", f"s{i:04d}") for i in range(1, 200)]
    # Long chains are the worst case for label propagation; ids shuffled so the chain
    # order does not follow the id order.
    ids = [f"c{i:04d}" for i in range(300)]
    rng.shuffle(ids)
    chain = [(ids[i], ids[i + 1]) for i in range(len(ids) - 1)]
    return {
        "random": random_edges,
        "star": star,
        "chain": chain,
        "mixed": random_edges[:50] + star[:30] + chain[:100],
    }


def _scipy_reference(edges):
    vertices = sorted({v for e in edges for v in e})
    index = {v: i for i, v in enumerate(vertices)}
    graph = coo_matrix(
        ([1] * len(edges), ([index[a] for a, _ in edges], [index[b] for _, b in edges])),
        shape=(len(vertices), len(vertices)),
    )
    _, labels = scipy_components(graph, directed=False)
    smallest = {}
    for v, label in zip(vertices, labels, strict=True):
        smallest.setdefault(label, v)
    return {v: smallest[label] for v, label in zip(vertices, labels, strict=True)}


@pytest.mark.parametrize("graph", ["random", "star", "chain", "mixed"])
@pytest.mark.parametrize("method", ["spark", "local"])
def test_components_match_scipy(spark, graph, method):
    edges = _graphs()[graph]
    df = spark.createDataFrame(edges, "src string, dst string")
    result = {r["id"]: r["component"] for r in connected_components(df, method).collect()}
    assert result == _scipy_reference(edges)


def test_auto_picks_local_under_the_limit_and_spark_above(spark):
    edges = _graphs()["mixed"]
    df = spark.createDataFrame(edges, "src string, dst string")
    expected = _scipy_reference(edges)
    for limit in (10_000, 10):
        result = connected_components(df, "auto", local_edge_limit=limit).collect()
        assert {r["id"]: r["component"] for r in result} == expected
    with pytest.raises(ValueError, match="local_edge_limit"):
        connected_components(df, "local", local_edge_limit=10).collect()


def test_empty_graph(spark):
    df = spark.createDataFrame([], "src string, dst string")
    assert connected_components(df, "local").count() == 0
    assert connected_components(df, "spark").count() == 0
