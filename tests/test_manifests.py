"""The Kubernetes objects the platform declares validate against the OpenAPI schema of the cluster's
Kubernetes version (offline, with kubernetes-validate), on every target; and every platform namespace
is default-deny, with quotas equal to the config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from mlinfra.stacks.loader import load
from mlinfra.stacks.offline import Plan, PlannedResource
from mlinfra.stacks.program import plan

STACKS = Path(__file__).resolve().parent.parent / "stacks"
EXAMPLES = ["gcp-dev.yaml", "aws-dev.yaml", "local.yaml", "gcp-prod.yaml", "aws-prod.yaml", "onprem-prod.yaml"]
DEFAULT_VERSION = "1.31"
# Custom resources: their schemas come with their operators' CRDs, not with Kubernetes.
CRD_GROUPS = ("kueue.x-k8s.io", "cert-manager.io", "monitoring.coreos.com", "monitoring.googleapis.com",
              "minio.min.io", "jetstream.nats.io", "postgresql.cnpg.io", "serving.kserve.io", "jobset.x-k8s.io")


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # how the engine marks a secret value


def _unwrap(value: Any) -> Any:
    """Secret-wrapped values become their plain value (the schema sees what the API server would)."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return _unwrap(value.get("value"))
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


def _manifest(res: PlannedResource) -> dict[str, Any]:
    return {k: _unwrap(v) for k, v in res.inputs.items() if v is not None}


def _objects(result: Plan) -> list[PlannedResource]:
    return [r for r in result.resources if r.custom and r.type.startswith("kubernetes:")
            and not r.type.startswith("kubernetes:helm.sh/")]


@pytest.mark.parametrize("name", EXAMPLES)
def test_objects_validate_against_the_cluster_openapi_schema(name: str) -> None:
    config = load(STACKS / name)
    version = config.clusters[0].kubernetes_version or DEFAULT_VERSION
    objects = _objects(plan(config))
    assert len(objects) > 20
    checked = 0
    for res in objects:
        manifest = _manifest(res)
        group = str(manifest.get("apiVersion", "")).split("/")[0]
        if group in CRD_GROUPS:
            continue
        kubernetes_validate.validate(manifest, version, strict=True)
        checked += 1
    assert checked > 15


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_team_namespace_is_default_deny_with_config_quotas(name: str) -> None:
    config = load(STACKS / name)
    result = plan(config)
    policies = [r.inputs for r in result.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")]
    quotas = {r.inputs["metadata"]["namespace"]: r.inputs["spec"]["hard"]
              for r in result.of_type("kubernetes:core/v1:ResourceQuota")}
    queues = {q.team: q for q in config.training.queues}
    for team in config.iam.teams:
        deny = [p for p in policies if p["metadata"].get("namespace") == team.name
                and p["spec"].get("podSelector") == {} and not p["spec"].get("ingress")
                and not p["spec"].get("egress") and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}]
        assert deny, f"{name}: namespace {team.name} has no default-deny NetworkPolicy"
        if team.name in queues:
            assert quotas[team.name]["requests.nvidia.com/gpu"] == str(queues[team.name].gpus)
