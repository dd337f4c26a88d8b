"""Commands for serving: the service, batch scoring of a file, and labels for the answers."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .app import _print_json, _settings, _user_errors, app

if TYPE_CHECKING:
    import pandas as pd

    from ..core.contract import Contract

log = logging.getLogger(__name__)


SERVICE = "services.service:ModelService"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on; default: the service.host setting.")] = None,
    port: Annotated[int | None, typer.Option(help="Port; default: the service.port setting (3000).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Server processes; default: service.workers.")] = None,
) -> None:
    """Serve the champion locally with BentoML (the same service a Bento or container runs)."""
    from ..errors import ProjectError
    from ..settings import ENV_PREFIX

    settings = _settings()
    with _user_errors():
        if not (settings.project_root / "services" / "service.py").is_file():
            raise ProjectError(f"no services/service.py under {settings.project_root}")
        bentoml_cli = Path(sys.executable).with_name("bentoml")
        if not bentoml_cli.is_file():
            raise ProjectError(f"bentoml is not installed next to {sys.executable}: run `make install`")
    env = dict(os.environ)
    env.setdefault("BENTOML_DO_NOT_TRACK", "true")
    if workers is not None:  # the service reads its worker count from the settings at import
        env[f"{ENV_PREFIX}SERVICE__WORKERS"] = str(workers)
    address = host or settings.service.host
    chosen_port = port or settings.service.port
    command = [str(bentoml_cli), "serve", SERVICE, "--working-dir", str(settings.project_root)]
    command += ["--host", address, "--port", str(chosen_port)]
    typer.echo(f"serving on http://{address}:{chosen_port}  (OpenAPI: /docs.json, model: /metadata)", err=True)
    # Become the server: signals (Ctrl-C, SIGTERM from a supervisor) reach BentoML directly.
    os.execve(command[0], command, env)  # noqa: S606 - a fixed argument list, no shell


@app.command()
def score(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="CSV or Parquet file of records to score.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Where the scores go (.parquet or .csv); default: INPUT's <name>.scores.parquet."),
    ] = None,
    alias: Annotated[str, typer.Option(help="The registered model's alias to score with.")] = "champion",
) -> None:
    """Score a file with the served model, streamed a chunk at a time (scoring.chunk_rows): the
    same encoding, model and threshold as the service. Progress on a terminal, a line now and
    then in a log; a one-line summary at the end. With compute.engine=dask, INPUT is a Parquet
    file or a folder of partitions, scored a partition per task, and OUT a folder of parts."""
    from ..core.contract import load_contract
    from ..serving.batch_scoring import score_file
    from .progress import RowsProgress, rate_text

    settings = _settings()
    interactive = sys.stderr.isatty()
    with _user_errors():
        contract = load_contract(settings.contract_file)
        reporter = RowsProgress(
            interactive=interactive,
            every=settings.scoring.progress_seconds,
            write=lambda line: typer.echo(line, err=True),
        )
        with reporter:
            result = score_file(settings, contract, input_path, out, alias, progress=reporter)
    seconds = reporter.elapsed()
    flagged = f", {result.flagged:,} flagged" if result.flagged is not None else ""
    typer.echo(
        f"scored {result.rows:,} rows of {result.input_path} with {alias} v{result.model_version} in {seconds:.1f} s "
        f"({rate_text(result.rows, seconds)}): mean score {result.mean_score:.4f}{flagged}; into {result.output_path}"
    )


@app.command()
def labels(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file with an id column and a label column.")],
    id_column: Annotated[str, typer.Option(help="The column holding the ids.")] = "request_id",
    label_column: Annotated[
        str | None, typer.Option(help="The column holding the true labels; default: the contract's target.")
    ] = None,
    by: Annotated[
        str, typer.Option(help="request_id: the ids the service answered with; record_id: your own record ids.")
    ] = "request_id",
) -> None:
    """Load true labels in bulk into the prediction log, joined to the answers by id."""
    from ..core.contract import load_contract
    from ..data.tables import read_table
    from ..errors import DataError
    from ..stores.prediction_log import from_settings

    settings = _settings()
    with _user_errors():
        if by not in ("request_id", "record_id"):
            raise DataError(f"--by must be request_id or record_id, not {by!r}")
        contract = load_contract(settings.contract_file)
        if by == "record_id" and contract.id_column is None:
            raise DataError("--by record_id needs an id column, and the contract names none: label by request_id")
        frame = read_table(file)
        label_column = label_column or contract.target
        missing = [c for c in (id_column, label_column) if c not in frame.columns]
        if missing:
            columns = ", ".join(map(str, frame.columns))
            raise DataError(f"{file}: no column(s) {', '.join(missing)} (columns: {columns})")
        values = _label_values(frame[label_column], contract)
        bad = frame[id_column].isna() | values.isna()
        if contract.is_classification:
            bad |= ~values.isin([float(code) for code in range(contract.n_classes)]).fillna(False)
        if bad.any():
            kind = "0/1 labels" if contract.is_classification else "numeric labels"
            if contract.labels is not None:
                numbered = all(isinstance(label, str) for label in contract.labels)
                shown = (
                    " and ".join(map(repr, contract.labels))
                    if len(contract.labels) == 2
                    else ", ".join(map(repr, contract.labels))
                )
                codes = f" (or {'0/1' if len(contract.labels) == 2 else f'0 to {len(contract.labels) - 1}'})"
                kind = f"the labels {shown}{codes if numbered else ''}"
            raise DataError(f"{file}: {int(bad.sum())} row(s) lack an id or hold something other than {kind}")
        prediction_log = from_settings(settings)
        try:
            result = prediction_log.add_labels(
                zip(frame[id_column].astype(str), values.astype(float), strict=True),
                source=f"cli:{file.name}",
                key="record_id" if by == "record_id" else "request_id",
            )
        finally:
            prediction_log.close()
    _print_json({"accepted": result.accepted, "unknown": len(result.unknown), "unknown_ids": result.unknown[:20]})


def _label_values(column: pd.Series, contract: Contract) -> pd.Series:
    """A label file's labels as the prediction log keeps them, missing where a value is no
    label: numbers for regression and for a 0/1 contract (text that is no number counts as a
    bad label, rather than failing the cast); for a contract that names its labels, each
    class's index (0 and 1 for the negative and the positive class; `Contract.label_code`),
    once per distinct value."""
    import numpy as np
    import pandas as pd

    if contract.labels is None:
        return pd.to_numeric(column, errors="coerce").astype("Float64")
    codes, levels = pd.factorize(column, use_na_sentinel=True)
    named = [contract.label_code(value, codes=True) for value in levels]
    values = np.array([np.nan if code is None else float(code) for code in named] + [np.nan])
    return pd.Series(values[codes], index=column.index).astype("Float64")  # code -1 picks the NaN
