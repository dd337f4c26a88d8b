"""`cruft update`, as the READMEs promise: a later template change reaches a baked project,
and the files the project owns (`[tool.cruft] skip` in its pyproject.toml) are left alone.

Everything is local: the template is a git repository made from this checkout's tracked files
in a temporary folder, so the test needs no network and sees uncommitted template edits.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bake import TEMPLATE, bake

# cruft and git run as subprocesses; cruft is in the template's dev group, beside this Python.
CRUFT = Path(sys.executable).parent / "cruft"
PROJECT_FOLDER = "{{cookiecutter.project_slug}}"
# A file every bake has, and a file the project owns (never updated by cruft).
DOC = "docs/serving.md"
OWNED = ("contract.yaml", "uv.lock")
UPSTREAM_LINE = "A paragraph the template added after this project was baked."


@pytest.fixture(autouse=True)
def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commits need an author; the machine's git may have none configured."""
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Template Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "template-test@example.com")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)} failed in {repo}:\n{done.stdout}{done.stderr}"
    return done.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--no-verify", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def template_repository(destination: Path) -> Path:
    """A git repository holding this checkout's tracked files as they are on disk (edits
    included, untracked and ignored files such as .venv left out), in one commit."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=TEMPLATE, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for relative in filter(None, tracked):
        source = TEMPLATE / relative
        if source.is_file():  # a tracked file deleted in the working tree is left out
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target, follow_symlinks=False)
    git(destination, "init", "--quiet")
    commit_all(destination, "the template")
    return destination


def cruft_create(template: Path, output_dir: Path) -> Path:
    output_dir.mkdir()
    cruft(["create", "--no-input", "--output-dir", str(output_dir), str(template)], output_dir)
    return next(path for path in output_dir.iterdir() if path.is_dir())


def cruft(args: list[str], cwd: Path) -> str:
    done = subprocess.run([str(CRUFT), *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"cruft {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


@pytest.mark.parametrize("baked_by", ["cookiecutter", "cruft create"])
def test_cruft_update_brings_template_changes_and_skips_the_projects_own_files(tmp_path: Path, baked_by: str) -> None:
    """A project baked from the template (by cookiecutter, as the README shows, or by `cruft
    create`) and committed gets a later template change to a doc from `cruft update`, while
    the changes the template made to the files the project owns (the data contract, the lock)
    are not applied, and its .cruft.json moves to the template's new commit."""
    # Given a template repository and a project baked from it, committed in its own repository
    template = template_repository(tmp_path / "template")
    if baked_by == "cookiecutter":
        project = bake(tmp_path / "out", template=template)
    else:
        project = cruft_create(template, tmp_path / "out")
    git(project, "init", "--quiet")
    commit_all(project, "baked")
    owned_before = {relative: (project / relative).read_bytes() for relative in OWNED}

    # And a later template commit that changes a doc and every file the project owns
    with (template / PROJECT_FOLDER / DOC).open("a", encoding="utf-8") as doc:
        doc.write(f"\n{UPSTREAM_LINE}\n")
    for relative in OWNED:
        with (template / PROJECT_FOLDER / relative).open("a", encoding="utf-8") as owned:
            owned.write("\n# changed in the template\n")
    new_commit = commit_all(template, "a later template change")

    # When cruft updates the project
    output = cruft(["update", "--skip-apply-ask", "--allow-untracked-files", "--project-dir", str(project)], project)

    # Then the doc change arrived
    assert UPSTREAM_LINE in (project / DOC).read_text(encoding="utf-8"), output
    # And the files the project owns are as they were
    for relative, before in owned_before.items():
        assert (project / relative).read_bytes() == before, f"cruft update changed {relative}:\n{output}"
    # And the project records the template commit it is now up to date with
    assert json.loads((project / ".cruft.json").read_text(encoding="utf-8"))["commit"] == new_commit
