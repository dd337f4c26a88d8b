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
- rollback switches `champion` to `previous` in one call;
- a process killed between two moves cannot put anything back, so promotion and
  rollback first write their intent on the registered model (`stores.alias_journal`),
  and every promotion, rejection and rollback starts by settling one an earlier
  process left (`recover`): completed if `champion` had switched, undone otherwise.

Each move is recorded as model-version tags (who, why, when) and one log line.
`promote` and `rollback` take `after_step`, called with each step's name once it is
done (`STEPS`): the kill tests stop the process there; production passes nothing.
"""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ..errors import RegistryError
from ..stores import alias_journal, registry
from ..stores.alias_journal import Intent
from ..stores.registry import CHALLENGER, CHAMPION, PREVIOUS

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)
# Restored first: the alias that serves matters most if restoring is itself cut short.
RESTORE_ORDER = (CHAMPION, CHALLENGER, PREVIOUS)
# The steps `after_step` is called with, in order, once each is done.
STEPS = ("intent", "previous", "champion", "challenger", "tags", "done")
ROLLBACK_STEPS = ("intent", "champion", "previous", "tags", "done")
Step = Callable[[str], None]


def _no_step(_: str) -> None:
    """Production's `after_step`: nothing."""


def recover(client: MlflowClient, name: str) -> str | None:
    """Settle an alias move an earlier, killed process left half done (see `stores.alias_journal`)."""
    return alias_journal.recover(client, name)


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


def _after(before: Mapping[str, str], version: str, old: str | None) -> dict[str, str]:
    """The aliases a whole promotion of `version` leaves."""
    after = dict(before)
    if old is not None:
        after[PREVIOUS] = old
    after[CHAMPION] = version
    if after.get(CHALLENGER) == version:
        del after[CHALLENGER]
    return after


def promote(
    client: MlflowClient,
    name: str,
    *,
    who: str,
    why: str,
    version: str | None = None,
    after_step: Step | None = None,
) -> AliasMove:
    """Make `version` (default: the challenger) the champion; the old champion becomes `previous`.

    All alias moves happen or none: on any failure the aliases are restored to
    what they were and the error is raised; a process killed midway leaves its
    intent, which the next run completes or undoes."""
    step = after_step or _no_step
    recover(client, name)
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
    at = _now()
    tags = {
        version: {"promotion.at": at, "promotion.by": who, "promotion.reason": why, "promotion.replaced": old or ""}
    }
    if old is not None:
        tags[old] = {"promotion.retired_at": at, "promotion.replaced_by": version}
    alias_journal.begin(client, name, Intent("promotion", version, before, _after(before, version, old), tags))
    step("intent")
    try:
        if old is not None:
            client.set_registered_model_alias(name, PREVIOUS, old)
        step("previous")
        client.set_registered_model_alias(name, CHAMPION, version)  # the switch the service sees: one call
        step("champion")
        if before.get(CHALLENGER) == version:
            client.delete_registered_model_alias(name, CHALLENGER)
        step("challenger")
    except Exception:
        log.exception("promotion of %s v%s failed midway; restoring the aliases %s", name, version, before)
        try:
            restore(client, name, before)
            alias_journal.end(client, name)
        except Exception:
            log.critical(
                "could not restore the aliases of %s to %s; the next promotion, rollback, training or "
                "monitoring run settles it from the registered model's `%s` tag",
                name,
                before,
                alias_journal.INTENT_TAG,
            )
            raise
        raise
    for tagged, values in tags.items():
        registry.set_tags(client, name, tagged, values)
    step("tags")
    alias_journal.end(client, name)
    step("done")
    move = AliasMove("promotion", name, version, before, registry.aliases(client, name), who, why, at)
    log.info(move.describe())
    return move


def reject(client: MlflowClient, name: str, *, who: str, why: str, version: str | None = None) -> AliasMove:
    """Take the `challenger` alias away from `version` (default: the challenger); the reason stays
    on the version as tags, written before the alias goes so it is never lost. One alias move:
    it needs no intent."""
    recover(client, name)
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


def rollback(client: MlflowClient, name: str, *, who: str, why: str, after_step: Step | None = None) -> AliasMove:
    """Serve `previous` again: `champion` moves to it in one call, and `previous` is cleared so
    that a second rollback cannot bring the bad version back by accident."""
    if not why.strip():
        raise RegistryError("a rollback needs a reason")
    step = after_step or _no_step
    recover(client, name)
    before = registry.aliases(client, name)
    target = before.get(PREVIOUS)
    if target is None:
        raise RegistryError(f"{name} has no `previous` version to roll back to")
    current = before.get(CHAMPION)
    if current == target:
        raise RegistryError(f"{name} version {target} is already the champion")
    registry.require_passed(client, name, target)
    at = _now()
    tags = {target: {"rollback.at": at, "rollback.by": who, "rollback.reason": why, "rollback.from": current or ""}}
    if current is not None:
        tags[current] = {"rolled_back.at": at, "rolled_back.by": who, "rolled_back.reason": why}
    after = {alias: version for alias, version in before.items() if alias != PREVIOUS} | {CHAMPION: target}
    alias_journal.begin(client, name, Intent("rollback", target, before, after, tags))
    step("intent")
    client.set_registered_model_alias(name, CHAMPION, target)  # the one step that matters
    step("champion")
    client.delete_registered_model_alias(name, PREVIOUS)
    step("previous")
    for tagged, values in tags.items():  # after the moves: an undone rollback leaves no audit tags
        registry.set_tags(client, name, tagged, values)
    step("tags")
    alias_journal.end(client, name)
    step("done")
    move = AliasMove("rollback", name, target, before, registry.aliases(client, name), who, why, at)
    log.warning(move.describe())
    return move
