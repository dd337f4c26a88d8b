"""Run `ruff format` (and safe `ruff check --fix`) over the template's Python files.

Template files that contain Jinja cannot be parsed by ruff as they are. This bakes
the default project, formats the baked copies, and writes each one back when the
template file differs from its baked copy only by the project's package and
slug names (the usual case); files with other Jinja are listed for manual care.

    .venv/bin/python scripts/format_template.py [PATH ...]   # default: all .py files
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from bake import TEMPLATE, bake

PROJECT = TEMPLATE / "{{cookiecutter.project_slug}}"
NAMES = {
    "{{ cookiecutter.package_name }}": "fraud_detection",
    "{{ cookiecutter.project_slug }}": "fraud-detection",
    "{{cookiecutter.package_name}}": "fraud_detection",
}


def render_path(path: Path) -> Path:
    relative = str(path.relative_to(PROJECT))
    for variable, value in NAMES.items():
        relative = relative.replace(variable, value)
    return Path(relative)


def main() -> None:
    ruff = str(Path(sys.executable).with_name("ruff"))
    targets = [Path(p).resolve() for p in sys.argv[1:]] or sorted(PROJECT.rglob("*.py"))
    manual = []
    with tempfile.TemporaryDirectory() as scratch:
        baked = bake(Path(scratch), {})
        for source in targets:
            copy = baked / render_path(source)
            text = source.read_text(encoding="utf-8")
            simple = text
            for variable, value in NAMES.items():
                simple = simple.replace(variable, value)
            if "{{" in simple or "{%" in simple or simple != copy.read_text(encoding="utf-8"):
                manual.append(source)
                continue
            subprocess.run([ruff, "check", "--fix", "--quiet", str(copy)], cwd=baked, check=False)
            subprocess.run([ruff, "format", "--quiet", str(copy)], cwd=baked, check=True)
            formatted = copy.read_text(encoding="utf-8")
            for variable, value in NAMES.items():
                if variable != "{{cookiecutter.package_name}}":
                    formatted = formatted.replace(value, variable) if variable in text else formatted
            if formatted != text:
                source.write_text(formatted, encoding="utf-8")
                print(f"formatted {source.relative_to(TEMPLATE)}")
    for source in manual:
        print(f"needs manual formatting (holds Jinja): {source.relative_to(TEMPLATE)}")


if __name__ == "__main__":
    main()
