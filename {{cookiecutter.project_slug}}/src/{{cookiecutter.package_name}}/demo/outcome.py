"""What the demo proves, read back from what the system recorded.

Each incident of the scenario is matched with the first record of it being caught:
the monitoring history (schema events, drift, the retraining request), the service's
answers (refusals and per-record events), and the shadow decisions on the model
versions in MLflow. Nothing here takes the demo's word for it.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..monitoring.retrain_rules import PERFORMANCE
from ..promotion.canary_steps import DECISION as CANARY_DECISION
from ..promotion.canary_steps import REASON as CANARY_REASON
from ..promotion.replay import REASON as REPLAY_REASON
from ..promotion.replay import VERDICT as REPLAY_VERDICT
from ..promotion.shadow_steps import load_evidence
from ..settings import Settings
from ..stores import registry
from ..stores.monitoring_history import History
from ..stores.monitoring_history_schema import runs, schema_events
from .scenario import Scenario

COVARIATE_FEATURES = ("device_risk_score", "amount")  # moved by the covariate shift, not by the concept drift


@dataclass
class DayRecord:
    """What the demo did and saw on one simulated day."""

    day: int
    date: str
    sent: int = 0
    labels_sent: int = 0
    messy: list[dict[str, Any]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    trainings: list[str] = field(default_factory=list)
    registered: list[str] = field(default_factory=list)  # versions the day's trainings registered
    served_versions: list[str] = field(default_factory=list)  # the versions that answered, in order
    monitoring_run: str | None = None
    labels_resent: int = 0
    retrained_after_rejection: bool = False
    aliases: dict[str, str] = field(default_factory=dict)
    reload_seconds: float | None = None
    promoted: str | None = None
    rejected: str | None = None
    canary_started: str | None = None  # shadow found it better: it answers a share as the canary
    canary_rolled_back: str | None = None
    answered_by: dict[str, int] = field(default_factory=dict)  # version -> records it answered that day


@dataclass
class Catch:
    incident: str
    title: str
    started: int | None  # simulated day
    caught: int | None
    component: str | None
    expected_component: str
    evidence: str
    action: str

    @property
    def ok(self) -> bool:
        return self.caught is not None and self.component == self.expected_component


@dataclass
class Outcome:
    catches: list[Catch]
    versions: dict[str, dict[str, str]]  # version -> trigger, gate, replay verdict, shadow decision, reasons
    alerts_delivered: int
    report_path: str | None
    days: list[DayRecord]
    seconds: float = 0.0
    api_key_required: bool = False  # the service asked every request for a key (one was given)
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def all_caught(self) -> bool:
        return all(c.ok for c in self.catches)


def _day_of(moment: datetime, first_day: datetime) -> int:
    return int((moment - first_day) / timedelta(days=1))


def _history_runs(history: History) -> list[dict[str, Any]]:
    with history.engine.connect() as connection:
        rows = connection.execute(sa.select(runs).order_by(runs.c.window_start, runs.c.started_at)).mappings().all()
    return [dict(r) for r in rows]


def _schema_catch(history: History, scenario: Scenario, by_run: dict[str, int]) -> Catch:
    with history.engine.connect() as connection:
        found = connection.execute(
            sa.select(schema_events.c.run_id, schema_events.c.kind, schema_events.c.detail).where(
                schema_events.c.column_name == "account_type"
            )
        ).all()
    days = sorted((by_run[r.run_id], r.kind, r.detail) for r in found if r.run_id in by_run)
    first = days[0] if days else None
    return Catch(
        "schema-change",
        "An upstream team adds `account_type` without telling anyone",
        scenario.schema_change_day,
        first[0] if first else None,
        "monitoring" if first else None,
        "monitoring",
        f"schema event `{first[1]}`: {first[2]}" if first else "no schema event for account_type",
        "alert; the column is reported, served requests keep being answered",
    )


def _messy_catch(days: Sequence[DayRecord], scenario: Scenario) -> Catch:
    messy = next((d for d in days if d.messy), None)
    if messy is None:
        return Catch("messy-inputs", "Messy inputs", scenario.messy_inputs_day, None, None, "service", "not sent", "")
    wrong = [
        m["kind"]
        for m in messy.messy
        if (m["expect"] == "refused") != (400 <= int(m["status"]) < 500) or int(m["status"]) >= 500
    ]
    refused = [f"{m['kind']}→{m['status']}" for m in messy.messy if m["expect"] == "refused"]
    served = [m["kind"] for m in messy.messy if m["expect"] == "served" and m["status"] == 200]
    return Catch(
        "messy-inputs",
        "Messy inputs: numbers as strings, odd categories, nulls, out of range, bad JSON",
        scenario.messy_inputs_day,
        messy.day if not wrong else None,
        "service" if not wrong else None,
        "service",
        f"refused with 4xx: {', '.join(refused)}; served and recorded: {', '.join(served)}"
        + (f"; WRONG: {', '.join(wrong)}" if wrong else ""),
        "no 500, no traceback; odd values normalised and counted by monitoring",
    )


def _covariate_catch(scenario: Scenario, history_runs: list[dict[str, Any]], first_day: datetime) -> Catch:
    for run in history_runs:
        day = _day_of(run["window_start"], first_day)
        drifted = set(run["drifted_features"] or [])
        if day >= scenario.covariate_shift_day and drifted & set(COVARIATE_FEATURES):
            return Catch(
                "covariate-shift",
                "Covariate shift: larger amounts, riskier devices, more online traffic",
                scenario.covariate_shift_day,
                day,
                "monitoring",
                "monitoring",
                f"{len(drifted)} features drifted ({', '.join(sorted(drifted)[:5])}), prediction drift "
                f"{'yes' if run['prediction_drift'] else 'no'}",
                "drift alert (before any label arrives)",
            )
    return Catch(
        "covariate-shift",
        "Covariate shift",
        scenario.covariate_shift_day,
        None,
        None,
        "monitoring",
        "no drift of the shifted features",
        "",
    )


def _concept_catch(scenario: Scenario, history_runs: list[dict[str, Any]], first_day: datetime) -> Catch:
    for run in history_runs:
        if PERFORMANCE in (run["retrain_emitted"] or []):
            day = _day_of(run["window_start"], first_day)
            return Catch(
                "concept-drift",
                "Concept drift: fraud moves to card testing; precision falls once labels arrive",
                scenario.concept_drift_day,
                day,
                "monitoring",
                "monitoring",
                f"realized {run['primary_metric']} {run['realized_primary']:.3f} vs {run['baseline_primary']:.3f} "
                f"at training (labels {scenario.label_delay_days} days late)",
                "degradation event → automation → training run → challenger in shadow",
            )
    return Catch(
        "concept-drift",
        "Concept drift",
        scenario.concept_drift_day,
        None,
        None,
        "monitoring",
        "no performance-based retraining request",
        "",
    )


def _version_story(settings: Settings) -> dict[str, dict[str, str]]:
    client = registry.connect(settings)
    name = settings.mlflow.registered_model_name
    story = {}
    for version in sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version)):
        tags = version.tags
        story[str(version.version)] = {
            "trigger": tags.get("trigger", ""),
            "gate": tags.get(registry.GATE_STATUS, ""),
            "replay": tags.get(REPLAY_VERDICT, ""),
            "replay_reason": tags.get(REPLAY_REASON, ""),
            "shadow": tags.get("shadow.decision", ""),
            "reason": tags.get("shadow.reason", ""),
            "canary": tags.get(CANARY_DECISION, ""),
            "canary_reason": tags.get(CANARY_REASON, ""),
        }
    return story


def _replayed(story: dict[str, dict[str, str]], days: Sequence[DayRecord], version: str | None) -> str:
    """What replay concluded, on the day the version was registered (the training flow's step
    replays a new challenger on the logged, labelled traffic before it gets shadow traffic)."""
    found = story.get(version or "", {})
    verdict = found.get("replay")
    day = next((d.day for d in days if version in d.registered), None)
    if not verdict:
        return "not replayed"
    when = f" on day {day}" if day is not None else ""
    return f"replayed{when} on the logged traffic: {verdict}" + (
        f" ({found['replay_reason'][:120]})" if verdict == "worse" else ""
    )


def _canaried(story: dict[str, dict[str, str]], days: Sequence[DayRecord], version: str | None) -> str:
    """The canary phase of `version`, if it had one: when it started, the share of the records
    it answered while it ran (read from the answers themselves), and its guards' verdict."""
    started = next((d for d in days if version is not None and d.canary_started == version), None)
    if started is None or version is None:
        return ""
    ran = [d for d in days if d.day > started.day and version in d.answered_by and len(d.answered_by) > 1]
    answered = sum(d.answered_by[version] for d in ran)
    total = sum(sum(d.answered_by.values()) for d in ran)
    share = f"answered {answered:,} of {total:,} records ({answered / total:.1%})" if total else "answered none"
    verdict = story.get(version, {})
    return f"; as the canary from day {started.day}, {share}; its guards: {verdict.get('canary') or 'no verdict'}" + (
        f" ({verdict['canary_reason'][:160]})" if verdict.get("canary_reason") else ""
    )


