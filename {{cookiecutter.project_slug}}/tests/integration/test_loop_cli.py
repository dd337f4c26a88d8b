"""The retraining loop's commands as a user runs them: help, and one-line errors without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX
from tests.support.project import PROJECT_ROOT

CLI = str(Path(sys.executable).with_name("{{ cookiecutter.project_slug }}"))


def run(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update({f"{ENV_PREFIX}STATE_DIR": str(tmp_path / "state"), **extra})
    return subprocess.run(
        [CLI, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    return line


@pytest.mark.parametrize("command", ["shadow-eval", "promote", "reject", "rollback", "report-degradation"])
def test_every_loop_command_has_help(tmp_path: Path, command: str) -> None:
    """`--help` works on each command of the retraining loop."""
    # Given a command / When asked for help / Then it answers with its usage
    result = run(tmp_path, command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_rollback_with_nothing_to_return_to_is_a_one_line_error(tmp_path: Path) -> None:
    """With an empty registry there is no `previous`: the command says so in one line."""
    # Given an empty registry / When a rollback is asked for
    result = run(tmp_path, "rollback", "--reason", "bad model", "--who", "oncall")

    # Then
    assert "no `previous` version to roll back to" in one_line_error(result)


def test_rollback_without_a_reason_is_refused(tmp_path: Path) -> None:
    """A rollback needs --reason: a usage error, before anything is touched."""
    # Given / When
    result = run(tmp_path, "rollback")

    # Then
    assert result.returncode == 2
    assert "--reason" in result.stderr


def test_make_rollback_asks_for_a_reason(tmp_path: Path) -> None:
    """`make rollback` without REASON prints its usage and changes nothing."""
    # Given / When
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", "install", "rollback"],
        cwd=PROJECT_ROOT, env={**os.environ, f"{ENV_PREFIX}STATE_DIR": str(tmp_path / "state")},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    # Then
    assert result.returncode != 0
    assert 'usage: make rollback REASON="why"' in result.stderr


def test_reporting_a_degradation_needs_a_server(tmp_path: Path) -> None:
    """Without PREFECT_API_URL there is no automation to start a retraining: a one-line error."""
    # Given no Prefect server configured / When the event is sent by hand
    result = run(tmp_path, "report-degradation", "--reason", "precision fell", "--incident", "i-1")

    # Then
    assert "PREFECT_API_URL is not set" in one_line_error(result)
