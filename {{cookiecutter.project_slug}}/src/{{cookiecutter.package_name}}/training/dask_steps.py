"""The training steps that differ on the Dask engine (`COMPUTE__ENGINE=dask`): load the
partitions, validate each, add the fresh labelled rows, split, fit, and count the whole
table for the reference profile. Every step after fitting is `training.steps`' own,
unchanged: the holdout and validation rows are pandas.

Each takes the `distributed.Client` to run on (`data.compute.dask_client`, or the flow's
client from prefect-dask), so the same functions run under a flow or in a test.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import lightgbm as lgb
import pandas as pd

from ..core.contract import Contract
from ..core.contract_derived import suite_path
from ..core.encoding import Encoding
from ..data.demo_world import demo_frame
from ..data.fresh_labels import FreshRows, ensure_fresh_rows_valid
from ..data.object_store import data_location, partition_locations
from ..data.partitions import (
    check_partitions,
    combined_fingerprint,
    ensure_valid_partitions,
    read_partitions,
)
from ..data.tables import TableFacts, target_codes, write_table
from ..data.validation import Report, load_suite
from ..model.reference_profile import TableProfile
from ..settings import Settings
from .distributed_fit import DaskFit, fit_on_dask
from .distributed_profile import profile_partitions
from .distributed_split import DaskSplit, split_partitions

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Partitioned:
    """The training table on Dask, one partition per Parquet file (local paths or `s3://` URLs)."""

    frame: dd.DataFrame
    files: list[str]


def demo_partitions(settings: Settings, contract: Contract) -> Path:
    """The built-in demo data written as Parquet partitions under var/ (no data_path set)."""
    folder = settings.var_dir / "demo-partitions"
    frame = demo_frame(contract, settings.demo_rows, settings.demo_days)
    count = settings.compute.demo_partitions
    size = -(-len(frame) // count)
    for stale in folder.glob("*.parquet"):
        stale.unlink()
    for number in range(count):
        write_table(frame.iloc[number * size : (number + 1) * size], folder / f"part-{number:04d}.parquet")
    return folder


def load_partitioned(settings: Settings, contract: Contract, data_path: str | Path | None = None) -> Partitioned:
    """The partitions of `data_path` (argument, then settings; a folder of Parquet files, one
    file, or an `s3://bucket/prefix/`), else the demo data written as partitions; lazy, read
    on the workers."""
    path = (
        (data_location(data_path) if data_path else None) or settings.data_path or demo_partitions(settings, contract)
    )
    files = partition_locations(path)
    log.info("training data: %d Parquet partition(s) under %s", len(files), path)
    return Partitioned(frame=read_partitions(files, contract), files=files)


def validate_partitioned(table: Partitioned, settings: Settings, client: Client) -> tuple[Report, TableFacts]:
    """The contract's suite on every partition, on the workers; failures of all partitions in
    one ValidationFailed naming each. Returns the combined report and the table's facts."""
    checks = check_partitions(table.frame, table.files, load_suite(suite_path(settings.gx_dir)), client)
    report = ensure_valid_partitions(checks)
    return report, TableFacts(rows=report.rows, fingerprint=combined_fingerprint(checks))


def add_fresh_partitioned(
    table: Partitioned, fresh: FreshRows | None, settings: Settings, contract: Contract
) -> dd.DataFrame:
    """The partitions plus the validated fresh rows as one more partition; where the contract
    has an id column, a record in both keeps its fresh label (as `data.fresh_labels`)."""
    import dask.dataframe as dd

    if fresh is None or fresh.frame.empty:
        return table.frame
    ensure_fresh_rows_valid(fresh, settings)
    log.info("adding %s to the partitions", fresh.describe())
    base = table.frame
    if contract.id_column is not None:
        base = base[~base[contract.id_column].isin(set(fresh.frame[contract.id_column].tolist()))]
    extra = dd.from_pandas(fresh.frame[list(base.columns)], npartitions=1)
    combined: dd.DataFrame = dd.concat([base, extra])
    return combined


def _coded(part: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    return target_codes(part, contract)


def split_partitioned(frame: dd.DataFrame, contract: Contract, settings: Settings, client: Client) -> DaskSplit:
    """Validation and holdout rows to pandas, training rows on the cluster (targets as codes)."""
    meta = _coded(frame._meta, contract)
    if contract.is_classification and contract.labels is not None:
        meta = meta.astype({contract.target: "int64"})
    coded = frame.map_partitions(_coded, contract, meta=meta)
    group = settings.training
    data = split_partitions(
        coded,
        contract,
        client,
        method=group.split,
        holdout_fraction=group.holdout_fraction,
        validation_fraction=group.validation_fraction,
        seed=group.seed,
    )
    log.info("split %s; %s", data.description, ", ".join(f"{k} {v}" for k, v in data.sizes().items()))
    return data


def fit_partitioned(
    data: DaskSplit, contract: Contract, settings: Settings, client: Client
) -> tuple[lgb.Booster, Encoding, DaskFit]:
    found = fit_on_dask(data, contract, settings.training, settings.compute.rounds_sample_rows, client)
    return found.booster, found.encoding, found


def profile_partitioned(data: DaskSplit, contract: Contract, client: Client) -> TableProfile:
    """The reference profile's rows, columns and features from the whole table: the training
    rows counted on the workers, the validation and holdout rows here, the numeric bins'
    edges from those two (`training.distributed_profile`)."""
    in_memory = [data.valid, data.holdout]
    found = profile_partitions(data.train, contract, client, pd.concat(in_memory, ignore_index=True), in_memory)
    log.info("profiled the whole table: %d rows", found.rows)
    return found


def compute_client(settings: Settings) -> AbstractContextManager[Client]:
    """The run's Dask client (`data.compute.dask_client`), for the flow that opens it."""
    from ..data.compute import dask_client

    return dask_client(settings.compute)


def engine_params(settings: Settings, client: Client | None = None) -> dict[str, str | int]:
    """What the MLflow run records of the engine it trained on: the engine and the workers."""
    if client is None or settings.compute.engine == "local":
        return {"compute_engine": "local", "compute_workers": 1}
    from ..data.compute import worker_count

    return {
        "compute_engine": "dask",
        "compute_workers": worker_count(client),
        "compute_scheduler": settings.compute.address or "LocalCluster",
    }
