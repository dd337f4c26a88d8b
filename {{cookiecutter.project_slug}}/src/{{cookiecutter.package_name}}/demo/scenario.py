"""The demo's production world: simulated days of traffic with the incidents that break
production ML, the late labels, and the messy requests real callers send.

Everything here is deterministic for a seed and free of servers, so the demo,
its tests and anyone exploring the project can replay the same story.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from ..core.contract import ClassLabel, Contract
from ..data.demo_world import TrafficShift, TransactionGenerator, demo_end
from ..errors import ProjectError


@dataclass(frozen=True)
class Incident:
    """One thing that goes wrong, when it starts, and who is expected to catch it."""

    key: str
    title: str
    start_day: int
    expected_catcher: str  # the component that should notice: service, monitoring, shadow-evaluation
    expected_signal: str  # what that component should record


@dataclass(frozen=True)
class Scenario:
    """The replay: `days` simulated days after the training data ends.

    The story. Fraud moves to card testing from day 0; the labels reveal it two days
    later and the degradation starts a retraining, which the gate refuses: the new
    card-testing traffic is all in its holdout, so it is no better on today's traffic.
    On day 1 an upstream team adds a column and callers send messy records; covariate
    shift arrives on day 4. On day 5 the label pipeline starts losing one segment's
    chargebacks (prepaid cards): the label feed and the training extract both call
    those frauds legitimate (for a multiclass contract, it records each of them as one kind:
    `unmapped_kind`). The monthly retraining on day 6 learns card testing, and the
    bug: offline evaluation shares the bug, so the gate passes it. On day 8 the pipeline
    is repaired and the lost labels resent; shadow evaluation, judging on the repaired
    labels, rejects the challenger for that segment. The team retrains the next morning;
    shadow evaluation finds the result better and starts a canary (a quarter of the
    merchants), whose guards complete the promotion after a day.
    """

    days: int = 15  # the last day shows the promoted model answering a whole day
    requests_per_day: int = 8_000
    batch_size: int = 100
    label_delay_days: int = 2
    seed: int = 11
    concept_drift_day: int = 0
    schema_change_day: int = 1
    messy_inputs_day: int = 1
    covariate_shift_day: int = 4
    label_bug_day: int = 5  # the label feed and the training extract lose the segment's frauds
    scheduled_retrain_day: int = 6  # the monthly retraining's cron fires
    label_fix_day: int = 8  # repaired: the extract is right again and the lost labels are resent
    biased_segment: tuple[str, str] = ("card_type", "prepaid")
    # Multiclass: the pipeline reads the fraud kind from the chargeback's reason code, and
    # the bug records every fraud of the segment as this kind. Recording them as no fraud,
    # as the binary story does, did not hurt a multiclass challenger: the fresh labelled rows'
    # prepaid frauds (labelled before the bug) taught it card testing there, and its macro F1
    # on prepaid cards rose (0.42 to 0.48 in the demo's world); a wrong kind drops it to 0.29.
    unmapped_kind: str = "card_testing"
    training_days: int = 45  # the extract: six weeks of labelled history
    training_rows: int = 30_000
    performance_days: float = 3.0  # realized performance over the last 3 labelled days: the story is short
    shadow_min_samples: int = 5_000  # most of a day of labelled shadow traffic before a decision
    # Shadow's promotion starts a canary: a quarter of the merchants get the new model for a
    # day (the same merchant always the same model), then its guards decide.
    canary_share: float = 0.25
    canary_key: str = "merchant_id"
    canary_hours: float = 0.002  # about 7 s of wall clock: the evaluation after one simulated day judges it

    @property
    def incidents(self) -> list[Incident]:
        return [
            Incident(
                "schema-change",
                "An upstream team adds `account_type` without telling anyone",
                self.schema_change_day,
                "monitoring",
                "schema event: unknown field account_type",
            ),
            Incident(
                "messy-inputs",
                "Messy inputs: numbers as strings, odd categories, nulls, out of range, bad JSON",
                self.messy_inputs_day,
                "service",
                "4xx for invalid requests; normalised and recorded otherwise",
            ),
            Incident(
                "covariate-shift",
                "Covariate shift: larger amounts, riskier devices, more online traffic",
                self.covariate_shift_day,
                "monitoring",
                "feature and prediction drift",
            ),
            Incident(
                "concept-drift",
                "Concept drift: fraud moves to card testing; precision falls once labels arrive",
                self.concept_drift_day,
                "monitoring",
                "realized performance below the floor, retraining event",
            ),
            Incident(
                "biased-challenger",
                "A retrained challenger better overall but worse for one segment",
                self.label_bug_day,
                "shadow-evaluation",
                "challenger rejected: worse on a segment",
            ),
            Incident(
                "better-challenger",
                "A retrained challenger that is genuinely better",
                self.label_fix_day,  # it follows the repair, after the rejection
                "shadow-evaluation",
                "challenger in a canary, then promoted; service serves it",
            ),
        ]

    def start(self) -> datetime:
        """Day 0 of the replay: the day after the training data ends."""
        return demo_end(self.training_days)

    def day_start(self, day: int) -> datetime:
        return self.start() + timedelta(days=day)

    def shift(self, day: int) -> TrafficShift:
        covariate = day >= self.covariate_shift_day
        concept = day >= self.concept_drift_day
        return TrafficShift(
            amount_scale=1.5 if covariate else 1.0,
            device_risk_shift=0.12 if covariate else 0.0,
            online_share=0.25 if covariate else None,
            fraud_pattern="card_testing" if concept else "baseline",
            settlement_backlog_hours=18.0 if concept else 0.0,
            extra_columns=("account_type",) if day >= self.schema_change_day else (),
        )


@dataclass
class World:
    """The scenario bound to a generator and a contract."""

    scenario: Scenario
    contract: Contract
    generator: TransactionGenerator = field(init=False)

    def __post_init__(self) -> None:
        self.generator = TransactionGenerator.for_contract(self.contract, self.scenario.seed)
        _ = self.time_column  # refuse a contract without one before anything starts
        if self.contract.is_multiclass and self.scenario.unmapped_kind not in self.contract.class_labels:
            raise ProjectError(
                f"the demo's label bug records frauds as `{self.scenario.unmapped_kind}`, "
                f"which is not one of the contract's labels {list(self.contract.class_labels)}"
            )

    @property
    def time_column(self) -> str:
        """The contract's timestamp column: the demo replays days of traffic by their event times."""
        column = self.contract.timestamp_column
        if column is None:
            raise ProjectError("the demo replays days of traffic by event time: its contract needs a timestamp column")
        return column

    def traffic(self, day: int) -> pd.DataFrame:
        """The day's transactions, with the target (hidden from the service) and any
        unannounced columns."""
        s = self.scenario
        frame = self.generator.sample(
            s.requests_per_day, s.day_start(day), days=1, shift=s.shift(day), id_prefix=f"d{day:03d}"
        )
        extra = [c for c in s.shift(day).extra_columns if c in frame.columns]
        return frame[[*self.contract.columns, *extra]]

    def records(self, frame: pd.DataFrame) -> list[dict[str, Any]]:
        """Request bodies' records: what a caller sends (no target), JSON-ready."""
        columns = [c for c in frame.columns if c != self.contract.target]
        sent = frame[columns].copy()
        sent[self.time_column] = sent[self.time_column].map(lambda t: t.isoformat())
        return [{str(k): _plain(v) for k, v in row.items() if not _missing(v)} for row in sent.to_dict("records")]

    def lost_label(self, value: ClassLabel) -> ClassLabel:
        """A label of the biased segment as the buggy pipeline delivers it: a fraud as no
        fraud (0), a multiclass fraud as the scenario's `unmapped_kind` (no fraud, the first
        class, stays itself), an amount halved."""
        if self.contract.is_multiclass:
            return value if value == self.contract.class_labels[0] else self.scenario.unmapped_kind
        return 0.0 if self.contract.is_classification else float(value) * 0.5

    def label_bug_event(self) -> str:
        """What the day the bug starts says happened."""
        column, level = self.scenario.biased_segment
        if self.contract.is_multiclass:
            lost = f"recording every fraud of {column}={level} as {self.scenario.unmapped_kind}"
        else:
            lost = f"losing the chargebacks of {column}={level}"
        return f"the label pipeline starts {lost} (feed and training extract)"

    def faulty_extract(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The training extract as an upstream bug delivers it: the biased segment's target
        is wrong (frauds lost for classification, values halved for regression)."""
        column, level = self.scenario.biased_segment
        broken = frame.copy()
        rows = broken[column].astype(str).str.lower() == level
        broken.loc[rows, self.contract.target] = broken.loc[rows, self.contract.target].map(self.lost_label)
        return broken


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class MessyRequest:
    """One request as a careless or changing upstream sends it, and what must happen."""

    kind: str
    body: bytes
    content_type: str
    expect: str  # "served" or "refused"


def messy_requests(record: dict[str, Any], contract: Contract) -> list[MessyRequest]:
    """Variants of a valid record that production callers really send."""

    def body(payload: object) -> bytes:
        return json.dumps({"records": payload}, ensure_ascii=False).encode()

    numeric = next(f.name for f in contract.features if f.type == "numeric" and not f.nullable)
    categorical = next(f for f in contract.features if f.type == "categorical" and f.categories)
    required = next(f.name for f in contract.features if not f.nullable)
    nullable = next((f.name for f in contract.features if f.nullable), None)
    bounded = next(f for f in contract.features if f.type == "numeric" and f.max is not None)
    assert categorical.categories is not None
    served = [
        ("number-as-string", {**record, numeric: str(record[numeric])}),
        ("odd-case-and-spaces", {**record, categorical.name: f"  {categorical.categories[0].upper()} "}),
        ("unseen-category", {**record, categorical.name: "teleportation"}),
        ("non-ascii-category", {**record, categorical.name: "épicerie-ünïcödé"}),
        ("out-of-range", {**record, bounded.name: float(bounded.max or 0) * 10 + 1}),
    ]
    if nullable is not None:
        served.append(("allowed-null", {**record, nullable: None}))
    refused: list[tuple[str, bytes, str]] = [
        ("missing-field", body({k: v for k, v in record.items() if k != required}), "application/json"),
        ("null-where-forbidden", body({**record, required: None}), "application/json"),
        ("wrong-type", body({**record, numeric: "twelve"}), "application/json"),
        (
            "non-finite-number",
            body({**record, numeric: "Infinity"}).replace(b'"Infinity"', b"Infinity"),
            "application/json",
        ),
        ("malformed-json", b'{"records": [{"amount": 12.5,', "application/json"),
        ("empty-body", b"", "application/json"),
        ("wrong-content-type", body(record), "text/plain"),
    ]
    return [MessyRequest(kind, body(payload), "application/json", "served") for kind, payload in served] + [
        MessyRequest(kind, raw, content_type, "refused") for kind, raw, content_type in refused
    ]
