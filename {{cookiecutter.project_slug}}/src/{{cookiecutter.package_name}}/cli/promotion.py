"""Commands that judge challengers and move the aliases: replay, shadow evaluation, the canary,
promotion, rejection, rollback."""

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


@app.command("canary")
def canary_command(
    action: Annotated[
        str,
        typer.Argument(
            help=(
                "status: where the canary stands and its last verdict; evaluate: judge it now (rolls back or "
                "completes unless --no-apply); start: make --version (default: the challenger) the canary; "
                "share: set --share without a restart; rollback: end it now (--reason)."
            )
        ),
    ] = "status",
    version: Annotated[str | None, typer.Option(help="start: the version; default: the challenger.")] = None,
    share: Annotated[float | None, typer.Option(help="share: the new share of records, between 0 and 1.")] = None,
    reason: Annotated[str, typer.Option(help="start and rollback: why; kept on the version.")] = "by hand",
    apply: Annotated[bool, typer.Option("--apply/--no-apply", help="evaluate: move the aliases.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="evaluate: print the whole evidence.")] = False,
) -> None:
    """The canary phase: a promoted challenger answering a share of live traffic under guards."""
    actions = {"status", "evaluate", "start", "share", "rollback"}
    if action not in actions:
        raise typer.BadParameter(f"unknown action {action!r}; one of {', '.join(sorted(actions))}")
    if action == "evaluate":
        settings = _settings()
        prefect_defaults(settings.var_dir)
        evaluation = load_flow("canary", "canary_evaluation")
        with _user_errors():
            result = evaluation(apply=apply)
        if not as_json:
            result.pop("evidence", None)
        _print_json(result)
        return
    with _user_errors():
        _print_json(_canary_action(action, version, share, reason))


def _canary_action(action: str, version: str | None, share: float | None, reason: str) -> dict[str, Any]:
    from ..promotion import aliases as promotion
    from ..promotion import canary_steps
    from ..stores import registry

    client, name = _registry_client()
    if action == "start":
        chosen = version or registry.aliases(client, name).get(registry.CHALLENGER)
        if chosen is None:
            raise typer.BadParameter("no challenger: pass --version")
        canary_steps.start(client, name, chosen, _settings(), who=promotion.current_user(), why=reason)
    elif action == "share":
        if share is None:
            raise typer.BadParameter("share needs --share")
        canary_steps.set_share(client, name, share)
    elif action == "rollback":
        canary_steps.rollback(client, name, who=promotion.current_user(), why=reason)
    found = canary_steps.state(client, name)
    last = client.get_model_version(name, found.canary).tags if found.canary else {}
    return {
        **found.as_dict(),
        "running": found.running,
        "last_decision": last.get(canary_steps.DECISION),
        "last_reason": last.get(canary_steps.REASON),
        "last_evaluated_at": last.get(canary_steps.EVALUATED_AT),
    }
