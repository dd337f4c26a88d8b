"""The training command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import _print_json, _settings, _user_errors, app, load_flow, prefect_defaults


@app.command()
def train(
    data: Annotated[
        str | None,
        typer.Option(help="CSV/Parquet training data, or s3://bucket/prefix/; default: settings, else demo data."),
    ] = None,
    reason: Annotated[str, typer.Option(help="Why this run happens; recorded on the model version.")] = "manual",
) -> None:
    """Run the training flow: validate, train, export ONNX, check parity, register, gate."""
    settings = _settings()
    prefect_defaults(settings.var_dir)
    if data is not None and not data.startswith("s3://") and not Path(data).is_absolute():
        data = str(Path.cwd() / data)
    training = load_flow("training", "training")
    with _user_errors():
        result = training(data_path=data, reason=reason)
    _print_json(result)


@app.command()
def card(
    version: Annotated[str | None, typer.Option(help="The model version; default: the one holding --alias.")] = None,
    alias: Annotated[str, typer.Option(help="Which version, when --version is not given.")] = "champion",
    html: Annotated[
        Path | None, typer.Option(help="Also write the stored HTML card (as registered) to this file.")
    ] = None,
) -> None:
    """Print a version's model card (Markdown), with the verdicts recorded on it since registration."""
    from ..model.model_card import HTML_FILE
    from ..promotion import card_view
    from ..stores import registry

    settings = _settings()
    with _user_errors():
        client = registry.connect(settings)
        name = settings.mlflow.registered_model_name
        typer.echo(card_view.card_markdown(client, name, version, alias), nl=False)
        if html is not None:
            found = card_view.resolve(client, name, version, alias)
            html.write_text(card_view.stored_card(client, found, HTML_FILE), encoding="utf-8")
