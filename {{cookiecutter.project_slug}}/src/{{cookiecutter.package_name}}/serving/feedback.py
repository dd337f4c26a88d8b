"""Labels sent to /feedback: read, checked and turned into the values the prediction log keeps.

A request is refused whole (400, each bad label named) rather than stored in part: the
caller fixes and resends it, and nothing is half-recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from ..core.contract import ClassLabel, Contract
from .edge import Problem, Rejected
from .http.api_models import LabelIn, NamedLabelIn


class Labels:
    """The /feedback body as the contract reads it: 0/1 (or the contract's labels) for
    classification, the true value for regression."""

    def __init__(self, contract: Contract, max_records: int) -> None:
        self.contract = contract
        self.max_records = max_records
        self._adapter: TypeAdapter[list[LabelIn]] | TypeAdapter[list[NamedLabelIn]] = (
            TypeAdapter(list[LabelIn]) if contract.labels is None else TypeAdapter(list[NamedLabelIn])
        )

    def parse(self, labels: Any) -> list[LabelIn] | list[NamedLabelIn]:
        """One label object or a non-empty list of them, at most `max_records`."""
        items = [labels] if isinstance(labels, dict) else labels
        if not isinstance(items, list) or not items:
            raise Rejected(
                400,
                "`labels` must be one label object or a non-empty list of them",
                [Problem(("labels",), "Input should be an object or a non-empty array", "model_type")],
            )
        limit = self.max_records
        if len(items) > limit:
            raise Rejected(413, f"{len(items)} labels in one request; the limit is {limit}")
        try:
            parsed = self._adapter.validate_python(items)
        except ValidationError as err:
            problems = [
                Problem(("labels", *e["loc"]), e["msg"], e["type"])
                for e in err.errors(include_url=False, include_context=False, include_input=False)
            ]
            listed = "; ".join(f"{p.where}: {p.msg}" for p in problems[:5])
            raise Rejected(400, f"{len(problems)} problem(s) in the labels: {listed}", problems[:100]) from None
        return parsed

    def values(self, parsed: Sequence[LabelIn | NamedLabelIn]) -> list[float]:
        """The labels as the log keeps them: the true value for regression, the class's index
        for classification (0 or 1, negative or positive, for binary), the contract's labels
        mapped by `Contract.label_code`.
        One label that is neither class refuses the request, naming each such label."""
        contract = self.contract
        if not contract.is_classification:
            return [float(item.label) for item in parsed]
        if contract.labels is None:
            codes: list[int | None] = [int(item.label) if item.label in (0.0, 1.0) else None for item in parsed]
            expected, refusal = "0 or 1", "neither 0 nor 1"
        else:
            codes = [contract.label_code(item.label, codes=True) for item in parsed]
            expected, refusal = _classes_text(contract.labels)
        wrong = [
            Problem(("labels", i, "label"), f"a classification label is {expected}", "value_error", expected)
            for i, code in enumerate(codes)
            if code is None
        ]
        if wrong:
            raise Rejected(400, f"{len(wrong)} label(s) are {refusal}", wrong[:100])
        return [float(code) for code in codes if code is not None]


def _classes_text(labels: tuple[ClassLabel, ...]) -> tuple[str, str]:
    """What a label must be, and what a wrong one is not, in words: `"B" or "M" (or 0 or 1)`
    for two classes; `one of "a", "b", "c" (or 0 to 2)` for more. Where the labels are text,
    their indexes are accepted too (`Contract.label_code`)."""
    shown = [orjson.dumps(label).decode() for label in labels]
    numbered = all(isinstance(label, str) for label in labels)
    if len(shown) == 2:
        return (
            f"{shown[0]} or {shown[1]}" + (" (or 0 or 1)" if numbered else ""),
            f"neither {shown[0]} nor {shown[1]}" + (" (nor 0 or 1)" if numbered else ""),
        )
    indexes = f" (or 0 to {len(shown) - 1})" if numbered else ""
    return f"one of {', '.join(shown)}{indexes}", f"none of {', '.join(shown)}{indexes}"
