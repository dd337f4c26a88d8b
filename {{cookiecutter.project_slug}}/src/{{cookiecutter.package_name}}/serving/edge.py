"""The contract at the service's edge: what a request may hold, and what it hears when it does not.

Records are checked against the request model derived from contract.yaml. What
breaks the contract (a missing field, a wrong type, a null where none is
allowed, a non-finite number) is refused, naming every offending field and what
it expects. What is only unusual is served and recorded as a schema event for
monitoring to count: an unknown field (unless `reject_unknown_fields`), an
unseen category, a value outside the contract's range or pattern, stray
whitespace or case in a categorical (normalised where the contract says so).
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..core.contract import (
    NORMALISED,
    OUT_OF_RANGE,
    PATTERN_MISMATCH,
    UNKNOWN_FIELD,
    UNSEEN_CATEGORY,
    Contract,
    Feature,
    clean_category,
)
from ..core.contract_derived import request_model
from ..errors import ProjectError

# An answer lists at most this many problems: enough to fix a request, bounded in size.
MAX_PROBLEMS = 100

Event = dict[str, Any]


@dataclass(frozen=True)
class Problem:
    """One reason a request is refused, in the shape pydantic (and BentoML) use."""

    loc: tuple[str | int, ...]
    msg: str
    type: str
    expected: str | None = None

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"loc": list(self.loc), "msg": self.msg, "type": self.type}
        if self.expected is not None:
            found["expected"] = self.expected
        return found

    @property
    def where(self) -> str:
        text = ""
        for part in self.loc:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text


class Rejected(ProjectError):
    """The request cannot be served: `status` is the HTTP status, `problems` name each offending field."""

    def __init__(self, status: int, error: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.problems = list(problems)

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "detail": [p.as_dict() for p in self.problems]}


@dataclass(frozen=True)
class CheckedRecords:
    """Records that may be served: as received (for the log), as the model reads them (column
    by column, in the contract's order), and what was unusual about each."""

    received: list[dict[str, Any]]
    columns: dict[str, list[Any]]
    record_ids: list[str | None]
    events: list[list[Event]] = field(default_factory=list)
    # When each event happened (the contract's timestamp column, naive UTC); None when not sent.
    event_times: list[datetime | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.received)

    @functools.cached_property
    def features(self) -> list[dict[str, Any]]:
        """The records as the model reads them, one dict each (the service itself reads `columns`)."""
        names = list(self.columns)
        return [dict(zip(names, row, strict=True)) for row in zip(*self.columns.values(), strict=True)]


def expected_text(feature: Feature) -> str:
    text = {
        "numeric": "a finite number",
        "integer": "a whole number",
        "boolean": "true or false",
        "categorical": "a string of at most 256 characters",
    }[feature.type]
    return f"{text} or null" if feature.nullable else text


def parse_event_time(value: object) -> datetime | None:
    """An ISO 8601 timestamp as naive UTC (a value without a zone is taken as UTC); None
    for anything else."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo is not None else moment


def _categorical(
    name: str,
    column: list[str | None],
    allowed: frozenset[str] | None,
    pattern: re.Pattern[str] | None,
    normalize: bool,
    events: list[list[Event]],
) -> list[str | None]:
    """A categorical column as the model reads it (normalised when the contract says so),
    adding an event to each record whose value was normalised, unseen or off its pattern."""
    distinct = set(column)
    distinct.discard(None)
    if normalize:
        cleaning = {v: clean_category(v) for v in distinct if v is not None}
        changed = {v for v, c in cleaning.items() if v != c}
        if changed:
            for i in [i for i, v in enumerate(column) if v in changed]:
                events[i].append({"kind": NORMALISED, "field": name})
            column = [cleaning[v] if v in changed else v for v in column]
            distinct = set(cleaning.values())
    if allowed is not None:
        odd, event = distinct - allowed, UNSEEN_CATEGORY
    elif pattern is not None:
        odd, event = {c for c in distinct if c is not None and not pattern.search(c)}, PATTERN_MISMATCH
    else:
        return column
    for i in [i for i, c in enumerate(column) if c in odd] if odd else []:
        events[i].append({"kind": event, "field": name, "value": column[i]})
    return column


def _in_range(name: str, column: list[Any], low: float | None, high: float | None, events: list[list[Event]]) -> None:
    """Add an event to each record whose value lies outside [low, high]."""
    lowest = -math.inf if low is None else low
    highest = math.inf if high is None else high
    present = column if None not in column else [v for v in column if v is not None]
    if present and not (lowest <= min(present) and max(present) <= highest):
        for i in [i for i, v in enumerate(column) if v is not None and not lowest <= v <= highest]:
            events[i].append({"kind": OUT_OF_RANGE, "field": name, "value": column[i]})


class Edge:
    """Checks one request's records against the contract; build once per process."""

    def __init__(self, contract: Contract, *, max_records: int, reject_unknown_fields: bool = False) -> None:
        self.contract = contract
        self.max_records = max_records
        self.reject_unknown_fields = reject_unknown_fields
        self.record_model: type[BaseModel] = request_model(contract)
        self._adapter: TypeAdapter[list[BaseModel]] = TypeAdapter(list[self.record_model])  # type: ignore[name-defined]
        self._expected = {f.name: expected_text(f) for f in contract.features}
        if contract.id_column is not None:
            self._expected[contract.id_column] = "a string of at most 128 characters, or null"
        if contract.timestamp_column is not None:
            self._expected[contract.timestamp_column] = "an ISO 8601 timestamp string, or null"
        # A record's values in this order, read for all records at once (operator.itemgetter, in C):
        # the caller's id and the event time where the contract names them, then the features.
        self._keys = [c is not None for c in (contract.id_column, contract.timestamp_column)]
        read = [*contract.row_keys, *contract.feature_names]
        self._read = operator.itemgetter(*read) if len(read) > 1 else lambda values: (values[read[0]],)
        self._checks = [
            (
                f.name,
                f.type,
                f.min,
                f.max,
                frozenset(f.allowed_categories) if f.allowed_categories is not None else None,
                re.compile(f.pattern) if f.pattern is not None else None,
                f.normalize,
            )
            for f in contract.features
        ]

    def record_json_schema(self) -> dict[str, Any]:
        """One record, as the OpenAPI document shows it."""
        schema = self.record_model.model_json_schema()
        schema["additionalProperties"] = not self.reject_unknown_fields
        return schema

    def records_json_schema(self) -> dict[str, Any]:
        record = self.record_json_schema()
        return {
            "oneOf": [
                record,
                {"type": "array", "items": record, "minItems": 1, "maxItems": self.max_records},
            ],
            "description": f"One record, or a list of 1 to {self.max_records} records.",
        }

    def check(self, records: Any) -> CheckedRecords:
        """Accept one record (a JSON object) or a list of them; raise Rejected with every problem."""
        single = isinstance(records, dict)
        items: list[Any] = [records] if single else records
        if not isinstance(items, list):
            raise Rejected(
                400,
                "`records` must be one record (a JSON object) or a list of them",
                [Problem(("records",), "Input should be an object or an array", "model_type")],
            )
        if not items:
            raise Rejected(
                400,
                "`records` is an empty list: send at least one record",
                [Problem(("records",), "List should have at least 1 item", "too_short")],
            )
        if len(items) > self.max_records:
            raise Rejected(
                413,
                f"{len(items)} records in one request; the limit is {self.max_records}",
                [Problem(("records",), f"List should have at most {self.max_records} items", "too_long")],
            )
        try:
            models = self._adapter.validate_python(items)
        except ValidationError as err:
            raise self._rejection(err, len(items), single) from None
        return self._inspect(items, models, single)

    def _where(self, index: int, single: bool, name: str | None = None) -> tuple[str | int, ...]:
        base: tuple[str | int, ...] = ("records",) if single else ("records", index)
        return (*base, name) if name is not None else base

    def _rejection(self, err: ValidationError, count: int, single: bool) -> Rejected:
        problems = []
        bad_records = set()
        for error in err.errors(include_url=False, include_context=False, include_input=False):
            loc = error["loc"]
            index = loc[0] if loc and isinstance(loc[0], int) else 0
            name = str(loc[1]) if len(loc) > 1 else None
            bad_records.add(index)
            expected = self._expected.get(name) if name is not None else "a JSON object"
            problems.append(Problem(self._where(index, single, name), error["msg"], error["type"], expected))
        return self._refusal(problems, len(bad_records), count)

    def _refusal(self, problems: list[Problem], bad: int, count: int) -> Rejected:
        listed = "; ".join(f"{p.where}: {p.msg}" for p in problems[:5])
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        return Rejected(
            400,
            f"{len(problems)} problem(s) in {bad} of {count} record(s) against the contract: {listed}{more}",
            problems[:MAX_PROBLEMS],
        )

    def _inspect(self, items: list[dict[str, Any]], models: list[BaseModel], single: bool) -> CheckedRecords:
        values = [model.__dict__ for model in models]
        events: list[list[Event]] = [[] for _ in models]
        self._unknown_fields(models, events, single)
        table = [list(column) for column in zip(*map(self._read, values), strict=True)]
        # Without an id column the service's request ids key the answers; without a timestamp
        # column the event time is when the service logs the answer.
        record_ids = table.pop(0) if self._keys[0] else [None] * len(values)
        sent_times = table.pop(0) if self._keys[1] else [None] * len(values)
        # Column by column, and per distinct value where a column repeats few (categoricals):
        # most values need no event, and finding that out in C beats a Python loop per value.
        columns: dict[str, list[Any]] = {}
        for (name, kind, low, high, allowed, pattern, normalize), column in zip(self._checks, table, strict=True):
            if kind == "categorical":
                columns[name] = _categorical(name, column, allowed, pattern, normalize, events)
            else:
                if kind != "boolean" and (low is not None or high is not None):
                    _in_range(name, column, low, high, events)
                columns[name] = column
        event_times = self._event_times(sent_times, single)
        return CheckedRecords(
            received=items, columns=columns, record_ids=record_ids, events=events, event_times=event_times
        )

    def _event_times(self, sent: list[str | None], single: bool) -> list[datetime | None]:
        """Parse the records' event times; a value that is not ISO 8601 refuses the request.
        Without a timestamp column there are none: the time the answer is logged stands in."""
        column = self.contract.timestamp_column
        if column is None:
            return [None] * len(sent)
        parsed: list[datetime | None] = []
        problems = []
        for index, value in enumerate(sent):
            moment = parse_event_time(value)
            if value is not None and moment is None:
                problems.append(
                    Problem(
                        self._where(index, single, column),
                        "Input should be an ISO 8601 timestamp",
                        "datetime_parsing",
                        self._expected[column],
                    )
                )
            parsed.append(moment)
        if problems:
            raise self._refusal(problems, len(problems), len(sent))
        return parsed

    def _unknown_fields(self, models: list[BaseModel], events: list[list[Event]], single: bool) -> None:
        """Fields the contract does not know: an event each, or a refusal naming them all."""
        unknown: list[Problem] = []
        for index, model in enumerate(models):
            for name in model.__pydantic_extra__ or ():
                events[index].append({"kind": UNKNOWN_FIELD, "field": name})
                if self.reject_unknown_fields:
                    unknown.append(
                        Problem(self._where(index, single, name), "the contract has no such field", "extra_forbidden")
                    )
        if unknown:
            bad = len({p.loc[1] if not single else 0 for p in unknown})
            raise self._refusal(unknown, bad, len(models))
