"""Splitting a table into training, validation and holdout rows.

By time when the contract has a timestamp column (the newest slice held out, as production
will meet it), else at random: seeded, and stratified by the target for classification.
`TrainingSettings.split` chooses (`auto`: by time when there is a timestamp column).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import pandas as pd

from ..core.contract import Contract
from ..errors import DataError

SplitMethod = Literal["time", "random"]
# In each of train, validation and holdout: enough for the small public tables people start
# from (scikit-learn's wine, 178 rows, holds out 36), few enough that a metric on them is
# still a rough read; the gate's floors and the champion comparison do the judging.
MIN_ROWS = 25


class HeldOut(Protocol):
    """What the steps after fitting need of a split, whichever engine made it: the
    validation and holdout rows in pandas (the training rows may stay on Dask)."""

    @property
    def valid(self) -> pd.DataFrame: ...
    @property
    def holdout(self) -> pd.DataFrame: ...
    @property
    def method(self) -> SplitMethod: ...
    @property
    def description(self) -> str: ...
    def sizes(self) -> dict[str, int]: ...


@dataclass(frozen=True)
class Split:
    """Train, validation and holdout rows. By time: three consecutive stretches, the holdout
    the newest. At random: three disjoint random samples, each in the table's row order."""

    train: pd.DataFrame
    valid: pd.DataFrame
    holdout: pd.DataFrame
    method: SplitMethod = "time"
    description: str = "by time: the newest slice is the holdout, the slice before it validation"

    def sizes(self) -> dict[str, int]:
        return {"train_rows": len(self.train), "valid_rows": len(self.valid), "holdout_rows": len(self.holdout)}


def split_method(contract: Contract, setting: str) -> SplitMethod:
    """The split a run uses: `time` or `random` as set; `auto` is by time when the contract
    has a timestamp column, else random."""
    if setting == "time":
        if contract.timestamp_column is None:
            raise DataError("the split is set to time, but the contract has no timestamp column: use random or auto")
        return "time"
    if setting == "random":
        return "random"
    if setting != "auto":
        raise DataError(f"unknown split {setting!r}: use auto, time or random")
    return "time" if contract.timestamp_column is not None else "random"


def _sizes(n: int, holdout_fraction: float, validation_fraction: float) -> tuple[int, int, int]:
    n_holdout = round(n * holdout_fraction)
    n_valid = round(n * validation_fraction)
    n_train = n - n_holdout - n_valid
    if min(n_train, n_valid, n_holdout) < MIN_ROWS:
        raise DataError(f"{n} rows are too few to split into train/validation/holdout (need >= {MIN_ROWS} in each)")
    return n_train, n_valid, n_holdout


def _ensure_both_classes(split: Split, contract: Contract, where: str) -> Split:
    """Training and validation hold two classes at least, and (multiclass) training holds
    every class: a class the model never saw it can never answer."""
    if not contract.is_classification:
        return split
    for name, part in (("train", split.train), ("validation", split.valid)):
        if part[contract.target].nunique() < 2:
            raise DataError(f"the {name} {where} holds only one class of {contract.target!r}: more data is needed")
    if contract.is_multiclass:
        seen = set(split.train[contract.target].tolist())  # class indexes (the training step's) or labels
        absent = [repr(label) for code, label in enumerate(contract.class_labels) if not {code, label} & seen]
        if absent:
            raise DataError(
                f"the train {where} holds no row of class(es) {', '.join(absent)} of {contract.target!r}: the model "
                "could never answer them; add rows of those classes or drop them from the contract's labels"
            )
    return split


def split_by_time(
    frame: pd.DataFrame, contract: Contract, holdout_fraction: float, validation_fraction: float
) -> Split:
    """Sort by event time (the id, where there is one, breaks ties: the split is deterministic)
    and cut.

    The holdout is the most recent slice, as production will be: a model is
    judged on the future it did not see.
    """
    if contract.timestamp_column is None:
        raise DataError("a split by time needs the contract's timestamp column, and it names none")
    ordered = frame.sort_values(
        [contract.timestamp_column, *([contract.id_column] if contract.id_column is not None else [])], kind="stable"
    ).reset_index(drop=True)
    n_train, n_valid, _ = _sizes(len(ordered), holdout_fraction, validation_fraction)
    split = Split(
        train=ordered.iloc[:n_train],
        valid=ordered.iloc[n_train : n_train + n_valid],
        holdout=ordered.iloc[n_train + n_valid :],
    )
    return _ensure_both_classes(split, contract, "slice")


def _class_index(target: pd.Series, contract: Contract) -> pd.Series:
    """The target as class indexes where the contract names its classes (words or their
    indexes alike, so a table splits the same before and after `target_codes`), else as is."""
    if contract.labels is None:
        return target
    found = target.map(lambda value: contract.label_code(value, codes=True))
    return target if found.isna().any() else found


def _random_order(frame: pd.DataFrame, contract: Contract, rng: np.random.Generator) -> np.ndarray:
    """Row positions in a seeded random order. Stratified for classification: each class is
    shuffled on its own and the classes interleaved evenly (row k of a class of n sits at
    (k + u) / n), so that any leading share of the order holds each class in proportion."""
    n = len(frame)
    if not contract.is_classification:
        return rng.permutation(n)
    classes = pd.factorize(_class_index(frame[contract.target], contract), sort=True)[0]
    place = np.empty(n, dtype=float)
    for label in np.unique(classes):
        members = np.flatnonzero(classes == label)
        shuffled = rng.permutation(members)
        place[shuffled] = (np.arange(len(members)) + rng.random(len(members))) / len(members)
    return np.argsort(place, kind="stable")


def split_at_random(
    frame: pd.DataFrame, contract: Contract, holdout_fraction: float, validation_fraction: float, seed: int
) -> Split:
    """Seeded random holdout and validation shares, stratified by the target for classification;
    the same table and seed give the same split. Each part keeps the table's row order."""
    n_train, n_valid, _ = _sizes(len(frame), holdout_fraction, validation_fraction)
    order = _random_order(frame, contract, np.random.default_rng(seed))
    holdout = np.sort(order[: len(frame) - n_train - n_valid])
    valid = np.sort(order[len(frame) - n_train - n_valid : len(frame) - n_train])
    train = np.sort(order[len(frame) - n_train :])
    table = frame.reset_index(drop=True)
    stratified = ", stratified by the target" if contract.is_classification else ""
    split = Split(
        train=table.iloc[train],
        valid=table.iloc[valid],
        holdout=table.iloc[holdout],
        method="random",
        description=f"at random (seed {seed}{stratified}): the contract names no timestamp column"
        if contract.timestamp_column is None
        else f"at random (seed {seed}{stratified}), as the settings ask",
    )
    return _ensure_both_classes(split, contract, "share")


def split_frame(
    frame: pd.DataFrame,
    contract: Contract,
    *,
    method: str,
    holdout_fraction: float,
    validation_fraction: float,
    seed: int,
) -> Split:
    """Split as `method` (auto, time or random) says; see `split_method`."""
    if split_method(contract, method) == "time":
        return split_by_time(frame, contract, holdout_fraction, validation_fraction)
    return split_at_random(frame, contract, holdout_fraction, validation_fraction, seed)
