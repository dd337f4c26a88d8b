"""Reject answers that would bake a broken project, with a one-line reason.

Cookiecutter renders this file with the answers before running it, and removes
the half-made output folder when it exits non-zero, so nothing is left behind.
The checks live in plain functions so that the template's tests can call them.
"""

from __future__ import annotations

import json
import keyword
import re
import sys

# Names a package must not take: importing the project would shadow the
# dependency (or the standard module) for everything that runs inside it.
SHADOWED = frozenset(
    {
        "bentoml",
        "great_expectations",
        "lightgbm",
        "mlflow",
        "numpy",
        "onnx",
        "onnxmltools",
        "onnxruntime",
        "pandas",
        "prefect",
        "pyarrow",
        "pydantic",
        "pydantic_settings",
        "scipy",
        "sklearn",
        "sqlalchemy",
        "typer",
        "yaml",
        "test",
        "tests",
        "flows",
        "services",
        "src",
        "json",
        "logging",
        "typing",
    }
)

# Names whose settings prefix (`NAME_`, the package upper-cased) other tools' variables share
# where the project runs: the project reads every variable with its prefix as a setting and
# stops at start on one it does not know (AWS_ACCESS_KEY_ID for S3 artifacts, GITHUB_* and
# RUNNER_* in GitHub Actions, CI_* in GitLab CI, KUBERNETES_* in every pod, ...).
ENV_PREFIX_TAKEN = frozenset(
    {
        "aws",
        "azure",
        "ci",
        "docker",
        "git",
        "github",
        "gitlab",
        "google",
        "kubernetes",
        "lc",
        "omp",
        "pip",
        "postgres",
        "python",
        "runner",
        "ssh",
        "uv",
        "xdg",
    }
)

SLUG = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
# Per field: name, lowest, highest, and the names allowed in place of numbers.
CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    (
        "month",
        1,
        12,
        {
            m: i + 1
            for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
        },
    ),
    ("day of week", 0, 7, {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}),
)


def check_slug(slug: str) -> str | None:
    if not SLUG.match(slug):
        return (
            f"project_slug {slug!r} is not valid: use lowercase letters, digits and single "
            "dashes, starting with a letter (e.g. 'fraud-detection')"
        )
    return None


def check_package(name: str) -> str | None:
    if not name.isidentifier() or not name.isascii() or name != name.lower():
        return f"package_name {name!r} is not a valid lowercase Python identifier"
    if keyword.iskeyword(name):
        return f"package_name {name!r} is a Python keyword"
    if name in SHADOWED:
        return f"package_name {name!r} would shadow the {name!r} module the project depends on"
    if name in ENV_PREFIX_TAKEN:
        prefix = f"{name.upper()}_"
        return (
            f"package_name {name!r} would make {prefix}* its settings prefix, which other tools' "
            f"variables use ({prefix}...): the project would stop at start on them; choose another name"
        )
    return None


def _check_cron_value(token: str, low: int, high: int, names: dict[str, int]) -> bool:
    value = names.get(token.lower()) if token.isalpha() else None
    if value is None:
        if not token.isdigit():
            return False
        value = int(token)
    return low <= value <= high


def _check_cron_part(part: str, low: int, high: int, names: dict[str, int]) -> bool:
    base, _, step = part.partition("/")
    if step and (not step.isdigit() or int(step) == 0):
        return False
    if base == "*":
        return True
    first, _, last = base.partition("-")
    if not _check_cron_value(first, low, high, names):
        return False
    return not last or _check_cron_value(last, low, high, names)


def check_cron(option: str, expression: str) -> str | None:
    fields = expression.split()
    if len(fields) != len(CRON_FIELDS):
        return (
            f"{option} {expression!r} is not a cron expression: expected 5 fields "
            "(minute hour day-of-month month day-of-week), e.g. '0 3 1 * *'"
        )
    for value, (label, low, high, names) in zip(fields, CRON_FIELDS, strict=True):
        if not all(_check_cron_part(p, low, high, names) for p in value.split(",")):
            return f"{option} {expression!r} has an invalid {label} field {value!r} (allowed {low}-{high})"
    return None


def check_email(email: str) -> str | None:
    if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
        return f"author_email {email!r} is not an email address"
    return None


def problems(answers: dict[str, str]) -> list[str]:
    found = [
        check_slug(answers["project_slug"]),
        check_package(answers["package_name"]),
        check_cron("retrain_cron", answers["retrain_cron"]),
        check_cron("monitor_cron", answers["monitor_cron"]),
        check_email(answers["author_email"]),
    ]
    return [p for p in found if p]


if __name__ == "__main__":
    # JSON never contains three quotes in a row, so this raw literal holds any answer.
    ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")
    reasons = problems(ANSWERS)
    if reasons:
        print(f"ERROR: {reasons[0]}", file=sys.stderr)
        sys.exit(1)
