"""The shared in-cluster add-ons under mocks: accelerator support, training, serving and monitoring layers.

Each test runs one component in a fresh offline Plan with a render-to-directory Kubernetes provider and
asserts on the recorded inputs: which charts per target, from which pinned source, with which security values,
into which Pod Security level; the cert-manager issuer chain; KServe's mode; the alert rule kinds."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pydantic import BaseModel, ValidationError

from mlinfra.components.kubernetes import gpu, monitoring, serving, training
from mlinfra.components.kubernetes.charts import CHARTS, ChartRef, resolve
from mlinfra.components.kubernetes.gpu import AcceleratorSupport, AcceleratorSupportArgs
from mlinfra.components.kubernetes.monitoring import ALERT_RULES, MonitoringLayer, MonitoringLayerArgs
from mlinfra.components.kubernetes.serving import ServingLayer, ServingLayerArgs
from mlinfra.components.kubernetes.training import TrainingLayer, TrainingLayerArgs
from mlinfra.stacks.offline import Plan, PlannedResource, run_program

CHART = "kubernetes:helm.sh/v4:Chart"
NAMESPACE = "kubernetes:core/v1:Namespace"
MODULES = (gpu, training, serving, monitoring)


def _plan(build: Callable[[pulumi.ResourceOptions], Any]) -> Plan:
    def program() -> None:
        provider = k8s.Provider("k8s", render_yaml_to_directory="/tmp/mlinfra-k8s-addons")
        build(pulumi.ResourceOptions(providers=[provider]))

    return run_program(program, project="mlinfra", stack="test")


def _charts(plan: Plan) -> dict[str, PlannedResource]:
    return {r.inputs["chart"].rpartition("/")[2]: r for r in plan.of_type(CHART)}


def _namespaces(plan: Plan) -> dict[str, str]:
    """Namespace name -> its enforced Pod Security level."""
    return {r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
            for r in plan.of_type(NAMESPACE)}


def _cr(plan: Plan, kind: str) -> list[PlannedResource]:
    return [r for r in plan.resources if r.type.startswith("kubernetes:") and r.type.endswith(f":{kind}")]


def _assert_restricted(pod: dict[str, Any], container: dict[str, Any], res: dict[str, Any]) -> None:
    assert pod["runAsNonRoot"] is True and pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["allowPrivilegeEscalation"] is False and container["capabilities"] == {"drop": ["ALL"]}
    assert container["readOnlyRootFilesystem"] is True
    assert set(res) == {"requests", "limits"} and all(set(res[k]) == {"cpu", "memory"} for k in res)


def _assert_node_agent(pod: dict[str, Any], container: dict[str, Any], res: dict[str, Any]) -> None:
    """A root node agent: still no escalation, no extra capabilities beyond what it documents, seccomp, limits."""
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["allowPrivilegeEscalation"] is False and "ALL" in container["capabilities"]["drop"]
    assert set(res) == {"requests", "limits"}


# --- AcceleratorSupport ---------------------------------------------------------------------------------------

def _accel(**kw: Any) -> Plan:
    return _plan(lambda o: AcceleratorSupport("accel", AcceleratorSupportArgs(**kw), o))


def test_gke_installs_no_accelerator_chart() -> None:
    plan = _accel(target="gcp", nvidia=True)
    assert plan.of_type(CHART) == [] and plan.of_type(NAMESPACE) == []
    components = [r.type for r in plan.resources if r.type.startswith("mlinfra:")]
    assert components == ["mlinfra:kubernetes:AcceleratorSupport"]


def test_eks_device_plugin_and_neuron_on_their_pools_in_privileged_namespaces() -> None:
    plan = _accel(target="aws", nvidia=True, neuron=True, gpu_pools=["gpu"], neuron_pools=["trn"])
    charts = _charts(plan)
    assert set(charts) == {"nvidia-device-plugin", "neuron-helm-chart"}
    plugin = charts["nvidia-device-plugin"].inputs["values"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in plugin["tolerations"]
    terms = plugin["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "mlinfra.io/pool", "operator": "In", "values": ["gpu"]}]}]
    _assert_node_agent(plugin["podSecurityContext"], plugin["securityContext"], plugin["resources"])
    neuron = charts["neuron-helm-chart"].inputs["values"]
    assert neuron["scheduler"]["enabled"] is False and neuron["devicePlugin"]["enabled"] is True
    assert {"key": "aws.amazon.com/neuron", "operator": "Exists", "effect": "NoSchedule"} in \
        neuron["devicePlugin"]["tolerations"]
    dp = neuron["devicePlugin"]
    _assert_node_agent(dp["podSecurityContext"], dp["securityContext"], dp["resources"])
    assert _namespaces(plan) == {"nvidia-device-plugin": "privileged", "neuron-device-plugin": "privileged"}


def test_eks_without_accelerators_installs_nothing() -> None:
    assert _charts(_accel(target="aws")) == {}
    assert set(_charts(_accel(target="aws", nvidia=True, gpu_pools=["gpu"]))) == {"nvidia-device-plugin"}


@pytest.mark.parametrize("install_driver", [False, True])
def test_onprem_gpu_operator_driver_is_opt_in(install_driver: bool) -> None:
    plan = _accel(target="onprem", nvidia=True, install_driver=install_driver)
    charts = _charts(plan)
    assert set(charts) == {"gpu-operator"}
    values = charts["gpu-operator"].inputs["values"]
    assert values["driver"]["enabled"] is install_driver
    assert gpu.NVIDIA_TOLERATION in values["daemonsets"]["tolerations"]
    op = values["operator"]
    _assert_restricted(op["podSecurityContext"], op["securityContext"], op["resources"])
    assert _namespaces(plan) == {"gpu-operator": "privileged"}


@pytest.mark.parametrize("bad, message", [
    ({"target": "gcp", "neuron": True, "neuron_pools": ["x"]}, "only on AWS"),
    ({"target": "aws", "nvidia": True}, "gpu_pools"),
    ({"target": "aws", "neuron": True}, "neuron_pools"),
    ({"target": "gcp", "nvidia": True, "install_driver": True}, "on-prem only"),
])
def test_accelerator_args_reject_inconsistent_input(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AcceleratorSupportArgs(**bad)


# --- chart sources ---------------------------------------------------------------------------------------------

def test_charts_come_from_the_refs_passed_including_mirror_and_local_overrides() -> None:
    mirror = resolve("nvidia-device-plugin", mirror="oci://mirror.example/charts")
    local = resolve("neuron", repository="/srv/charts", version="1.1.0")
    charts = _charts(_accel(target="aws", nvidia=True, neuron=True, gpu_pools=["g"], neuron_pools=["n"],
                            nvidia_chart=mirror, neuron_chart=local))
    operator = resolve("gpu-operator", repository="oci://mirror.example/nvidia", version="v25.3.1")
    release = _charts(_accel(target="onprem", nvidia=True, nvidia_chart=operator))["gpu-operator"].inputs
    assert (release["chart"], release["version"]) == ("oci://mirror.example/nvidia/gpu-operator", "v25.3.1")
    assert charts["nvidia-device-plugin"].inputs["chart"] == "oci://mirror.example/charts/nvidia-device-plugin"
    assert charts["nvidia-device-plugin"].inputs["version"] == CHARTS["nvidia-device-plugin"].version
    assert charts["neuron-helm-chart"].inputs["chart"] == "/srv/charts/neuron-helm-chart"
    assert "version" not in charts["neuron-helm-chart"].inputs  # a local chart directory carries its version


@pytest.mark.parametrize("key", ["jobset", "cert-manager", "kserve", "kube-prometheus-stack", "gpu-operator"])
def test_every_chart_is_pinned_to_its_catalog_version_and_repository(key: str) -> None:
    plans = {
        "jobset": lambda: _plan(lambda o: TrainingLayer("t", TrainingLayerArgs(), o)),
        "cert-manager": lambda: _plan(lambda o: ServingLayer("s", ServingLayerArgs(target="gcp", domain="m.x"), o)),
        "kserve": lambda: _plan(lambda o: ServingLayer("s", ServingLayerArgs(target="gcp", domain="m.x"), o)),
        "kube-prometheus-stack": lambda: _plan(lambda o: MonitoringLayer("m", MonitoringLayerArgs(target="onprem"), o)),
        "gpu-operator": lambda: _accel(target="onprem", nvidia=True),
    }
    ref: ChartRef = CHARTS[key]
    release = _charts(plans[key]())[ref.name].inputs
    assert release["version"] == ref.version
    if ref.is_oci:
        assert release["chart"] == f"{ref.repository}/{ref.name}"
    else:
        assert release["chart"] == ref.name and release["repositoryOpts"] == {"repo": ref.repository}


# --- TrainingLayer ---------------------------------------------------------------------------------------------

def test_training_layer_installs_jobset_restricted() -> None:
    plan = _plan(lambda o: TrainingLayer("train", TrainingLayerArgs(), o))
    charts = _charts(plan)
    assert set(charts) == {"jobset"}
    controller = charts["jobset"].inputs["values"]["controller"]
    _assert_restricted(controller["podSecurityContext"], controller["securityContext"], controller["resources"])
    assert charts["jobset"].inputs["values"]["prometheus"]["enable"] is False
    assert _namespaces(plan) == {"jobset-system": "restricted"}


# --- ServingLayer ----------------------------------------------------------------------------------------------

def _serving(**kw: Any) -> Plan:
    args = {"target": "gcp", "domain": "models.example.com", **kw}
    return _plan(lambda o: ServingLayer("serve", ServingLayerArgs(**args), o))


def test_serving_installs_cert_manager_and_kserve_raw_deployment_restricted() -> None:
    plan = _serving()
    charts = _charts(plan)
    assert set(charts) == {"cert-manager", "kserve-crd", "kserve"}
    cm = charts["cert-manager"].inputs["values"]
    assert cm["crds"]["enabled"] is True
    for part in (cm, cm["webhook"], cm["cainjector"], cm["startupapicheck"]):
        _assert_restricted(part["securityContext"], part["containerSecurityContext"], part["resources"])
    controller = charts["kserve"].inputs["values"]["kserve"]["controller"]
    assert controller["deploymentMode"] == "RawDeployment"
    assert controller["gateway"]["ingressGateway"]["className"] == "gce-internal"
    assert controller["gateway"]["domain"] == "models.example.com"
    _assert_restricted(controller["securityContext"], controller["containerSecurityContext"], controller["resources"])
    assert _namespaces(plan) == {"cert-manager": "restricted", "kserve": "restricted"}
    assert any(d.endswith("::serve-cert-manager") for d in charts["kserve"].dependencies)


def test_internal_ca_chain_self_signed_to_root_cert_to_ca_issuer() -> None:
    plan = _serving()
    issuers = {r.inputs["metadata"]["name"]: r for r in _cr(plan, "ClusterIssuer")}
    assert set(issuers) == {"mlinfra-selfsigned", "mlinfra-ca"}
    assert issuers["mlinfra-selfsigned"].inputs["spec"] == {"selfSigned": {}}
    [root] = _cr(plan, "Certificate")
    assert root.inputs["metadata"] == {"name": "mlinfra-root-ca", "namespace": "cert-manager"}
    assert root.inputs["spec"]["isCA"] is True
    assert root.inputs["spec"]["issuerRef"]["name"] == "mlinfra-selfsigned"
    assert issuers["mlinfra-ca"].inputs["spec"] == {"ca": {"secretName": "mlinfra-root-ca"}}
    # each link waits for the previous one and for the cert-manager chart (its CRDs)
    assert any(d.endswith("::serve-selfsigned-issuer") for d in root.dependencies)
    assert any(d.endswith("::serve-root-ca") for d in issuers["mlinfra-ca"].dependencies)
    for res in (root, *issuers.values()):
        assert any(d.endswith("::serve-cert-manager") for d in res.dependencies), res.name


def test_acme_issuer_solves_http01_through_the_ingress_class() -> None:
    plan = _serving(target="aws", ingress="external", tls="acme", acme_email="ops@example.com")
    [issuer] = _cr(plan, "ClusterIssuer")
    assert _cr(plan, "Certificate") == []
    acme = issuer.inputs["spec"]["acme"]
    assert issuer.inputs["metadata"]["name"] == "mlinfra-acme" and acme["email"] == "ops@example.com"
    assert acme["solvers"] == [{"http01": {"ingress": {"ingressClassName": "alb"}}}]


@pytest.mark.parametrize("target, annotations", [
    ("gcp", {"networking.gke.io/load-balancer-type": "Internal"}),
    ("aws", {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}),
    ("onprem", {}),
])
def test_internal_load_balancer_annotations_per_target(target: str, annotations: dict[str, str]) -> None:
    [defaults] = _cr(_serving(target=target), "ConfigMap")
    data = defaults.inputs["data"]
    assert {k.removeprefix("loadBalancerAnnotation."): v for k, v in data.items()
            if k.startswith("loadBalancerAnnotation.")} == annotations
    assert (data["minReplicas"], data["maxReplicas"], data["scaleTarget"]) == ("1", "3", "70")
    [external] = _cr(_serving(target=target, ingress="external"), "ConfigMap")
    assert not any(k.startswith("loadBalancerAnnotation.") for k in external.inputs["data"])


def test_serving_switches() -> None:
    assert set(_charts(_serving(cert_manager=False))) == {"kserve-crd", "kserve"}
    plan = _serving(kserve=False)
    assert set(_charts(plan)) == {"cert-manager"} and len(_cr(plan, "ClusterIssuer")) == 2


@pytest.mark.parametrize("bad, message", [
    ({"tls": "acme", "ingress": "external"}, "acme_email"),
    ({"tls": "acme", "acme_email": "a@b.c"}, "HTTP-01"),
    ({"tls": "acme", "acme_email": "a@b.c", "ingress": "external", "domain": serving.INTERNAL_DOMAIN}, "public"),
    ({"min_replicas": 4, "max_replicas": 2}, "min_replicas"),
])
def test_serving_args_reject_inconsistent_input(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ServingLayerArgs(**{"target": "aws", "domain": "m.x", **bad})


def test_serving_args_accept_the_consistent_variants() -> None:
    assert ServingLayerArgs(target="gcp").domain == serving.INTERNAL_DOMAIN
    ServingLayerArgs(target="aws", domain="m.x", tls="acme", acme_email="a@b.c", ingress="external")
    ServingLayerArgs(target="aws", domain="m.x", min_replicas=2, max_replicas=2)
    AcceleratorSupportArgs(target="onprem", nvidia=True, install_driver=True)


# --- MonitoringLayer -------------------------------------------------------------------------------------------

def _monitoring(**kw: Any) -> Plan:
    return _plan(lambda o: MonitoringLayer("mon", MonitoringLayerArgs(**kw), o))


def test_onprem_kube_prometheus_stack_with_retention_storage_and_no_password() -> None:
    plan = _monitoring(target="onprem", retention_days=30, storage_size_gb=100)
    charts = _charts(plan)
    assert set(charts) == {"kube-prometheus-stack"}
    values = charts["kube-prometheus-stack"].inputs["values"]
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "30d"
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "100Gi"
    assert values["alertmanager"]["enabled"] is True
    assert values["grafana"]["adminPassword"] == ""  # cleared upstream default: the chart generates one
    assert "admin" not in values["grafana"]
    for part in ("prometheusOperator", "kube-state-metrics", "prometheus-node-exporter"):
        _assert_restricted(values[part]["securityContext"], values[part]["containerSecurityContext"],
                           values[part]["resources"])
    assert _namespaces(plan) == {"monitoring": "restricted", "monitoring-node-agents": "privileged"}
    assert values["prometheus-node-exporter"]["namespaceOverride"] == "monitoring-node-agents"


def test_eks_dcgm_exporter_on_gpu_nodes_only_when_asked() -> None:
    assert _charts(_monitoring(target="aws")) == {}
    plan = _monitoring(target="aws", gpu_metrics=True, gpu_pools=["gpu"])
    charts = _charts(plan)
    assert set(charts) == {"dcgm-exporter"}
    values = charts["dcgm-exporter"].inputs["values"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values["tolerations"]
    _assert_node_agent(values["podSecurityContext"], values["securityContext"], values["resources"])
    assert _namespaces(plan) == {"dcgm-exporter": "privileged", "monitoring": "restricted"}


def test_gke_installs_no_monitoring_chart() -> None:
    plan = _monitoring(target="gcp", gpu_metrics=True)
    assert plan.of_type(CHART) == [] and plan.of_type(NAMESPACE) == []


@pytest.mark.parametrize("target, api_version, kind", [
    ("onprem", "monitoring.coreos.com/v1", "PrometheusRule"),
    ("aws", "monitoring.coreos.com/v1", "PrometheusRule"),
    ("gcp", "monitoring.googleapis.com/v1", "ClusterRules"),
])
def test_alert_rules_render_as_the_targets_kind_with_the_same_names(target: str, api_version: str, kind: str) -> None:
    [rules] = _cr(_monitoring(target=target), kind)
    assert rules.inputs["apiVersion"] == api_version
    names = [r["alert"] for g in rules.inputs["spec"]["groups"] for r in g["rules"]]
    assert names == [r.name for r in ALERT_RULES]
    assert {"GpuXidError", "GpuMemoryNearFull", "GpuIdleWhileAllocated", "KueueWorkloadsPendingTooLong",
            "KueueClusterQueueAtQuota", "NodeNotReady"} == set(names)
    assert ("namespace" in rules.inputs["metadata"]) is (kind == "PrometheusRule")


def test_onprem_rules_wait_for_the_prometheus_operator() -> None:
    [rules] = _cr(_monitoring(target="onprem"), "PrometheusRule")
    assert any(d.endswith("::mon-kube-prometheus-stack") for d in rules.dependencies)


def test_rule_file_for_managed_prometheus_has_every_rule() -> None:
    text = monitoring.prometheus_rule_file()
    assert all(f"alert: {r.name}" in text for r in ALERT_RULES)
    assert len({r.name for r in ALERT_RULES}) == len(ALERT_RULES)


# --- contract --------------------------------------------------------------------------------------------------

def _own(base: type) -> list[type]:
    return [cls for mod in MODULES for _, cls in inspect.getmembers(mod, inspect.isclass)
            if issubclass(cls, base) and cls.__module__ == mod.__name__]


def test_components_are_registered_under_their_class_name() -> None:
    classes = _own(pulumi.ComponentResource)
    assert {c.__name__ for c in classes} == {"AcceleratorSupport", "TrainingLayer", "ServingLayer", "MonitoringLayer"}
    for cls in classes:
        assert f'"mlinfra:kubernetes:{cls.__name__}"' in inspect.getsource(cls), cls
        assert cls.__doc__ and len(cls.__doc__) > 80, cls
        assert list(inspect.signature(cls.__init__).parameters) == ["self", "name", "args", "opts"], cls


def test_args_are_frozen_strict_and_documented() -> None:
    models = _own(BaseModel)
    assert len(models) == 4
    for model in models:
        assert model.model_config.get("frozen") and model.model_config.get("extra") == "forbid", model
        for field, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{field} has no description"
            assert "Default" in info.description or "Required" in info.description, f"{model.__name__}.{field}"


def test_onprem_grafana_admin_comes_from_a_generated_secret_not_the_chart() -> None:
    """A stable credential (generated once by `mlinfra up`, a placeholder offline) instead of a per-render one."""
    from mlinfra.stacks.loader import load as load_stack
    from mlinfra.stacks.program import PLAN_PLACEHOLDER
    from mlinfra.stacks.program import plan as plan_stack

    result = plan_stack(load_stack(Path(__file__).resolve().parent.parent / "stacks" / "local.yaml"))
    (secret,) = [r for r in result.resources
                 if r.type == "kubernetes:core/v1:Secret" and r.name.endswith("grafana-admin")]
    assert secret.inputs["metadata"]["name"] == "grafana-admin"
    assert PLAN_PLACEHOLDER in str(secret.inputs["stringData"])  # the offline placeholder, wrapped as a secret
    (chart,) = [r for r in result.resources if r.type == "kubernetes:helm.sh/v4:Chart" and "prometheus" in r.name]
    grafana = chart.inputs["values"]["grafana"]
    assert grafana["admin"]["existingSecret"] == "grafana-admin" and "adminPassword" not in grafana
