"""The lifecycle demo command."""

from __future__ import annotations

from typing import Annotated

import typer

from .app import _settings, _user_errors, app


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

    from ..demo.outcome import summary_text, versions_text
    from ..demo.run import run_demo
    from ..demo.scenario import Scenario

    settings = _settings()
    console = Console(stderr=True)
    scenario = Scenario()
    scenario = replace(
        scenario, days=days or scenario.days, requests_per_day=requests_per_day or scenario.requests_per_day
    )
    with _user_errors():
        outcome = run_demo(settings, scenario, console.log)
    # soft_wrap: a path or a long line is left whole for the terminal to fold, never cut in two
    # (a log file or CI output would keep the cut, and the path could not be copied).
    out = Console(soft_wrap=True)
    out.print(summary_text(outcome, out.width), markup=False, highlight=False)
    state = settings.var_dir / "demo"
    out.print(f"finished in {outcome.seconds:.0f} s; {outcome.alerts_delivered} alerts delivered to the demo's webhook")
    out.print(versions_text(outcome, out.width), markup=False, highlight=False)
    if outcome.report_path:
        out.print(f"timeline report: {outcome.report_path}")
    out.print(f"outcome (JSON):  {state / 'outcome.json'}")
    out.print("Prefect UI:      make demo-ui   (then http://127.0.0.1:4200; the demo's own server has stopped)")
    out.print(f"MLflow UI:       .venv/bin/mlflow ui --backend-store-uri sqlite:///{state / 'state' / 'mlflow.db'}")
    if not outcome.all_caught:
        typer.secho("error: not every incident was caught by the component that should catch it", fg="red", err=True)
        raise typer.Exit(1)
