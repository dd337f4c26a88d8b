"""The Jinja set-up every HTML page shares (the monitoring report, the model card).

Autoescaping, so that a value from the data (a feature name, a class written as a word) can
never become markup; StrictUndefined, so that a field the page names and the data lacks fails
the render instead of leaving a blank.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template


@cache
def page_template(folder: Path, name: str) -> Template:
    """The template `name` in `folder`, loaded once per process."""
    environment = Environment(
        loader=FileSystemLoader(folder),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template(name)
