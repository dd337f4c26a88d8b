"""Shadow-evaluation decisions, copied into the monitoring history for the report.

The shadow-evaluation flow records each decision and its evidence on the
challenger's model version in MLflow (`shadow.evidence`, overwritten by the
next evaluation of the same challenger). Each monitoring run copies the
decisions it finds there into `monitoring_shadow_decisions`, once each, so that
the report can show every decision over time, including the "keep waiting" ones
a later evaluation overwrote in MLflow.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..promotion.shadow_statistics import ShadowEvidence
from ..promotion.shadow_steps import EVIDENCE
from ..stores.monitoring_history import ShadowDecision

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from ..stores.monitoring_history import History

log = logging.getLogger(__name__)
SOURCE = "mlflow:" + EVIDENCE


def from_evidence(evidence: ShadowEvidence, source: str = SOURCE) -> ShadowDecision:
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
        },
        source=source,
    )


def sync_from_registry(client: MlflowClient, history: History, model_name: str) -> int:
    """Copy the decisions recorded on the model's versions; returns how many were new."""
    new = 0
    for version in client.search_model_versions(f"name='{model_name}'"):
        text = (version.tags or {}).get(EVIDENCE)
        if not text:
            continue
        try:
            evidence = ShadowEvidence.from_dict(json.loads(text))
        except (ValueError, TypeError, KeyError) as err:  # written by another release: skip, say so
            log.warning("version %s: unreadable %s tag (%s)", version.version, EVIDENCE, err)
            continue
        new += history.record_shadow_decision(from_evidence(evidence))
    return new
