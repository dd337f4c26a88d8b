"""Alerts: what in a monitoring run deserves a person's attention, and whether to tell them now.

`raise_alerts` turns an assessment into alerts, each with a key (the kind of
problem), a severity and the subjects it names (features, columns, metrics).
`triage` applies the settings: below `min_severity`, or with no channel, an
alert is stored but not sent; an alert whose key was already sent within the
cooldown is suppressed unless its severity rose or it names something new, so
that one incident sends one message (plus a reminder per cooldown), not one per
run. What remains goes out as one message per run (notify.py), and every alert,
sent or not, is stored in the history with its status and the reason.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from .drift_report import FeatureDrift
from .notify import Message, channel_label, send
from .retrain_rules import SUSTAINED_DRIFT, Floor, RetrainDecision, floor_for, performance_floor

if TYPE_CHECKING:
    from ..settings import AlertSettings, Settings
    from ..stores.monitoring_history import History
    from .assessment import Assessment

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "critical"]
RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}
DELIVERED, SUPPRESSED, FAILED, NOT_SENT = "delivered", "suppressed", "failed", "not_sent"
LISTED = 8  # subjects named in a message before "and N more"


@dataclass(frozen=True)
class Alert:
    key: str
    severity: Severity
    title: str
    message: str
    subjects: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    alert: Alert
    status: str
    detail: str | None = None


def _listing(names: Sequence[str]) -> str:
    more = f" and {len(names) - LISTED} more" if len(names) > LISTED else ""
    return ", ".join(names[:LISTED]) + more


# --- what deserves an alert ----------------------------------------------------------------------


def _effect(found: FeatureDrift) -> str:
    parts = []
    if "distribution" in found.reasons:
        if found.kind == "numeric":
            parts.append(
                f"shifted {found.wasserstein:.2f} SD (mean {found.mean_reference:.4g} to {found.mean_current:.4g})"
            )
        else:
            parts.append(f"level shares moved up to {found.max_share_change:.1%}")
    if "missing_values" in found.reasons:
        parts.append(f"missing {found.null_rate_reference:.1%} to {found.null_rate_current:.1%}")
    if "unseen_categories" in found.reasons:
        parts.append(f"{found.unseen_share:.1%} unseen levels ({', '.join(found.unseen_levels[:3])})")
    return f"{found.feature}: {'; '.join(parts)}"


def _feature_drift(assessment: Assessment, decision: RetrainDecision) -> list[Alert]:
    drift = assessment.drift
    drifted = [f for f in drift.features if f.drifted]
    if not drifted:
        return []
    sustained = any(r.rule == SUSTAINED_DRIFT for r in decision.met)
    severity: Severity = "critical" if sustained else "warning" if drift.dataset_drifted else "info"
    what = "sustained dataset drift" if sustained else "dataset drift" if drift.dataset_drifted else "feature drift"
    lines = [_effect(f) for f in drifted[:LISTED]]
    return [
        Alert(
            "feature-drift",
            severity,
            f"{what}: {len(drifted)} of {drift.scored} features",
            "\n".join(lines) + (f"\n... and {len(drifted) - LISTED} more" if len(drifted) > LISTED else ""),
            tuple(f.feature for f in drifted),
            {"share_drifted": drift.share_drifted, "dataset_drift": drift.dataset_drifted, "sustained": sustained},
        )
    ]


def _prediction_drift(assessment: Assessment) -> list[Alert]:
    prediction = assessment.drift.prediction
    if prediction is None or not prediction.drifted:
        return []
    scores = prediction.scores
    flagged = (
        f"; flagged share {prediction.flag_rate_reference:.2%} to {prediction.flag_rate_current:.2%}"
        if prediction.flag_rate_current == prediction.flag_rate_current  # not NaN
        else ""
    )
    return [
        Alert(
            "prediction-drift",
            "warning",
            "the score distribution drifted",
            f"mean score {scores.mean_reference:.4f} to {scores.mean_current:.4f} (PSI {scores.psi:.2f}){flagged}",
            ("score",),
            {"psi": scores.psi, "flag_rate_current": prediction.flag_rate_current},
        )
    ]


def _schema(assessment: Assessment, settings: Settings) -> list[Alert]:
    found: list[Alert] = []
    events = assessment.drift.schema
    if events:
        found.append(
            Alert(
                "schema-change",
                "warning",
                f"the served data changed shape: {len(events)} schema event(s)",
                "\n".join(e.detail for e in events[:LISTED]),
                tuple(sorted({f"{e.kind}:{e.column}" for e in events})),
                {"events": [e.to_dict() for e in events]},
            )
        )
    share = assessment.refused_share
    if assessment.refused_requests and share >= settings.monitoring.max_rejection_share:
        refused = assessment.refused_events
        inside = f"; in them: {_listing([e.detail for e in refused])}" if refused else ""
        found.append(
            Alert(
                "refused-requests",
                "critical",
                f"{share:.1%} of requests refused at the contract check",
                f"{assessment.refused_requests:,} of {assessment.refused_requests + assessment.rows:,} requests "
                f"got no answer{inside}",
                tuple(sorted({f"{e.kind}:{e.column}" for e in refused})) or ("refused",),
                {"refused": assessment.refused_requests, "share": share, "events": [e.to_dict() for e in refused]},
            )
        )
    return found


def _performance(assessment: Assessment, settings: Settings) -> list[Alert]:
    rules = settings.retrain_rules
    floor = performance_floor(assessment.model.profile, rules)
    found: list[Alert] = []
    realized, estimate = assessment.realized, assessment.estimate
    moved = "fell to" if floor.higher_is_better else "rose to"  # an error metric (RMSE) rises past its ceiling
    if realized is not None and realized.reliable and floor.breached(_best(assessment, "", floor)):
        low, high = assessment.realized_bands[""]
        found.append(
            Alert(
                "performance",
                "critical",
                f"{floor.metric} {moved} {realized.primary.current:.3f}",
                f"realized on {realized.n_labelled:,} labelled answers, band {low:.3f} to {high:.3f}; "
                f"past {floor.describe()}",
                (f"realized:{floor.metric}",),
                {"value": realized.primary.current, "floor": floor.value, "n": realized.n_labelled},
            )
        )
    elif estimate is not None and estimate.primary_metric == floor.metric:
        primary = estimate.primary
        if floor.breached(primary.upper if floor.higher_is_better else primary.lower):
            found.append(
                Alert(
                    "performance",
                    "warning",
                    f"estimated {floor.metric} {moved} {primary.value:.3f}",
                    f"estimated from scores (no labels yet), band {primary.lower:.3f} to {primary.upper:.3f}; "
                    f"past {floor.describe()}",
                    (f"estimated:{floor.metric}",),
                    {"value": primary.value, "lower": primary.lower, "upper": primary.upper, "floor": floor.value},
                )
            )
    if realized is not None:
        weak = []
        for segment in realized.segments:
            metric = next((m for m in segment.metrics if m.name == floor.metric), None)
            if not segment.reliable or metric is None:
                continue
            baseline = metric.baseline if metric.baseline == metric.baseline else None
            own = floor_for(baseline, floor.metric, floor.higher_is_better, rules)
            if own.breached(_best(assessment, f"{segment.segment}={segment.level}", own)):
                weak.append((f"{segment.segment}={segment.level}", metric.current, own))
        if weak:
            found.append(
                Alert(
                    "segment-performance",
                    "warning",
                    f"{floor.metric} fell in {len(weak)} segment(s)",
                    "\n".join(f"{name}: {value:.3f}, past {own.describe()}" for name, value, own in weak),
                    tuple(name for name, _, _ in weak),
                    {"segments": {name: value for name, value, _ in weak}},
                )
            )
    return found


def _best(assessment: Assessment, key: str, floor: Floor) -> float | None:
    """The realized band's end nearest to good: a floor is breached only when it is."""
    low, high = assessment.realized_bands.get(key, (None, None))
    return high if floor.higher_is_better else low


