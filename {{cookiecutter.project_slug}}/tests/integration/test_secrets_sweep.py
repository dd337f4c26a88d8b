"""No secret leaks: training, serving and monitoring run for real with a fake value in every
secret setting, then every place they wrote is swept for those values.

The stack is the production one, by settings alone: MLflow and the prediction log (with the
monitoring history beside it) on PostgreSQL behind URLs with passwords, MLflow's artifacts on
an S3-compatible store (moto) reached with access keys, the service behind API keys (one
setting, a rotated list and a key file), alerts to a webhook with a token (answering 503, so
the failure path runs too) and by email through an SMTP server that asks for a login. The Slack
webhook URL is set but not delivered to (a delivery needs hooks.slack.com).

Swept afterwards: every byte under the state folder and the test's other folders (logs,
reports, the model cache, BentoML's home), the Prefect server's database folder, the service's
output, this process's output and log records (every logger at INFO), the command line's
output, the service's answers, the alert messages, the processes' command lines, every table
of both PostgreSQL databases, every S3 object, and through their APIs MLflow's runs, models and
versions and Prefect's flow runs, task runs, logs, artifacts, events, blocks and variables.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli.app import app
from {{ cookiecutter.package_name }}.core.contract import Contract
from {{ cookiecutter.package_name }}.data.demo_world import TrafficShift
from {{ cookiecutter.package_name }}.demo.processes import family
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, get_settings
from {{ cookiecutter.package_name }}.stores import registry
from tests.support.monitoring import LIVE_START, HttpReceiver, Mailbox, http_receiver, records, smtp_server, traffic
from tests.support.postgres import scratch_database, scratch_schema
from tests.support.project import PROJECT_ROOT, TEST_ROWS
from tests.support.secret_sweep import (
    Secret,
    Sweep,
    bucket_objects,
    fake,
    mlflow_records,
    postgres_tables,
    prefect_records,
)
from tests.support.service import running_server

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_server")]

DAY = LIVE_START + timedelta(days=2)  # the monitored window: a day of changed traffic
UPSTREAM_CHANGE = TrafficShift(
    amount_scale=1.8, device_risk_shift=0.2, online_share=0.4, extra_columns=("account_type",)
)
ROWS, PER_REQUEST = 1500, 100
BUCKET = "models"


@dataclass
class Stack:
    """Where the secrets went: the settings' environment, and the receivers and stores to check."""

    # (not in the repr: a failing test prints its fixtures, and a leak is named, never shown)
    secrets: dict[str, str] = field(repr=False)  # variable -> the part that must never show
    refused_key: str = field(repr=False)  # a key no setting holds, sent by a client: it must not show either
    folders: dict[str, Path]  # what to sweep file by file, by kind
    mlflow_url: str  # the databases, reached without the fake password (trust authentication)
    log_url: str
    log_schema: str
    s3_endpoint: str
    webhook: HttpReceiver = field(repr=False)
    mailbox: Mailbox = field(repr=False)


