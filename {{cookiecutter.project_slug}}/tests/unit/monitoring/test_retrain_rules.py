"""The retraining rules: sustained drift, performance below the floor, a schema change; once per incident."""

from __future__ import annotations

import pandas as pd
import pytest

from {{ cookiecutter.package_name }}.monitoring import retrain_rules
from {{ cookiecutter.package_name }}.monitoring.assessment import Assessment
from {{ cookiecutter.package_name }}.monitoring.history_rows import history_rows
from {{ cookiecutter.package_name }}.monitoring.retrain_rules import PERFORMANCE, SCHEMA_CHANGE, SUSTAINED_DRIFT, performance_floor
from {{ cookiecutter.package_name }}.monitoring.schema_drift import SchemaEvent
from {{ cookiecutter.package_name }}.settings import RetrainRuleSettings, Settings
from {{ cookiecutter.package_name }}.stores.monitoring_history import History
from tests.support.monitoring import PROFILE_STUB, assessment, drift_report, estimate, realized

DRIFTED = ("amount", "channel", "device_risk_score")  # 3 of 7 features: dataset drift at the default 25%
NO_EARLIER = pd.DataFrame(columns=["window_start", "dataset_drift"])  # the performance and schema rules ignore them
ADDED = SchemaEvent("account_type", "added", "column account_type is new (kind string)")
DROPPED = SchemaEvent("device_risk_score", "dropped", "feature device_risk_score is missing from the data")


def judge(history: History, settings: Settings, found: Assessment) -> retrain_rules.RetrainDecision:
    """What the flow does: store the run, decide, remember which rules held and which asked."""
    history.record_run(**history_rows(found, settings))
    decision = retrain_rules.evaluate(history, found, settings)
    history.update_run(found.run_id, retrain_rules=[r.rule for r in decision.met])
    if decision.emit:  # as `steps.request_retraining`: beside what earlier runs of the window asked
        history.add_emitted(found.run_id, [r.rule for r in decision.new], f"incident-{found.run_id}")
    return decision


def test_the_floor_is_relative_to_training_unless_set_and_points_the_right_way() -> None:
    """By default the floor sits `max_relative_drop` below the holdout value; an absolute floor
    replaces it; for an error metric (RMSE) it is a ceiling above the holdout value."""
    # Given the default rules, an absolute floor, and a regression profile
    rules = RetrainRuleSettings()
    absolute = RetrainRuleSettings(performance_floor=0.3)
    regression = {"task": "regression", "performance": {"rmse": 10.0}}

    # When the floors are computed
    relative_floor = performance_floor(PROFILE_STUB, rules)
    absolute_floor = performance_floor(PROFILE_STUB, absolute)
    ceiling = performance_floor(regression, rules)

    # Then each is where its documentation says, and breaches point the right way
    assert relative_floor.value == pytest.approx(0.4)
    assert relative_floor.breached(0.39)
    assert not relative_floor.breached(0.41)
    assert absolute_floor.value == 0.3
    assert ceiling.value == pytest.approx(12.0)
    assert ceiling.breached(12.5)
    assert not ceiling.breached(11.0)
    assert not relative_floor.breached(float("nan"))
    assert not relative_floor.breached(None)


def test_sustained_drift_needs_that_many_consecutive_drifted_windows(history: History, settings: Settings) -> None:
    """Dataset drift must hold in `drift_windows` (3) windows in a row: an undrifted window
    in between starts the count again."""
    # Given windows that drift, recover, then drift three times
    pattern = [True, False, True, True, True]

    # When each window is judged in turn
    decisions = [
        judge(history, settings, assessment(day, drift_report(DRIFTED if drifted else ())))
        for day, drifted in enumerate(pattern)
    ]

    # Then only the third drifted window in a row meets the rule, with the windows as evidence
    met = [[r.rule for r in d.met] for d in decisions]
    assert met == [[], [], [], [], [SUSTAINED_DRIFT]]
    evidence = decisions[-1].met[0].evidence
    assert len(evidence["windows"]) == 3
    assert evidence["drifted_features"] == sorted(DRIFTED)


