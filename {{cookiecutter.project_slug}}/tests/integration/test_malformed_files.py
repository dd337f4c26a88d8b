"""Hostile input: every command that reads a data file answers a malformed one with one line.

Each command (`contract draft`, `validate`, `drift` on either side, `labels`, `score`, `train`)
meets each malformed file (a Parquet file cut in half, a CSV holding a binary blob, a CSV in
UTF-16 or in Latin-1, an empty file, a folder, one 20 MB line): it exits non-zero with a single
`error:` line naming the file, no traceback, and writes nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from {{ cookiecutter.package_name }}.cli.app import app
from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.data.demo_world import demo_frame
from {{ cookiecutter.package_name }}.data.tables import prepare_frame
from {{ cookiecutter.package_name }}.serving.batch_scoring import default_output
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, get_settings
from {{ cookiecutter.package_name }}.stores import registry
from tests.support.project import PROJECT_ROOT, Trained, make_settings, train_version

ROWS = 3_000
HUGE_LINE_BYTES = 20 * 1024 * 1024
CLI = str(Path(sys.executable).with_name("{{ cookiecutter.project_slug }}"))


def _truncated_parquet(folder: Path, table: pd.DataFrame) -> Path:
    path = folder / "truncated.parquet"
    table.to_parquet(path, index=False)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return path


def _binary_blob(folder: Path, table: pd.DataFrame) -> Path:
    """A CSV's header and rows with random bytes (NULs among them) in the middle."""
    path = folder / "blob.csv"
    text = table.head(200).to_csv(index=False).encode()
    blob = bytes([0, 0, 255, 254]) + np.random.default_rng(7).bytes(4096)
    path.write_bytes(text[: len(text) // 2] + blob + text[len(text) // 2 :])
    return path


def _utf16(folder: Path, table: pd.DataFrame) -> Path:
    path = folder / "utf16.csv"
    table.head(200).to_csv(path, index=False, encoding="utf-16")
    return path


def _latin1(folder: Path, table: pd.DataFrame) -> Path:
    """A CSV in Latin-1 with a non-ASCII level in a categorical column, past the first rows."""
    path = folder / "latin1.csv"
    written = table.head(200).copy()
    written.loc[written.index[150:], "channel"] = "téléphone"
    written.to_csv(path, index=False, encoding="latin-1")
    return path


def _empty(folder: Path, _table: pd.DataFrame) -> Path:
    path = folder / "empty.csv"
    path.write_bytes(b"")
    return path


def _directory(folder: Path, _table: pd.DataFrame) -> Path:
    path = folder / "folder.csv"
    path.mkdir()
    (path / "part-0.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    return path


def _huge_line(folder: Path, _table: pd.DataFrame) -> Path:
    """One 20 MB line of comma-separated values and no newline."""
    path = folder / "huge_line.csv"
    cell = b"1234567,"
    path.write_bytes(cell * (HUGE_LINE_BYTES // len(cell)))
    return path


# Each malformed file, and what its error says was wrong with it.
MALFORMED: dict[str, tuple[Callable[[Path, pd.DataFrame], Path], str]] = {
    "truncated-parquet": (_truncated_parquet, "not a readable parquet file"),
    "binary-blob-csv": (_binary_blob, "not UTF-8 text"),
    "utf16-csv": (_utf16, "not UTF-8 text (it is UTF-16)"),
    "latin1-csv": (_latin1, "not UTF-8 text"),
    "empty-file": (_empty, "the file is empty"),
    "directory": (_directory, "a folder"),
    "huge-single-line": (_huge_line, "first line runs past"),
}


@pytest.fixture(scope="module")
def table(contract: Contract) -> pd.DataFrame:
    """A small demo table as a user would write it, with a request_id column for labels."""
    frame = demo_frame(contract, ROWS, 30)
    return frame.assign(request_id=[f"r{i}" for i in range(len(frame))])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, table: pd.DataFrame) -> dict[str, Path]:
    """Every malformed file, once for the module, and a good CSV for the other side of `drift`."""
    folder = tmp_path_factory.mktemp("malformed")
    made = {name: make(folder, table) for name, (make, _) in MALFORMED.items()}
    good = tmp_path_factory.mktemp("good") / "good.csv"
    table.to_csv(good, index=False)
    return {**made, "good": good}


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory, table: pd.DataFrame, contract: Contract) -> Trained:
    """One small model for the module, behind the champion alias whatever its gate said."""
    settings = make_settings(tmp_path_factory.mktemp("champion"))
    trained = train_version(settings, prepare_frame(table.drop(columns=["request_id"]), contract), contract)
    client = registry.connect(settings)
    client.set_registered_model_alias(settings.mlflow.registered_model_name, "champion", trained.version)
    return trained


@contextmanager
def published(monkeypatch: pytest.MonkeyPatch, state: Path) -> Iterator[Path]:
    """The project's settings with `state` as their state folder, for the CLI to read from the environment."""
    monkeypatch.setenv(f"{ENV_PREFIX}PROJECT_ROOT", str(PROJECT_ROOT))
    monkeypatch.setenv(f"{ENV_PREFIX}STATE_DIR", str(state))
    get_settings.cache_clear()
    try:
        yield state
    finally:
        get_settings.cache_clear()


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty state folder of the test's own, published to the CLI through the environment."""
    with published(monkeypatch, tmp_path / "state") as folder:
        yield folder


def files_under(*folders: Path) -> dict[Path, int]:
    return {p: p.stat().st_size for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()}


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_one_line_error(exit_code: int, stdout: str, stderr: str, path: Path, malformed: str) -> None:
    """A non-zero exit, and one `error:` line naming the file and what is wrong with it."""
    assert exit_code != 0, stdout + stderr
    assert "Traceback" not in stdout + stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), lines[0]
    assert path.name in lines[0], lines[0]
    assert MALFORMED[malformed][1] in lines[0], lines[0]


@pytest.mark.parametrize("malformed", list(MALFORMED))
def test_contract_draft_refuses_a_malformed_file(
    malformed: str, files: dict[str, Path], state: Path, tmp_path: Path, contract: Contract
) -> None:
    """`contract draft` on a malformed file: one line naming it, and no contract written."""
    # Given a malformed file and where the draft would go
    path, out = files[malformed], tmp_path / "drafted.yaml"

    # When a contract is drafted from it
    result = invoke("contract", "draft", path, "--target", contract.target, "--out", out)

    # Then one line names the file, and no contract was written
    assert_one_line_error(result.exit_code, result.stdout, result.stderr, path, malformed)
    assert not out.exists()


@pytest.mark.parametrize("malformed", list(MALFORMED))
def test_validate_refuses_a_malformed_file(malformed: str, files: dict[str, Path], state: Path) -> None:
    """`validate` on a malformed file: one line naming it, and nothing written."""
    # Given a malformed file
    path = files[malformed]
    before = files_under(path.parent, state)

    # When it is validated / Then one line names it, and no file appeared or changed
    result = invoke("validate", path)
    assert_one_line_error(result.exit_code, result.stdout, result.stderr, path, malformed)
    assert files_under(path.parent, state) == before


@pytest.mark.parametrize("side", ["--reference", "--current"])
@pytest.mark.parametrize("malformed", list(MALFORMED))
def test_drift_refuses_a_malformed_file_on_either_side(
    malformed: str, side: str, files: dict[str, Path], state: Path
) -> None:
    """`drift` with a malformed reference or current table: one line naming it, nothing written."""
    # Given a malformed file on one side and a good table on the other
    path = files[malformed]
    other = "--current" if side == "--reference" else "--reference"
    before = files_under(path.parent, files["good"].parent, state)

    # When drift is checked
    result = invoke("drift", side, path, other, files["good"])

    # Then one line names the malformed file, and no file appeared or changed
    assert_one_line_error(result.exit_code, result.stdout, result.stderr, path, malformed)
    assert files_under(path.parent, files["good"].parent, state) == before


@pytest.mark.parametrize("malformed", list(MALFORMED))
def test_labels_refuses_a_malformed_file(malformed: str, files: dict[str, Path], state: Path) -> None:
    """`labels` on a malformed file: one line naming it, and no label stored (no prediction log
    is even opened)."""
    # Given a malformed file and an empty state folder
    path = files[malformed]
    before = files_under(path.parent, state)

    # When its labels are imported
    result = invoke("labels", path, "--id-column", "request_id")

    # Then one line names it, and nothing was stored
    assert_one_line_error(result.exit_code, result.stdout, result.stderr, path, malformed)
    assert files_under(path.parent, state) == before


@pytest.mark.parametrize("malformed", list(MALFORMED))
def test_score_refuses_a_malformed_file(
    malformed: str, files: dict[str, Path], champion: Trained, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Batch scoring of a malformed file with a champion to score with: one line naming it, and
    no scores file (nor its partial) written, beside the input or where --out says."""
    # Given a malformed file, and a champion in the registry
    path = files[malformed]
    before = files_under(path.parent)
    out = tmp_path / "scores.parquet"
    assert champion.settings.state_dir is not None

    # When it is scored, to the default output and to an explicit one
    with published(monkeypatch, champion.settings.state_dir):
        default = invoke("score", path)
        explicit = invoke("score", path, "--out", out)

    # Then each says why in one line, and no scores were written
    assert_one_line_error(default.exit_code, default.stdout, default.stderr, path, malformed)
    assert_one_line_error(explicit.exit_code, explicit.stdout, explicit.stderr, path, malformed)
    assert files_under(path.parent) == before
    assert not default_output(path).exists()
    assert not out.exists()
    assert not out.with_name(f"{out.name}.partial").exists()


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_server")
@pytest.mark.parametrize("malformed", list(MALFORMED))
def test_train_refuses_a_malformed_file(malformed: str, files: dict[str, Path], tmp_path: Path) -> None:
    """`train` (a real process, through the training flow) on a malformed file: one line naming
    it, and no MLflow run or model version."""
    from prefect.settings import PREFECT_API_URL

    # Given a malformed file, a state folder of the test's own and the session's Prefect server
    path, state = files[malformed], tmp_path / "state"
    env = {**os.environ, f"{ENV_PREFIX}STATE_DIR": str(state), "PREFECT_API_URL": str(PREFECT_API_URL.value())}

    # When training is asked to use it
    result = subprocess.run(
        [CLI, "train", "--data", str(path)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    # Then one line names the file, and nothing was logged or registered
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert path.name in errors[0], errors[0]
    assert MALFORMED[malformed][1] in errors[0], errors[0]
    client = registry.connect(make_settings(state))
    assert client.search_registered_models() == []
    assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []
