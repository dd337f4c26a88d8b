"""Remove what the answers did not select, and record the answers for template updates.

Runs inside the freshly baked project. `.cruft.json` holds the template's
location, its commit and every answer, so that `cruft update` (or a cookiecutter
replay with the same answers) can bring later template changes into the project.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

# The answers, as JSON (it never contains three quotes in a row, so this raw literal holds any answer).
CONTEXT = json.loads(r"""{{ cookiecutter | tojson }}""")

# Paths that exist only for one answer of an option.
ONLY_FOR = {
    ".github": ("ci", "github"),
    ".gitlab-ci.yml": ("ci", "gitlab"),
}


def prune(project: Path, answers: dict[str, str]) -> list[str]:
    removed = []
    for relative, (option, value) in ONLY_FOR.items():
        path = project / relative
        if answers[option] != value and path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed.append(relative)
    return removed


def template_commit(repo_dir: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def record_answers(project: Path, context: dict[str, object]) -> None:
    answers = {k: v for k, v in context.items() if not k.startswith("_") or k == "_template"}
    answers.pop("__prompts__", None)
    state = {
        "template": context.get("_template"),
        "commit": template_commit(str(context.get("_repo_dir", ""))),
        "checkout": context.get("_checkout"),
        "context": {"cookiecutter": answers},
        "directory": None,
        # No "skip": the files `cruft update` leaves alone are listed in the project's
        # pyproject.toml (`[tool.cruft]`), which cruft reads too, and which a `cruft create`
        # keeps (it writes its own .cruft.json over this one).
    }
    (project / ".cruft.json").write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    PROJECT = Path.cwd()
    prune(PROJECT, CONTEXT)
    record_answers(PROJECT, CONTEXT)
