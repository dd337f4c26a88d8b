"""The lifecycle demo: the classic production incidents, replayed through the real machinery.

It starts a local Prefect server (SQLite), registers prefect.yaml's deployments and
runs a process worker; trains the first champion through the training deployment;
starts the BentoML service; then replays simulated days of traffic over HTTP with
labels arriving late, injecting the incidents of `simulation.Scenario`. Each day's
monitoring runs through its deployment, so alerts, the degradation event, the
retraining automation, shadow evaluation and promotion all happen as they would in
production. Everything it starts is stopped on the way out, Ctrl-C included.

The simulated calendar ends yesterday (the content does not depend on the date),
so that every "last N days" window of the system sees the replayed days.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from ..core.contract import ClassLabel, Contract, load_contract
from ..data.demo_world import demo_end, demo_frame
from ..data.tables import write_table
from ..settings import Settings
from ..stores import registry
from .local_stack import (
    DemoPaths,
    _bin,
    _get_json,
    _pause_schedules,
    _post,
    _run_deployment,
    _training_runs,
    _wait_for_new_training,
    demo_environment,
    webhook_inbox,
)
from .outcome import DayRecord, Outcome, judge
from .processes import Stack, StackError, free_port, http_ok, running_stack
from .scenario import Scenario, World, messy_requests

TRAINING, MONITORING, SHADOW = "training/retrain", "monitoring/monitoring", "shadow-evaluation/shadow-evaluation"
CANARY = "canary-evaluation/canary-evaluation"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Label:
    request_id: str
    value: ClassLabel  # a number, or (multiclass) the class as the contract writes it
    in_segment: bool  # the scenario's biased segment, whose frauds a label bug can lose


# --- a local webhook receiver: where the demo's alerts are delivered ------------------------------


# --- the environment every process of the demo shares ----------------------------------------------


# --- the calendar ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calendar:
    """Maps the scenario's days onto real dates: its last day is yesterday (UTC)."""

    scenario: Scenario
    today: datetime

    @property
    def offset(self) -> timedelta:
        first = self.today - timedelta(days=self.scenario.days)
        return first - self.scenario.start()

    def day_start(self, day: int) -> datetime:
        return self.scenario.day_start(day) + self.offset

    def shift(self, frame: pd.DataFrame, column: str) -> pd.DataFrame:
        return frame.assign(**{column: frame[column] + self.offset})


def _today() -> datetime:
    now = datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


# --- HTTP to the service -----------------------------------------------------------------------------


# --- Prefect --------------------------------------------------------------------------------------


# --- the replay -------------------------------------------------------------------------------------


