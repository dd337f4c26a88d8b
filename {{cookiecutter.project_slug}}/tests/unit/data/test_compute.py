"""The Dask client for the settings: an address nobody answers at is one line, never a hang."""

from __future__ import annotations

import socket

import pytest

from {{ cookiecutter.package_name }}.data.compute import dask_client
from {{ cookiecutter.package_name }}.errors import ComputeError
from {{ cookiecutter.package_name }}.settings import ComputeSettings


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# The guard is the test's own: dask_client must give up after connect_timeout (1 s), far sooner.
@pytest.mark.timeout(60)
def test_an_unreachable_scheduler_is_a_one_line_error() -> None:
    """No scheduler at the address: a ComputeError naming the address and the timeout."""
    # Given settings that point at a port where no scheduler listens
    address = f"tcp://127.0.0.1:{closed_port()}"
    settings = ComputeSettings(engine="dask", address=address, connect_timeout=1)

    # When a client is asked for
    with pytest.raises(ComputeError) as caught, dask_client(settings):
        pass

    # Then the error is one line naming the address and the time it waited
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"compute.address {address!r}: no Dask scheduler answered within 1 s")


@pytest.mark.timeout(60)
def test_a_malformed_address_is_a_one_line_error() -> None:
    """An address without a port is refused with the address and Dask's reason."""
    settings = ComputeSettings(engine="dask", address="scheduler", connect_timeout=1)
    with (
        pytest.raises(ComputeError, match=r"compute.address 'scheduler': .*missing port") as caught,
        dask_client(settings),
    ):
        pass
    assert "\n" not in str(caught.value)
