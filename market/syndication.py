"""The VC syndication network: a weighted networkx graph of firms (edge weight = co-investments).

Helpers: add a syndicate, decay unused ties, compute centralities (fast at a few hundred nodes: weighted degree,
eigenvector by scipy on the largest component, betweenness from k sampled sources). The graph is the record (the
dashboard draws it, betweenness walks it); a TieIndex keeps the same ties as (firms x firms) arrays, updated by the
same helpers, for what the monthly step reads many times: a lead's partners by strength, the adjacency for
eigenvector centrality, the yearly tie tables.
"""

from __future__ import annotations

from itertools import combinations

import networkx as nx
import numpy as np
import pandas as pd
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import eigsh

BETWEENNESS_SAMPLES = 64


class TieIndex:
    """The graph's ties as (n, n) arrays, kept in step with it by `add_ties`, `add_syndicate` and `decay_ties`, so
    that a firm's partners in order of tie strength cost one numpy sort instead of a Python sort of its adjacency.

    `weight[a, b]` is the tie weight (0 where there is no tie) and `formed[a, b]` when the tie formed, as a count
    of ties formed before it (-1 where there is none). networkx keeps a node's neighbours in the order their ties
    formed, so ordering by (-weight, formed) is exactly a stable sort of the adjacency by falling weight.
    """

    def __init__(self, n: int) -> None:
        self.weight = np.zeros((n, n))
        self.formed = np.full((n, n), -1, dtype=np.int64)
        self._ties_formed = 0

    def form(self, a: int, b: int, weight: float) -> None:
        self.weight[a, b] = self.weight[b, a] = weight
        self.formed[a, b] = self.formed[b, a] = self._ties_formed
        self._ties_formed += 1

    def strengthen(self, a: int, b: int, amount: float) -> None:
        self.weight[a, b] += amount
        self.weight[b, a] += amount

    def drop(self, a: int, b: int) -> None:
        self.weight[a, b] = self.weight[b, a] = 0.0
        self.formed[a, b] = self.formed[b, a] = -1

    def partners_by_strength(self, firm: int) -> np.ndarray:
        """`firm`'s partners, strongest tie first (ties of equal weight in the order they formed)."""
        partners = np.flatnonzero(self.formed[firm] >= 0)
        return partners[np.lexsort((self.formed[firm, partners], -self.weight[firm, partners]))]


def add_ties(graph: nx.Graph, index: TieIndex, edges, weight: float) -> None:
    """Ties of `weight` between each pair in `edges` not yet tied (a network's starting history)."""
    for a, b in edges:
        if not graph.has_edge(a, b):
            graph.add_edge(a, b, weight=weight)
            index.form(a, b, weight)


def add_syndicate(graph: nx.Graph, index: TieIndex, members) -> None:
    """Every pair of firms in one round gains 1 of tie weight."""
    for a, b in combinations(sorted(set(members)), 2):
        if graph.has_edge(a, b):
            graph[a][b]["weight"] += 1.0
            index.strengthen(a, b, 1.0)
        else:
            graph.add_edge(a, b, weight=1.0)
            index.form(a, b, 1.0)


def decay_ties(graph: nx.Graph, index: TieIndex, factor: float, floor: float = 0.05) -> None:
    """Multiply every tie by `factor`; drop ties that fall below `floor`."""
    weak = []
    for a, b, data in graph.edges(data=True):
        data["weight"] *= factor
        if data["weight"] < floor:
            weak.append((a, b))
    index.weight *= factor
    graph.remove_edges_from(weak)
    for a, b in weak:
        index.drop(a, b)


def centralities(graph: nx.Graph, index: TieIndex) -> dict[str, np.ndarray]:
    """Degree (weighted, normalised by the maximum) and eigenvector centrality per node (nodes are 0..n-1): the
    two the firms' decisions use (betweenness, which none uses, is `betweenness` below). `index` holds the same
    ties as arrays, from which the giant component's adjacency is taken."""
    n = graph.number_of_nodes()
    degree = np.array([graph.degree(i, weight="weight") for i in range(n)], dtype=float)
    degree = degree / degree.max() if degree.max() > 0 else degree
    eigen = np.zeros(n)
    tied = index.formed >= 0
    if tied.any():
        # the largest connected component (the first of equal size, counting from node 0, as networkx picks it)
        _, component = connected_components(csr_array(tied), directed=False)
        nodes = np.flatnonzero(component == np.bincount(component).argmax())
        if nodes.size > 2:
            adjacency = csr_array(index.weight[np.ix_(nodes, nodes)])
            # leading eigenvector of the symmetric weighted adjacency; a fixed start vector keeps it
            # bit-for-bit reproducible (networkx's numpy variant lets ARPACK start at random)
            _, vector = eigsh(adjacency, k=1, which="LA", v0=np.ones(nodes.size))
            vector = np.abs(vector[:, 0])
            eigen[nodes] = vector / np.linalg.norm(vector)
    return {"degree": degree, "eigenvector": eigen}


def edge_table(index: TieIndex) -> pd.DataFrame:
    """Every tie as (source, target, weight), source < target, in networkx's edge order (by source, then by when the
    tie formed): the table `nx.to_pandas_edgelist` gives for the graph `index` mirrors."""
    source, target = np.nonzero(np.triu(index.formed >= 0, 1))
    order = np.lexsort((index.formed[source, target], source))
    source, target = source[order], target[order]
    return pd.DataFrame({"source": source.astype(np.int64), "target": target.astype(np.int64),
                         "weight": index.weight[source, target]})


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
