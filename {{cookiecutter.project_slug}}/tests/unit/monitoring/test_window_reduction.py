"""The window reduction: pages in any split add up to the same totals, and those equal what
the schema comparison and the drift engine read from the whole window at once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.core.histogram import count_categories, count_numeric, numeric_values
from {{ cookiecutter.package_name }}.model.reference_profile import CategoricalReference, NumericReference, compile_profile
from {{ cookiecutter.package_name }}.monitoring.schema_drift import FrameColumns
from {{ cookiecutter.package_name }}.monitoring.window import received_features
from {{ cookiecutter.package_name }}.monitoring.window_reduction import WindowReduction
from {{ cookiecutter.package_name }}.stores.prediction_log_pages import rows_frame
from tests.support.monitoring import demo_profile


def _rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Logged answers whose records are untidy: keys missing now and then, numbers as text,
    booleans as words, a field the contract does not know, a feature under another name."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        record: dict[str, Any] = {
            "amount": float(rng.lognormal(3, 1)) if i % 7 else str(round(float(rng.lognormal(3, 1)), 2)),
            "channel": ["online", "POS ", "atm", None][i % 4],
            "card_present": [True, False, "yes"][i % 3],
            "age": int(rng.integers(18, 90)),
        }
        if i % 11 == 0:
            record["amount"] = "n/a"
        if i % 5:
            record["hour_of_day"] = int(rng.integers(0, 24))
        if i > n // 2:
            record["account_type"] = "gold" if i % 2 else 3
        rows.append(
            {
                "request_id": f"r{i:05d}",
                "features": record,
                "model_version": "1" if i % 4 else "2",
                "schema_events": [{"kind": "unknown_field", "field": "account_type"}] if i > n // 2 else None,
                **dict.fromkeys(("role", "logged_at", "occurred_at", "model_name", "record_id", "decision")),
                **{"score": float(rng.random()), "latency_ms": 1.0, "probabilities": None},
                **{"label": None, "labelled_at": None},
            }
        )
    return rows


def _reduce(rows: list[dict[str, Any]], cuts: list[int]) -> WindowReduction:
    reduction = WindowReduction(compile_profile(demo_profile()), "1")
    for start, end in zip([0, *cuts], [*cuts, len(rows)], strict=True):
        page = rows_frame(rows[start:end])
        mine = page[page["model_version"] == "1"]
        reduction.add(page, received_features(page), {"scores": mine["score"].to_numpy(dtype=float)})
    return reduction


def _totals(reduction: WindowReduction) -> dict[str, Any]:
    reference = reduction.reference
    found: dict[str, Any] = {"rows": reduction.rows, "versions": dict(reduction.versions), "edge": dict(reduction.edge)}
    for name in reduction.names:
        found[name] = (reduction.kind(name), reduction.dtype(name), reduction.non_null(name))
    for name, spec in reference.features.items():
        if name in reduction.names and isinstance(spec, NumericReference):
            counted = reduction.numeric_counts(spec, name)
            found[f"bins:{name}"] = (counted.counts.tolist(), counted.missing, counted.n)
        elif name in reduction.names and isinstance(spec, CategoricalReference):
            found[f"levels:{name}"] = list(reduction.category_counts(spec, name)[0].items())
    found["renamed"] = reduction.distance(reference.features["customer_age"], "age")
    scores = reduction.answers("scores")
    found["scores"] = scores.tolist() if scores is not None else []
    return found


@pytest.mark.parametrize("cuts", [[1], [7, 8, 500], [333, 666, 999], list(range(50, 1200, 50))])
def test_pages_in_any_split_add_up_to_the_same_totals(cuts: list[int]) -> None:
    """Given 1,200 untidy answers, the totals after pages cut anywhere equal one page's."""
    # Given the answers
    rows = _rows(1200, seed=3)

    # When they are reduced whole and in pages
    whole, paged = _totals(_reduce(rows, [])), _totals(_reduce(rows, cuts))

    # Then every total is the same, in the same order
    assert list(whole) == list(paged)
    assert whole == paged


def test_the_totals_are_what_the_whole_window_frame_gives() -> None:
    """Column kinds, dtypes, non-null and unparseable counts, rename distances and per-feature
    counts from pages equal those of the window's DataFrame read at once."""
    # Given the window as one frame, and reduced in pages
    rows = _rows(1500, seed=5)
    frame = received_features(rows_frame(rows))
    reduction = _reduce(rows, list(range(100, 1500, 100)))
    columns, reference = FrameColumns(frame), reduction.reference

    # Then the schema comparison reads the same facts
    assert list(reduction.names) == list(columns.names)
    for name in columns.names:
        assert (reduction.kind(name), reduction.dtype(name), reduction.non_null(name)) == (
            columns.kind(name),
            columns.dtype(name),
            columns.non_null(name),
        ), name
    assert reduction.unparseable("amount") == columns.unparseable("amount") > 0
    spec = reference.features["customer_age"]
    assert reduction.distance(spec, "age") == columns.distance(spec, "age")

    # Then the drift engine counts the same bins and levels
    amount = reference.features["amount"]
    assert isinstance(amount, NumericReference)
    expected = count_numeric(numeric_values(frame["amount"])[0], amount.edges)
    found = reduction.numeric_counts(amount, "amount")
    assert (found.counts.tolist(), found.missing, found.n) == (expected.counts.tolist(), expected.missing, expected.n)
    assert found.sums == pytest.approx(expected.sums, rel=1e-12)
    channel = reference.features["channel"]
    assert isinstance(channel, CategoricalReference)
    levels, missing = count_categories(frame["channel"], boolean=channel.boolean, normalize=channel.normalize)
    assert reduction.category_counts(channel, "channel") == (levels, missing)
