"""Bake the template (default answers unless overridden) into a folder; with --install, also
create the baked project's environment from its lock with the template's pinned uv.

    python scripts/bake.py --output-dir build/dev [--set problem_type=regression] [--fresh] [--install]

The one way the template's code bakes and installs: `make bake` and `make demo`, the
template's tests (`tests/`), the other scripts and every benchmark (`benchmarks/`) import
`bake`, `install` and `bake_and_install` from here, and run a baked project's commands with
`run` in the environment of `baked_env`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]
# The uv the template pins (its dev group): a baked project's environment is made with it.
UV = TEMPLATE / ".venv" / "bin" / "uv"
DEFAULT_SLUG = "fraud-detection"  # the default answers' project folder and CLI name
OUTPUT_TAIL = 6000  # characters of a failed command's output kept in its error


class CommandFailed(RuntimeError):
    """A command in a baked project exited non-zero; the message ends with its output."""


def run(
    command: Sequence[str | Path],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    *,
    stream: bool = False,
    timeout: float = 3600,
) -> None:
    """Run `command` in `cwd` (by default in `baked_env()`). Its output is kept for the error
    when it fails, or shown as it runs with `stream`."""
    args = [str(part) for part in command]
    result = subprocess.run(
        args, cwd=cwd, env=dict(env or baked_env()), capture_output=not stream, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        output = "" if stream else (result.stdout + result.stderr)[-OUTPUT_TAIL:]
        raise CommandFailed(f"`{' '.join(args)}` failed ({result.returncode}) in {cwd}:\n{output}")


def baked_env(**extra: str) -> dict[str, str]:
    """The environment a baked project's commands see: this one without the template's
    virtualenv, no interpreter downloads, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT_ENVIRONMENT"}}
    return {**env, "UV_PYTHON_DOWNLOADS": "never", **extra}


def find_python(version: str) -> str | None:
    """An interpreter for `version` ("3.12"): on PATH, or installed by pyenv; None if neither."""
    candidates = [shutil.which(f"python{version}")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(str(p) for p in pyenv_root.glob(f"versions/{version}.*/bin/python{version}"))
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "--version"], capture_output=True, check=False).returncode == 0:
            return candidate
    return None


def bake(
    output_dir: Path, answers: Mapping[str, str] | None = None, fresh: bool = False, template: Path = TEMPLATE
) -> Path:
    """Bake `template` (this checkout, or another's, e.g. an earlier commit's) with `answers`
    (the rest default) into `output_dir`; the project folder.

    An earlier bake in the folder is overwritten file by file, so its `.venv` is kept;
    `fresh` removes every earlier bake (and environment) in the folder first."""
    output_dir.mkdir(parents=True, exist_ok=True)
    if fresh:
        for child in output_dir.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
    project = cookiecutter(
        str(template),
        no_input=True,
        extra_context=dict(answers or {}),
        output_dir=str(output_dir),
        overwrite_if_exists=True,
    )
    return Path(project)


def project_python(project: Path) -> str:
    """An interpreter for the bake's `.python-version`, else the one running this."""
    version = (project / ".python-version").read_text(encoding="utf-8").strip()
    return find_python(version) or sys.executable


def install(project: Path, python: str | None = None, environment: Path | None = None, *, stream: bool = False) -> Path:
    """Create a baked project's environment from its lock with the template's uv; its `bin` folder.

    Without `environment`: the project's own `.venv`, by its `make install`, as a newcomer
    makes it (a no-op when the lock has not changed since). With `environment`: that folder,
    by `uv sync`, for bakes that share one environment (their locks are identical, only the
    project package differs); bytecode is compiled when the environment is first made.
    `python` defaults to `project_python(project)`."""
    if not UV.exists():
        raise CommandFailed(f"{UV} not found: run `make install` in the template first")
    python = python or project_python(project)
    if environment is None:
        run(["make", "install", f"UV={UV}", f"PYTHON={python}"], project, stream=stream)
        return project / ".venv" / "bin"
    compile_bytecode = [] if environment.exists() else ["--compile-bytecode"]
    env = baked_env(UV_PROJECT_ENVIRONMENT=str(environment))
    run([UV, "sync", "--frozen", *compile_bytecode, "--python", python], project, env, stream=stream)
    return environment / "bin"


def bake_and_install(
    output_dir: Path,
    answers: Mapping[str, str] | None = None,
    fresh: bool = False,
    python: str | None = None,
    *,
    stream: bool = False,
) -> Path:
    """`bake`, then `install` into the project's own `.venv`; the project folder."""
    project = bake(output_dir, answers, fresh=fresh)
    install(project, python, stream=stream)
    return project


def python_output(project: Path, python: str, code: str) -> str:
    """What `code` prints when `python` runs it in a baked project, its package importable
    from src/ (no install needed: the scripts that regenerate derived files use this)."""
    done = subprocess.run(
        [python, "-c", code],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(project / "src")},
    )
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="an answer to override")
    parser.add_argument("--fresh", action="store_true", help="remove earlier bakes in the folder first")
    parser.add_argument("--install", action="store_true", help="also create the bake's .venv (make install)")
    parser.add_argument("--python", help="the interpreter for --install (default: the bake's .python-version)")
    args = parser.parse_args()
    answers = dict(item.split("=", 1) for item in args.set)
    if args.install:
        project = bake_and_install(args.output_dir, answers, fresh=args.fresh, python=args.python, stream=True)
    else:
        project = bake(args.output_dir, answers, fresh=args.fresh)
    print(project)


if __name__ == "__main__":
    main()
