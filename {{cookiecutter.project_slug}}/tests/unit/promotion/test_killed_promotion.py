"""A promotion or rollback killed (SIGKILL) after each of its steps, in a real process: the
champion is never missing meanwhile, and the next run settles the aliases where one whole move
or none would have left them.

One process imports MLflow and forks a child per step (`tests/support/killed_moves.py`), each on
its own copy of the registry, so the eleven kills cost one interpreter start."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }}.errors import RegistryError
from {{ cookiecutter.package_name }}.promotion import aliases as promotion
from {{ cookiecutter.package_name }}.stores import alias_journal, registry
from {{ cookiecutter.package_name }}.stores.registry import CHALLENGER, CHAMPION, PASSED, PREVIOUS
from tests.support.project import PROJECT_ROOT, make_settings

NAME = "killed"
BEFORE = {
    "promotion": {PREVIOUS: "1", CHAMPION: "2", CHALLENGER: "3"},
    "rollback": {PREVIOUS: "1", CHAMPION: "2", CHALLENGER: "3"},
}
AFTER = {
    "promotion": {PREVIOUS: "2", CHAMPION: "3"},
    "rollback": {CHAMPION: "1", CHALLENGER: "3"},
}
STEPS = {"promotion": promotion.STEPS, "rollback": promotion.ROLLBACK_STEPS}
# The step after which `champion` has switched: from there a whole move, before it none.
SWITCHED = {"promotion": promotion.STEPS.index("champion"), "rollback": promotion.ROLLBACK_STEPS.index("champion")}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry file with versions 1-3 (all passed the gate): previous v1, champion v2, challenger v3."""
    settings = make_settings(tmp_path_factory.mktemp("registry"))
    client = registry.connect(settings)
    client.create_registered_model(NAME)
    for _ in range(3):
        version = client.create_model_version(NAME, source="file:///nowhere/model")
        registry.set_tags(client, NAME, version.version, {registry.GATE_STATUS: PASSED})
    for alias, version_number in BEFORE["promotion"].items():
        client.set_registered_model_alias(NAME, alias, version_number)
    return settings.var_dir / "mlflow.db"


def uri_of(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def killed(template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """Copies of the registry, one per action and step, each as a process killed after that step left it."""
    folder = tmp_path_factory.mktemp("killed")
    copies = {action: {step: folder / f"{action}-{step}.db" for step in steps} for action, steps in STEPS.items()}
    for found in copies.values():
        for path in found.values():
            shutil.copy(template, path)
    jobs = [f"{action}:{step}={uri_of(path)}" for action, found in copies.items() for step, path in found.items()]
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.killed_moves", NAME, *jobs],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    ended = json.loads(done.stdout.strip().splitlines()[-1])
    assert ended == dict.fromkeys([job.split("=")[0] for job in jobs], 9), done.stderr[-2000:]  # each died by SIGKILL
    return copies


def audit_tags(client: Any, version: str) -> set[str]:
    return {key for key in client.get_model_version(NAME, version).tags if key.startswith(("promotion.", "rollback."))}


@pytest.mark.parametrize("action", ["promotion", "rollback"])
def test_a_move_killed_after_any_step_is_settled_by_the_next_run(
    action: str, killed: dict[str, dict[str, Path]]
) -> None:
    """Killed after each step: the champion is always a version that passed the gate (the service
    never finds it missing); the next run completes the move if `champion` had switched and undoes
    it otherwise, so the aliases are exactly those of one whole move or none, and the intent is gone."""
    # Given previous v1, champion v2, challenger v3 (a rollback returns to v1, keeping the challenger)
    # When a process runs the move and is SIGKILLed after each of its steps (the `killed` fixture)
    for index, (step, path) in enumerate(killed[action].items()):
        client = MlflowClient(tracking_uri=uri_of(path), registry_uri=uri_of(path))
        left = registry.aliases(client, NAME)
        # Then, before any recovery, a champion that passed the gate is there to serve
        assert left[CHAMPION] in (BEFORE[action][CHAMPION], AFTER[action][CHAMPION]), (step, left)
        registry.require_passed(client, NAME, left[CHAMPION])

        # When the next run starts (any promotion, rejection, rollback, gate or monitoring run)
        outcome = promotion.recover(client, NAME)

        # Then the aliases are those of the whole move or of none, by whether champion had switched
        whole = index >= SWITCHED[action]
        assert registry.aliases(client, NAME) == (AFTER if whole else BEFORE)[action], (step, outcome)
        assert alias_journal.pending(client, NAME) is None
        expected = None if step == "done" else (alias_journal.COMPLETED if whole else alias_journal.UNDONE)
        assert outcome == expected, step
        moved = AFTER[action][CHAMPION]
        assert bool(audit_tags(client, moved)) == whole, step  # the audit tags come with a whole move only


def test_a_version_whose_training_run_died_before_the_gate_never_serves(tmp_path: Path) -> None:
    """A version registered by a training run killed before its gate carries no verdict: the next
    run's gate tags it `gate.status=incomplete` with the reason, and no promotion can alias it."""
    # Given champion v1, v2 registered by a run that died before the gate, and v3 being judged now
    client = registry.connect(make_settings(tmp_path / "state"))
    client.create_registered_model(NAME)
    for _ in range(3):
        client.create_model_version(NAME, source="file:///nowhere/model")
    registry.set_tags(client, NAME, "1", {registry.GATE_STATUS: PASSED})
    registry.set_tags(client, NAME, "3", {registry.GATE_STATUS: PASSED})
    client.set_registered_model_alias(NAME, CHAMPION, "1")

    # When the new version's gate marks what earlier runs left unfinished
    marked = registry.mark_unfinished(client, NAME, "3")

    # Then v2 (only) is marked incomplete, with why, and promoting it is refused
    assert marked == ["2"]
    tags = client.get_model_version(NAME, "2").tags
    assert tags[registry.GATE_STATUS] == registry.INCOMPLETE
    assert "before the gate" in tags[registry.GATE_REASON]
    with pytest.raises(RegistryError, match="before the gate"):
        promotion.promote(client, NAME, who="alice", why="by hand", version="2")
    assert registry.aliases(client, NAME) == {CHAMPION: "1"}
