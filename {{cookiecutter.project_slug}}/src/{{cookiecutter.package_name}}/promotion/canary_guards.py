"""The canary's guards, and the verdict they give, on both models' answers of one window.

Each guard compares the canary with the champion on records of the same traffic and time,
answered by one or the other; they are different records, so the comparisons are unpaired:

- error rate: the share of the records a model was given that it failed to answer (the
  canary's failures are the `canary_failed` rows, answered by the champion instead; a
  champion that fails refuses the request, which no row records) plus its answers with a
  score that is not a finite number;
- latency: p99 of the logged latencies (the request's checks plus the model's own work);
- score distribution, when `max_score_psi` is set: PSI of the canary's scores against the
  champion's, in the champion's deciles (the statistic drift monitoring reads prediction drift
  with). Off by default: a retrained model's scores differ from the champion's by design (the
  demo's genuinely better model against its champion: PSI 2.2), so the guard would roll back
  every real improvement; it suits a like-for-like refresh;
- realized performance, once each model has `min_labelled` labelled answers: the primary
  metric's drop, as a share of the champion's value.

A guard that cannot judge yet (too few answers, no labels) never breaches; the canary only
completes after `min_answers` answers and `duration_hours`, judged by every guard that can.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core.bootstrap import weighted_metric
from ..core.metrics import primary_metric
from ..core.two_sample import psi
from ..stores.prediction_log_schema import CANARY, CANARY_FAILED, CHAMPION

if TYPE_CHECKING:
    from ..core.contract import Contract
    from ..settings import CanarySettings

ROLLBACK, COMPLETE, WAIT = "rollback", "complete", "wait"
MULTICLASS = "multiclass_classification"


@dataclass(frozen=True)
class Guard:
    """One comparison: both models' figures, the limit, and whether it judged and breached."""

    name: str
    champion: float | None
    canary: float | None
    limit: float
    judged: bool
    breached: bool
    detail: str
    metric: str | None = None

    def row(self) -> dict[str, Any]:
        verdict = "breach" if self.breached else "ok" if self.judged else "not yet"
        return {
            "guard": self.name,
            "champion": _text(self.champion),
            "canary": _text(self.canary),
            "limit": _text(self.limit),
            "verdict": verdict,
            "detail": self.detail,
        }


def _text(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.4g}"


@dataclass(frozen=True)
class CanaryEvidence:
    model_name: str
    champion_version: str
    canary_version: str
    share: float
    started_at: str
    evaluated_at: str
    answers: dict[str, int]
    guards: list[Guard]
    decision: str
    reason: str
    rules: dict[str, Any] = field(default_factory=dict)

    def guard(self, name: str) -> Guard | None:
        return next((g for g in self.guards if g.name == name), None)

    @property
    def breaches(self) -> list[Guard]:
        return [g for g in self.guards if g.breached]

    def to_dict(self) -> dict[str, Any]:
        """As JSON holds it: a figure no guard could compute (NaN) is null."""
        found: dict[str, Any] = _finite(asdict(self))
        return found

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, default=str)

    @classmethod
    def from_dict(cls, found: dict[str, Any]) -> CanaryEvidence:
        guards = [Guard(**g) for g in found.get("guards", [])]
        return cls(**{**found, "guards": guards})


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _error_rate(frame: pd.DataFrame, role: str) -> tuple[float, int]:
    """A role's failed share of the records it was given, and how many it was given."""
    answered = frame[frame["role"] == role]
    bad = int((~np.isfinite(answered["score"].to_numpy(dtype=float))).sum())
    failed = int((frame["role"] == CANARY_FAILED).sum()) if role == CANARY else 0
    given = len(answered) + failed
    return ((bad + failed) / given if given else float("nan")), given


def error_guard(frame: pd.DataFrame, rules: CanarySettings) -> Guard:
    champion, _ = _error_rate(frame, CHAMPION)
    canary, given = _error_rate(frame, CANARY)
    judged = given >= rules.min_answers and math.isfinite(champion)
    breached = judged and canary - champion > rules.max_error_rate_increase
    detail = f"{canary:.2%} of {given} records failed against the champion's {champion:.2%}" if judged else "too few"
    return Guard("error_rate", champion, canary, rules.max_error_rate_increase, judged, breached, detail)


def latency_guard(frame: pd.DataFrame, rules: CanarySettings) -> Guard:
    mine = frame.loc[frame["role"] == CHAMPION, "latency_ms"].to_numpy(dtype=float)
    theirs = frame.loc[frame["role"] == CANARY, "latency_ms"].to_numpy(dtype=float)
    judged = len(theirs) >= rules.min_answers and len(mine) >= rules.min_answers
    if not judged:
        return Guard("latency_p99", None, None, rules.max_latency_p99_ratio, False, False, "too few answers")
    champion, canary = float(np.percentile(mine, 99)), float(np.percentile(theirs, 99))
    ratio = canary / champion if champion > 0 else math.inf
    breached = ratio > rules.max_latency_p99_ratio
    detail = f"p99 {canary:.1f} ms against {champion:.1f} ms ({ratio:.2f}x)"
    return Guard("latency_p99", champion, canary, rules.max_latency_p99_ratio, True, breached, detail)


