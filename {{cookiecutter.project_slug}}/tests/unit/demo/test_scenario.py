"""The demo's simulated production world: incidents start on their day, requests look like
a caller's, and the messy variants cover what real callers send."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.demo.scenario import Scenario, World, messy_requests
from {{ cookiecutter.package_name }}.errors import ProjectError


def test_incidents_start_on_their_days(contract: Contract) -> None:
    """Before its day an incident is absent from the traffic; from its day on it is present."""
    # Given a short scenario
    world = World(Scenario(requests_per_day=2_000), contract)
    s = world.scenario

    # When the days around each incident are generated
    before_schema, after_schema = world.traffic(s.schema_change_day - 1), world.traffic(s.schema_change_day)
    before_shift, after_shift = world.traffic(s.covariate_shift_day - 1), world.traffic(s.covariate_shift_day)

    # Then the unannounced column and the covariate shift appear exactly then
    assert "account_type" not in before_schema.columns
    assert "account_type" in after_schema.columns
    assert after_shift["amount"].median() > 1.3 * before_shift["amount"].median()
    # (event times are naive UTC, as in the prediction log)
    assert before_schema["event_time"].min() >= s.day_start(s.schema_change_day - 1).replace(tzinfo=None)
    assert after_schema["event_time"].max() < s.day_start(s.schema_change_day + 1).replace(tzinfo=None)


def test_replay_is_deterministic(contract: Contract) -> None:
    """The same seed replays the same day."""
    # Given two worlds with the same scenario / When a day is generated twice / Then it is identical
    first = World(Scenario(), contract).traffic(4)
    second = World(Scenario(), contract).traffic(4)
    pd.testing.assert_frame_equal(first, second)


def test_records_are_what_a_caller_sends(contract: Contract) -> None:
    """Request records carry the features (and ids) but never the target, and are JSON."""
    # Given a day's traffic
    world = World(Scenario(requests_per_day=500), contract)
    records = world.records(world.traffic(0))

    # Then the target is absent, nulls are omitted and the records serialise
    assert all(contract.target not in r for r in records)
    assert all(r.get("device_risk_score") is not None or "device_risk_score" not in r for r in records)
    json.dumps(records)


def test_faulty_extract_corrupts_only_the_biased_segment(contract: Contract, demo: pd.DataFrame) -> None:
    """The upstream bug touches the target of one segment and nothing else."""
    # Given the training data and the world's faulty extract of it
    world = World(Scenario(), contract)
    broken = world.faulty_extract(demo)
    column, level = world.scenario.biased_segment
    segment = demo[column].astype(str) == level

    # Then the segment's target changed and every other row is untouched
    pd.testing.assert_frame_equal(broken[~segment], demo[~segment])
    assert not broken.loc[segment, contract.target].equals(demo.loc[segment, contract.target])


def test_the_label_bug_hides_the_segments_frauds(contract: Contract, demo: pd.DataFrame) -> None:
    """In the segment, a fraud becomes no fraud (binary), the scenario's one kind (multiclass:
    the reason code is lost), or half its amount (regression); the rest stays as it was."""
    # Given the training data and its faulty extract
    world = World(Scenario(), contract)
    column, level = world.scenario.biased_segment
    segment = demo[column].astype(str) == level
    before = demo.loc[segment, contract.target]
    after = world.faulty_extract(demo).loc[segment, contract.target]

    # Then each label of the segment is what the bug makes of it
    if contract.is_multiclass:
        none = contract.class_labels[0]
        assert (after[before == none] == none).all()
        assert (after[before != none] == world.scenario.unmapped_kind).all()
        assert (before[before != none] != world.scenario.unmapped_kind).any()  # some kinds really changed
    elif contract.is_classification:
        assert (before == 1).any()
        assert (after == 0).all()
    else:
        assert np.allclose(after.to_numpy(dtype=float), before.to_numpy(dtype=float) * 0.5)


def test_a_label_bug_kind_outside_the_contract_is_refused(contract: Contract) -> None:
    """A multiclass demo whose bug would write a class the contract lacks stops at once,
    naming it; other problem types have no kind to check."""
    scenario = Scenario(unmapped_kind="not-a-kind")
    if not contract.is_multiclass:
        assert World(scenario, contract).scenario.unmapped_kind == "not-a-kind"
        return
    with pytest.raises(ProjectError, match="`not-a-kind`, which is not one of the contract's labels"):
        World(scenario, contract)


def test_messy_requests_cover_what_production_sends(contract: Contract, demo: pd.DataFrame) -> None:
    """Numbers as strings, odd and unseen categories, nulls, out-of-range values and broken
    bodies are all there, each with the outcome the service owes it."""
    # Given a valid record
    world = World(Scenario(), contract)
    record = world.records(demo.head(1))[0]

    # When its messy variants are made
    variants = {m.kind: m for m in messy_requests(record, contract)}

    # Then every kind is present with the right expectation
    assert {k for k, m in variants.items() if m.expect == "served"} >= {
        "number-as-string",
        "odd-case-and-spaces",
        "unseen-category",
        "non-ascii-category",
        "out-of-range",
    }
    assert {k for k, m in variants.items() if m.expect == "refused"} == {
        "missing-field",
        "null-where-forbidden",
        "wrong-type",
        "non-finite-number",
        "malformed-json",
        "empty-body",
        "wrong-content-type",
    }
    assert b"Infinity" in variants["non-finite-number"].body
