"""What the service adds to BentoML's /metrics, wired for one worker: the request counters, the
served models' state and the latest monitoring results (see `operator_metrics` and
`monitoring_snapshot`; docs/monitoring.md lists every metric)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..stores.monitoring_history import History
from .edge import Rejected
from .monitoring_snapshot import MonitoringSnapshot, history_reader
from .operator_metrics import RequestMetrics, append_text, model_families, note_refusal, refusal_reason, render

if TYPE_CHECKING:
    from ..settings import Settings
    from .answer import Answer
    from .predictor import Predictor


class ServiceMetrics:
    """One worker's operators' metrics: `answered`/`refused` from the handlers, `exposition`
    from BentoML's `__metrics__` hook. `start` begins the monitoring refresh."""

    def __init__(
        self,
        requests: RequestMetrics,
        snapshot: MonitoringSnapshot,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.requests = requests
        self.snapshot = snapshot
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, requests: RequestMetrics) -> ServiceMetrics:
        name = settings.mlflow.registered_model_name
        read = history_reader(lambda: History.from_settings(settings), name)
        return cls(requests, MonitoringSnapshot(read, settings.service.metrics_refresh_s))

    def start(self) -> None:
        self.snapshot.start()

    def stop(self) -> None:
        self.snapshot.stop()

    def answered(self, answer: Answer, alias: str = "champion") -> None:
        """A /predict answer: its records by the version that answered, and their schema events."""
        self.requests.predictions(alias, answer.model_version, len(answer.request_ids), answer.events)

    def refused(self, endpoint: str, rejected: Rejected) -> None:
        """A handler's refusal: its reason for the refusal counter, the contract's problems by kind."""
        note_refusal(refusal_reason(endpoint, rejected.status, getattr(rejected, "reason", None)))
        if rejected.status == 400 and endpoint == "/predict":
            self.requests.refused_problems(problem.type for problem in rejected.problems)

    def exposition(self, bentoml_text: str, predictor: Predictor) -> str:
        """BentoML's exposition (every worker's counters) and this worker's state after it."""
        log_writable = predictor.log_health.state.writable if predictor.log_health is not None else None
        families: Sequence[Any] = [
            *model_families(predictor.store.describe(), self._clock(), log_writable),
            *self.snapshot.families(),
        ]
        return append_text(bentoml_text, render(families))
