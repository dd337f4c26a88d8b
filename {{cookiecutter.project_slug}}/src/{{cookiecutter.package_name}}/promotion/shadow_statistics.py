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

A multiclass model is compared on its probability matrices (requests x classes, the
`<role>_probabilities` columns of the paired table): macro F1 of the most probable class,
with the same paired bootstrap. Instead of enough positives it needs enough classes: at
least `MIN_CLASSES` classes with `min_positives` labelled requests each (per segment,
`min_segment_positives`). Its agreement is the share of requests both answer with the same
class, and the correlation is over every class's probability.
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
    MIN_CLASSES,
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
BINARY, MULTICLASS = "binary_classification", "multiclass_classification"


def role_scores(task: str, paired: pd.DataFrame, role: str) -> np.ndarray:
    """One model's scores on these rows (`role`: "champion" or "challenger"): a multiclass
    model's probability matrix (rows x classes) from its `<role>_probabilities` lists, else
    its `<role>_score` column."""
    if task != MULTICLASS:
        return paired[f"{role}_score"].to_numpy(dtype=float)
    if not len(paired):
        return np.zeros((0, 0))
    return np.array(paired[f"{role}_probabilities"].tolist(), dtype=float)


def class_counts(task: str, y: np.ndarray, classes: Sequence[str]) -> dict[str, int] | None:
    """Multiclass: labelled requests per class (`y` holds class indexes); None otherwise."""
    if task != MULTICLASS:
        return None
    codes = np.asarray(y, dtype=float)
    return {name: int((codes == i).sum()) for i, name in enumerate(classes)}


def counted_classes(classes: dict[str, int] | None, min_count: int) -> int:
    """How many classes have at least `min_count` labelled requests."""
    return sum(count >= min_count for count in (classes or {}).values())


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
    positives = int((y > 0.5).sum()) if task == BINARY else None
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


def _same_answers(paired: pd.DataFrame, task: str) -> float | None:
    """The share of requests answered alike: the same class (multiclass), the same yes/no."""
    if task == MULTICLASS:
        if not len(paired):
            return None
        old, new = role_scores(task, paired, "champion"), role_scores(task, paired, "challenger")
        return float((old.argmax(axis=1) == new.argmax(axis=1)).mean())
    decisions = paired[["champion_decision", "challenger_decision"]].dropna()
    if not len(decisions):
        return None
    return float((decisions["champion_decision"].astype(bool) == decisions["challenger_decision"].astype(bool)).mean())


def _correlation(paired: pd.DataFrame, task: str) -> float | None:
    """Pearson's between the two models' scores (multiclass: over every class's probability)."""
    if len(paired) < 2:
        return None
    old = role_scores(task, paired, "champion").ravel()
    new = role_scores(task, paired, "challenger").ravel()
    if len(old) != len(new) or not (old.std() > 0 and new.std() > 0):
        return None
    return float(np.corrcoef(old, new)[0, 1])


def agreement(paired: pd.DataFrame, task: str = BINARY) -> Agreement:
    """Answer agreement, score correlation and latency over every paired request."""
    return Agreement(
        n=len(paired),
        decision_agreement=_same_answers(paired, task),
        score_correlation=_correlation(paired, task),
        champion_latency=_latency(paired["champion_latency_ms"]),
        challenger_latency=_latency(paired["challenger_latency_ms"]),
    )


def _enough(
    task: str, n: int, positives: int | None, classes: dict[str, int] | None, min_samples: int, min_positives: int
) -> bool:
    if n < min_samples:
        return False
    if task == BINARY:
        return (positives or 0) >= min_positives
    if task == MULTICLASS:
        return counted_classes(classes, min_positives) >= MIN_CLASSES
    return True


def is_worse(comparison: MetricComparison, tolerance: float) -> bool:
    """Worse beyond the tolerance, a share of the champion's own value on those rows."""
    if not (math.isfinite(comparison.improvement) and math.isfinite(comparison.champion)):
        return False
    return -comparison.improvement > tolerance * abs(comparison.champion)


def _compare_roles(task: str, y: np.ndarray, rows: pd.DataFrame, rules: Rules) -> MetricComparison:
    """The paired bootstrap of the challenger against the champion on these labelled rows."""
    return compare(
        task,
        y,
        role_scores(task, rows, "champion"),
        role_scores(task, rows, "challenger"),
        resamples=rules.bootstrap_resamples,
        confidence=rules.confidence,
        seed=rules.seed,
    )


