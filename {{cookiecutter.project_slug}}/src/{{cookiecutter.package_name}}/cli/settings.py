"""The settings reference: every environment variable the project reads, made from settings.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import app


@app.command("settings")
def settings_command(
    write: Annotated[
        Path | None, typer.Option(help="Write the reference to this file (docs/settings.md).", dir_okay=False)
    ] = None,
    check: Annotated[
        Path | None, typer.Option(help="Fail when this file differs from the reference.", dir_okay=False)
    ] = None,
) -> None:
    """Print every setting (variable, type, default, description) as Markdown; or write or check docs/settings.md."""
    from ..settings import settings_reference

    reference = settings_reference()
    if write is None and check is None:
        typer.echo(reference, nl=False)
        return
    if write is not None:
        write.parent.mkdir(parents=True, exist_ok=True)
        write.write_text(reference, encoding="utf-8")
        typer.echo(f"wrote {write}")
    if check is not None:
        if not check.is_file() or check.read_text(encoding="utf-8") != reference:
            typer.secho(
                f"error: {check} is out of date with the settings: run `settings --write {check}`", fg="red", err=True
            )
            raise typer.Exit(1)
        typer.echo(f"{check} matches the settings")
