"""Estimated performance of a regression model before labels: direct loss estimation from the
loss model shipped with it, and how the rules read an error metric's estimate."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.core.metrics import evaluate
from {{ cookiecutter.package_name }}.model.bundle import onnxruntime_session
from {{ cookiecutter.package_name }}.model.loss_model import LossModel
from {{ cookiecutter.package_name }}.model.reference_profile import fit_profile
from {{ cookiecutter.package_name }}.monitoring.alerts import _performance
from {{ cookiecutter.package_name }}.monitoring.loss_estimate import estimate_loss
from {{ cookiecutter.package_name }}.monitoring.monitored_model import MonitoredModel
from {{ cookiecutter.package_name }}.monitoring.performance import EstimatedMetric, PerformanceEstimate
from {{ cookiecutter.package_name }}.monitoring.retrain_rules import performance_breach, performance_floor
from {{ cookiecutter.package_name }}.settings import DriftSettings, Settings
from tests.support.loss_world import LossWorld, loss_world, world_frame
from tests.support.monitoring import assessment


@pytest.fixture(scope="module")
def world() -> LossWorld:
    return loss_world(seed=5)


@pytest.fixture(scope="module")
def profile(world: LossWorld) -> dict[str, Any]:
    """The holdout's profile as training writes it, with the loss model's calibration."""
    holdout = world.holdout
    scores = world.scores(holdout)
    metrics = evaluate("regression", holdout["y"].to_numpy(), scores, None)
    return fit_profile(holdout, world.contract, scores, metrics, None, loss_calibration=world.estimator.calibration)


@pytest.fixture(scope="module")
def loss_model(world: LossWorld) -> LossModel:
    return LossModel(onnxruntime_session(world.estimator.onnx_bytes), world.encoding)


def test_a_regression_window_gets_an_estimated_rmse_and_mae(
    world: LossWorld, profile: dict[str, Any], loss_model: LossModel
) -> None:
    """The estimate is marked DLE, its primary metric is regression's (RMSE), each metric has
    a band at the setting's coverage and the holdout baseline, and the note says what it cannot see."""
    # Given a window of records as received and the model's logged predictions
    frame = world_frame(1_500, 11)
    scores = world.scores(frame)

    # When performance is estimated before labels
    found = estimate_loss(profile, loss_model, frame.drop(columns=["y"]), scores, DriftSettings(band=0.8))

    # Then it is a DLE estimate of RMSE and MAE, close to what the labels will say
    assert found is not None
    assert (found.method, found.primary_metric, found.n, found.band) == ("dle", "rmse", 1_500, 0.8)
    assert found.threshold is None
    assert [m.name for m in found.metrics] == ["rmse", "mae"]
    errors = np.abs(frame["y"].to_numpy() - scores)
    mae = found.metric("mae")
    assert mae.lower <= float(errors.mean()) <= mae.upper
    assert mae.baseline == pytest.approx(profile["performance"]["mae"])
    assert "concept drift" in found.note
    assert found.to_dict()["is_estimate"] is True


def test_the_band_brackets_the_realized_error_of_a_shifted_window(
    world: LossWorld, profile: dict[str, Any], loss_model: LossModel
) -> None:
    """Records moved to where the model errs most: the estimate rises past the holdout's and
    its band holds the realized RMSE and MAE."""
    frame = world_frame(1_500, 12, shift=1.5)
    scores = world.scores(frame)

    found = estimate_loss(profile, loss_model, frame.drop(columns=["y"]), scores)

    assert found is not None
    errors = np.abs(frame["y"].to_numpy() - scores)
    realized = {"mae": float(errors.mean()), "rmse": float(np.sqrt(np.mean(errors**2)))}
    for name, value in realized.items():
        metric = found.metric(name)
        assert metric.lower <= value <= metric.upper, (name, metric, value)
        assert metric.value > 1.5 * metric.baseline


def test_no_estimate_without_a_loss_model_or_for_a_classifier(
    world: LossWorld, profile: dict[str, Any], loss_model: LossModel
) -> None:
    """An older regression bundle (no loss model) and a classifier's profile get None."""
    frame = world_frame(100, 13)
    scores = world.scores(frame)
    assert estimate_loss(profile, None, frame, scores) is None
    assert estimate_loss({**profile, "task": "binary_classification"}, loss_model, frame, scores) is None
    assert estimate_loss({**profile, "loss_calibration": None}, loss_model, frame, scores) is None


def _regression_assessment(value: float, lower: float, upper: float, baseline: float = 2.0) -> Any:
    profile = {"task": "regression", "primary_metric": "rmse", "performance": {"rmse": baseline}, "segments": []}
    predicted = PerformanceEstimate(
        n=2_000,
        band=0.9,
        threshold=None,
        primary_metric="rmse",
        metrics=(EstimatedMetric("rmse", value, lower, upper, baseline),),
        method="dle",
    )
    found = assessment(predicted=predicted)
    return dataclasses.replace(found, model=MonitoredModel(found.model.name, "1", profile, "champion"))


def test_an_estimated_error_breaches_its_ceiling_only_when_its_whole_band_does(settings: Settings) -> None:
    """RMSE is better lower: the ceiling is the baseline raised by max_relative_drop, and the
    rule and the alert fire when even the band's lower end is above it (the alert says 'rose')."""
    rules = settings.retrain_rules
    ceiling = 2.0 * (1 + rules.max_relative_drop)

    straddling = _regression_assessment(ceiling + 0.2, ceiling - 0.1, ceiling + 0.5)
    above = _regression_assessment(ceiling + 0.5, ceiling + 0.1, ceiling + 0.9)
    better = _regression_assessment(1.5, 1.4, 1.6)

    floor = performance_floor(above.model.profile, rules)
    assert not floor.higher_is_better
    assert floor.value == pytest.approx(ceiling)
    assert performance_breach(straddling, floor, rules) is None
    assert performance_breach(better, floor, rules) is None
    fired = performance_breach(above, floor, rules)
    assert fired is not None
    assert fired.evidence["kind"] == "estimated"
    (alert,) = _performance(above, settings)
    assert alert.title.startswith("estimated rmse rose to")
    assert _performance(better, settings) == []
