"""The project's command line, one module per stage's commands.

`app` is the Typer application; importing this package registers every command on it, so
`{{ cookiecutter.package_name }}.cli:main` (the console script) and `app` in tests see them all.
"""

from . import data, demo, monitoring, promotion, serving, settings, training  # noqa: F401 - registers the commands
from .app import app, main

__all__ = ["app", "main"]