def test_performance_is_judged_by_its_band_not_its_point(settings: Settings) -> None:
    """A realized value below the floor whose band still reaches above it is noise; a whole band
    below is a breach. Too few labels never breach. Before labels, the estimate's band counts
    when `use_estimate` is on."""
    # Given a floor of 0.4 (holdout 0.5, 20% drop) and several findings
    noisy = assessment(performance=realized(0.38), band=(0.30, 0.46))
    clear = assessment(performance=realized(0.30), band=(0.26, 0.34))
    few = assessment(performance=realized(0.30, n=100, reliable=False), band=(0.2, 0.38))
    estimated = assessment(predicted=estimate(0.3, 0.25, 0.35))
    no_estimates = settings.model_copy(update={"retrain_rules": RetrainRuleSettings(use_estimate=False)})

    # When the performance rule reads each
    def rule(found: Assessment, chosen: Settings = settings) -> list[str]:
        return [r.rule for r in retrain_rules.check_rules(found, NO_EARLIER, chosen)]

    # Then only a whole band below the floor counts
    assert rule(noisy) == []
    assert rule(clear) == [PERFORMANCE]
    assert rule(few) == []
    assert rule(estimated) == [PERFORMANCE]
    assert rule(estimated, no_estimates) == []
    breach = retrain_rules.performance_breach(
        clear, performance_floor(PROFILE_STUB, settings.retrain_rules), settings.retrain_rules
    )
    assert breach is not None
    assert breach.evidence["kind"] == "realized"
    assert breach.evidence["upper"] == 0.34


def test_schema_changes_count_in_served_data_and_in_refusals_at_scale(settings: Settings) -> None:
    """A dropped feature in the served records is a change; refused requests count only when
    their share reaches `max_rejection_share` (a few malformed requests are a caller's bug)."""
    # Given served data missing a feature, a few refusals, and many refusals with a renamed column
    renamed = SchemaEvent("merchant_category", "renamed", "merchant_category now arrives as mcc")
    served = assessment(drift=drift_report(schema=[DROPPED]))
    few = assessment(refused=5, rows=1000, refused_events=[renamed])
    many = assessment(refused=200, rows=1000, refused_events=[renamed])

    # When the rules read each
    results = {
        name: retrain_rules.schema_change(found, settings)
        for name, found in {"served": served, "few": few, "many": many}.items()
    }

    # Then the served change and the mass refusal meet the rule, the few refusals do not
    assert results["served"] is not None
    assert "dropped device_risk_score" in results["served"].reason
    assert results["few"] is None
    assert results["many"] is not None
    assert results["many"].evidence["events"][0]["source"] == "refused"


def test_a_rule_asks_for_retraining_once_per_incident(history: History, settings: Settings) -> None:
    """The first window in which a rule holds asks; the next windows of the same incident do
    not, nor does a rerun of the first window; once the rule stops holding, a new incident
    asks again; a new model version starts with a clean slate."""
    # Given a schema change lasting two windows, a clean window, the change again, then a new version
    changed, clean = drift_report(schema=[DROPPED]), drift_report()
    days = [
        (0, changed, "1"),
        (1, changed, "1"),
        (0, changed, "1"),
        (2, clean, "1"),
        (3, changed, "1"),
        (4, changed, "2"),
    ]

    # When each is judged in order (the third is a rerun of the first window)
    asked = [[r.rule for r in judge(history, settings, assessment(d, drift, v)).new] for d, drift, v in days]

    # Then retraining is asked for at the start of each incident only
    assert asked == [[SCHEMA_CHANGE], [], [], [], [SCHEMA_CHANGE], [SCHEMA_CHANGE]]


def test_a_new_column_alone_does_not_ask_for_retraining(settings: Settings) -> None:
    """An unannounced column is reported, but the model reads the same features, so a model
    retrained on the same contract could not use it: no retraining until the contract changes."""
    # Given served data whose only change is a new column
    found = assessment(drift=drift_report(schema=[ADDED]))

    # When the schema rule reads it / Then it does not ask
    assert retrain_rules.schema_change(found, settings) is None


def test_disabled_rules_never_ask(history: History, settings: Settings) -> None:
    """With `retrain_rules.enabled` off, nothing asks for retraining, whatever the evidence."""
    # Given rules switched off and a window with every kind of evidence
    off = settings.model_copy(update={"retrain_rules": RetrainRuleSettings(enabled=False)})
    found = assessment(drift=drift_report(DRIFTED, schema=[ADDED]), performance=realized(0.1), band=(0.05, 0.15))

    # When it is judged
    decision = judge(history, off, found)

    # Then no rule is met and nothing is asked
    assert decision.met == ()
    assert not decision.emit
