"""The isotonic calibration map: its stored blocks, and the redrawn maps that give its uncertainty."""

from __future__ import annotations

import json

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.model.calibration import calibrate, draw_rates, fit_calibration


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
