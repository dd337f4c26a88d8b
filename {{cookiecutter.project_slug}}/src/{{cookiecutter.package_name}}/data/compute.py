"""The compute engine: a Dask client for the settings, for the steps that run on Dask.

`COMPUTE__ENGINE=dask` moves the heavy steps onto a Dask cluster: the one at
`COMPUTE__ADDRESS`, or a `LocalCluster` started for the run. `dask_client` is the one
place that connects, so training (and later batch scoring or monitoring windows) share
the same behaviour: a bounded connect and a one-line error when nothing answers.
Importing distributed costs about a second: it is imported here lazily, and the service
never imports this module.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import ComputeError
from ..settings import ComputeSettings

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)


def describe(settings: ComputeSettings) -> str:
    """Where a run's Dask work goes, in words, for logs and the MLflow run."""
    if settings.address:
        return f"the Dask scheduler at {settings.address}"
    return (
        f"a LocalCluster of {settings.workers} worker(s) x {settings.threads_per_worker} thread(s), "
        f"{settings.memory_limit} each"
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


@contextmanager
def dask_client(settings: ComputeSettings) -> Iterator[Client]:
    """A `distributed.Client` for the settings, closed on exit (and the LocalCluster, when
    one was started, stopped). An address nobody answers at within `connect_timeout`
    seconds, or a malformed one, is a ComputeError naming the address; it never hangs."""
    import dask
    from distributed import Client, LocalCluster

    # Dask turns text columns into pyarrow strings by default; the contract's suite, the
    # encoding and the reference profile expect the types pandas reads (as on the local engine).
    with dask.config.set({"dataframe.convert-string": False}), _connected(settings, Client, LocalCluster) as client:
        yield client


@contextmanager
def _connected(settings: ComputeSettings, Client: type[Client], LocalCluster: Any) -> Iterator[Client]:  # noqa: N803 - the classes, imported lazily
    if settings.address:
        try:
            client = Client(settings.address, timeout=settings.connect_timeout)
        except (OSError, TimeoutError, ValueError) as err:
            raise ComputeError(
                f"compute.address {settings.address!r}: no Dask scheduler answered within "
                f"{settings.connect_timeout:g} s ({_first_line(err)})"
            ) from None
        with client:
            log.info("computing on %s (%d workers)", describe(settings), worker_count(client))
            yield client
        return
    try:
        cluster = LocalCluster(
            n_workers=settings.workers,
            threads_per_worker=settings.threads_per_worker,
            memory_limit=settings.memory_limit,
            processes=True,  # LightGBM and GX hold the GIL: threads of one process would not run in parallel
            dashboard_address=None,  # no port to collide with a neighbour's; a real cluster has its own
            timeout=settings.connect_timeout,
            silence_logs=logging.ERROR,
        )
    except (OSError, TimeoutError, ValueError) as err:
        raise ComputeError(f"could not start {describe(settings)}: {_first_line(err)}") from None
    with cluster, Client(cluster) as client:
        log.info("computing on %s", describe(settings))
        yield client


def worker_count(client: Client) -> int:
    """Workers the scheduler knows of now (recorded with the run)."""
    return len(client.scheduler_info(n_workers=-1).get("workers", {}))
