"""Shadow evaluation's steps: read the paired requests, evaluate, record, act.

flows/shadow.py runs them in order as Prefect tasks; each also runs on its own.
The statistics and the decision rules are in `shadow_statistics.py`; the
alias moves and their guard rails in `aliases.py`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..stores import prediction_log as predictions
from ..stores import registry
from ..stores.monitoring_history import History, ShadowDecision
from ..stores.registry import CHALLENGER, CHAMPION

# flows/shadow.py connects to the registry and reads the aliases through this module.
from ..stores.registry import aliases as aliases  # noqa: PLC0414 - re-exported for the flow
from ..stores.registry import connect as connect  # noqa: PLC0414 - re-exported for the flow
from . import aliases as promotion
from . import canary_steps
from .shadow_evidence import PROMOTE, REJECT, Latency, MetricComparison, Rules, SegmentResult, ShadowEvidence
from .shadow_statistics import evaluate_pairs

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from ..core.contract import Contract
    from ..settings import Settings

log = logging.getLogger(__name__)
SOURCE = "shadow-evaluation"  # the history's source of the decisions this flow records
DECISION, REASON, EVALUATED_AT, EVIDENCE = "shadow.decision", "shadow.reason", "shadow.evaluated_at", "shadow.evidence"
PAIRED_COLUMNS = [
    "request_id",
    "logged_at",
    "label",
    "champion_score",
    "challenger_score",
    "champion_decision",
    "challenger_decision",
    "champion_latency_ms",
    "challenger_latency_ms",
    "champion_probabilities",  # multiclass: every class's probability (a list per row), else None
    "challenger_probabilities",
]


@dataclass(frozen=True)
class Lineup:
    model_name: str
    champion: str | None
    challenger: str | None

    @property
    def ready(self) -> bool:
        return self.champion is not None and self.challenger is not None and self.champion != self.challenger


def lineup(client: MlflowClient, name: str) -> Lineup:
    found = registry.aliases(client, name)
    return Lineup(name, found.get(CHAMPION), found.get(CHALLENGER))


def window(settings: Settings, now: datetime | None = None, days: int | None = None) -> tuple[datetime, datetime]:
    end = now or datetime.now(UTC)
    return end - timedelta(days=days or settings.shadow_evaluation.window_days), end


def _segment_values(column: pd.Series, contract: Contract, name: str) -> pd.Series:
    """Segment values as the service judged them: categoricals normalised the contract's way."""
    feature = next((f for f in contract.features if f.name == name), None)
    if feature is None or feature.type != "categorical":
        return column
    return column.map(lambda v: feature.clean(v) if isinstance(v, str) else v)


def _with_every_class(paired: pd.DataFrame, n_classes: int) -> pd.DataFrame:
    """Multiclass: the requests both models gave every class's probability for."""
    whole = [
        paired[f"{role}_probabilities"].map(lambda found: isinstance(found, list | tuple) and len(found) == n_classes)
        for role in ("champion", "challenger")
    ]
    return paired[(whole[0] & whole[1]).to_numpy(dtype=bool)]


