"""The environment the demo gives its stack: its own settings, and the secrets a team gives it."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.demo.local_stack import DemoPaths, demo_environment
from {{ cookiecutter.package_name }}.demo.scenario import Scenario
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, Settings


def test_the_secrets_given_reach_the_stack_and_other_settings_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An API key list and the alert token set in the environment go to the demo's processes
    (the service then asks for a key, the alerts carry the token); any other setting of the
    caller's is left out, so the demo runs on its own state and settings."""
    # Given a caller's environment with secrets and another setting
    monkeypatch.setenv(f"{ENV_PREFIX}SERVICE__API_KEYS", '["key-one"]')
    monkeypatch.setenv(f"{ENV_PREFIX}ALERTS__WEBHOOK_TOKEN", "token-one")
    monkeypatch.setenv(f"{ENV_PREFIX}MONITORING__WINDOW_CHUNK_ROWS", "7")
    settings = Settings(project_root=tmp_path, state_dir=tmp_path / "state")

    # When the demo's environment is made
    env = demo_environment(settings, DemoPaths(tmp_path / "demo"), Scenario(), "http://127.0.0.1:1/api", "http://x")

    # Then the secrets are there, the other setting is not, and the demo's own are
    assert env[f"{ENV_PREFIX}SERVICE__API_KEYS"] == '["key-one"]'
    assert env[f"{ENV_PREFIX}ALERTS__WEBHOOK_TOKEN"] == "token-one"
    assert f"{ENV_PREFIX}MONITORING__WINDOW_CHUNK_ROWS" not in env
    assert env[f"{ENV_PREFIX}STATE_DIR"] == str(tmp_path / "demo" / "state")
    assert f"{ENV_PREFIX}SERVICE__API_KEY" not in env  # not given: not set, not empty
