"""Team tenancy and Kueue scheduling under Pulumi mocks: the objects each component renders, field by field."""

from __future__ import annotations

from functools import cache
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from pydantic import ValidationError

from mlinfra.components.kubernetes import charts
from mlinfra.components.kubernetes.scheduling import (
    FlavorArgs,
    QueueArgs,
    Scheduling,
    SchedulingArgs,
    TolerationArgs,
    resource_groups,
)
from mlinfra.components.kubernetes.tenancy import (
    GKE_METADATA_ENDPOINTS,
    ContainerDefaultsArgs,
    QuotaArgs,
    RbacSubject,
    TeamNamespace,
    TeamNamespaceArgs,
)
from mlinfra.stacks.offline import Plan, PlannedResource, run_program

NS = "kubernetes:core/v1:Namespace"
QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMITS = "kubernetes:core/v1:LimitRange"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SA = "kubernetes:core/v1:ServiceAccount"
SA_PATCH = "kubernetes:core/v1:ServiceAccountPatch"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CHART = "kubernetes:helm.sh/v4:Chart"
PRIORITY = "kubernetes:scheduling.k8s.io/v1:PriorityClass"
WPC = "kubernetes:kueue.x-k8s.io/v1beta1:WorkloadPriorityClass"
FLAVOR = "kubernetes:kueue.x-k8s.io/v1beta1:ResourceFlavor"
CQ = "kubernetes:kueue.x-k8s.io/v1beta1:ClusterQueue"
LQ = "kubernetes:kueue.x-k8s.io/v1beta1:LocalQueue"

TEAM = TeamNamespaceArgs(
    team="vision",
    quota=QuotaArgs(cpus=64, memory_gb=256, gpus=8, tpu_chips=0, neuron_devices=0),
    service_account_annotations={"iam.gke.io/gcp-service-account": "vision@acme.iam.gserviceaccount.com"},
    members=[RbacSubject(kind="Group", name="vision@example.com"), RbacSubject(kind="User", name="ada@example.com")],
    platform_namespaces=["monitoring", "kserve"],
    identity_endpoints=GKE_METADATA_ENDPOINTS,
)

SCHED = SchedulingArgs(
    kueue_chart=charts.resolve("kueue"),
    flavors=[
        FlavorArgs(name="default"),
        FlavorArgs(name="l4", node_labels={"cloud.google.com/gke-accelerator": "nvidia-l4"},
                   tolerations=[TolerationArgs(key="nvidia.com/gpu", operator="Exists")],
                   resources=["nvidia.com/gpu"]),
        FlavorArgs(name="v5e", node_labels={"cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice"},
                   tolerations=[TolerationArgs(key="google.com/tpu", value="present")],
                   resources=["google.com/tpu"]),
    ],
    queues=[
        QueueArgs(name="vision", namespace="vision", cpus=64, memory_gb=256, gpus=8, priority="high", borrowing=True),
        QueueArgs(name="nlp", namespace="nlp", cpus=32, memory_gb=128, tpu_chips=16),
    ],
)


def _provider() -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(providers=[k8s.Provider("k8s", render_yaml_to_directory="/tmp/mlinfra-k8s")])


def plan_of(program: Any) -> Plan:
    return run_program(program, project="mlinfra", stack="test")


@cache
def tenancy_plan() -> Plan:
    return plan_of(lambda: TeamNamespace("vision", TEAM, _provider()))


@cache
def scheduling_plan() -> Plan:
    return plan_of(lambda: Scheduling("sched", SCHED, _provider()))


def one(plan: Plan, type_: str, name: str) -> PlannedResource:
    found = [r for r in plan.of_type(type_) if r.name == name]
    assert len(found) == 1, f"{len(found)} {type_} named {name}: {[r.name for r in plan.of_type(type_)]}"
    return found[0]


def policy(suffix: str) -> dict[str, Any]:
    return one(tenancy_plan(), NETPOL, f"vision-{suffix}").inputs["spec"]


# --- TeamNamespace ---------------------------------------------------------------------------------------