@contextmanager
def s3_store(monkeypatch: pytest.MonkeyPatch, access_key: str, secret_key: str) -> Iterator[str]:
    """A bucket on a local S3-compatible server (moto), reached with the given keys, as MLflow
    reaches S3 or another S3-compatible store; its endpoint."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name, value in {
            "MLFLOW_S3_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def with_password(url: str, password: str) -> str:
    return sa.make_url(url).set(password=password).render_as_string(hide_password=False)


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    """Every secret setting given a fake value through the environment, as production gives it."""
    passwords = {"mlflow": fake("mlflowdbpass"), "log": fake("logdbpass")}
    keys = {"api": fake("apikey"), "old": fake("rotatedkey"), "new": fake("newkey"), "file": fake("filekey")}
    webhook_path, slack_path = fake("webhookpath"), fake("slackpath")
    s3_keys = {"AWS_ACCESS_KEY_ID": fake("s3keyid"), "AWS_SECRET_ACCESS_KEY": fake("s3secret")}
    key_file = tmp_path / "mounted-secret" / "api-keys"  # outside every swept folder: it holds a key
    key_file.parent.mkdir()
    key_file.write_text(f"{keys['file']}\n", encoding="utf-8")
    with ExitStack() as stack:
        mlflow_url = stack.enter_context(scratch_database("secrets_mlflow"))
        log_url, log_schema = stack.enter_context(scratch_schema("secrets_log"))
        s3_endpoint = stack.enter_context(s3_store(monkeypatch, *s3_keys.values()))
        webhook = stack.enter_context(http_receiver(status=503))  # down: the failure path runs
        mailbox = stack.enter_context(smtp_server(login_required=True))
        secrets = {
            f"{ENV_PREFIX}MLFLOW__TRACKING_URI": passwords["mlflow"],
            f"{ENV_PREFIX}PREDICTION_LOG__URL": passwords["log"],
            f"{ENV_PREFIX}SERVICE__API_KEY": keys["api"],
            f"{ENV_PREFIX}SERVICE__API_KEYS[0]": keys["old"],
            f"{ENV_PREFIX}SERVICE__API_KEYS[1]": keys["new"],
            f"{ENV_PREFIX}SERVICE__API_KEY_FILE (its content)": keys["file"],
            f"{ENV_PREFIX}ALERTS__WEBHOOK_URL": webhook_path,
            f"{ENV_PREFIX}ALERTS__WEBHOOK_TOKEN": fake("webhooktoken"),
            f"{ENV_PREFIX}ALERTS__SLACK_WEBHOOK_URL": slack_path,
            f"{ENV_PREFIX}ALERTS__SMTP_PASSWORD": fake("smtppass"),
            **s3_keys,
        }
        environment = {
            "PROJECT_ROOT": str(PROJECT_ROOT),
            "STATE_DIR": str(tmp_path / "state"),
            "DEMO_ROWS": str(TEST_ROWS),
            "MLFLOW__TRACKING_URI": with_password(mlflow_url, passwords["mlflow"]),
            "MLFLOW__ARTIFACT_LOCATION": f"s3://{BUCKET}/mlflow",
            "PREDICTION_LOG__URL": with_password(log_url, passwords["log"]),
            "PREDICTION_LOG__DB_SCHEMA": log_schema,
            "SERVICE__API_KEY": keys["api"],
            "SERVICE__API_KEYS": json.dumps([keys["old"], keys["new"]]),
            "SERVICE__API_KEY_FILE": str(key_file),
            "ALERTS__CHANNEL": "webhook",
            "ALERTS__WEBHOOK_URL": f"{webhook.url}/hooks/{webhook_path}",
            "ALERTS__WEBHOOK_TOKEN": secrets[f"{ENV_PREFIX}ALERTS__WEBHOOK_TOKEN"],
            "ALERTS__SLACK_WEBHOOK_URL": f"https://hooks.slack.com/services/T0000/B0000/{slack_path}",
            "ALERTS__SMTP_HOST": "127.0.0.1",
            "ALERTS__SMTP_PORT": str(mailbox.port),
            "ALERTS__SMTP_SECURITY": "INSECURE",
            "ALERTS__SMTP_USERNAME": "alerts@example.com",
            "ALERTS__SMTP_PASSWORD": secrets[f"{ENV_PREFIX}ALERTS__SMTP_PASSWORD"],
            "ALERTS__EMAIL_TO": '["oncall@example.com"]',
            "ALERTS__COOLDOWN_HOURS": "0",  # the second run's alerts go out again, by email
        }
        for key, value in environment.items():
            monkeypatch.setenv(ENV_PREFIX + key, value)
        get_settings.cache_clear()
        folders = {"state folder": tmp_path / "state", "service folder": tmp_path / "serving"}
        yield Stack(
            secrets, fake("refusedkey"), folders, mlflow_url, log_url, log_schema, s3_endpoint, webhook, mailbox
        )
    get_settings.cache_clear()


class Records(logging.Handler):
    """Every log record, formatted with its traceback, from the root logger and the loggers
    that do not pass theirs on (Prefect's)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.by_logger: dict[str, list[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.by_logger.setdefault(record.name, []).append(self.format(record))


@contextmanager
def every_log_record() -> Iterator[Records]:
    """Log records at INFO and above from every logger (the level an operator runs with)."""
    handler = Records()
    root = logging.getLogger()
    loggers = [root] + [
        logger
        for logger in (logging.getLogger(name) for name in list(logging.root.manager.loggerDict))
        if not logger.propagate
    ]
    level = root.level
    root.setLevel(logging.INFO)
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        root.setLevel(level)


def train() -> dict[str, Any]:
    from prefect.flows import load_flow_from_entrypoint

    training: Any = load_flow_from_entrypoint(f"{PROJECT_ROOT / 'flows' / 'training.py'}:training")
    result: dict[str, Any] = training(reason="secrets-sweep")
    return result


def serve(stack: Stack, contract: Contract, sweep: Sweep) -> dict[str, int]:
    """A real server behind the keys: a day of changed traffic, each request with one of the
    valid keys, labels for some, the metadata; refused calls with a wrong key and without one.
    Every answer and the processes' command lines are swept. Returns status counts by call."""
    keys = [value for name, value in stack.secrets.items() if "API_KEY" in name]
    found = records(traffic(ROWS, 2, UPSTREAM_CHANGE), contract, UPSTREAM_CHANGE.extra_columns)
    statuses: dict[str, int] = {}
    log_path = stack.folders["service folder"] / "server.log"
    log_path.parent.mkdir()
    with running_server({}, log_path) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        for process in family(server.pid):
            sweep.content("process command line", f"pid {process.pid}", " ".join(process.cmdline()))

        def call(label: str, method: str, path: str, key: str | None, bearer: bool = False, **body: Any) -> Any:
            headers = {} if key is None else {"authorization": f"Bearer {key}"} if bearer else {"x-api-key": key}
            answer = client.request(method, path, headers=headers, json=body or None)
            statuses[label] = answer.status_code
            sweep.content("service answer", f"{method} {path} ({label})", f"{answer.headers}\n{answer.text}")
            return answer.json()

        request_ids: list[str] = []
        for n, start in enumerate(range(0, ROWS, PER_REQUEST)):
            key = keys[n % len(keys)]
            answered = call(
                f"predict {n % len(keys)}",
                "POST",
                "/predict",
                key,
                n % 2 == 1,
                records=found[start : start + PER_REQUEST],
            )
            request_ids += [p["request_id"] for p in answered["predictions"]]
        labels = [{"request_id": request_id, "label": 0} for request_id in request_ids[:50]]
        call("feedback", "POST", "/feedback", keys[0], labels=labels)
        call("metadata", "GET", "/metadata", keys[-1], bearer=True)
        call("wrong key", "POST", "/predict", stack.refused_key, records=found[:1])
        call("wrong bearer", "POST", "/predict", stack.refused_key, True, records=found[:1])
        call("no key", "GET", "/metadata", None)
    return statuses


def monitor_by_email(monkeypatch: pytest.MonkeyPatch, state: Path) -> str:
    """The same day again from the command line, alerting by email: its output."""
    monkeypatch.setenv(f"{ENV_PREFIX}ALERTS__CHANNEL", "email")
    monkeypatch.setenv("PREFECT_HOME", str(state / "prefect"))  # what the command line would set
    get_settings.cache_clear()
    done = CliRunner().invoke(app, ["monitor", "--day", DAY.date().isoformat()])
    assert done.exit_code == 0, done.output
    return done.output


def monitor_by_webhook() -> dict[str, Any]:
    from prefect.flows import load_flow_from_entrypoint

    monitoring: Any = load_flow_from_entrypoint(f"{PROJECT_ROOT / 'flows' / 'monitoring.py'}:monitoring")
    result: dict[str, Any] = monitoring(start=DAY, end=DAY + timedelta(days=1))
    return result


def prefect_database_folder() -> Path:
    """The folder of the test Prefect server's SQLite database (runs, logs, artifacts, events)."""
    from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL

    database = sa.make_url(PREFECT_SERVER_DATABASE_CONNECTION_URL.value()).database
    assert database, "the test Prefect server has no SQLite database"
    return Path(database).parent


def drain_prefect() -> None:
    """Deliver the logs and events still queued in this process to the server."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    EventsWorker.drain_all(timeout=30)


def test_no_secret_shows_anywhere_training_serving_and_monitoring_write(
    stack: Stack, contract: Contract, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """With a fake value in every secret setting, a training run, a served day of traffic (with
    refused keys) and two monitoring runs that alert (a webhook that fails, an email that goes)
    leave none of the values, nor any encoding of them, in any file, database row, log line,
    flow parameter, Prefect artifact or event, MLflow param or tag, S3 object, answer or output."""
    from prefect.settings import PREFECT_API_URL

    since = datetime.now(UTC) - timedelta(seconds=5)
    secrets = [Secret(name, value) for name, value in stack.secrets.items()]
    sweep = Sweep([*secrets, Secret("a wrong API key a client sent", stack.refused_key)])

    # Given the production stack configured with fake secrets
    # When training, serving a day of traffic and monitoring it twice run for real
    with every_log_record() as logs:
        trained = train()
        statuses = serve(stack, contract, sweep)
        by_webhook = monitor_by_webhook()
        cli_output = monitor_by_email(monkeypatch, stack.folders["state folder"])
        drain_prefect()
    out, err = capfd.readouterr()

    # Then each part used its secrets: a champion on PostgreSQL and S3, every key opened the
    # service and a wrong one did not, the webhook got its token and the SMTP server the password
    assert trained["alias"] == registry.CHAMPION, trained["reason"]
    assert {label: code for label, code in statuses.items() if code != 200} == {
        "wrong key": 401,
        "wrong bearer": 401,
        "no key": 401,
    }
    assert {a["status"] for a in by_webhook["alerts"]} >= {"failed"}
    (posted,) = stack.webhook.requests
    token = stack.secrets[f"{ENV_PREFIX}ALERTS__WEBHOOK_TOKEN"]
    assert posted.headers.get("Authorization") == f"Bearer {token}"
    assert stack.mailbox.logins == [("alerts@example.com", stack.secrets[f"{ENV_PREFIX}ALERTS__SMTP_PASSWORD"])]
    assert len(stack.mailbox.messages) == 1
    assert Path(by_webhook["report"]).is_file()

    # And none of them shows anywhere they wrote
    for kind, folder in stack.folders.items():
        sweep.files(kind, folder)
    sweep.files("Prefect server database", prefect_database_folder())
    sweep.content("this process's output", "stdout and stderr", out + err)
    for name, lines in logs.by_logger.items():
        sweep.content("log records at INFO", f"logger {name}", "\n".join(lines))
    sweep.content("command line output", "monitor --day", cli_output)
    sweep.content("flow result", "training", json.dumps(trained, default=str))
    sweep.content("flow result", "monitoring", json.dumps(by_webhook, default=str))
    # (the token rightly travels in the webhook's Authorization header, nowhere else)
    webhook_token = f"{ENV_PREFIX}ALERTS__WEBHOOK_TOKEN"
    sweep.content("alert message", f"webhook POST {posted.path[:7]}...", json.dumps(posted.headers), [webhook_token])
    sweep.content("alert message", "webhook body", posted.body)
    sweep.content("alert message", "email", stack.mailbox.messages[0].as_bytes())
    postgres_tables(sweep, stack.mlflow_url, None)
    postgres_tables(sweep, stack.log_url, stack.log_schema)
    bucket_objects(sweep, stack.s3_endpoint, BUCKET)
    mlflow_records(sweep, registry.connect(get_settings()))
    prefect_records(sweep, str(PREFECT_API_URL.value()), since)
    assert not sweep.leaks, sweep.report()
    assert sweep.swept["PostgreSQL table"] > 10
    assert sweep.swept["S3 object"] > 0
    assert sweep.swept["Prefect record"] > 10
