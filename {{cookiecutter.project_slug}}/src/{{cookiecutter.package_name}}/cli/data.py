"""Commands for the data: the contract (draft, sync, check), the demo data, validation, drift."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .app import _print_json, _settings, _user_errors, app, contract_app


@contract_app.command("draft")
def contract_draft(
    data: Annotated[Path, typer.Argument(help="Your CSV or Parquet file.")],
    target: Annotated[str, typer.Option(help="The column to predict.")],
    id_column: Annotated[str | None, typer.Option(help="Unique row id (guessed when omitted).")] = None,
    timestamp_column: Annotated[str | None, typer.Option(help="Event time (guessed when omitted).")] = None,
    out: Annotated[Path, typer.Option(help="Where to write the contract.")] = Path("contract.yaml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Draft contract.yaml from your own data; review it, then run `contract sync`."""
    from ..core.contract_draft import draft_contract
    from ..data.tables import read_table
    from ..errors import DataError

    with _user_errors():
        if out.exists() and not force:
            raise DataError(f"{out} exists: pass --force to overwrite it")
        contract = draft_contract(read_table(data), target, id_column, timestamp_column)
        out.write_text(contract.to_yaml(), encoding="utf-8")
    typer.echo(
        f"wrote {out}: {contract.task}, target {contract.target!r}, {len(contract.features)} features; "
        "review it, then run `contract sync`"
    )


@contract_app.command("sync")
def contract_sync() -> None:
    """Regenerate the Great Expectations suite from contract.yaml."""
    from ..core.contract import load_contract
    from ..core.contract_derived import suite_json, suite_path

    settings = _settings()
    with _user_errors():
        contract = load_contract(settings.contract_file)
    path = suite_path(settings.gx_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(suite_json(contract), encoding="utf-8")
    typer.echo(f"wrote {path} ({contract.hash[:12]})")


@contract_app.command("check")
def contract_check() -> None:
    """Fail when a file derived from contract.yaml is out of date."""
    from ..core.contract import load_contract
    from ..core.contract_derived import suite_json, suite_path

    settings = _settings()
    with _user_errors():
        contract = load_contract(settings.contract_file)
    path = suite_path(settings.gx_dir)
    if not path.is_file() or path.read_text(encoding="utf-8") != suite_json(contract):
        typer.secho(f"error: {path} is out of date with contract.yaml: run `contract sync`", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo("derived files match contract.yaml")


@app.command()
def data(
    out: Annotated[Path, typer.Option(help="CSV or Parquet file to write.")] = Path("data/transactions.parquet"),
    rows: Annotated[int, typer.Option(min=100, help="Number of transactions.")] = 60_000,
    days: Annotated[int, typer.Option(min=1, help="Days the transactions span.")] = 90,
    seed: Annotated[int, typer.Option(help="Seed: the same seed writes the same rows.")] = 7,
) -> None:
    """Write the built-in demo data set (card transactions) in the contract's columns."""
    from ..core.contract import load_contract
    from ..data.demo_world import demo_frame
    from ..data.tables import write_table

    settings = _settings()
    with _user_errors():
        frame = demo_frame(load_contract(settings.contract_file), rows, days, seed)
        write_table(frame, out)
    rate = f", positive rate {frame.iloc[:, -1].mean():.2%}" if frame.iloc[:, -1].nunique() == 2 else ""
    typer.echo(f"wrote {len(frame)} rows to {out}{rate}")


@app.command()
def validate(
    data: Annotated[Path | None, typer.Argument(help="CSV/Parquet file; default: the configured data.")] = None,
) -> None:
    """Validate data against the contract's Great Expectations suite."""
    from ..core.contract import load_contract
    from ..core.contract_derived import suite_path
    from ..data.demo_world import demo_frame
    from ..data.tables import prepare_frame, read_table
    from ..data.validation import load_suite, validate_frame

    settings = _settings()
    with _user_errors():
        contract = load_contract(settings.contract_file)
        path = data or settings.data_path
        raw = read_table(path) if path else demo_frame(contract, settings.demo_rows, settings.demo_days)
        report = validate_frame(prepare_frame(raw, contract), load_suite(suite_path(settings.gx_dir)))
    if not report.success:
        typer.secho(f"error: {report.summary()}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(report.summary())


def _drift_reference(path: Path) -> dict[str, Any]:
    """A stored profile (a reference_profile.json, or a model bundle folder holding one),
    or a data table profiled on the spot with the project's contract."""
    from ..core.contract import load_contract
    from ..data.tables import read_table
    from ..model.bundle import PROFILE_FILE
    from ..model.reference_profile import fit_profile, load_profile

    if path.is_dir():
        path = path / PROFILE_FILE
    if path.suffix.lower() == ".json":
        return load_profile(path)
    return fit_profile(read_table(path), load_contract(_settings().contract_file))


@app.command()
def drift(
    reference: Annotated[
        Path, typer.Option(help="Reference data (CSV/Parquet), or a reference_profile.json saved with a model.")
    ],
    current: Annotated[Path, typer.Option(help="The data to check (CSV/Parquet).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON.")] = False,
) -> None:
    """Check data for drift against a reference: per-feature tests and effect sizes, schema changes."""
    from ..data.tables import read_table
    from ..monitoring.drift import score_window

    with _user_errors():
        profile = _drift_reference(reference)
        report = score_window(profile, read_table(current), settings=_settings().drift)
    if as_json:
        _print_json(report.to_dict())
        return
    from ..monitoring.report.terminal import render

    render(report)
