"""Schema drift: every change in the shape of the data is exactly one event, and never a crash."""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.data.demo_world import TrafficShift
from {{ cookiecutter.package_name }}.model.reference_profile import Reference, compile_profile, fit_profile
from {{ cookiecutter.package_name }}.monitoring.drift import score_window
from {{ cookiecutter.package_name }}.monitoring.drift_report import DriftReport
from tests.support.drift_data import demo_reference, demo_window, project_contract

ROWS = 5_000


@cache
def profile() -> Reference:
    return compile_profile(fit_profile(demo_reference(), project_contract()))


def events(report: DriftReport) -> list[tuple[str, str]]:
    return [(event.column, event.kind) for event in report.schema]


def test_an_unannounced_upstream_column_is_one_added_event() -> None:
    """The incident behind this issue: upstream adds `account_type` and nobody says so."""
    # Given a day where the data carries a new column
    window = demo_window(ROWS, day=1, shift=TrafficShift(extra_columns=("account_type",)))

    # When scored / Then exactly one event says so, and no feature drifts because of it
    report = score_window(profile(), window)
    assert events(report) == [("account_type", "added")]
    assert report.schema[0].data == {"kind": "string"}
    assert report.drifted_features == ()


def test_a_dropped_feature_is_one_dropped_event_and_reported_missing() -> None:
    """A feature missing from the data is an event, and the feature is reported missing, not scored."""
    # Given a day without device_risk_score
    window = demo_window(ROWS, day=2).drop(columns=["device_risk_score"])

    # When scored
    report = score_window(profile(), window)

    # Then one event, the feature is missing, and the others are still judged
    assert events(report) == [("device_risk_score", "dropped")]
    assert report.feature("device_risk_score").status == "missing"
    assert report.scored == len(project_contract().features) - 1


def test_a_renamed_feature_is_found_by_its_values_and_scored_under_its_new_name() -> None:
    """Same values, new name: one `renamed` event (not dropped + added), and drift still measured."""
    # Given a day where `amount` arrives as `amount_usd`
    window = demo_window(ROWS, day=3).rename(columns={"amount": "amount_usd"})

    # When scored
    report = score_window(profile(), window)

    # Then the rename is the only event, and `amount` is scored from its new column
    assert events(report) == [("amount", "renamed")]
    assert report.schema[0].data["new_name"] == "amount_usd"
    amount = report.feature("amount")
    assert amount.column == "amount_usd"
    assert amount.status == "stable"


def test_a_renamed_categorical_is_found_too() -> None:
    """Renames are matched on level shares for categoricals."""
    # Given `merchant_category` renamed to `mcc_group` / When scored / Then one renamed event
    window = demo_window(ROWS, day=3).rename(columns={"merchant_category": "mcc_group"})
    report = score_window(profile(), window)
    assert events(report) == [("merchant_category", "renamed")]
    assert report.feature("merchant_category").column == "mcc_group"


def test_a_new_column_with_different_values_is_not_taken_for_a_rename() -> None:
    """A dropped feature and an unrelated new column stay a dropped and an added event."""
    # Given amount dropped and an unrelated numeric column added
    window = demo_window(ROWS, day=4).drop(columns=["amount"])
    window["loyalty_points"] = np.random.default_rng(0).integers(0, 10_000, len(window))

    # When scored / Then no rename is claimed
    report = score_window(profile(), window)
    assert sorted(events(report)) == [("amount", "dropped"), ("loyalty_points", "added")]


def test_numbers_arriving_as_text_are_one_type_change_and_still_scored() -> None:
    """A numeric feature sent as text, with more than a stray value that is not a number, is a
    type change; the parseable values are still compared."""
    # Given amounts as strings, 2% of them not numbers at all
    window = demo_window(ROWS, day=5)
    text = window["amount"].map(lambda v: f"{v:.2f}").astype(object)
    text.iloc[:100] = "n/a"
    window["amount"] = text

    # When scored
    report = score_window(profile(), window)

    # Then one event names the change and the unparseable count, and amount is still judged
    assert events(report) == [("amount", "type_changed")]
    assert report.schema[0].data == {
        "expected": "numeric",
        "found": "string",
        "dtype": str(text.dtype),
        "unparseable": 100,
    }
    amount = report.feature("amount")
    assert "distribution" not in amount.reasons  # the values that parse still match the reference
    assert amount.null_rate_current == pytest.approx(100 / ROWS)  # the others count as missing


