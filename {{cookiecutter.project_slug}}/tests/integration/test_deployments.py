"""prefect.yaml against a real Prefect server: registration, the retraining automation, a worker.

The server is the session's `live_prefect` (a real `prefect server start`):
schedules and automations never run on the ephemeral one. Deployments are
registered the way `make deploy` does it, with `prefect --no-prompt deploy`.

flows/monitoring.py is written by the monitoring work: until it exists its
deployment is left out of the registration and its test is skipped, saying so.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from {{ cookiecutter.package_name }}.demo.processes import stop_group
from {{ cookiecutter.package_name }}.monitoring.degradation_event import Degradation, emit_degradation
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX
from tests.support.live_prefect import LiveServer, prefect_cli, reporting_to, wait_for
from tests.support.project import PROJECT_ROOT, TEST_ROWS

pytestmark = pytest.mark.slow

CONFIG = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
POOL = CONFIG["definitions"]["work_pool"]["name"]
MONITORING = "flows/monitoring.py"
CLI = str(Path(sys.executable).with_name("{{ cookiecutter.project_slug }}"))


def flow_file(deployment: dict[str, Any]) -> Path:
    return PROJECT_ROOT / str(deployment["entrypoint"]).split(":", 1)[0]


def declared(name: str) -> dict[str, Any]:
    (found,) = [d for d in CONFIG["deployments"] if d["name"] == name]
    return found  # type: ignore[no-any-return]


def full_name(name: str) -> str:
    """flow-name/deployment-name, as the server knows it (the flow's name from its decorator)."""
    from prefect.flows import load_flow_from_entrypoint

    deployment = declared(name)
    flow: Any = load_flow_from_entrypoint(str(PROJECT_ROOT / deployment["entrypoint"]))
    return f"{flow.name}/{name}"


@dataclass(frozen=True)
class Registered:
    server: LiveServer
    names: list[str]
    output: str


def make(server: LiveServer, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A make target of the project, as a user runs it (`-o install`: the environment exists)."""
    return subprocess.run(
        ["make", "--no-print-directory", "-o", "install", *args],
        cwd=PROJECT_ROOT, env=server.env(**env), capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def register(server: LiveServer, state: Path) -> Registered:
    """Register the deployments as `make deploy` does: all of them once flows/monitoring.py is
    there; until then the same commands for those whose flow file exists."""
    ready = [d["name"] for d in CONFIG["deployments"] if flow_file(d).is_file()]
    if len(ready) == len(CONFIG["deployments"]):
        deployed = make(server, "deploy", env={f"{ENV_PREFIX}STATE_DIR": str(state)})
    else:
        pool = prefect_cli(
            server,
            "work-pool", "create", POOL, "--type", "process",
            "--base-job-template", "infra/prefect/process-base-job-template.json",
            cwd=PROJECT_ROOT,
        )  # fmt: skip
        assert pool.returncode == 0, pool.stdout + pool.stderr
        names = [a for n in ready for a in ("--name", n)]
        deployed = prefect_cli(server, "--no-prompt", "deploy", *names, cwd=PROJECT_ROOT)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    return Registered(server, ready, deployed.stdout)


@pytest.fixture(scope="module")
def registered(live_prefect: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Registered:
    return register(live_prefect, tmp_path_factory.mktemp("deploy-state"))


@pytest.fixture
def client(registered: Registered) -> Iterator[Any]:
    """A Prefect client of the live server (sync)."""
    from prefect.client.orchestration import get_client

    with reporting_to(registered.server.api_url), get_client(sync_client=True) as found:
        yield found


def automation_runs(client: Any, deployment_id: uuid.UUID) -> list[Any]:
    """The deployment's flow runs that an automation created (schedules create others)."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    runs = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
    return [r for r in runs if r.created_by is not None and r.created_by.type == "AUTOMATION"]


def test_every_deployment_is_registered_with_its_schedule(registered: Registered, client: Any) -> None:
    """Each deployment in prefect.yaml exists on the server, in the project's work pool, with
    the schedule prefect.yaml gives it; training's cron is the `retrain_cron` answer and it
    runs with reason "scheduled"."""
    # Given the deployments registered from prefect.yaml
    answers = json.loads((PROJECT_ROOT / ".cruft.json").read_text(encoding="utf-8"))["context"]["cookiecutter"]

    # When each is read back from the server
    for name in registered.names:
        deployment = client.read_deployment_by_name(full_name(name))

        # Then it has the declared pool, entrypoint and schedules
        expected = declared(name)
        assert deployment.work_pool_name == POOL
        assert deployment.entrypoint == expected["entrypoint"]
        assert [s.schedule.cron for s in deployment.schedules] == [s["cron"] for s in expected.get("schedules", [])]

    training = client.read_deployment_by_name(full_name("retrain"))
    (schedule,) = training.schedules
    assert schedule.schedule.cron == answers["retrain_cron"]
    assert schedule.parameters == {"reason": "scheduled"}
    assert training.pull_steps == CONFIG["pull"]


def test_monitoring_is_registered_with_the_monitor_cron(registered: Registered, client: Any) -> None:
    """The monitoring deployment runs on the `monitor_cron` answer (once flows/monitoring.py exists)."""
    # Given the monitoring flow file
    if not (PROJECT_ROOT / MONITORING).is_file():
        pytest.skip(f"{MONITORING} is not written yet: its deployment was left out of the registration")
    answers = json.loads((PROJECT_ROOT / ".cruft.json").read_text(encoding="utf-8"))["context"]["cookiecutter"]

    # When / Then
    deployment = client.read_deployment_by_name(full_name("monitoring"))
    assert [s.schedule.cron for s in deployment.schedules] == [answers["monitor_cron"]]


def test_the_retraining_automation_exists_once_even_after_redeploying(registered: Registered, client: Any) -> None:
    """The trigger declared with the training deployment becomes one automation; registering
    again (a second `make deploy`) replaces it rather than adding another."""
    # Given the training deployment, registered once already
    training = client.read_deployment_by_name(full_name("retrain"))

    # When it is registered again
    again = prefect_cli(registered.server, "--no-prompt", "deploy", "--name", "retrain", cwd=PROJECT_ROOT)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]

    # Then there is still exactly one automation, listening for the degradation event
    (automation,) = client.read_resource_related_automations(f"prefect.deployment.{training.id}")
    assert automation.enabled
    assert automation.trigger.expect == {declared("retrain")["triggers"][0]["expect"][0]}


def test_a_degradation_event_starts_exactly_one_training_run_per_incident(registered: Registered, client: Any) -> None:
    """The first event of an incident starts one training run carrying the reason and the
    evidence; repeats of that incident start nothing more. A second incident starts its own
    run, which also shows that the server had processed the repeats before it."""
    # Given the training deployment and its automation
    training = client.read_deployment_by_name(full_name("retrain"))
    incident, other = f"incident-{uuid.uuid4().hex[:8]}", f"incident-{uuid.uuid4().hex[:8]}"
    first = Degradation(
        model_name="{{ cookiecutter.project_slug }}",
        reason="realized average precision 0.12 below the floor 0.30",
        incident_id=incident,
        evidence={"average_precision": 0.12, "window": "2026-03-01/2026-03-08", "drifted": ["amount"]},
    )

    try:
        # When monitoring reports the degradation
        assert emit_degradation(first) is not None
        (run,) = wait_for(lambda: automation_runs(client, training.id), 90, what="a training run")

        # Then one run exists, carrying the reason and the evidence as parameters
        assert run.parameters["reason"] == first.reason
        assert run.parameters["evidence"]["incident_id"] == incident
        assert run.parameters["evidence"]["average_precision"] == 0.12

        # When the same incident is reported twice more, then another incident once
        for _ in range(2):
            emit_degradation(Degradation(first.model_name, "still degraded", incident, {"average_precision": 0.1}))
        emit_degradation(Degradation(first.model_name, "schema change: account_type added", other, {}))
        runs = wait_for(
            lambda: [r for r in automation_runs(client, training.id) if r.id != run.id], 90, what="the second run"
        )

        # Then the repeats started nothing: one run per incident
        everything = automation_runs(client, training.id)
        assert sorted(r.parameters["evidence"]["incident_id"] for r in everything) == sorted([incident, other])
        assert [r.parameters["reason"] for r in runs] == ["schema change: account_type added"]
    finally:
        for found in automation_runs(client, training.id):  # no worker should pick them up later
            client.delete_flow_run(found.id)


def test_the_report_degradation_command_starts_a_retraining(
    registered: Registered, client: Any, tmp_path: Path
) -> None:
    """The event monitoring sends can be sent by hand; the command waits until it is delivered,
    and the automation starts a training run with its reason and evidence."""
    # Given the training deployment and a new incident
    training = client.read_deployment_by_name(full_name("retrain"))
    incident = f"manual-{uuid.uuid4().hex[:8]}"
    env = registered.server.env(**{f"{ENV_PREFIX}STATE_DIR": str(tmp_path / "state")})

    try:
        # When the command sends the event
        sent = subprocess.run(
            [CLI, "report-degradation", "--reason", "fraud team escalation", "--incident", incident,
             "--evidence", '{"ticket": 42}'],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert f"for incident {incident}" in sent.stdout

        # Then a training run starts with the reason and evidence
        (run,) = wait_for(
            lambda: [
                r for r in automation_runs(client, training.id) if r.parameters["evidence"]["incident_id"] == incident
            ],
            90,
            what="the training run",
        )
        assert run.parameters["reason"] == "fraud team escalation"
        assert run.parameters["evidence"]["ticket"] == 42
    finally:
        for found in automation_runs(client, training.id):
            client.delete_flow_run(found.id)


@pytest.mark.parametrize("kind", ["docker", "kubernetes"])
def test_the_server_accepts_the_container_work_pool_templates(registered: Registered, client: Any, kind: str) -> None:
    """The Docker and Kubernetes base job templates in infra/prefect/ make work pools as they are."""
    # Given a template
    path = PROJECT_ROOT / "infra" / "prefect" / f"{kind}-base-job-template.json"

    # When a pool of that type is created from it
    name = f"{POOL}-{kind}-check"
    created = prefect_cli(
        registered.server, "work-pool", "create", name, "--type", kind, "--base-job-template", str(path),
        cwd=PROJECT_ROOT,
    )  # fmt: skip

    # Then the server holds the template unchanged
    assert created.returncode == 0, created.stdout + created.stderr
    assert client.read_work_pool(name).base_job_template == json.loads(path.read_text(encoding="utf-8"))


def test_a_process_worker_runs_a_deployment_from_the_project_checkout(
    registered: Registered, client: Any, tmp_path: Path
) -> None:
    """A run of a registered deployment, picked up by `make worker` (a process worker, whose flow
    runs start in a temporary folder), moves into the project through the pull step and completes."""
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    # Given a run of the shadow-evaluation deployment (with no models yet it has nothing to judge)
    with reporting_to(registered.server.api_url):
        flow_run = run_deployment(full_name("shadow-evaluation"), timeout=0)
    assert isinstance(flow_run, FlowRun)

    # When `make worker` polls the pool once (it sets the project root for the pull step)
    worker = subprocess.Popen(
        ["make", "--no-print-directory", "-o", "install", "worker", "WORKER_ARGS=--run-once"],
        cwd=PROJECT_ROOT,
        env=registered.server.env(
            **{f"{ENV_PREFIX}STATE_DIR": str(tmp_path / "state"), f"{ENV_PREFIX}DEMO_ROWS": str(TEST_ROWS)}
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so that it and its flow run stop together
    )
    try:
        output, _ = worker.communicate(timeout=300)
    finally:
        stop_group(worker)

    # Then the run completed, having found the project's flows, contract and settings
    finished = client.read_flow_run(flow_run.id)
    assert finished.state is not None
    assert finished.state.is_completed(), output.decode(errors="replace")[-4000:]
