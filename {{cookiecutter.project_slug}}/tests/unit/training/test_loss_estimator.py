"""Direct loss estimation at training: the loss model is small, seeded and exported to ONNX
with proven parity, and its holdout calibration estimates MAE and RMSE with an honest band."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from {{ cookiecutter.package_name }}.model.loss_calibration import LossBand, estimate_losses
from {{ cookiecutter.package_name }}.settings import ParitySettings
from {{ cookiecutter.package_name }}.training.loss_estimator import MAX_TREES, fit_loss_booster, fit_loss_estimator
from {{ cookiecutter.package_name }}.training.onnx_export import onnx_scores
from tests.support.loss_world import LossWorld, loss_world, world_frame

BAND = 0.9


@pytest.fixture(scope="module")
def world() -> LossWorld:
    return loss_world(seed=3)


def estimated(world: LossWorld, shift: float, seed: int) -> tuple[dict[str, LossBand], dict[str, float]]:
    """The estimate of a fresh window of 2,000 rows (from the exported loss model, as
    monitoring computes it) and the realized MAE and RMSE of the same rows."""
    inputs, errors = world.errors(world_frame(2_000, seed, shift))
    found = estimate_losses(
        world.estimator.calibration, inputs, onnx_scores(world.estimator.onnx_bytes, inputs, "regression"), BAND
    )
    assert found is not None
    return found, {"mae": float(errors.mean()), "rmse": float(np.sqrt(np.mean(errors**2)))}


def test_the_loss_model_is_small_seeded_and_exports_with_parity(world: LossWorld) -> None:
    """At most MAX_TREES trees of 15 leaves; the same seed refits the same model; its ONNX
    graph (one input: the features and the prediction) reproduces LightGBM on all its rows."""
    # Given the fitted loss estimator
    estimator = world.estimator

    # Then it is small, and its export passed the parity check
    assert 0 < estimator.booster.num_trees() <= MAX_TREES
    assert estimator.parity.passed, estimator.parity.reason
    assert estimator.parity.rows == estimator.fit_rows + estimator.calibration_rows == 6_000
    graph = onnx.load_from_string(estimator.onnx_bytes)
    (inputs,) = graph.graph.input
    assert inputs.type.tensor_type.shape.dim[1].dim_value == world.encoding.n_features + 1

    # And refitting on the same rows with the same seed gives the same trees
    fit_inputs, fit_errors = world.errors(world_frame(3_000, 31))
    first = fit_loss_booster(fit_inputs, fit_errors, world.encoding, seed=3)
    again = fit_loss_booster(fit_inputs, fit_errors, world.encoding, seed=3)
    assert first.model_to_string() == again.model_to_string()


def test_too_few_rows_give_no_loss_model(world: LossWorld) -> None:
    """With fewer validation rows than a loss model needs, there is none (and no estimate)."""
    inputs, errors = world.errors(world_frame(100, 5))
    found = fit_loss_estimator(
        inputs, errors, inputs, errors, world.encoding, seed=1, opset=15, parity=ParitySettings()
    )
    assert found is None


def test_on_data_like_the_holdout_the_estimate_is_close_to_realized(world: LossWorld) -> None:
    """A window from the training distribution: estimated MAE and RMSE within 5% of the
    realized ones, inside their band."""
    # Given a fresh unshifted window
    found, realized = estimated(world, shift=0.0, seed=101)

    # Then the estimates are close and bracket the realized values
    for name in ("mae", "rmse"):
        band = found[name]
        assert abs(band.value - realized[name]) < 0.05 * realized[name], (name, band, realized[name])
        assert band.lower <= realized[name] <= band.upper, (name, band, realized[name])


@pytest.mark.parametrize("shift", [1.0, 2.0])
def test_on_shifted_data_the_band_brackets_the_realized_error(world: LossWorld, shift: float) -> None:
    """A window moved toward where the model errs most: the estimate rises with the realized
    error (about twice the unshifted one) and its band brackets the realized MAE and RMSE."""
    # Given an unshifted and a shifted window
    calm, _ = estimated(world, shift=0.0, seed=101)
    found, realized = estimated(world, shift=shift, seed=202)

    # Then the estimate follows the error up, and the band holds the realized values
    assert found["mae"].value > 1.7 * calm["mae"].value
    for name in ("mae", "rmse"):
        band = found[name]
        assert band.lower <= realized[name] <= band.upper, (name, band, realized[name])
