"""The degradation event monitoring sends, and the trigger in prefect.yaml that listens for it."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest
import yaml

from {{ cookiecutter.package_name }}.monitoring.degradation_event import (
    DEGRADED,
    INCIDENT_LABEL,
    Degradation,
    EventError,
    model_resource_id,
)
from tests.support.project import PROJECT_ROOT

# Prefect's template braces, spelled so that no template engine touches this file.
OPEN, CLOSE = "{" * 2, "}" * 2


def retrain_trigger() -> dict[str, Any]:
    config = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    (training,) = [d for d in config["deployments"] if d["entrypoint"] == "flows/training.py:training"]
    (trigger,) = training["triggers"]
    return trigger  # type: ignore[no-any-return]


def test_the_event_carries_reason_incident_and_json_evidence() -> None:
    """The payload holds the reason (a string), the incident id and the evidence as plain JSON
    (non-finite numbers become null, numpy-like values their Python value); the evidence
    repeats the incident id so the training run can tell which incident it answers."""
    # Given a degradation with awkward evidence
    degradation = Degradation(
        model_name="fraud-detection",
        reason="realized precision 0.31 below the floor 0.50",
        incident_id="perf-2026-03-01",
        evidence={"precision": 0.31, "recall": float("nan"), "features": ("amount", "channel")},
        model_version="3",
    )

    # When the payload and resource are built
    payload, resource = degradation.payload(), degradation.resource()

    # Then they are JSON and say what happened to which model
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload
    assert payload["reason"] == "realized precision 0.31 below the floor 0.50"
    assert payload["incident_id"] == "perf-2026-03-01"
    assert payload["evidence"] == {
        "precision": 0.31,
        "recall": None,
        "features": ["amount", "channel"],
        "incident_id": "perf-2026-03-01",
        "model_version": "3",
    }
    assert resource["prefect.resource.id"] == model_resource_id("fraud-detection")
    assert resource[INCIDENT_LABEL] == "perf-2026-03-01"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("reason", " ", "needs a reason"),
        ("reason", 0.31, "needs a reason, as text"),
        ("incident_id", "", "needs an incident id"),
        ("model_name", "", "model"),
        ("evidence", ["drift"], "must be a mapping"),
    ],
)
def test_an_event_without_reason_incident_or_model_is_refused(field: str, value: object, message: str) -> None:
    """Reason, incident id and model name are required text, the evidence an object: the
    automation passes them on with their JSON type, and the training deployment would refuse
    a number where it expects text (no run would start)."""
    # Given / When / Then
    fields = {"model_name": "m", "reason": "r", "incident_id": "i", field: value}
    with pytest.raises(EventError, match=message):
        Degradation(**fields)  # type: ignore[arg-type]


def test_evidence_too_large_for_an_event_is_refused() -> None:
    """Evidence is a summary: a payload Prefect would refuse is stopped here with a clear error."""
    # Given evidence holding a whole table / When the payload is built / Then
    with pytest.raises(EventError, match="send a summary"):
        Degradation("m", "drift", "i", {"rows": ["x" * 100] * 5000}).payload()


def test_the_retraining_trigger_listens_for_this_event_once_per_incident() -> None:
    """prefect.yaml's trigger expects this event on this project's model resources, counts each
    incident separately, fires on the first event and then absorbs repeats for a while; it
    passes the reason and evidence through as single-expression templates (types kept)."""
    # Given the trigger declared with the training deployment, and an event
    trigger = retrain_trigger()
    event = Degradation("fraud-detection", "drift", "incident-7")

    # When / Then it matches the event and its resource
    assert trigger["expect"] == [DEGRADED]
    assert fnmatch.fnmatch(event.resource()["prefect.resource.id"], trigger["match"]["prefect.resource.id"])
    assert trigger["for_each"] == [INCIDENT_LABEL]
    assert (trigger["posture"], trigger["threshold"]) == ("Reactive", 1)
    assert trigger["within"] >= 24 * 3600
    assert trigger["parameters"] == {
        "reason": f"{OPEN} event.payload.reason {CLOSE}",
        "evidence": f"{OPEN} event.payload.evidence {CLOSE}",
    }
