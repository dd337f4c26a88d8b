"""Feature and prediction drift: a window of live data scored against the reference profile.

`score_window` makes one pass over the window (a sort per numeric column, a
hash count per categorical one) and compares the counts with the profile's.
Per feature it reports effect sizes (PSI, Jensen-Shannon distance, Wasserstein
distance in reference standard deviations, the largest change of a level's
share), a two-sample test (Kolmogorov-Smirnov or chi-square on the 2 x k
table), the change in missing values and the share of never-seen levels. A
feature drifts only when a test is significant after correcting for the number
of tests AND an effect size crosses its threshold (settings.DriftSettings
documents each default). Schema changes arrive as events, never as errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from ..core.histogram import NumericCounts, count_categories, count_numeric, numeric_values
from ..core.two_sample import (
    adjust_p_values,
    chi2_two_sample,
    js_distance,
    ks_from_counts,
    max_share_change,
    pool_levels,
    proportion_test,
    psi,
    regroup,
    wasserstein_from_bins,
)
from ..model.reference_profile import (
    CategoricalReference,
    NumericReference,
    Reference,
    compile_profile,
    numeric_reference,
)
from ..settings import DriftSettings
from .drift_report import DriftReport, FeatureDrift, Histogram, PredictionDrift, Status
from .schema_drift import Columns, SchemaEvent, compare_columns, schema_diff

HISTOGRAM_LEVELS = 20  # categorical histograms for reports keep the most common levels, then "(other)"
UNSEEN_EXAMPLES = 5


# --- measuring one column -------------------------------------------------------------------------------


def _beyond(settings: DriftSettings, **values: float) -> tuple[str, ...]:
    thresholds = {
        "wasserstein": settings.wasserstein_threshold,
        "js_distance": settings.js_threshold,
        "psi": settings.psi_threshold,
        "max_share_change": settings.share_change_threshold,
        "unseen_share": settings.unseen_threshold,
    }
    return tuple(name for name, value in values.items() if value >= thresholds[name])  # NaN compares False


def measure_numeric(reference: NumericReference, values: np.ndarray, settings: DriftSettings) -> FeatureDrift:
    """Statistics of a numeric column against its reference (p-values not yet adjusted)."""
    return measure_numeric_counts(reference, count_numeric(values, reference.edges), settings)


def measure_numeric_counts(
    reference: NumericReference, counted: NumericCounts, settings: DriftSettings
) -> FeatureDrift:
    """`measure_numeric` from the column's counts in the reference's bins (a window read in
    chunks adds them up: every statistic here is a function of the counts and bin sums)."""
    current = counted.counts.astype(float)
    statistic, p_value = ks_from_counts(reference.counts, current)
    deciles_ref, deciles_cur = regroup(reference.counts, reference.groups), regroup(current, reference.groups)
    shift = wasserstein_from_bins(reference.counts, reference.sums, current, counted.sums) / reference.spread
    divergence, stability = js_distance(deciles_ref, deciles_cur), psi(deciles_ref, deciles_cur)
    present_ref = int(reference.counts.sum())
    return FeatureDrift(
        feature=reference.name,
        kind="numeric",
        type=reference.type,
        status="stable",
        effects=_beyond(settings, wasserstein=shift, js_distance=divergence, psi=stability),
        test="ks",
        statistic=statistic,
        p_value=p_value,
        psi=stability,
        js_distance=divergence,
        wasserstein=shift,
        null_rate_reference=reference.missing / reference.n if reference.n else float("nan"),
        null_rate_current=counted.missing / counted.n if counted.n else float("nan"),
        null_p_value=proportion_test(reference.missing, reference.n, counted.missing, counted.n),
        n_reference=present_ref,
        n_current=counted.present,
        mean_reference=float(reference.sums.sum() / present_ref) if present_ref else float("nan"),
        mean_current=counted.mean,
        histogram=Histogram(
            reference=tuple(int(c) for c in reference.counts),
            current=tuple(int(c) for c in current),
            edges=tuple(float(e) for e in reference.edges),
        ),
    )


def _category_table(
    reference: CategoricalReference, levels: Mapping[str, int]
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], dict[str, int]]:
    """Reference and current counts on one list of levels: the reference's, then each level
    only the window has (with a reference count of 0). When the reference pooled its rarest
    levels, the window's unknown levels are pooled against that count instead, since the two
    cannot be told apart."""
    current = np.array([levels.get(level, 0) for level in reference.levels], dtype=float)
    unseen = {level: count for level, count in levels.items() if level not in reference.index}
    if reference.other_count:
        return (
            np.append(reference.counts, reference.other_count),
            np.append(current, sum(unseen.values())),
            (*reference.levels, "(other)"),
            unseen,
        )
    names = tuple(unseen)
    return (
        np.append(reference.counts, np.zeros(len(names))),
        np.append(current, [unseen[name] for name in names]),
        (*reference.levels, *names),
        unseen,
    )


def _category_histogram(reference: np.ndarray, current: np.ndarray, names: tuple[str, ...]) -> Histogram:
    order = np.argsort(-(reference / max(reference.sum(), 1) + current / max(current.sum(), 1)), kind="stable")
    top, rest = order[:HISTOGRAM_LEVELS], order[HISTOGRAM_LEVELS:]
    labels = tuple(names[i] for i in top) + (("(other)",) if len(rest) else ())
    ref_counts = [int(reference[i]) for i in top] + ([int(reference[rest].sum())] if len(rest) else [])
    cur_counts = [int(current[i]) for i in top] + ([int(current[rest].sum())] if len(rest) else [])
    return Histogram(reference=tuple(ref_counts), current=tuple(cur_counts), levels=labels)


def measure_categorical(reference: CategoricalReference, column: pd.Series, settings: DriftSettings) -> FeatureDrift:
    """Statistics of a categorical or boolean column against its reference (p-values not yet adjusted)."""
    levels, missing = count_categories(column, boolean=reference.boolean, normalize=reference.normalize)
    return measure_category_counts(reference, levels, missing, len(column), settings)


def measure_category_counts(
    reference: CategoricalReference, levels: Mapping[str, int], missing: int, rows: int, settings: DriftSettings
) -> FeatureDrift:
    """`measure_categorical` from the column's counts per level (in order of first
    appearance), its missing values and its rows."""
    ref_counts, cur_counts, names, unseen = _category_table(reference, levels)
    pooled_ref, pooled_cur, _ = pool_levels(ref_counts, cur_counts, settings.min_expected_count)
    statistic, p_value = chi2_two_sample(pooled_ref, pooled_cur) if cur_counts.any() else (float("nan"),) * 2
    present = int(cur_counts.sum())
    unseen_share = sum(unseen.values()) / present if present else float("nan")
    excess = unseen_share - reference.expected_unseen
    divergence, stability = js_distance(pooled_ref, pooled_cur), psi(pooled_ref, pooled_cur)
    change = max_share_change(pooled_ref, pooled_cur)
    return FeatureDrift(
        feature=reference.name,
        kind="categorical",
        type=reference.type,
        status="stable",
        effects=_beyond(settings, js_distance=divergence, psi=stability, max_share_change=change, unseen_share=excess),
        test="chi2",
        statistic=statistic,
        p_value=p_value,
        psi=stability,
        js_distance=divergence,
        max_share_change=change,
        null_rate_reference=reference.missing / reference.n if reference.n else float("nan"),
        null_rate_current=missing / rows if rows else float("nan"),
        null_p_value=proportion_test(reference.missing, reference.n, missing, rows),
        unseen_share=unseen_share,
        unseen_expected=reference.expected_unseen,
        unseen_levels=tuple(sorted(unseen, key=lambda level: -unseen[level])[:UNSEEN_EXAMPLES]),
        n_reference=int(ref_counts.sum()),
        n_current=present,
        histogram=_category_histogram(ref_counts, cur_counts, names),
    )


# --- the verdict ---------------------------------------------------------------------------------------------


def _verdict(found: FeatureDrift, p_adjusted: float, null_p_adjusted: float, settings: DriftSettings) -> FeatureDrift:
    """Drifted when a significant test meets a large enough effect of the matching kind."""
    reasons = []
    significant = p_adjusted < settings.alpha
    if significant and any(e != "unseen_share" for e in found.effects):
        reasons.append("distribution")
    if significant and "unseen_share" in found.effects:
        reasons.append("unseen_categories")
    if null_p_adjusted < settings.alpha and abs(found.null_rate_change) >= settings.null_rate_threshold:
        reasons.append("missing_values")
    return replace(
        found,
        p_adjusted=p_adjusted,
        null_p_adjusted=null_p_adjusted,
        reasons=tuple(reasons),
        status="drifted" if reasons else "stable",
    )


def judge(measured: Sequence[FeatureDrift], settings: DriftSettings) -> list[FeatureDrift]:
    """Adjust all of a window's p-values together (distribution and missing-value tests
    alike; a test that could not run is no hypothesis) and give each feature its verdict."""
    p_values = np.array([f.p_value for f in measured] + [f.null_p_value for f in measured], dtype=float)
    adjusted = adjust_p_values(p_values, settings.correction)
    k = len(measured)
    return [_verdict(f, adjusted[i], adjusted[k + i], settings) for i, f in enumerate(measured)]


def _not_scored(reference: NumericReference | CategoricalReference, status: Status) -> FeatureDrift:
    kind: Literal["numeric", "categorical"] = "numeric" if isinstance(reference, NumericReference) else "categorical"
    return FeatureDrift(
        feature=reference.name,
        kind=kind,
        type=reference.type,
        status=status,
        null_rate_reference=reference.missing / reference.n if reference.n else float("nan"),
    )


def _class_mix(reference: Reference, answered: Sequence[str] | None, settings: DriftSettings) -> FeatureDrift | None:
    """Multiclass: the mix of answered classes against the holdout's, as a categorical
    feature is tested (its own hypothesis, no correction)."""
    if reference.classes is None or answered is None:
        return None
    if not len(answered):
        return _not_scored(reference.classes, "no_data")
    measured = measure_categorical(reference.classes, pd.Series(list(answered), dtype=object), settings)
    return _verdict(measured, measured.p_value, measured.null_p_value, settings)


def _class_probabilities(
    reference: Reference, probabilities: np.ndarray | None, settings: DriftSettings
) -> tuple[FeatureDrift, ...]:
    """Multiclass: each class's probability against the holdout's, the k tests corrected
    together (a family of their own, apart from the features')."""
    profiles = (reference.profile.get("classes") or {}).get("probabilities") or []
    if probabilities is None or not profiles or probabilities.ndim != 2 or probabilities.shape[1] != len(profiles):
        return ()
    names = [f"P({label})" for label in reference.class_labels]
    measured = [
        measure_numeric(numeric_reference(name, spec), probabilities[:, i], settings)
        for i, (name, spec) in enumerate(zip(names, profiles, strict=True))
    ]
    if not len(probabilities):
        return tuple(replace(found, status="no_data") for found in measured)
    return tuple(judge(measured, settings))


def prediction_drift(
    reference: Reference,
    scores: np.ndarray,
    settings: DriftSettings,
    answered: Sequence[str] | None = None,
    probabilities: np.ndarray | None = None,
) -> PredictionDrift | None:
    """The score distribution against the reference's, tested on its own (one hypothesis,
    no correction); the change in the share of rows at or above the decision threshold
    (binary); and the mix of answered classes, `answered`, and each class's probability,
    `probabilities` (multiclass)."""
    if reference.score is None:
        return None
    scores = np.asarray(scores, dtype=float)
    measured = measure_numeric(reference.score, scores, settings)
    judged = (
        _verdict(measured, measured.p_value, measured.null_p_value, settings)
        if len(scores)
        else replace(measured, status="no_data")
    )
    flag_reference = reference.profile.get("performance", {}).get("flag_rate")
    if reference.threshold is None or flag_reference is None or not len(scores):
        return PredictionDrift(
            judged,
            classes=_class_mix(reference, answered, settings),
            class_probabilities=_class_probabilities(reference, probabilities, settings),
        )
    flagged = int(np.count_nonzero(scores >= reference.threshold))
    n_reference = reference.score.n
    return PredictionDrift(
        judged,
        flag_rate_reference=float(flag_reference),
        flag_rate_current=flagged / len(scores),
        flag_rate_p_value=proportion_test(
            round(float(flag_reference) * n_reference), n_reference, flagged, len(scores)
        ),
    )


def score_window(
    profile: Mapping[str, Any] | Reference,
    frame: pd.DataFrame,
    *,
    scores: np.ndarray | Sequence[float] | None = None,
    unknown_fields: Mapping[str, int] | Iterable[str] | None = None,
    ignore_columns: Iterable[str] = (),
    settings: DriftSettings | None = None,
    answered: Sequence[str] | None = None,
    probabilities: np.ndarray | None = None,
) -> DriftReport:
    """Score a window of live data against the reference profile.

    `frame` holds the window's rows (any columns: extra, missing, renamed and
    retyped ones become schema events); `scores` the model's scores on the same
    rows, for prediction drift (and `answered`, a multiclass model's answered classes as
    text, for drift of the class mix, and `probabilities`, every class's, for drift of each);
    `unknown_fields` the request fields the service
    received but does not know (names, or names with counts); `ignore_columns`
    the window's bookkeeping columns (score, model version, request id...) that
    are not data and must not be reported as added columns. Compile the profile
    once (`profile.compile_profile`) when scoring many windows.
    """
    settings = settings or DriftSettings()
    reference = profile if isinstance(profile, Reference) else compile_profile(profile)
    diff = schema_diff(reference, frame, unknown_fields, settings.rename_max_distance, ignore_columns)

    def measure(spec: NumericReference | CategoricalReference, column: str) -> FeatureDrift:
        data = diff.frame[column]
        if isinstance(spec, NumericReference):
            return measure_numeric(spec, numeric_values(data)[0], settings)
        return measure_categorical(spec, data, settings)

    return _report(reference, diff.events, diff.sources, len(frame), measure, scores, settings, answered, probabilities)


class CountedColumns(Columns, Protocol):
    """A window's columns already counted into the reference's bins and levels (a window
    read in chunks, `monitoring.window_reduction`)."""

    def numeric_counts(self, spec: NumericReference, name: str) -> NumericCounts: ...

    def category_counts(self, spec: CategoricalReference, name: str) -> tuple[dict[str, int], int]: ...


def score_counted(
    reference: Reference,
    columns: CountedColumns,
    rows: int,
    *,
    scores: np.ndarray | None = None,
    unknown_fields: Mapping[str, int] | None = None,
    settings: DriftSettings | None = None,
    answered: Sequence[str] | None = None,
    probabilities: np.ndarray | None = None,
) -> DriftReport:
    """`score_window` on a window's counts instead of its rows: the same report, since every
    feature statistic is computed from counts (and bin sums)."""
    settings = settings or DriftSettings()
    events, sources = compare_columns(reference, columns, unknown_fields, settings.rename_max_distance)

    def measure(spec: NumericReference | CategoricalReference, column: str) -> FeatureDrift:
        if isinstance(spec, NumericReference):
            return measure_numeric_counts(spec, columns.numeric_counts(spec, column), settings)
        levels, missing = columns.category_counts(spec, column)
        return measure_category_counts(spec, levels, missing, rows, settings)

    return _report(reference, events, sources, rows, measure, scores, settings, answered, probabilities)


def _report(
    reference: Reference,
    events: tuple[SchemaEvent, ...],
    sources: Mapping[str, str],
    rows: int,
    measure: Callable[[NumericReference | CategoricalReference, str], FeatureDrift],
    scores: np.ndarray | Sequence[float] | None,
    settings: DriftSettings,
    answered: Sequence[str] | None,
    probabilities: np.ndarray | None,
) -> DriftReport:
    measured: list[FeatureDrift] = []
    absent: dict[str, FeatureDrift] = {}
    for name, spec in reference.features.items():
        column = sources.get(name)
        if column is None or not rows:
            absent[name] = _not_scored(spec, "missing" if column is None else "no_data")
            continue
        measured.append(replace(measure(spec, column), column=column))
    judged = {f.feature: f for f in judge(measured, settings)}
    return DriftReport(
        rows=rows,
        features=tuple(judged.get(name) or absent[name] for name in reference.features),
        schema=events,
        prediction=prediction_drift(reference, np.asarray(scores, dtype=float), settings, answered, probabilities)
        if scores is not None
        else None,
        settings=settings,
    )
