"""What the service's endpoints answer, as pydantic models: they validate the answers and
write the OpenAPI document, so the document is what the service really sends.

The request side of /predict is derived from the contract (see `edge.Edge`).
"""

from __future__ import annotations

from typing import Any, Literal

from bentoml import IODescriptor
from pydantic import BaseModel, ConfigDict, Field

from ...core.contract import ClassLabel, Contract

EventKind = Literal["unknown_field", "unseen_category", "pattern_mismatch", "out_of_range", "normalised"]


class SchemaEvent(BaseModel):
    """Something unusual about a record that was served anyway; monitoring counts these."""

    kind: EventKind
    field: str
    value: Any = Field(None, description="The (normalised) value, for unseen categories and out-of-range numbers.")


class Prediction(BaseModel):
    request_id: str = Field(description="The id to send labels for (POST /feedback).")
    record_id: str | None = Field(description="The caller's own id for the record, echoed when sent.")
    score: float = Field(
        description=(
            "P(positive) for binary classification; the answered class's probability for multiclass; the "
            "prediction for regression."
        )
    )
    decision: bool | None = Field(
        description="score >= the model's stored threshold (binary classification); null otherwise."
    )
    label: ClassLabel | None = Field(
        None,
        description=(
            'The class answered as the contract\'s labels write it (e.g. "M" for the positive, "B" for the '
            "negative; multiclass: the most probable class); only in the answers of a contract that names its labels."
        ),
    )
    probabilities: dict[str, float] | None = Field(
        None,
        description="Multiclass only: each class's probability, keyed by the class as the contract's labels write it.",
    )
    model_version: str
    schema_events: list[SchemaEvent]


class PredictResponse(IODescriptor):
    model_name: str
    model_version: str
    predictions: list[Prediction] = Field(description="One per record, in the order sent.")


class LabelIn(BaseModel):
    """One true label for an answered request."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=64)
    label: float = Field(allow_inf_nan=False, description="0 or 1 for classification; the true value for regression.")


class NamedLabelIn(BaseModel):
    """One true label for an answered request, where the contract names its classes."""

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(min_length=1, max_length=64)
    label: ClassLabel = Field(
        description=(
            'The true class as the contract\'s labels write it (e.g. "M"); where those are text, also 1 for '
            "the positive class and 0 for the negative."
        )
    )


def label_model(contract: Contract) -> type[LabelIn] | type[NamedLabelIn]:
    """What one label sent to /feedback is: the class as the contract's labels write it where
    it names them, else a number (0 or 1 for classification)."""
    return NamedLabelIn if contract.labels is not None else LabelIn


class FeedbackResponse(IODescriptor):
    accepted: int = Field(description="Labels stored (a repeated request id replaces its earlier label).")
    unknown: list[str] = Field(description="Request ids the prediction log does not know: nothing was stored for them.")


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(description="Where: e.g. ['records', 3, 'amount'].")
    msg: str
    type: str
    expected: str | None = None


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx answer: a one-line reason and, for invalid input, each problem."""

    error: str
    detail: list[ErrorDetail] = Field(default_factory=list)


class ModelInfo(BaseModel):
    role: Literal["champion", "challenger", "canary"]
    alias: str
    name: str
    version: str
    source: Literal["registry", "cache"] = Field(
        description="cache: loaded from the local copy (registry unreachable)."
    )
    loaded_at: str
    trained_at: str | None
    run_id: str | None
    contract_hash: str
    threshold: float | None
    metrics: dict[str, float]


class CanaryInfo(ModelInfo):
    share: float = Field(description="The share of records the canary answers (the registered model's tag).")
    key_field: str | None = Field(description="The field whose value picks the model; null: each record at random.")


class RegistryInfo(BaseModel):
    uri: str
    reachable: bool | None = Field(
        description="null until the registry was first asked. While false the service keeps serving the models it has."
    )
    checked_at: str | None
    error: str | None = Field(description="Why the registry is unreachable now, one line; null while reachable.")
    last_error: str | None = Field(description="The last failure's reason, one line; kept after a recovery.")
    since: str | None = Field(description="When `reachable` last changed (ISO 8601, UTC); null: not asked yet.")


class ShadowInfo(BaseModel):
    enabled: bool
    queued: int
    submitted: int
    completed: int
    failed: int
    dropped: int = Field(description="Not scored: the shadow queue was full.")
    stale: int = Field(description="Not scored: waited longer than shadow_max_age_s.")
    last_error: str | None


class LogInfo(BaseModel):
    enabled: bool
    url: str | None = Field(description="Without its password.")
    schema_version: int | None
    writable: bool = Field(
        description=(
            "Whether answers can be logged now (false while disabled). While false every /predict is a 503 "
            "and /readyz fails."
        )
    )
    last_error: str | None = Field(description="The last failed write's reason, one line; kept after a recovery.")
    since: str | None = Field(description="When `writable` last changed (ISO 8601, UTC); null: since the start.")


class Limits(BaseModel):
    max_records: int
    max_body_bytes: int
    reject_unknown_fields: bool
    api_key_required: bool


class Metadata(IODescriptor):
    model_name: str
    model_version: str | None = Field(description="The champion's version; null when no model is loaded.")
    alias: str
    trained_at: str | None
    contract_hash: str = Field(description="The contract this service checks requests against.")
    metrics: dict[str, float] = Field(description="The champion's holdout metrics.")
    shadowing: bool = Field(description="A challenger scores live traffic in the shadow.")
    ready: bool
    champion: ModelInfo | None
    challenger: ModelInfo | None
    canary: CanaryInfo | None = Field(
        None, description="During a canary: the version answering a share of the records, and that share."
    )
    canary_failures: int = Field(
        0, description="Requests whose canary records the champion answered because the canary failed to score them."
    )
    registry: RegistryInfo
    cache_dir: str
    reload_interval_s: float
    reloads: int
    refused: dict[str, str] = Field(description="Versions this runtime refused to load, with the reason.")
    shadow: ShadowInfo
    prediction_log: LogInfo
    limits: Limits
