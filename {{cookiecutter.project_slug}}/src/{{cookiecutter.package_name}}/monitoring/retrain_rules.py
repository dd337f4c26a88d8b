"""When monitoring asks for a new model, and with what evidence.

Three rules, each with its thresholds in `RetrainRuleSettings`:

- sustained drift: the dataset drifted in the last `drift_windows` monitored
  windows of the current model (one odd day is not a new normal);
- performance: the whole bootstrap band of the primary metric realized on enough
  labelled answers is below the floor, or (before labels arrive) the whole band
  of its estimate is (realized_band.py says why a band);
- schema change: the served records changed shape, or refused requests did
  while refusals are frequent enough to matter.

A rule asks for retraining once per incident: when it starts to hold for the
monitored model version, not at every run while it keeps holding. A new model
version starts with a clean slate, and rerunning a window that already asked
does not ask again.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..core.metrics import primary_metric

if TYPE_CHECKING:
    from ..settings import RetrainRuleSettings, Settings
    from ..stores.monitoring_history import History
    from .assessment import Assessment

SUSTAINED_DRIFT, PERFORMANCE, SCHEMA_CHANGE = "sustained_drift", "performance_floor", "schema_change"


@dataclass(frozen=True)
class Floor:
    """The primary metric's floor (a ceiling for error metrics such as RMSE)."""

    metric: str
    higher_is_better: bool
    baseline: float | None
    value: float | None

    def breached(self, value: float | None) -> bool:
        if value is None or self.value is None or math.isnan(value):  # NaN: nothing to judge
            return False
        return value < self.value if self.higher_is_better else value > self.value

    def describe(self) -> str:
        word = "floor" if self.higher_is_better else "ceiling"
        base = f" (training holdout {self.baseline:.3f})" if self.baseline is not None else ""
        return f"the {word} {self.value:.3f}{base}" if self.value is not None else f"no {word}"


def floor_for(baseline: float | None, metric: str, higher_is_better: bool, rules: RetrainRuleSettings) -> Floor:
    if rules.performance_floor is not None:
        value: float | None = rules.performance_floor
    elif baseline is None:
        value = None
    else:
        factor = 1 - rules.max_relative_drop if higher_is_better else 1 + rules.max_relative_drop
        value = baseline * factor
    return Floor(metric, higher_is_better, baseline, value)


def performance_floor(profile: Mapping[str, Any], rules: RetrainRuleSettings) -> Floor:
    """The floor of the profile's primary metric, from its training-holdout value."""
    primary = primary_metric(str(profile["task"]))
    baseline = profile.get("performance", {}).get(primary.name)
    return floor_for(float(baseline) if baseline is not None else None, primary.name, primary.higher_is_better, rules)


@dataclass(frozen=True)
class RuleResult:
    rule: str
    reason: str  # one line, for people
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "reason": self.reason, "evidence": self.evidence}


def sustained_drift(assessment: Assessment, earlier: pd.DataFrame, settings: RetrainRuleSettings) -> RuleResult | None:
    """`earlier`: the latest run of each earlier window of this model version, oldest first."""
    if not assessment.drift.dataset_drifted:
        return None
    needed = settings.drift_windows - 1
    previous = earlier.tail(needed) if needed else earlier.iloc[0:0]
    if len(previous) < needed or not previous["dataset_drift"].astype(bool).all():
        return None
    windows = [*(f"{s:%Y-%m-%d %H:%M}" for s in previous["window_start"]), f"{assessment.window.start:%Y-%m-%d %H:%M}"]
    drifted = sorted(set(assessment.drift.drifted_features))
    return RuleResult(
        SUSTAINED_DRIFT,
        f"the data drifted in {settings.drift_windows} consecutive windows "
        f"({len(drifted)} of {assessment.drift.scored} features now: {', '.join(drifted[:8])})",
        {"windows": windows, "drifted_features": drifted, "share_drifted": assessment.drift.share_drifted},
    )