def raise_alerts(assessment: Assessment, decision: RetrainDecision, settings: Settings) -> list[Alert]:
    """Every alert this run's findings justify, at most one per key."""
    found: list[Alert] = []
    if assessment.status != "complete" and not assessment.refused_requests:
        found.append(
            Alert(
                "no-traffic",
                "warning",
                "no answers were logged in the window",
                f"the prediction log holds no answer between {assessment.window.label}",
                ("window",),
            )
        )
    found += _schema(assessment, settings)
    found += _feature_drift(assessment, decision)
    found += _prediction_drift(assessment)
    found += _performance(assessment, settings)
    if decision.emit:
        found.append(
            Alert(
                "retraining",
                "warning",
                "retraining requested",
                decision.reason,
                tuple(r.rule for r in decision.new),
                {"rules": [r.to_dict() for r in decision.new]},
            )
        )
    assert len({a.key for a in found}) == len(found), "one alert per key and run"
    return found


# --- whether to send it ---------------------------------------------------------------------------


def triage(alerts: Sequence[Alert], history: History, settings: AlertSettings, now: datetime) -> list[Outcome]:
    """Decide each alert's fate; those to send come back with status "pending"."""
    decided: list[Outcome] = []
    for alert in alerts:
        if settings.channel == "none":
            decided.append(Outcome(alert, NOT_SENT, "alerts.channel is none"))
            continue
        if RANK[alert.severity] < RANK[settings.min_severity]:
            decided.append(Outcome(alert, NOT_SENT, f"below alerts.min_severity ({settings.min_severity})"))
            continue
        sent = history.delivered(alert.key, now - timedelta(hours=settings.cooldown_hours))
        if sent:
            highest = max(RANK[str(row["severity"])] for row in sent)
            named = {str(s) for row in sent for s in (row["subjects"] or [])}
            if RANK[alert.severity] <= highest and set(alert.subjects) <= named:
                last = max(row["raised_at"] for row in sent)
                decided.append(
                    Outcome(
                        alert,
                        SUPPRESSED,
                        f"repeats the alert sent at {last:%Y-%m-%d %H:%M} UTC (cooldown {settings.cooldown_hours:g} h)",
                    )
                )
                continue
        decided.append(Outcome(alert, "pending"))
    return decided


