"""The serving worker's garbage-collector settings: start-up objects frozen, young collections rare."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from {{ cookiecutter.package_name }}.serving.http.gc_tuning import YOUNG_THRESHOLD, tune_for_serving


@pytest.fixture
def restored_gc() -> Iterator[None]:
    """Put the interpreter's collector back as it was, whatever the test did."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_gc")
def test_tuning_freezes_what_is_alive_and_makes_young_collections_rare() -> None:
    """After tuning, the objects alive at start-up are out of the collector's reach and a young
    collection waits for YOUNG_THRESHOLD allocations; cyclic garbage made later is still collected."""
    # Given a long-lived object made at start-up
    loaded = {"model": [1, 2, 3]}

    # When the worker tunes its collector
    tune_for_serving()

    # Then start-up objects are frozen and the young threshold is raised
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert loaded["model"] == [1, 2, 3]

    # And a reference cycle made afterwards is still found by a collection
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
