"""Settings that cannot be misspelled, and their reference (docs/settings.md) made from them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.errors import SettingsError
from {{ cookiecutter.package_name }}.settings import (
    ENV_PREFIX,
    Settings,
    SettingsGroup,
    TrainingSettings,
    get_settings,
    setting_variables,
    settings_reference,
)
from tests.support.project import PROJECT_ROOT, make_settings

REFERENCE = PROJECT_ROOT / "docs" / "settings.md"


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    """get_settings() reads the environment again in the test, and again after it."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("fresh_settings")
def test_a_misspelled_variable_stops_with_one_line_naming_the_closest_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """A variable with the prefix that names no setting is refused, not ignored: one line that
    names the variable and the setting it most resembles."""
    # Given a typo of TRAINING__NUM_LEAVES in the environment
    monkeypatch.setenv(f"{ENV_PREFIX}TRAINING__NUM_LEAVE", "63")

    # When the settings are read
    with pytest.raises(SettingsError) as refused:
        get_settings()

    # Then the error is one line naming the closest setting
    assert str(refused.value) == (
        f"unknown setting {ENV_PREFIX}TRAINING__NUM_LEAVE: did you mean {ENV_PREFIX}TRAINING__NUM_LEAVES?"
    )


@pytest.mark.usefixtures("fresh_settings")
def test_the_command_line_stops_at_start_with_the_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command that reads the settings prints the error as one line and exits 1, no traceback."""
    # Given a misspelled top-level setting
    monkeypatch.setenv(f"{ENV_PREFIX}DEMO_ROW", "5000")

    # When a command runs
    result = CliRunner().invoke(app, ["contract", "check"])

    # Then it stops with the one line, before any work
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.strip() == f"error: unknown setting {ENV_PREFIX}DEMO_ROW: did you mean {ENV_PREFIX}DEMO_ROWS?"


@pytest.mark.usefixtures("fresh_settings")
def test_a_misspelled_key_in_the_env_file_is_refused_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`.env` is read like the environment: its keys with the prefix must name settings; other
    tools' keys in it are left alone."""
    # Given a .env with another tool's key and a typo of a setting
    (tmp_path / ".env").write_text(f"OTHER_TOOL_TOKEN=x\n{ENV_PREFIX}SERVICE__WORKER=2\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    # When the settings are read
    with pytest.raises(SettingsError) as refused:
        get_settings()

    # Then the typo is named, with the file it is in
    assert str(refused.value) == (
        f"unknown setting {ENV_PREFIX}SERVICE__WORKER (in .env): did you mean {ENV_PREFIX}SERVICE__WORKERS?"
    )


@pytest.mark.usefixtures("fresh_settings")
def test_valid_variables_are_read_in_any_case_and_other_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every documented name is accepted (in any case, as pydantic reads them) and variables
    without the prefix are no business of the settings."""
    # Given a setting in lower case, a whole group as JSON, and another tool's variable
    monkeypatch.setenv(f"{ENV_PREFIX}TRAINING__NUM_LEAVES".lower(), "63")
    monkeypatch.setenv(f"{ENV_PREFIX}PARITY", '{"max_abs_diff": 0.001}')
    monkeypatch.setenv("SOME_OTHER_TOOL_SETTING", "1")

    # When the settings are read
    settings = get_settings()

    # Then the values arrive
    assert settings.training.num_leaves == 63
    assert settings.parity.max_abs_diff == 0.001
    assert f"{ENV_PREFIX}TRAINING__NUM_LEAVES" in setting_variables()


@pytest.mark.usefixtures("fresh_settings")
def test_a_refused_value_is_one_line_naming_the_variable_without_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value a setting refuses names the variable and the reason, never the value (it may be
    a secret in the wrong variable)."""
    # Given a URL with a password where a port number belongs
    monkeypatch.setenv(f"{ENV_PREFIX}SERVICE__PORT", "postgresql://user:hunter2@db/predictions")

    # When the settings are read
    with pytest.raises(SettingsError) as refused:
        get_settings()

    # Then the error names the variable, in one line, and keeps the value out
    message = str(refused.value)
    assert message.startswith(f"invalid setting {ENV_PREFIX}SERVICE__PORT: ")
    assert "\n" not in message
    assert "hunter2" not in message


def test_a_frozen_group_refuses_assignment_and_a_copy_carries_the_change(tmp_path: Path) -> None:
    """Settings cannot be changed behind the environment's back; a changed copy is explicit."""
    # Given settings
    settings = make_settings(tmp_path / "state")

    # When code assigns to a group's field or a top-level field / Then both are refused
    with pytest.raises(ValidationError, match="frozen"):
        settings.training.num_leaves = 63  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        settings.demo_rows = 1_000  # type: ignore[misc]

    # And a copy with an update carries the change, leaving the original as it was
    changed = settings.model_copy(update={"training": settings.training.model_copy(update={"num_leaves": 63})})
    assert (changed.training.num_leaves, settings.training.num_leaves) == (63, 31)


@pytest.mark.usefixtures("fresh_settings")
def test_an_unknown_field_in_a_group_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A group refuses a field it does not have, from code or from a whole group given as JSON."""
    # Given a misspelled field / When a group is made with it in code / Then it is refused by name
    with pytest.raises(ValidationError) as refused:
        TrainingSettings.model_validate({"num_leave": 63})
    assert [(e["loc"], e["type"]) for e in refused.value.errors()] == [(("num_leave",), "extra_forbidden")]

    # And given the same field in a group's JSON / When the settings are read / Then one line names it
    monkeypatch.setenv(f"{ENV_PREFIX}TRAINING", '{"num_leave": 63}')
    with pytest.raises(SettingsError) as from_environment:
        get_settings()
    assert str(from_environment.value) == (
        f"invalid setting {ENV_PREFIX}TRAINING__NUM_LEAVE: Extra inputs are not permitted"
    )


def test_relative_paths_start_at_the_project_root(tmp_path: Path) -> None:
    """The contract defaults to the root's contract.yaml, and relative paths are taken from the root."""
    # Given a project root and a relative data path / When the settings are made
    settings = Settings(project_root=tmp_path, data_path=Path("data/transactions.csv"))

    # Then both paths are absolute under the root
    assert settings.contract_file == tmp_path.resolve() / "contract.yaml"
    assert settings.data_path == tmp_path.resolve() / "data" / "transactions.csv"


def test_an_s3_data_path_stays_a_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """data_path s3://bucket/prefix/ is kept as written (a Path would fold it into s3:/ under
    the root); text naming a local file still becomes a path under the root."""
    # Given data_path as an s3:// URL in the environment, and as relative text
    monkeypatch.setenv(f"{ENV_PREFIX}DATA_PATH", "s3://bucket/training/")
    from_environment = Settings(project_root=tmp_path)
    as_text = Settings(project_root=tmp_path, data_path="data/transactions.csv")

    # Then the URL is unchanged, and the text is a path under the root
    assert from_environment.data_path == "s3://bucket/training/"
    assert as_text.data_path == tmp_path.resolve() / "data" / "transactions.csv"


def test_every_group_is_closed_and_every_setting_is_described() -> None:
    """Each group is a SettingsGroup (frozen, closed) and each field has a description for the reference."""
    # Given the groups nested in Settings
    annotations = [f.annotation for f in Settings.model_fields.values()]
    groups = [a for a in annotations if isinstance(a, type) and issubclass(a, BaseModel)]

    # When inspected / Then each is a closed, frozen SettingsGroup and every field has a description
    assert len(groups) >= 12
    assert all(issubclass(group, SettingsGroup) for group in groups)
    assert all(group.model_config.get("extra") == "forbid" for group in groups)
    models: list[type[BaseModel]] = [Settings, *groups]
    for model in models:
        assert model.model_config.get("frozen"), f"{model.__name__} is not frozen"
        undescribed = [n for n, f in model.model_fields.items() if not f.description and f.annotation not in groups]
        assert not undescribed, f"{model.__name__}: {undescribed} need a description"


def test_docs_settings_md_is_the_generated_reference() -> None:
    """docs/settings.md is what settings.py generates: it fails as soon as a setting changes
    without the reference."""
    # Given the checked-in reference / When the settings generate theirs / Then they are the same
    assert REFERENCE.read_text(encoding="utf-8") == settings_reference(), (
        "docs/settings.md is stale: run `{{ cookiecutter.project_slug }} settings --write docs/settings.md`"
    )


def test_the_reference_never_shows_a_secret_default() -> None:
    """Secret settings show `unset` or `(secret)` as their default, never a value."""
    # Given the reference / When its secret rows are read
    rows = [line.split(" | ") for line in settings_reference().splitlines() if " | secret | " in line]

    # Then there are some, and none shows a value
    assert len(rows) >= 5
    assert {row[2] for row in rows} <= {"unset", "(secret)"}


def test_settings_check_fails_on_a_stale_file_and_passes_after_write(tmp_path: Path) -> None:
    """`settings --check` exits 1 on a stale reference; `settings --write` makes it current."""
    # Given a stale reference file
    path = tmp_path / "settings.md"
    path.write_text("# Settings\n\nold\n", encoding="utf-8")
    runner = CliRunner()

    # When it is checked / Then it fails with one line
    stale = runner.invoke(app, ["settings", "--check", str(path)])
    assert stale.exit_code == 1
    assert "out of date" in stale.output

    # When it is written and checked again / Then it passes
    assert runner.invoke(app, ["settings", "--write", str(path)]).exit_code == 0
    current = runner.invoke(app, ["settings", "--check", str(path)])
    assert current.exit_code == 0, current.output
    assert path.read_text(encoding="utf-8") == settings_reference()
