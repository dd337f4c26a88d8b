"""Retraining data: the base training data plus the freshest labelled answers.

A retraining run learns from what the model meets now: the champion's answers
logged in the last `retraining.window_days` days that have a label by now, in
the contract's columns (the label as the target), on top of the base training
data. The fresh rows pass the same Great Expectations suite on their own first,
so a run whose fresh data breaks the contract stops with a reason that names
the prediction log, not a puzzle about the combined table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from ..core.contract import OUT_OF_RANGE, PATTERN_MISMATCH, UNSEEN_CATEGORY, Contract
from ..core.contract_derived import suite_path
from ..errors import ValidationFailed
from ..settings import Settings
from ..stores.prediction_log import read_window
from ..stores.prediction_log_schema import ANSWERED
from .tables import prepare_frame
from .validation import load_suite, validate_frame

log = logging.getLogger(__name__)
# Schema events that mean "served, but outside the contract": such rows are not learned from.
OFF_CONTRACT = frozenset({OUT_OF_RANGE, PATTERN_MISMATCH, UNSEEN_CATEGORY})


@dataclass(frozen=True)
class FreshRows:
    frame: pd.DataFrame  # in the contract's columns, prepared, not yet validated
    start: datetime
    end: datetime
    labelled: int  # labelled answers in the window
    off_contract: int  # of which left out as flagged by the service

    def describe(self) -> str:
        return (
            f"{len(self.frame)} labelled answers logged {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"
            + (f" ({self.off_contract} flagged off-contract by the service left out)" if self.off_contract else "")
        )


def _flagged(events: object) -> bool:
    return isinstance(events, list) and any(isinstance(e, dict) and e.get("kind") in OFF_CONTRACT for e in events)


def _numbers_written_as_text(column: pd.Series) -> pd.Series:
    """The log keeps values as received: a numeric column sent as text ("12.5") becomes
    numbers when every value parses; otherwise it is left for validation to report."""
    if pd.api.types.is_numeric_dtype(column):
        return column
    parsed = pd.to_numeric(column, errors="coerce")
    return parsed if parsed.notna().sum() == column.notna().sum() else column


def as_training_rows(logged: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Labelled log rows in the contract's columns: features as received, the label as the
    target and, where the contract names them, the caller's record id (else the request id)
    and the event time as sent (else as the log recorded it). Fields outside the contract
    are left out."""
    out = pd.DataFrame(index=logged.index)
    for feature in contract.features:
        column = logged[feature.name] if feature.name in logged.columns else pd.Series(None, index=logged.index)
        out[feature.name] = (
            _numbers_written_as_text(column) if feature.type in ("numeric", "integer") else column.astype(object)
        )
    if contract.id_column is not None:
        ids = logged["record_id"].where(logged["record_id"].notna(), logged["request_id"])
        out[contract.id_column] = ids.astype(str)
    if contract.timestamp_column is not None:
        occurred_at = pd.to_datetime(logged["occurred_at"])
        if contract.timestamp_column in logged.columns:
            sent = pd.to_datetime(logged[contract.timestamp_column], utc=True, errors="coerce").dt.tz_convert(None)
            out[contract.timestamp_column] = sent.where(sent.notna(), occurred_at)
        else:
            out[contract.timestamp_column] = occurred_at
    label = logged["label"].to_numpy(dtype=float)
    out[contract.target] = label.round().astype(int) if contract.is_classification else label
    if contract.labels is not None:  # the log keeps 0/1: the target as the data writes it
        named = [contract.labels[code] for code in out[contract.target]]
        out[contract.target] = pd.Series(named, index=out.index, dtype=object)
    return prepare_frame(out[contract.columns].reset_index(drop=True), contract)


def fresh_rows(settings: Settings, contract: Contract, now: datetime | None = None) -> FreshRows:
    """The most recent labelled champion answers in the window (at most `max_fresh_rows`)."""
    group = settings.retraining
    end = now or datetime.now(UTC)
    start = end - timedelta(days=group.window_days)
    logged = read_window(settings, start, end, roles=ANSWERED)
    labelled = logged[logged["label"].notna()] if not logged.empty else logged
    flagged = labelled["schema_events"].map(_flagged) if not labelled.empty else pd.Series(dtype=bool)
    kept = labelled[~flagged] if group.drop_flagged_rows and not labelled.empty else labelled
    kept = kept.sort_values("occurred_at", ascending=False).head(group.max_fresh_rows) if not kept.empty else kept
    frame = as_training_rows(kept, contract) if not kept.empty else pd.DataFrame(columns=contract.columns)
    off = int(flagged.sum()) if group.drop_flagged_rows else 0
    return FreshRows(frame, start, end, len(labelled), off)


def ensure_fresh_rows_valid(fresh: FreshRows, settings: Settings) -> None:
    report = validate_frame(fresh.frame, load_suite(suite_path(settings.gx_dir)))
    if not report.success:
        raise ValidationFailed(
            f"fresh rows from the prediction log ({fresh.describe()}) fail the contract: {report.summary()}"
        )


def read_fresh_rows(settings: Settings, contract: Contract, now: datetime | None = None) -> FreshRows | None:
    """The fresh labelled rows a retraining run adds, or None when it reads no prediction log."""
    return fresh_rows(settings, contract, now) if settings.retraining.use_prediction_log else None


def add_fresh_rows(base: pd.DataFrame, fresh: FreshRows | None, settings: Settings, contract: Contract) -> pd.DataFrame:
    """The base training data plus the validated fresh rows; where the contract has an id
    column, a record in both keeps its fresh label (labels that arrived later are the better
    truth). Without one, rows cannot be matched, and the fresh rows simply add."""
    if fresh is None:
        return base
    if fresh.frame.empty:
        log.info("no labelled answers in the prediction log since %s: training on the base data only", fresh.start)
        return base
    ensure_fresh_rows_valid(fresh, settings)
    log.info("adding %s to %d base rows", fresh.describe(), len(base))
    combined = pd.concat([base, fresh.frame], ignore_index=True)
    if contract.id_column is None:
        return combined
    return combined.drop_duplicates(subset=[contract.id_column], keep="last").reset_index(drop=True)