def _segment(
    task: str, rows: pd.DataFrame, column: str, value: str, rules: Rules, classes: Sequence[str]
) -> SegmentResult:
    y = rows["label"].to_numpy(dtype=float)
    positives = int((y > 0.5).sum()) if task == BINARY else None
    counts = class_counts(task, y, classes)
    judged = _enough(task, len(rows), positives, counts, rules.min_segment_samples, rules.min_segment_positives)
    found = None
    if judged:
        found = _compare_roles(task, y, rows, rules)
    worse = found is not None and is_worse(found, rules.segment_tolerance)
    return SegmentResult(column, value, len(rows), positives, judged, worse, found, counts)


def segment_results(
    task: str, labelled: pd.DataFrame, segments: Sequence[str], rules: Rules, classes: Sequence[str] = ()
) -> list[SegmentResult]:
    """The comparison for each value of each segment column; only segments with enough labelled
    requests are judged (and may block a promotion). `classes` names a multiclass model's
    classes, in its order."""
    results: list[SegmentResult] = []
    for column in segments:
        if column not in labelled.columns:
            continue
        values = labelled[column].astype(object).where(labelled[column].notna(), MISSING).astype(str)
        results.extend(
            _segment(task, labelled[(values == value).to_numpy()], column, value, rules, classes)
            for value in sorted(values.unique())
        )
    return results


def _waiting(
    task: str,
    labelled: int,
    positives: int | None,
    classes: dict[str, int] | None,
    overall: MetricComparison | None,
    rules: Rules,
) -> list[str]:
    """Why there is too little to decide on yet (nothing when there is enough)."""
    waiting = []
    if labelled < rules.min_samples:
        waiting.append(f"{labelled} labelled requests scored by both models, {rules.min_samples} needed")
    if task == BINARY and (positives or 0) < rules.min_positives:
        waiting.append(f"{positives or 0} positives among them, {rules.min_positives} needed")
    if task == MULTICLASS and (counted := counted_classes(classes, rules.min_positives)) < MIN_CLASSES:
        waiting.append(
            f"{counted} classes with {rules.min_positives} labelled requests or more among them, {MIN_CLASSES} needed"
        )
    if overall is None or not math.isfinite(overall.improvement):
        waiting.append("the primary metric is undefined on these labels (a single class?)")
    return waiting


def decide(
    task: str,
    labelled: int,
    positives: int | None,
    overall: MetricComparison | None,
    segments: Sequence[SegmentResult],
    rules: Rules,
    classes: dict[str, int] | None = None,
) -> tuple[Decision, list[str]]:
    """Keep waiting below the minimum sample (and positives, or classes); then promote only
    when the challenger is better with confidence and no judged segment is worse beyond the
    tolerance; else reject."""
    waiting = _waiting(task, labelled, positives, classes, overall, rules)
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
    class_labels: Sequence[object] = (),
) -> ShadowEvidence:
    """The whole evaluation of a paired table (`shadow_steps.pair_requests`): agreement on
    every request, metrics and segments on the labelled ones, then the decision.
    `class_labels` names a multiclass model's classes in its order (default: their indexes)."""
    labelled = paired[paired["label"].notna()]
    y = labelled["label"].to_numpy(dtype=float)
    positives = int((y > 0.5).sum()) if task == BINARY else None
    names = _class_names(task, labelled, class_labels)
    classes = class_counts(task, y, names)
    overall = None
    if len(labelled):
        overall = _compare_roles(task, y, labelled, rules)
    by_segment = segment_results(task, labelled, segments, rules, names)
    decision, reasons = decide(task, len(labelled), positives, overall, by_segment, rules, classes)
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
        agreement=agreement(paired, task),
        decision=decision,
        reasons=reasons,
        rules=asdict(rules),
        classes=classes,
    )


def _class_names(task: str, labelled: pd.DataFrame, class_labels: Sequence[object]) -> list[str]:
    if task != MULTICLASS:
        return []
    if class_labels:
        return [str(label) for label in class_labels]
    return [str(i) for i in range(role_scores(task, labelled, "champion").shape[1])]
