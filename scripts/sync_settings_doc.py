"""Regenerate the template's docs/settings.md (the settings reference) from settings.py.

A baked project writes its own reference (`<slug> settings --write docs/settings.md`), and
its tests fail when the checked-in file differs from it. The template's copy holds the
cookiecutter variables where a bake holds its answers: this bakes with answers that
cannot be mistaken for other text, writes the reference there, and puts the variables back.

    make bake && .venv/bin/python scripts/sync_settings_doc.py [PYTHON]

PYTHON: any interpreter with pydantic-settings (default: the dev bake's).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bake import TEMPLATE, bake, python_output

DOC = Path("docs/settings.md")
ANSWERS = {"project_name": "Zq Settings Sentinel", "alert_channel": "webhook"}
# What a bake with ANSWERS writes, and the variable that stands for it in the template.
VARIABLES = (
    ("ZQ_SETTINGS_SENTINEL_", "{{ cookiecutter.package_name | upper }}_"),
    ("zq_settings_sentinel", "{{ cookiecutter.package_name }}"),
    ("zq-settings-sentinel", "{{ cookiecutter.project_slug }}"),
)
CHANNEL_ROW = "| `{{ cookiecutter.package_name | upper }}_ALERTS__CHANNEL` |"


def baked_reference(scratch: Path, python: str) -> str:
    project = bake(scratch, ANSWERS)
    code = "from zq_settings_sentinel.settings import settings_reference; print(settings_reference(), end='')"
    return python_output(project, python, code)


def templated(reference: str) -> str:
    """The reference with the cookiecutter variables in place of the sentinel answers."""
    for marker in ("{{", "{%", "{#"):
        if marker in reference:
            raise SystemExit(f"the reference holds {marker!r}, which cookiecutter would render: reword it")
    for answer, variable in VARIABLES:
        reference = reference.replace(answer, variable)
    lines = reference.splitlines(keepends=True)
    rows = [i for i, line in enumerate(lines) if line.startswith(CHANNEL_ROW)]
    if len(rows) != 1 or lines[rows[0]].count("| `webhook` |") != 1:
        raise SystemExit("cannot find the alerts.channel default (the bake's answer) in the reference")
    lines[rows[0]] = lines[rows[0]].replace("| `webhook` |", "| `{{ cookiecutter.alert_channel }}` |")
    text = "".join(lines)
    if "sentinel" in text.lower():
        raise SystemExit("a sentinel answer is left in the reference: add its variable to VARIABLES")
    return text


def main() -> None:
    python = sys.argv[1] if len(sys.argv) > 1 else str(TEMPLATE / "build/dev/fraud-detection/.venv/bin/python")
    python = str(Path(python).absolute()) if "/" in python else python  # it runs in the bake's folder
    with tempfile.TemporaryDirectory() as scratch:
        text = templated(baked_reference(Path(scratch), python))
    target = TEMPLATE / "{{cookiecutter.project_slug}}" / DOC
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
