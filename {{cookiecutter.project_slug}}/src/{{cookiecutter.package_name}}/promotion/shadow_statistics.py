"""Challenger against champion on the same live, labelled requests: the statistics and the decision.

Pure functions over arrays and a paired table (one row per request both models
scored); no registry, no Prefect, no database, so every rule is unit-tested.
`shadow_steps` feeds them from the prediction log and acts on the result; `shadow_evidence`
holds what they find.

The difference in the primary metric comes with a paired bootstrap interval:
the same resampled requests score both models, so the interval reflects how
much the *difference* varies, which is far less than each metric on its own.
Each resample is a row of multinomial weights, and the weighted metric is
computed for a block of resamples at once (one sort, then cumulative sums), so
a thousand resamples of tens of thousands of rows take well under a second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import pandas as pd

from ..core.bootstrap import BLOCK_CELLS, resample_counts, weighted_metric
from ..core.metrics import primary_metric
from .shadow_evidence import (
    KEEP_WAITING,
    PROMOTE,
    REJECT,
    Agreement,
    Decision,
    Latency,
    MetricComparison,
    Rules,
    SegmentResult,
    ShadowEvidence,
)

MISSING = "(missing)"


# --- weighted metrics over blocks of resamples ---------------------------------------------------


def compare(
    task: str,
    y: np.ndarray,
    champion: np.ndarray,
    challenger: np.ndarray,
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> MetricComparison:
    """The primary metric of both models on the same rows, and a paired percentile bootstrap
    interval for the challenger's improvement."""
    primary = primary_metric(task)
    y = np.asarray(y, dtype=float)
    champion = np.asarray(champion, dtype=float)
    challenger = np.asarray(challenger, dtype=float)
    n = len(y)
    positives = int((y > 0.5).sum()) if task == "binary_classification" else None
    ones = np.ones((1, n), dtype=np.int32)
    champion_value = float(weighted_metric(task, y, champion, ones)[0]) if n else float("nan")
    challenger_value = float(weighted_metric(task, y, challenger, ones)[0]) if n else float("nan")
    improvement = primary.improvement(challenger_value, champion_value)
    low = high = float("nan")
    if n and math.isfinite(improvement):
        differences = _bootstrap_improvements(task, y, champion, challenger, resamples, seed)
        differences = differences[np.isfinite(differences)]
        if len(differences):
            tail = (1 - confidence) / 2
            low, high = (float(q) for q in np.quantile(differences, [tail, 1 - tail]))
    return MetricComparison(
        metric=primary.name,
        higher_is_better=primary.higher_is_better,
        n=n,
        positives=positives,
        champion=champion_value,
        challenger=challenger_value,
        improvement=improvement,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
    )


