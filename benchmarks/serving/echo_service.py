"""The floor for any BentoML service: an endpoint that returns what it was sent.

Same body as the real /predict (`{"records": ...}`), no model, no validation beyond
JSON. BENCH_WORKERS sets the worker count; BENCH_BENTOML_DEFAULTS=0 applies the
project's BentoML settings (access log off, tracing middleware skipped) instead of
BentoML's defaults.
"""

from __future__ import annotations

import os
from typing import Any

import bentoml

WORKERS = int(os.environ.get("BENCH_WORKERS", "1"))
OPTIONS: dict[str, Any] = (
    {}
    if os.environ.get("BENCH_BENTOML_DEFAULTS", "1") == "1"
    else {"logging": {"access": {"enabled": False}}, "tracing": {"excluded_urls": ["/predict"]}}
)


# mypy takes `bentoml.service` for the _bentoml_sdk.service subpackage of the same name.
@bentoml.service(name="echo", workers=WORKERS, **OPTIONS)  # type: ignore[operator]
class Echo:
    @bentoml.api(route="/predict")
    def predict(self, records: Any) -> Any:
        return records
