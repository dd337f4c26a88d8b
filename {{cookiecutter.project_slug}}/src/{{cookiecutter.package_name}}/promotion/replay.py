"""Replay: a new challenger scored offline on the requests the champion answered, and judged
against the champion's logged answers on exactly those requests.

The prediction log keeps every answered request's features as the service received them, the
champion's score (multiclass: every class's probability) and, once feedback arrives, the label.
Replay scores those features with the challenger's bundle (the ONNX graph it would serve),
builds the paired table shadow evaluation builds from live traffic (`shadow_steps.pair_requests`,
the challenger's rows made offline) and runs the same paired bootstrap, overall and per segment
(`shadow_statistics.evaluate_pairs`, shadow evaluation's rules). Its verdict:

- worse: a judged segment is worse beyond the segment tolerance, or the challenger is worse
  overall with confidence. The training flow then takes its `challenger` alias away: it never
  gets shadow traffic.
- better: what shadow evaluation would promote on this evidence. It still goes through shadow:
  replay cannot see what the log lacks (features the challenger reads that the champion's
  requests did not carry, answers to traffic the champion's own decisions shaped).
- not enough evidence: too few labelled requests (or positives, or classes), or no confident
  difference either way. It goes through shadow as every challenger did before replay.

The verdict and its figures go on the challenger's model version as `replay.*` tags, and into
the monitoring history beside shadow evaluation's decisions (source `replay`), where the
monitoring report shows them.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import pandas as pd

from ..errors import RegistryError
from ..model.bundle import answered_class, load_bundle
from ..stores import prediction_log as predictions
from ..stores import registry
from ..stores.monitoring_history import History
from ..stores.registry import CHALLENGER, CHAMPION
from . import aliases as promotion
from .shadow_evidence import PROMOTE, SegmentResult, ShadowEvidence
from .shadow_steps import Lineup, decision_row, evaluate, pair_requests

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from ..core.contract import Contract
    from ..settings import Settings
    from ..stores.monitoring_history import ShadowDecision

log = logging.getLogger(__name__)
Verdict = Literal["better", "worse", "not enough evidence"]
BETTER: Final = "better"
WORSE: Final = "worse"
NOT_ENOUGH: Final = "not enough evidence"
VERDICT, REASON, EVALUATED_AT, EVIDENCE = "replay.verdict", "replay.reason", "replay.evaluated_at", "replay.evidence"
WHO = "replay in the training flow"
SOURCE = "replay"  # the monitoring history's source of replay verdicts (shadow's is "shadow-evaluation")


@dataclass(frozen=True)
class Replay:
    """A replay's verdict with its reasons, and the comparison it rests on (shadow evaluation's
    evidence; its `decision` is what shadow evaluation would decide on the same rows)."""

    verdict: Verdict
    reasons: list[str]
    evidence: ShadowEvidence

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def summary(self) -> dict[str, Any]:
        """The verdict and its figures, overall and per judged segment (for people and the CLI)."""
        found = self.evidence
        return {
            "model_name": found.model_name,
            "version": found.challenger_version,
            "champion_version": found.champion_version,
            "verdict": self.verdict,
            "reason": self.reason,
            "window": [found.window_start, found.window_end],
            "replayed": found.paired,
            "labelled": found.labelled,
            "overall": _figures(asdict(found.overall) if found.overall is not None else None),
            "segments": [_segment(s) for s in found.segments],
        }


def _figures(comparison: dict[str, Any] | None) -> dict[str, Any] | None:
    if comparison is None:
        return None
    keys = ("metric", "n", "champion", "challenger", "improvement", "ci_low", "ci_high")
    return {k: comparison[k] for k in keys}


def _segment(found: SegmentResult) -> dict[str, Any]:
    figures = _figures(asdict(found.comparison)) if found.comparison is not None else None
    return {
        "segment": found.column,
        "value": found.value,
        "n": found.n,
        "judged": found.judged,
        "worse": found.worse,
        "figures": figures,
    }


# --- the pure part: offline answers, the verdict -------------------------------------------------


def labelled_answers(frame: pd.DataFrame, champion: str) -> pd.DataFrame:
    """The rows of the log (`PredictionLog.window`) that `champion` answered and that have a label."""
    if frame.empty:
        return frame
    mine = (frame["role"] == CHAMPION) & (frame["model_version"].astype(str) == champion) & frame["label"].notna()
    return frame[mine.to_numpy(dtype=bool)].reset_index(drop=True)


def offline_answers(
    answered: pd.DataFrame, scores: np.ndarray, version: str, decisions: np.ndarray | None = None
) -> pd.DataFrame:
    """The challenger's answers to the champion's requests (`scores`, one per row, or multiclass
    a row of probabilities), as the log keeps shadow rows: the score (multiclass: the answered
    class's probability, and every class's), the decision at its own threshold (binary), no
    latency (nothing was served)."""
    rows = answered[["request_id", "logged_at", "label"]].copy()
    rows["role"], rows["model_version"], rows["latency_ms"] = CHALLENGER, version, np.nan
    if scores.ndim == 2:
        _, rows["score"] = answered_class(scores)
        rows["decision"] = None
        rows["probabilities"] = pd.Series(scores.tolist(), index=rows.index, dtype=object)
        return rows
    rows["score"] = scores
    rows["decision"] = pd.array(decisions, dtype="boolean") if decisions is not None else None
    rows["probabilities"] = None
    return rows


def judge(evidence: ShadowEvidence) -> Replay:
    """The verdict on shadow evaluation's evidence: worse when a judged segment is worse beyond
    the tolerance with confidence, or the challenger is worse overall with confidence; better
    when shadow evaluation would promote; else not enough evidence.

    Worse keeps a challenger from shadow altogether, so it takes confidence (the interval wholly
    below zero) on top of shadow's own segment rule, which blocks a promotion on the estimate
    alone. A segment worse only by its estimate is left for shadow to judge on live traffic:
    replay judges on the newest labelled requests only (`unseen_from`), where a segment of a
    few positives swings either way."""
    worse = [s for s in evidence.segments if s.worse and s.comparison is not None and s.comparison.ci_high < 0]
    if worse:
        return Replay(WORSE, [_worse_segment(s, evidence) for s in worse], evidence)
    overall = evidence.overall
    if overall is not None and overall.n and overall.ci_high < 0:
        interval = _interval(overall.improvement, overall.ci_low, overall.ci_high)
        reason = (
            f"worse with {overall.confidence:.0%} confidence: {overall.metric} {overall.challenger:.4f} "
            f"vs the champion's {overall.champion:.4f}, improvement {interval}"
        )
        return Replay(WORSE, [reason], evidence)
    if evidence.decision == PROMOTE:
        return Replay(BETTER, list(evidence.reasons), evidence)
    unsure = [s for s in evidence.segments if s.worse and s.comparison is not None]
    if unsure:
        named = ", ".join(f"{s.column}={s.value}" for s in unsure)
        return Replay(NOT_ENOUGH, [f"worse on {named} by the estimate, not with confidence: shadow judges"], evidence)
    return Replay(NOT_ENOUGH, list(evidence.reasons), evidence)


def _interval(improvement: float, low: float, high: float) -> str:
    return f"{improvement:+.4f} [{low:+.4f}, {high:+.4f}]"


def _worse_segment(segment: SegmentResult, evidence: ShadowEvidence) -> str:
    found = segment.comparison
    assert found is not None
    tolerance = evidence.rules.get("segment_tolerance", 0.0)
    return (
        f"worse on {segment.column}={segment.value}: {found.metric} {found.challenger:.4f} vs the champion's "
        f"{found.champion:.4f}, improvement {_interval(found.improvement, found.ci_low, found.ci_high)} "
        f"(n={segment.n}, tolerance {tolerance:.0%})"
    )


# --- against the log and the registry ------------------------------------------------------------


def unseen_from(start: datetime, learned_until: str | None) -> datetime:
    """Where the replay window starts: `start`, or later where the version learned from the
    log's labelled answers until then (its `training.learned_until` tag). Its own training rows
    would flatter it; rows at the cut's very instant may have been learned from, so they are
    left out too."""
    if not learned_until:
        return start
    cut = datetime.fromisoformat(learned_until)
    cut = (cut if cut.tzinfo is not None else cut.replace(tzinfo=UTC)) + timedelta(microseconds=1)
    if start.tzinfo is None:  # a naive start is UTC, as the log keeps its times
        cut = cut.astimezone(UTC).replace(tzinfo=None)
    if cut > start:
        log.info("replay judges only requests after %s: the version learned from the labelled answers before", cut)
    return max(start, cut)


def _lineup(client: MlflowClient, name: str, version: str | None) -> Lineup:
    found = registry.aliases(client, name)
    champion, version = found.get(CHAMPION), version or found.get(CHALLENGER)
    if champion is None:
        raise RegistryError(f"{name} has no champion: replay compares a version with the champion's answers")
    if version is None:
        raise RegistryError(f"{name} has no challenger to replay: name a version")
    if version == champion:
        raise RegistryError(f"{name} version {version} is the champion: replay another version against it")
    return Lineup(name, champion, version)


def replay(
    client: MlflowClient,
    settings: Settings,
    contract: Contract,
    *,
    version: str | None = None,
    days: int | None = None,
    now: datetime | None = None,
) -> Replay:
    """Replay `version` (default: the challenger) on the champion's labelled requests of the
    last `days` (default: `replay.days`) and record the verdict on the version."""
    lineup = _lineup(client, settings.mlflow.registered_model_name, version)
    assert lineup.champion is not None
    assert lineup.challenger is not None
    end = now or datetime.now(UTC)
    found = registry.require_passed(client, lineup.model_name, lineup.challenger)
    start = unseen_from(end - timedelta(days=days or settings.replay.days), found.tags.get(registry.LEARNED_UNTIL))
    answered = labelled_answers(predictions.read_window(settings, start, end), lineup.champion)
    with registry.fetched_bundle(client, found) as folder:
        bundle = load_bundle(folder, expected_contract_hash=contract.hash)
        scores = bundle.score_logged(answered)
    offline = offline_answers(answered, scores, lineup.challenger, bundle.decide(scores))
    paired = pair_requests(pd.concat([answered, offline], ignore_index=True), lineup, contract)
    result = judge(evaluate(paired, lineup, contract, settings, start, end))
    record(client, result)
    with History.from_settings(settings) as history:
        history.record_shadow_decision(history_row(result))
    log.info("replay of v%s against v%s: %s (%s)", lineup.challenger, lineup.champion, result.verdict, result.reason)
    return result


def record(client: MlflowClient, result: Replay) -> None:
    """The verdict, its reasons and the whole evidence as tags on the replayed version."""
    found = result.evidence
    registry.set_tags(
        client,
        found.model_name,
        found.challenger_version,
        {
            VERDICT: result.verdict,
            REASON: result.reason,
            EVALUATED_AT: found.evaluated_at,
            "replay.champion_version": found.champion_version,
            EVIDENCE: found.to_json(),
        },
    )


def history_row(result: Replay) -> ShadowDecision:
    """The verdict as the monitoring history keeps decisions: shadow evaluation's row for the
    same evidence, with the replay's verdict and reasons in place of shadow's decision."""
    row = decision_row(result.evidence, source=SOURCE)
    return dataclasses.replace(row, decision=result.verdict, reason=result.reason)


@dataclass(frozen=True)
class ReplayStep:
    """What the training flow's replay step did to a new version: the replay's summary (or why
    none ran) and, when it found the version worse, the aliases after taking its alias away."""

    summary: dict[str, Any]
    aliases_after: dict[str, str] | None = None

    @property
    def removed_from_shadow(self) -> bool:
        return self.aliases_after is not None

    def as_dict(self) -> dict[str, Any]:
        return self.summary if self.aliases_after is None else {**self.summary, "aliases": self.aliases_after}


def replay_challenger(settings: Settings, contract: Contract, version: str, now: datetime | None = None) -> ReplayStep:
    """The training flow's step after the gate: replay `version` if it holds the `challenger`
    alias; one replay finds worse loses the alias (the reason stays on the version), so it
    never gets shadow traffic. Better or not enough evidence: it stays in shadow."""
    if not settings.replay.on_training:
        return ReplayStep({"version": version, "verdict": None, "reason": "replay.on_training is off"})
    client = registry.connect(settings)
    name = settings.mlflow.registered_model_name
    if registry.aliases(client, name).get(CHALLENGER) != version:
        return ReplayStep({"version": version, "verdict": None, "reason": f"version {version} is not the challenger"})
    result = replay(client, settings, contract, version=version, now=now)
    if result.verdict != WORSE:
        return ReplayStep(result.summary())
    move = promotion.reject(client, name, who=WHO, why=f"replay: {result.reason}", version=version)
    return ReplayStep(result.summary(), aliases_after=move.after)
