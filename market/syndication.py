"""The VC syndication network: firms tied by co-investment (tie weight = co-investments, decaying).

The network is held as (firms x firms) arrays (`Ties`): the monthly step reads a lead's partners by tie strength,
the adjacency for eigenvector centrality and the yearly tie tables from them. `Ties.graph()` builds the networkx
graph of the same ties when one is wanted (the dashboard draws it; sampled betweenness walks it), with each firm's
neighbours in the order their ties formed, as networkx would hold them had it been built tie by tie.
Centralities: weighted degree, eigenvector by scipy on the largest component, betweenness from k sampled sources.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import eigsh

BETWEENNESS_SAMPLES = 64


class Ties:
    """The network's ties among `n` firms (nodes 0..n-1).

    `weight[a, b]` is the tie weight (0 where there is no tie) and `formed[a, b]` when the tie formed, as a count
    of ties formed before it (-1 where there is none). Ordering a firm's partners by (-weight, formed) is a stable
    sort of its networkx adjacency by falling weight.
    """

    def __init__(self, n: int) -> None:
        self.weight = np.zeros((n, n))
        self.formed = np.full((n, n), -1, dtype=np.int64)
        self._ties_formed = 0
        self._by_strength: dict[int, np.ndarray] = {}  # partners_by_strength's answers until a firm's ties change

    def form(self, a: int, b: int, weight: float) -> None:
        self._by_strength.pop(a, None), self._by_strength.pop(b, None)
        self.weight[a, b] = self.weight[b, a] = weight
        self.formed[a, b] = self.formed[b, a] = self._ties_formed
        self._ties_formed += 1

    def strengthen(self, a: int, b: int, amount: float) -> None:
        self._by_strength.pop(a, None), self._by_strength.pop(b, None)
        self.weight[a, b] += amount
        self.weight[b, a] += amount

    def drop(self, a: int, b: int) -> None:
        self._by_strength.pop(a, None), self._by_strength.pop(b, None)
        self.weight[a, b] = self.weight[b, a] = 0.0
        self.formed[a, b] = self.formed[b, a] = -1

    def decay(self, factor: float, floor: float = 0.05) -> None:
        """Multiply every tie by `factor`; drop ties that fall below `floor`."""
        self.weight *= factor
        self._by_strength.clear()
        for a, b in zip(*np.nonzero(np.triu((self.formed >= 0) & (self.weight < floor), 1)), strict=True):
            self.drop(a, b)

    def copy(self) -> Ties:
        other = Ties(0)
        other.weight, other.formed, other._ties_formed = self.weight.copy(), self.formed.copy(), self._ties_formed
        other._by_strength = dict(self._by_strength)
        return other

    def partners(self, firm: int) -> np.ndarray:
        """`firm`'s partners in the order their ties formed."""
        partners = np.flatnonzero(self.formed[firm] >= 0)
        return partners[np.argsort(self.formed[firm, partners])]

    def partners_by_strength(self, firm: int) -> np.ndarray:
        """`firm`'s partners, strongest tie first (ties of equal weight in the order they formed). The array is kept
        until one of the firm's ties changes: do not modify it."""
        known = self._by_strength.get(firm)
        if known is None:
            formed, weight = self.formed[firm], self.weight[firm]  # the firm's rows: 1-D indexing costs less
            partners = (formed >= 0).nonzero()[0]
            known = partners[np.lexsort((formed[partners], -weight[partners]))]
            self._by_strength[firm] = known
        return known

    def add_syndicates(self, round_of: np.ndarray, firm: np.ndarray) -> None:
        """Every pair of firms in one round gains 1 of tie weight, for the rounds of a batch (firms listed by round,
        `round_of` increasing): pairs not tied form in the order `syndicate_pairs` lists them, as round after round
        would form them."""
        a, b = syndicate_pairs(np.asarray(round_of), np.asarray(firm))
        if a.size == 0:
            return
        new = self.formed[a, b] < 0
        _, first = np.unique(a[new] * self.formed.shape[0] + b[new], return_index=True)
        first = np.sort(first)  # each new tie at its first pair, in order
        fa, fb = a[new][first], b[new][first]
        self.formed[fa, fb] = self.formed[fb, fa] = self._ties_formed + np.arange(first.size)
        self._ties_formed += first.size
        np.add.at(self.weight, (a, b), 1.0)
        np.add.at(self.weight, (b, a), 1.0)
        for changed in np.unique(np.concatenate([a, b])).tolist():
            self._by_strength.pop(changed, None)

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """(source, target) of every tie, source < target, in networkx's edge order: by source, then by when the tie
        formed."""
        source, target = np.nonzero(np.triu(self.formed >= 0, 1))
        order = np.lexsort((self.formed[source, target], source))
        return source[order], target[order]

    def graph(self) -> nx.Graph:
        """The ties as a networkx graph with "weight" on each edge, built anew (changing it changes nothing here)."""
        graph = nx.Graph()
        graph.add_nodes_from(range(self.weight.shape[0]))
        source, target = np.nonzero(np.triu(self.formed >= 0, 1))
        order = np.argsort(self.formed[source, target])  # ties in the order they formed: so is each adjacency
        source, target = source[order], target[order]
        graph.add_weighted_edges_from(zip(source.tolist(), target.tolist(), self.weight[source, target].tolist(),
                                          strict=True))
        return graph


