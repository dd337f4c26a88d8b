"""The alert a canary rollback sends: which guard breached, both models' figures, what moved.

A rollback is an incident a person should read about even though it fixed itself: the
version that passed replay and shadow did worse on live answers. The alert goes on the
configured channel at once (no cooldown: each rollback is its own event) and into the
monitoring history's alerts, sent or not, with the evidence.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .notify import DeliveryError, Message, channel_label, send

if TYPE_CHECKING:
    from ..settings import Settings

log = logging.getLogger(__name__)
KEY = "canary_rollback"
DELIVERED, FAILED, NOT_SENT = "delivered", "failed", "not_sent"


def compose(evidence: Mapping[str, Any], aliases: Mapping[str, str], prefix: str) -> Message:
    """The message for one rollback, from the canary's evidence (`CanaryEvidence.to_dict`)."""
    breached = [g for g in evidence["guards"] if g["breached"]]
    guards = ", ".join(g["name"] for g in breached)
    title = f"Canary version {evidence['canary_version']} of {evidence['model_name']} rolled back: {guards}"
    lines = [f"- {g['name']}: {g['detail']} (limit {g['limit']})" for g in breached]
    text = "\n".join(
        [
            f"{evidence['reason']}.",
            *lines,
            f"Champion version {evidence['champion_version']} answers every record again; aliases now {dict(aliases)}.",
            f"Canary started {evidence['started_at']} with a share of {evidence['share']}.",
            f"Answers: {evidence['answers']}.",
        ]
    )
    body = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines())
    payload = {"severity": "warning", "key": KEY, **{k: evidence[k] for k in ("model_name", "canary_version")}}
    return Message(f"{prefix} WARNING: {title}".strip(), text, body, {**payload, "evidence": dict(evidence)})


def alert_rollback(settings: Settings, evidence: Mapping[str, Any], aliases: Mapping[str, str]) -> str:
    """Send the rollback's alert and store it in the history; returns its status."""
    from ..stores.monitoring_history import History
    from ..stores.sql import utcnow

    message = compose(evidence, aliases, settings.alerts.subject_prefix)
    status, detail = (NOT_SENT, "alerts.channel is none") if settings.alerts.channel == "none" else (DELIVERED, None)
    if status == DELIVERED:
        try:
            send(message, settings.alerts)
        except DeliveryError as err:
            status, detail = FAILED, str(err)
            log.warning("canary rollback alert delivery failed (%s): %s", channel_label(settings.alerts), err)
    with History.from_settings(settings) as history:
        history.record_alerts(
            [
                {
                    "run_id": None,
                    "raised_at": utcnow(),
                    "key": KEY,
                    "severity": "warning",
                    "title": message.subject[:300],
                    "message": message.text,
                    "subjects": [str(evidence["canary_version"])],
                    "evidence": dict(evidence),
                    "status": status,
                    "channel": channel_label(settings.alerts),
                    "delivery_detail": detail,
                }
            ]
        )
    return status
