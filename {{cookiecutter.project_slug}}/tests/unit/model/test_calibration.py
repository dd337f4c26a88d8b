"""The isotonic calibration map: its stored blocks, and the redrawn maps that give its uncertainty."""

from __future__ import annotations

import json

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.model.calibration import (
    calibrate,
    calibrate_classes,
    class_calibration_usable,
    draw_class_rates,
    draw_rates,
    fit_calibration,
    fit_class_calibration,
)


def test_blocks_pool_violators_and_equal_rates() -> None:
    """Adjacent scores whose rates fall are pooled into one block, and so are adjacent blocks
    with equal rates; the stored JSON holds each block's score range, rows and positives."""
    # Given five distinct scores whose fraud rates go 1, 0, 1/2, 1, 1
    scores = np.array([0.1, 0.2, 0.3, 0.3, 0.4, 0.5])
    labels = np.array([1, 0, 1, 0, 1, 1])

    # When the calibration is fitted
    calibration = fit_calibration(scores, labels)

    # Then 0.1-0.3 pool to a rate of 1/2 (their pooled rate equals the next one), and 0.4-0.5 to 1
    assert json.loads(json.dumps(calibration)) == {
        "method": "isotonic",
        "lower": [0.1, 0.4],
        "upper": [0.3, 0.5],
        "n": [4, 2],
        "positives": [2, 2],
    }
    assert calibrate(calibration, np.array([0.0, 0.2, 0.35, 0.9])) == pytest.approx([0.5, 0.5, 0.75, 1.0])


def test_missing_scores_and_labels_are_left_out() -> None:
    """Rows with a NaN score or label do not count, and without any row the map is empty."""
    # Given two usable rows among NaNs, and no usable row at all
    scores, labels = np.array([0.2, np.nan, 0.8, 0.5]), np.array([0.0, 1.0, 1.0, np.nan])

    # When calibrations are fitted
    some, none = fit_calibration(scores, labels), fit_calibration(np.array([np.nan]), np.array([1.0]))

    # Then only the usable rows make blocks, and the empty map calibrates to NaN
    assert (some["n"], some["positives"]) == ([1, 1], [0, 1])
    assert none["n"] == []
    assert np.isnan(calibrate(none, np.array([0.5]))).all()


def test_redrawn_maps_are_monotone_and_centred_on_the_fit() -> None:
    """Each redrawn map never decreases, and on average the rates of its large blocks stay
    near the fitted ones (small blocks are uncertain: that is what the draws are for)."""
    # Given a map fitted on 20,000 calibrated scores
    rng = np.random.default_rng(7)
    scores = rng.beta(1, 6, 20_000)
    calibration = fit_calibration(scores, (rng.random(20_000) < scores).astype(float))

    # When 200 maps are redrawn from the blocks' posteriors
    draws = draw_rates(calibration, 200, np.random.default_rng(0))

    # Then every one rises with the score, and their mean is close to the fitted rates
    assert draws.shape == (200, len(calibration["n"]))
    assert np.all(np.diff(draws, axis=1) >= 0)
    n = np.asarray(calibration["n"])
    large = n >= 500
    fitted = np.asarray(calibration["positives"]) / n
    assert large.sum() >= 3
    assert np.abs(draws.mean(axis=0) - fitted)[large].max() < 0.01


def class_holdout(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes: a model's probabilities (overconfident) and classes drawn from the true ones."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(rows, 3)) * 1.5
    truth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    model = np.exp(2 * logits) / np.exp(2 * logits).sum(axis=1, keepdims=True)
    classes = np.minimum((rng.random((rows, 1)) > truth.cumsum(axis=1)).sum(axis=1), 2)
    return model, classes.astype(float)


def test_one_map_per_class_against_the_rest_stored_as_json() -> None:
    """Multiclass calibration is each class's own isotonic map of its probability against
    "is it this class", in the model's order, and it survives a JSON round trip."""
    # Given a holdout's probabilities and classes (one unlabelled row)
    probabilities, classes = class_holdout(3000, 1)
    classes[0] = np.nan

    # When the per-class calibration is fitted
    calibration = json.loads(json.dumps(fit_class_calibration(probabilities, classes, 3)))

    # Then each class's map is the binary map of that class against the rest
    assert calibration["method"] == "isotonic_one_vs_rest"
    for i, found in enumerate(calibration["per_class"]):
        assert found == fit_calibration(probabilities[1:, i], (classes[1:] == i).astype(float))
    assert class_calibration_usable(calibration, 3)
    assert not class_calibration_usable(calibration, 4)
    assert not class_calibration_usable(None, 3)


def test_calibrated_rows_are_distributions_closer_to_the_truth() -> None:
    """Calibrated rows add to 1; on fresh rows from the same world they predict each class's
    share among the rows answering it better than the overconfident model does; a row every
    map sends to 0 keeps the model's own probabilities."""
    # Given a calibration fitted on one holdout and fresh rows of the same world
    calibration = fit_class_calibration(*class_holdout(20_000, 2), 3)
    probabilities, classes = class_holdout(20_000, 3)

    # When the fresh rows are calibrated
    calibrated = calibrate_classes(calibration, probabilities)

    # Then they are distributions, and the answered class's calibrated probability is the hit rate
    assert calibrated.sum(axis=1) == pytest.approx(np.ones(len(calibrated)))
    answered = probabilities.argmax(axis=1)
    hit_rate = float(np.mean(classes == answered))
    assert calibrated[np.arange(len(answered)), answered].mean() == pytest.approx(hit_rate, abs=0.01)
    assert probabilities.max(axis=1).mean() - hit_rate > 0.05  # the model alone overstates it
    zero = {
        "method": "isotonic_one_vs_rest",
        "per_class": [{**m, "positives": [0] * len(m["n"])} for m in calibration["per_class"]],
    }
    assert calibrate_classes(zero, np.array([[0.2, 0.6, 0.2]])).tolist() == [[0.2, 0.6, 0.2]]


def test_each_class_map_is_redrawn_monotone() -> None:
    """The band's maps: per class, `draws` monotone rate vectors, one per block of its map."""
    calibration = fit_class_calibration(*class_holdout(5000, 4), 3)
    rates = draw_class_rates(calibration, 50, np.random.default_rng(0))
    assert [r.shape for r in rates] == [(50, len(m["n"])) for m in calibration["per_class"]]
    assert all(np.all(np.diff(r, axis=1) >= 0) for r in rates)