def pair_requests(frame: pd.DataFrame, lineup: Lineup, contract: Contract) -> pd.DataFrame:
    """One row per request that the current champion answered and the current challenger
    also scored: both scores, decisions, latencies and (multiclass) probabilities, the label
    (if any) and the segments. Rows from earlier versions in either role are left out, and,
    for a multiclass model, rows without every class's probability in either role."""
    segments = [s for s in contract.segments if s in frame.columns]
    if frame.empty:
        return pd.DataFrame(columns=[*PAIRED_COLUMNS, *segments])
    if "probabilities" not in frame.columns:
        frame = frame.assign(probabilities=None)
    old = frame[(frame["role"] == CHAMPION) & (frame["model_version"].astype(str) == lineup.champion)]
    new = frame[(frame["role"] == CHALLENGER) & (frame["model_version"].astype(str) == lineup.challenger)]
    measures = ("score", "decision", "latency_ms", "probabilities")
    paired = old[["request_id", "logged_at", "label", *measures, *segments]].merge(
        new[["request_id", *measures]], on="request_id", suffixes=("_champion", "_challenger"), validate="one_to_one"
    )
    roles = ("champion", "challenger")
    paired = paired.rename(columns={f"{m}_{role}": f"{role}_{m}" for m in measures for role in roles})
    if contract.is_multiclass:
        paired = _with_every_class(paired, contract.n_classes)
    paired["label"] = pd.to_numeric(paired["label"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    for segment in segments:
        paired[segment] = _segment_values(paired[segment], contract, segment)
    return paired[[*PAIRED_COLUMNS, *segments]].reset_index(drop=True)


def read_pairs(settings: Settings, lineup: Lineup, contract: Contract, start: datetime, end: datetime) -> pd.DataFrame:
    frame = predictions.read_window(settings, start, end, roles=(CHAMPION, CHALLENGER))
    return pair_requests(frame, lineup, contract)


def evaluate(
    paired: pd.DataFrame, lineup: Lineup, contract: Contract, settings: Settings, start: datetime, end: datetime
) -> ShadowEvidence:
    assert lineup.champion is not None
    assert lineup.challenger is not None
    return evaluate_pairs(
        paired,
        task=contract.task,
        segments=[s for s in contract.segments if s in paired.columns],
        rules=Rules.from_settings(settings.shadow_evaluation),
        model_name=lineup.model_name,
        champion_version=lineup.champion,
        challenger_version=lineup.challenger,
        window=(start.isoformat(timespec="seconds"), end.isoformat(timespec="seconds")),
        evaluated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        class_labels=contract.class_labels if contract.is_multiclass else (),
    )


def record(client: MlflowClient, evidence: ShadowEvidence, settings: Settings) -> None:
    """The decision and its evidence: as tags in MLflow (in full on the challenger, in short on
    the champion), and as a row of the monitoring history, where the report shows every
    decision over time, including the "keep waiting" ones the next evaluation overwrites in
    MLflow. Recording the same decision again adds no second row."""
    name = evidence.model_name
    registry.set_tags(
        client,
        name,
        evidence.challenger_version,
        {
            DECISION: evidence.decision,
            REASON: evidence.reason,
            EVALUATED_AT: evidence.evaluated_at,
            "shadow.champion_version": evidence.champion_version,
            EVIDENCE: evidence.to_json(),
        },
    )
    registry.set_tags(
        client,
        name,
        evidence.champion_version,
        {
            "shadow.last_challenger": evidence.challenger_version,
            "shadow.last_decision": evidence.decision,
            "shadow.last_evaluated_at": evidence.evaluated_at,
        },
    )
    with History.from_settings(settings) as history:
        history.record_shadow_decision(decision_row(evidence))


def decision_row(evidence: ShadowEvidence, source: str = SOURCE) -> ShadowDecision:
    """One decision as the history stores it; `difference` is the challenger's improvement
    in the primary metric's own units (positive: better), with its confidence interval."""
    overall = evidence.overall
    segments: list[dict[str, Any]] = []
    for segment in evidence.segments:
        found = segment.comparison
        segments.append(
            {
                "segment": segment.column,
                "level": segment.value,
                "n": segment.n,
                "judged": segment.judged,
                "verdict": "worse" if segment.worse else "ok" if segment.judged else "too few",
                "difference": found.improvement if found is not None else None,
            }
        )
    return ShadowDecision(
        decided_at=datetime.fromisoformat(evidence.evaluated_at),
        model_name=evidence.model_name,
        champion_version=evidence.champion_version,
        challenger_version=evidence.challenger_version,
        decision=str(evidence.decision),
        reason=evidence.reason,
        n=evidence.labelled,
        primary_metric=overall.metric if overall is not None else None,
        champion_value=overall.champion if overall is not None else None,
        challenger_value=overall.challenger if overall is not None else None,
        difference=overall.improvement if overall is not None else None,
        ci_lower=overall.ci_low if overall is not None else None,
        ci_upper=overall.ci_high if overall is not None else None,
        segments=segments,
        evidence={
            "paired": evidence.paired,
            "window": [evidence.window_start, evidence.window_end],
            "rules": evidence.rules,
            **({"classes": evidence.classes} if evidence.classes is not None else {}),
        },
        source=source,
    )


def load_evidence(client: MlflowClient, name: str, version: str) -> ShadowEvidence | None:
    """The last shadow evaluation recorded on a version (for the monitoring report)."""
    text = client.get_model_version(name, version).tags.get(EVIDENCE)
    return ShadowEvidence.from_dict(json.loads(text)) if text else None


def act(
    client: MlflowClient, evidence: ShadowEvidence, who: str, settings: Settings | None = None
) -> promotion.AliasMove | None:
    """Promote or reject as decided, only if the aliases still point where they did when the
    evaluation read them (a person may have moved them meanwhile). With `canary.enabled` in
    `settings`, "promote" starts the canary instead (`canary_steps.start`): the canary flow
    completes the promotion or rolls it back."""
    now = lineup(client, evidence.model_name)
    if (now.champion, now.challenger) != (evidence.champion_version, evidence.challenger_version):
        log.warning("aliases moved during the evaluation (%s); not acting on it", now)
        return None
    if evidence.decision == PROMOTE and settings is not None and settings.canary.enabled:
        running = canary_steps.state(client, evidence.model_name).canary
        if running is not None and running != evidence.challenger_version:
            log.warning("version %s is the canary; v%s waits for its verdict", running, evidence.challenger_version)
            return None
        return canary_steps.start(
            client, evidence.model_name, evidence.challenger_version, settings, who=who, why=evidence.reason
        )
    if evidence.decision == PROMOTE:
        return promotion.promote(
            client, evidence.model_name, version=evidence.challenger_version, who=who, why=evidence.reason
        )
    if evidence.decision == REJECT:
        return promotion.reject(
            client, evidence.model_name, version=evidence.challenger_version, who=who, why=evidence.reason
        )
    return None


# --- the report ----------------------------------------------------------------------------------


def _number(value: float | None, digits: int = 4) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _interval(comparison: MetricComparison) -> str:
    return f"{comparison.improvement:+.4f} [{comparison.ci_low:+.4f}, {comparison.ci_high:+.4f}]"


def table_rows(evidence: ShadowEvidence) -> list[dict[str, Any]]:
    """Overall and per segment, one row each: the Prefect table artifact and the report's table."""
    rows = []
    if evidence.overall is not None:
        overall = SegmentResult("all", "all", evidence.labelled, evidence.positives, True, False, evidence.overall)
        rows.append(_row(overall, evidence.classes))
    rows.extend(_row(s, s.classes) for s in evidence.segments)
    return rows


def class_mix(classes: dict[str, int] | None) -> str | None:
    """Labelled requests per class, as text ("barolo 20, grignolino 25"); None when not multiclass."""
    return None if classes is None else ", ".join(f"{name} {count}" for name, count in classes.items())


def _row(segment: SegmentResult, classes: dict[str, int] | None) -> dict[str, Any]:
    found = segment.comparison
    return {
        "segment": segment.column,
        "value": segment.value,
        "n": segment.n,
        "positives": segment.positives,
        "classes": class_mix(classes),
        "judged": segment.judged,
        "worse": segment.worse,
        "champion": None if found is None else _number(found.champion),
        "challenger": None if found is None else _number(found.challenger),
        "improvement [CI]": None if found is None else _interval(found),
    }


def _latency(found: Latency | None) -> str:
    return "–" if found is None else f"{found.p50_ms:.2f}/{found.p95_ms:.2f} ms"


def _table_line(row: dict[str, Any]) -> str:
    cells = [
        row["segment"],
        row["value"],
        row["n"],
        "yes" if row["judged"] else "no",
        "**yes**" if row["worse"] else "no",
        row["champion"] or "–",
        row["challenger"] or "–",
        row["improvement [CI]"] or "–",
    ]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown(evidence: ShadowEvidence) -> str:
    """The Prefect artifact: the decision, its reasons, the table and how alike the models answer."""
    agreement = evidence.agreement
    metric = evidence.overall.metric if evidence.overall else "primary metric"
    positives = f", {evidence.positives} positive" if evidence.positives is not None else ""
    if evidence.classes is not None:
        positives = f" ({class_mix(evidence.classes)})"
    alike = "Class agreement" if evidence.classes is not None else "Decision agreement"
    lines = [
        f"# Shadow evaluation: {evidence.model_name} v{evidence.challenger_version} vs v{evidence.champion_version}",
        "",
        f"**Decision: {evidence.decision}** — {evidence.reason}",
        "",
        (
            f"Window {evidence.window_start} to {evidence.window_end}: {evidence.paired} requests scored by both, "
            f"{evidence.labelled} labelled{positives}."
        ),
        "",
        f"| segment | value | n | judged | worse | champion {metric} | challenger {metric} | improvement [CI] |",
        "|---|---|---|---|---|---|---|---|",
        *(_table_line(row) for row in table_rows(evidence)),
        "",
        (
            f"{alike} {_number(agreement.decision_agreement, 3)}, score correlation "
            f"{_number(agreement.score_correlation, 3)}; latency p50/p95: champion "
            f"{_latency(agreement.champion_latency)}, challenger {_latency(agreement.challenger_latency)}."
        ),
        "",
        "Rules: " + ", ".join(f"{k}={v}" for k, v in evidence.rules.items()),
    ]
    return "\n".join(lines)
