"""Reading the deploy files the way their tools do, for the tests of their security properties:
the Dockerfile's stages, the images each file runs, the Kubernetes workloads' pod specs
(the work pool's Job included) and the pyproject/uv.lock versions they must agree with."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.project import PROJECT_ROOT

INFRA = PROJECT_ROOT / "infra"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    lines: list[str]  # the instructions after FROM, continuation lines joined


def dockerfile_stages(path: Path = INFRA / "Dockerfile") -> list[Stage]:
    """FROM ... [AS name] splits the file; ARG defaults before the first FROM are substituted."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in lines:
        found = re.fullmatch(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, flags=re.IGNORECASE)
        if found:
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], found.group(1))
            stages.append(Stage(base, found.group(2), []))
        elif stages:
            stages[-1].lines.append(line)
        elif (arg := re.fullmatch(r"ARG\s+(\w+)=(\S+)", line)) is not None:
            args[arg.group(1)] = arg.group(2)
    return stages


def manifests() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((INFRA / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc
    ]


def work_pool_job() -> dict[str, Any]:
    """The Job the Kubernetes work pool creates for a flow run, with the template's defaults."""
    from prefect.utilities.templating import apply_values

    template = json.loads((INFRA / "prefect" / "kubernetes-base-job-template.json").read_text(encoding="utf-8"))
    values = {k: v["default"] for k, v in template["variables"]["properties"].items() if "default" in v}
    values.update(name="flow-run-1", command="prefect flow-run execute")
    job: dict[str, Any] = apply_values(template["job_configuration"], values, remove_notset=True)["job_manifest"]
    return job


def pod_specs() -> dict[str, dict[str, Any]]:
    """Every pod template the project runs on Kubernetes, by `Kind/name`."""
    specs = {
        f"{m['kind']}/{m['metadata']['name']}": m["spec"]["template"]
        for m in manifests()
        if m["kind"] in WORKLOAD_KINDS
    }
    specs["Job/work-pool-flow-run"] = work_pool_job()["spec"]["template"]
    return specs


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((INFRA / "docker-compose.yml").read_text(encoding="utf-8"))
    return loaded


def images() -> dict[str, str]:
    """Every image reference the deploy and CI files run, keyed by where it is named."""
    found: dict[str, str] = {}
    for number, stage in enumerate(dockerfile_stages()):
        found[f"Dockerfile stage {number}"] = stage.base
        for line in stage.lines:
            if (source := re.match(r"COPY\s+--from=(\S+)", line)) and (
                "/" in source.group(1) or ":" in source.group(1)
            ):
                found[f"Dockerfile COPY --from in stage {number}"] = source.group(1)
    for name, service in compose()["services"].items():
        found[f"compose {name}"] = service["image"]
    for where, template in pod_specs().items():
        for container in template["spec"]["containers"] + template["spec"].get("initContainers", []):
            found[f"{where} {container['name']}"] = container["image"]
    for kind in ("docker", "kubernetes"):
        template = json.loads((INFRA / "prefect" / f"{kind}-base-job-template.json").read_text(encoding="utf-8"))
        found[f"{kind} work pool"] = template["variables"]["properties"]["image"]["default"]
    found.update(ci_images())
    return found


def ci_images() -> dict[str, str]:
    found: dict[str, str] = {}
    github = PROJECT_ROOT / ".github" / "workflows" / "ci.yml"
    if github.exists():
        for job_name, job in yaml.safe_load(github.read_text(encoding="utf-8"))["jobs"].items():
            for name, service in (job.get("services") or {}).items():
                found[f"GitHub {job_name} service {name}"] = service["image"]
    gitlab = PROJECT_ROOT / ".gitlab-ci.yml"
    if gitlab.exists():
        config = yaml.safe_load(gitlab.read_text(encoding="utf-8"))
        found["GitLab default image"] = config["default"]["image"]
        for job_name, job in config.items():
            for service in job.get("services", []) if isinstance(job, dict) else []:
                found[f"GitLab {job_name} service"] = service["name"] if isinstance(service, dict) else service
    return found


def split_image(reference: str) -> tuple[str, str | None]:
    """`registry/name:tag@digest` -> (name with registry, tag or None)."""
    reference = reference.split("@", 1)[0]
    name, _, tag = reference.rpartition(":")
    if not name or "/" in tag:  # no tag: the colon (if any) belonged to a registry port
        return reference, None
    return name, tag


def locked_version(package: str) -> str:
    lock = tomllib.loads((PROJECT_ROOT / "uv.lock").read_text(encoding="utf-8"))
    (version,) = {p["version"] for p in lock["package"] if p["name"] == package}
    return str(version)


def project() -> tuple[str, str]:
    """(distribution name, version) from pyproject.toml."""
    meta = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return str(meta["name"]), str(meta["version"])
