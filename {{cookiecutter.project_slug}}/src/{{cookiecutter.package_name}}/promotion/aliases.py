"""Promotion, rejection and rollback: moving the aliases, with guard rails.

The aliases are the switch the service watches (`champion` answers, `challenger`
shadows, `previous` is where a rollback returns to), so every move here is
ordered so that a reader never sees a state that should not exist:

- only a version that passed validation, the parity check and the gate
  (`registry.require_passed`) may ever hold `champion`, and no alias is ever
  pointed at a version that does not exist;
- promotion moves `previous` first, then switches `champion` in one call, then
  drops `challenger`; if any of these fails, the aliases are put back as they
  were before the promotion began and the error is raised;
- rollback switches `champion` to `previous` in one call.

Each move is recorded as model-version tags (who, why, when) and one log line.
"""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..errors import RegistryError
from ..stores import registry
from ..stores.registry import CHALLENGER, CHAMPION, PREVIOUS

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)
# Restored first: the alias that serves matters most if restoring is itself cut short.
RESTORE_ORDER = (CHAMPION, CHALLENGER, PREVIOUS)


@dataclass(frozen=True)
class AliasMove:
    """One promotion, rejection or rollback: the aliases before and after, and who did it and why."""

    action: str
    model_name: str
    version: str
    before: dict[str, str]
    after: dict[str, str]
    who: str
    why: str
    at: str

    def describe(self) -> str:
        return (
            f"{self.action} of {self.model_name} v{self.version} by {self.who}: {self.why} "
            f"(aliases {self.before} -> {self.after})"
        )


def current_user() -> str:
    """Who runs this: the OS user, for the audit tags when no `--who` is given."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return os.environ.get("USER", "unknown")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _require_exists(client: MlflowClient, name: str, version: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_model_version(name, version)
    except MlflowException:
        raise RegistryError(f"{name} version {version} does not exist") from None


def restore(client: MlflowClient, name: str, snapshot: Mapping[str, str]) -> None:
    """Put the three aliases back as `snapshot` had them (absent ones are removed)."""
    now = registry.aliases(client, name)
    for alias in RESTORE_ORDER:
        wanted = snapshot.get(alias)
        if wanted is not None and now.get(alias) != wanted:
            client.set_registered_model_alias(name, alias, wanted)
        elif wanted is None and alias in now:
            client.delete_registered_model_alias(name, alias)


def promote(client: MlflowClient, name: str, *, who: str, why: str, version: str | None = None) -> AliasMove:
    """Make `version` (default: the challenger) the champion; the old champion becomes `previous`.

    All alias moves happen or none: on any failure the aliases are restored to
    what they were and the error is raised."""
    before = registry.aliases(client, name)
    version = version or before.get(CHALLENGER)
    if version is None:
        raise RegistryError(f"{name} has no challenger to promote")
    registry.require_passed(client, name, version)
    old = before.get(CHAMPION)
    if old == version:
        raise RegistryError(f"{name} version {version} is already the champion")
    if old is not None:
        _require_exists(client, name, old)
    try:
        if old is not None:
            client.set_registered_model_alias(name, PREVIOUS, old)
        client.set_registered_model_alias(name, CHAMPION, version)  # the switch the service sees: one call
        if before.get(CHALLENGER) == version:
            client.delete_registered_model_alias(name, CHALLENGER)
    except Exception:
        log.exception("promotion of %s v%s failed midway; restoring the aliases %s", name, version, before)
        try:
            restore(client, name, before)
        except Exception:
            log.critical("could not restore the aliases of %s; set them by hand to %s", name, before)
            raise
        raise
    at = _now()
    registry.set_tags(
        client,
        name,
        version,
        {"promotion.at": at, "promotion.by": who, "promotion.reason": why, "promotion.replaced": old or ""},
    )
    if old is not None:
        registry.set_tags(client, name, old, {"promotion.retired_at": at, "promotion.replaced_by": version})
    move = AliasMove("promotion", name, version, before, registry.aliases(client, name), who, why, at)
    log.info(move.describe())
    return move


def reject(client: MlflowClient, name: str, *, who: str, why: str, version: str | None = None) -> AliasMove:
    """Take the `challenger` alias away from `version` (default: the challenger); the reason stays
    on the version as tags, written before the alias goes so it is never lost."""
    before = registry.aliases(client, name)
    version = version or before.get(CHALLENGER)
    if version is None:
        raise RegistryError(f"{name} has no challenger to reject")
    if before.get(CHALLENGER) != version:
        raise RegistryError(f"{name} version {version} is not the challenger (aliases: {before})")
    at = _now()
    registry.set_tags(client, name, version, {"rejected.at": at, "rejected.by": who, "rejected.reason": why})
    client.delete_registered_model_alias(name, CHALLENGER)
    move = AliasMove("rejection", name, version, before, registry.aliases(client, name), who, why, at)
    log.info(move.describe())
    return move


def rollback(client: MlflowClient, name: str, *, who: str, why: str) -> AliasMove:
    """Serve `previous` again: `champion` moves to it in one call, and `previous` is cleared so
    that a second rollback cannot bring the bad version back by accident."""
    if not why.strip():
        raise RegistryError("a rollback needs a reason")
    before = registry.aliases(client, name)
    target = before.get(PREVIOUS)
    if target is None:
        raise RegistryError(f"{name} has no `previous` version to roll back to")
    current = before.get(CHAMPION)
    if current == target:
        raise RegistryError(f"{name} version {target} is already the champion")
    registry.require_passed(client, name, target)
    at = _now()
    restored = {"rollback.at": at, "rollback.by": who, "rollback.reason": why, "rollback.from": current or ""}
    registry.set_tags(client, name, target, restored)
    client.set_registered_model_alias(name, CHAMPION, target)  # the one step that matters
    if current is not None:
        removed = {"rolled_back.at": at, "rolled_back.by": who, "rolled_back.reason": why}
        registry.set_tags(client, name, current, removed)
    client.delete_registered_model_alias(name, PREVIOUS)
    move = AliasMove("rollback", name, target, before, registry.aliases(client, name), who, why, at)
    log.warning(move.describe())
    return move