def _challenger_catches(
    settings: Settings, scenario: Scenario, days: Sequence[DayRecord], story: dict[str, dict[str, str]]
) -> list[Catch]:
    client = registry.connect(settings)
    name = settings.mlflow.registered_model_name
    rejected = next((d for d in days if d.rejected), None)
    promoted = next((d for d in days if d.promoted), None)
    catches = []
    evidence = load_evidence(client, name, rejected.rejected) if rejected and rejected.rejected else None
    worse = [f"{s.column}={s.value}" for s in evidence.segments if s.worse] if evidence else []
    better_overall = bool(evidence and evidence.overall and evidence.overall.ci_low > 0)
    biased_ok = rejected is not None and bool(worse)
    catches.append(
        Catch(
            "biased-challenger",
            "A retrained challenger better overall but worse for one segment",
            scenario.label_bug_day,
            rejected.day if biased_ok and rejected else None,
            "shadow-evaluation" if biased_ok else None,
            "shadow-evaluation",
            (
                f"v{rejected.rejected}: {_replayed(story, days, rejected.rejected)}; in shadow, overall "
                f"{'better' if better_overall else 'not better'} with confidence, worse on {', '.join(worse)}"
            )
            if rejected
            else "no challenger was rejected",
            "rejected: loses its alias, keeps the reason; the champion keeps serving",
        )
    )
    fixed_day = next((d.day for d in days if d.retrained_after_rejection), None)
    served_after = next(
        (d for d in days if promoted and d.day > promoted.day and promoted.promoted in d.served_versions), None
    )
    catches.append(
        Catch(
            "better-challenger",
            "A retrained challenger that is genuinely better",
            fixed_day,
            promoted.day if promoted else None,
            "shadow-evaluation" if promoted else None,
            "shadow-evaluation",
            (
                f"v{promoted.promoted}: {_replayed(story, days, promoted.promoted)}; in shadow, "
                f"{story.get(promoted.promoted or '', {}).get('reason', '')[:160]}"
                + _canaried(story, days, promoted.promoted)
            )
            if promoted
            else "no challenger was promoted",
            (
                f"promoted; the running service served it {promoted.reload_seconds} s later, no restart"
                + (f" (all of day {served_after.day}'s answers)" if served_after else "")
            )
            if promoted
            else "",
        )
    )
    return catches


