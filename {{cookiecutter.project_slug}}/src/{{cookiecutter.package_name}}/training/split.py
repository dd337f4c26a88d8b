"""Splitting a table into training and holdout rows: by time, the newest slice held out."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..core.contract import Contract
from ..errors import DataError


@dataclass(frozen=True)
class Split:
    """Three consecutive stretches of time: train, then validation, then holdout (the newest)."""

    train: pd.DataFrame
    valid: pd.DataFrame
    holdout: pd.DataFrame

    def sizes(self) -> dict[str, int]:
        return {"train_rows": len(self.train), "valid_rows": len(self.valid), "holdout_rows": len(self.holdout)}


def split_by_time(
    frame: pd.DataFrame, contract: Contract, holdout_fraction: float, validation_fraction: float
) -> Split:
    """Sort by event time (id breaks ties, so the split is deterministic) and cut.

    The holdout is the most recent slice, as production will be: a model is
    judged on the future it did not see.
    """
    ordered = frame.sort_values([contract.timestamp_column, contract.id_column], kind="stable").reset_index(drop=True)
    n = len(ordered)
    n_holdout = round(n * holdout_fraction)
    n_valid = round(n * validation_fraction)
    n_train = n - n_holdout - n_valid
    if min(n_train, n_valid, n_holdout) < 50:
        raise DataError(f"{n} rows are too few to split into train/validation/holdout (need >= 50 in each)")
    split = Split(
        train=ordered.iloc[:n_train],
        valid=ordered.iloc[n_train : n_train + n_valid],
        holdout=ordered.iloc[n_train + n_valid :],
    )
    if contract.is_classification:
        for name, part in (("train", split.train), ("validation", split.valid)):
            if part[contract.target].nunique() < 2:
                raise DataError(f"the {name} slice holds only one class of {contract.target!r}: more data is needed")
    return split
