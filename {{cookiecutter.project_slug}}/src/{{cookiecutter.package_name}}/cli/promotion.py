"""Commands that judge challengers and move the aliases: replay, shadow evaluation, promotion,
rejection, rollback."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import typer

from .app import _print_json, _settings, _user_errors, app, load_flow, prefect_defaults

log = logging.getLogger(__name__)


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


@app.command("replay")
def replay_command(
    version: Annotated[str | None, typer.Option(help="The version to replay; default: the challenger.")] = None,
    days: Annotated[
        int | None,
        typer.Option(min=1, help="Replay the champion's labelled requests of the last N days; default: replay.days."),
    ] = None,
) -> None:
    """Score the champion's logged, labelled requests with a challenger offline and compare: better,
    worse or not enough evidence (recorded on the version; the aliases stay as they are)."""
    from ..core.contract import load_contract
    from ..promotion import replay

    settings = _settings()
    with _user_errors():
        client, _ = _registry_client()
        found = replay.replay(client, settings, load_contract(settings.contract_file), version=version, days=days)
    _print_json(found.summary())


def _registry_client() -> tuple[Any, str]:
    from ..stores import registry

    settings = _settings()
    return registry.connect(settings), settings.mlflow.registered_model_name


@app.command()
def promote(
    reason: Annotated[str, typer.Option(help="Why; recorded on the versions.")],
    version: Annotated[str | None, typer.Option(help="The version to promote; default: the challenger.")] = None,
    who: Annotated[str | None, typer.Option(help="Who decides; default: the OS user.")] = None,
) -> None:
    """Make the challenger (or --version) the champion now; the champion becomes `previous`."""
    from ..promotion import aliases as promotion

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
    from ..promotion import aliases as promotion

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
    from ..promotion import aliases as promotion

    with _user_errors():
        client, name = _registry_client()
        move = promotion.rollback(client, name, who=who or promotion.current_user(), why=reason)
    typer.echo(move.describe())
