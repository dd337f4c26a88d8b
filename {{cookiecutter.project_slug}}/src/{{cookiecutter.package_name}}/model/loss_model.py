"""A regression model's loss model as it ships: `loss_model.onnx` in the bundle, read with the
bundle's encoding.

The loss model (fitted by `training/loss_estimator.py`) predicts each answer's absolute
error from the encoded features plus the model's own prediction as one more column, the
last. Monitoring feeds it the logged records and the logged scores, which are the ONNX
model's answers, just as training fed it the ONNX scores of its rows. Loading needs
onnxruntime, never LightGBM; nothing is unpickled.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..core.encoding import Encoding
from .bundle import BUNDLE_FILE, LOSS_MODEL_FILE, logged_columns, onnxruntime_session

if TYPE_CHECKING:
    import onnxruntime as ort
    import pandas as pd

OUTPUT = "variable"  # onnxmltools' name for a LightGBM regressor's output


def loss_inputs(matrix: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The loss model's float32 input: the encoded features, then the model's prediction."""
    return np.column_stack((np.asarray(matrix, dtype=np.float32), np.asarray(scores, dtype=np.float32)))


@dataclass(frozen=True)
class LossModel:
    session: ort.InferenceSession
    encoding: Encoding

    def inputs(self, frame: pd.DataFrame, scores: np.ndarray) -> np.ndarray:
        """The loss model's input for records as they were received (a missing or retyped
        feature reads as missing, as the service would have it)."""
        columns = logged_columns(frame, self.encoding)
        return loss_inputs(self.encoding.transform_columns(columns, len(frame)), scores)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Predicted absolute errors, in float64."""
        if len(inputs) == 0:
            return np.empty(0, dtype=float)
        (raw,) = self.session.run([OUTPUT], {"input": inputs.astype(np.float32, copy=False)})
        return np.asarray(raw, dtype=float).reshape(-1)


def load_loss_model(path: Path) -> LossModel | None:
    """The bundle folder's loss model, or None when it has none (classifiers, older bundles)."""
    if not (path / LOSS_MODEL_FILE).is_file():
        return None
    description = json.loads((path / BUNDLE_FILE).read_text(encoding="utf-8"))
    return LossModel(onnxruntime_session(str(path / LOSS_MODEL_FILE)), Encoding.from_dict(description["encoding"]))
