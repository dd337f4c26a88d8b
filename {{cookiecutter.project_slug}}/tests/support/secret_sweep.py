"""Sweeping for leaked secrets: fake values for the secret settings, every form a leak of one
could take, and the places to look (files, text, SQL tables, the MLflow registry, the Prefect
server's records, an S3 bucket).

A value is looked for as written, URL-encoded and base64-encoded (standard and URL-safe, at
each of the three byte alignments it can sit at inside a longer encoded string, such as a
Basic-auth header): a leak through an encoded header or a quoted URL is still a leak. A leak
is reported by the setting's name and the place only, never with the text around it.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import sqlalchemy as sa

# Below this an encoded fragment could match by chance; every fake value gives more.
MIN_NEEDLE = 16


@dataclass(frozen=True)
class Secret:
    """A secret the test set: the setting (or variable) that holds it, and the part of its
    value that must never show (a URL's password or token part, a key)."""

    setting: str
    value: str = field(repr=False)  # a failing test prints its locals: name a leak, never show it


def fake(kind: str) -> str:
    """A distinctive fake secret, new in every run (so no earlier run's files can match), of
    letters, digits and dashes only: JSON, HTML and URL quoting leave it as it is, so a leak
    through any of them shows it verbatim."""
    return f"sekret-{kind}-{uuid.uuid4().hex[:16]}"


def _aligned(encode: Callable[[bytes], bytes], raw: bytes, shift: int) -> bytes:
    """The part of `encode(raw)` that stays the same wherever `raw` sits in a longer input,
    for inputs that put `shift` bytes (mod 3) before it: whole base64 groups of `raw`'s bytes."""
    encoded = encode(b"\0" * shift + raw)
    return encoded[4 if shift else 0 : 4 * ((shift + len(raw)) // 3)]


def forms(value: str) -> dict[bytes, str]:
    """Every form of `value` to look for, each with its name."""
    raw = value.encode()
    found = {raw: "as written"}
    found.setdefault(quote(value, safe="").encode(), "URL-encoded")
    found.setdefault(quote_plus(value).encode(), "URL-encoded")
    for shift in range(3):
        found.setdefault(_aligned(base64.b64encode, raw, shift), "base64")
        found.setdefault(_aligned(base64.urlsafe_b64encode, raw, shift), "base64")
    assert all(len(needle) >= MIN_NEEDLE for needle in found), f"a fake secret is too short to find: {len(raw)} bytes"
    return found


@dataclass
class Sweep:
    """Looks for every secret in everything it is given; `leaks` names each finding by setting,
    form and place; `swept` counts the places looked at, by kind."""

    secrets: Sequence[Secret] = field(repr=False)
    leaks: list[str] = field(default_factory=list)
    swept: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._needles = [
            (needle, secret.setting, form) for secret in self.secrets for needle, form in forms(secret.value).items()
        ]

    def content(self, kind: str, where: str, content: bytes | str, allowed: Iterable[str] = ()) -> None:
        """Look for every secret (except the settings in `allowed`, which this place may rightly
        hold) in one place's content."""
        data = content.encode() if isinstance(content, str) else content
        self.swept[kind] += 1
        permitted = set(allowed)
        for needle, setting, form in self._needles:
            if setting not in permitted and needle in data:
                self.leaks.append(f"{setting} ({form}) in {kind}: {where}")

    def files(self, kind: str, folder: Path) -> None:
        """Every byte of every file under `folder` (databases, logs, reports, artifacts)."""
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                self.content(kind, str(path), path.read_bytes())

    def report(self) -> str:
        leaks = "\n".join(f"  {leak}" for leak in dict.fromkeys(self.leaks))
        return f"secrets leaked:\n{leaks}\n(places swept: {dict(self.swept)})"


def postgres_tables(sweep: Sweep, url: str, schema: str | None) -> None:
    """The rows of every table of a PostgreSQL schema (public when None), each table as text."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            names = sa.inspect(connection).get_table_names(schema=schema)
            for name in names:
                qualified = f'"{schema}"."{name}"' if schema else f'"{name}"'
                query = sa.text(f"select t::text from {qualified} as t")  # noqa: S608 - names from the catalog
                rows = connection.execute(query).scalars()
                sweep.content("PostgreSQL table", f"{schema or 'public'}.{name}", "\n".join(rows))
    finally:
        engine.dispose()


def mlflow_records(sweep: Sweep, client: Any) -> None:
    """What MLflow keeps besides artifacts: every experiment, run (params, tags, metrics' names),
    registered model and model version (tags, aliases, description, source), read through the
    client."""
    kind = "MLflow record"
    for experiment in client.search_experiments():
        sweep.content(kind, f"experiment {experiment.name}", repr(dict(experiment)))
        for run in client.search_runs([experiment.experiment_id], max_results=1000):
            data = {"params": run.data.params, "tags": run.data.tags, "metrics": sorted(run.data.metrics)}
            sweep.content(kind, f"run {run.info.run_id} params and tags", json.dumps(data))
            sweep.content(kind, f"run {run.info.run_id} info", repr(dict(run.info)))
    for model in client.search_registered_models():
        sweep.content(kind, f"registered model {model.name}", repr(dict(model)))
        for version in client.search_model_versions(f"name='{model.name}'"):
            sweep.content(kind, f"model version {model.name} {version.version}", repr(dict(version)))


def _pages(read: Callable[[int], Sequence[Any]], size: int = 200) -> list[Any]:
    found: list[Any] = []
    while True:
        page = read(len(found))
        found += page
        if len(page) < size:
            return found


def prefect_records(sweep: Sweep, api_url: str, since: datetime) -> None:
    """What the Prefect server keeps of the runs since `since`: flow runs (parameters, states),
    task runs, their logs and artifacts, events, saved blocks (secrets included) and variables,
    read through its API."""
    import httpx
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterStartTime,
        LogFilter,
        LogFilterFlowRunId,
    )

    kind = "Prefect record"
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since)))
        ids = [run.id for run in runs]
        for run in runs:
            sweep.content(kind, f"flow run {run.name} ({run.id})", run.model_dump_json())
        by_run = FlowRunFilter(id={"any_": ids})
        for task_run in _pages(lambda n: client.read_task_runs(flow_run_filter=by_run, limit=200, offset=n)):
            sweep.content(kind, f"task run {task_run.name}", task_run.model_dump_json())
        log_filter = LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids))
        for log in _pages(lambda n: client.read_logs(log_filter=log_filter, limit=200, offset=n)):
            sweep.content(kind, f"log of flow run {log.flow_run_id}", log.model_dump_json())
        artifact_filter = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
        for artifact in client.read_artifacts(artifact_filter=artifact_filter):
            sweep.content(kind, f"artifact {artifact.key} ({artifact.id})", artifact.model_dump_json())
        for block in client.read_block_documents(include_secrets=True):
            sweep.content(kind, f"block {block.name}", block.model_dump_json())
        for variable in client.read_variables():
            sweep.content(kind, f"variable {variable.name}", variable.model_dump_json())
    body: dict[str, Any] = {"filter": {"occurred": {"since": since.isoformat()}}, "limit": 50}
    answer = httpx.post(f"{api_url}/events/filter", json=body, timeout=30).raise_for_status().json()
    while True:
        for event in answer["events"]:
            sweep.content(kind, f"event {event['event']} ({event['id']})", json.dumps(event))
        if not answer.get("next_page"):
            return
        answer = httpx.get(answer["next_page"], timeout=30).raise_for_status().json()


def bucket_objects(sweep: Sweep, endpoint: str, bucket: str) -> None:
    """Every object in an S3 bucket (MLflow's artifacts there: bundles, model cards, manifests)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            sweep.content("S3 object", f"s3://{bucket}/{item['Key']}", body)
