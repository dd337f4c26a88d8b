"""Batch scoring on Dask (`COMPUTE__ENGINE=dask`): the streamed path's `score_chunk`, per partition.

The input is a Parquet file or a folder of Parquet partitions, one task per file. Each task
reads its file and scores it with `batch_scoring.score_chunk`, the function the streamed
path applies to a chunk, so both engines give the same scores row for row (the same bundle,
encoding and one onnxruntime thread). The bundle's files travel to each worker once, in a
worker plugin, because a worker of a remote cluster cannot read this machine's temporary
folder; it loads them there and every task on that worker shares the one session.

The scores are written with `to_parquet` as a folder of part files, one per input partition,
in the input's order: under a `.partial` name first, renamed once every part is written, as
the streamed path does with its file. This module imports `distributed` and is imported only
when the engine is dask: the service never loads it.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from distributed import get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from ..core.contract import Contract
from ..data.table_chunks import read_chunks
from ..data.tables import partition_files, read_table
from ..errors import DataError
from ..model.bundle import ModelBundle, load_bundle
from .batch_scoring import BATCH_THREADS, score_chunk

if TYPE_CHECKING:
    from distributed import Client, Worker


PART_NAME = "part-{:05d}.parquet"


def bundle_files(folder: Path) -> dict[str, bytes]:
    """Every file of a fetched bundle, by its path inside the bundle."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class BundleOnWorkers(WorkerPlugin):
    """A model bundle written out and loaded on each worker once, under a name that changes
    with its content (a new version is a new plugin, never a stale session)."""

    def __init__(self, files: dict[str, bytes], contract_hash: str) -> None:
        digest = hashlib.sha256()
        for name, data in sorted(files.items()):
            digest.update(name.encode())
            digest.update(data)
        self.name = f"model-bundle-{digest.hexdigest()[:16]}"
        self.files = files
        self.contract_hash = contract_hash
        self.bundle: ModelBundle | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None

    def setup(self, worker: Worker) -> None:
        del worker
        self._folder = tempfile.TemporaryDirectory(prefix="model-bundle-")
        root = Path(self._folder.name)
        for name, data in self.files.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
        self.bundle = load_bundle(root, BATCH_THREADS, self.contract_hash)

    def teardown(self, worker: Worker) -> None:
        del worker
        if self._folder is not None:
            self._folder.cleanup()


def _score_partition(path: str, first_row: int, contract: Contract, plugin: str, model_version: str) -> pd.DataFrame:
    """One task: read one partition as written and score it with this worker's bundle."""
    loaded = get_worker().plugins[plugin]
    assert isinstance(loaded, BundleOnWorkers)  # registered under this name before any task
    assert loaded.bundle is not None  # set up on the worker when registered
    return score_chunk(loaded.bundle, contract, read_table(Path(path)), first_row, model_version)


def first_rows(files: list[Path]) -> list[int]:
    """Where each partition's rows start in the whole input, from the Parquet footers alone: a
    table without an id column keys its rows by that place (`score_chunk`'s `row`)."""
    counts = []
    for file in files:
        try:
            counts.append(pq.ParquetFile(file).metadata.num_rows)
        except (OSError, ValueError) as err:  # pyarrow's ArrowInvalid is a ValueError
            raise DataError(f"{file}: not a readable parquet file ({str(err).splitlines()[0]})") from None
    if not sum(counts):
        raise DataError(f"{files[0].parent}: the partitions hold no rows")
    return [int(start) for start in np.concatenate([[0], np.cumsum(counts)[:-1]])]


def score_partitions(
    client: Client,
    folder: Path,
    bundle: ModelBundle,
    contract: Contract,
    input_path: Path,
    destination: Path,
    model_version: str,
) -> tuple[int, float, int]:
    """Score every partition of `input_path` on the cluster into the folder `destination`
    with the bundle fetched into `folder` (`bundle`, loaded here from it); the rows scored,
    the sum of their scores and the rows at or above the threshold."""
    files = partition_files(input_path)
    starts = first_rows(files)
    plugin = BundleOnWorkers(bundle_files(folder), contract.hash)
    client.register_plugin(plugin)
    # The columns and types of every partition's scores: those of the first file's first row,
    # read as one record batch (the worker reads the whole partition; the client need not).
    first = next(read_chunks(files[0], 1), None)
    if first is None:
        raise DataError(f"{files[0]}: the partition has no rows")
    meta = score_chunk(bundle, contract, first.frame, 0, model_version).iloc[:0]
    scored: dd.DataFrame = dd.from_map(
        _score_partition,
        [str(f) for f in files],
        starts,
        contract=contract,
        plugin=plugin.name,
        model_version=model_version,
        meta=meta,
        enforce_metadata=False,
    )
    partial = destination.with_name(f"{destination.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        # Zero-padded part numbers: a reader that lists the folder by name keeps the input's order.
        scored.to_parquet(partial, write_index=False, write_metadata_file=False, name_function=PART_NAME.format)
        written = dd.read_parquet(partial, columns=[c for c in ("score", "decision") if c in meta.columns])
        rows = len(written)
        score_sum = float(written["score"].astype("float64").sum().compute())  # float32 sums drift over millions
        flagged = int(written["decision"].sum().compute()) if "decision" in meta.columns else 0
    except BaseException:  # no half-written folder is left behind, under either name
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if destination.is_dir():
        shutil.rmtree(destination)
    elif destination.exists():
        destination.unlink()
    partial.replace(destination)
    return rows, score_sum, flagged
