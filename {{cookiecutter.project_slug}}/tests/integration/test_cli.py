"""The command line as a user runs it: real processes, one-line errors, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX
from tests.support.project import PROJECT_ROOT, TEST_ROWS

CLI = str(Path(sys.executable).with_name("{{ cookiecutter.project_slug }}"))


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a CLI process, with its state isolated in tmp_path."""
    return {**os.environ, f"{ENV_PREFIX}STATE_DIR": str(tmp_path / "state"), f"{ENV_PREFIX}DEMO_ROWS": str(TEST_ROWS)}


def run(env: dict[str, str], *args: str, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def assert_one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert expected in errors[0], errors[0]


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["contract"],
        ["contract", "draft"],
        ["contract", "sync"],
        ["contract", "check"],
        ["data"],
        ["validate"],
        ["train"],
    ],
    ids=" ".join,
)
def test_every_command_has_help(cli_env: dict[str, str], command: list[str]) -> None:
    """`--help` works on every command."""
    # Given a command / When asked for help / Then it answers with its usage
    result = run(cli_env, *command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_data_then_validate_then_draft_a_contract(cli_env: dict[str, str], tmp_path: Path, contract: Contract) -> None:
    """A newcomer's path: write demo data, validate it, draft a contract from it."""
    # Given demo data written by the CLI
    data = tmp_path / "tx.csv"
    written = run(cli_env, "data", "--out", str(data), "--rows", "3000", "--days", "10")
    assert written.returncode == 0, written.stderr

    # When it is validated and a contract drafted from it
    validated = run(cli_env, "validate", str(data))
    target = contract.target
    drafted = run(cli_env, "contract", "draft", str(data), "--target", target, "--out", str(tmp_path / "contract.yaml"))

    # Then both succeed and the draft describes the table
    assert validated.returncode == 0, validated.stderr
    assert "expectations passed" in validated.stdout
    assert drafted.returncode == 0, drafted.stderr
    drafted_contract = yaml.safe_load((tmp_path / "contract.yaml").read_text())
    assert drafted_contract["task"] == contract.task
    assert len(drafted_contract["features"]) == len(contract.features)


def test_contract_check_fails_on_a_stale_suite(cli_env: dict[str, str], tmp_path: Path) -> None:
    """`contract check` fails when the suite no longer matches contract.yaml, and `sync` fixes it."""
    # Given a copy of the project's contract and suite, with the contract changed
    project = tmp_path / "project"
    (project / "great_expectations" / "expectations").mkdir(parents=True)
    contract = yaml.safe_load((PROJECT_ROOT / "contract.yaml").read_text())
    contract["features"][0]["max"] = 1.0
    (project / "contract.yaml").write_text(yaml.safe_dump(contract))
    suite = "great_expectations/expectations/contract.json"
    (project / suite).write_text((PROJECT_ROOT / suite).read_text())
    env = {**cli_env, f"{ENV_PREFIX}PROJECT_ROOT": str(project)}

    # When checked, synced and checked again
    stale = run(env, "contract", "check")
    synced = run(env, "contract", "sync")
    fresh = run(env, "contract", "check")

    # Then the first check fails with the fix in its message, and the last passes
    assert_one_line_error(stale, "out of date with contract.yaml: run `contract sync`")
    assert synced.returncode == 0
    assert fresh.returncode == 0


def test_validate_reports_a_contract_mismatch(cli_env: dict[str, str], demo: pd.DataFrame, tmp_path: Path) -> None:
    """Data that does not match the contract: one line naming what failed."""
    # Given data with a dropped column
    path = tmp_path / "mismatch.parquet"
    demo.drop(columns=["amount"]).to_parquet(path)

    # When validated / Then the error names the missing column
    assert_one_line_error(run(cli_env, "validate", str(path)), "missing columns ['amount']")


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        (b"", "the file is empty"),
        (b"\x00\x01garbage", "not a readable parquet file"),
        ("no-target", "target column"),
        ("mismatch", "data failed validation"),
    ],
    ids=["missing-file", "empty-file", "unreadable-file", "missing-target", "contract-mismatch"],
)
def test_train_rejects_bad_input_with_one_line(
    cli_env: dict[str, str],
    demo: pd.DataFrame,
    contract: Contract,
    tmp_path: Path,
    content: bytes | str | None,
    expected: str,
) -> None:
    """`train` on unusable data exits non-zero with one clear line and no traceback."""
    from prefect.settings import PREFECT_API_URL

    # Given a bad training file, and the session's Prefect server
    env = {**cli_env, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    path = tmp_path / "train.parquet"
    if content == "no-target":
        demo.drop(columns=[contract.target]).to_parquet(path)
    elif content == "mismatch":
        demo.assign(amount=-1.0).to_parquet(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)

    # When training is asked to use it / Then one line says why
    assert_one_line_error(run(env, "train", "--data", str(path)), expected)
