"""The model card's content for each problem type, from small boosters trained on synthetic
tables (a few hundred rows, a few dozen trees): the metrics are the ones the holdout gives,
SHAP adds up to the raw score, the limitations name what the holdout does not cover, and the
HTML escapes what the data wrote."""

from __future__ import annotations

from dataclasses import dataclass, replace

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract, Feature
from {{ cookiecutter.package_name }}.core.encoding import Encoding, fit_encoding
from {{ cookiecutter.package_name }}.core.metrics import evaluate
from {{ cookiecutter.package_name }}.model.card_html import render_html
from {{ cookiecutter.package_name }}.model.model_card import ModelCard, to_markdown
from {{ cookiecutter.package_name }}.settings import TrainingSettings
from {{ cookiecutter.package_name }}.training.card import build_card, shap_contributions
from {{ cookiecutter.package_name }}.training.fit import predict, train_booster
from {{ cookiecutter.package_name }}.training.gate import Evaluation, GateDecision
from {{ cookiecutter.package_name }}.training.split import Split, split_at_random

ROWS = 900
KINDS = ("a", "b", "c")
TRAINING = TrainingSettings(num_boost_round=30, min_data_in_leaf=10, num_threads=1)
MANIFEST = {"created_at": "2026-12-07T06:00:00+00:00", "data_fingerprint": "f00d", "packages": {"numpy": "2.0"}}
# A segment level written as markup: the HTML must show it, not run it.
SCRIPT = "<script>alert(1)</script>"


def _table(task: str) -> tuple[pd.DataFrame, Contract]:
    """x and z numeric, `shop` categorical (a segment, one level rare), the target from x and shop."""
    rng = np.random.default_rng(7)
    x, z = rng.uniform(0, 10, ROWS), rng.normal(0, 1, ROWS)
    shop = rng.choice(["north", "south", SCRIPT], ROWS, p=[0.6, 0.36, 0.04])
    signal = x + 3 * (shop == "south") + rng.normal(0, 1.5, ROWS)
    labels: tuple[str, ...] | None = None
    if task == "binary_classification":
        target: np.ndarray = (signal > 8).astype(int)
    elif task == "multiclass_classification":
        target = np.digitize(signal, [4, 8])
        labels = KINDS
    else:
        target = signal
    features = (
        Feature(name="x", type="numeric"),
        Feature(name="z", type="numeric"),
        Feature(name="shop", type="categorical"),
    )
    contract = Contract(task=task, target="y", labels=labels, features=features, segments=("shop",))
    return pd.DataFrame({"x": x, "z": z, "shop": shop, "y": target}), contract


@dataclass(frozen=True)
class Made:
    card: ModelCard
    data: Split
    booster: lgb.Booster
    encoding: Encoding
    scores: np.ndarray


def _card(task: str, holdout_filter: bool = False) -> Made:
    frame, contract = _table(task)
    data = split_at_random(frame, contract, 0.3, 0.2, seed=3)
    if holdout_filter:
        # A holdout that never saw x above 7 (the top 30% of x's training range) or a southern shop.
        kept = (data.holdout["x"] <= 7) & (data.holdout["shop"] != "south")
        data = replace(data, holdout=data.holdout[kept].reset_index(drop=True))
    encoding = fit_encoding(data.train, contract, TRAINING.max_category_levels)
    booster = train_booster(data, contract, encoding, TRAINING)
    scores = predict(booster, encoding.transform(data.holdout))
    threshold = 0.5 if contract.is_binary else None
    labels = data.holdout["y"].to_numpy()
    metrics = evaluate(task, labels, scores, threshold, contract.class_labels)
    card = build_card(
        model_name="demo",
        version="3",
        run_id="run-1",
        contract=contract,
        data=data,
        rows=len(frame),
        encoding=encoding,
        booster=booster,
        evaluation=Evaluation(threshold, metrics, scores),
        decision=GateDecision(True, "challenger", "met every threshold", "2", 0.5),
        parity={"rows": len(labels), "max_abs_diff": 1e-7, "passed": True},
        manifest=MANIFEST,
        min_segment_rows=50,
        min_segment_positives=5,
        seed=0,
    )
    return Made(card, data, booster, encoding, scores)


