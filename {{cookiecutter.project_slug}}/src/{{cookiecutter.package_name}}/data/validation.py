"""Great Expectations: run the suite derived from the contract against a table.

The suite is the checked-in JSON in great_expectations/expectations/, generated
from contract.yaml (`contract sync`). It runs in an ephemeral context so that a
validation never writes into the checked-in folder. Importing Great
Expectations costs seconds: only training and data checks import this module,
never the service.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ContractError, ValidationFailed

SAMPLE_VALUES = 5


@dataclass(frozen=True)
class Failure:
    expectation: str
    column: str | None
    unexpected_count: int | None
    samples: list[Any] = field(default_factory=list)
    detail: str = ""

    def describe(self) -> str:
        where = f"column {self.column!r}" if self.column else "table"
        text = f"{self.expectation} failed for {where}"
        if self.unexpected_count:
            text += f" ({self.unexpected_count} rows"
            text += f", e.g. {', '.join(map(repr, self.samples))})" if self.samples else ")"
        if self.detail:
            text += f": {self.detail}"
        return text


@dataclass(frozen=True)
class Report:
    rows: int
    evaluated: int
    failures: list[Failure]

    @property
    def success(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        if self.success:
            return f"all {self.evaluated} expectations passed on {self.rows} rows"
        return f"{len(self.failures)} of {self.evaluated} expectations failed on {self.rows} rows: " + "; ".join(
            f.describe() for f in self.failures
        )


def load_suite(path: Path) -> dict[str, Any]:
    try:
        suite: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContractError(f"no expectation suite at {path}: run the `contract sync` command") from None
    except json.JSONDecodeError as err:
        raise ContractError(f"{path} is not valid JSON: {err}") from None
    return suite


def _plain(value: Any) -> Any:
    """JSON-friendly sample values (numpy scalars, timestamps)."""
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _failure(result: Any) -> Failure:
    config = result.expectation_config
    outcome = result.result or {}
    detail = ""
    if result.exception_info and result.exception_info.get("raised_exception"):
        detail = str(result.exception_info.get("exception_message", "")).splitlines()[0][:200]
    mismatched = (outcome.get("details") or {}).get("mismatched")
    if mismatched:
        parts = []
        if mismatched.get("unexpected"):
            parts.append(f"unexpected columns {sorted(mismatched['unexpected'])}")
        if mismatched.get("missing"):
            parts.append(f"missing columns {sorted(mismatched['missing'])}")
        detail = ", ".join(parts)
    elif "observed_value" in outcome and not outcome.get("unexpected_count"):
        expected = config.kwargs.get("type_list") or config.kwargs.get("value_set")
        detail = f"observed {outcome['observed_value']!r}" + (f", expected one of {expected}" if expected else "")
    samples = [_plain(v) for v in (outcome.get("partial_unexpected_list") or [])[:SAMPLE_VALUES]]
    return Failure(
        expectation=config.type,
        column=config.kwargs.get("column"),
        unexpected_count=outcome.get("unexpected_count"),
        samples=samples,
        detail=detail,
    )


def validate_frame(frame: pd.DataFrame, suite: dict[str, Any]) -> Report:
    """Run every expectation of `suite` on `frame` (already prepared, see data.prepare_frame)."""
    definition = _definition(json.dumps(suite, sort_keys=True))
    result = definition.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "SUMMARY"})
    failures = [_failure(r) for r in result.results if not r.success]
    return Report(rows=len(frame), evaluated=len(result.results), failures=failures)


@functools.lru_cache(maxsize=4)
def _definition(suite_text: str) -> Any:
    """The suite's GX validation definition, built once per process and suite: building the
    context costs about a second, and a Dask worker validates partition after partition."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    suite = json.loads(suite_text)
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    expectations = [
        gx.expectations.registry.get_expectation_impl(e["type"])(**e["kwargs"]) for e in suite["expectations"]
    ]
    gx_suite = context.suites.add(gx.ExpectationSuite(name=suite["name"], expectations=expectations))
    batch = (
        context.data_sources.add_pandas("frame")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
    )
    return context.validation_definitions.add(gx.ValidationDefinition(data=batch, suite=gx_suite, name="contract"))


def ensure_valid(report: Report) -> None:
    if not report.success:
        raise ValidationFailed(f"data failed validation: {report.summary()}")
