"""The canary's steps: start it, read its window, judge it, record the verdict, act on it.

A canary is a version that passed shadow evaluation answering a share of live records
(`serving/canary_routing.py`) under the `canary` alias, while `champion` answers the rest.
Both models answer records of the same traffic at the same time, so the guards compare them
on the same window: error rate, p99 latency, the score distribution (PSI) and, once enough
labels arrived, the primary metric. Unlike shadow's pairs these are different records, so
every comparison is unpaired.

- any guard breached: roll back (the `canary` alias goes, `champion` never moved);
- `duration_hours` elapsed, `min_answers` answered and nothing breached: complete the
  promotion (`aliases.promote`), then drop the `canary` alias;
- otherwise: keep waiting.

flows/canary.py runs them as Prefect tasks; each runs on its own too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import RegistryError
from ..stores import prediction_log as predictions
from ..stores import registry
from ..stores.monitoring_history import History, ShadowDecision
from ..stores.prediction_log_schema import ANSWERED, CANARY_FAILED
from ..stores.registry import CANARY, CANARY_SHARE_TAG, CANARY_STARTED_TAG, CHALLENGER, CHAMPION

# flows/canary.py connects to the registry and reads the aliases through this module.
from ..stores.registry import aliases as aliases  # noqa: PLC0414 - re-exported for the flow
from ..stores.registry import connect as connect  # noqa: PLC0414 - re-exported for the flow
from . import aliases as promotion
from .canary_guards import COMPLETE, ROLLBACK, WAIT, CanaryEvidence, judge

# The flow and the CLI read the verdicts' names and the evidence through this module.
__all__ = ["COMPLETE", "ROLLBACK", "WAIT", "CanaryEvidence", "CanaryState"]

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from ..core.contract import Contract
    from ..settings import Settings

log = logging.getLogger(__name__)
SOURCE = "canary"  # the history's source of the verdicts this flow records
DECISION, REASON, EVALUATED_AT, EVIDENCE = "canary.decision", "canary.reason", "canary.evaluated_at", "canary.evidence"
STARTED_AT = "canary.started_at"  # on the version too, for its model card


@dataclass(frozen=True)
class CanaryState:
    """Where the aliases and the registered model's canary tags stand."""

    model_name: str
    champion: str | None
    canary: str | None
    share: float | None
    started_at: datetime | None

    @property
    def running(self) -> bool:
        return self.champion is not None and self.canary is not None and self.canary != self.champion

    def judged(self) -> tuple[str, str, datetime]:
        """Champion, canary and start of a running canary; RegistryError when none runs."""
        if not self.running or self.champion is None or self.canary is None or self.started_at is None:
            raise RegistryError(f"{self.model_name} has no running canary with a start time ({self.as_dict()})")
        return self.champion, self.canary, self.started_at

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "champion": self.champion,
            "canary": self.canary,
            "share": self.share,
            "started_at": self.started_at.isoformat(timespec="seconds") if self.started_at else None,
        }


