"""What a security review of the deploy files checks, on the files themselves (no Docker
engine or cluster here): the build context, the image's user, pinned images, the Kubernetes
containers' security settings and resources, and that every name a manifest refers to is
defined or documented. The network policies are in test_network_policy.py."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest

from tests.project.deploy_files import (
    INFRA,
    dockerfile_stages,
    images,
    locked_version,
    manifests,
    pod_specs,
    project,
    split_image,
)
from tests.support.project import PROJECT_ROOT

# What must never be sent to the Docker daemon: secrets, history, local state and caches.
NEVER_IN_AN_IMAGE = [
    ".env",
    ".env.production",
    ".git/config",
    "var/mlflow.db",
    "var/prediction_log.db",
    "data/transactions.parquet",
    ".venv/bin/python",
    ".tools/bin/uv",
    "src/pkg/__pycache__/cli.cpython-311.pyc",
    ".mypy_cache/3.11/x.json",
    ".pytest_cache/v/cache",
    ".ruff_cache/x",
    ".import_linter_cache/graph.json",
]
# ...and what the image needs, some of it named like the above (the package's data stage).
NEEDED_IN_THE_BUILD = ["pyproject.toml", "uv.lock", "README.md", "src/pkg/data/tables.py", "flows/training.py"]
PINNED_TAG = re.compile(r"v?\d+\.\d+")  # at least major.minor (`v3.5.0` too): `16`, `3`, `3-python3.11` are moving tags


def dockerignore_patterns() -> list[str]:
    lines = (PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert not any(p.startswith("!") for p in patterns), "re-included paths are not modelled by this test"
    return [p.lstrip("/") for p in patterns]


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: a pattern matches a path relative to the context root, or a parent
    folder of it (which excludes everything inside); `**/` matches any number of folders."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        candidates = [pattern, pattern[3:]] if pattern.startswith("**/") else [pattern]
        for candidate in candidates:
            regex = fnmatch.translate(candidate).replace(".*", "[^/]*")
            if pattern.startswith("**/"):
                regex = "(?:.*/)?" + regex
            if any(re.fullmatch(regex, prefix) for prefix in prefixes):
                return True
    return False


@pytest.mark.parametrize("path", NEVER_IN_AN_IMAGE)
def test_dockerignore_keeps_secrets_state_and_caches_out_of_the_build(path: str) -> None:
    """.dockerignore excludes secrets, the git history, run-time state, data, environments
    and caches from the build context, so no image layer can contain them."""
    # Given the project's .dockerignore / When the path is matched / Then it is excluded
    assert ignored(path, dockerignore_patterns()), f"{path} would be sent to the Docker build"


@pytest.mark.parametrize("path", NEEDED_IN_THE_BUILD)
def test_dockerignore_keeps_what_the_image_is_built_from(path: str) -> None:
    """The files the Dockerfile copies stay in the context (`data` at the root is ignored,
    the package's own `data` stage is not)."""
    # Given the project's .dockerignore / When the path is matched / Then it is kept
    assert not ignored(path, dockerignore_patterns()), f"{path} is excluded but the image needs it"


def test_dockerfile_builds_in_two_stages_and_runs_as_a_fixed_non_root_uid() -> None:
    """The runtime stage is a fresh base with the builder's environment copied in (no uv, no
    build cache), and it ends with a numeric, non-zero USER that the manifests also name."""
    # Given the Dockerfile's stages
    builder, runtime = dockerfile_stages()

    # Then the builder installs the lock and the runtime only copies from it
    assert any("uv sync --frozen" in line for line in builder.lines)
    assert runtime.base == builder.base, "the venv's python links to the base image's interpreter"
    assert not any(re.search(r"\buv\b", line) for line in runtime.lines if not line.startswith("COPY --from=builder"))
    assert any(line.startswith("COPY --from=builder /app/.venv") for line in runtime.lines)
    assert not any(line.startswith("COPY . ") for line in runtime.lines)
    users = [line.split(None, 1)[1] for line in runtime.lines if line.startswith("USER ")]
    assert users, "the runtime stage sets no USER: it would run as root"
    uid = image_uid()
    assert users[-1].split(":")[0] in {uid, "${APP_UID}"}
    assert uid.isdigit()
    assert int(uid) > 0


def image_uid() -> str:
    (_, runtime) = dockerfile_stages()
    (line,) = [line for line in runtime.lines if line.startswith("ARG APP_UID=")]
    return line.split("=", 1)[1]


@pytest.mark.parametrize(("where", "image"), sorted(images().items()))
def test_every_image_has_a_fixed_tag(where: str, image: str) -> None:
    """No image is untagged, `:latest`, or a moving major-only tag."""
    # Given one image reference / When its tag is read
    _, tag = split_image(image)

    # Then it names a release
    assert tag is not None, f"{where}: {image} has no tag"
    assert tag != "latest", f"{where}: {image}"
    assert PINNED_TAG.match(tag), f"{where}: {image} is a moving tag (want major.minor at least)"


def test_prefect_images_run_the_locked_prefect() -> None:
    """The Prefect server and worker images carry the Prefect version in uv.lock, so that the
    worker and the flow runs it starts speak the same client version."""
    # Given the locked Prefect version and every Prefect image named
    version = locked_version("prefect")
    prefect_images = {w: i for w, i in images().items() if split_image(i)[0].endswith("prefecthq/prefect")}
    assert prefect_images

    # Then each is tagged with that version, for the project's Python
    python = (PROJECT_ROOT / ".python-version").read_text(encoding="utf-8").strip()
    for where, image in prefect_images.items():
        tag = split_image(image)[1] or ""
        assert tag.startswith(f"{version}-python{python}"), f"{where}: {image}, but uv.lock has prefect {version}"


def test_project_images_carry_the_project_version_and_the_makefiles_uv() -> None:
    """The project's own images are tagged with pyproject.toml's version, and the Dockerfile
    copies the uv the Makefile pins."""
    # Given the project's name and version, and the Makefile's uv
    name, version = project()
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    uv_version = re.search(r"^UV_VERSION := (\S+)$", makefile, flags=re.MULTILINE)
    assert uv_version

    # Then
    own = {w: i for w, i in images().items() if split_image(i)[0] in {name, f"{name}-service"}}
    assert own
    for where, image in own.items():
        assert split_image(image)[1] == version, f"{where}: {image}, but pyproject.toml says {version}"
    uv_images = [i for i in images().values() if split_image(i)[0].endswith("astral-sh/uv")]
    assert uv_images == [f"ghcr.io/astral-sh/uv:{uv_version.group(1)}"]


def test_gitlab_ci_tests_on_the_images_python() -> None:
    """GitLab CI runs on the same pinned Python image as the project image's base."""
    # Given the CI file of this bake (only the GitLab choice has one)
    gitlab = images().get("GitLab default image")
    if gitlab is None:
        pytest.skip("this bake's CI is not GitLab")

    # Then its image is the Dockerfile's base
    assert gitlab == dockerfile_stages()[0].base


def effective(template: dict[str, Any], container: dict[str, Any], key: str) -> Any:
    """A container's securityContext field, or the pod's when the container does not set it."""
    return container.get("securityContext", {}).get(key, template["spec"].get("securityContext", {}).get(key))


@pytest.mark.parametrize("where", sorted(pod_specs()))
def test_every_kubernetes_container_is_locked_down(where: str) -> None:
    """Every container runs as a numeric non-root user on a read-only root filesystem, with no
    privilege escalation, no capabilities, the default seccomp profile, and CPU and memory
    requests and limits; what it writes is a mounted volume."""
    # Given one pod template (each workload of infra/k8s and the work pool's flow-run Job)
    template = pod_specs()[where]

    for container in template["spec"]["containers"]:
        name = f"{where} {container['name']}"
        context = container.get("securityContext", {})
        # Then its security settings are all there
        assert effective(template, container, "runAsNonRoot") is True, name
        uid = effective(template, container, "runAsUser")
        assert isinstance(uid, int), f"{name}: runAsNonRoot needs a numeric user to verify"
        assert uid > 0, name
        assert context.get("readOnlyRootFilesystem") is True, name
        assert context.get("allowPrivilegeEscalation") is False, name
        assert "ALL" in context.get("capabilities", {}).get("drop", []), name
        assert not context.get("capabilities", {}).get("add"), name
        assert effective(template, container, "seccompProfile") == {"type": "RuntimeDefault"}, name
        assert not context.get("privileged"), name
        # And its resources are bounded
        resources = container.get("resources", {})
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{name}: {bound} {resources.get(bound)}"
        # And every mount is a volume of the pod, /tmp among them
        volumes = {v["name"] for v in template["spec"].get("volumes", [])}
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        assert set(mounts.values()) <= volumes, name
        assert "/tmp" in mounts, f"{name}: a read-only root filesystem needs a writable /tmp"


def project_image_pods() -> list[str]:
    name, _ = project()
    return sorted(
        where
        for where, template in pod_specs().items()
        if any(split_image(c["image"])[0] == name for c in template["spec"]["containers"])
    )


@pytest.mark.parametrize("where", project_image_pods())
def test_project_image_pods_run_as_the_images_user_and_write_its_state_folder(where: str) -> None:
    """Pods of the project image run as the Dockerfile's uid, with its state folder and HOME
    writable (the settings put state in /app/var)."""
    # Given a pod template running the project image
    template = pod_specs()[where]
    name, _ = project()

    # Then each of its containers runs as the image's user with its writable folders mounted
    for container in (c for c in template["spec"]["containers"] if split_image(c["image"])[0] == name):
        assert str(effective(template, container, "runAsUser")) == image_uid()
        mounted = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert {"/app/var", "/home/app", "/tmp"} <= mounted, where


def test_only_the_prefect_worker_gets_a_kubernetes_api_token() -> None:
    """Pods that do not call the Kubernetes API mount no service-account token."""
    # Given every pod template / Then only the worker (which creates Jobs) keeps its token
    for where, template in pod_specs().items():
        if where == "Deployment/prefect-worker":
            assert template["spec"]["serviceAccountName"] == "prefect-worker"
            continue
        assert template["spec"].get("automountServiceAccountToken") is False, where


def external_names() -> str:
    """The infra README's section on services outside the manifests."""
    text = (INFRA / "README.md").read_text(encoding="utf-8")
    return text[text.index("## Outside the manifests") :]


def referenced_hosts() -> set[str]:
    """Host names in the manifests' URLs and addresses (ConfigMap values, container args)."""
    text = "\n".join(str(m) for m in manifests())
    return set(re.findall(r"(?:https?|tcp)://([a-z0-9-]+)[.:/]", text))


def test_every_name_a_manifest_refers_to_is_defined_or_documented() -> None:
    """ConfigMaps, Services and the hosts in URLs are defined in infra/k8s; Secrets, and hosts
    that are not, are listed in infra/README.md as services you provide."""
    # Given the manifests, and what they define
    found = manifests()
    defined = {(m["kind"], m["metadata"]["name"]) for m in found}
    services = {name for kind, name in defined if kind == "Service"}
    external = external_names()
    specs = pod_specs()

    # Then each ConfigMap is defined, each Secret documented
    for where, template in specs.items():
        for container in template["spec"]["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert ("ConfigMap", source["configMapRef"]["name"]) in defined, where
                if "secretRef" in source:
                    assert f"Secret `{source['secretRef']['name']}`" in external, where
    # And each host is a Service here or documented as outside
    hosts = referenced_hosts()
    assert {"mlflow", "dask-scheduler"} <= hosts
    for host in hosts:
        assert host in services or f"`{host}`" in external, f"{host} is neither a Service in infra/k8s nor documented"
    # And each Service selects the pods of a workload
    labels = [t["metadata"].get("labels", {}) for t in specs.values()]
    for service in (m for m in found if m["kind"] == "Service"):
        selector = service["spec"]["selector"]
        assert any(selector.items() <= pod.items() for pod in labels), service["metadata"]["name"]
