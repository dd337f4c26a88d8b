"""Batch scoring: a file through the served model (the ONNX bundle behind an alias), streamed.

The same bundle, encoding and threshold the service uses, so a batch score and
a live answer for the same record agree. The file is read, scored and written a
chunk at a time (`scoring.chunk_rows` rows), so the memory it takes does not grow
with the file; `score_chunk` is the whole of what is done to a chunk, a pure
function another engine can run per partition. Batch results are not written to
the prediction log: it records what the service answered, and monitoring reads it
as live traffic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..core.contract import Contract
from ..data.table_chunks import ChunkWriter, check_readable, read_chunks, table_kind
from ..data.tables import partition_files, prepare_frame
from ..errors import DataError, RegistryError
from ..model.bundle import ModelBundle, answered_class, load_bundle
from ..settings import Settings
from ..stores import registry

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

log = logging.getLogger(__name__)
# One onnxruntime thread, as the service runs by default: with more, the trees' sum is added
# in another order and float32 scores differ in the last digits from the live answers.
BATCH_THREADS = 1
# Called after each chunk with the rows scored so far and the share of the file read (None: unknown).
Progress = Callable[[int, float | None], None]


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


def text_columns(contract: Contract) -> list[str]:
    """The columns a CSV chunk reads as text: the id, the timestamp (passed through as written)
    and the categorical and boolean features (parsed from text), so that no column changes
    type between chunks."""
    return [*contract.row_keys, *(f.name for f in contract.features if f.type in ("categorical", "boolean"))]


def score_chunk(
    bundle: ModelBundle, contract: Contract, raw: pd.DataFrame, first_row: int = 0, model_version: str = ""
) -> pd.DataFrame:
    """One chunk's scores, a row per input row: the contract's id and timestamp (or, without an
    id, `row`: the row's place in the file, counted from `first_row`), `score`, for
    classification `decision` and (where the contract names its classes) `label`, for multiclass
    every class's `probability.<class>`, and `model_version`. Columns and their types are the
    same for every chunk."""
    scores = bundle.score_frame(features_frame(raw, contract))
    out = pd.DataFrame({c: raw[c] for c in contract.row_keys if c in raw.columns})
    if contract.id_column is None:  # no id of the caller's: rows are keyed by their place in the file
        out.insert(0, "row", np.arange(first_row, first_row + len(raw), dtype=np.int64))
    if scores.ndim == 2:  # multiclass: the answered class, its probability, then every class's
        classes, answered = answered_class(scores)
        out["score"] = answered
        out["label"] = np.asarray(contract.class_labels, dtype=object)[classes]
        for index, label in enumerate(contract.class_labels):
            out[f"probability.{label}"] = scores[:, index]
    else:
        out["score"] = scores
        decisions = bundle.decide(scores)
        if decisions is not None:
            out["decision"] = decisions
            if contract.labels is not None:  # the decision as the contract's labels write the class
                out["label"] = np.asarray(contract.labels, dtype=object)[decisions.astype(int)]
    out["model_version"] = model_version
    return out


def score_file(
    settings: Settings,
    contract: Contract,
    input_path: Path,
    output_path: Path | None = None,
    alias: str = "champion",
    progress: Progress | None = None,
) -> ScoringResult:
    """Score `input_path` with the model behind `alias` into `output_path` (default: beside the
    input, `<name>.scores.parquet`), chunk by chunk; the output takes its name once complete.
    On the Dask engine the input is Parquet (a file or a folder of partitions), scored a
    partition per task (`partitioned_scoring`), and the output a folder of part files."""
    destination = output_path or default_output(input_path)
    on_dask = settings.compute.engine == "dask"
    # A bad input or output: told before the registry is asked.
    if on_dask:
        partition_files(input_path)
    else:
        check_readable(input_path)
    table_kind(destination)
    client = registry.connect(settings)
    name = settings.mlflow.registered_model_name
    version = registry.version_by_alias(client, name, alias)
    if version is None:
        raise RegistryError(f"{name} has no `{alias}` version to score with")
    with registry.fetched_bundle(client, version) as folder:
        bundle = load_bundle(folder, BATCH_THREADS, contract.hash)
        if on_dask:
            rows, total, flagged = _score_on_dask(settings, folder, bundle, contract, input_path, destination, version)
        else:
            rows, total, flagged = _score_streamed(
                settings, bundle, contract, input_path, destination, version, progress
            )
    log.info("scored %d rows of %s with %s v%s into %s", rows, input_path, name, version.version, destination)
    return ScoringResult(
        input_path=str(input_path),
        output_path=str(destination),
        rows=rows,
        model_version=str(version.version),
        alias=alias,
        mean_score=total / rows if rows else float("nan"),
        flagged=flagged if bundle.threshold is not None else None,
    )


def _score_streamed(
    settings: Settings,
    bundle: ModelBundle,
    contract: Contract,
    input_path: Path,
    destination: Path,
    version: ModelVersion,
    progress: Progress | None,
) -> tuple[int, float, int]:
    """The local engine: chunk by chunk through one process; rows, score sum, rows flagged."""
    total, flagged = 0.0, 0
    with ChunkWriter(destination) as writer:
        for chunk in read_chunks(input_path, settings.scoring.chunk_rows, text_columns(contract)):
            out = score_chunk(bundle, contract, chunk.frame, chunk.first_row, str(version.version))
            writer.write(out)
            total += float(out["score"].to_numpy(dtype=np.float64).sum())  # float32 sums drift over millions
            flagged += int(out["decision"].sum()) if "decision" in out else 0
            if progress is not None:
                progress(writer.rows, chunk.done)
        rows = writer.rows
        writer.close()
    return rows, total, flagged


def _score_on_dask(
    settings: Settings,
    folder: Path,
    bundle: ModelBundle,
    contract: Contract,
    input_path: Path,
    destination: Path,
    version: ModelVersion,
) -> tuple[int, float, int]:
    """The Dask engine (imported only here: the service never loads distributed)."""
    from ..data.compute import dask_client
    from .partitioned_scoring import score_partitions

    with dask_client(settings.compute) as client:
        return score_partitions(client, folder, bundle, contract, input_path, destination, str(version.version))
