"""Alias moves killed midway: a process that SIGKILLs itself right after one step of a promotion
or rollback, as an OOM kill or a lost node would.

Run as `python -m tests.support.killed_moves NAME ACTION:STEP=URI ...` (ACTION: promotion or
rollback): it imports MLflow once, then per registry forks a child that runs the move on it and
kills itself (SIGKILL) after STEP. It prints, as JSON, the signal that ended each child (9 when
the kill happened), by ACTION:STEP."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable

from mlflow.tracking import MlflowClient

from {{ cookiecutter.package_name }}.promotion import aliases as promotion


def kill_after(target: str) -> Callable[[str], None]:
    def step(name: str) -> None:
        if name == target:
            os.kill(os.getpid(), signal.SIGKILL)

    return step


def run_child(action: str, name: str, step: str, uri: str) -> None:
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if action == "promotion":
        promotion.promote(client, name, who="killed", why="a kill test", after_step=kill_after(step))
    else:
        promotion.rollback(client, name, who="killed", why="a kill test", after_step=kill_after(step))


def main(name: str, jobs: list[str]) -> dict[str, int]:
    ended: dict[str, int] = {}
    for job in jobs:
        key, uri = job.split("=", 1)
        action, step = key.split(":", 1)
        pid = os.fork()
        if pid == 0:  # the child: its own registry (a URI no process here opened), then the kill
            try:
                run_child(action, name, step, uri)
            finally:
                os._exit(0)  # reached only when the step never came (the kill is the normal end)
        _, status = os.waitpid(pid, 0)
        ended[key] = os.WTERMSIG(status) if os.WIFSIGNALED(status) else -os.WEXITSTATUS(status)
    return ended


if __name__ == "__main__":
    sys.stdout.write(json.dumps(main(sys.argv[1], sys.argv[2:])) + "\n")
