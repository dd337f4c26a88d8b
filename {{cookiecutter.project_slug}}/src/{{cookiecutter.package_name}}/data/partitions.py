"""Training data as partitioned Parquet, read and validated partition by partition on Dask.

A folder of `.parquet` files, or those under an `s3://` prefix (`data.object_store`), each
file one partition in name order, is the Dask engine's training table. Each partition is
read and prepared to the contract's form on a worker, and validated there with the same
Great Expectations suite as a whole table on the local engine; the failures of every
partition come back as one message naming each partition.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..core.contract import Contract
from ..errors import DataError, ValidationFailed
from .object_store import read_location
from .tables import fingerprint, prepare_frame
from .validation import Report, validate_frame

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client


def read_partition(location: str, contract: Contract) -> pd.DataFrame:
    """One partition (a local path or an `s3://` URL), prepared to the contract's form (see
    `tables.prepare_frame`)."""
    return prepare_frame(read_location(location), contract)


def read_partitions(files: list[str], contract: Contract) -> dd.DataFrame:
    """The partitions as one lazy Dask frame, one partition per file. The column types
    come from the first file; partitions are not coerced to them, so that a partition
    with a wrong type reaches validation as it is and is reported there."""
    import dask.dataframe as dd

    meta = read_partition(files[0], contract).iloc[:0]
    frame: dd.DataFrame = dd.from_map(read_partition, files, contract=contract, meta=meta, enforce_metadata=False)
    return frame


@dataclass(frozen=True)
class PartitionCheck:
    name: str
    report: Report
    fingerprint: str


def _check(part: pd.DataFrame, name: str, suite: dict[str, Any]) -> PartitionCheck:
    return PartitionCheck(name=name, report=validate_frame(part, suite), fingerprint=fingerprint(part))


def partition_names(files: list[str]) -> list[str]:
    """Each partition's name for messages: its path below the folder (or prefix) all share."""
    steps = [location.split("/") for location in files]
    shared = 0
    for level in zip(*(parts[:-1] for parts in steps), strict=False):
        if len(set(level)) > 1:
            break
        shared += 1
    return ["/".join(parts[shared:]) for parts in steps]


def check_partitions(
    frame: dd.DataFrame, files: list[str], suite: dict[str, Any], client: Client
) -> list[PartitionCheck]:
    """Validate and fingerprint every partition on the workers, in one pass over the data."""
    from dask.delayed import delayed

    if frame.npartitions != len(files):
        raise DataError(f"expected {len(files)} partitions (one per file), found {frame.npartitions}")
    tasks = [
        delayed(_check)(part, name, suite)
        for part, name in zip(frame.to_delayed(), partition_names(files), strict=True)
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