def judge(
    settings: Settings,
    scenario: Scenario,
    days: Sequence[DayRecord],
    alerts: Sequence[dict[str, Any]],
    offset: timedelta,
) -> Outcome:
    first_day = (scenario.start() + offset).replace(tzinfo=None)
    with History.from_settings(settings) as history:
        history_runs = _history_runs(history)
        by_run = {r["run_id"]: _day_of(r["window_start"], first_day) for r in history_runs}
        schema = _schema_catch(history, scenario, by_run)
    story = _version_story(settings)
    catches = [
        schema,
        _messy_catch(days, scenario),
        _covariate_catch(scenario, history_runs, first_day),
        _concept_catch(scenario, history_runs, first_day),
        *_challenger_catches(settings, scenario, days, story),
    ]
    reports = [r["report_path"] for r in history_runs if r.get("report_path")]
    return Outcome(
        catches=catches,
        versions=story,
        alerts_delivered=len(alerts),
        report_path=reports[-1] if reports else None,
        days=list(days),
    )


SUMMARY_TITLE = "What broke, and what caught it"
LABEL_WIDTH = 11  # "  evidence " and the like: the indent of each incident's wrapped lines


def summary_text(outcome: Outcome, width: int = 80) -> str:
    """The closing summary: one block per incident, each field wrapped at word boundaries to
    `width`. A table of six columns had to cut words in two at 80 columns (`account_ty` /
    `pe`), in a terminal and in a log file or CI output alike, where no one can widen it."""
    lines = [SUMMARY_TITLE, "=" * len(SUMMARY_TITLE)]
    for number, catch in enumerate(outcome.catches, 1):
        started = f"day {catch.started}" if catch.started is not None else "unknown"
        caught = f"day {catch.caught}" if catch.caught is not None else "never"
        fields = {
            "when": f"started {started}, caught {caught}",
            "by": catch.component or f"nothing (expected: {catch.expected_component})",
            "evidence": catch.evidence,
            "action": catch.action,
        }
        lines += ["", f"{'✓' if catch.ok else '✗ MISSED'} {number}. {catch.title}"]
        for label, text in fields.items():
            lines += textwrap.wrap(
                text or "-",
                width=max(width, LABEL_WIDTH + 20),
                initial_indent=f"  {label:<{LABEL_WIDTH - 2}}",
                subsequent_indent=" " * LABEL_WIDTH,
                break_long_words=False,  # a column or segment name stays whole, even past the width
                break_on_hyphens=False,
            )
    return "\n".join(lines)


VERSIONS_TITLE = "Model versions"


def version_line(version: str, story: dict[str, str]) -> str:
    """One version's way through the lifecycle: why it was trained, then each judge's word."""
    steps = [f"trained: {story.get('trigger') or 'first training'}", f"gate: {story.get('gate') or '-'}"]
    if story.get("replay"):
        steps.append(f"replay: {story['replay']}")
    if story.get("shadow"):
        steps.append(f"shadow: {story['shadow']}")
    if story.get("canary"):
        steps.append(f"canary: {story['canary']}")
    return f"v{version}: " + "; ".join(steps)


def versions_text(outcome: Outcome, width: int = 80) -> str:
    """The registered versions, one wrapped block each (a single line of all of them ran past
    any terminal's width and hid the replay verdicts)."""
    lines = [VERSIONS_TITLE, "=" * len(VERSIONS_TITLE)]
    for version, story in outcome.versions.items():
        lines += textwrap.wrap(
            version_line(version, story),
            width=max(width, LABEL_WIDTH + 20),
            subsequent_indent=" " * 4,
            break_long_words=False,
            break_on_hyphens=False,
        )
    return "\n".join(lines)
