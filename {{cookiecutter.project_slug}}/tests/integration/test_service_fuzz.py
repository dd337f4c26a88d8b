"""The running service against generated hostile input: schemathesis sends cases made from the
service's own OpenAPI document to every operation (see tests/support/fuzz.py); the benchmark
benchmarks/reliability/fuzz.py in the template runs the same with many more cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fuzz import KEYS, fuzz
from tests.support.project import Trained
from tests.support.service import private_registry, running_server, service_env

pytestmark = pytest.mark.slow

# Cases per operation and generation mode in the fuzzing phase: with the coverage phase's
# boundary cases, about 1,100 in all (the count is asserted below), in well under a minute.
MAX_EXAMPLES = 150


def test_generated_cases_get_the_answers_the_document_promises(trained: Trained, tmp_path: Path) -> None:
    """At least 1,000 generated cases (valid and invalid bodies, headers and methods, the same
    ones every run) reach every operation of a real server that has two valid API keys: none
    is answered with a 5xx, every answer's status, content type, headers and body are the ones
    the OpenAPI document promises, no body holds a traceback, protected operations refuse a
    request without a key, and neither key appears in the server's log."""
    # Given a real server on a private registry, with two valid keys as during a rotation
    settings = private_registry(trained, tmp_path / "state")
    env = service_env(settings, workers=1, api_keys=json.dumps(KEYS))
    log_path = tmp_path / "server.log"
    with running_server(env, log_path) as server:
        # When schemathesis fuzzes it from its own document, with the newer key
        report = fuzz(server.url, tmp_path / "fuzz", max_examples=MAX_EXAMPLES, api_key=KEYS[1])

    # Then nothing failed, every operation was tried, and the cases were as many as claimed
    assert report.failures == [], report.output
    assert report.errors == [], report.output
    assert report.operations_tested == report.operations_total >= 8
    assert report.cases >= 1000, report.summary()
    log = log_path.read_text(errors="replace")
    assert [key for key in KEYS if key in log] == []
