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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from .errors import ProjectError

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
    from .settings import get_settings

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


# --- contract ----------------------------------------------------------------------------------


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
    from .contract import draft_contract
    from .data import read_table
    from .errors import DataError

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
    from .contract import load_contract, suite_json, suite_path

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
    from .contract import load_contract, suite_json, suite_path

    settings = _settings()
    with _user_errors():
        contract = load_contract(settings.contract_file)
    path = suite_path(settings.gx_dir)
    if not path.is_file() or path.read_text(encoding="utf-8") != suite_json(contract):
        typer.secho(f"error: {path} is out of date with contract.yaml: run `contract sync`", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo("derived files match contract.yaml")


# --- data and training -------------------------------------------------------------------------


@app.command()
def data(
    out: Annotated[Path, typer.Option(help="CSV or Parquet file to write.")] = Path("data/transactions.parquet"),
    rows: Annotated[int, typer.Option(min=100, help="Number of transactions.")] = 60_000,
    days: Annotated[int, typer.Option(min=1, help="Days the transactions span.")] = 90,
    seed: Annotated[int, typer.Option(help="Seed: the same seed writes the same rows.")] = 7,
) -> None:
    """Write the built-in demo data set (card transactions) in the contract's columns."""
    from .contract import load_contract
    from .data import demo_frame, write_table

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
    from .contract import load_contract, suite_path
    from .data import demo_frame, prepare_frame, read_table
    from .validation import load_suite, validate_frame

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


# --- drift -----------------------------------------------------------------------------------------


def _drift_reference(path: Path) -> dict[str, Any]:
    """A stored profile (a reference_profile.json, or a model bundle folder holding one),
    or a data table profiled on the spot with the project's contract."""
    from .bundle import PROFILE_FILE
    from .contract import load_contract
    from .data import read_table
    from .profile import fit_profile, load_profile

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
    from .data import read_table
    from .drift import score_window

    with _user_errors():
        profile = _drift_reference(reference)
        report = score_window(profile, read_table(current), settings=_settings().drift)
    if as_json:
        _print_json(report.to_dict())
        return
    from .drift_view import render

    render(report)


# --- serving -----------------------------------------------------------------------------------

SERVICE = "services.service:ModelService"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on; default: the service.host setting.")] = None,
    port: Annotated[int | None, typer.Option(help="Port; default: the service.port setting (3000).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Server processes; default: service.workers.")] = None,
) -> None:
    """Serve the champion locally with BentoML (the same service a Bento or container runs)."""
    from .errors import ProjectError
    from .settings import ENV_PREFIX

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
    import pandas as pd

    from .contract import load_contract
    from .data import read_table
    from .errors import DataError
    from .predictions import from_settings

    settings = _settings()
    with _user_errors():
        if by not in ("request_id", "record_id"):
            raise DataError(f"--by must be request_id or record_id, not {by!r}")
        contract = load_contract(settings.contract_file)
        frame = read_table(file)
        label_column = label_column or contract.target
        missing = [c for c in (id_column, label_column) if c not in frame.columns]
        if missing:
            columns = ", ".join(map(str, frame.columns))
            raise DataError(f"{file}: no column(s) {', '.join(missing)} (columns: {columns})")
        # Text that is not a number counts as a bad label below, rather than failing the cast.
        values = pd.to_numeric(frame[label_column], errors="coerce").astype("Float64")
        bad = frame[id_column].isna() | values.isna()
        if contract.is_classification:
            bad |= ~values.isin([0.0, 1.0]).fillna(False)
        if bad.any():
            kind = "0/1 labels" if contract.is_classification else "numeric labels"
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


# --- the retraining loop: shadow evaluation, promotion, rollback ---------------------------------


