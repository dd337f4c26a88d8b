"""Commands for the data: the contract (draft, sync, check), the demo data, validation, drift."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .app import _print_json, _settings, _user_errors, app, contract_app

if TYPE_CHECKING:
    import pandas as pd

    from ..core.contract import Contract


@contract_app.command("draft")
def contract_draft(
    data: Annotated[Path, typer.Argument(help="Your CSV or Parquet file.")],
    target: Annotated[str, typer.Option(help="The column to predict.")],
    id_column: Annotated[
        str | None, typer.Option(help="Unique row id (guessed when omitted; none when none is found).")
    ] = None,
    timestamp_column: Annotated[
        str | None, typer.Option(help="Event time (guessed when omitted; none when none is found).")
    ] = None,
    no_id_column: Annotated[
        bool, typer.Option("--no-id-column", help="No id column: answers are keyed by the service's request ids.")
    ] = False,
    no_timestamp_column: Annotated[
        bool, typer.Option("--no-timestamp-column", help="No timestamp column: the split is random (seeded).")
    ] = False,
    task: Annotated[
        str | None,
        typer.Option(
            help="binary_classification, multiclass_classification or regression; default: read from the target's "
            "values (the draft says why, and stops where they do not tell)."
        ),
    ] = None,
    positive: Annotated[
        str | None,
        typer.Option(
            help="The positive class of a binary target, as the data writes it; default: 1 or true for 0/1 and "
            "boolean targets, else the rarer value."
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Where to write the contract.")] = Path("contract.yaml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Draft contract.yaml from your own data; review it, then run `contract sync`."""
    from ..core.contract_draft import draft_contract, row_key_notes
    from ..core.contract_target import read_target
    from ..data.tables import read_table
    from ..errors import DataError

    with _user_errors():
        if out.exists() and not force:
            raise DataError(f"{out} exists: pass --force to overwrite it")
        frame = read_table(data)
        reading = read_target(frame, target, task, positive, _settings().contract_draft)
        contract = draft_contract(
            frame,
            target,
            id_column,
            timestamp_column,
            no_id_column=no_id_column,
            no_timestamp_column=no_timestamp_column,
            reading=reading,
        )
        out.write_text(contract.to_yaml(), encoding="utf-8")
    typer.echo(reading.reason)
    typer.echo(
        f"wrote {out}: {contract.task}, target {contract.target!r}, {len(contract.features)} features; "
        "review it, then run `contract sync`"
    )
    for note in row_key_notes(contract):
        typer.echo(f"  {note}")


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
    data: Annotated[
        str | None, typer.Argument(help="CSV/Parquet file, or s3://bucket/prefix/; default: the configured data.")
    ] = None,
) -> None:
    """Validate data against the contract's Great Expectations suite."""
    from ..core.contract import load_contract
    from ..core.contract_derived import suite_path
    from ..data.demo_world import demo_frame
    from ..data.object_store import data_location, read_training_table
    from ..data.tables import prepare_frame
    from ..data.validation import load_suite, validate_frame

    settings = _settings()
    with _user_errors():
        contract = load_contract(settings.contract_file)
        path = (data_location(data) if data else None) or settings.data_path
        raw = read_training_table(path) if path else demo_frame(contract, settings.demo_rows, settings.demo_days)
        report = validate_frame(prepare_frame(raw, contract), load_suite(suite_path(settings.gx_dir)))
    if not report.success:
        typer.secho(f"error: {report.summary()}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(report.summary())


def _inferred_contract(frame: pd.DataFrame) -> tuple[Contract, str]:
    """A contract for a table that is not the project's data, and what it holds in words:
    every column a feature typed from its values (`infer_features`, as `contract draft`
    drafts one), except what looks like a row id or an event time, bookkeeping that differs
    between any two tables. A contract names a target, which a drift check does without:
    its name is a placeholder that no column has."""
    from ..core.contract import Contract
    from ..core.contract_draft import guess_row_keys, infer_features
    from ..errors import DataError

    id_column, time_column = guess_row_keys(frame)
    features = infer_features(frame, exclude=[name for name in (id_column, time_column) if name])
    if not features:
        raise DataError(
            f"the reference has no columns to compare besides its row id and time ({id_column}, {time_column})"
        )
    contract = Contract(
        task="regression",
        target="(no target)",
        id_column=id_column,
        timestamp_column=time_column,
        features=tuple(features),
    )
    counts = Counter(feature.type for feature in features)
    kinds = ", ".join(
        f"{counts[kind]} {kind}" for kind in ("numeric", "integer", "categorical", "boolean") if counts[kind]
    )
    skipped = [f"{name} ({label})" for label, name in (("a row id", id_column), ("an event time", time_column)) if name]
    note = f"{kinds} column{'s' if len(features) != 1 else ''}"
    return contract, note + (f"; not compared: {' and '.join(skipped)}" if skipped else "")


def _drift_reference(path: Path) -> tuple[dict[str, Any], str]:
    """The reference profile, and which contract reads the data, in words. A stored profile (a
    reference_profile.json, or a model bundle folder holding one) brings its own; a table with
    every feature of the project's contract is profiled with it; any other table with a
    contract inferred from its own columns."""
    from ..core.contract import load_contract
    from ..data.tables import read_table
    from ..errors import DataError
    from ..model.bundle import PROFILE_FILE
    from ..model.reference_profile import fit_profile, load_profile

    if path.is_dir():
        if not (path / PROFILE_FILE).is_file():
            raise DataError(f"{path}: a folder without a {PROFILE_FILE} (give a CSV or Parquet file, or a model's)")
        path = path / PROFILE_FILE
    if path.suffix.lower() == ".json":
        return load_profile(path), "the saved profile's"
    frame = read_table(path)
    settings = _settings()
    contract = load_contract(settings.contract_file)
    lacking = [name for name in contract.feature_names if name not in frame.columns]
    if not lacking:
        return fit_profile(frame, contract), f"the project's ({settings.contract_file.name})"
    inferred, holds = _inferred_contract(frame)
    if len(lacking) < len(contract.features):  # some of the project's columns: say why they are not read as such
        shown = ", ".join(lacking[:3]) + (f" and {len(lacking) - 3} more" if len(lacking) > 3 else "")
        return fit_profile(frame, inferred), f"inferred from the reference (it lacks the project's {shown}): {holds}"
    return fit_profile(frame, inferred), f"inferred from the reference: {holds}"


@app.command()
def drift(
    reference: Annotated[
        Path, typer.Option(help="Reference data (CSV/Parquet), or a reference_profile.json saved with a model.")
    ],
    current: Annotated[Path, typer.Option(help="The data to check (CSV/Parquet).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON.")] = False,
) -> None:
    """Check data for drift against a reference: per-feature tests and effect sizes, schema changes.

    Any two tables: the project's data is read with its contract, any other table with a
    contract inferred from the reference's columns (the output says which).
    """
    from ..data.tables import read_table
    from ..monitoring.drift import score_window

    with _user_errors():
        profile, contract = _drift_reference(reference)
        report = score_window(profile, read_table(current), settings=_settings().drift)
    if as_json:
        _print_json({"contract": contract, **report.to_dict()})
        return
    from ..monitoring.report.terminal import render

    render(report, contract=contract)
