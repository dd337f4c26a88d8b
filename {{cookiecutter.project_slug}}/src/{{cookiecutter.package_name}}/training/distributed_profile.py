"""The reference profile's table part on Dask: every partition counted on the workers.

On the local engine the profile's features describe the holdout. On Dask they describe the
whole table, since counting it costs one pass on the workers and the counts add: each
partition is counted into the same numeric bins and per categorical level, the counts come
back (a few hundred numbers per feature, never rows) and are summed as they arrive. The
score distribution, performance and calibration stay the holdout's (`fit_profile`): the
model's scores on its own training rows would look better than production's.

The numeric bin edges are decided once, before the pass, from rows already in memory: the
validation and holdout slices the split brought to pandas (at random, a uniform sample of
the table; by time, its newest rows, those live data will look most like). Exact
quantiles of the whole table would cost a sort across the cluster or several passes, and
dask's approximate quantiles one more pass over the data only to place edges that need
not be exact: the outer bins are open-ended, so every row is counted wherever the edges
fall, and monitoring merges the fine bins into deciles by their counts
(`core.two_sample.quantile_groups`), which stay near equal-count. The summary quantiles are
the sample's. Given the same edges, the counts equal those of the whole table counted at
once (the test compares them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..core.contract import Contract, Feature
from ..core.histogram import numeric_values
from ..model.feature_profile import FeatureCounts, is_categorical, quantile_edges, summary_quantiles
from ..model.reference_profile import TableProfile, column_facts

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client


@dataclass(frozen=True)
class PartCounts:
    """One part of the table counted: its rows, its columns' dtype and kind, its features."""

    rows: int
    columns: Mapping[str, Mapping[str, str]]
    counts: FeatureCounts


def count_part(frame: pd.DataFrame, features: tuple[Feature, ...], edges: Mapping[str, np.ndarray]) -> PartCounts:
    return PartCounts(rows=len(frame), columns=column_facts(frame), counts=FeatureCounts.of(frame, features, edges))


def _columns(parts: Sequence[Mapping[str, Mapping[str, str]]]) -> dict[str, dict[str, str]]:
    """The table's columns as the first part names them; a column's kind is the first part's
    that holds a value (a part whose column is all null says "empty")."""
    found = {name: dict(facts) for name, facts in parts[0].items()}
    for name, facts in found.items():
        kinds = [part[name]["kind"] for part in parts if name in part]
        facts["kind"] = next((kind for kind in kinds if kind != "empty"), facts["kind"])
    return found


def sample_edges(sample: pd.DataFrame, contract: Contract) -> dict[str, np.ndarray]:
    """Each numeric feature's bin edges, from the rows in memory (see the module's docstring)."""
    return {
        feature.name: quantile_edges(numeric_values(sample[feature.name])[0])
        for feature in contract.features
        if not is_categorical(feature)
    }


def profile_partitions(
    parts: dd.DataFrame,
    contract: Contract,
    client: Client,
    sample: pd.DataFrame,
    in_memory: Sequence[pd.DataFrame] = (),
) -> TableProfile:
    """The table part of the reference profile of `parts` (counted on the workers) and of
    the frames `in_memory` (counted here), with the numeric bin edges of `sample`."""
    from dask.delayed import delayed
    from distributed import as_completed

    features = contract.features
    edges = sample_edges(sample, contract)
    quantiles = {name: summary_quantiles(numeric_values(sample[name])[0]) for name in edges}
    pieces = [count_part(frame, features, edges) for frame in in_memory]
    futures = client.compute([delayed(count_part)(part, features, edges) for part in parts.to_delayed()])
    order = {future.key: number for number, future in enumerate(futures)}
    columns: dict[int, Mapping[str, Mapping[str, str]]] = {}
    total = pieces[0].counts if pieces else None
    rows = sum(piece.rows for piece in pieces)
    # Summed as they arrive, each released once added: the client holds one running total.
    for future in as_completed(futures):
        part: PartCounts = future.result()
        columns[order[future.key]] = part.columns
        rows += part.rows
        total = part.counts if total is None else total.add(part.counts)
        future.release()
    assert total is not None  # a Dask frame has at least one partition
    for piece in pieces[1:]:
        total = total.add(piece.counts)
    ordered = [columns[number] for number in sorted(columns)] + [piece.columns for piece in pieces]
    return TableProfile(rows=rows, columns=_columns(ordered), features=total.profiles(features, edges, quantiles))
