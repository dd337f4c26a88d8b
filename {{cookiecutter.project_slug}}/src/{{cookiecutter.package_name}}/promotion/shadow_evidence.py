"""What a shadow evaluation found: the rules it applied, the comparisons overall and per
segment, agreement and latency, and the decision, as it is stored on the model version (JSON).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final, Literal

Decision = Literal["promote", "reject", "keep waiting"]


PROMOTE: Final = "promote"


REJECT: Final = "reject"


KEEP_WAITING: Final = "keep waiting"

# Multiclass: labelled requests must hold at least this many classes with `min_positives`
# requests each (`min_segment_positives` in a segment): macro F1 averages the F1 of the
# classes present, so on one class it would judge that class's F1 alone.
MIN_CLASSES: Final = 2


@dataclass(frozen=True)
class Rules:
    """The decision rules; `ShadowEvaluationSettings` documents each default."""

    min_samples: int = 1000
    min_positives: int = 30  # multiclass: labelled requests a class needs to count towards `MIN_CLASSES`
    confidence: float = 0.95
    bootstrap_resamples: int = 1000
    seed: int = 42
    min_improvement: float = 0.0
    min_segment_samples: int = 300
    min_segment_positives: int = 10  # multiclass: as min_positives, within a segment
    segment_tolerance: float = 0.05

    @classmethod
    def from_settings(cls, settings: Any) -> Rules:
        return cls(**{name: getattr(settings, name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class MetricComparison:
    """The primary metric for both models on the same rows, and the challenger's improvement
    (positive = better, in the metric's units) with its bootstrap interval."""

    metric: str
    higher_is_better: bool
    n: int
    positives: int | None
    champion: float
    challenger: float
    improvement: float
    ci_low: float
    ci_high: float
    confidence: float


@dataclass(frozen=True)
class SegmentResult:
    column: str
    value: str
    n: int
    positives: int | None
    judged: bool  # enough labelled requests (and positives, or classes) to count
    worse: bool  # judged, and the challenger is worse beyond the tolerance
    comparison: MetricComparison | None
    classes: dict[str, int] | None = None  # multiclass: labelled requests per class


@dataclass(frozen=True)
class Latency:
    mean_ms: float
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True)
class Agreement:
    """How alike the two models answer, on every request both scored (labelled or not)."""

    n: int
    # Share of requests both answered alike: the same yes/no decision (binary), the same
    # class (multiclass); None for regression.
    decision_agreement: float | None
    # Pearson, on the raw scores (multiclass: on every class's probability of every request)
    score_correlation: float | None
    champion_latency: Latency | None
    challenger_latency: Latency | None


@dataclass(frozen=True)
class ShadowEvidence:
    """Everything one shadow evaluation found and decided, JSON-able (`to_dict`/`from_dict`)
    for MLflow tags, Prefect artifacts and the monitoring report."""

    model_name: str
    champion_version: str
    challenger_version: str
    task: str
    window_start: str
    window_end: str
    evaluated_at: str
    paired: int  # requests both models scored
    labelled: int  # ... that have a label now
    positives: int | None
    overall: MetricComparison | None
    segments: list[SegmentResult]
    agreement: Agreement
    decision: Decision
    reasons: list[str]
    rules: dict[str, Any] = field(default_factory=dict)
    classes: dict[str, int] | None = None  # multiclass: labelled requests per class, in the model's order

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return _finite(asdict(self))  # type: ignore[no-any-return]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShadowEvidence:
        def comparison(found: Mapping[str, Any] | None) -> MetricComparison | None:
            return None if found is None else MetricComparison(**_nan_for_none(found))

        def latency(found: Mapping[str, Any] | None) -> Latency | None:
            return None if found is None else Latency(**found)

        agreement = dict(data["agreement"])
        return cls(
            **{k: v for k, v in data.items() if k not in ("overall", "segments", "agreement")},
            overall=comparison(data.get("overall")),
            segments=[SegmentResult(**{**s, "comparison": comparison(s.get("comparison"))}) for s in data["segments"]],
            agreement=Agreement(
                **{
                    **agreement,
                    "champion_latency": latency(agreement.get("champion_latency")),
                    "challenger_latency": latency(agreement.get("challenger_latency")),
                }
            ),
        )


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _nan_for_none(found: Mapping[str, Any]) -> dict[str, Any]:
    numbers = ("champion", "challenger", "improvement", "ci_low", "ci_high")
    return {k: (float("nan") if k in numbers and v is None else v) for k, v in found.items()}