def add_ties(ties: Ties, edges, weight: float) -> None:
    """Ties of `weight` between each pair in `edges` not yet tied (a network's starting history)."""
    for a, b in edges:
        if ties.formed[a, b] < 0:
            ties.form(a, b, weight)


def syndicate_pairs(round_of: np.ndarray, firm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a, b), a < b: every pair of distinct firms in the same round, for firms listed by round (`round_of`,
    increasing, with repeats), rounds in order and each round's pairs in `itertools.combinations` order of its
    sorted members."""
    span = int(firm.max()) + 1 if firm.size else 1
    members = np.unique(round_of * span + firm)  # (round, firm) pairs sorted, without repeats
    rounds, firms = members // span, members % span
    a, b, at = [], [], []
    for gap in range(1, int(np.bincount(rounds).max()) if rounds.size else 0):
        same = rounds[gap:] == rounds[:-gap]
        a.append(firms[:-gap][same]), b.append(firms[gap:][same]), at.append(np.flatnonzero(same))
    if not a:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    a, b, at = np.concatenate(a), np.concatenate(b), np.concatenate(at)
    order = np.lexsort((b, at))  # by the first member's place (round, then firm), then the second firm
    return a[order], b[order]


def centralities(ties: Ties) -> dict[str, np.ndarray]:
    """Degree (weighted, normalised by the maximum) and eigenvector centrality per node: the two the firms'
    decisions use (betweenness, which none uses, is `betweenness` below)."""
    n = ties.weight.shape[0]
    # a firm's weighted degree, added in the order its ties formed (networkx's order, so the same sum to the bit)
    degree = np.array([sum(ties.weight[i, ties.partners(i)].tolist()) for i in range(n)], dtype=float)
    degree = degree / degree.max() if degree.max() > 0 else degree
    eigen = np.zeros(n)
    tied = ties.formed >= 0
    if tied.any():
        # the largest connected component (the first of equal size, counting from node 0, as networkx picks it)
        _, component = connected_components(csr_array(tied), directed=False)
        nodes = np.flatnonzero(component == np.bincount(component).argmax())
        if nodes.size > 2:
            adjacency = csr_array(ties.weight[np.ix_(nodes, nodes)])
            # leading eigenvector of the symmetric weighted adjacency; a fixed start vector keeps it
            # bit-for-bit reproducible (networkx's numpy variant lets ARPACK start at random)
            _, vector = eigsh(adjacency, k=1, which="LA", v0=np.ones(nodes.size))
            vector = np.abs(vector[:, 0])
            eigen[nodes] = vector / np.linalg.norm(vector)
    return {"degree": degree, "eigenvector": eigen}


def edge_table(ties: Ties) -> pd.DataFrame:
    """Every tie as (source, target, weight), source < target, in networkx's edge order: the table
    `nx.to_pandas_edgelist(ties.graph())` gives."""
    source, target = ties.edges()
    return pd.DataFrame({"source": source.astype(np.int64), "target": target.astype(np.int64),
                         "weight": ties.weight[source, target]})


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
