"""A version's model card as `card` prints it: the card stored at registration, then what
happened to the version since (its aliases, replay, shadow evaluation, canary, promotions,
rejections and rollbacks), read from the version's tags at the time of asking.

The stored card cannot know later verdicts; they are appended, dated, rather than written
into it, so the artifact stays what the training run produced.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RegistryError
from ..model.model_card import MARKDOWN_FILE, number
from ..stores import registry
from .canary_guards import CanaryEvidence
from .canary_steps import DECISION as CANARY_DECISION
from .canary_steps import EVALUATED_AT as CANARY_EVALUATED_AT
from .canary_steps import EVIDENCE as CANARY_EVIDENCE
from .canary_steps import REASON as CANARY_REASON
from .canary_steps import STARTED_AT
from .replay import VERDICT
from .shadow_steps import DECISION, EVALUATED_AT, REASON, decision_row, load_evidence

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

# What the alias moves record on a version (promotion/aliases.py), as the card words them.
MOVES = (("promotion", "promoted"), ("rejected", "rejected"), ("rollback", "restored by a rollback"))


def resolve(client: MlflowClient, name: str, version: str | None, alias: str) -> ModelVersion:
    """The version asked for: by number, else the one holding `alias`."""
    from mlflow.exceptions import MlflowException

    if version is not None:
        try:
            return client.get_model_version(name, version)
        except MlflowException:
            raise RegistryError(f"{name} version {version} does not exist") from None
    found = registry.version_by_alias(client, name, alias)
    if found is None:
        raise RegistryError(f"no version of {name} holds the alias {alias!r}")
    return found


def stored_card(client: MlflowClient, found: ModelVersion, file: str = MARKDOWN_FILE) -> str:
    """The card the version's training run logged: `model_card.md`, or `model_card.html`."""
    from mlflow.exceptions import MlflowException

    with tempfile.TemporaryDirectory() as scratch:
        try:
            path = client.download_artifacts(str(found.run_id), file, scratch)
        except (MlflowException, OSError):
            raise RegistryError(
                f"version {found.version} has no {file}: it was registered before model cards were written"
            ) from None
        return Path(path).read_text(encoding="utf-8")


def since_registration(client: MlflowClient, name: str, found: ModelVersion, now: datetime) -> str:
    """The verdicts recorded on the version since its card was written, as Markdown."""
    tags = dict(found.tags or {})
    held = sorted(a for a, v in registry.aliases(client, name).items() if v == str(found.version))
    lines = [f"## Since registration (as of {now:%Y-%m-%d %H:%M} UTC)", ""]
    lines.append(f"- Aliases now: {', '.join(held) or 'none'}.")
    lines += _replay_lines(tags)
    evidence = load_evidence(client, name, str(found.version)) if DECISION in tags else None
    if DECISION in tags:
        lines.append(
            f"- Shadow evaluation as challenger ({tags.get(EVALUATED_AT, 'time unknown')}): "
            f"{tags[DECISION]}: {tags.get(REASON, '')}."
        )
    if evidence is not None:
        row = decision_row(evidence)
        if row.primary_metric is not None:
            lines.append(
                f"  - Against champion version {row.champion_version} on {row.n} labelled requests: "
                f"{row.primary_metric} {number(row.challenger_value)} against {number(row.champion_value)}, "
                f"improvement {number(row.difference)} (interval {number(row.ci_lower)} to {number(row.ci_upper)})."
            )
        lines += [
            f"  - Segment {s['segment']} = {s['level']}: {s['verdict']} ({s['n']} requests)." for s in row.segments
        ]
    lines += canary_lines(tags)
    if "shadow.last_decision" in tags:
        lines.append(
            f"- As champion, its last challenger (version {tags.get('shadow.last_challenger')}) was judged "
            f"{tags['shadow.last_decision']} ({tags.get('shadow.last_evaluated_at', 'time unknown')})."
        )
    for prefix, words in MOVES:
        if f"{prefix}.at" in tags:
            lines.append(
                f"- {words.capitalize()} {tags[f'{prefix}.at']} by {tags.get(f'{prefix}.by', 'someone')}: "
                f"{tags.get(f'{prefix}.reason', '')}."
            )
    if "promotion.retired_at" in tags:
        lines.append(
            f"- Retired as champion {tags['promotion.retired_at']}, replaced by version "
            f"{tags.get('promotion.replaced_by', 'unknown')}."
        )
    if "rolled_back.at" in tags:
        lines.append(f"- Rolled back {tags['rolled_back.at']}: {tags.get('rolled_back.reason', '')}.")
    if len(lines) == 3:
        lines.append("- No shadow evaluation, promotion, rejection or rollback recorded yet.")
    return "\n".join(lines) + "\n"


def _replay_lines(tags: dict[str, str]) -> list[str]:
    """The replay on the champion's logged traffic (`replay.py`), when one ran."""
    if VERDICT not in tags:
        return []
    champion, at = tags.get("replay.champion_version", "unknown"), tags.get("replay.evaluated_at", "time unknown")
    return [f"- Replay against champion version {champion} ({at}): {tags[VERDICT]}: {tags.get('replay.reason', '')}."]


def canary_lines(tags: dict[str, str]) -> list[str]:
    """The canary phase (`canary_steps.py`), when the version had one: its start, its last
    verdict with the guards' figures, and its rollback."""
    if STARTED_AT not in tags:
        return []
    lines = [f"- Canary from {tags[STARTED_AT]}, answering a share of {tags.get('canary.share', '?')} of live records."]
    if CANARY_DECISION in tags:
        lines.append(
            f"- Canary evaluation against champion version {tags.get('canary.champion_version', 'unknown')} "
            f"({tags.get(CANARY_EVALUATED_AT, 'time unknown')}): {tags[CANARY_DECISION]}: "
            f"{tags.get(CANARY_REASON, '')}."
        )
    if CANARY_EVIDENCE in tags:
        evidence = CanaryEvidence.from_dict(json.loads(tags[CANARY_EVIDENCE]))
        # A guard that is off has no limit (JSON null): row() writes it as a dash.
        lines += [
            f"  - {g.name}: {g.detail} (limit {g.row()['limit']}): {g.row()['verdict']}." for g in evidence.guards
        ]
    if "canary.rolled_back.at" in tags:
        lines.append(
            f"- Canary rolled back {tags['canary.rolled_back.at']} by {tags.get('canary.rolled_back.by', 'someone')}: "
            f"{tags.get('canary.rolled_back', '')}."
        )
    return lines


def card_markdown(client: MlflowClient, name: str, version: str | None, alias: str) -> str:
    """The stored card with what happened since appended."""
    found = resolve(client, name, version, alias)
    return stored_card(client, found).rstrip() + "\n\n" + since_registration(client, name, found, datetime.now(UTC))