def compose(alerts: Sequence[Alert], assessment: Assessment, settings: AlertSettings, report: str | None) -> Message:
    """One message for all of a run's alerts, most severe first."""
    ordered = sorted(alerts, key=lambda a: -RANK[a.severity])
    top = ordered[0]
    model = assessment.model
    more = f" (+{len(ordered) - 1} more)" if len(ordered) > 1 else ""
    subject = f"{settings.subject_prefix} {top.severity.upper()}: {top.title}{more}".strip()
    header = f"{model.name} version {model.version}, window {assessment.window.label}"
    blocks = [f"[{a.severity}] {a.title}\n{a.message}" for a in ordered]
    footer = f"Report: {report}" if report else ""
    text = "\n\n".join([header, *blocks, footer]).strip()
    items = "".join(
        f"<li><b>[{html.escape(a.severity)}] {html.escape(a.title)}</b><br>"
        f"{html.escape(a.message).replace(chr(10), '<br>')}</li>"
        for a in ordered
    )
    body = f"<p>{html.escape(header)}</p><ul>{items}</ul>" + (f"<p>{html.escape(footer)}</p>" if footer else "")
    payload = {
        "severity": top.severity,
        "model_name": model.name,
        "model_version": model.version,
        "window": assessment.window.to_dict(),
        "monitoring_run_id": assessment.run_id,
        "report": report,
        "alerts": [
            {"key": a.key, "severity": a.severity, "title": a.title, "subjects": list(a.subjects)} for a in ordered
        ],
    }
    return Message(subject, text, body, payload)


def process(
    history: History,
    assessment: Assessment,
    alerts: Sequence[Alert],
    settings: AlertSettings,
    report: str | None = None,
    now: datetime | None = None,
) -> list[Outcome]:
    """Triage, deliver what is due as one message, and store every alert with its outcome."""
    from ..stores.sql import utcnow
    from .notify import DeliveryError

    moment = now or utcnow()
    outcomes = triage(alerts, history, settings, moment)
    due = [o.alert for o in outcomes if o.status == "pending"]
    status, detail = DELIVERED, None
    if due:
        try:
            send(compose(due, assessment, settings, report), settings)
        except DeliveryError as err:
            status, detail = FAILED, str(err)
            log.warning("alert delivery failed (%s): %s", channel_label(settings), err)
    final = [Outcome(o.alert, status, detail) if o.status == "pending" else o for o in outcomes]
    history.record_alerts(
        {
            "run_id": assessment.run_id,
            "raised_at": moment,
            "key": o.alert.key,
            "severity": o.alert.severity,
            "title": o.alert.title[:300],
            "message": o.alert.message,
            "subjects": list(o.alert.subjects),
            "evidence": o.alert.evidence,
            "status": o.status,
            "channel": channel_label(settings),
            "delivery_detail": o.detail,
        }
        for o in final
    )
    return final
