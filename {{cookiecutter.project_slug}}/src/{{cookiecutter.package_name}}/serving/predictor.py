"""One request, end to end, without a web server: the contract check, the champion's
answer (and a canary's for its share of the records: `canary_routing`), the prediction log
and the hand-off to the shadow challenger.

Order matters for the guarantees: the champion's rows are committed to the log
*before* the answer is returned, so no answered request is missing from it; if
they cannot be written, the request fails (503) rather than being answered
unrecorded. The challenger's work is only handed over after that, and runs on
the shadow thread. The commits are shared by the requests that arrive together,
and happen on a thread of the worker (`log_writer`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from ..core.contract import Contract
from ..settings import Settings
from ..stores.prediction_log import LabelResult, PredictionLog, PredictionLogError, from_settings
from ..stores.prediction_log_schema import CANARY, CANARY_FAILED, CHALLENGER, CHAMPION
from ..stores.prediction_rows import PredictionBatch
from ..stores.sql import utcnow
from .answer import Answer, Scored
from .canary_routing import interleave, split, take
from .edge import CheckedRecords, Edge, Rejected, parse_event_time
from .feedback import Labels
from .log_health import LogHealth
from .log_writer import LogWriter, RowWriter
from .model_store import Lineup, ModelStore, Served, one_line
from .shadow_worker import Shadow

log = logging.getLogger(__name__)
# Shadow work waits this long for more requests to join its batch (see shadow.Shadow),
# unless it comes alone from a request of at least SHADOW_ALONE_RECORDS records: about
# where a batch's rows start to cost more than its commit and wake-ups.
SHADOW_GATHER_S = 0.01
SHADOW_ALONE_RECORDS = 20


_NO_LOG_STATE = {"writable": False, "last_error": None, "since": None}  # the log is disabled


class Unavailable(Rejected):
    """The service cannot answer right now (no model, or the log cannot be written): 503."""

    def __init__(self, error: str, reason: str) -> None:
        super().__init__(503, error)
        self.reason = reason  # /metrics' refusal reason: no_model, log_unavailable, log_disabled


@dataclass(frozen=True)
class ShadowJob:
    challenger: Served
    checked: CheckedRecords
    request_ids: list[str]
    matrix: np.ndarray | None  # the champion's encoded input, when the challenger encodes the same way


def request_ids(count: int) -> list[str]:
    """Ids that sort by time (a millisecond prefix keeps index inserts local) and never repeat
    (80 random bits each, from one system call per request)."""
    prefix = f"{time.time_ns() // 1_000_000:012x}"
    random = os.urandom(10 * count).hex()
    return [prefix + random[20 * i : 20 * (i + 1)] for i in range(count)]


def prediction_batch(
    role: str,
    served: Served,
    checked: CheckedRecords,
    request_ids: list[str],
    scored: Scored,
    latency_ms: float,
) -> PredictionBatch:
    return PredictionBatch(
        role=role,
        model_name=served.name,
        model_version=served.version,
        logged_at=utcnow(),
        latency_ms=latency_ms,
        request_ids=request_ids,
        event_times=checked.event_times or [None] * len(request_ids),
        record_ids=checked.record_ids,
        features=checked.received if role != CHALLENGER else None,  # a challenger row's are its champion row's
        scores=scored.scores,
        decisions=scored.decisions,
        schema_events=checked.events or [[] for _ in request_ids],
        probabilities=scored.probabilities,
    )


@dataclass(frozen=True)
class Part:
    """The records of one request one model answered: where they are in the request, and the log's rows."""

    role: str
    served: Served
    positions: list[int]
    checked: CheckedRecords
    ids: list[str]
    scored: Scored
    matrix: np.ndarray
    batch: PredictionBatch


def _score(
    role: str, served: Served, checked: CheckedRecords, ids: list[str], positions: list[int], checked_ms: float
) -> Part:
    """`served`'s answers to `checked`; their latency is the request's checks plus this model's work."""
    started = time.perf_counter()
    bundle = served.bundle
    matrix = bundle.encoding.transform_columns(checked.columns, len(checked), normalized=True)
    scored = Scored.of(bundle, bundle.score_matrix(matrix))
    latency_ms = checked_ms + (time.perf_counter() - started) * 1000.0
    batch = prediction_batch(role, served, checked, ids, scored, latency_ms)
    return Part(role, served, positions, checked, ids, scored, matrix, batch)