def score_psi(champion: np.ndarray, canary: np.ndarray, bins: int = 10) -> float:
    """PSI of the canary's scores in the champion's decile bins."""
    edges = np.unique(np.quantile(champion, np.linspace(0, 1, bins + 1)[1:-1], method="lower"))
    reference = np.bincount(np.searchsorted(edges, champion, side="right"), minlength=len(edges) + 1)
    current = np.bincount(np.searchsorted(edges, canary, side="right"), minlength=len(edges) + 1)
    return psi(reference.astype(float), current.astype(float))


def score_guard(frame: pd.DataFrame, rules: CanarySettings) -> Guard:
    if rules.max_score_psi is None:
        return Guard("score_psi", None, None, math.nan, False, False, "off (canary.max_score_psi unset)")
    mine = frame.loc[frame["role"] == CHAMPION, "score"].to_numpy(dtype=float)
    theirs = frame.loc[frame["role"] == CANARY, "score"].to_numpy(dtype=float)
    mine, theirs = mine[np.isfinite(mine)], theirs[np.isfinite(theirs)]
    judged = len(theirs) >= rules.min_answers and len(mine) >= rules.min_answers
    if not judged:
        return Guard("score_psi", None, None, rules.max_score_psi, False, False, "too few answers")
    value = score_psi(mine, theirs)
    breached = value > rules.max_score_psi
    detail = f"PSI {value:.3f}; mean score {theirs.mean():.4f} against {mine.mean():.4f}"
    return Guard("score_psi", 0.0, value, rules.max_score_psi, True, breached, detail)


def _scores(rows: pd.DataFrame, task: str) -> np.ndarray:
    if task == MULTICLASS:
        return np.array([list(p) for p in rows["probabilities"]], dtype=float)
    return rows["score"].to_numpy(dtype=float)


def _metric(rows: pd.DataFrame, task: str) -> float:
    y = rows["label"].to_numpy(dtype=float)
    return float(weighted_metric(task, y, _scores(rows, task), np.ones((1, len(y)), dtype=np.int32))[0])


def metric_guard(frame: pd.DataFrame, task: str, rules: CanarySettings) -> Guard:
    primary = primary_metric(task)
    labelled = frame[frame["label"].notna()] if "label" in frame else frame.iloc[:0]
    mine, theirs = labelled[labelled["role"] == CHAMPION], labelled[labelled["role"] == CANARY]
    if min(len(mine), len(theirs)) < rules.min_labelled:
        detail = f"{len(theirs)} and {len(mine)} labelled answers; {rules.min_labelled} each needed"
        return Guard("metric", None, None, rules.max_metric_drop, False, False, detail, primary.name)
    champion, canary = _metric(mine, task), _metric(theirs, task)
    drop = -primary.improvement(canary, champion) / abs(champion) if champion else math.nan
    breached = math.isfinite(drop) and drop > rules.max_metric_drop
    detail = f"{primary.name} {canary:.4f} against {champion:.4f} ({len(theirs)} and {len(mine)} labelled)"
    return Guard("metric", champion, canary, rules.max_metric_drop, True, breached, detail, primary.name)


def _verdict(guards: list[Guard], answered: int, rules: CanarySettings, duration_over: bool) -> tuple[str, str]:
    breaches = [g for g in guards if g.breached]
    if breaches:
        return ROLLBACK, "; ".join(f"{g.name} breached: {g.detail}" for g in breaches)
    if answered < rules.min_answers:
        return WAIT, f"the canary answered {answered} records; {rules.min_answers} needed before a verdict"
    if not duration_over:
        return WAIT, f"no guard breached yet; the canary runs {rules.duration_hours:g} h"
    judged = ", ".join(g.name for g in guards if g.judged)
    return COMPLETE, f"{rules.duration_hours:g} h and {answered} answers with no guard breached (judged: {judged})"


def judge(
    frame: pd.DataFrame,
    contract: Contract,
    rules: CanarySettings,
    *,
    model_name: str,
    champion: str,
    canary: str,
    share: float,
    started_at: datetime,
    now: datetime,
    duration_over: bool,
) -> CanaryEvidence:
    """Every guard on `frame` (the window's rows of both models), and the verdict."""
    if "role" not in frame:  # an empty window read no columns
        frame = pd.DataFrame(columns=["role", "score", "latency_ms", "label", "probabilities"])
    guards = [error_guard(frame, rules), latency_guard(frame, rules), score_guard(frame, rules)]
    guards.append(metric_guard(frame, contract.task, rules))
    answers = {role: int((frame["role"] == role).sum()) for role in (CHAMPION, CANARY, CANARY_FAILED)}
    decision, reason = _verdict(guards, answers[CANARY], rules, duration_over)
    return CanaryEvidence(
        model_name=model_name,
        champion_version=champion,
        canary_version=canary,
        share=share,
        started_at=started_at.isoformat(timespec="seconds"),
        evaluated_at=now.isoformat(timespec="seconds"),
        answers=answers,
        guards=guards,
        decision=decision,
        reason=reason,
        rules=rules.model_dump(),
    )
