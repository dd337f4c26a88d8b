"""A model as it is served: the ONNX graph plus everything needed to use it.

A bundle is a folder: `model.onnx`, `bundle.json` (task, feature encoding,
decision threshold, contract hash, metrics and a canary), `manifest.json` (the
environment it was built in), `contract.yaml`, `reference_profile.json`, for
regression, `loss_model.onnx` (read by `loss_model.py`), and the model card
(`model_card.md`, `model_card.html`, added after the gate; for people, never loaded).
Only JSON, YAML and ONNX: nothing here is ever unpickled. Loading needs
onnxruntime and numpy, never LightGBM.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.encoding import Encoding
from ..errors import ProjectError

if TYPE_CHECKING:
    import onnxruntime as ort
    import pandas as pd

MODEL_FILE = "model.onnx"
BUNDLE_FILE = "bundle.json"
MANIFEST_FILE = "manifest.json"
PROFILE_FILE = "reference_profile.json"
CONTRACT_FILE = "contract.yaml"
LOSS_MODEL_FILE = "loss_model.onnx"  # regression: the loss model that estimates errors before labels (DLE)
FORMAT_VERSION = 1
# How far (relative to max(1, |score|)) a reloaded model may stray from the scores
# the same ONNX graph gave its canary rows at training time.
CANARY_TOLERANCE = 1e-5
BINARY, MULTICLASS = "binary_classification", "multiclass_classification"
PROBABILITIES = "probabilities"


class ModelIncompatible(ProjectError):
    """This runtime cannot serve the model (opset, runtime version, format or canary mismatch)."""


@dataclass
class ModelBundle:
    session: ort.InferenceSession
    encoding: Encoding
    task: str
    threshold: float | None
    contract_hash: str
    metadata: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def output_name(self) -> str:
        return output_name(self.task)

    def score_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Scores for an encoded float32 matrix: P(positive), the regression prediction, or
        (multiclass) a row of one probability per class."""
        if len(matrix) == 0:
            return np.empty((0, self.n_classes) if self.task == MULTICLASS else 0, dtype=float)
        (raw,) = self.session.run([self.output_name], {"input": matrix.astype(np.float32, copy=False)})
        return scores_from_output(np.asarray(raw), self.task)

    @property
    def n_classes(self) -> int:
        """Multiclass: how many classes the graph answers (its probabilities' width)."""
        shape = next(o.shape for o in self.session.get_outputs() if o.name == PROBABILITIES)
        return int(shape[1]) if len(shape) > 1 and isinstance(shape[1], int) else 0

    def score_frame(self, frame: pd.DataFrame) -> np.ndarray:
        return self.score_matrix(self.encoding.transform(frame))

    def score_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return self.score_matrix(self.encoding.transform_records(records))

    def score_logged(self, frame: pd.DataFrame) -> np.ndarray:
        """Scores for records as the prediction log kept them (`logged_columns`)."""
        return self.score_matrix(self.encoding.transform_columns(logged_columns(frame, self.encoding), len(frame)))

    def decide(self, scores: np.ndarray) -> np.ndarray | None:
        """The yes/no decision at the stored threshold (classification only)."""
        if self.threshold is None:
            return None
        return np.asarray(scores) >= self.threshold


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, bool) else value


def _logged_column(frame: pd.DataFrame, name: str, kind: str) -> list[Any] | None:
    import pandas as pd

    if name not in frame.columns:
        return None
    column = frame[name].astype(object)
    if kind == "categorical":
        present = column.notna().to_numpy()
        return [str(value) if known else None for value, known in zip(column, present, strict=True)]
    numbers = pd.to_numeric(column.map(_number), errors="coerce")
    found: list[Any] = numbers.to_numpy(dtype=float, na_value=np.nan).tolist()
    return found


def logged_columns(frame: pd.DataFrame, encoding: Encoding) -> dict[str, list[Any]]:
    """Logged records (one column per received field) as `Encoding.transform_columns` reads
    them: None for a missing category, NaN for a missing number, numbers parsed leniently (a
    retyped upstream column becomes missing, not an error), as the service would have it."""
    return {
        name: found
        for name, kind in zip(encoding.features, encoding.kinds, strict=True)
        if (found := _logged_column(frame, name, kind)) is not None
    }


