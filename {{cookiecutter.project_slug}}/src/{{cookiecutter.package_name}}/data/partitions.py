"""Training data as partitioned Parquet, read and validated partition by partition on Dask.

A folder of `.parquet` files (each file one partition, in name order) is the Dask engine's
training table. Each partition is read and prepared to the contract's form on a worker,
and validated there with the same Great Expectations suite as a whole table on the local
engine; the failures of every partition come back as one message naming each partition.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..core.contract import Contract
from ..errors import DataError, ValidationFailed
from .tables import fingerprint, prepare_frame, read_table
from .validation import Report, validate_frame

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client


def read_partition(path: str, contract: Contract) -> pd.DataFrame:
    """One partition, prepared to the contract's form (see `tables.prepare_frame`)."""
    return prepare_frame(read_table(Path(path)), contract)


def read_partitions(files: list[Path], contract: Contract) -> dd.DataFrame:
    """The partitions as one lazy Dask frame, one partition per file. The column types
    come from the first file; partitions are not coerced to them, so that a partition
    with a wrong type reaches validation as it is and is reported there."""
    import dask.dataframe as dd

    meta = read_partition(str(files[0]), contract).iloc[:0]
    frame: dd.DataFrame = dd.from_map(
        read_partition, [str(f) for f in files], contract=contract, meta=meta, enforce_metadata=False
    )
    return frame


@dataclass(frozen=True)
class PartitionCheck:
    name: str
    report: Report
    fingerprint: str


def _check(part: pd.DataFrame, name: str, suite: dict[str, Any]) -> PartitionCheck:
    return PartitionCheck(name=name, report=validate_frame(part, suite), fingerprint=fingerprint(part))


def check_partitions(
    frame: dd.DataFrame, files: list[Path], suite: dict[str, Any], client: Client
) -> list[PartitionCheck]:
    """Validate and fingerprint every partition on the workers, in one pass over the data."""
    from dask.delayed import delayed

    if frame.npartitions != len(files):
        raise DataError(f"expected {len(files)} partitions (one per file), found {frame.npartitions}")
    root = files[0].parent if len(files) == 1 else Path(os.path.commonpath(files))
    tasks = [
        delayed(_check)(part, str(file.relative_to(root)), suite)
        for part, file in zip(frame.to_delayed(), files, strict=True)
    ]
    checks: list[PartitionCheck] = client.compute(tasks, sync=True)
    return checks


def ensure_valid_partitions(checks: list[PartitionCheck]) -> Report:
    """The partitions' reports as one (rows and failures added up); a failing partition
    stops the run with one line naming each failing partition and its failures."""
    failing = [c for c in checks if not c.report.success]
    if failing:
        raise ValidationFailed(
            f"data failed validation in {len(failing)} of {len(checks)} partition(s): "
            + "; ".join(f"partition {c.name}: {c.report.summary()}" for c in failing)
        )
    evaluated = max((c.report.evaluated for c in checks), default=0)
    return Report(rows=sum(c.report.rows for c in checks), evaluated=evaluated, failures=[])


def combined_fingerprint(checks: list[PartitionCheck]) -> str:
    """The table's content hash from its partitions' hashes, in partition order."""
    digest = hashlib.sha256()
    for check in checks:
        digest.update(check.fingerprint.encode())
    return digest.hexdigest()
