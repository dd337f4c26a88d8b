"""The registered model: gate, alias, artifacts and parity, as the training steps leave them."""

from __future__ import annotations

import json

from {{ cookiecutter.package_name }}.model.bundle import load_bundle
from {{ cookiecutter.package_name }}.stores import registry
from tests.support.project import Trained


def test_first_passing_model_becomes_champion_with_complete_bundle(trained: Trained) -> None:
    """The first version that passes the gate holds `champion`, and its bundle carries the
    ONNX model, the encoding, the manifest, the reference profile, the contract and the model card."""
    # Given a freshly trained first version
    client = registry.connect(trained.settings)
    name = trained.settings.mlflow.registered_model_name

    # When we look it up by alias and fetch its bundle
    champion = registry.version_by_alias(client, name, registry.CHAMPION)
    assert champion is not None
    with registry.fetched_bundle(client, champion) as folder:
        bundle = load_bundle(folder)
        manifest = json.loads((folder / "manifest.json").read_text())
        profile = json.loads((folder / "reference_profile.json").read_text())
        files = {p.name for p in folder.iterdir()}

    # Then it is this version, it passed the gate, and the bundle is complete and runnable
    assert str(champion.version) == trained.version
    assert champion.tags[registry.GATE_STATUS] == registry.PASSED
    # (a regression model also ships its loss model, for the estimate before labels arrive)
    loss = {"loss_model.onnx"} if bundle.task == "regression" else set()
    card = {"model_card.md", "model_card.html"}
    assert files == {
        "model.onnx",
        "bundle.json",
        "manifest.json",
        "reference_profile.json",
        "contract.yaml",
        *loss,
        *card,
    }
    assert (profile["loss_calibration"] is not None) == (bundle.task == "regression")
    assert manifest["seed"] == trained.settings.training.seed
    assert manifest["onnx_opset"] == 15
    assert len(manifest["data_fingerprint"]) == 64
    assert set(profile["features"]) == set(bundle.encoding.features)
    scores = bundle.score_frame(trained.holdout)
    assert abs(scores - trained.evaluation.holdout_scores).max() < 1e-4
