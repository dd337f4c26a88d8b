"""The pre-generation hook: bad answers are refused with one line and leave nothing behind."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bake import TEMPLATE

COOKIECUTTER = str(Path(sys.executable).with_name("cookiecutter"))


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pre_gen_project", TEMPLATE / "hooks" / "pre_gen_project.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


HOOK = load_hook()


@pytest.mark.parametrize(
    "expression", ["0 3 1 * *", "*/15 * * * *", "0 0 * * 0", "5 4 * jan-mar mon-fri", "0 0,12 1-15/2 * 7"]
)
def test_valid_cron_expressions_pass(expression: str) -> None:
    """Standard five-field cron, with lists, ranges, steps and names, is accepted."""
    # Given a valid expression / When checked / Then no problem is reported
    assert HOOK.check_cron("retrain_cron", expression) is None


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("0 3 1 *", "expected 5 fields"),
        ("61 3 1 * *", "invalid minute field '61'"),
        ("0 24 * * *", "invalid hour field '24'"),
        ("0 0 0 * *", "invalid day of month field '0'"),
        ("0 0 * 13 *", "invalid month field '13'"),
        ("0 0 * * 8", "invalid day of week field '8'"),
        ("*/0 * * * *", "invalid minute field '*/0'"),
        ("@monthly", "expected 5 fields"),
    ],
)
def test_invalid_cron_expressions_name_the_field(expression: str, reason: str) -> None:
    """A bad schedule is refused with the field that is wrong."""
    # Given an invalid expression / When checked / Then the reason names the field
    problem = HOOK.check_cron("retrain_cron", expression)
    assert problem is not None
    assert reason in problem


@pytest.mark.parametrize(
    ("slug", "package", "reason"),
    [
        ("Fraud Detection", "fraud_detection", "project_slug 'Fraud Detection' is not valid"),
        ("fraud--detection", "fraud_detection", "is not valid"),
        ("fraud-detection", "fraud-detection", "not a valid lowercase Python identifier"),
        ("fraud-detection", "class", "is a Python keyword"),
        ("mlflow", "mlflow", "would shadow the 'mlflow' module"),
        ("prefect", "prefect", "would shadow the 'prefect' module"),
        ("lightgbm", "lightgbm", "would shadow the 'lightgbm' module"),
        ("aws", "aws", "would make AWS_* its settings prefix"),
        ("github", "github", "would make GITHUB_* its settings prefix"),
    ],
)
def test_bad_names_are_refused(slug: str, package: str, reason: str) -> None:
    """Slugs and package names that would not work, or would shadow a dependency, are refused."""
    # Given the answers / When checked / Then the first problem is the expected one
    problems = HOOK.problems(
        {
            "project_slug": slug,
            "package_name": package,
            "retrain_cron": "0 3 1 * *",
            "monitor_cron": "0 6 * * *",
            "author_email": "a@b.io",
        }
    )
    assert any(reason in p for p in problems), problems


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("package_name=lightgbm", "ERROR: package_name 'lightgbm' would shadow the 'lightgbm' module"),
        ("retrain_cron=every month", "ERROR: retrain_cron 'every month' is not a cron expression"),
        ("project_slug=My Project", "ERROR: project_slug 'My Project' is not valid"),
        ('author_name=Quote"s', None),  # quotes in cosmetic answers must not break the hook
    ],
)
def test_bake_with_bad_answers_fails_with_the_hooks_message_and_leaves_nothing(
    tmp_path: Path, answer: str, message: str | None
) -> None:
    """Through the real cookiecutter command: the hook's one-line reason, no output folder."""
    # Given an empty output folder
    out = tmp_path / "out"
    out.mkdir()

    # When cookiecutter bakes with the answer
    result = subprocess.run(
        [COOKIECUTTER, "--no-input", "--output-dir", str(out), str(TEMPLATE), answer],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # Then a bad answer fails with the hook's message and nothing is left; a quote is fine
    if message is None:
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode != 0
    assert message in result.stderr
    assert list(out.iterdir()) == []