def performance_breach(assessment: Assessment, floor: Floor, settings: RetrainRuleSettings) -> RuleResult | None:
    realized = assessment.realized
    low, high = assessment.realized_bands.get("", (float("nan"), float("nan")))
    if realized is not None and realized.reliable and floor.breached(high if floor.higher_is_better else low):
        value = realized.primary.current
        return RuleResult(
            PERFORMANCE,
            f"realized {floor.metric} {value:.3f} (band {low:.3f} to {high:.3f}) on {realized.n_labelled:,} "
            f"labelled answers is past {floor.describe()}",
            {
                "kind": "realized",
                "metric": floor.metric,
                "value": value,
                "lower": low,
                "upper": high,
                "floor": floor.value,
                "baseline": floor.baseline,
                "n_labelled": realized.n_labelled,
            },
        )
    estimate = assessment.estimate
    if not settings.use_estimate or estimate is None or estimate.primary_metric != floor.metric:
        return None
    primary = estimate.primary
    best = primary.upper if floor.higher_is_better else primary.lower
    if not floor.breached(best):
        return None
    return RuleResult(
        PERFORMANCE,
        f"estimated {floor.metric} {primary.value:.3f} (band {primary.lower:.3f} to {primary.upper:.3f}, no labels "
        f"yet) is past {floor.describe()}",
        {
            "kind": "estimated",
            "metric": floor.metric,
            "value": primary.value,
            "lower": primary.lower,
            "upper": primary.upper,
            "floor": floor.value,
            "baseline": floor.baseline,
            "n": estimate.n,
        },
    )


def schema_change(assessment: Assessment, settings: Settings) -> RuleResult | None:
    kinds = set(settings.retrain_rules.schema_kinds)
    events = [("served", e) for e in assessment.drift.schema if e.kind in kinds]
    # A few malformed requests are the caller's bug; refusals at scale are an upstream change.
    if assessment.refused_share >= settings.monitoring.max_rejection_share:
        events += [("refused", e) for e in assessment.refused_events if e.kind in kinds]
    if not events:
        return None
    named = sorted({f"{e.kind} {e.column}" for _, e in events})
    return RuleResult(
        SCHEMA_CHANGE,
        f"the data changed shape: {', '.join(named[:8])}{' and more' if len(named) > 8 else ''}",
        {"events": [{"source": source, **event.to_dict()} for source, event in events]},
    )


def check_rules(assessment: Assessment, earlier: pd.DataFrame, settings: Settings) -> list[RuleResult]:
    """The rules that hold for this run (all of them, new or continuing)."""
    rules = settings.retrain_rules
    if not rules.enabled or assessment.status != "complete":
        return []
    floor = performance_floor(assessment.model.profile, rules)
    found = [
        sustained_drift(assessment, earlier, rules),
        performance_breach(assessment, floor, rules),
        schema_change(assessment, settings) if rules.schema_change else None,
    ]
    return [result for result in found if result is not None]


@dataclass(frozen=True)
class RetrainDecision:
    """The rules met in this run, and which of them start an incident (and so ask for retraining)."""

    met: tuple[RuleResult, ...] = ()
    new: tuple[RuleResult, ...] = ()

    @property
    def emit(self) -> bool:
        return bool(self.new)

    @property
    def reason(self) -> str:
        return "; ".join(result.reason for result in self.new)

    def evidence(self, assessment: Assessment) -> dict[str, Any]:
        """What the degradation event carries: enough to judge the request without the report."""
        return {
            "rules": [result.to_dict() for result in self.new],
            "continuing": [result.rule for result in self.met if result not in self.new],
            "model_name": assessment.model.name,
            "model_version": assessment.model.version,
            "window": assessment.window.to_dict(),
            "monitoring_run_id": assessment.run_id,
            "rows": assessment.rows,
        }


def decide(met: list[RuleResult], previously_met: Collection[str], already_emitted: Collection[str]) -> RetrainDecision:
    """A rule is new when the previous window of the same model did not meet it, and no
    earlier run of this same window already asked for it."""
    new = tuple(r for r in met if r.rule not in previously_met and r.rule not in already_emitted)
    return RetrainDecision(tuple(met), new)


def _rules(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def evaluate(history: History, assessment: Assessment, settings: Settings) -> RetrainDecision:
    """Read the model version's earlier windows from the history and decide."""
    model, window = assessment.model, assessment.window
    limit = max(settings.retrain_rules.drift_windows, 2) + 1
    runs = history.windows(model.name, limit=limit * 4, until=window.end)
    runs = runs[(runs["model_version"] == model.version) & (runs["run_id"] != assessment.run_id)] if len(runs) else runs
    earlier = runs[runs["window_end"] < window.end] if len(runs) else runs
    same = history.window_runs(model.name, model.version, window.start, window.end)
    met = check_rules(assessment, earlier.tail(limit), settings)
    previously = _rules(earlier.iloc[-1]["retrain_rules"]) if len(earlier) else []
    # The window's stored run carries the rules its earlier runs already asked for (`record_run`).
    emitted = {rule for value in same for rule in _rules(value["retrain_emitted"])}
    return decide(met, previously, emitted)
