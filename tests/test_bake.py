"""Every combination of the build options bakes the exact expected files, fully rendered."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from bake import TEMPLATE, bake
from tests.matrix import Combination, combinations

# The default bake's files; review changes to this list as changes to the product.
BASE_FILES = frozenset(
    line.strip()
    for line in (TEMPLATE / "tests" / "baked_files.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)
DEFAULT_PACKAGE = "fraud_detection"

JINJA_ANY = re.compile(r".")
# `{{`/`{%` another tool owns, where it is expected to survive baking ({package}: the package's folder).
FOREIGN_TEMPLATES = {
    ".github/workflows/ci.yml": re.compile(r"\$\{\{"),
    "prefect.yaml": re.compile(r"\{\{ *(event\.|prefect\.|ctx\.|\$)"),
    "infra/prefect/process-base-job-template.json": re.compile(r"\{\{ *\w+ *\}\}"),
    "infra/prefect/docker-base-job-template.json": re.compile(r"\{\{ *\w+ *\}\}"),
    "infra/prefect/kubernetes-base-job-template.json": re.compile(r"\{\{ *\w+ *\}\}"),
    # Grafana's legends and Prometheus' alert annotations (rendered by those tools, not cookiecutter).
    "infra/grafana/dashboards/model-service.json": re.compile(r'"legendFormat": ".*\{\{'),
    "infra/prometheus/alert-rules.yml": re.compile(r"\{\{ *\$(labels|value)"),
    # The monitoring report's own Jinja page (copied without rendering: cookiecutter.json).
    "src/{package}/monitoring/report/templates/report.html.j2": JINJA_ANY,
    # The model card's page, likewise.
    "src/{package}/model/templates/model_card.html.j2": JINJA_ANY,
}
JINJA = re.compile(r"\{\{|\{%|\{#")


def expected_files(combo: Combination, package: str) -> set[str]:
    files = {path.replace(f"src/{DEFAULT_PACKAGE}/", f"src/{package}/") for path in BASE_FILES}
    if combo["ci"] != "github":
        files.discard(".github/workflows/ci.yml")
    if combo["ci"] == "gitlab":
        files.add(".gitlab-ci.yml")
    return files


def baked_files(project: Path) -> set[str]:
    return {str(p.relative_to(project)) for p in project.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def leftover_jinja(project: Path) -> list[str]:
    found = []
    for relative in sorted(baked_files(project)):
        try:
            text = (project / relative).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        allowed = FOREIGN_TEMPLATES.get(re.sub(r"^src/[^/]+/", "src/{package}/", relative))
        for number, line in enumerate(text.splitlines(), start=1):
            if JINJA.search(line) and not (allowed and allowed.search(line)):
                found.append(f"{relative}:{number}: {line.strip()[:100]}")
    return found


@pytest.mark.parametrize("combo", list(combinations()), ids=lambda c: c.id)
def test_bake_has_the_exact_files_and_no_template_syntax(tmp_path: Path, combo: Combination) -> None:
    """A bake holds exactly the files its answers select, every variable is rendered, and
    the answers are recorded for `cruft update`."""
    # Given one combination of answers
    # When it is baked
    project = bake(tmp_path, combo.answers)

    # Then the file set is exactly the expected one
    record = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    answers = record["context"]["cookiecutter"]
    files = baked_files(project)
    expected = expected_files(combo, answers["package_name"])
    assert files == expected, f"unexpected: {sorted(files - expected)}; missing: {sorted(expected - files)}"

    # And nothing of Jinja is left (other tools' own templates aside)
    assert leftover_jinja(project) == []

    # And the answers are recorded, the metadata parses, and names follow the answers
    for option, value in combo.answers.items():
        assert answers[option] == value
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["name"] == answers["project_slug"]
    assert answers["project_slug"] in pyproject["project"]["scripts"]
    assert (project / ".python-version").read_text().strip() == combo["python_version"]
    contract = yaml.safe_load((project / "contract.yaml").read_text(encoding="utf-8"))
    assert contract["task"] == combo["problem_type"]
    assert (project / "LICENSE").read_text(encoding="utf-8").strip()


def test_recorded_answers_replay_to_the_same_project(tmp_path: Path) -> None:
    """`.cruft.json` holds what a replay needs: baking again from it gives the same files."""
    # Given a bake with non-default answers
    answers = {"problem_type": "regression", "ci": "gitlab", "license": "BSD-3-Clause", "project_name": "Churn Model"}
    first = bake(tmp_path / "first", answers)

    # When its recorded answers are replayed through cookiecutter's replay mechanism
    replay = tmp_path / "replay.json"
    replay.write_text(json.dumps(json.loads((first / ".cruft.json").read_text())["context"]))
    from cookiecutter.main import cookiecutter

    second = Path(cookiecutter(str(TEMPLATE), replay=str(replay), output_dir=str(tmp_path / "second")))

    # Then every file is identical
    assert baked_files(first) == baked_files(second)
    for relative in baked_files(first):
        assert (first / relative).read_bytes() == (second / relative).read_bytes(), relative
