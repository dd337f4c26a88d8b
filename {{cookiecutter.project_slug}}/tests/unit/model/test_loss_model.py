"""The loss model ships in the bundle as ONNX and loads without LightGBM or pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.model.bundle import LOSS_MODEL_FILE, load_bundle, write_bundle
from {{ cookiecutter.package_name }}.model.loss_model import load_loss_model
from {{ cookiecutter.package_name }}.training.onnx_export import onnx_scores, to_onnx
from tests.support.loss_world import OPSET, LossWorld, loss_world, world_frame


@pytest.fixture(scope="module")
def world() -> LossWorld:
    return loss_world(seed=4)


def bundle(world: LossWorld, path: Path, loss: bool = True) -> Path:
    matrix = world.encoding.transform(world.holdout)
    onnx_bytes = to_onnx(world.model, world.encoding.n_features, OPSET)
    return write_bundle(
        path,
        onnx_bytes,
        encoding=world.encoding,
        task="regression",
        threshold=None,
        contract_yaml=world.contract.to_yaml(),
        contract_hash=world.contract.hash,
        metadata={},
        manifest={"onnx_opset": OPSET},
        canary_inputs=matrix[:4],
        canary_scores=onnx_scores(onnx_bytes, matrix[:4], "regression"),
        loss_onnx=world.estimator.onnx_bytes if loss else None,
    )


def test_a_bundle_round_trip_loads_the_loss_model(world: LossWorld, tmp_path: Path) -> None:
    """Written next to model.onnx and read back with the bundle's encoding, the loss model
    predicts what the exported graph predicted at training; the bundle holds no pickle."""
    # Given a bundle written with the loss model
    folder = bundle(world, tmp_path / "bundle")

    # When it is loaded again
    assert load_bundle(folder).task == "regression"
    loaded = load_loss_model(folder)

    # Then the loss model gives the training-time predictions for the same records
    assert loaded is not None
    frame = world_frame(500, 77)
    scores = world.scores(frame)
    inputs, _ = world.errors(frame)
    expected = onnx_scores(world.estimator.onnx_bytes, inputs, "regression")
    np.testing.assert_allclose(loaded.predict(loaded.inputs(frame, scores)), expected, rtol=1e-6, atol=1e-9)

    # And every file in the bundle is JSON, YAML or ONNX: nothing to unpickle
    assert (folder / LOSS_MODEL_FILE).is_file()
    assert {p.suffix for p in folder.iterdir()} <= {".onnx", ".json", ".yaml"}
    assert all(not p.read_bytes().startswith(b"\x80") for p in folder.iterdir())


def test_a_bundle_without_a_loss_model_loads_none(world: LossWorld, tmp_path: Path) -> None:
    """Classifiers and bundles of earlier releases have no loss model: None, not an error."""
    assert load_loss_model(bundle(world, tmp_path / "bundle", loss=False)) is None


def test_logged_records_read_as_the_service_would(world: LossWorld, tmp_path: Path) -> None:
    """Records as the prediction log holds them (text case and spacing, numbers as text, a
    dropped column, a retyped one) give the loss model the input the service's encoding gives."""
    loaded = load_loss_model(bundle(world, tmp_path / "bundle"))
    assert loaded is not None
    frame = world_frame(4, 8)
    logged = frame.astype(object)
    logged["zone"] = [f"  {z.upper()} " for z in frame["zone"]]
    logged["x1"] = [str(v) for v in frame["x1"]]
    logged["x2"] = ["not a number"] * 4
    logged = logged.drop(columns=["x3"])
    scores = world.scores(frame)

    found = loaded.inputs(pd.DataFrame(logged), scores)

    expected = world.errors(frame)[0]
    np.testing.assert_array_equal(found[:, [0, 1, 4, 5]], expected[:, [0, 1, 4, 5]])
    assert np.isnan(found[:, [2, 3]]).all()  # retyped and dropped: missing, as the service reads them
