"""The degradation event: how monitoring asks for a retraining.

Monitoring calls `emit_degradation(...)` when the evidence warrants a new model.
The training deployment in prefect.yaml listens for `DEGRADED` through an
automation and starts one training run with the event's `reason` (a string) and
`evidence` (a JSON object) as parameters.

One retraining per incident: the event carries the incident id as a resource
label, and the automation evaluates each incident separately (`for_each`) with
`threshold: 1` and a `within` window, so the first event of an incident starts
a run and repeats of the same incident inside the window are absorbed by the
server. Monitoring therefore keeps one incident id for as long as the incident
is open, and may emit on every run without starting a run each time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ProjectError

if TYPE_CHECKING:
    from prefect.events import Event

PROJECT = "{{ cookiecutter.project_slug }}"
DEGRADED = f"{PROJECT}.model.degraded"
RESOURCE_PREFIX = f"{PROJECT}.model."
INCIDENT_LABEL = f"{PROJECT}.incident-id"
PAYLOAD_VERSION = 1
# Prefect refuses events above its size limit (1.5 MB by default); evidence is a summary, not data.
MAX_EVIDENCE_CHARS = 200_000


class EventError(ProjectError):
    """A degradation event that cannot be sent as asked (bad reason, incident id or evidence)."""


def model_resource_id(model_name: str) -> str:
    """The event's resource: the registered model the degradation concerns."""
    return f"{RESOURCE_PREFIX}{model_name}"


def _json_safe(value: Any) -> Any:
    """Evidence as JSON: non-finite numbers become null (JSON has none), other values their str."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _json_safe(value.item())
    return str(value)


@dataclass(frozen=True)
class Degradation:
    """What monitoring found. `reason` becomes the training run's `reason` parameter and the
    new version's `trigger` tag; `evidence` its `evidence` parameter."""

    model_name: str
    reason: str
    incident_id: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    model_version: str | None = None  # the champion that degraded, when known
    severity: str = "critical"

    def __post_init__(self) -> None:
        # Checked here because the automation passes values on with their JSON type: a reason
        # that is not a string would be refused by the training deployment, and no run start.
        if not isinstance(self.reason, str) or not self.reason.strip():
            raise EventError(f"a degradation event needs a reason, as text (got {self.reason!r})")
        if not isinstance(self.incident_id, str) or not self.incident_id.strip():
            raise EventError("a degradation event needs an incident id, as text (stable while the incident is open)")
        if not isinstance(self.model_name, str) or not self.model_name.strip():
            raise EventError("a degradation event needs the registered model's name")
        if not isinstance(self.evidence, Mapping):
            raise EventError(f"the evidence must be a mapping (a JSON object), not {type(self.evidence).__name__}")

    def payload(self) -> dict[str, Any]:
        """The event payload; `evidence` also carries the incident id, so the training run
        that the automation starts can say which incident it answers."""
        evidence = {**_json_safe(dict(self.evidence)), "incident_id": self.incident_id}
        if self.model_version is not None:
            evidence.setdefault("model_version", self.model_version)
        if len(json.dumps(evidence)) > MAX_EVIDENCE_CHARS:
            raise EventError(f"the evidence is over {MAX_EVIDENCE_CHARS} characters as JSON: send a summary")
        return {
            "payload_version": PAYLOAD_VERSION,
            "reason": self.reason,
            "incident_id": self.incident_id,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "severity": self.severity,
            "evidence": evidence,
        }

    def resource(self) -> dict[str, str]:
        resource = {
            "prefect.resource.id": model_resource_id(self.model_name),
            "prefect.resource.name": self.model_name,
            INCIDENT_LABEL: self.incident_id,
        }
        if self.model_version is not None:
            resource[f"{PROJECT}.model-version"] = self.model_version
        return resource


def emit_degradation(degradation: Degradation) -> Event | None:
    """Send the event to the configured Prefect server (PREFECT_API_URL, or Prefect Cloud).

    Delivery is asynchronous, through Prefect's events worker; inside a flow run
    Prefect links the event to the run and flushes it before the run ends.
    Returns the event sent, or None when Prefect is not emitting events (no
    server configured)."""
    from prefect.events import emit_event

    return emit_event(event=DEGRADED, resource=degradation.resource(), payload=degradation.payload())
