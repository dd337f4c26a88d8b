"""Multiclass training: scikit-learn's wine table (178 rows, three cultivars written as words)
through the split, LightGBM's multiclass objective, the ONNX export with one probability per
class, the parity check and the bundle's canary."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.core.contract_draft import infer_features
from {{ cookiecutter.package_name }}.core.encoding import fit_encoding
from {{ cookiecutter.package_name }}.core.metrics import evaluate
from {{ cookiecutter.package_name }}.data.tables import prepare_frame, target_codes
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.model.bundle import load_bundle, write_bundle
from {{ cookiecutter.package_name }}.settings import ParitySettings, TrainingSettings
from {{ cookiecutter.package_name }}.training.fit import choose_threshold, class_weights, predict, train_booster
from {{ cookiecutter.package_name }}.training.onnx_export import onnx_scores, parity_report, to_onnx
from {{ cookiecutter.package_name }}.training.split import split_at_random

CULTIVARS = ("barolo", "grignolino", "barbera")


@pytest.fixture(scope="module")
def wine() -> tuple[pd.DataFrame, Contract]:
    table: pd.DataFrame = load_wine(as_frame=True).frame
    table["cultivar"] = table.pop("target").map(dict(enumerate(CULTIVARS)))
    table.columns = [c.replace("/", " per ") for c in table.columns]
    contract = Contract(
        task="multiclass_classification",
        target="cultivar",
        labels=CULTIVARS,
        features=tuple(infer_features(table, exclude=["cultivar"])),
    )
    return target_codes(prepare_frame(table, contract), contract), contract


def test_multiclass_model_exports_one_probability_per_class_and_passes_parity(
    wine: tuple[pd.DataFrame, Contract], tmp_path: Path
) -> None:
    """Seeded multiclass LightGBM on wine: a probability per class summing to 1, sane holdout
    metrics, an ONNX graph within parity on every class's probability with the same most
    probable class, and a bundle whose canary rows replay as a matrix."""
    # Given the wine table in class codes and a stratified random split
    frame, contract = wine
    data = split_at_random(frame, contract, 0.2, 0.15, seed=42)
    settings = TrainingSettings()
    encoding = fit_encoding(data.train, contract, settings.max_category_levels)

    # When a model is trained twice, scored on the holdout and exported
    booster = train_booster(data, contract, encoding, settings)
    again = train_booster(data, contract, encoding, settings)
    matrix = encoding.transform(data.holdout)
    scores = predict(booster, matrix)
    exported = onnx_scores(to_onnx(booster, encoding.n_features, settings.onnx_opset), matrix, contract.task)
    report = parity_report(scores, exported, None, ParitySettings(), contract.task)
    metrics = evaluate(contract.task, data.holdout["cultivar"].to_numpy(), scores, None, contract.class_labels)

    # Then training is repeatable, answers three probabilities per row, and is good on wine
    assert booster.model_to_string() == again.model_to_string()
    assert scores.shape == exported.shape == (len(data.holdout), 3)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-9)
    valid_scores = predict(booster, encoding.transform(data.valid))
    assert choose_threshold(contract, data.valid["cultivar"].to_numpy(), valid_scores, settings) is None
    assert metrics["macro_f1"] > 0.85, metrics
    assert metrics["balanced_accuracy"] > 0.85, metrics
    assert metrics["log_loss"] < 0.5
    # And the export reproduces LightGBM, class by class
    assert report.passed, report.reason
    assert report.decision_agreement == 1.0
    assert report.max_abs_diff < 1e-5

    # When the bundle is written with the ONNX scores of a few rows as its canary, and loaded
    onnx_bytes = to_onnx(booster, encoding.n_features, settings.onnx_opset)
    folder = write_bundle(
        tmp_path / "bundle",
        onnx_bytes,
        encoding=encoding,
        task=contract.task,
        threshold=None,
        contract_yaml=contract.to_yaml(),
        contract_hash=contract.hash,
        metadata={},
        manifest={},
        canary_inputs=matrix[:4],
        canary_scores=exported[:4],
    )
    bundle = load_bundle(folder)

    # Then it scores records as a matrix of three probabilities, as at training
    assert bundle.n_classes == 3
    np.testing.assert_allclose(bundle.score_frame(data.holdout), exported, atol=1e-7)
    assert bundle.score_matrix(matrix[:0]).shape == (0, 3)


def test_parity_fails_when_the_most_probable_class_changes() -> None:
    """Two classes nearly tied that swap places fail parity's agreement, even within tolerance."""
    # Given LightGBM's and an export's probabilities that differ by 2e-6 but swap the top class
    reference = np.array([[0.5, 0.499999, 0.000001]] * 10 + [[0.1, 0.2, 0.7]] * 90)
    exported = reference.copy()
    exported[:10] = [0.499999, 0.500001, 0.0]

    # When compared
    report = parity_report(reference, exported, None, ParitySettings(), "multiclass_classification")

    # Then the 10% of rows whose answer changed fail it, with the reason
    assert not report.passed
    assert report.decision_agreement == pytest.approx(0.9)
    assert "the most probable class agrees on 90.0000% of rows" in report.reason


def test_class_weights_lift_rare_classes_and_training_needs_every_class(wine: tuple[pd.DataFrame, Contract]) -> None:
    """Rows of a rare class weigh more (square-rooted by default); a train slice without one
    of the contract's classes is refused, naming it."""
    # Given 100, 25 and 4 rows of three classes
    y = np.array([0] * 100 + [1] * 25 + [2] * 4)

    # When weighted / Then by (largest / own) count, square-rooted or not
    weights = class_weights(y, 3, "sqrt_balanced")
    assert (weights[0], weights[100], weights[-1]) == (1.0, 2.0, 5.0)
    assert class_weights(y, 3, "balanced")[-1] == 25.0
    assert set(class_weights(y, 3, "none")) == {1.0}

    # Given the wine table without its barbera rows but a contract naming three classes
    frame, contract = wine
    two = pd.concat([frame[frame["cultivar"] != 2]] * 2, ignore_index=True)

    # When split / Then the missing class is named
    with pytest.raises(DataError, match="holds no row of class\\(es\\) 'barbera'"):
        split_at_random(two, contract, 0.2, 0.15, seed=42)
