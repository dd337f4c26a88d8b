"""The work-pool base job templates in infra/prefect/ (no Docker engine or cluster here: their
shape is checked, the Kubernetes Job they produce is validated against the API schema, and
tests/integration/test_deployments.py has the Prefect server accept them)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.project import PROJECT_ROOT

TEMPLATES = sorted((PROJECT_ROOT / "infra" / "prefect").glob("*-base-job-template.json"))
PLACEHOLDER = re.compile(r"\{\{ *(\w+) *\}\}")
KUBERNETES_VERSION = "1.31.0"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def project_root_variable() -> str:
    """The environment variable the pull step in prefect.yaml moves into."""
    config = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    (step,) = config["pull"]
    directory = step["prefect.deployments.steps.set_working_directory"]["directory"]
    found = re.fullmatch(r"\{\{ *\$(\w+) *\}\}", directory)
    assert found, directory
    return found.group(1)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_every_placeholder_is_a_declared_variable(path: Path) -> None:
    """Prefect refuses a template whose job configuration uses an undeclared variable."""
    # Given a base job template
    template = load(path)

    # When its placeholders are collected / Then each is declared under variables
    used = set(PLACEHOLDER.findall(json.dumps(template["job_configuration"])))
    assert used
    assert used <= set(template["variables"]["properties"])


@pytest.mark.parametrize("kind", ["docker", "kubernetes"])
def test_container_pools_run_the_project_image_from_the_project_root(kind: str) -> None:
    """Container flow runs start where the pull step expects the project, with a state
    folder the image's user may write, from the project image tagged with its version."""
    # Given the container template
    variables = load(PROJECT_ROOT / "infra" / "prefect" / f"{kind}-base-job-template.json")["variables"]["properties"]

    # Then its defaults point at the project image and its /app folder
    env = variables["env"]["default"]
    assert env[project_root_variable()] == "/app"
    assert env[project_root_variable().replace("PROJECT_ROOT", "STATE_DIR")].startswith("/app/")
    meta = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert variables["image"]["default"] == f"{meta['name']}:{meta['version']}"


def test_the_kubernetes_job_is_valid_and_takes_settings_from_the_configmap_and_secret() -> None:
    """With its defaults filled in as the Kubernetes worker does, the template gives a Job that
    validates strictly, reading settings from infra/k8s's ConfigMap and a Secret."""
    import kubernetes_validate
    from prefect.utilities.templating import apply_values

    # Given the template's defaults, and the values a worker supplies for a flow run
    template = load(PROJECT_ROOT / "infra" / "prefect" / "kubernetes-base-job-template.json")
    values = {k: v["default"] for k, v in template["variables"]["properties"].items() if "default" in v}
    values.update(name="flow-run-1", command="prefect flow-run execute")

    # When the Job is rendered (the worker turns the command and env into lists)
    job = apply_values(template["job_configuration"], values, remove_notset=True)["job_manifest"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["args"] = container["args"].split()
    container["env"] = [{"name": k, "value": v} for k, v in container["env"].items()]

    # Then it is a valid Job reading the project's ConfigMap and Secret
    kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)
    config_maps = [
        doc["metadata"]["name"]
        for path in (PROJECT_ROOT / "infra" / "k8s").glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc and doc["kind"] == "ConfigMap"
    ]
    sources = {next(iter(s)): next(iter(s.values()))["name"] for s in container["envFrom"]}
    assert sources["configMapRef"] in config_maps
    assert sources["secretRef"].endswith("-secrets")
