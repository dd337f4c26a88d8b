"""Deployment files that cannot run here (no Docker engine, no cluster) are checked
against their schemas: the compose file, the Kubernetes manifests and the CI workflow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.project import PROJECT_ROOT

CHECK_JSONSCHEMA = str(Path(sys.executable).with_name("check-jsonschema"))
KUBERNETES_VERSION = "1.31.0"
CI_FILES = {
    ".github/workflows/ci.yml": "vendor.github-workflows",
    ".gitlab-ci.yml": "vendor.gitlab-ci",
}


def schema_check(path: Path, schema: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHECK_JSONSCHEMA, "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def manifests() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((PROJECT_ROOT / "infra" / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc
    ]


def test_compose_file_matches_the_compose_specification() -> None:
    """infra/docker-compose.yml is a valid Compose file."""
    # Given the compose file / When checked against the Compose spec / Then it passes
    result = schema_check(PROJECT_ROOT / "infra" / "docker-compose.yml", "vendor.compose-spec")
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_takes_secrets_from_the_environment() -> None:
    """No password or key is written into the compose file: each is a required variable."""
    # Given the compose file's text
    text = (PROJECT_ROOT / "infra" / "docker-compose.yml").read_text(encoding="utf-8")
    compose = yaml.safe_load(text)

    # Then every secret-looking value is an environment reference
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in ("PASSWORD", "SECRET", "KEY")):
                assert str(value).startswith("${"), f"{name}.{key} is not taken from the environment"


@pytest.mark.parametrize("relative", [p for p in CI_FILES if (PROJECT_ROOT / p).exists()] or ["(none)"])
def test_ci_workflow_matches_its_schema(relative: str) -> None:
    """The CI file for the chosen CI system is valid for that system."""
    # Given the CI file of this bake (none when CI was not chosen)
    if relative == "(none)":
        assert not any((PROJECT_ROOT / p).exists() for p in CI_FILES)
        return

    # When checked against the CI system's schema / Then it passes
    result = schema_check(PROJECT_ROOT / relative, CI_FILES[relative])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("manifest", manifests(), ids=lambda m: f"{m['kind']}-{m['metadata']['name']}")
def test_kubernetes_manifest_is_valid(manifest: dict[str, Any]) -> None:
    """Each Kubernetes manifest validates strictly against the API schema."""
    import kubernetes_validate

    # Given one manifest / When validated strictly / Then no error is raised
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_kubernetes_manifests_reference_what_exists() -> None:
    """ConfigMaps referenced by workloads are defined, and the HPA targets the Deployment."""
    # Given all manifests
    found = manifests()
    config_maps = {m["metadata"]["name"] for m in found if m["kind"] == "ConfigMap"}
    deployments = {m["metadata"]["name"] for m in found if m["kind"] == "Deployment"}

    # Then references resolve
    for deployment in (m for m in found if m["kind"] == "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps
    for hpa in (m for m in found if m["kind"] == "HorizontalPodAutoscaler"):
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
