"""What a target column asks for: the task and, for binary classification, which class is
the positive one. `contract draft` decides it from the values and says why in one line; what
it cannot tell apart it does not guess, it stops and asks for `--task`.

- Two distinct values: binary classification. 0/1 and booleans keep 1 (true) as the positive
  class and need no labels in the contract; any other pair (words, other numbers) is named in
  the contract's `labels`, the rarer value the positive class, or the one `--positive` names.
- A few distinct values (up to `contract_draft.max_classes`): multiclass classification, every
  class named in the contract's labels, the most common first.
- Numbers with many distinct values: regression (whole numbers from
  `contract_draft.min_regression_values` on, numbers with fractions above `max_classes`).
- Anything else stops with a one-line error asking for `--task`: whole numbers between the two
  limits, text with too many values for classes, a constant target, missing target values.
  `--task` overrides the reading.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

from ..errors import DataError
from ..settings import ContractDraftSettings
from .contract import ClassLabel, Task, plain_value, same_label

if TYPE_CHECKING:
    import pandas as pd

DraftTask = Literal["binary_classification", "multiclass_classification", "regression"]
TASKS: tuple[str, ...] = get_args(DraftTask)
Kind = Literal["boolean", "number", "text"]
SHOWN_VALUES = 6  # values listed with their counts in a message; more are counted, not listed


@dataclass(frozen=True)
class TargetReading:
    """The task a target asks for and its classes where the contract must name them: a binary
    target's (negative, positive) unless 0/1 or booleans with true positive, a multiclass
    target's every class; `reason` says why, in a line."""

    task: Task
    labels: tuple[ClassLabel, ...] | None
    reason: str


@dataclass(frozen=True)
class _Values:
    """A target's distinct values (as plain Python values, text without surrounding spaces)
    with their counts, in sorted order, and what kind of values they are."""

    name: str
    counts: dict[ClassLabel, int]
    kind: Kind
    whole: bool  # numbers: every value is a whole number
    missing: int
    rows: int

    @property
    def distinct(self) -> int:
        return len(self.counts)

    def listed(self) -> str:
        shown = [f"{value} {count:,}" for value, count in list(self.counts.items())[:SHOWN_VALUES]]
        more = self.distinct - SHOWN_VALUES
        return ", ".join(shown) + (f" and {more:,} more" if more > 0 else "")

    def span(self) -> str:
        numbers = [float(v) for v in self.counts]
        low, high = min(numbers), max(numbers)
        return f"{low:g} to {high:g}"


def _plain(value: object) -> ClassLabel:
    value = plain_value(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value).strip()


def _kind(values: list[ClassLabel]) -> Kind | None:
    if all(isinstance(v, bool) for v in values):
        return "boolean"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "number"
    if all(isinstance(v, str) for v in values):
        return "text"
    return None


def _values(frame: pd.DataFrame, target: str) -> _Values:
    column = frame[target]
    counted: Counter[ClassLabel] = Counter()
    for value, count in column.value_counts(dropna=True).items():
        if count:  # a categorical column also counts the levels no row has
            counted[_plain(value)] += int(count)
    kind = _kind(list(counted))
    if kind is None:
        kinds = sorted({type(v).__name__ for v in counted})
        raise DataError(f"target {target!r} mixes kinds of values ({', '.join(kinds)}): write every value one way")
    whole = kind == "number" and all(float(v).is_integer() for v in counted)
    if whole:  # 1.0 and 1 are one value, written as the whole number
        counted = Counter({int(v): c for v, c in counted.items()})
    ordered = dict(sorted(counted.items(), key=lambda item: item[0]))  # one kind: comparable
    return _Values(target, ordered, kind, whole, int(column.isna().sum()), len(column))


def _detected(values: _Values, limits: ContractDraftSettings) -> DraftTask:
    """The task the values ask for, or a DataError asking for --task where they do not tell."""
    name, listed, n = values.name, values.listed(), values.distinct
    if values.missing:
        raise DataError(
            f"target {name!r} is missing in {values.missing:,} of {values.rows:,} rows: fill or drop them, or pass "
            "--task to draft anyway (validation refuses rows without a target)"
        )
    if n == 1:
        raise DataError(
            f"target {name!r} has one value ({listed}): no task can be read from it; pass --task if other values "
            "will come"
        )
    if n == 2:
        return "binary_classification"
    if values.kind == "text":
        if n <= limits.max_classes:
            return "multiclass_classification"
        raise DataError(
            f"target {name!r} has {n:,} distinct text values ({listed}): too many to read as classes "
            f"(contract_draft.max_classes is {limits.max_classes}) and not numbers; check the column, or pass --task"
        )
    if values.whole and n <= limits.max_classes:
        return "multiclass_classification"
    if (values.whole and n >= limits.min_regression_values) or (not values.whole and n > limits.max_classes):
        return "regression"
    if values.whole:
        why = (
            f"more than contract_draft.max_classes ({limits.max_classes}) to be classes, fewer than "
            f"contract_draft.min_regression_values ({limits.min_regression_values}) to be sure of regression"
        )
    else:
        why = f"too few to be sure of regression (more than contract_draft.max_classes, {limits.max_classes})"
    raise DataError(
        f"target {name!r} has {n:,} distinct {'whole ' if values.whole else ''}numbers ({values.span()}): {why}; "
        "pass --task regression, or --task multiclass_classification if they are classes"
    )


