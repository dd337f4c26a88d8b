"""An assessment as rows of the monitoring history tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..stores.monitoring_history import number
from ..stores.monitoring_history_schema import OVERALL

if TYPE_CHECKING:
    from ..settings import Settings
from .assessment import Assessment


def _feature_row(found: Mapping[str, Any]) -> dict[str, Any]:
    stored = {
        "feature",
        "kind",
        "status",
        "drifted",
        "column",
        "reasons",
        "test",
        "histogram",
        "statistic",
        "p_value",
        "p_adjusted",
        "psi",
        "js_distance",
        "wasserstein",
        "max_share_change",
        "null_rate_reference",
        "null_rate_current",
        "unseen_share",
    }
    floats = (
        "statistic",
        "p_value",
        "p_adjusted",
        "psi",
        "js_distance",
        "wasserstein",
        "max_share_change",
        "null_rate_reference",
        "null_rate_current",
        "unseen_share",
    )
    return {
        "feature": found["feature"],
        "kind": found["kind"],
        "status": found["status"],
        "drifted": bool(found["drifted"]),
        "source_column": found.get("column"),
        "reasons": list(found.get("reasons") or []),
        "test": found.get("test"),
        **{name: number(found.get(name)) for name in floats},
        "histogram": found.get("histogram"),
        "detail": {k: v for k, v in found.items() if k not in stored},
    }


def _metric(
    kind: str,
    segment: str,
    level: str,
    name: str,
    value: float,
    baseline: float,
    n: int,
    reliable: bool,
    lower: float | None = None,
    upper: float | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "segment": segment,
        "level": level,
        "metric": name,
        "value": number(value),
        "baseline": number(baseline),
        "lower": number(lower),
        "upper": number(upper),
        "n": n,
        "reliable": reliable,
    }


def _metric_rows(assessment: Assessment) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    realized = assessment.realized
    if realized is not None:
        primary = realized.primary_metric

        def band(key: str, metric: str) -> tuple[float | None, float | None]:
            return assessment.realized_bands.get(key, (None, None)) if metric == primary else (None, None)

        found += [
            _metric(
                "realized",
                OVERALL,
                OVERALL,
                m.name,
                m.current,
                m.baseline,
                realized.n_labelled,
                realized.reliable,
                *band(OVERALL, m.name),
            )
            for m in realized.overall
        ]
        found += [
            _metric(
                "realized",
                s.segment,
                s.level,
                m.name,
                m.current,
                m.baseline,
                s.n,
                s.reliable,
                *band(f"{s.segment}={s.level}", m.name),
            )
            for s in realized.segments
            for m in s.metrics
        ]
    estimate = assessment.estimate
    if estimate is not None:
        found += [
            _metric("estimated", OVERALL, OVERALL, e.name, e.value, e.baseline, estimate.n, True, e.lower, e.upper)
            for e in estimate.metrics
        ]
    return found


def _event_rows(assessment: Assessment) -> list[dict[str, Any]]:
    tagged = [("served", e) for e in assessment.drift.schema] + [("refused", e) for e in assessment.refused_events]
    return [
        {
            "source": source,
            "column_name": event.column,
            "kind": event.kind,
            "detail": event.detail,
            "data": event.to_dict()["data"],
        }
        for source, event in tagged
    ]


def history_rows(assessment: Assessment, settings: Settings, flow_run_id: str | None = None) -> dict[str, Any]:
    """The run's rows for `History.record_run`."""
    drift = assessment.drift
    prediction = drift.prediction
    realized, estimate = assessment.realized, assessment.estimate
    primary_name = str(assessment.model.profile.get("primary_metric", ""))
    baseline = assessment.model.profile.get("performance", {}).get(primary_name)
    estimated = estimate.primary if estimate is not None and estimate.primary_metric == primary_name else None
    run = {
        "run_id": assessment.run_id,
        "started_at": assessment.started_at,
        "window_start": assessment.window.start,
        "window_end": assessment.window.end,
        "model_name": assessment.model.name,
        "model_version": assessment.model.version,
        "status": assessment.status,
        "rows": assessment.rows,
        "scored_rows": assessment.scored_rows,
        "refused_requests": assessment.refused_requests,
        "labelled_rows": assessment.labelled_rows,
        "performance_start": assessment.performance_start,
        "n_scored": drift.scored,
        "n_drifted": len(drift.drifted_features),
        "share_drifted": drift.share_drifted,
        "dataset_drift": drift.dataset_drifted,
        "drifted_features": list(drift.drifted_features),
        "prediction_drift": prediction.drifted if prediction is not None and assessment.scored_rows else None,
        "schema_changed": assessment.schema_changed,
        "primary_metric": primary_name,
        "baseline_primary": number(baseline),
        "realized_primary": number(realized.primary.current) if realized is not None else None,
        "realized_reliable": realized.reliable if realized is not None else None,
        "estimated_primary": number(estimated.value) if estimated is not None else None,
        "estimated_lower": number(estimated.lower) if estimated is not None else None,
        "estimated_upper": number(estimated.upper) if estimated is not None else None,
        "flow_run_id": flow_run_id,
        "summary": {
            "edge_events": dict(assessment.edge_events),
            "refused_share": assessment.refused_share,
            "settings": {
                "drift": settings.drift.model_dump(mode="json"),
                "monitoring": settings.monitoring.model_dump(mode="json"),
                "retrain_rules": settings.retrain_rules.model_dump(mode="json"),
            },
        },
    }
    prediction_row = None
    if prediction is not None:
        scores = prediction.scores.to_dict()
        prediction_row = {
            "status": scores["status"],
            "drifted": prediction.drifted,
            **{
                k: number(scores.get(k))
                for k in ("statistic", "p_value", "psi", "js_distance", "wasserstein", "mean_reference", "mean_current")
            },
            "flag_rate_reference": number(prediction.flag_rate_reference),
            "flag_rate_current": number(prediction.flag_rate_current),
            "flag_rate_p_value": number(prediction.flag_rate_p_value),
            "histogram": scores.get("histogram"),
        }
    return {
        "run": run,
        "features": [_feature_row(f.to_dict()) for f in drift.features],
        "prediction": prediction_row,
        "metrics": _metric_rows(assessment),
        "events": _event_rows(assessment),
    }
