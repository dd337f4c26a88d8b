"""LightGBM on Dask: the number of rounds chosen locally, the model fitted on the cluster.

lightgbm.dask has no working early stopping (LightGBM #3712, #6351; hangs reported in
#7009), so the rounds are chosen the way the local engine chooses them, by early stopping
on the validation slice, but with a seeded sample of the training rows in memory
(`rounds_sample_rows`); then `DaskLGBMClassifier`/`DaskLGBMRegressor` fits all training
rows with that fixed number of rounds, the same parameters and seed. Its booster
(`.to_local().booster_`) is an ordinary LightGBM model: it gets the same float32-exact
thresholds as the local engine's and goes through the same evaluation, ONNX export and
parity check.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from ..core.contract import Contract
from ..core.encoding import Encoding, encoding_from_counts, open_categoricals
from ..settings import TrainingSettings
from .distributed_split import DaskSplit
from .fit import class_weight_table, lightgbm_params_for_counts, train_booster, trimmed
from .split import Split

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DaskFit:
    booster: lgb.Booster
    encoding: Encoding
    params: dict[str, Any]  # LightGBM's parameters as recorded with the run
    rounds: int
    sample_rows: int


def fit_encoding_on_dask(data: DaskSplit, contract: Contract, max_levels: int, client: Client) -> Encoding:
    """`fit_encoding` with the open categoricals' value counts added up across partitions."""
    names = open_categoricals(contract)
    counted = client.compute([data.train[name].dropna().value_counts() for name in names], sync=True)
    return encoding_from_counts(dict(zip(names, counted, strict=True)), contract, max_levels)


def _encoded(part: pd.DataFrame, encoding: Encoding) -> pd.DataFrame:
    return pd.DataFrame(encoding.transform(part), columns=list(encoding.features), index=part.index)


def _row_weights(target: pd.Series, table: np.ndarray) -> pd.Series:
    return pd.Series(table[target.to_numpy(dtype=int)], index=target.index, dtype=float)


def choose_rounds(
    data: DaskSplit,
    contract: Contract,
    encoding: Encoding,
    settings: TrainingSettings,
    sample_rows: int,
    client: Client,
) -> tuple[int, int]:
    """Boosting rounds by local early stopping on a seeded sample of the training rows
    against the validation slice; returns (rounds, rows in the sample)."""
    share = min(1.0, sample_rows / max(data.train_rows, 1))
    sample = client.compute(data.train.sample(frac=share, random_state=settings.seed), sync=True)
    local = Split(train=sample.reset_index(drop=True), valid=data.valid, holdout=data.holdout)
    booster = train_booster(local, contract, encoding, settings)
    return booster.current_iteration(), len(sample)


def fit_on_dask(
    data: DaskSplit, contract: Contract, settings: TrainingSettings, sample_rows: int, client: Client
) -> DaskFit:
    """Fit LightGBM across the cluster's workers (see the module's docstring)."""
    import lightgbm.dask as lgbd

    encoding = fit_encoding_on_dask(data, contract, settings.max_category_levels, client)
    rounds, sampled = choose_rounds(data, contract, encoding, settings, sample_rows, client)
    params = lightgbm_params_for_counts(contract, settings, data.class_counts)
    log.info("fitting %d rounds on Dask (chosen on %d sampled training rows)", rounds, sampled)
    meta = pd.DataFrame({name: pd.Series(dtype=np.float32) for name in encoding.features})
    features = data.train.map_partitions(_encoded, encoding, meta=meta)
    target = data.train[contract.target]
    weights = None
    if contract.is_multiclass:
        table = class_weight_table(data.class_counts, settings.class_weighting)
        weights = target.map_partitions(_row_weights, table, meta=(contract.target, "f8"))
    # The classifier learns the class count from the labels, and each worker's thread count
    # is its own: LightGBM's num_class and num_threads are left to the Dask estimator.
    fit_params = {k: v for k, v in params.items() if k not in {"num_class", "num_threads"}}
    estimator: Any
    if contract.is_classification:
        estimator = lgbd.DaskLGBMClassifier(client=client, n_estimators=rounds, **fit_params)
        target = target.astype("int64")
    else:
        estimator = lgbd.DaskLGBMRegressor(client=client, n_estimators=rounds, **fit_params)
        target = target.astype("float64")
    estimator.fit(features, target, sample_weight=weights, categorical_feature=encoding.categorical_indices)
    booster = estimator.to_local().booster_
    return DaskFit(
        booster=trimmed(booster, booster.current_iteration()),
        encoding=encoding,
        params={**params, "rounds_sample_rows": sampled, "num_boost_round_chosen": rounds},
        rounds=rounds,
        sample_rows=sampled,
    )
