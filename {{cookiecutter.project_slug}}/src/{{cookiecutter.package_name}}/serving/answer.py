"""What a request answers: each model's scores for its records (`Scored`) and the answer the
caller gets (`Answer`), one prediction per record in the order sent, each naming the version
that answered it (during a canary, two versions answer one request)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ..core.contract import ClassLabel, Contract
from ..model.bundle import ModelBundle, answered_class
from .edge import Event


@dataclass(frozen=True)
class Answer:
    model_name: str
    model_version: str
    request_ids: list[str]
    record_ids: list[str | None]
    scores: list[float]
    decisions: list[bool] | None
    events: list[list[Event]]
    labels: list[ClassLabel] | None = (
        None  # the classes answered as the contract's labels write them, where it names them
    )
    # Multiclass: every class's probability per record, keyed by the class as written (JSON keys are text).
    probabilities: list[dict[str, float]] | None = None
    # The version that answered each record, when not all were answered by `model_version` (a canary).
    model_versions: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        predictions: list[dict[str, Any]] = [
            {
                "request_id": request_id,
                "record_id": self.record_ids[i],
                "score": self.scores[i],
                "decision": self.decisions[i] if self.decisions is not None else None,
                "model_version": self.model_versions[i] if self.model_versions is not None else self.model_version,
                "schema_events": self.events[i],
            }
            for i, request_id in enumerate(self.request_ids)
        ]
        if self.labels is not None:
            for prediction, label in zip(predictions, self.labels, strict=True):
                prediction["label"] = label
        if self.probabilities is not None:
            for prediction, probabilities in zip(predictions, self.probabilities, strict=True):
                prediction["probabilities"] = probabilities
        return {"model_name": self.model_name, "model_version": self.model_version, "predictions": predictions}

    def to_json(self) -> bytes:
        """`as_dict` as JSON, in PredictResponse's shape."""
        return orjson.dumps(self.as_dict())


@dataclass(frozen=True)
class Scored:
    """A model's answers to a batch of records, as the log and the caller take them."""

    scores: list[float]  # multiclass: the answered class's probability
    decisions: list[bool] | None  # binary classification only
    classes: list[int] | None  # multiclass: the answered (most probable) class's index
    probabilities: list[list[float]] | None  # multiclass: every class's, in the contract's order

    @classmethod
    def of(cls, bundle: ModelBundle, raw: np.ndarray) -> Scored:
        if raw.ndim == 2:  # multiclass: a probability per class
            classes, scores = answered_class(raw)
            return cls(scores.tolist(), None, classes.tolist(), raw.tolist())
        decisions = bundle.decide(raw)
        return cls(raw.tolist(), decisions.tolist() if decisions is not None else None, None, None)

    def named(self, contract: Contract) -> list[ClassLabel] | None:
        """The class answered per record as the contract's labels write it, where it names them."""
        labels = contract.labels
        if labels is None:
            return None
        if self.classes is not None:
            return [labels[c] for c in self.classes]
        return [labels[int(d)] for d in self.decisions] if self.decisions is not None else None

    def by_class(self, contract: Contract) -> list[dict[str, float]] | None:
        if self.probabilities is None:
            return None
        keys = [str(label) for label in contract.class_labels]
        return [dict(zip(keys, row, strict=True)) for row in self.probabilities]