def test_namespace_enforces_restricted_pod_security() -> None:
    labels = one(tenancy_plan(), NS, "vision-ns").inputs["metadata"]["labels"]
    assert one(tenancy_plan(), NS, "vision-ns").inputs["metadata"]["name"] == "vision"
    for mode in ("enforce", "audit", "warn"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_quota_equals_inputs_and_closes_accelerators_and_load_balancers() -> None:
    hard = one(tenancy_plan(), QUOTA, "vision-quota").inputs["spec"]["hard"]
    assert hard == {
        "requests.cpu": "64", "limits.cpu": "64", "requests.memory": "256Gi", "limits.memory": "256Gi",
        "requests.nvidia.com/gpu": "8", "requests.google.com/tpu": "0", "requests.aws.amazon.com/neuron": "0",
        "services.loadbalancers": "0", "services.nodeports": "0",
    }


def test_quota_pod_cap_is_optional() -> None:
    plan = plan_of(lambda: TeamNamespace("t", TEAM.model_copy(update={
        "quota": QuotaArgs(cpus=1, memory_gb=1, pods=20)}), _provider()))
    assert one(plan, QUOTA, "t-quota").inputs["spec"]["hard"]["pods"] == "20"


def test_limit_range_gives_every_container_requests_and_limits() -> None:
    (limit,) = one(tenancy_plan(), LIMITS, "vision-limits").inputs["spec"]["limits"]
    assert limit == {"type": "Container", "defaultRequest": {"cpu": "250m", "memory": "512Mi"},
                     "default": {"cpu": "1000m", "memory": "1024Mi"}}


def test_container_defaults_limits_must_cover_requests() -> None:
    ContainerDefaultsArgs(cpu_request_millicores=500, cpu_limit_millicores=500)
    with pytest.raises(ValidationError, match="cpu_limit_millicores is below"):
        ContainerDefaultsArgs(cpu_request_millicores=2000)
    with pytest.raises(ValidationError, match="memory_limit_mb is below"):
        ContainerDefaultsArgs(memory_request_mb=4096)


def test_default_deny_selects_every_pod_both_directions_no_rules() -> None:
    assert policy("default-deny") == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_allow_policies_are_exactly_the_intended_ones() -> None:
    names = sorted(r.name for r in tenancy_plan().of_type(NETPOL))
    assert names == sorted(f"vision-{s}" for s in (
        "default-deny", "allow-dns", "allow-same-namespace", "allow-platform", "allow-identity", "allow-https"))
    kube_system = {"namespaceSelector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["kube-system"]}]}}
    assert policy("allow-dns") == {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
        "to": [kube_system], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}
    assert policy("allow-same-namespace") == {
        "podSelector": {}, "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [{"podSelector": {}}]}], "egress": [{"to": [{"podSelector": {}}]}]}
    assert policy("allow-platform") == {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [
        {"namespaceSelector": {"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["monitoring", "kserve"]}]}}]}]}
    assert policy("allow-identity")["egress"] == [
        {"to": [{"ipBlock": {"cidr": "169.254.169.252/32"}}], "ports": [{"protocol": "TCP", "port": 988}]},
        {"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}], "ports": [{"protocol": "TCP", "port": 80}]}]
    assert policy("allow-https") == {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
        "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}],
        "ports": [{"protocol": "TCP", "port": 443}]}]}


def test_optional_allows_are_absent_unless_asked() -> None:
    bare = TEAM.model_copy(update={"platform_namespaces": [], "identity_endpoints": [], "allow_https_egress": False})
    plan = plan_of(lambda: TeamNamespace("t", bare, _provider()))
    assert sorted(r.name for r in plan.of_type(NETPOL)) == ["t-allow-dns", "t-allow-same-namespace", "t-default-deny"]


def test_identity_endpoint_and_team_validation() -> None:
    with pytest.raises(ValidationError, match="not 'CIDR:port'"):
        TeamNamespaceArgs(team="a", quota=QuotaArgs(cpus=1, memory_gb=1), identity_endpoints=["169.254.169.254"])
    with pytest.raises(ValidationError, match="not a DNS label"):
        TeamNamespaceArgs(team="Vision_1", quota=QuotaArgs(cpus=1, memory_gb=1))
    with pytest.raises(ValidationError, match="own namespace"):
        TeamNamespaceArgs(team="a", quota=QuotaArgs(cpus=1, memory_gb=1), platform_namespaces=["a"])
    with pytest.raises(ValidationError, match="not a CIDR"):
        TeamNamespaceArgs(team="a", quota=QuotaArgs(cpus=1, memory_gb=1), https_egress_cidrs=["internet"])


def test_service_accounts_do_not_automount_and_carry_cloud_identity() -> None:
    sa = one(tenancy_plan(), SA, "vision-workload-sa").inputs
    assert sa["metadata"]["name"] == "vision-workload" and sa["metadata"]["namespace"] == "vision"
    assert sa["automountServiceAccountToken"] is False
    assert sa["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": "vision@acme.iam.gserviceaccount.com"}
    patch = one(tenancy_plan(), SA_PATCH, "vision-default-sa").inputs
    assert patch["metadata"] == {"name": "default", "namespace": "vision"}
    assert patch["automountServiceAccountToken"] is False


def test_developer_role_is_least_privilege() -> None:
    rules = one(tenancy_plan(), ROLE, "vision-developer").inputs["rules"]
    for rule in rules:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"], rule
        assert not {"secrets", "pods/exec", "pods/attach", "pods/portforward", "serviceaccounts/token"} & set(
            rule["resources"]), rule
        assert not {"escalate", "bind", "impersonate", "update", "patch"} & set(rule["verbs"]), rule
    granted = {(g, r): set(rule["verbs"]) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert granted[("", "pods")] == {"get", "list", "watch"}
    assert granted[("batch", "jobs")] == {"create", "delete", "get", "list", "watch"}
    assert granted[("jobset.x-k8s.io", "jobsets")] == {"create", "delete", "get", "list", "watch"}
    assert granted[("kueue.x-k8s.io", "workloads")] == {"get", "list", "watch"}
    assert granted[("serving.kserve.io", "inferenceservices")] == {"create", "delete", "get", "list", "watch"}
    assert ("", "pods") in granted and not any("create" in v for (g, r), v in granted.items() if g == "")


def test_role_binding_binds_the_members_to_the_developer_role() -> None:
    binding = one(tenancy_plan(), BINDING, "vision-developers").inputs
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "vision-developer"}
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "vision@example.com"},
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "ada@example.com"}]
    plan = plan_of(lambda: TeamNamespace("t", TEAM.model_copy(update={"members": []}), _provider()))
    assert not plan.of_type(BINDING)


def test_namespaced_children_use_the_provider_and_wait_for_the_namespace() -> None:
    plan = tenancy_plan()
    ns = one(plan, NS, "vision-ns")
    for res in plan.resources:
        if res.custom and res.type.startswith("kubernetes:") and res.type != NS:
            assert res.provider and "::k8s::" in res.provider, res.name
            assert ns.urn in res.dependencies, res.name
            assert res.inputs["metadata"]["namespace"] == "vision", res.name


# --- Scheduling ------------------------------------------------------------------------------------------

def test_kueue_chart_installed_pinned_with_integrations() -> None:
    (chart,) = scheduling_plan().of_type(CHART)
    assert chart.inputs["version"] == charts.CHARTS["kueue"].version
    assert chart.inputs["chart"] == "oci://registry.k8s.io/kueue/charts/kueue"
    assert chart.inputs["namespace"] == "kueue-system"
    config = yaml.safe_load(chart.inputs["values"]["managerConfig"]["controllerManagerConfigYaml"])
    assert config["kind"] == "Configuration"
    assert config["integrations"]["frameworks"] == ["batch/job", "jobset.x-k8s.io/jobset", "kubeflow.org/pytorchjob"]
    labels = one(scheduling_plan(), NS, "sched-kueue-ns").inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_priority_classes_and_workload_priority_classes_match() -> None:
    plan = scheduling_plan()
    pcs = {r.inputs["metadata"]["name"]: r.inputs for r in plan.of_type(PRIORITY)}
    wpcs = {r.inputs["metadata"]["name"]: r.inputs for r in plan.of_type(WPC)}
    assert set(pcs) == set(wpcs) == {"mlinfra-low", "mlinfra-normal", "mlinfra-high"}
    assert [pcs[n]["value"] for n in ("mlinfra-low", "mlinfra-normal", "mlinfra-high")] == [1000, 10000, 100000]
    assert pcs["mlinfra-low"]["preemptionPolicy"] == "Never"
    for name, pc in pcs.items():
        assert pc["globalDefault"] is False
        assert wpcs[name]["value"] == pc["value"] and wpcs[name]["apiVersion"] == "kueue.x-k8s.io/v1beta1"


def test_flavors_carry_node_labels_and_tolerations() -> None:
    plan = scheduling_plan()
    assert one(plan, FLAVOR, "sched-flavor-default").inputs["spec"] == {"nodeLabels": {}}
    assert one(plan, FLAVOR, "sched-flavor-l4").inputs["spec"] == {
        "nodeLabels": {"cloud.google.com/gke-accelerator": "nvidia-l4"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]}
    assert one(plan, FLAVOR, "sched-flavor-v5e").inputs["spec"]["tolerations"] == [
        {"key": "google.com/tpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}]


def _quotas(spec: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(f["name"], r["name"]): r["nominalQuota"]
            for group in spec["resourceGroups"] for f in group["flavors"] for r in f["resources"]}


def test_cluster_queue_quotas_equal_the_queue_per_resource_and_flavor() -> None:
    vision = one(scheduling_plan(), CQ, "sched-cq-vision").inputs["spec"]
    assert [g["coveredResources"] for g in vision["resourceGroups"]] == [
        ["cpu", "memory"], ["nvidia.com/gpu"], ["google.com/tpu"]]
    assert _quotas(vision) == {("default", "cpu"): "64", ("default", "memory"): "256Gi",
                               ("l4", "nvidia.com/gpu"): "8", ("v5e", "google.com/tpu"): "0"}
    nlp = one(scheduling_plan(), CQ, "sched-cq-nlp").inputs["spec"]
    assert _quotas(nlp) == {("default", "cpu"): "32", ("default", "memory"): "128Gi",
                            ("l4", "nvidia.com/gpu"): "0", ("v5e", "google.com/tpu"): "16"}


def test_flavors_sharing_resources_form_one_group_with_zero_fill() -> None:
    flavors = [FlavorArgs(name="cpu"), FlavorArgs(name="a100", resources=["cpu", "memory", "nvidia.com/gpu"]),
               FlavorArgs(name="inf2", resources=["aws.amazon.com/neuron"])]
    groups = resource_groups(flavors)
    assert [(c, [f.name for f in m]) for c, m in groups] == [
        (["cpu", "memory", "nvidia.com/gpu"], ["cpu", "a100"]), (["aws.amazon.com/neuron"], ["inf2"])]
    args = SchedulingArgs(kueue_chart=charts.resolve("kueue"), flavors=flavors, install_kueue=False,
                          queues=[QueueArgs(name="q", namespace="q", cpus=4, memory_gb=8, gpus=2)])
    spec = one(plan_of(lambda: Scheduling("s", args, _provider())), CQ, "s-cq-q").inputs["spec"]
    assert _quotas(spec) == {("cpu", "cpu"): "4", ("cpu", "memory"): "8Gi", ("cpu", "nvidia.com/gpu"): "0",
                             ("a100", "cpu"): "4", ("a100", "memory"): "8Gi", ("a100", "nvidia.com/gpu"): "2",
                             ("inf2", "aws.amazon.com/neuron"): "0"}


def test_cohort_only_when_borrowing_and_namespace_pinned() -> None:
    vision = one(scheduling_plan(), CQ, "sched-cq-vision").inputs["spec"]
    nlp = one(scheduling_plan(), CQ, "sched-cq-nlp").inputs["spec"]
    assert vision["cohort"] == "mlinfra" and "cohort" not in nlp
    assert vision["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "vision"}}
    assert nlp["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "nlp"}}
    assert vision["preemption"]["withinClusterQueue"] == "LowerPriority"
    assert vision["preemption"]["reclaimWithinCohort"] == "Any" and nlp["preemption"]["reclaimWithinCohort"] == "Never"
    assert vision["fairSharing"] == {"weight": "2"}


def test_local_queue_points_at_its_cluster_queue() -> None:
    plan = scheduling_plan()
    for team in ("vision", "nlp"):
        lq = one(plan, LQ, f"sched-lq-{team}")
        assert lq.inputs["metadata"]["namespace"] == team
        assert lq.inputs["spec"] == {"clusterQueue": one(plan, CQ, f"sched-cq-{team}").inputs["metadata"]["name"]}
        assert one(plan, CQ, f"sched-cq-{team}").urn in lq.dependencies


def test_kueue_objects_depend_on_the_chart() -> None:
    plan = scheduling_plan()
    (chart,) = plan.of_type(CHART)
    kueue_objects = [r for r in plan.resources if r.type.startswith("kubernetes:kueue.x-k8s.io/")]
    assert len(kueue_objects) == 3 + 3 + 2 + 2
    for res in kueue_objects:
        assert chart.urn in res.dependencies, (res.name, res.dependencies)


def test_preinstalled_kueue_is_not_installed_again_and_queues_wait_for_namespaces() -> None:
    def program() -> None:
        opts = _provider()
        team = TeamNamespace("vision", TEAM, opts)
        Scheduling("s", SCHED.model_copy(update={"install_kueue": False, "depends_on": [team]}), opts)

    plan = plan_of(program)
    assert not plan.of_type(CHART) and not plan.of_type("mlinfra:kubernetes:HelmAddon")
    assert one(plan, NS, "vision-ns").urn in one(plan, LQ, "s-lq-vision").dependencies


def test_outputs_name_the_namespace_account_and_queues() -> None:
    def program() -> None:
        opts = _provider()
        team = TeamNamespace("vision", TEAM, opts)
        sched = Scheduling("s", SCHED, opts)
        pulumi.export("namespace", team.namespace)
        pulumi.export("sa", team.service_account)
        pulumi.export("cqs", sched.cluster_queue_names)
        pulumi.export("lqs", sched.local_queue_names)

    outputs = plan_of(program).outputs
    assert outputs == {"namespace": "vision", "sa": "vision-workload", "cqs": ["vision", "nlp"],
                       "lqs": ["vision/vision", "nlp/nlp"]}


def test_scheduling_validation() -> None:
    base: dict[str, Any] = {"kueue_chart": charts.resolve("kueue")}
    with pytest.raises(ValidationError, match=r"no flavor provides nvidia\.com/gpu"):
        SchedulingArgs(**base, queues=[QueueArgs(name="q", namespace="q", cpus=1, memory_gb=1, gpus=1)])
    with pytest.raises(ValidationError, match="duplicate queue names"):
        SchedulingArgs(**base, queues=[QueueArgs(name="q", namespace="q", cpus=1, memory_gb=1)] * 2)
    with pytest.raises(ValidationError, match="no flavor provides cpu and memory"):
        SchedulingArgs(**base, flavors=[FlavorArgs(name="g", resources=["nvidia.com/gpu"])],
                       queues=[QueueArgs(name="q", namespace="q", cpus=1, memory_gb=1, gpus=1)])
    with pytest.raises(ValidationError, match="Exists takes no value"):
        TolerationArgs(key="k", operator="Exists", value="v")
    SchedulingArgs(**base, queues=[QueueArgs(name="q", namespace="q", cpus=1, memory_gb=1)])


def test_identity_annotation_may_be_an_output_and_quota_defaults_to_a_sandbox() -> None:
    def program() -> None:
        args = TeamNamespaceArgs(team="t", quota=QuotaArgs(), service_account_annotations={
            "iam.gke.io/gcp-service-account": pulumi.Output.from_input("t@p.iam.gserviceaccount.com")})
        TeamNamespace("t", args, _provider())

    plan = plan_of(program)
    assert one(plan, SA, "t-workload-sa").inputs["metadata"]["annotations"] == {
        "iam.gke.io/gcp-service-account": "t@p.iam.gserviceaccount.com"}
    hard = one(plan, QUOTA, "t-quota").inputs["spec"]["hard"]
    assert (hard["requests.cpu"], hard["requests.memory"], hard["requests.nvidia.com/gpu"]) == ("4", "16Gi", "0")