def _moment(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        found = datetime.fromisoformat(text)
    except ValueError:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def _share(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def state(client: MlflowClient, name: str) -> CanaryState:
    found, tags = registry.model_state(client, name)
    return CanaryState(
        name,
        found.get(CHAMPION),
        found.get(CANARY),
        _share(tags.get(CANARY_SHARE_TAG)),
        _moment(tags.get(CANARY_STARTED_TAG)),
    )


def start(
    client: MlflowClient,
    name: str,
    version: str,
    settings: Settings,
    *,
    who: str,
    why: str,
    now: datetime | None = None,
) -> promotion.AliasMove:
    """Make `version` the canary: its share and start time go on the registered model first (the
    service reads the share on the poll that finds the alias), then the `canary` alias, then the
    `challenger` alias goes (it has done its job; the canary flow, not shadow, judges it now).
    Killed between the last two, both aliases name the version: shadow evaluation leaves a
    version that holds `canary` alone, and the next start or verdict settles it."""
    promotion.recover(client, name)
    registry.require_passed(client, name, version)
    before = registry.aliases(client, name)
    if before.get(CHAMPION) == version:
        raise RegistryError(f"{name} version {version} is already the champion")
    running = before.get(CANARY)
    if running is not None and running != version:
        raise RegistryError(f"{name} version {running} is already the canary; its verdict comes first")
    at = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    share = settings.canary.share
    client.set_registered_model_tag(name, CANARY_SHARE_TAG, str(share))
    client.set_registered_model_tag(name, CANARY_STARTED_TAG, at)
    registry.set_tags(
        client, name, version, {STARTED_AT: at, "canary.share": share, "canary.started_by": who, "canary.why": why}
    )
    client.set_registered_model_alias(name, CANARY, version)
    if before.get(CHALLENGER) == version:
        client.delete_registered_model_alias(name, CHALLENGER)
    move = promotion.AliasMove("canary", name, version, before, registry.aliases(client, name), who, why, at)
    log.info("%s; it answers a share of %.3f", move.describe(), share)
    return move


def set_share(client: MlflowClient, name: str, share: float) -> None:
    """A new share for the running canary: the service picks it up on its next poll, no restart."""
    if not 0.0 < share < 1.0:
        raise RegistryError(f"a canary's share must be between 0 and 1, not {share}")
    if registry.aliases(client, name).get(CANARY) is None:
        raise RegistryError(f"{name} has no canary")
    client.set_registered_model_tag(name, CANARY_SHARE_TAG, str(share))


def read_answers(settings: Settings, found: CanaryState, end: datetime) -> pd.DataFrame:
    """Both models' answers served since the canary started: the champion's, the canary's and
    the records the canary failed on (answered by the champion instead). The window is by
    serving time (`logged_at`): both models answered in it, which is what makes it the same."""
    champion, canary, started_at = found.judged()
    # The log is read by event time (its index; an index on serving time would cost every answer
    # one more B-tree insert): records further than the slack from when they were served are out.
    slack = timedelta(days=settings.canary.event_slack_days)
    frame = predictions.read_window(settings, started_at - slack, end + slack, roles=ANSWERED)
    if frame.empty:
        return frame
    served = pd.to_datetime(frame["logged_at"], utc=True)
    frame = frame[(served >= started_at) & (served < end)]
    versions = frame["model_version"].astype(str)
    mine = (frame["role"] == CHAMPION) & (versions == champion)
    theirs = (frame["role"] == CANARY) & (versions == canary)
    failed = frame["role"] == CANARY_FAILED
    return frame[mine | theirs | failed].reset_index(drop=True)


def evaluate(
    frame: pd.DataFrame, found: CanaryState, contract: Contract, settings: Settings, now: datetime | None = None
) -> CanaryEvidence:
    """The verdict on the canary's answers so far (`canary_guards.judge`)."""
    moment = now or datetime.now(UTC)
    champion, canary, started_at = found.judged()
    return judge(
        frame,
        contract,
        settings.canary,
        model_name=found.model_name,
        champion=champion,
        canary=canary,
        share=found.share if found.share is not None else settings.canary.share,
        started_at=started_at,
        now=moment,
        duration_over=moment - started_at >= timedelta(hours=settings.canary.duration_hours),
    )


def record(client: MlflowClient, evidence: CanaryEvidence, settings: Settings) -> None:
    """The verdict on the canary's version (tags, overwritten by the next) and in the monitoring
    history's decisions, where the report and the model card read it."""
    registry.set_tags(
        client,
        evidence.model_name,
        evidence.canary_version,
        {
            DECISION: evidence.decision,
            REASON: evidence.reason,
            EVALUATED_AT: evidence.evaluated_at,
            "canary.champion_version": evidence.champion_version,
            EVIDENCE: evidence.to_json(),
        },
    )
    with History.from_settings(settings) as history:
        history.record_shadow_decision(history_row(evidence))


def history_row(evidence: CanaryEvidence) -> ShadowDecision:
    """The verdict as the history keeps decisions: the primary metric when labels allowed it,
    every guard's figures in the evidence."""
    metric = evidence.guard("metric")
    return ShadowDecision(
        decided_at=datetime.fromisoformat(evidence.evaluated_at),
        model_name=evidence.model_name,
        champion_version=evidence.champion_version,
        challenger_version=evidence.canary_version,
        decision=evidence.decision,
        reason=evidence.reason,
        n=evidence.answers.get(CANARY, 0),
        primary_metric=metric.metric if metric is not None and metric.judged else None,
        champion_value=metric.champion if metric is not None and metric.judged else None,
        challenger_value=metric.canary if metric is not None and metric.judged else None,
        evidence=evidence.to_dict(),
        source=SOURCE,
    )


def _clear(client: MlflowClient, name: str) -> None:
    """Drop the `canary` alias and its tags: the alias first, so a kill leaves tags, never a
    canary without its share."""
    if registry.aliases(client, name).get(CANARY) is not None:
        client.delete_registered_model_alias(name, CANARY)
    for tag in (CANARY_SHARE_TAG, CANARY_STARTED_TAG):
        client.delete_registered_model_tag(name, tag)


def act(client: MlflowClient, evidence: CanaryEvidence, who: str) -> promotion.AliasMove | None:
    """Roll back or complete as decided, only if the aliases still point where they did."""
    name = evidence.model_name
    now = state(client, name)
    if (now.champion, now.canary) != (evidence.champion_version, evidence.canary_version):
        log.warning("aliases moved during the canary's evaluation (%s); not acting on it", now)
        return None
    if evidence.decision == ROLLBACK:
        return rollback(client, name, who=who, why=evidence.reason)
    if evidence.decision == COMPLETE:
        move = promotion.promote(client, name, version=evidence.canary_version, who=who, why=evidence.reason)
        _clear(client, name)
        return replace(move, after=registry.aliases(client, name))
    return None


def rollback(client: MlflowClient, name: str, *, who: str, why: str) -> promotion.AliasMove:
    """End the canary: its records go back to the champion, which never stopped being it. One
    alias move (the `canary` alias goes); the reason stays on the version, written first."""
    promotion.recover(client, name)
    before = registry.aliases(client, name)
    version = before.get(CANARY)
    if version is None:
        raise RegistryError(f"{name} has no canary to roll back")
    at = datetime.now(UTC).isoformat(timespec="seconds")
    registry.set_tags(
        client, name, version, {"canary.rolled_back.at": at, "canary.rolled_back.by": who, "canary.rolled_back": why}
    )
    _clear(client, name)
    move = promotion.AliasMove("canary rollback", name, version, before, registry.aliases(client, name), who, why, at)
    log.warning(move.describe())
    return move


def settle(client: MlflowClient, name: str) -> str | None:
    """A canary whose promotion completed but whose alias was not yet dropped (a killed run):
    drop it now. Returns what it did, or None."""
    found = state(client, name)
    if found.canary is not None and found.canary == found.champion:
        _clear(client, name)
        return f"dropped the `canary` alias of champion version {found.champion}"
    return None


def summary(evidence: CanaryEvidence) -> list[dict[str, Any]]:
    """One row per guard, for the flow's table artifact and the CLI."""
    return [guard.row() for guard in evidence.guards]


def markdown(evidence: CanaryEvidence) -> str:
    head = (
        f"# Canary: version {evidence.canary_version} against champion {evidence.champion_version}\n\n"
        f"**{evidence.decision}**: {evidence.reason}\n\n"
        f"Share {evidence.share:.3f}, started {evidence.started_at}, evaluated {evidence.evaluated_at}; "
        f"answers: {evidence.answers}.\n\n"
        "| guard | champion | canary | limit | verdict |\n|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['guard']} | {r['champion']} | {r['canary']} | {r['limit']} | {r['verdict']} |" for r in summary(evidence)
    ]
    return head + "\n".join(lines) + "\n"