@app.command("shadow-eval")
def shadow_eval(
    window_days: Annotated[
        int | None, typer.Option(min=1, help="Evaluate the last N days; default: shadow_evaluation.window_days.")
    ] = None,
    apply: Annotated[
        bool | None,
        typer.Option("--apply/--no-apply", help="Move the aliases as decided; default: setting auto_promote."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole evidence as JSON.")] = False,
) -> None:
    """Compare the challenger with the champion on live, labelled requests: promote, reject or keep waiting."""
    settings = _settings()
    prefect_defaults(settings.var_dir)
    shadow = load_flow("shadow", "shadow_evaluation")
    with _user_errors():
        result = shadow(window_days=window_days, apply=apply)
    if not as_json:
        result.pop("evidence", None)
    _print_json(result)


def _registry_client() -> tuple[Any, str]:
    from . import registry

    settings = _settings()
    return registry.connect(settings), settings.mlflow.registered_model_name


@app.command()
def promote(
    reason: Annotated[str, typer.Option(help="Why; recorded on the versions.")],
    version: Annotated[str | None, typer.Option(help="The version to promote; default: the challenger.")] = None,
    who: Annotated[str | None, typer.Option(help="Who decides; default: the OS user.")] = None,
) -> None:
    """Make the challenger (or --version) the champion now; the champion becomes `previous`."""
    from . import promotion

    with _user_errors():
        client, name = _registry_client()
        move = promotion.promote(client, name, who=who or promotion.current_user(), why=reason, version=version)
    typer.echo(move.describe())


@app.command()
def reject(
    reason: Annotated[str, typer.Option(help="Why; kept on the version.")],
    who: Annotated[str | None, typer.Option(help="Who decides; default: the OS user.")] = None,
) -> None:
    """Take the challenger out of shadow; the version keeps the reason."""
    from . import promotion

    with _user_errors():
        client, name = _registry_client()
        move = promotion.reject(client, name, who=who or promotion.current_user(), why=reason)
    typer.echo(move.describe())


@app.command()
def rollback(
    reason: Annotated[str, typer.Option(help="Why; recorded on both versions and in the log.")],
    who: Annotated[str | None, typer.Option(help="Who decides; default: the OS user.")] = None,
) -> None:
    """Serve the `previous` version again, in one alias move; the service follows without a restart."""
    from . import promotion

    with _user_errors():
        client, name = _registry_client()
        move = promotion.rollback(client, name, who=who or promotion.current_user(), why=reason)
    typer.echo(move.describe())


@app.command("report-degradation")
def report_degradation(
    reason: Annotated[str, typer.Option(help="What is wrong; becomes the training run's reason.")],
    incident: Annotated[str, typer.Option(help="Incident id: repeats of one incident start one retraining.")],
    evidence: Annotated[str, typer.Option(help="A JSON object with the evidence.")] = "{}",
) -> None:
    """Send the degradation event by hand (what monitoring sends): the training deployment's
    automation starts a retraining. Needs PREFECT_API_URL (a server, or Prefect Cloud)."""
    from .errors import ProjectError
    from .events import Degradation, emit_degradation

    settings = _settings()
    with _user_errors():
        if not os.environ.get("PREFECT_API_URL"):
            raise ProjectError("PREFECT_API_URL is not set: point it at the Prefect server the deployments live on")
        try:
            details = json.loads(evidence)
        except json.JSONDecodeError as err:
            raise ProjectError(f"--evidence is not JSON: {err}") from None
        if not isinstance(details, dict):
            raise ProjectError("--evidence must be a JSON object")
        sent = emit_degradation(Degradation(settings.mlflow.registered_model_name, reason, incident, details))
        if sent is None:
            raise ProjectError("Prefect did not send the event (is PREFECT_API_URL reachable?)")
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=30)  # delivery is asynchronous: wait for it before exiting
    typer.echo(f"sent {sent.event} for incident {incident} (event {sent.id})")


# --- monitoring ----------------------------------------------------------------------------------


def _instant(value: str, option: str) -> datetime:
    """An ISO date or date-time, read as UTC when it names no zone."""
    from .errors import DataError

    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        raise DataError(f"{option} {value!r} is not an ISO date or date-time, e.g. 2026-04-05T06:00") from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


@app.command()
def monitor(
    start: Annotated[str | None, typer.Option(help="Window start, ISO date(-time), UTC unless it says.")] = None,
    end: Annotated[str | None, typer.Option(help="Window end (exclusive); default: one window after --start.")] = None,
    day: Annotated[str | None, typer.Option(help="One UTC day, e.g. 2026-04-05 (instead of --start/--end).")] = None,
) -> None:
    """Run the monitoring flow: drift, performance, alerts, report. Default window: the last
    complete day of the prediction log."""
    from .errors import DataError

    with _user_errors():
        if day is not None and (start or end):
            raise DataError("give --day, or --start/--end, not both")
        first = day or start
        begin = _instant(first, "--day" if day else "--start") if first else None
        finish = _instant(end, "--end") if end else (begin + timedelta(days=1) if day and begin else None)
    prefect_defaults(_settings().var_dir)
    monitoring = load_flow("monitoring", "monitoring")
    with _user_errors():
        result = monitoring(start=begin, end=finish)
    _print_json(result)


@app.command()
def demo(
    days: Annotated[int | None, typer.Option(min=8, help="Simulated days (default: the scenario's 12).")] = None,
    requests_per_day: Annotated[int | None, typer.Option(min=1000, help="Transactions per simulated day.")] = None,
) -> None:
    """Replay the production incidents through the whole stack; print what caught each one.

    Starts a local Prefect server, the deployments' worker and the BentoML service, and stops
    them all at the end (also on Ctrl-C). State goes to var/demo/ (wiped at each run).
    """
    from dataclasses import replace

    from rich.console import Console

    from .demo import run_demo
    from .demo_outcome import summary_table
    from .simulation import Scenario

    settings = _settings()
    console = Console(stderr=True)
    scenario = Scenario()
    scenario = replace(
        scenario, days=days or scenario.days, requests_per_day=requests_per_day or scenario.requests_per_day
    )
    with _user_errors():
        outcome = run_demo(settings, scenario, console.log)
    out = Console()
    out.print(summary_table(outcome))
    state = settings.var_dir / "demo"
    out.print(f"finished in {outcome.seconds:.0f} s; {outcome.alerts_delivered} alerts delivered to the demo's webhook")
    lineage = [f"v{v}: {s['trigger']} → {s['shadow'] or s['gate']}" for v, s in outcome.versions.items()]
    out.print(f"versions: {'; '.join(lineage)}")
    if outcome.report_path:
        out.print(f"timeline report: {outcome.report_path}")
    out.print(f"outcome (JSON):  {state / 'outcome.json'}")
    out.print("Prefect UI:      make demo-ui   (then http://127.0.0.1:4200; the demo's own server has stopped)")
    out.print(f"MLflow UI:       .venv/bin/mlflow ui --backend-store-uri sqlite:///{state / 'state' / 'mlflow.db'}")
    if not outcome.all_caught:
        typer.secho("error: not every incident was caught by the component that should catch it", fg="red", err=True)
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - the console script
    sys.exit(app())
