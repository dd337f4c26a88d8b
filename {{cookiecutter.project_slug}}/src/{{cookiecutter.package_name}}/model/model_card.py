"""A model version's card: what it is, what it was trained on, how good it is and where not.

The card is data (`ModelCard`, built by `training.card` from what a training run already
computed) rendered twice: Markdown (`to_markdown`, what `card` prints and what a review
diff reads) and a self-contained HTML page (`card_html.render_html`). Both ship in the
model's MLflow run (`model_card.md`, `model_card.html`) and in its bundle folder; nothing
in the bundle's loading reads them, so the service is unaffected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MARKDOWN_FILE = "model_card.md"
HTML_FILE = "model_card.html"
TASK_WORDS = {
    "binary_classification": "the probability of the positive class",
    "multiclass_classification": "one probability per class (the answer is the most probable class)",
    "regression": "a number",
}


@dataclass(frozen=True)
class TrainingData:
    rows: int
    split: str  # "time" or "random"
    split_description: str
    sizes: Mapping[str, int]
    fingerprint: str
    time_range: tuple[str, str] | None  # the table's first and last timestamp, when it has one
    holdout_range: tuple[str, str] | None  # the holdout's, which a time split makes the newest


@dataclass(frozen=True)
class SegmentRow:
    column: str
    value: str
    n: int
    positives: int | None  # binary classification only
    metrics: Mapping[str, float]
    too_few: str | None  # why its figures say little, or None


@dataclass(frozen=True)
class Uncovered:
    """A feature whose training values the holdout never showed: its metrics say nothing there."""

    feature: str
    share: float  # of the training rows (with a value) outside what the holdout covered
    training: str  # the training range (numeric) or levels (categorical) in words
    holdout: str


@dataclass(frozen=True)
class Importance:
    feature: str
    gain_share: float  # of the booster's total split gain
    mean_abs_shap: float  # on the holdout, in the model's raw score units


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    n: int
    predicted: float  # mean predicted probability (multiclass: confidence in the answered class)
    observed: float  # observed positive rate (multiclass: accuracy of the answered class)


@dataclass(frozen=True)
class GateSummary:
    passed: bool
    alias: str | None
    reason: str
    champion_version: str | None
    champion_metric: float | None


@dataclass(frozen=True)
class ModelCard:
    model_name: str
    version: str
    run_id: str
    created_at: str
    task: str
    target: str
    class_labels: tuple[str, ...]
    contract_hash: str
    features: tuple[str, ...]
    primary_metric: str
    threshold: float | None
    data: TrainingData
    metrics: Mapping[str, float]
    segments: tuple[SegmentRow, ...]
    min_segment_rows: int
    gate: GateSummary
    parity: Mapping[str, Any]
    reliability: tuple[ReliabilityBin, ...]  # classification; empty for regression
    calibration_error: float | None  # expected calibration error of those bins
    residuals: Mapping[str, float]  # regression; empty for classification
    importance: tuple[Importance, ...]
    shap_rows: int
    uncovered: tuple[Uncovered, ...]
    manifest: Mapping[str, Any] = field(default_factory=dict)
    coverage_judged: bool = True  # false on Dask: the training rows stayed on the cluster

    @property
    def too_few(self) -> tuple[SegmentRow, ...]:
        return tuple(s for s in self.segments if s.too_few is not None)


def number(value: float | None, digits: int = 4) -> str:
    """A figure as the card prints it: `n/a` for none or NaN (a metric undefined on these rows)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.{digits}g}" if abs(value) >= 1e4 or abs(value) < 1e-3 else f"{value:.{digits}f}"


def shown_metrics(card: ModelCard) -> list[str]:
    """The holdout metrics a segment table shows: the primary first, then the task's usual ones."""
    usual = {
        "binary_classification": ["average_precision", "roc_auc", "precision", "recall", "brier"],
        "multiclass_classification": ["macro_f1", "balanced_accuracy", "accuracy", "log_loss"],
        "regression": ["rmse", "mae", "r2"],
    }[card.task]
    return [card.primary_metric, *(m for m in usual if m != card.primary_metric)]


Block = tuple[str, Any]  # ("h1" | "h2" | "h3" | "p", text), ("ul", [text]), ("table", (header, rows)), ("chart", None)