def answered_class(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Multiclass: per row the answered class's index (the most probable; the first on a tie)
    and its probability. The one place the answer is derived, so that the service, batch
    scoring and the reference profile answer alike."""
    codes = probabilities.argmax(axis=1)
    return codes, np.take_along_axis(probabilities, codes[:, None], axis=1)[:, 0]


def output_name(task: str) -> str:
    """The ONNX graph's output the scores are read from (the graphs have no ZipMap)."""
    return PROBABILITIES if task in (BINARY, MULTICLASS) else "variable"


def scores_from_output(raw: np.ndarray, task: str) -> np.ndarray:
    """The graph's output as scores: P(positive) for binary classification, every class's
    probability (rows x classes) for multiclass, the prediction for regression."""
    if task == BINARY:
        return raw[:, 1].astype(float)
    if task == MULTICLASS:
        return raw.astype(float)
    return raw.reshape(-1).astype(float)


def onnxruntime_session(model: bytes | str, threads: int = 1) -> ort.InferenceSession:
    import onnxruntime as ort

    ort.set_default_logger_severity(3)  # silences a harmless VerifyOutputSizes warning on tree models
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def write_bundle(
    path: Path,
    onnx_bytes: bytes,
    *,
    encoding: Encoding,
    task: str,
    threshold: float | None,
    contract_yaml: str,
    contract_hash: str,
    metadata: Mapping[str, Any],
    manifest: Mapping[str, Any],
    canary_inputs: np.ndarray,
    canary_scores: np.ndarray,
    profile: Mapping[str, Any] | None = None,
    loss_onnx: bytes | None = None,
) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / MODEL_FILE).write_bytes(onnx_bytes)
    if loss_onnx is not None:
        (path / LOSS_MODEL_FILE).write_bytes(loss_onnx)
    (path / CONTRACT_FILE).write_text(contract_yaml, encoding="utf-8")
    description = {
        "format_version": FORMAT_VERSION,
        "task": task,
        "threshold": threshold,
        "contract_hash": contract_hash,
        "encoding": encoding.to_dict(),
        "metadata": dict(metadata),
        # A few rows and the scores the ONNX graph gave them at training: a loader
        # replays them to prove that its runtime reproduces the model, not just that
        # the file opens.
        "canary": {
            "inputs": [[None if np.isnan(x) else float(x) for x in row] for row in canary_inputs],
            # A float per row, or (multiclass) a list of one probability per class.
            "scores": np.asarray(canary_scores, dtype=float).tolist(),
        },
    }
    (path / BUNDLE_FILE).write_text(json.dumps(description, indent=2, allow_nan=False), encoding="utf-8")
    (path / MANIFEST_FILE).write_text(json.dumps(dict(manifest), indent=2), encoding="utf-8")
    if profile is not None:
        (path / PROFILE_FILE).write_text(json.dumps(dict(profile), allow_nan=False), encoding="utf-8")
    return path


def _runtime_problems(manifest: Mapping[str, Any]) -> list[str]:
    """What in the manifest this runtime cannot honour."""
    import onnxruntime as ort

    problems = []
    runtime = ort.__version__
    built_with = str(manifest.get("packages", {}).get("onnxruntime", ""))
    if built_with and built_with.split(".", 1)[0] != runtime.split(".", 1)[0]:
        problems.append(f"built for onnxruntime {built_with}, this runtime is {runtime}")
    opset = manifest.get("onnx_opset")
    try:
        import onnx.defs

        highest = onnx.defs.onnx_opset_version()
    except ImportError:  # a minimal serving image may ship without the onnx package
        highest = None
    if isinstance(opset, int) and highest is not None and opset > highest:
        problems.append(f"ONNX opset {opset} is newer than this runtime supports ({highest})")
    return problems


def load_bundle(path: Path, threads: int = 1, expected_contract_hash: str | None = None) -> ModelBundle:
    """Open a bundle and prove it runs here; raises ModelIncompatible with the reason."""
    try:
        description = json.loads((path / BUNDLE_FILE).read_text(encoding="utf-8"))
        manifest = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ModelIncompatible(f"{path} is not a model bundle: {err}") from None
    if description.get("format_version") != FORMAT_VERSION:
        raise ModelIncompatible(f"bundle format {description.get('format_version')} is not {FORMAT_VERSION}")
    if expected_contract_hash is not None and description["contract_hash"] != expected_contract_hash:
        raise ModelIncompatible(
            f"the model was trained on contract {description['contract_hash'][:12]}, "
            f"this service runs contract {expected_contract_hash[:12]}"
        )
    problems = _runtime_problems(manifest)
    if problems:
        raise ModelIncompatible("; ".join(problems))
    try:
        session = onnxruntime_session(str(path / MODEL_FILE), threads=threads)
    except Exception as err:  # onnxruntime raises its own untyped errors for unsupported models
        raise ModelIncompatible(f"onnxruntime cannot load the model: {str(err).splitlines()[0]}") from None
    bundle = ModelBundle(
        session=session,
        encoding=Encoding.from_dict(description["encoding"]),
        task=description["task"],
        threshold=description["threshold"],
        contract_hash=description["contract_hash"],
        metadata=description.get("metadata", {}),
        manifest=manifest,
        path=path,
    )
    canary = description.get("canary") or {}
    if canary.get("inputs"):
        inputs = np.array(canary["inputs"], dtype=np.float32)  # None becomes NaN
        expected = np.asarray(canary["scores"], dtype=float)
        gap = float(np.max(np.abs(bundle.score_matrix(inputs) - expected) / np.maximum(1.0, np.abs(expected))))
        if not gap <= CANARY_TOLERANCE:
            raise ModelIncompatible(f"this runtime scores the canary rows {gap:.2e} away from training")
    return bundle
