"""The alias journal: a promotion's or rollback's intent, kept on the registered model while
its alias moves run, so that a process killed between two moves is finished by the next run.

MLflow moves one alias per call, and a promotion is three calls (`previous`, `champion`,
`challenger`). A process killed (SIGKILL, a lost node, a worker's pod evicted) between two
of them would leave aliases that no whole promotion leaves: `champion` and `previous` on the
same version, or the new champion still holding `challenger`. So, before its first move, a
promotion writes its intent (the aliases before and after, and the audit tags) as one
registered-model tag, and deletes it after its last. A run that finds the tag left behind
(`recover`: every promotion, rejection, rollback, training gate and monitoring run asks
first) settles it:

- `champion` already points where the intent was going: the switch the service watches
  has happened and may have served, so the rest is completed (aliases and audit tags);
- otherwise nothing the service sees has moved: the aliases are put back as they were.

Either way the aliases end as one whole move or none would have left them. Only an alias
that still holds the value the interrupted move left there is touched: one moved by someone
since (a new challenger from training, a person in the MLflow UI) is kept, and logged.
`champion` is never deleted by a move or by recovery, so a service polling meanwhile
always finds a champion that passed the gate.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import RegistryError
from . import registry
from .registry import CHALLENGER, CHAMPION, PREVIOUS

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

INTENT_TAG = "aliases.intent"
# Champion first: if recovery is itself cut short, the alias that serves is settled.
MOVE_ORDER = (CHAMPION, PREVIOUS, CHALLENGER)
COMPLETED, UNDONE = "completed", "undone"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Intent:
    """One alias move in progress: what the aliases were, what they will be, and the audit tags
    (version -> tags) that a completed move leaves on the versions."""

    action: str
    version: str
    before: dict[str, str]
    after: dict[str, str]
    tags: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {
                "action": self.action,
                "version": self.version,
                "before": self.before,
                "after": self.after,
                "tags": self.tags,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Intent:
        try:
            found: dict[str, Any] = json.loads(text)
            return cls(
                action=str(found["action"]),
                version=str(found["version"]),
                before={str(k): str(v) for k, v in found["before"].items()},
                after={str(k): str(v) for k, v in found["after"].items()},
                tags={str(v): {str(k): str(t) for k, t in tags.items()} for v, tags in found.get("tags", {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise RegistryError(f"the registered model's `{INTENT_TAG}` tag is not a readable intent: {err}") from None


def begin(client: MlflowClient, name: str, intent: Intent) -> None:
    """Record the intent before the first move (one call: it is there or it is not)."""
    client.set_registered_model_tag(name, INTENT_TAG, intent.to_json())


def end(client: MlflowClient, name: str) -> None:
    """The move is whole (or undone): nothing left to recover."""
    client.delete_registered_model_tag(name, INTENT_TAG)


def pending(client: MlflowClient, name: str) -> Intent | None:
    """The intent an interrupted move left, if any."""
    from mlflow.exceptions import MlflowException

    try:
        model = client.get_registered_model(name)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    text = (model.tags or {}).get(INTENT_TAG)
    return Intent.from_json(text) if text else None


def move(
    client: MlflowClient, name: str, now: Mapping[str, str], source: Mapping[str, str], target: Mapping[str, str]
) -> None:
    """Move each alias from `source` to `target`, but only where it still holds its `source`
    value (or already its target): an alias someone else moved since is left alone."""
    for alias in MOVE_ORDER:
        wanted, current = target.get(alias), now.get(alias)
        if current == wanted:
            continue
        if current != source.get(alias):
            log.warning("alias `%s` of %s moved since (now %s): left as it is", alias, name, current)
            continue
        if wanted is not None:
            client.set_registered_model_alias(name, alias, wanted)
        elif alias != CHAMPION:  # never leave the service without a champion
            client.delete_registered_model_alias(name, alias)


def write_tags(client: MlflowClient, name: str, intent: Intent) -> None:
    for version, tags in intent.tags.items():
        registry.set_tags(client, name, version, tags)


def recover(client: MlflowClient, name: str) -> str | None:
    """Settle a move an earlier process left half done: complete it when `champion` already
    switched, undo it otherwise. Returns COMPLETED, UNDONE, or None when nothing was pending."""
    intent = pending(client, name)
    if intent is None:
        return None
    now = registry.aliases(client, name)
    if intent.after.get(CHAMPION) is not None and now.get(CHAMPION) == intent.after.get(CHAMPION):
        move(client, name, now, intent.before, intent.after)
        write_tags(client, name, intent)
        outcome = COMPLETED
    else:
        move(client, name, now, intent.after, intent.before)
        outcome = UNDONE
    end(client, name)
    log.warning(
        "an interrupted %s of %s v%s was found and %s: aliases %s (it was going from %s to %s)",
        intent.action,
        name,
        intent.version,
        outcome,
        registry.aliases(client, name),
        intent.before,
        intent.after,
    )
    return outcome