def _bootstrap_improvements(
    task: str, y: np.ndarray, champion: np.ndarray, challenger: np.ndarray, resamples: int, seed: int
) -> np.ndarray:
    primary = primary_metric(task)
    rng = np.random.default_rng(seed)
    n = len(y)
    block = max(1, min(resamples, BLOCK_CELLS // max(n, 1)))
    found: list[np.ndarray] = []
    done = 0
    while done < resamples:
        size = min(block, resamples - done)
        weights = resample_counts(rng, n, size)
        old = weighted_metric(task, y, champion, weights)
        new = weighted_metric(task, y, challenger, weights)
        found.append(new - old if primary.higher_is_better else old - new)
        done += size
    return np.concatenate(found)


# --- agreement, segments, decision -----------------------------------------------------------


def _latency(values: pd.Series) -> Latency | None:
    clean = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    if not len(clean):
        return None
    return Latency(
        mean_ms=float(clean.mean()), p50_ms=float(np.percentile(clean, 50)), p95_ms=float(np.percentile(clean, 95))
    )


def agreement(paired: pd.DataFrame) -> Agreement:
    """Decision agreement, score correlation and latency over every paired request."""
    n = len(paired)
    decisions = paired[["champion_decision", "challenger_decision"]].dropna()
    decision_agreement = (
        float((decisions["champion_decision"].astype(bool) == decisions["challenger_decision"].astype(bool)).mean())
        if len(decisions)
        else None
    )
    correlation = None
    if n >= 2:
        old = paired["champion_score"].to_numpy(dtype=float)
        new = paired["challenger_score"].to_numpy(dtype=float)
        if old.std() > 0 and new.std() > 0:
            correlation = float(np.corrcoef(old, new)[0, 1])
    return Agreement(
        n=n,
        decision_agreement=decision_agreement,
        score_correlation=correlation,
        champion_latency=_latency(paired["champion_latency_ms"]),
        challenger_latency=_latency(paired["challenger_latency_ms"]),
    )


def _enough(task: str, n: int, positives: int | None, min_samples: int, min_positives: int) -> bool:
    if n < min_samples:
        return False
    return task != "binary_classification" or (positives or 0) >= min_positives


def is_worse(comparison: MetricComparison, tolerance: float) -> bool:
    """Worse beyond the tolerance, a share of the champion's own value on those rows."""
    if not (math.isfinite(comparison.improvement) and math.isfinite(comparison.champion)):
        return False
    return -comparison.improvement > tolerance * abs(comparison.champion)


def segment_results(task: str, labelled: pd.DataFrame, segments: Sequence[str], rules: Rules) -> list[SegmentResult]:
    """The comparison for each value of each segment column; only segments with enough labelled
    requests are judged (and may block a promotion)."""
    results: list[SegmentResult] = []
    for column in segments:
        if column not in labelled.columns:
            continue
        values = labelled[column].astype(object).where(labelled[column].notna(), MISSING).astype(str)
        for value in sorted(values.unique()):
            rows = labelled[(values == value).to_numpy()]
            y = rows["label"].to_numpy(dtype=float)
            positives = int((y > 0.5).sum()) if task == "binary_classification" else None
            judged = _enough(task, len(rows), positives, rules.min_segment_samples, rules.min_segment_positives)
            found = None
            if judged:
                found = compare(
                    task,
                    y,
                    rows["champion_score"].to_numpy(dtype=float),
                    rows["challenger_score"].to_numpy(dtype=float),
                    resamples=rules.bootstrap_resamples,
                    confidence=rules.confidence,
                    seed=rules.seed,
                )
            worse = found is not None and is_worse(found, rules.segment_tolerance)
            results.append(SegmentResult(column, value, len(rows), positives, judged, worse, found))
    return results


def decide(
    task: str,
    labelled: int,
    positives: int | None,
    overall: MetricComparison | None,
    segments: Sequence[SegmentResult],
    rules: Rules,
) -> tuple[Decision, list[str]]:
    """Keep waiting below the minimum sample; then promote only when the challenger is better
    with confidence and no judged segment is worse beyond the tolerance; else reject."""
    waiting = []
    if labelled < rules.min_samples:
        waiting.append(f"{labelled} labelled requests scored by both models, {rules.min_samples} needed")
    if task == "binary_classification" and (positives or 0) < rules.min_positives:
        waiting.append(f"{positives or 0} positives among them, {rules.min_positives} needed")
    if overall is None or not math.isfinite(overall.improvement):
        waiting.append("the primary metric is undefined on these labels (a single class?)")
    if waiting:
        return KEEP_WAITING, waiting
    assert overall is not None
    metric, level = overall.metric, f"{overall.confidence:.0%}"
    interval = f"{overall.improvement:+.4f} [{overall.ci_low:+.4f}, {overall.ci_high:+.4f}]"
    reasons = []
    if not overall.ci_low > rules.min_improvement:
        reasons.append(
            f"not better with {level} confidence: {metric} {overall.challenger:.4f} vs the champion's "
            f"{overall.champion:.4f}, improvement {interval}"
        )
    reasons.extend(
        f"worse on {s.column}={s.value}: {metric} {s.comparison.challenger:.4f} vs {s.comparison.champion:.4f} "
        f"(n={s.n}, tolerance {rules.segment_tolerance:.0%})"
        for s in segments
        if s.worse and s.comparison is not None
    )
    if reasons:
        return REJECT, reasons
    judged = sum(s.judged for s in segments)
    return PROMOTE, [
        (
            f"better with {level} confidence: {metric} {overall.challenger:.4f} vs {overall.champion:.4f}, "
            f"improvement {interval}; none of {judged} judged segments worse beyond {rules.segment_tolerance:.0%}"
        )
    ]


def evaluate_pairs(
    paired: pd.DataFrame,
    *,
    task: str,
    segments: Sequence[str],
    rules: Rules,
    model_name: str,
    champion_version: str,
    challenger_version: str,
    window: tuple[str, str],
    evaluated_at: str,
) -> ShadowEvidence:
    """The whole evaluation of a paired table (`shadow_evaluation.pair_requests`): agreement on
    every request, metrics and segments on the labelled ones, then the decision."""
    labelled = paired[paired["label"].notna()]
    y = labelled["label"].to_numpy(dtype=float)
    positives = int((y > 0.5).sum()) if task == "binary_classification" else None
    overall = None
    if len(labelled):
        overall = compare(
            task,
            y,
            labelled["champion_score"].to_numpy(dtype=float),
            labelled["challenger_score"].to_numpy(dtype=float),
            resamples=rules.bootstrap_resamples,
            confidence=rules.confidence,
            seed=rules.seed,
        )
    by_segment = segment_results(task, labelled, segments, rules)
    decision, reasons = decide(task, len(labelled), positives, overall, by_segment, rules)
    return ShadowEvidence(
        model_name=model_name,
        champion_version=champion_version,
        challenger_version=challenger_version,
        task=task,
        window_start=window[0],
        window_end=window[1],
        evaluated_at=evaluated_at,
        paired=len(paired),
        labelled=len(labelled),
        positives=positives,
        overall=overall,
        segments=by_segment,
        agreement=agreement(paired),
        decision=decision,
        reasons=reasons,
        rules=asdict(rules),
    )
