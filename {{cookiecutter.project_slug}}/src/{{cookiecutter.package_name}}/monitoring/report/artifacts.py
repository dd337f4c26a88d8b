"""A monitoring run in brief, for Prefect's artifacts: a markdown summary and a per-feature table.

Nothing secret goes in (alert routes are named by channel, never by URL); the
full picture is the HTML report, whose path the summary gives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..alerts import Outcome
    from ..assessment import Assessment
    from ..retrain_rules import RetrainDecision

SUMMARY_KEY = "monitoring-summary"
FEATURES_KEY = "monitoring-features"


def _f(value: float | None, fmt: str = "{:.3f}") -> str:
    return "–" if value is None or not math.isfinite(value) else fmt.format(value)


def markdown(
    assessment: Assessment,
    decision: RetrainDecision,
    outcomes: Sequence[Outcome],
    report: str | None,
    incident: str | None = None,
) -> str:
    drift, model = assessment.drift, assessment.model
    lines = [
        f"# Monitoring {model.name} v{model.version}: {assessment.window.label}",
        "",
        (
            f"- answers: {assessment.rows:,} ({assessment.scored_rows:,} by v{model.version}); refused requests: "
            f"{assessment.refused_requests:,}"
        ),
        f"- feature drift: {len(drift.drifted_features)} of {drift.scored} features"
        + (f" ({', '.join(drift.drifted_features[:10])})" if drift.drifted_features else "")
        + f"; dataset drift: **{'yes' if drift.dataset_drifted else 'no'}**",
    ]
    if drift.prediction is not None and assessment.scored_rows:
        lines.append(
            f"- score drift: {'yes' if drift.prediction.drifted else 'no'} "
            f"(PSI {_f(drift.prediction.scores.psi, '{:.3f}')})"
        )
    events = [*drift.schema, *assessment.refused_events]
    lines.append(
        f"- schema events: {len(events)}" + (" (" + "; ".join(e.detail for e in events[:5]) + ")" if events else "")
    )
    if assessment.realized is not None:
        primary = assessment.realized.primary
        lines.append(
            f"- realized {primary.name}: {_f(primary.current)} on {assessment.realized.n_labelled:,} labelled "
            f"answers (training {_f(primary.baseline)})"
            + ("" if assessment.realized.reliable else ", too few labels to judge")
        )
    if assessment.estimate is not None:
        estimated = assessment.estimate.primary
        lines.append(
            f"- estimated {estimated.name} (no labels needed): {_f(estimated.value)} "
            f"[{_f(estimated.lower)}, {_f(estimated.upper)}]"
        )
    if decision.met:
        asked = f"requested (incident {incident})" if incident else "already requested for this incident"
        lines.append(f"- retraining: {asked}: {'; '.join(r.reason for r in decision.met)}")
    lines += ["", "| alert | severity | status | why |", "|---|---|---|---|"]
    lines += [f"| {o.alert.title} | {o.alert.severity} | {o.status} | {o.detail or ''} |" for o in outcomes] or [
        "| none | | | |"
    ]
    if report:
        lines += ["", f"Report: `{report}`"]
    return "\n".join(lines)


def feature_table(assessment: Assessment) -> list[dict[str, Any]]:
    """One row per feature, drifted first."""
    rows = []
    for found in sorted(assessment.drift.features, key=lambda f: (not f.drifted, f.feature)):
        effect = found.wasserstein if found.kind == "numeric" else found.max_share_change
        rows.append(
            {
                "feature": found.feature,
                "kind": found.kind,
                "status": found.status,
                "reasons": ", ".join(found.reasons),
                "p_adjusted": _f(found.p_adjusted, "{:.2g}"),
                "effect": _f(effect, "{:.3f}"),
                "psi": _f(found.psi),
                "null_rate": f"{_f(found.null_rate_reference, '{:.1%}')} -> {_f(found.null_rate_current, '{:.1%}')}",
            }
        )
    return rows