def blocks(card: ModelCard) -> list[Block]:
    """The card as a sequence of headings, paragraphs, lists and tables, in reading order:
    both renderings walk it, so the Markdown and the HTML say the same things."""
    out: list[Block] = [
        ("h1", f"Model card: {card.model_name} version {card.version}"),
        ("p", f"Trained {card.created_at} in MLflow run `{card.run_id}`."),
        ("h2", "What it predicts"),
    ]
    facts = [f"Task: {card.task}; target `{card.target}`; the model answers {TASK_WORDS[card.task]}."]
    if card.class_labels:
        facts.append(f"Classes (in the model's order): {', '.join(card.class_labels)}.")
    if card.threshold is not None:
        facts.append(f"Decision threshold (chosen on the validation slice): {number(card.threshold)}.")
    facts += [
        f"Contract `{card.contract_hash[:12]}`: {len(card.features)} features ({', '.join(card.features)}).",
        f"Primary metric: {card.primary_metric}.",
    ]
    data = card.data
    sizes = ", ".join(f"{k.removesuffix('_rows')} {v:,}" for k, v in data.sizes.items())
    trained_on = [
        f"{data.rows:,} rows, fingerprint `{data.fingerprint}`.",
        f"Split {data.split_description}: {sizes} rows.",
    ]
    if data.time_range is not None:
        trained_on.append(f"Time range: {data.time_range[0]} to {data.time_range[1]}.")
    if data.holdout_range is not None:
        trained_on.append(f"Holdout: {data.holdout_range[0]} to {data.holdout_range[1]}.")
    gate = [f"{'Passed' if card.gate.passed else 'Failed'}: {card.gate.reason}; alias {card.gate.alias or 'none'}."]
    if card.gate.champion_version is not None:
        gate.append(
            f"Compared with champion version {card.gate.champion_version} "
            f"({card.primary_metric} {number(card.gate.champion_metric)} on the same holdout)."
        )
    out += [("ul", facts), ("h2", "Training data"), ("ul", trained_on), ("h2", "Holdout metrics")]
    out += [("table", (["metric", "value"], [[k, number(v)] for k, v in card.metrics.items()]))]
    out += [("h3", "The gate"), ("ul", gate), ("h3", "Per segment"), _segment_table(card)]
    parity = [
        [k, v if isinstance(v, str) else str(v) if isinstance(v, bool) else number(v)] for k, v in card.parity.items()
    ]
    out += [("h2", "Parity (ONNX against LightGBM on every holdout row)"), ("table", (["check", "value"], parity))]
    out += _calibration_blocks(card)
    importance = (
        f"Gain: share of the booster's split gain. Mean |SHAP|: LightGBM's own contributions "
        f"(`pred_contrib`) on {card.shap_rows:,} holdout rows, in raw score units"
        + (" (averaged over the classes)" if card.task == "multiclass_classification" else "")
        + "."
    )
    rows = [[i.feature, f"{i.gain_share:.1%}", number(i.mean_abs_shap)] for i in card.importance]
    out += [
        ("h2", "Feature importance"),
        ("p", importance),
        ("table", (["feature", "gain share", "mean abs SHAP"], rows)),
    ]
    limits = [f"Segment {s.column} = {s.value}: {s.too_few}; its figures above say little." for s in card.too_few] + [
        f"Feature {u.feature}: {u.share:.1%} of the training rows lie where the holdout has no rows "
        f"(training {u.training}; holdout {u.holdout}); the holdout metrics do not speak for them."
        for u in card.uncovered
    ]
    if not card.coverage_judged:
        limits.append(
            "Feature coverage was not judged: the training rows stayed on the Dask cluster, and the "
            "training time range is not stated for the same reason."
        )
    none = "None found: every segment has enough rows and the holdout covers every feature's range."
    out += [("h2", "Known limitations"), ("ul", limits or [none])]
    out += [("h2", "Environment"), ("table", (["item", "value"], _manifest_rows(card.manifest)))]
    return out


def _segment_table(card: ModelCard) -> Block:
    if not card.segments:
        return ("p", "The contract names no segments (`segments` in contract.yaml).")
    names = shown_metrics(card)
    binary = card.task == "binary_classification"
    header = ["segment", "value", "rows", *(["positives"] if binary else []), *names]
    rows = [
        [
            s.column,
            s.value,
            f"{s.n:,}",
            *([f"{s.positives:,}"] if s.positives is not None else []),
            *(number(s.metrics.get(m)) for m in names),
        ]
        for s in card.segments
    ]
    return ("table", (header, rows))


def _calibration_blocks(card: ModelCard) -> list[Block]:
    if card.task == "regression":
        rows = [[k, number(v)] for k, v in card.residuals.items()]
        return [("h2", "Residuals (prediction minus truth, on the holdout)"), ("table", (["statistic", "value"], rows))]
    what = (
        "confidence in the answered class against how often it was right"
        if card.task == "multiclass_classification"
        else "mean predicted probability against the observed positive rate"
    )
    rows = [
        [f"{b.low:.1f}-{b.high:.1f}", f"{b.n:,}", number(b.predicted), number(b.observed)] for b in card.reliability
    ]
    return [
        ("h2", "Calibration (reliability on the holdout)"),
        ("p", f"Binned {what}, of the raw model's scores."),
        ("chart", None),
        ("table", (["bin", "rows", "predicted", "observed"], rows)),
        ("p", f"Expected calibration error: {number(card.calibration_error)}."),
    ]


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"

    return [line(header), "|" + "---|" * len(header), *(line(r) for r in rows)]


def to_markdown(card: ModelCard) -> str:
    lines: list[str] = []
    for kind, content in blocks(card):
        if kind in ("h1", "h2", "h3"):
            lines += [f"{'#' * int(kind[1])} {content}", ""]
        elif kind == "p":
            lines += [content, ""]
        elif kind == "ul":
            lines += [*(f"- {item}" for item in content), ""]
        elif kind == "table":
            lines += [*_markdown_table(*content), ""]
    return "\n".join(lines).rstrip() + "\n"


def _manifest_rows(manifest: Mapping[str, Any]) -> list[list[str]]:
    rows = []
    for key, value in manifest.items():
        if isinstance(value, Mapping):
            rows += [[f"{key}.{k}", str(v)] for k, v in value.items() if v is not None]
        else:
            rows.append([key, str(value)])
    return rows
