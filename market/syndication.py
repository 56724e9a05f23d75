"""The VC syndication network: a weighted networkx graph of firms (edge weight = co-investments).

Pure helpers: add a syndicate, decay unused ties, compute centralities (fast at a few hundred nodes:
weighted degree, eigenvector by numpy on the largest component, betweenness from k sampled sources).
"""

from __future__ import annotations

from itertools import combinations

import networkx as nx
import numpy as np
from scipy.sparse.linalg import eigsh

BETWEENNESS_SAMPLES = 64


def add_syndicate(graph: nx.Graph, members) -> None:
    """Every pair of firms in one round gains 1 of tie weight."""
    for a, b in combinations(sorted(set(members)), 2):
        if graph.has_edge(a, b):
            graph[a][b]["weight"] += 1.0
        else:
            graph.add_edge(a, b, weight=1.0)


def decay_ties(graph: nx.Graph, factor: float, floor: float = 0.05) -> None:
    """Multiply every tie by `factor`; drop ties that fall below `floor`."""
    weak = []
    for a, b, data in graph.edges(data=True):
        data["weight"] *= factor
        if data["weight"] < floor:
            weak.append((a, b))
    graph.remove_edges_from(weak)


def centralities(graph: nx.Graph) -> dict[str, np.ndarray]:
    """Degree (weighted, normalised by the maximum) and eigenvector centrality per node (nodes are 0..n-1): the
    two the firms' decisions use (betweenness, which none uses, is `betweenness` below)."""
    n = graph.number_of_nodes()
    degree = np.array([graph.degree(i, weight="weight") for i in range(n)], dtype=float)
    degree = degree / degree.max() if degree.max() > 0 else degree
    eigen = np.zeros(n)
    if graph.number_of_edges() > 0:
        giant = graph.subgraph(max(nx.connected_components(graph), key=len))
        if giant.number_of_nodes() > 2:
            nodes = sorted(giant.nodes)
            adjacency = nx.to_scipy_sparse_array(giant, nodelist=nodes, weight="weight", dtype=float)
            # leading eigenvector of the symmetric weighted adjacency; a fixed start vector keeps it
            # bit-for-bit reproducible (networkx's numpy variant lets ARPACK start at random)
            _, vector = eigsh(adjacency, k=1, which="LA", v0=np.ones(len(nodes)))
            vector = np.abs(vector[:, 0])
            eigen[nodes] = vector / np.linalg.norm(vector)
    return {"degree": degree, "eigenvector": eigen}


def betweenness(graph: nx.Graph, seed: int) -> np.ndarray:
    """Betweenness centrality per node (nodes 0..n-1), estimated from `BETWEENNESS_SAMPLES` sampled sources."""
    n = graph.number_of_nodes()
    between = np.zeros(n)
    if graph.number_of_edges() > 0:
        for node, value in nx.betweenness_centrality(graph, k=min(BETWEENNESS_SAMPLES, n), seed=seed).items():
            between[node] = value
    return between


def information_advantage(eigenvector: np.ndarray, reputation: np.ndarray) -> np.ndarray:
    """In [0, 1]: the mean of a firm's eigenvector centrality and reputation, each scaled by its maximum."""
    scale = lambda x: x / x.max() if x.max() > 0 else np.zeros_like(x)  # noqa: E731
    return 0.5 * scale(eigenvector) + 0.5 * scale(reputation)
