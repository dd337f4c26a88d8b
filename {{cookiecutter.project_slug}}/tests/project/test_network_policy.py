"""infra/k8s/networkpolicy.yaml, evaluated as Kubernetes does (a flow is allowed when a policy
selecting the source allows its egress and a policy selecting the destination allows its
ingress; a pod no policy selects in a direction is open in it): the flows the project needs
are open, everything else between its pods is closed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.project.deploy_files import manifests, pod_specs, project

DNS = 53


def policies() -> list[dict[str, Any]]:
    return [m for m in manifests() if m["kind"] == "NetworkPolicy"]


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert not selector.get("matchExpressions"), "matchExpressions are not modelled by this test"
    return bool(selector.get("matchLabels", {}).items() <= labels.items())


def peer_matches(peers: list[dict[str, Any]] | None, labels: dict[str, str]) -> bool:
    """A rule's from/to: absent means any peer; a podSelector alone means this namespace's pods.
    Peers outside the namespace (namespaceSelector, ipBlock) never match a pod here."""
    if peers is None:
        return True
    return any(set(peer) == {"podSelector"} and selects(peer["podSelector"], labels) for peer in peers)


def port_matches(ports: list[dict[str, Any]] | None, port: int) -> bool:
    return ports is None or any(p.get("port") == port and p.get("protocol", "TCP") == "TCP" for p in ports)


def allowed_one_way(labels: dict[str, str], peer: dict[str, str], port: int, direction: str) -> bool:
    """Is `direction` (ingress or egress) of the pod with `labels`, to/from `peer`, allowed?"""
    policy_type, peers_key = ("Ingress", "from") if direction == "ingress" else ("Egress", "to")
    selecting = [
        p for p in policies() if policy_type in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels)
    ]
    if not selecting:
        return True
    return any(
        peer_matches(rule.get(peers_key), peer) and port_matches(rule.get("ports"), port)
        for policy in selecting
        for rule in policy["spec"].get(direction, [])
    )


def allowed(source: str, destination: str, port: int) -> bool:
    src, dst = labels_of(source), labels_of(destination)
    return allowed_one_way(src, dst, port, "egress") and allowed_one_way(dst, src, port, "ingress")


def labels_of(app: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app}


SLUG = project()[0]
SERVICE, FLOW_RUN = f"{SLUG}-service", f"{SLUG}-flow-run"
A_DASK_PORT = 40123  # workers listen on ports Dask picks at start
NEEDED = [
    (SERVICE, "mlflow", 5000),
    (FLOW_RUN, "mlflow", 5000),
    (FLOW_RUN, "dask-scheduler", 8786),
    ("dask-worker", "dask-scheduler", 8786),
    ("dask-scheduler", "dask-worker", A_DASK_PORT),
    ("dask-worker", "dask-worker", A_DASK_PORT),
    (FLOW_RUN, "dask-worker", A_DASK_PORT),
]
NOT_NEEDED = [
    (SERVICE, "dask-scheduler", 8786),
    (SERVICE, FLOW_RUN, 8080),
    ("dask-worker", "mlflow", 5000),
    ("prefect-worker", "mlflow", 5000),
    ("mlflow", SERVICE, 3000),
    (SERVICE, "mlflow", 5432),
    (FLOW_RUN, "dask-scheduler", 8787),  # the dashboard: kubectl port-forward, not pod traffic
    ("dask-scheduler", "mlflow", 5000),
]


def test_a_default_deny_policy_covers_every_pod() -> None:
    """One policy selects every pod and allows nothing, in both directions."""
    # Given the policies / Then one selects all pods with no rule
    deny = [
        p
        for p in policies()
        if p["spec"]["podSelector"] == {} and not p["spec"].get("ingress") and not p["spec"].get("egress")
    ]
    assert deny
    assert set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}


def test_every_workload_has_a_policy_of_its_own() -> None:
    """Each pod the project runs (the flow-run Jobs included) is selected by a policy other than
    the namespace-wide ones, so its allowed flows are written down."""
    # Given every pod template's labels
    for where, template in pod_specs().items():
        labels = template["metadata"]["labels"]
        # Then a policy with a non-empty selector selects it
        assert any(p["spec"]["podSelector"] and selects(p["spec"]["podSelector"], labels) for p in policies()), where


@pytest.mark.parametrize(("source", "destination", "port"), NEEDED)
def test_the_flows_the_project_needs_are_allowed(source: str, destination: str, port: int) -> None:
    """The service and flow runs reach MLflow; Dask's scheduler, workers and clients reach each other."""
    # Given the policies / When the flow is evaluated / Then it is allowed
    assert allowed(source, destination, port)


@pytest.mark.parametrize(("source", "destination", "port"), NOT_NEEDED)
def test_other_flows_between_the_projects_pods_are_denied(source: str, destination: str, port: int) -> None:
    """A flow no component needs is closed (an exposed port is not an open door)."""
    # Given the policies / When the flow is evaluated / Then it is denied
    assert not allowed(source, destination, port)


def test_every_pod_resolves_names_and_only_the_service_takes_outside_clients() -> None:
    """DNS is open to every pod; ingress from any source is open only on the service's port."""
    # Given the namespace-wide DNS rule
    dns = [p for p in policies() if p["spec"]["podSelector"] == {} and p["spec"].get("egress")]
    assert any(port_matches(rule.get("ports"), DNS) for p in dns for rule in p["spec"]["egress"])
    # Then ingress rules open to any source exist only for the service, on its HTTP port
    for policy in policies():
        for rule in policy["spec"].get("ingress", []):
            if "from" not in rule:
                assert policy["spec"]["podSelector"] == {"matchLabels": labels_of(SERVICE)}, policy["metadata"]["name"]
                assert [p["port"] for p in rule["ports"]] == [3000]
