"""Batch scoring: a whole file through the served model (the ONNX bundle behind an alias).

The same bundle, encoding and threshold the service uses, so a batch score and
a live answer for the same record agree. Batch results are not written to the
prediction log: it records what the service answered, and monitoring reads it
as live traffic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.contract import Contract
from ..data.tables import prepare_frame, read_table, write_table
from ..errors import DataError, RegistryError
from ..model.bundle import load_bundle
from ..settings import Settings
from ..stores import registry

log = logging.getLogger(__name__)
# One onnxruntime thread, as the service runs by default: with more, the trees' sum is added
# in another order and float32 scores differ in the last digits from the live answers.
BATCH_THREADS = 1


@dataclass(frozen=True)
class ScoringResult:
    input_path: str
    output_path: str
    rows: int
    model_version: str
    alias: str
    mean_score: float
    flagged: int | None  # classification: rows at or above the threshold


def default_output(input_path: Path) -> Path:
    return input_path.with_name(f"{input_path.stem}.scores.parquet")


def features_frame(raw: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The feature columns prepared the way training prepares them (categoricals normalised,
    booleans parsed); a missing feature column is an error naming it."""
    missing = [f.name for f in contract.features if f.name not in raw.columns]
    if missing:
        raise DataError(f"the file lacks feature columns {missing}")
    # prepare_frame insists on the target, which a file to score does not have: lend it one.
    lent = raw if contract.target in raw.columns else raw.assign(**{contract.target: 0})
    return prepare_frame(lent, contract)


def score_file(
    settings: Settings, contract: Contract, input_path: Path, output_path: Path | None = None, alias: str = "champion"
) -> ScoringResult:
    client = registry.connect(settings)
    name = settings.mlflow.registered_model_name
    version = registry.version_by_alias(client, name, alias)
    if version is None:
        raise RegistryError(f"{name} has no `{alias}` version to score with")
    raw = read_table(input_path)
    frame = features_frame(raw, contract)
    with registry.fetched_bundle(client, version) as folder:
        bundle = load_bundle(folder, BATCH_THREADS, contract.hash)
        scores = bundle.score_frame(frame)
    out = pd.DataFrame({c: raw[c] for c in contract.row_keys if c in raw.columns})
    if contract.id_column is None:  # no id of the caller's: rows are keyed by their place in the file
        out.insert(0, "row", np.arange(len(raw)))
    decisions = None
    if scores.ndim == 2:  # multiclass: the answered class, its probability, then every class's
        out["score"] = scores.max(axis=1)
        out["label"] = np.asarray(contract.class_labels, dtype=object)[scores.argmax(axis=1)]
        for index, label in enumerate(contract.class_labels):
            out[f"probability.{label}"] = scores[:, index]
        scores = out["score"].to_numpy()
    else:
        out["score"] = scores
        decisions = bundle.decide(scores)
    if decisions is not None:
        out["decision"] = decisions
        if contract.labels is not None:  # the decision as the contract's labels write the class
            out["label"] = np.asarray(contract.labels, dtype=object)[decisions.astype(int)]
    out["model_version"] = str(version.version)
    destination = write_table(out, output_path or default_output(input_path))
    log.info("scored %d rows of %s with %s v%s into %s", len(out), input_path, name, version.version, destination)
    return ScoringResult(
        input_path=str(input_path),
        output_path=str(destination),
        rows=len(out),
        model_version=str(version.version),
        alias=alias,
        mean_score=float(np.mean(scores)) if len(scores) else float("nan"),
        flagged=int(decisions.sum()) if decisions is not None else None,
    )