def _answer(parts: list[Part], checked: CheckedRecords, ids: list[str], contract: Contract) -> Answer:
    """The caller's answer in the order sent; with one part, its lists as they are."""
    first = parts[0]
    if len(parts) == 1:
        scored = first.scored
        return Answer(
            first.served.name,
            first.served.version,
            ids,
            checked.record_ids,
            scored.scores,
            scored.decisions,
            checked.events,
            scored.named(contract),
            scored.by_class(contract),
        )
    count = len(ids)

    def merged(values: Callable[[Part], list[Any] | None]) -> list[Any] | None:
        return interleave(count, [(part.positions, values(part)) for part in parts])

    return Answer(
        first.served.name,
        first.served.version,  # the champion's; each prediction names the version that answered it
        ids,
        checked.record_ids,
        merged(lambda part: part.scored.scores) or [],
        merged(lambda part: part.scored.decisions),
        checked.events,
        merged(lambda part: part.scored.named(contract)),
        merged(lambda part: part.scored.by_class(contract)),
        merged(lambda part: [part.served.version] * len(part.positions)),
    )


class Predictor:
    """Everything /predict, /feedback and /metadata do, for one server process."""

    def __init__(
        self,
        contract: Contract,
        store: ModelStore,
        prediction_log: PredictionLog | None,
        *,
        max_records: int,
        reject_unknown_fields: bool = False,
        shadow: bool = True,
        shadow_queue: int = 1000,
        shadow_max_age_s: float = 5.0,
        limits: dict[str, Any] | None = None,
        writer: RowWriter | None = None,
    ) -> None:
        self.contract = contract
        self.store = store
        self.log = prediction_log
        # The answers' rows go through `writer` (default: a thread of this process); the log
        # itself also serves rejections, labels and /metadata.
        self.writer = writer or (LogWriter(prediction_log) if prediction_log is not None else None)
        self.log_health = (
            LogHealth(prediction_log.check_writable, secret=sa.engine.make_url(prediction_log.url).password)
            if prediction_log is not None
            else None
        )
        self.edge = Edge(contract, max_records=max_records, reject_unknown_fields=reject_unknown_fields)
        self.shadow: Shadow[ShadowJob] | None = (
            Shadow(self._shadow_work, shadow_queue, shadow_max_age_s, gather_s=SHADOW_GATHER_S) if shadow else None
        )
        self.limits = {
            "max_records": max_records,
            "max_body_bytes": 0,
            "reject_unknown_fields": reject_unknown_fields,
            "api_key_required": False,
            **(limits or {}),
        }
        # A label is a number, or the class as the contract's labels write it where it names them.
        self._labels = Labels(contract, max_records)
        self.canary_failures = 0  # requests whose canary records the champion answered instead

    @classmethod
    def from_settings(cls, settings: Settings, contract: Contract, store: ModelStore) -> Predictor:
        """The service's predictor, with the configured prediction log (none when disabled)."""
        service = settings.service
        prediction_log = from_settings(settings) if settings.prediction_log.enabled else None
        return cls(
            contract,
            store,
            prediction_log,
            max_records=service.max_records,
            reject_unknown_fields=service.reject_unknown_fields,
            shadow=service.shadow,
            shadow_queue=service.shadow_queue,
            shadow_max_age_s=service.shadow_max_age_s,
            limits={
                "max_records": service.max_records,
                "max_body_bytes": service.max_body_bytes,
                "reject_unknown_fields": service.reject_unknown_fields,
                "api_key_required": service.requires_api_key,
            },
        )

    def close(self) -> None:
        if self.shadow is not None:
            self.shadow.close()  # its last rows go to the writer, which commits them before it stops
        if self.writer is not None:
            self.writer.close()
        self.store.stop()
        if self.log is not None:
            self.log.close()

    # --- /predict --------------------------------------------------------------------------------

    async def predict(self, records: Any) -> tuple[Answer, Callable[[], None] | None]:
        """The answer (the champion's; during a canary, the canary's for the records it is
        routed), committed to the log; and, when a challenger shadows, the call that hands its
        work over for the champion's records (to run once the answer is on its way).

        The checks and the scoring are microseconds of CPU and run on the caller's event
        loop; the only wait is for the commit, by the log's writer."""
        started = time.perf_counter()
        lineup = self.store.lineup  # read once: this request keeps these models even if a reload swaps them
        try:
            checked = self.edge.check(records)
        except Rejected as rejected:
            await asyncio.to_thread(self._remember_rejection, "/predict", rejected, records)
            raise
        champion = lineup.champion
        if champion is None:
            raise Unavailable(
                "no model is loaded yet: the registry has no champion and no cached copy exists", "no_model"
            )
        ids = request_ids(len(checked))
        checked_ms = (time.perf_counter() - started) * 1000.0
        parts = self._canary_parts(lineup, checked, ids, checked_ms) or [
            _score(CHAMPION, champion, checked, ids, list(range(len(checked))), checked_ms)
        ]
        if self.writer is not None:
            await self._commit([part.batch for part in parts])
        answer = _answer(parts, checked, ids, self.contract)
        handoff = None
        shadow, challenger, mine = self.shadow, lineup.challenger, parts[0]
        if shadow is not None and challenger is not None and mine.role == CHAMPION:
            same_encoding = challenger.bundle.encoding == champion.bundle.encoding
            job = ShadowJob(challenger, mine.checked, mine.ids, mine.matrix if same_encoding else None)

            def handoff() -> None:
                shadow.submit(job, gather=len(mine.ids) < SHADOW_ALONE_RECORDS)

        return answer, handoff

    def _canary_parts(
        self, lineup: Lineup, checked: CheckedRecords, ids: list[str], checked_ms: float
    ) -> list[Part] | None:
        """During a canary, the champion's records and the canary's, each scored by its model
        (the champion's first); None when the canary answers none of them. A canary that fails
        to score leaves its records to the champion (logged as `canary_failed`, the canary's
        error rate): the caller never pays for the experiment."""
        canary, route, champion = lineup.canary, lineup.route, lineup.champion
        if canary is None or route is None or champion is None:
            return None
        mine, theirs = split(route.picks(checked.received))
        if not theirs:
            return None
        try:
            answered = _score(CANARY, canary, take(checked, theirs), [ids[i] for i in theirs], theirs, checked_ms)
        except Exception as err:  # any failure of the canary's model: the champion answers instead
            self.canary_failures += 1
            log.error("canary version %s failed to score %d records: %s", canary.version, len(theirs), one_line(err))
            answered = _score(
                CANARY_FAILED, champion, take(checked, theirs), [ids[i] for i in theirs], theirs, checked_ms
            )
        if not mine:
            return [answered]
        return [_score(CHAMPION, champion, take(checked, mine), [ids[i] for i in mine], mine, checked_ms), answered]

    async def _commit(self, batches: list[PredictionBatch]) -> None:
        """Every answered row committed before the answer goes, or the request is refused."""
        assert self.writer is not None
        try:
            for sent in [self.writer.write(batch) for batch in batches]:
                await asyncio.wrap_future(sent)
        except (sa.exc.SQLAlchemyError, PredictionLogError) as err:
            log.error("prediction log write failed, request refused: %s", one_line(err))
            self._log_failed(err)
            raise Unavailable(
                "the prediction log cannot be written: nothing was answered; retry", "log_unavailable"
            ) from None
        self._log_written()

    def _shadow_work(self, jobs: list[ShadowJob]) -> None:
        """Score waiting requests with their challenger in one call and log them in one
        transaction (a challenger swap mid-batch splits it by model)."""
        groups: dict[int, list[ShadowJob]] = {}
        for job in jobs:
            groups.setdefault(id(job.challenger), []).append(job)
        batches: list[PredictionBatch] = []
        for group in groups.values():
            challenger = group[0].challenger
            bundle = challenger.bundle
            started = time.perf_counter()
            matrices = [
                job.matrix
                if job.matrix is not None
                else bundle.encoding.transform_columns(job.checked.columns, len(job.checked), normalized=True)
                for job in group
            ]
            raw = bundle.score_matrix(np.vstack(matrices) if len(matrices) > 1 else matrices[0])
            per_record_ms = (time.perf_counter() - started) * 1000.0 / max(len(raw), 1)
            offset = 0
            for job in group:
                size = len(job.request_ids)
                part = Scored.of(bundle, raw[offset : offset + size])
                batches.append(
                    prediction_batch(CHALLENGER, challenger, job.checked, job.request_ids, part, per_record_ms * size)
                )
                offset += size
        if self.writer is not None:
            # Waits for the commits: a failure is the shadow's to count, and a slow database
            # holds shadow work back (its queue sheds it) instead of piling rows up here.
            for sent in [self.writer.write(batch, urgent=False) for batch in batches]:
                sent.result()

    def _sent_event_time(self, body: Any) -> datetime | None:
        """The first readable event time in a refused body, so that the refusal counts on the
        day its records belong to; None when there is none (or the contract names no timestamp
        column: then the refusal counts when it happened)."""
        if self.edge.contract.timestamp_column is None:
            return None
        records = body.get("records") if isinstance(body, dict) else None
        for record in [records] if isinstance(records, dict) else records if isinstance(records, list) else []:
            if isinstance(record, dict):
                moment = parse_event_time(record.get(self.edge.contract.timestamp_column))
                if moment is not None:
                    return moment
        return None

    def _remember_rejection(self, endpoint: str, rejected: Rejected, body: Any) -> None:
        """Keep what broke the contract, so monitoring sees it and a fixed upstream can replay it."""
        if self.log is None or rejected.status != 400:
            return
        try:
            self.log.record_rejection(
                endpoint,
                rejected.status,
                rejected.error,
                [p.as_dict() for p in rejected.problems],
                body,
                occurred_at=self._sent_event_time(body),
            )
        except sa.exc.SQLAlchemyError as err:  # the caller still gets its 400
            log.warning("could not record a rejected request: %s", one_line(err))

    # --- /feedback -------------------------------------------------------------------------------

    def feedback(self, labels: Any) -> LabelResult:
        parsed = self._labels.parse(labels)
        values = self._labels.values(parsed)
        if self.log is None:
            raise Unavailable("the prediction log is disabled: labels have nowhere to go", "log_disabled")
        try:
            result = self.log.add_labels(zip((item.request_id for item in parsed), values, strict=True), source="api")
        except sa.exc.SQLAlchemyError as err:
            log.error("label write failed: %s", one_line(err))
            self._log_failed(err)
            raise Unavailable(
                "the prediction log cannot be written: no label was stored; retry", "log_unavailable"
            ) from None
        self._log_written()
        return result

    def _log_failed(self, err: BaseException) -> None:
        if self.log_health is not None:
            self.log_health.failed(err)

    def _log_written(self) -> None:
        if self.log_health is not None:
            self.log_health.succeeded()

    # --- /metadata -------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """A champion is loaded and the prediction log can be written: without either, every
        /predict would be a 503 (see `log_health` for why this is readiness, not liveness)."""
        return self.store.ready and (self.log_health is None or self.log_health.writable())

    def metadata(self) -> dict[str, Any]:
        store = self.store.describe()
        champion = store["champion"] or {}
        shadow = (
            self.shadow.snapshot()
            if self.shadow is not None
            else {
                "queued": 0,
                "submitted": 0,
                "completed": 0,
                "failed": 0,
                "dropped": 0,
                "stale": 0,
                "last_error": None,
            }
        )
        ready = self.ready  # first: while the log is down, this asks the database again
        schema_version = None
        if self.log is not None:
            try:
                schema_version = self.log.schema_version()
            except sa.exc.SQLAlchemyError:
                schema_version = None
        return {
            "model_name": self.store.name,
            "model_version": champion.get("version"),
            "alias": CHAMPION,
            "trained_at": champion.get("trained_at"),
            "contract_hash": self.contract.hash,
            "metrics": champion.get("metrics", {}),
            "shadowing": self.shadow is not None and store["challenger"] is not None,
            "ready": ready,
            **store,
            "shadow": {"enabled": self.shadow is not None, **shadow},
            "canary_failures": self.canary_failures,
            "prediction_log": {
                "enabled": self.log is not None,
                "url": self.log.display_url if self.log is not None else None,
                "schema_version": schema_version,
                **(self.log_health.state.as_dict() if self.log_health is not None else _NO_LOG_STATE),
            },
            "limits": self.limits,
        }
