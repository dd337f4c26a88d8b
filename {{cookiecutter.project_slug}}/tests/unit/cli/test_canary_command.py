"""`canary`: where the canary stands, a new share and a rollback by hand, against a real
(temporary) registry; an unknown action or a missing canary is one clear line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, get_settings
from {{ cookiecutter.package_name }}.stores import registry
from {{ cookiecutter.package_name }}.stores.registry import CANARY, CHAMPION, PASSED
from tests.support.project import PROJECT_ROOT, make_settings


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A registry with a champion (v1) and a canary (v2) at a share of 0.1."""
    monkeypatch.setenv(f"{ENV_PREFIX}PROJECT_ROOT", str(PROJECT_ROOT))
    monkeypatch.setenv(f"{ENV_PREFIX}STATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    settings = make_settings(tmp_path)
    client = registry.connect(settings)
    name = settings.mlflow.registered_model_name
    client.create_registered_model(name)
    for _ in range(2):
        version = client.create_model_version(name, source="file:///nowhere/model")
        registry.set_tags(client, name, version.version, {registry.GATE_STATUS: PASSED})
    client.set_registered_model_alias(name, CHAMPION, "1")
    client.set_registered_model_alias(name, CANARY, "2")
    client.set_registered_model_tag(name, registry.CANARY_SHARE_TAG, "0.1")
    client.set_registered_model_tag(name, registry.CANARY_STARTED_TAG, "2026-01-01T00:00:00+00:00")
    yield tmp_path
    get_settings.cache_clear()


def test_status_share_and_rollback(state: Path) -> None:
    """`canary` reports the canary and its share; `canary share` changes it; `canary rollback`
    ends it, leaving the champion."""
    runner = CliRunner()
    status = runner.invoke(app, ["canary"])
    assert status.exit_code == 0, status.output
    found = json.loads(status.output)
    assert (found["champion"], found["canary"], found["share"], found["running"]) == ("1", "2", 0.1, True)

    shared = runner.invoke(app, ["canary", "share", "--share", "0.3"])
    assert json.loads(shared.output)["share"] == 0.3

    rolled = runner.invoke(app, ["canary", "rollback", "--reason", "complaints"])
    after = json.loads(rolled.output)
    assert (after["champion"], after["canary"], after["running"]) == ("1", None, False)


def test_an_unknown_action_or_a_missing_canary_is_refused(state: Path) -> None:
    """A typo names the actions; a share for a model with no canary says so, non-zero."""
    runner = CliRunner()
    unknown = runner.invoke(app, ["canary", "stop"])
    assert unknown.exit_code != 0
    assert "unknown action 'stop'" in unknown.output
    runner.invoke(app, ["canary", "rollback", "--reason", "end"])
    missing = runner.invoke(app, ["canary", "share", "--share", "0.3"])
    assert missing.exit_code != 0
    assert "has no canary" in missing.output