def test_a_stray_number_sent_as_text_is_not_a_type_change() -> None:
    """One caller sending "12.5" (which the service reads as a number) is not the column
    changing type."""
    # Given numeric amounts with one sent as text and one that is not a number
    window = demo_window(ROWS, day=5)
    amounts = window["amount"].astype(object)
    amounts.iloc[0] = "12.50"
    amounts.iloc[1] = "twelve"
    window["amount"] = amounts

    # When scored / Then no schema event, and the feature is judged as usual
    report = score_window(profile(), window)
    assert events(report) == []
    assert report.feature("amount").status == "stable"


def test_codes_instead_of_names_are_a_type_change() -> None:
    """A categorical arriving as integer codes is a type change (and its levels are all unseen)."""
    # Given card_type sent as 0/1/2
    window = demo_window(ROWS, day=6)
    window["card_type"] = window["card_type"].map({"credit": 0, "debit": 1, "prepaid": 2})

    # When scored / Then one type-change event, and the feature drifts on unseen levels
    report = score_window(profile(), window)
    assert events(report) == [("card_type", "type_changed")]
    assert "unseen_categories" in report.feature("card_type").reasons


def test_unknown_service_fields_are_events_with_their_counts() -> None:
    """Fields the service received but does not know are reported with how often they came."""
    # Given an undrifted day, and the service's count of unknown fields
    window = demo_window(ROWS, day=7)

    # When scored with those fields (as counts, or as a list of names)
    with_counts = score_window(profile(), window, unknown_fields={"account_type": 812, "promo": 3})
    with_names = score_window(profile(), window, unknown_fields=["promo", "account_type", "promo"])

    # Then each field is one event carrying its count
    assert events(with_counts) == [("account_type", "unknown_field"), ("promo", "unknown_field")]
    assert [e.data["count"] for e in with_counts.schema] == [812, 3]
    assert [e.data["count"] for e in with_names.schema] == [1, 2]


def test_known_non_feature_columns_are_not_events() -> None:
    """The id, timestamp and target may come and go (labels arrive later): no event."""
    # Given a window without the target and id columns / When scored / Then no schema event
    window = demo_window(ROWS, day=8).drop(columns=["transaction_id", project_contract().target])
    assert events(score_window(profile(), window)) == []


def test_bookkeeping_columns_can_be_ignored() -> None:
    """The prediction log's own columns (score, model version) are not data: ignored, they raise no event."""
    # Given an undrifted day carrying the log's bookkeeping columns
    window = demo_window(ROWS, day=10)
    window["score"] = 0.1
    window["model_version"] = "3"

    # When scored with and without naming them / Then they are events only when not ignored
    assert events(score_window(profile(), window, ignore_columns=["score", "model_version"])) == []
    assert sorted(events(score_window(profile(), window))) == [("model_version", "added"), ("score", "added")]


def test_everything_wrong_at_once_never_crashes() -> None:
    """Duplicated and non-text column names, all-null and infinite values, empty strings, mixed
    types: the engine reports what it sees and still judges the rest."""
    # Given a small window with every oddity at once
    window = demo_window(500, day=9)
    window["customer_age"] = np.nan
    window["distance_from_home_km"] = np.inf
    window["channel"] = window["channel"].astype(object)
    window.loc[:50, "channel"] = ""
    window.loc[51:60, "channel"] = 7
    window["card_present"] = window["card_present"].map({True: "yes", False: "no"})
    window[42] = "a column named by a number"
    window = pd.concat([window, window[["hour_of_day"]]], axis=1)

    # When scored
    report = score_window(profile(), window, scores=np.full(len(window), np.nan), unknown_fields={})

    # Then the oddities are events or missing values, and nothing raised
    kinds = dict(events(report))
    assert kinds["hour_of_day"] == "duplicated"
    assert kinds["42"] == "added"
    assert kinds["card_present"] == "type_changed"
    assert report.feature("customer_age").reasons == ("missing_values",)
    assert report.feature("distance_from_home_km").null_rate_current == 1.0
    assert report.feature("channel").drifted
    assert report.to_dict()["rows"] == 500
