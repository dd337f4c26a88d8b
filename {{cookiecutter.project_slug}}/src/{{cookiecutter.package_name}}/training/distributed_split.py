"""The split on Dask: validation and holdout rows come to pandas, the training rows stay on
the cluster.

The holdout and validation slices are a small share of the table, and every step after
fitting (threshold, metrics, ONNX parity, reference profile, gate) reads them in memory
exactly as on the local engine. By time: the cuts are the timestamps at the ranks the
shares ask for, found exactly without gathering the column: a histogram of the timestamps
(counts add across partitions) finds the bin each cut falls in, and only that bin's values
come back to be sorted. Rows at the cut's very timestamp all go to the earlier slice.
At random: each row draws a number from a generator seeded by the seed and its partition's
number, so the same partitions and seed give the same split (not
stratified, unlike the local engine's: at the sizes Dask is for, each class's share is
close to the table's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core.contract import Contract
from ..errors import DataError
from .split import MIN_ROWS, SplitMethod, split_method

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

DRAW = "__split_draw"


@dataclass(frozen=True)
class DaskSplit:
    """Training rows on Dask (target as codes), validation and holdout rows in pandas."""

    train: dd.DataFrame
    valid: pd.DataFrame
    holdout: pd.DataFrame
    train_rows: int
    class_counts: np.ndarray  # training rows per class code (classification), empty for regression
    method: SplitMethod
    description: str

    def sizes(self) -> dict[str, int]:
        return {"train_rows": self.train_rows, "valid_rows": len(self.valid), "holdout_rows": len(self.holdout)}


def _with_draw(part: pd.DataFrame, seed: int, partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    number = 0 if partition_info is None else int(partition_info["number"])
    draws = np.random.default_rng([seed, number]).random(len(part))
    return part.assign(**{DRAW: draws})


def _time_order(frame: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    keys = [contract.timestamp_column, *([contract.id_column] if contract.id_column is not None else [])]
    return frame.sort_values([k for k in keys if k is not None], kind="stable").reset_index(drop=True)


BINS = 4096


def _histogram(moments: pd.Series, edges: np.ndarray) -> np.ndarray:
    return np.histogram(moments.to_numpy(dtype=np.int64), bins=edges)[0]


def _within(moments: pd.Series, low: int, high: int) -> np.ndarray:
    values = moments.to_numpy(dtype=np.int64)
    return values[(values >= low) & (values <= high)]


def time_cuts(moments: dd.Series, ranks: list[int], client: Client) -> list[int]:
    """The value at each (0-based) rank of the sorted column, exactly, in three passes that
    keep one bin of values in memory (see the module's docstring)."""
    from dask.delayed import delayed

    low, high = (int(v) for v in client.compute([moments.min(), moments.max()], sync=True))
    edges = np.unique(np.linspace(low, high + 1, BINS + 1).astype(np.int64))
    parts = moments.to_delayed()
    counts = np.sum(client.compute([delayed(_histogram)(p, edges) for p in parts], sync=True), axis=0)
    before = np.concatenate([[0], np.cumsum(counts)])
    cuts = []
    for rank in ranks:
        b = int(np.searchsorted(before, rank, side="right")) - 1  # the bin holding the rank-th value
        inside = client.compute([delayed(_within)(p, int(edges[b]), int(edges[b + 1]) - 1) for p in parts], sync=True)
        cuts.append(int(np.sort(np.concatenate(inside))[rank - before[b]]))
    return cuts


def _check_classes(counts: np.ndarray, valid: pd.DataFrame, contract: Contract) -> None:
    """As the local split: two classes in training and validation, and every class in training."""
    if not contract.is_classification:
        return
    if int(np.count_nonzero(counts)) < 2 or valid[contract.target].nunique() < 2:
        raise DataError(f"the train or validation rows hold only one class of {contract.target!r}: more data is needed")
    absent = [repr(label) for code, label in enumerate(contract.class_labels) if counts[code] == 0]
    if absent:
        raise DataError(
            f"the train rows hold no row of class(es) {', '.join(absent)} of {contract.target!r}: the model "
            "could never answer them; add rows of those classes or drop them from the contract's labels"
        )


def split_partitions(
    frame: dd.DataFrame,
    contract: Contract,
    client: Client,
    *,
    method: str,
    holdout_fraction: float,
    validation_fraction: float,
    seed: int,
) -> DaskSplit:
    """Split the (validated, target-coded) table on Dask; see the module's docstring."""
    chosen = split_method(contract, method)
    if chosen == "time":
        assert contract.timestamp_column is not None  # split_method checked it
        moment = frame[contract.timestamp_column].astype("int64")
        rows = int(client.compute(moment.shape[0], sync=True))
        n_holdout, n_valid = round(rows * holdout_fraction), round(rows * validation_fraction)
        # As the local split: the last n_holdout rows in time are the holdout, the n_valid before them validation.
        valid_cut, holdout_cut = time_cuts(moment, [rows - n_holdout - n_valid - 1, rows - n_holdout - 1], client)
        train = frame[moment <= valid_cut]
        valid_rows = frame[(moment > valid_cut) & (moment <= holdout_cut)]
        holdout_rows = frame[moment > holdout_cut]
        description = "by time: the newest slice is the holdout, the slice before it validation"
    else:
        drawn = frame.map_partitions(_with_draw, seed, meta=frame._meta.assign(**{DRAW: np.float64(0)}))
        draw = drawn[DRAW]
        train = drawn[draw >= holdout_fraction + validation_fraction].drop(columns=[DRAW])
        valid_rows = drawn[(draw >= holdout_fraction) & (draw < holdout_fraction + validation_fraction)].drop(
            columns=[DRAW]
        )
        holdout_rows = drawn[draw < holdout_fraction].drop(columns=[DRAW])
        description = f"at random (seed {seed}, drawn per partition)"
    counting = train[contract.target].value_counts() if contract.is_classification else train[contract.target].count()
    valid, holdout, train_rows, counted = client.compute(
        [valid_rows, holdout_rows, train.shape[0], counting], sync=True
    )
    if chosen == "time":
        valid, holdout = _time_order(valid, contract), _time_order(holdout, contract)
    else:
        valid, holdout = valid.reset_index(drop=True), holdout.reset_index(drop=True)
    if min(int(train_rows), len(valid), len(holdout)) < MIN_ROWS:
        raise DataError(
            f"{int(train_rows)} train, {len(valid)} validation and {len(holdout)} holdout rows: too few "
            f"(need >= {MIN_ROWS} in each)"
        )
    counts = np.zeros(0)
    if contract.is_classification:
        counts = np.zeros(contract.n_classes)
        for code, count in counted.items():
            counts[int(code)] = float(count)
    _check_classes(counts, valid, contract)
    return DaskSplit(
        train=train,
        valid=valid,
        holdout=holdout,
        train_rows=int(train_rows),
        class_counts=counts,
        method=chosen,
        description=description,
    )
