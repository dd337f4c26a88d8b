"""Regenerate the files the baked project derives from contract.yaml, for every problem type.

contract.yaml differs by `problem_type`, so the checked-in Great Expectations
suite does too: this bakes each variant, runs its `contract sync`, and writes the
template's suite with one branch per variant. Each baked project's tests check
that its suite matches its contract.

    make bake && .venv/bin/python scripts/sync_derived.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bake import TEMPLATE, bake, python_output

SUITE = Path("great_expectations/expectations/contract.json")
PROBLEM_TYPES = ("binary_classification", "multiclass_classification", "regression")


def derived_suite(problem_type: str, scratch: Path, python: str) -> str:
    project = bake(scratch / problem_type, {"problem_type": problem_type})
    code = (
        "from pathlib import Path; from fraud_detection.core.contract import load_contract; "
        "from fraud_detection.core.contract_derived import suite_json; "
        "print(suite_json(load_contract(Path('contract.yaml'))), end='')"
    )
    return python_output(project, python, code)


def main() -> None:
    # Any Python with pydantic and PyYAML will do; the dev bake (`make bake`) has them.
    python = sys.argv[1] if len(sys.argv) > 1 else str(TEMPLATE / "build/dev/fraud-detection/.venv/bin/python")
    with tempfile.TemporaryDirectory() as scratch:
        suites = {p: derived_suite(p, Path(scratch), python) for p in PROBLEM_TYPES}
    # `-%}` eats the newline after each tag, so a bake holds exactly one suite's text.
    text = (
        '{% if cookiecutter.problem_type == "regression" -%}\n'
        + suites["regression"]
        + '{% elif cookiecutter.problem_type == "multiclass_classification" -%}\n'
        + suites["multiclass_classification"]
        + "{% else -%}\n"
        + suites["binary_classification"]
        + "{% endif -%}\n"
    )
    target = TEMPLATE / "{{cookiecutter.project_slug}}" / SUITE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
