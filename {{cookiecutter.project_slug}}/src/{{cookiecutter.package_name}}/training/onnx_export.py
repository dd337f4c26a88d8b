"""Export LightGBM to ONNX and prove, on the holdout, that the export scores the same."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import lightgbm as lgb
import numpy as np

from ..errors import ParityError
from ..model.bundle import onnxruntime_session, output_name, scores_from_output
from ..settings import ParitySettings


def to_onnx(booster: lgb.Booster, n_features: int, opset: int) -> bytes:
    """The booster as an ONNX graph: one float32 input named `input`, no ZipMap."""
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    model = onnxmltools.convert_lightgbm(
        booster,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        zipmap=False,
        target_opset=opset,
    )
    return bytes(model.SerializeToString())


@dataclass(frozen=True)
class ParityReport:
    rows: int
    max_abs_diff: float
    mean_abs_diff: float
    worst_excess: float  # > 0: the worst row exceeds its tolerance by this much
    decision_agreement: float | None
    passed: bool
    reason: str
    # The ONNX scores themselves: what the service will answer, so the reference profile's
    # score distribution is fitted on them (LightGBM's differ in the 8th digit, enough to
    # move a point mass of tied scores across a bin edge and fake prediction drift).
    exported: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False, compare=False)

    def as_metrics(self) -> dict[str, float]:
        found = {
            "parity_max_abs_diff": self.max_abs_diff,
            "parity_mean_abs_diff": self.mean_abs_diff,
            "parity_rows": float(self.rows),
        }
        if self.decision_agreement is not None:
            found["parity_decision_agreement"] = self.decision_agreement
        return found

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if k != "exported"}


def parity_report(
    reference: np.ndarray,
    exported: np.ndarray,
    threshold: float | None,
    settings: ParitySettings,
    task: str = "",
) -> ParityReport:
    """Compare LightGBM's float64 scores with ONNX's float32 ones, row by row.

    Binary classification: every |diff| <= max_abs_diff and decisions at the threshold agree on
    at least min_decision_agreement of rows (a float32 score can land on the other side of a
    threshold it sits on). Multiclass: every class's probability within max_abs_diff, and the
    most probable class the same on that share of rows (two classes nearly tied can swap).
    Regression: |diff| <= max_abs_diff + regression_rel_diff * |pred|.
    """
    multiclass = task == "multiclass_classification"
    diff = np.abs(reference - exported)
    if multiclass:
        diff = diff.max(axis=1) if len(diff) else np.empty(0)
    allowed = settings.max_abs_diff + (
        settings.regression_rel_diff * np.abs(reference) if threshold is None and not multiclass else 0.0
    )
    excess = float(np.max(diff - allowed)) if len(diff) else 0.0
    agreement = None
    if multiclass:
        agreement = float(np.mean(reference.argmax(axis=1) == exported.argmax(axis=1))) if len(diff) else 1.0
    elif threshold is not None:
        agreement = float(np.mean((reference >= threshold) == (exported >= threshold))) if len(diff) else 1.0
    reasons = []
    if excess > 0:
        reasons.append(
            f"ONNX scores differ from LightGBM by up to {float(diff.max()):.3g} (tolerance {settings.max_abs_diff:g})"
        )
    if agreement is not None and agreement < settings.min_decision_agreement:
        what = "the most probable class agrees" if multiclass else "decisions agree"
        reasons.append(f"{what} on {agreement:.4%} of rows (< {settings.min_decision_agreement:.2%})")
    return ParityReport(
        rows=len(diff),
        max_abs_diff=float(diff.max()) if len(diff) else 0.0,
        mean_abs_diff=float(diff.mean()) if len(diff) else 0.0,
        worst_excess=excess,
        decision_agreement=agreement,
        passed=not reasons,
        reason="; ".join(reasons) or "ONNX reproduces LightGBM within tolerance",
        exported=exported,
    )


def onnx_scores(onnx_bytes: bytes, matrix: np.ndarray, task: str) -> np.ndarray:
    """The exported graph's scores as the service computes them (`model.bundle.scores_from_output`)."""
    session = onnxruntime_session(onnx_bytes, threads=2)
    (raw,) = session.run([output_name(task)], {"input": matrix.astype(np.float32)})
    return scores_from_output(np.asarray(raw), task)


def ensure_parity(report: ParityReport) -> None:
    if not report.passed:
        raise ParityError(f"parity check failed on {report.rows} holdout rows: {report.reason}")
