"""Metrics as functions of summed per-item statistics: one formula per metric.

A family's metrics module defines `item_sums(record) -> {statistic: number}` (additive) and
`aggregate_sums(table, n) -> {metric: array}` over a `SumTable` whose rows are samples. The
family's `aggregate(records)` is that formula on one row (`aggregate_from_sums`), and the
bootstrap (medbench.scoring.stats) evaluates the same formula on every replicate at once — so a
metric and its confidence interval can never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np


class SumTable:
    """Summed per-item statistics, one row per sample (what `aggregate_sums` receives).

    `table[name]` is a (rows,) array (zeros for a statistic no item has);
    `table.group(prefix)` is (suffixes, (rows, k) array) for every statistic named
    `prefix + suffix`, columns sorted by suffix (per-label counts, e.g. "code_tp:I10").
    """

    def __init__(self, sums: np.ndarray, columns: dict[str, int], distinct: dict[str, np.ndarray] | None = None):
        self._sums, self._columns, self._distinct = sums, columns, distinct or {}

    def distinct(self, group: str) -> np.ndarray:
        """(rows,) number of distinct keys of `group` (an item's `item_sums()["__distinct__"]`)
        among the sample's items: a set-union size, not a sum."""
        v = self._distinct.get(group)
        return np.zeros(self._sums.shape[0]) if v is None else v

    def __getitem__(self, name: str) -> np.ndarray:
        k = self._columns.get(name)
        return np.zeros(self._sums.shape[0]) if k is None else self._sums[:, k]

    def __contains__(self, name: str) -> bool:
        return name in self._columns

    def group(self, prefix: str) -> tuple[list[str], np.ndarray]:
        names = sorted(n for n in self._columns if n.startswith(prefix))
        cols = [self._columns[n] for n in names]
        return [n[len(prefix):] for n in names], self._sums[:, cols]


def item_statistics(records: Sequence[dict], item_sums: Callable[[dict], dict]
                    ) -> tuple[dict[str, int], list[dict[str, float]]]:
    """(column index of every statistic, in first-seen order; each record's statistics).
    A record's `"__distinct__"` entry ({group: keys}) is not a statistic: see `distinct_keys`."""
    columns: dict[str, int] = {}
    per_item = []
    for r in records:
        stats = item_sums(r)
        stats.pop(DISTINCT, None)
        for name in stats:
            if name not in columns:
                columns[name] = len(columns)
        per_item.append(stats)
    return columns, per_item


DISTINCT = "__distinct__"


def distinct_keys(records: Sequence[dict], item_sums: Callable[[dict], dict]) -> dict[str, list[set]]:
    """{group: [each record's set of keys]} for the `"__distinct__"` groups of `item_sums`."""
    out: dict[str, list[set]] = {}
    for k, r in enumerate(records):
        for group, keys in (item_sums(r).get(DISTINCT) or {}).items():
            out.setdefault(group, [set() for _ in records])[k] = set(keys)
    return out


def aggregate_from_sums(records: Sequence[dict], item_sums: Callable[[dict], dict],
                        aggregate_sums: Callable[[SumTable, np.ndarray], dict]) -> dict[str, float]:
    """`aggregate(records)`: the metrics of one sample; a NaN metric (undefined here) is left out."""
    if not records:
        return {}
    columns, per_item = item_statistics(records, item_sums)
    totals = np.zeros((1, len(columns)), dtype=np.float64)
    for stats in per_item:
        for name, v in stats.items():
            totals[0, columns[name]] += v
    distinct = {g: np.array([float(len(set().union(*sets)))]) for g, sets in distinct_keys(records, item_sums).items()}
    table = SumTable(totals, columns, distinct)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = aggregate_sums(table, np.array([float(len(records))]))
    out = {}
    for name, v in values.items():
        x = float(np.asarray(v)[0])
        if not math.isnan(x):
            out[name] = x
    return out
