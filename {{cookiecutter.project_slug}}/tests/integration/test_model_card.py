"""A registered version's model card: in its run and its bundle, printed by `card` with the
verdicts recorded on the version since registration, and shown by a real browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.core.metrics import primary_metric
from {{ cookiecutter.package_name }}.model.bundle import load_bundle
from {{ cookiecutter.package_name }}.model.model_card import HTML_FILE, MARKDOWN_FILE, number
from {{ cookiecutter.package_name }}.promotion.shadow_steps import DECISION, EVALUATED_AT, REASON
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, get_settings
from {{ cookiecutter.package_name }}.stores import registry
from tests.support.browser import look_at
from tests.support.project import PROJECT_ROOT, Trained


@pytest.fixture
def published(trained: Trained, monkeypatch: pytest.MonkeyPatch) -> Iterator[Trained]:
    """The trained registry published to the CLI through the environment."""
    monkeypatch.setenv(f"{ENV_PREFIX}PROJECT_ROOT", str(PROJECT_ROOT))
    monkeypatch.setenv(f"{ENV_PREFIX}STATE_DIR", str(trained.settings.var_dir))
    get_settings.cache_clear()
    yield trained
    get_settings.cache_clear()


def test_a_registered_version_ships_its_card_and_card_prints_it(published: Trained, tmp_path: Path) -> None:
    """Both files are in the run and in the bundle (which still loads as before); `card`
    prints the stored Markdown with a dated account of the version since, including a
    shadow decision recorded on it, and writes the stored HTML where asked."""
    trained = published
    client = registry.connect(trained.settings)
    name = trained.settings.mlflow.registered_model_name

    # Given the version the session trained
    run_files = {a.path for a in client.list_artifacts(trained.run_id)}
    bundle_files = {a.path for a in client.list_artifacts(trained.run_id, registry.BUNDLE_ARTIFACT)}
    assert {MARKDOWN_FILE, HTML_FILE} <= run_files
    assert {f"{registry.BUNDLE_ARTIFACT}/{MARKDOWN_FILE}", f"{registry.BUNDLE_ARTIFACT}/{HTML_FILE}"} <= bundle_files
    with registry.fetched_bundle(client, client.get_model_version(name, trained.version)) as folder:
        bundle = load_bundle(folder)
        assert bundle.metadata["run_id"] == trained.run_id
        stored = (folder / MARKDOWN_FILE).read_text(encoding="utf-8")
        stored_html = (folder / HTML_FILE).read_text(encoding="utf-8")

    # And a shadow decision recorded on it after registration (removed again: the fixture is shared)
    verdict = {DECISION: "keep_waiting", REASON: "too few labelled requests", EVALUATED_AT: "2026-12-07T06:30:00+00:00"}
    registry.set_tags(client, name, trained.version, verdict)
    try:
        # When `card` prints it, by version and by alias
        by_version = CliRunner().invoke(app, ["card", "--version", trained.version, "--html", str(tmp_path / "c.html")])
        by_alias = CliRunner().invoke(app, ["card", "--alias", str(trained.alias)])
    finally:
        for key in verdict:
            client.delete_model_version_tag(name, trained.version, key)

    # Then it is the stored card, then what happened since
    assert by_version.exit_code == 0, by_version.output
    assert by_version.output.startswith(stored.rstrip())
    assert stored.startswith(f"# Model card: {name} version {trained.version}")
    since = by_version.output[len(stored.rstrip()) :]
    assert "## Since registration (as of " in since
    assert f"Aliases now: {trained.alias}." in since
    assert (
        "Shadow evaluation as challenger (2026-12-07T06:30:00+00:00): keep_waiting: too few labelled requests." in since
    )
    assert (tmp_path / "c.html").read_text(encoding="utf-8") == stored_html
    assert by_alias.exit_code == 0, by_alias.output
    assert by_alias.output.startswith(stored.rstrip())
    # And the card states this run's holdout figures
    primary = primary_metric(bundle.task).name
    assert f"| {primary} | {number(trained.evaluation.metrics[primary])} |" in stored


def test_card_of_an_unknown_version_is_one_line(published: Trained) -> None:
    """A version that does not exist is named in one error line, no traceback."""
    # Given the trained registry / When asked for version 999 / Then one clear error
    result = CliRunner().invoke(app, ["card", "--version", "999"])
    assert result.exit_code == 1
    assert "version 999 does not exist" in result.output
    assert "Traceback" not in result.output


def test_the_card_renders_in_a_browser_offline_with_its_charts_visible(published: Trained, tmp_path: Path) -> None:
    """The stored HTML card, opened in headless Chromium with the network off: no console
    error, no request outside the file, and each of its charts (a classifier's reliability
    curve; a regression's card has none) drawn on screen."""
    # Given the card `card --html` writes, and the charts in it
    page = tmp_path / "model_card.html"
    written = CliRunner().invoke(app, ["card", "--version", published.version, "--html", str(page)])
    assert written.exit_code == 0, written.output
    charts_in_page = page.read_text(encoding="utf-8").count("<svg")

    # When a browser opens it
    seen = look_at(page, tmp_path / "model-card.png")

    # Then it shows cleanly, with every chart visible
    assert seen.problems == []
    assert seen.outside == []
    assert seen.hidden_charts == 0
    assert len(seen.charts) == charts_in_page
    assert all(width > 100 and height > 100 for width, height in seen.charts), seen.charts
    assert seen.screenshot.stat().st_size > 10_000