def _multiclass(values: _Values, forced: bool) -> TargetReading:
    """Three or more classes, named in the contract's labels as the data writes them, the most
    common first (the model's class 0: usually the "nothing happened" class), ties in value order."""
    if values.distinct < 3:
        raise DataError(
            f"multiclass classification needs three or more classes of target {values.name!r}; it has "
            f"{values.distinct:,} ({values.listed()}): use binary_classification"
        )
    ordered = sorted(values.counts, key=lambda label: -values.counts[label])  # stable: value order breaks ties
    how = " (--task)" if forced else ""
    return TargetReading(
        "multiclass_classification",
        tuple(ordered),
        f"target {values.name!r}: {values.distinct} values ({values.listed()}): multiclass classification{how}, "
        "classes in the contract's labels, the most common first",
    )


def _positive(values: _Values, positive: str | None) -> tuple[ClassLabel, ClassLabel, str]:
    """The negative and the positive class, and why that one is positive."""
    name = values.name
    candidates = list(values.counts)
    if positive is not None:
        chosen = [v for v in candidates if same_label(v, positive)]
        if len(chosen) != 1:
            raise DataError(f"--positive {positive!r} is not a value of target {name!r} (values: {values.listed()})")
        pos = chosen[0]
        return next(v for v in candidates if v != pos), pos, "--positive"
    if values.kind == "boolean" or set(candidates) <= {0, 1}:
        pos = True if values.kind == "boolean" else 1
        neg = next((v for v in candidates if v != pos), False if values.kind == "boolean" else 0)
        kind = "boolean" if values.kind == "boolean" else "0/1"
        return neg, pos, f"as {kind} targets have it; --positive to choose"
    (first, first_count), (second, second_count) = values.counts.items()
    if first_count == second_count:
        raise DataError(
            f"target {name!r} has 2 values as common as each other ({values.listed()}): name the positive class "
            "with --positive"
        )
    pos, neg = (first, second) if first_count < second_count else (second, first)
    return neg, pos, "the rarer; --positive to choose"


def _binary(values: _Values, positive: str | None, forced: bool) -> TargetReading:
    name = values.name
    conventional = values.kind == "boolean" or set(values.counts) <= {0, 1}
    if values.distinct != 2 and not (values.distinct == 1 and conventional and positive is None):
        raise DataError(
            f"binary classification needs two values of target {name!r}; it has {values.distinct:,} ({values.listed()})"
        )
    neg, pos, why = _positive(values, positive)
    # 0/1 and booleans with the usual positive class are what a contract without labels means.
    unnamed = conventional and pos == 1
    how = " (--task)" if forced else ""
    reason = (
        f"target {name!r}: {values.distinct} value{'s' if values.distinct != 1 else ''} ({values.listed()}): "
        f"binary classification{how}, positive class {pos!r} ({why})"
    )
    return TargetReading("binary_classification", None if unnamed else (neg, pos), reason)


def _regression(values: _Values, forced: bool) -> TargetReading:
    if values.kind != "number":
        raise DataError(f"regression needs numbers; target {values.name!r} holds {values.kind} ({values.listed()})")
    how = " (--task)" if forced else ""
    return TargetReading(
        "regression",
        None,
        f"target {values.name!r}: {values.distinct:,} distinct numbers ({values.span()}): regression{how}",
    )


def read_target(
    frame: pd.DataFrame,
    target: str,
    task: str | None = None,
    positive: str | None = None,
    limits: ContractDraftSettings | None = None,
) -> TargetReading:
    """The task `target` asks for, read from its values (or `task`, when given), with the
    reason in one line; every case it cannot decide is a one-line DataError."""
    _check_arguments(frame, target, task)
    values = _values(frame, target)
    if not values.counts:
        raise DataError(f"target {target!r} has no values: every row lacks it")
    chosen = task or _detected(values, limits or ContractDraftSettings())
    if chosen != "binary_classification" and positive is not None:
        raise DataError(f"--positive names a class of a binary target; target {target!r} is read as {chosen}")
    if chosen == "multiclass_classification":
        reading = _multiclass(values, task is not None)
    elif chosen == "binary_classification":
        reading = _binary(values, positive, task is not None)
    else:
        reading = _regression(values, task is not None)
    if values.missing:  # only with --task: without it, missing values stop the draft
        rows = f"{values.missing:,} row{'s' if values.missing != 1 else ''}"
        lacking = f"; {rows} without a target: validation refuses them until filled or dropped"
        reading = TargetReading(reading.task, reading.labels, reading.reason + lacking)
    return reading


def _check_arguments(frame: pd.DataFrame, target: str, task: str | None) -> None:
    if frame.empty:
        raise DataError("the data has no rows: a contract needs examples to describe")
    if target not in frame.columns:
        raise DataError(f"target column {target!r} is not in the data (columns: {', '.join(map(str, frame.columns))})")
    if task is not None and task not in TASKS:
        raise DataError(f"--task must be one of {', '.join(TASKS)}, not {task!r}")
