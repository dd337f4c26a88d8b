"""A small regression world whose noise grows with one feature, for direct loss estimation:
the model is trained on it, and windows can move toward where the model errs more."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from {{ cookiecutter.package_name }}.core.contract import Contract, parse_contract
from {{ cookiecutter.package_name }}.core.encoding import Encoding, fit_encoding
from {{ cookiecutter.package_name }}.settings import ParitySettings
from {{ cookiecutter.package_name }}.training.loss_estimator import LossEstimator, fit_loss_estimator, model_errors

ZONES = ("north", "south", "east")
OPSET = 15


def world_contract() -> Contract:
    features: list[dict[str, object]] = [{"name": f"x{i}", "type": "numeric"} for i in range(4)]
    features.append({"name": "zone", "type": "categorical", "categories": list(ZONES)})
    return parse_contract({"task": "regression", "target": "y", "features": features})


def world_frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """`shift` > 0 moves x0 toward 1, where the noise (and so the model's error) is largest."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (rows, 4))
    if shift:
        x[:, 0] = rng.beta(1 + 6 * shift, 1, rows)
    zone = rng.choice(len(ZONES), size=rows, p=[0.5, 0.3, 0.2])
    noise = (0.3 + 3 * x[:, 0] ** 2) * np.where(zone == 2, 1.5, 1.0)
    y = 10 * x[:, 0] + 5 * np.sin(6 * x[:, 1]) + 3 * x[:, 2] + 2.0 * (zone == 1) + rng.normal(0, 1, rows) * noise
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(4)])
    frame["zone"] = np.array(ZONES, dtype=object)[zone]
    frame["y"] = y
    return frame


def _errors(encoding: Encoding, model: lgb.Booster, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    matrix = encoding.transform(frame)
    return model_errors(matrix, np.asarray(model.predict(matrix), dtype=float), frame["y"].to_numpy())


@dataclass(frozen=True)
class LossWorld:
    contract: Contract
    encoding: Encoding
    model: lgb.Booster
    estimator: LossEstimator
    holdout: pd.DataFrame

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.model.predict(self.encoding.transform(frame)), dtype=float)

    def errors(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The loss model's inputs for `frame` and the model's realized absolute errors."""
        return _errors(self.encoding, self.model, frame)


def loss_world(seed: int = 3) -> LossWorld:
    """The model trained on 6,000 rows, the loss model fitted on 3,000 validation rows and
    calibrated on a 3,000-row holdout, as training does."""
    contract = world_contract()
    train, valid, holdout = (world_frame(rows, seed * 10 + i) for i, rows in enumerate((6_000, 3_000, 3_000)))
    encoding = fit_encoding(train, contract, 64)
    params = {"objective": "regression", "learning_rate": 0.05, "num_leaves": 31, "seed": seed}
    params |= {"deterministic": True, "force_row_wise": True, "num_threads": 1, "verbosity": -1}
    data = lgb.Dataset(encoding.transform(train), label=train["y"], categorical_feature=encoding.categorical_indices)
    model = lgb.train(params, data, num_boost_round=200)
    estimator = fit_loss_estimator(
        *_errors(encoding, model, valid),
        *_errors(encoding, model, holdout),
        encoding,
        seed=seed,
        opset=OPSET,
        parity=ParitySettings(),
    )
    assert estimator is not None
    return LossWorld(contract, encoding, model, estimator, holdout)