@dataclass
class Demo:
    settings: Settings
    scenario: Scenario
    progress: Progress
    paths: DemoPaths = field(init=False)
    contract: Contract = field(init=False)
    world: World = field(init=False)
    calendar: Calendar = field(init=False)
    api_key: str | None = field(init=False)  # sent when the service asks for a key: the first valid one
    service_url: str = ""
    truth: dict[int, list[Label]] = field(default_factory=dict)
    days: list[DayRecord] = field(default_factory=list)
    label_bug: bool = False  # the label pipeline loses the biased segment's frauds
    lost: list[Label] = field(default_factory=list)  # labels sent wrong, resent once repaired

    def __post_init__(self) -> None:
        self.paths = DemoPaths(self.settings.var_dir / "demo")
        self.contract = load_contract(self.settings.contract_file)
        self.world = World(self.scenario, self.contract)
        self.calendar = Calendar(self.scenario, _today())
        # Read once (a key file is read from disk): every request of the replay sends it.
        keys = self.settings.service.valid_api_keys() if self.settings.service.requires_api_key else []
        self.api_key = keys[0] if keys else None

    # the upstream extract, the base training data -----------------------------------------------

    def write_extract(self, *, faulty: bool = False) -> None:
        """The labelled history the training deployment reads; it ends where the replay starts."""
        s = self.scenario
        base = demo_frame(self.contract, s.training_rows, s.training_days)
        ts = self.world.time_column
        base = base.assign(**{ts: base[ts] + (self.calendar.day_start(0) - demo_end(s.training_days))})
        write_table(self.world.faulty_extract(base) if faulty else base, self.paths.extract)

    # the stack -----------------------------------------------------------------------------------

    def start_stack(self, stack: Stack, env: dict[str, str], prefect_port: int, service_port: int) -> None:
        root = self.settings.project_root
        self.progress("starting the Prefect server (SQLite)")
        stack.start(
            "prefect-server",
            [_bin("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(prefect_port)],
            env={k: v for k, v in env.items() if k != "PREFECT_API_URL"},
            cwd=root,
            ready=lambda: http_ok(f"http://127.0.0.1:{prefect_port}/api/health"),
            timeout=180,
        )
        self.progress("registering the deployments from prefect.yaml")
        pool = f"{self.settings.mlflow.registered_model_name}-process"
        self._run(
            [
                _bin("prefect"),
                "work-pool",
                "create",
                pool,
                "--type",
                "process",
                "--overwrite",
                "--base-job-template",
                str(root / "infra/prefect/process-base-job-template.json"),
            ],
            env,
        )
        self._run([_bin("prefect"), "--no-prompt", "deploy", "--all"], env)
        _pause_schedules()
        self.progress("starting a process worker")
        stack.start(
            "prefect-worker",
            [_bin("prefect"), "worker", "start", "--pool", pool, "--type", "process", "--limit", "2"],
            env=env,
            cwd=root,
        )
        self.progress("training the first champion (training deployment)")
        _run_deployment(TRAINING, {"reason": "first model"})
        self.progress("starting the BentoML service")
        stack.start(
            "service",
            [
                _bin("bentoml"),
                "serve",
                "services.service:ModelService",
                "--working-dir",
                str(root),
                "--host",
                "127.0.0.1",
                "--port",
                str(service_port),
            ],
            env=env,
            cwd=root,
            ready=lambda: http_ok(f"http://127.0.0.1:{service_port}/readyz"),
            timeout=180,
        )
        self.service_url = f"http://127.0.0.1:{service_port}"

    def _run(self, argv: list[str], env: dict[str, str]) -> None:
        import subprocess

        result = subprocess.run(
            argv, cwd=self.settings.project_root, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        if result.returncode != 0:
            raise StackError(f"`{' '.join(argv[1:4])} ...` failed:\n{(result.stdout + result.stderr)[-3000:]}")

    # one day ----------------------------------------------------------------------------------------

    def replay_day(self, day: int, stack: Stack) -> DayRecord:
        s = self.scenario
        record = DayRecord(day=day, date=self.calendar.day_start(day).date().isoformat())
        if day == s.label_bug_day:
            self.label_bug = True
            self.write_extract(faulty=True)
            record.events.append(self.world.label_bug_event())
        if day == s.label_fix_day:
            self.label_bug = False
            self.write_extract()
            record.labels_resent = self._send_labels(self.lost, repair=True)
            self.lost = []
            record.events.append("the label pipeline is repaired: the extract is right again, lost labels resent")
        if any(d.rejected for d in self.days) and not any(d.retrained_after_rejection for d in self.days):
            record.retrained_after_rejection = True
            self._retrain(
                record,
                "after the rejection the team runs the training deployment",
                "retrain after the label pipeline repair",
            )
        traffic = self.calendar.shift(self.world.traffic(day), self.world.time_column)
        record.sent, truth = self._send(traffic, record)
        self.truth[day] = truth
        if day == s.messy_inputs_day:
            record.messy = self._send_messy(traffic)
        labelled_day = day - s.label_delay_days
        if labelled_day in self.truth:
            record.labels_sent = self._send_labels(self.truth.pop(labelled_day))
        stack.check()
        if day == s.scheduled_retrain_day:
            self._retrain(record, "the monthly retraining's schedule fires (training deployment)", "scheduled")
        self._monitor(day, record)
        stack.check()
        self._canary(record)  # a canary started yesterday has answered its share of today's traffic
        self._shadow(record)
        return record

    def _retrain(self, record: DayRecord, event: str, reason: str) -> None:
        record.events.append(event)
        run = _run_deployment(TRAINING, {"reason": reason})
        record.trainings.append(str(run.id))
        record.registered.append(self._newest_version())
        self._wait_for_service_challenger()

    def _newest_version(self) -> str:
        """The version the training that just finished registered (one training, one version)."""
        client = registry.connect(self._child_settings())
        found = client.search_model_versions(f"name='{self.settings.mlflow.registered_model_name}'")
        return str(max(int(v.version) for v in found))

    def _wait_for_service_challenger(self, timeout: float = 60) -> None:
        """Shadow scoring starts when the service has picked the new challenger up."""
        aliases = registry.aliases(registry.connect(self._child_settings()), self.settings.mlflow.registered_model_name)
        wanted = aliases.get(registry.CHALLENGER)
        began = time.monotonic()
        while wanted is not None and time.monotonic() - began < timeout:
            challenger = _get_json(f"{self.service_url}/metadata", self.api_key).get("challenger") or {}
            if str(challenger.get("version")) == wanted:
                return
            time.sleep(0.5)

    def _send(self, traffic: pd.DataFrame, record: DayRecord) -> tuple[int, list[Label]]:
        records = self.world.records(traffic)
        # Numbers (0/1, a regression's values) or, for multiclass, the class as the contract writes it.
        targets = (
            traffic[self.contract.target].tolist()
            if self.contract.is_multiclass
            else traffic[self.contract.target].astype(float).tolist()
        )
        column, level = self.scenario.biased_segment
        segment = (traffic[column].astype(str).str.lower() == level).tolist()
        truth: list[Label] = []
        for start in range(0, len(records), self.scenario.batch_size):
            batch = records[start : start + self.scenario.batch_size]
            status, answer = _post(
                f"{self.service_url}/predict", json.dumps({"records": batch}).encode(), key=self.api_key
            )
            if status != 200:
                raise StackError(f"/predict answered {status}: {str(answer)[:300]}")
            for version in sorted({p["model_version"] for p in answer["predictions"]}):
                if version not in record.served_versions:
                    record.served_versions.append(version)
            for prediction in answer["predictions"]:
                record.answered_by[prediction["model_version"]] = (
                    record.answered_by.get(prediction["model_version"], 0) + 1
                )
            truth += [
                Label(p["request_id"], targets[start + i], segment[start + i])
                for i, p in enumerate(answer["predictions"])
            ]
        return len(records), truth

    def _send_messy(self, traffic: pd.DataFrame) -> list[dict[str, Any]]:
        sample = self.world.records(traffic.head(1))[0]
        outcomes = []
        for messy in messy_requests(sample, self.contract):
            status, answer = _post(f"{self.service_url}/predict", messy.body, messy.content_type, key=self.api_key)
            events = []
            if status == 200:
                events = [e["kind"] for p in answer["predictions"] for e in p["schema_events"]]
            outcomes.append(
                {
                    "kind": messy.kind,
                    "expect": messy.expect,
                    "status": status,
                    "events": events,
                    "error": answer.get("error") if isinstance(answer, dict) else str(answer)[:200],
                }
            )
        return outcomes

    def _send_labels(self, truth: list[Label], repair: bool = False) -> int:
        """The label feed: what it sends while the bug is on loses the segment's frauds
        (those are kept, to be resent right once it is repaired)."""
        lose = self.label_bug and not repair
        if lose:
            self.lost += [t for t in truth if t.in_segment and self.world.lost_label(t.value) != t.value]
        sent = [(t.request_id, self.world.lost_label(t.value) if lose and t.in_segment else t.value) for t in truth]
        accepted = 0
        for start in range(0, len(sent), self.scenario.batch_size):
            chunk = [{"request_id": r, "label": y} for r, y in sent[start : start + self.scenario.batch_size]]
            status, answer = _post(
                f"{self.service_url}/feedback", json.dumps({"labels": chunk}).encode(), key=self.api_key
            )
            if status != 200 or answer["unknown"]:
                raise StackError(f"/feedback answered {status}: {str(answer)[:300]}")
            accepted += int(answer["accepted"])
        return accepted

    def _monitor(self, day: int, record: DayRecord) -> None:
        known = {str(r.id) for r in _training_runs()}
        start, end = self.calendar.day_start(day), self.calendar.day_start(day + 1)
        run = _run_deployment(MONITORING, {"start": start.isoformat(), "end": end.isoformat()})
        record.monitoring_run = str(run.id)
        if self._degradation_emitted(start, end):
            record.events.append("monitoring emitted the degradation event; the automation starts a retraining")
            trained = _wait_for_new_training(known)
            record.trainings.append(str(trained.id))
            record.registered.append(self._newest_version())

    def _degradation_emitted(self, start: datetime, end: datetime) -> bool:
        import sqlalchemy as sa

        from ..stores.monitoring_history import History
        from ..stores.monitoring_history_schema import runs
        from ..stores.sql import naive_utc

        with History.from_settings(self._child_settings()) as history, history.engine.connect() as connection:
            emitted = (
                connection.execute(
                    sa.select(runs.c.retrain_emitted).where(
                        runs.c.window_start == naive_utc(start), runs.c.window_end == naive_utc(end)
                    )
                )
                .scalars()
                .all()
            )
        return any(bool(e) for e in emitted)

    def _shadow(self, record: DayRecord) -> None:
        client = registry.connect(self._child_settings())
        name = self.settings.mlflow.registered_model_name
        lineup = registry.aliases(client, name)
        if registry.CHALLENGER not in lineup:
            return
        _run_deployment(SHADOW)
        after = registry.aliases(client, name)
        record.aliases = after
        if after.get(registry.CHAMPION) != lineup.get(registry.CHAMPION):
            record.promoted = after[registry.CHAMPION]
            record.events.append(f"shadow evaluation promoted v{record.promoted}")
            record.reload_seconds = self._wait_for_service_version(record.promoted)
        elif after.get(registry.CANARY) == lineup[registry.CHALLENGER]:
            record.canary_started = after[registry.CANARY]
            record.events.append(
                f"shadow evaluation found v{record.canary_started} better: a canary starts, answering "
                f"{self.scenario.canary_share:.0%} of the merchants ({self.scenario.canary_key})"
            )
        elif registry.CHALLENGER not in after:
            record.rejected = lineup[registry.CHALLENGER]
            record.events.append(f"shadow evaluation rejected v{record.rejected}")

    def _canary(self, record: DayRecord) -> None:
        """The canary's evaluation once it has answered a day: its guards complete the promotion
        or roll it back."""
        client = registry.connect(self._child_settings())
        name = self.settings.mlflow.registered_model_name
        lineup = registry.aliases(client, name)
        canary = lineup.get(registry.CANARY)
        if canary is None:
            return
        _run_deployment(CANARY)
        after = registry.aliases(client, name)
        record.aliases = after
        if after.get(registry.CHAMPION) == canary:
            record.promoted = canary
            record.events.append(f"the canary's guards passed: v{canary} promoted")
            record.reload_seconds = self._wait_for_service_version(canary)
        elif registry.CANARY not in after:
            record.canary_rolled_back = canary
            record.events.append(f"the canary's guards breached: v{canary} rolled back")

    def _wait_for_service_version(self, version: str, timeout: float = 60) -> float:
        """How long the running service took to serve the promoted version (no restart)."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if str(_get_json(f"{self.service_url}/metadata", self.api_key).get("model_version")) == version:
                return round(time.monotonic() - began, 1)
            time.sleep(0.5)
        raise StackError(f"the service did not serve v{version} within {timeout:.0f} s")

    def _child_settings(self) -> Settings:
        return Settings(project_root=self.settings.project_root, state_dir=self.paths.state)


def run_demo(settings: Settings, scenario: Scenario, progress: Progress) -> Outcome:
    """Replay the whole story; return (and write) its outcome."""
    demo = Demo(settings, scenario, progress)
    shutil.rmtree(demo.paths.root, ignore_errors=True)
    demo.paths.state.mkdir(parents=True)
    began = time.monotonic()
    demo.write_extract()
    prefect_port, service_port = free_port(), free_port()
    prefect_url = f"http://127.0.0.1:{prefect_port}/api"
    with webhook_inbox() as (inbox_url, alerts), running_stack(demo.paths.logs) as stack:
        env = demo_environment(settings, demo.paths, scenario, prefect_url, inbox_url)
        os.environ.update({k: env[k] for k in ("PREFECT_API_URL", "PREFECT_HOME")})
        demo.start_stack(stack, env, prefect_port, service_port)
        for day in range(scenario.days):
            stack.check()
            progress(f"day {day + 1}/{scenario.days} ({demo.calendar.day_start(day).date()})")
            demo.days.append(demo.replay_day(day, stack))
        outcome = judge(demo._child_settings(), scenario, demo.days, alerts, demo.calendar.offset)
        limits = _get_json(f"{demo.service_url}/metadata", demo.api_key).get("limits") or {}
        outcome.api_key_required = bool(limits.get("api_key_required"))
    outcome.seconds = round(time.monotonic() - began, 1)
    outcome.urls = {"prefect_ui": f"http://127.0.0.1:{prefect_port}", "service": demo.service_url}
    demo.paths.outcome.write_text(json.dumps(asdict(outcome), indent=2, default=str), encoding="utf-8")
    return outcome