@pytest.mark.parametrize("task", ["binary_classification", "multiclass_classification", "regression"])
def test_card_states_the_holdout_figures_segments_and_importance(task: str) -> None:
    """The card's metrics and each segment's are those the holdout gives; the rare level is a
    limitation; importance covers every feature; the Markdown says it all."""
    # Given a small model of each problem type
    made = _card(task)
    card, data, scores = made.card, made.data, made.scores
    holdout = data.holdout
    labels = holdout["y"].to_numpy()

    # Then the overall metrics are the holdout's, and each segment's its own rows'
    assert card.metrics == evaluate(task, labels, scores, card.threshold, card.class_labels)
    assert card.data.sizes == data.sizes()
    assert sum(s.n for s in card.segments) == len(holdout)
    for segment in card.segments:
        mask = (holdout["shop"] == segment.value).to_numpy()
        assert segment.n == mask.sum()
        expected = evaluate(task, labels[mask], scores[mask], card.threshold, card.class_labels)
        assert segment.metrics[card.primary_metric] == pytest.approx(expected[card.primary_metric], nan_ok=True)
    # The rare level has fewer holdout rows than the floor; the others have enough
    assert [s.value for s in card.too_few] == [SCRIPT]
    assert {i.feature for i in card.importance} == {"x", "z", "shop"}
    assert sum(i.gain_share for i in card.importance) == pytest.approx(1.0)
    assert card.importance[0].feature == "x"  # the target is built mostly from x
    assert card.shap_rows == len(holdout)
    assert card.uncovered == ()  # a random holdout spans the training ranges

    # And the task's own calibration section: reliability for classifiers, residuals for regression
    if task == "regression":
        assert card.reliability == ()
        assert card.residuals["mean (bias)"] == pytest.approx(float(np.mean(scores - labels)))
    else:
        assert sum(b.n for b in card.reliability) == len(holdout)
        assert card.calibration_error is not None
        assert 0 <= card.calibration_error <= 1
        if task == "multiclass_classification":
            # The answered class's confidence against how often it was right
            right = scores.argmax(axis=1) == labels
            weighted = sum(b.observed * b.n for b in card.reliability) / len(holdout)
            assert weighted == pytest.approx(right.mean())
    text = to_markdown(card)
    assert f"| {card.primary_metric} |" in text
    assert "Passed: met every threshold; alias challenger." in text
    assert f"Segment shop = {SCRIPT}:" in text
    assert ("## Residuals" in text) == (task == "regression")


@pytest.mark.parametrize("task", ["binary_classification", "multiclass_classification", "regression"])
def test_shap_contributions_sum_to_the_raw_score(task: str) -> None:
    """LightGBM's guarantee, on the card's reshaped blocks: each class's contributions plus
    the expected value add up to that class's raw score."""
    # Given a small model and its holdout
    made = _card(task)
    card, booster, encoding = made.card, made.booster, made.encoding
    matrix = encoding.transform(made.data.holdout)

    # When explained
    contributions = shap_contributions(booster, matrix)

    # Then one block per class (one for binary and regression) sums to the raw score
    raw = np.asarray(booster.predict(matrix, raw_score=True)).reshape(len(matrix), -1)
    assert contributions.shape == (len(matrix), raw.shape[1], encoding.n_features + 1)
    np.testing.assert_allclose(contributions.sum(axis=2), raw, rtol=1e-6, atol=1e-6)
    # And the card's mean |SHAP| is their mean magnitude (over rows and classes)
    expected = np.abs(contributions[:, :, :-1]).mean(axis=(0, 1))
    found = {i.feature: i.mean_abs_shap for i in card.importance}
    assert [found[name] for name in encoding.features] == pytest.approx(expected.tolist())


def test_a_holdout_that_misses_part_of_a_range_is_a_limitation() -> None:
    """A holdout without the training rows of x above 7 and of the southern shops lists x
    (about 30% of the training rows uncovered) and shop, not z, whose range it spans."""
    # Given a holdout filtered to x <= 7 and shops other than south
    made = _card("binary_classification", holdout_filter=True)
    card, data = made.card, made.data

    # Then x is listed with the share of training rows outside the holdout's range of x (most
    # of them above its largest), and shop with the share of training rows in the south
    x, shop = card.uncovered
    assert (x.feature, shop.feature) == ("x", "shop")
    low, top = data.holdout["x"].min(), data.holdout["x"].max()
    assert x.share == pytest.approx(float(((data.train["x"] < low) | (data.train["x"] > top)).mean()))
    assert 0.2 < x.share < 0.4
    assert shop.share == pytest.approx(float((data.train["shop"] == "south").mean()))
    assert shop.holdout == "lacks south"
    text = to_markdown(card)
    assert "Feature x:" in text
    assert "Feature shop:" in text


def test_html_card_escapes_what_the_data_wrote_and_draws_the_reliability_curve() -> None:
    """The segment level written as a script tag is shown as text; the chart is inline SVG."""
    # Given a binary card whose segment holds markup
    card = _card("binary_classification").card

    # When rendered to HTML
    page = render_html(card)

    # Then the markup is escaped, the chart and every section are there
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count('data-plot="reliability"') == 1
    assert page.count("<circle") == len(card.reliability)
    for heading in ("Training data", "Holdout metrics", "Known limitations", "Environment", "Feature importance"):
        assert f"<h2>{heading}</h2>" in page
