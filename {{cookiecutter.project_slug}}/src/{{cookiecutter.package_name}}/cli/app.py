"""The project's command line: `{{ cookiecutter.project_slug }} --help`.

Errors caused by input (a missing file, a bad contract, data that fails
validation) print one line and exit 1; only bugs keep their traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from ..errors import ProjectError

app = typer.Typer(
    name="{{ cookiecutter.project_slug }}",
    help="Train, validate, serve and monitor the {{ cookiecutter.project_slug }} model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
contract_app = typer.Typer(help="Draft, regenerate and check the data contract.", no_args_is_help=True)
app.add_typer(contract_app, name="contract")


class _HideExpectedTracebacks(logging.Filter):
    """Prefect logs task failures with their traceback; for input errors the one-line
    message is the whole story."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], ProjectError):
            record.exc_info = None
            record.exc_text = None
        return True


def _quiet_expected_errors() -> None:
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, _HideExpectedTracebacks) for f in handler.filters):
                handler.addFilter(_HideExpectedTracebacks())


def prefect_defaults(var_dir: Path) -> None:
    """Keep Prefect's local state inside the project and its telemetry off, unless the
    environment already says otherwise (e.g. PREFECT_API_URL for a real server)."""
    home = Path(os.environ.setdefault("PREFECT_HOME", str(var_dir / "prefect")))
    home.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


@contextmanager
def _user_errors() -> Iterator[None]:
    try:
        yield
    except ProjectError as err:
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


def _settings() -> Any:
    from ..settings import get_settings

    with _user_errors():  # a misspelled or refused setting: one line, before any work
        return get_settings()


def load_flow(name: str, function: str) -> Callable[..., Any]:
    """A flow from the project's flows/ folder, as Prefect deployments reference it."""
    from prefect.flows import load_flow_from_entrypoint

    settings = _settings()
    loaded: Callable[..., Any] = load_flow_from_entrypoint(f"{settings.project_root / 'flows' / name}.py:{function}")
    _quiet_expected_errors()  # after the import: Prefect installs its log handlers then
    return loaded


def _print_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str))


def main() -> None:  # pragma: no cover - the console script
    sys.exit(app())
