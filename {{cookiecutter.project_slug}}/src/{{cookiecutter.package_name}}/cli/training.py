"""The training command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import _print_json, _settings, _user_errors, app, load_flow, prefect_defaults


@app.command()
def train(
    data: Annotated[
        Path | None, typer.Option(help="CSV/Parquet training data; default: settings, else demo data.")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why this run happens; recorded on the model version.")] = "manual",
) -> None:
    """Run the training flow: validate, train, export ONNX, check parity, register, gate."""
    settings = _settings()
    prefect_defaults(settings.var_dir)
    if data is not None and not data.is_absolute():
        data = Path.cwd() / data
    training = load_flow("training", "training")
    with _user_errors():
        result = training(data_path=str(data) if data else None, reason=reason)
    _print_json(result)
