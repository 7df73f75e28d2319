"""Kubernetes rules: compliant baselines from the shipped examples, one mutated field each, the exact rule id.

The only workload the examples plan is the on-prem bucket-setup Job; every other workload kind is the same pod
spec wrapped the way that kind carries it.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_BOOLEAN_VALUE, UNKNOWN_STRING_VALUE

from mlinfra.components.kubernetes.serving import INTERNAL_LB_ANNOTATIONS
from mlinfra.policies.catalog import Resource, Stack
from mlinfra.policies.check import check_file
from mlinfra.policies.context import PolicyContext
from mlinfra.policies.engine import run_resource_rule, run_stack_rule
from mlinfra.policies.rules import kubernetes as k8s
from mlinfra.policies.testing import example, mutate, replace_in, violations

ROOT = Path(__file__).resolve().parent.parent
FAMILY = {rule.id: rule for rule in k8s.RULES}
CTX = PolicyContext()
JOB_TYPE = "kubernetes:batch/v1:Job"
NS_TYPE = "kubernetes:core/v1:Namespace"
ROLE_TYPE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
SPEC = ("spec", "template", "spec")
C0 = (*SPEC, "containers", 0)
SC = (*C0, "securityContext")


# ----- helpers ---------------------------------------------------------------------------------------------


def findings(stack: Stack, context: PolicyContext = CTX) -> set[tuple[str, str | None, str]]:
    """(rule id, urn, message) of every finding of the family on the whole stack."""
    found = set()
    for rule in FAMILY.values():
        if rule.scope == "stack":
            found |= {(rule.id, o.urn, o.message) for o in run_stack_rule(rule, stack, context)}
            continue
        for res in stack.resources:
            if rule.applies_to(res.type):
                found |= {(rule.id, o.urn, o.message) for o in run_resource_rule(rule, res, context)}
    return found


def new_rule_ids(before: Stack, after: Stack, context: PolicyContext = CTX) -> set[str]:
    """The family's rules that report something on ``after`` they did not report on ``before``."""
    return {rule_id for rule_id, _urn, _m in findings(after, context) - findings(before, context)}


def only(rule_id: str, before: Stack, old: Resource | None, new: Resource, context: PolicyContext = CTX) -> list[str]:
    """Swap (or add) one resource; assert exactly ``rule_id`` newly reports, and return its messages."""
    after = replace_in(before, old, new) if old is not None else Stack([*before.resources, new])
    assert new_rule_ids(before, after, context) == {rule_id}
    messages = violations(rule_id, after if FAMILY[rule_id].scope == "stack" else new, context)
    assert messages
    return messages


def onprem() -> tuple[Stack, Resource]:
    ex = example("onprem-prod")
    return ex.stack, ex.first(JOB_TYPE)


def named(stack: Stack, type_: str, name: str) -> Resource:
    """The resource of ``type_`` whose metadata.name is ``name`` (first one)."""
    return next(r for r in stack.resources if r.type == type_ and r.props.get("metadata", {}).get("name") == name)


def clean_pod_spec(job: Resource) -> dict[str, Any]:
    """The Job's pod spec without its Secret-sourced environment (the one advisory finding it carries)."""
    spec = copy.deepcopy(job.props["spec"]["template"]["spec"])
    for container in spec["containers"]:
        container["env"] = [e for e in container.get("env", []) if "valueFrom" not in e]
    return spec


def wrap(type_: str, spec: dict[str, Any], namespace: str, job: Resource) -> Resource:
    """A workload of ``type_`` carrying ``spec`` the way its kind does, in ``namespace``, on the Job's cluster."""
    template = {"spec": spec}
    body: dict[str, Any] = {
        "kubernetes:core/v1:Pod": spec,
        "kubernetes:batch/v1:CronJob": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}},
        k8s.JOBSET: {"replicatedJobs": [{"name": "workers", "template": {"spec": {"template": template}}}]},
        k8s.PYTORCHJOB: {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": template}}},
    }.get(type_, {"template": template})
    kind = type_.rpartition(":")[2]
    return Resource(type=type_, props={"metadata": {"name": f"w-{kind.lower()}", "namespace": namespace},
                                       "spec": copy.deepcopy(body)},
                    urn=f"urn:pulumi:dc-prod::mlinfra::{type_}::w-{kind.lower()}", name=f"w-{kind.lower()}",
                    provider=job.provider)


def service(annotations: dict[str, str], type_: str = "LoadBalancer") -> Resource:
    return Resource(type=k8s.SERVICE, props={"metadata": {"name": "model", "namespace": "serving",
                                                          "annotations": annotations},
                                             "spec": {"type": type_, "ports": [{"port": 443}]}},
                    urn="urn:pulumi:ml-prod::mlinfra::kubernetes:core/v1:Service::model", name="model")


def rendered_copy(res: Resource) -> Resource:
    """``res`` as if a Helm chart had rendered it (a child of a helm.sh/v4 Chart)."""
    urn = res.urn.replace(f"${res.type}::", f"$kubernetes:helm.sh/v4:Chart${res.type}::")
    return dataclasses.replace(res, urn=urn)


# ----- the registry and the examples -----------------------------------------------------------------------


def test_family_metadata() -> None:
    assert len(FAMILY) == len(k8s.RULES) >= 14
    assert all(rule_id.startswith("k8s-") for rule_id in FAMILY)
    assert all(rule.doc and rule.rationale and rule.fix for rule in FAMILY.values())
    assert all(set(rule.targets) == {"gcp", "aws", "onprem"} for rule in FAMILY.values())
    # critical/high are mandatory; medium/low advisory, except where Pod Security restricted rejects the pod anyway
    exceptions = {"k8s-pod-seccomp-profile", "k8s-pod-capabilities-drop-all"}
    for rule in FAMILY.values():
        expected = "mandatory" if rule.severity in ("critical", "high") or rule.id in exceptions else "advisory"
        assert rule.enforcement == expected, rule.id


@pytest.mark.parametrize("name", ["gcp-dev", "gcp-prod", "aws-dev", "aws-prod", "local", "onprem-prod"])
def test_examples_have_no_mandatory_kubernetes_violation(name: str) -> None:
    report = check_file(ROOT / "stacks" / f"{name}.yaml")
    blocking = [(f.rule.id, f.resource, f.message) for f in report.findings if f.blocking and f.rule.id in FAMILY]
    assert blocking == []


# ----- the pod spec extractor ------------------------------------------------------------------------------


@pytest.mark.parametrize("type_", k8s.WORKLOADS)
def test_every_workload_kind_is_read(type_: str) -> None:
    stack, job = onprem()
    good = wrap(type_, clean_pod_spec(job), "object-store", job)
    assert new_rule_ids(stack, Stack([*stack.resources, good])) == set()
    specs = list(k8s.pod_specs(good))
    assert len(specs) == 1
    for key in k8s.CONTAINER_LISTS:
        spec = copy.deepcopy(clean_pod_spec(job))
        spec[key] = [{**spec["containers"][0], "name": "extra"}] if key != "containers" else spec["containers"]
        spec[key][0] = {**spec[key][0], "securityContext": {**spec[key][0]["securityContext"], "privileged": True}}
        bad = wrap(type_, spec, "object-store", job)
        messages = only("k8s-pod-no-privileged", stack, None, bad)
        assert any(f"{key}[0]" in m for m in messages)


def test_jobset_and_pytorchjob_yield_every_template() -> None:
    _stack, job = onprem()
    spec = clean_pod_spec(job)
    jobset = wrap(k8s.JOBSET, spec, "vision", job)
    jobset = mutate(jobset, ("spec", "replicatedJobs"), [*jobset.props["spec"]["replicatedJobs"]] * 2)
    assert list(k8s.pod_specs(jobset))[1] == ("spec", "replicatedJobs", 1, "template", "spec", "template", "spec")
    torch = wrap(k8s.PYTORCHJOB, spec, "vision", job)
    torch = mutate(torch, ("spec", "pytorchReplicaSpecs", "Worker"), {"template": {"spec": spec}})
    assert len(list(k8s.pod_specs(torch))) == 2
    assert k8s.show(("spec", "replicatedJobs", 1, "template")) == "spec.replicatedJobs[1].template"


# ----- pod rules: pass on the real Job, fail on one mutated field -----------------------------------------

POD_CASES: list[tuple[str, tuple[str | int, ...], Any, str]] = [
    ("k8s-pod-no-privileged", (*SC, "privileged"), True, "privileged is true"),
    ("k8s-pod-no-host-namespaces", (*SPEC, "hostNetwork"), True, "hostNetwork is true"),
    ("k8s-pod-no-host-namespaces", (*SPEC, "hostPID"), True, "process namespace"),
    ("k8s-pod-no-host-path", (*SPEC, "volumes", 2), {"name": "tmp", "hostPath": {"path": "/var/run"}}, "/var/run"),
    ("k8s-pod-no-host-ports", (*C0, "ports"), [{"containerPort": 80, "hostPort": 8080}], "hostPort 8080"),
    ("k8s-pod-no-privilege-escalation", (*SC, "allowPrivilegeEscalation"), True, "is true"),
    ("k8s-pod-no-privilege-escalation", (*SC, "allowPrivilegeEscalation"), None, "not set"),
    ("k8s-pod-run-as-non-root", (*SC, "runAsUser"), 0, "runAsUser is 0"),
    ("k8s-pod-seccomp-profile", (*SC, "seccompProfile", "type"), "Unconfined", "Unconfined"),
    ("k8s-pod-capabilities-drop-all", (*SC, "capabilities", "drop"), ["NET_RAW"], "does not include ALL"),
    ("k8s-pod-no-added-capabilities", (*SC, "capabilities", "add"), ["SYS_ADMIN"], "SYS_ADMIN"),
    ("k8s-pod-read-only-root-filesystem", (*SC, "readOnlyRootFilesystem"), False, "writable"),
    ("k8s-pod-resources", (*C0, "resources", "limits"), {}, "limits.memory"),
    ("k8s-pod-resources", (*C0, "resources", "requests", "cpu"), None, "requests.cpu"),
    ("k8s-pod-image-tag-pinned", (*C0, "image"), "quay.io/minio/mc", "no tag"),
    ("k8s-pod-image-tag-pinned", (*C0, "image"), "quay.io/minio/mc:latest", ":latest"),
    ("k8s-pod-default-service-account", (*SPEC, "automountServiceAccountToken"), None, "default ServiceAccount"),
    ("k8s-pod-secrets-in-env", (*C0, "envFrom"), [{"secretRef": {"name": "db"}}], "Secret 'db'"),
]


@pytest.mark.parametrize("rule_id", sorted({case[0] for case in POD_CASES}))
def test_pod_rules_pass_on_the_real_job(rule_id: str) -> None:
    stack, job = onprem()
    if rule_id == "k8s-pod-secrets-in-env":  # the real Job passes the object store's root keys as env (advisory)
        job = mutate(job, SPEC, clean_pod_spec(job))
    target = stack if FAMILY[rule_id].scope == "stack" else job
    assert violations(rule_id, target, example("onprem-prod").context) == []


@pytest.mark.parametrize(("rule_id", "path", "value", "expected"), POD_CASES)
def test_pod_rules_fail_on_one_field(rule_id: str, path: tuple[str | int, ...], value: Any, expected: str) -> None:
    stack, job = onprem()
    bad = mutate(job, path) if value is None else mutate(job, path, value)
    messages = only(rule_id, stack, job, bad)
    assert any(expected in m for m in messages), messages
    assert all(m.startswith("spec.template.spec") for m in messages)


def test_pod_level_fields_count_for_containers() -> None:
    stack, job = onprem()
    # runAsNonRoot only at pod level is enough; a container-level runAsUser 0 is not
    pod_only = mutate(mutate(job, (*SC, "runAsNonRoot")), (*SC, "runAsUser"))
    assert violations("k8s-pod-run-as-non-root", replace_in(stack, job, pod_only)) == []
    neither = mutate(mutate(pod_only, (*SPEC, "securityContext", "runAsNonRoot")), (*SPEC, "securityContext",
                                                                                     "runAsUser"))
    assert "neither runAsNonRoot" in violations("k8s-pod-run-as-non-root", replace_in(stack, job, neither))[0]
    seccomp = mutate(job, (*SC, "seccompProfile"))  # the pod's RuntimeDefault still applies
    assert violations("k8s-pod-seccomp-profile", replace_in(stack, job, seccomp)) == []


# ----- judged at the namespace's Pod Security level --------------------------------------------------------


def test_host_access_is_judged_at_the_namespace_level() -> None:
    stack, job = onprem()
    spec = clean_pod_spec(job)
    spec.update(hostNetwork=True, hostPID=True)
    spec["volumes"].append({"name": "sys", "hostPath": {"path": "/sys"}})
    spec["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    spec["containers"][0]["securityContext"] = {"runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}}
    agent = wrap("kubernetes:apps/v1:DaemonSet", spec, "monitoring-node-agents", job)  # labelled privileged
    assert new_rule_ids(stack, Stack([*stack.resources, agent])) <= {"k8s-pod-read-only-root-filesystem"}
    for namespace in ("vision", "not-in-this-plan"):  # restricted team namespace; unknown namespace: restricted
        ids = new_rule_ids(stack, Stack([*stack.resources, wrap(agent.type, spec, namespace, job)]))
        assert {"k8s-pod-no-host-namespaces", "k8s-pod-no-host-path", "k8s-pod-run-as-non-root",
                "k8s-pod-no-added-capabilities", "k8s-pod-no-privilege-escalation"} <= ids


def test_baseline_namespace_waives_only_restricted_checks() -> None:
    stack, job = onprem()
    ns = named(stack, NS_TYPE, "warehouse")
    baseline = replace_in(stack, ns, mutate(ns, ("metadata", "labels", k8s.ENFORCE_LABEL), "baseline"))
    spec = clean_pod_spec(job)
    spec["containers"][0]["securityContext"] = {"runAsUser": 0, "capabilities": {"add": ["CHOWN", "NET_ADMIN"]}}
    ids = new_rule_ids(baseline, Stack([*baseline.resources, wrap(JOB_TYPE, spec, "warehouse", job)]))
    assert "k8s-pod-run-as-non-root" not in ids and "k8s-pod-capabilities-drop-all" not in ids
    assert "k8s-pod-no-added-capabilities" in ids  # NET_ADMIN is beyond baseline (CHOWN is not)


def test_privileged_containers_are_never_excused() -> None:
    stack, job = onprem()
    spec = clean_pod_spec(job)
    spec["containers"][0]["securityContext"]["privileged"] = True
    agent = wrap("kubernetes:apps/v1:DaemonSet", spec, "gpu-operator", job)
    assert new_rule_ids(stack, Stack([*stack.resources, agent])) == {"k8s-pod-no-privileged"}


def test_same_namespace_name_in_another_cluster_is_a_different_namespace() -> None:
    stack, job = onprem()
    elsewhere = dataclasses.replace(job, provider={"context": "another-cluster"})
    spec = clean_pod_spec(job)
    spec["hostNetwork"] = True
    pod = wrap("kubernetes:core/v1:Pod", spec, "monitoring-node-agents", elsewhere)
    assert "k8s-pod-no-host-namespaces" in new_rule_ids(stack, Stack([*stack.resources, pod]))


# ----- unknown values ---------------------------------------------------------------------------------------


def test_unknown_values_fail_closed_or_count_as_set() -> None:
    stack, job = onprem()
    unknown_flag = mutate(job, (*SC, "privileged"), UNKNOWN_BOOLEAN_VALUE)  # get(): fails closed
    assert "fails closed" in violations("k8s-pod-no-privileged", unknown_flag)[0]
    unknown_net = replace_in(stack, job, mutate(job, (*SPEC, "hostNetwork"), UNKNOWN_BOOLEAN_VALUE))
    outcome = violations("k8s-pod-no-host-namespaces", unknown_net)
    assert len(outcome) == 1 and "fails closed" in outcome[0] and ".hostNetwork" in outcome[0]
    unknown_cpu = mutate(job, (*C0, "resources", "requests", "cpu"), UNKNOWN_STRING_VALUE)  # has(): set
    assert violations("k8s-pod-resources", unknown_cpu) == []
    unknown_ns = replace_in(stack, job, mutate(job, ("metadata", "namespace"), UNKNOWN_STRING_VALUE))
    assert violations("k8s-pod-no-privilege-escalation", unknown_ns) == []  # judged as restricted, and it is


# ----- namespaces --------------------------------------------------------------------------------------------


def test_pod_security_enforce() -> None:
    stack = example("onprem-prod").stack
    team = named(stack, NS_TYPE, "vision")
    platform = named(stack, NS_TYPE, "gpu-operator")  # privileged by design: not this rule's business
    assert violations("k8s-namespace-pod-security-enforce", team) == []
    assert violations("k8s-namespace-pod-security-enforce", platform) == []
    assert "no pod-security" in only("k8s-namespace-pod-security-enforce", stack, team,
                                     mutate(team, ("metadata", "labels", k8s.ENFORCE_LABEL)))[0]
    assert "team namespace enforces 'baseline'" in only(
        "k8s-namespace-pod-security-enforce", stack, team,
        mutate(team, ("metadata", "labels", k8s.ENFORCE_LABEL), "baseline"))[0]
    assert "not one of" in only("k8s-namespace-pod-security-enforce", stack, platform,
                                mutate(platform, ("metadata", "labels", k8s.ENFORCE_LABEL), "strict"))[0]


def test_pod_security_restricted_reports_platform_exceptions() -> None:
    stack = example("onprem-prod").stack
    kueue = named(stack, NS_TYPE, "kueue-system")
    assert violations("k8s-namespace-pod-security-restricted", kueue) == []
    assert violations("k8s-namespace-pod-security-restricted", named(stack, NS_TYPE, "gpu-operator"))
    assert "'baseline'" in only("k8s-namespace-pod-security-restricted", stack, kueue,
                                mutate(kueue, ("metadata", "labels", k8s.ENFORCE_LABEL), "baseline"))[0]


def test_team_default_deny_per_cluster() -> None:
    stack = example("aws-prod").stack
    assert violations("k8s-namespace-team-default-deny", stack) == []
    serve_deny = next(r for r in stack.resources if r.name == "ml-prod-serve-vision-default-deny")
    without = Stack([r for r in stack.resources if r is not serve_deny])  # the train cluster's one remains
    found = violations("k8s-namespace-team-default-deny", without)
    assert found == ["no default-deny NetworkPolicy for Ingress and Egress in namespace 'vision': every pod accepts "
                     "and opens any connection"]
    assert new_rule_ids(stack, without) == {"k8s-namespace-team-default-deny"}
    ingress_only = only("k8s-namespace-team-default-deny", stack, serve_deny,
                        mutate(serve_deny, ("spec", "policyTypes"), ["Ingress"]))
    assert "for Egress in" in ingress_only[0]
    allow_all = mutate(serve_deny, ("spec", "egress"), [{}])  # an egress rule allowing everything is no deny
    assert "for Egress in" in only("k8s-namespace-team-default-deny", stack, serve_deny, allow_all)[0]


def test_platform_default_deny() -> None:
    ex = example("gcp-prod")
    stack = ex.stack
    assert violations("k8s-namespace-default-deny", stack)  # advisory today: add-on namespaces have none
    deny = ex.first(k8s.NETWORK_POLICY)
    assert deny.name.endswith("-default-deny")
    copies = [dataclasses.replace(mutate(deny, ("metadata", "namespace"), ns.props["metadata"]["name"]),
                                  provider=ns.provider, urn=f"{deny.urn}-{i}")
              for i, ns in enumerate(stack.of_type(NS_TYPE)) if not k8s.is_team(ns)]
    fenced = Stack([*stack.resources, *copies])
    assert violations("k8s-namespace-default-deny", fenced) == []
    assert only("k8s-namespace-default-deny", fenced, copies[0], mutate(copies[0], ("spec", "podSelector"),
                                                                        {"matchLabels": {"app": "x"}}))


# ----- service accounts ---------------------------------------------------------------------------------------


def test_default_service_account_automount() -> None:
    stack = example("onprem-prod").stack
    patch = next(iter(stack.of_type("kubernetes:core/v1:ServiceAccountPatch")))
    assert violations("k8s-serviceaccount-default-no-automount", patch) == []
    assert only("k8s-serviceaccount-default-no-automount", stack, patch,
                mutate(patch, ("automountServiceAccountToken",), True))
    created = dataclasses.replace(mutate(patch, ("automountServiceAccountToken",)), type=k8s.SERVICE_ACCOUNTS[0])
    assert violations("k8s-serviceaccount-default-no-automount", created)
    assert violations("k8s-serviceaccount-default-no-automount", mutate(patch, ("automountServiceAccountToken",))) \
        == []  # a patch that leaves the field alone changes nothing


def test_default_service_account_patch_covers_pods_in_team_namespaces() -> None:
    stack, job = onprem()
    spec = clean_pod_spec(job)
    del spec["automountServiceAccountToken"]
    in_team = wrap(JOB_TYPE, spec, "vision", job)  # TeamNamespace patched vision's default SA
    assert new_rule_ids(stack, Stack([*stack.resources, in_team])) == set()
    assert only("k8s-pod-default-service-account", stack, None, wrap(JOB_TYPE, spec, "object-store", job))
    named_sa = wrap(JOB_TYPE, {**spec, "serviceAccountName": "vision-workload"}, "object-store", job)
    assert new_rule_ids(stack, Stack([*stack.resources, named_sa])) == set()


# ----- RBAC ---------------------------------------------------------------------------------------------------


def test_rbac_rules_on_the_developer_role() -> None:
    stack = example("onprem-prod").stack
    role = next(iter(stack.of_type(ROLE_TYPE)))
    for rule_id in ("k8s-rbac-role-no-wildcards", "k8s-rbac-role-no-escalation-verbs",
                    "k8s-rbac-chart-role-least-privilege", "k8s-rbac-role-secrets-access"):
        assert violations(rule_id, role) == []
    assert "wildcard in verbs" in only("k8s-rbac-role-no-wildcards", stack, role,
                                       mutate(role, ("rules", 2, "verbs"), ["*"]))[0]
    assert "wildcard in apiGroups, resources" in only(
        "k8s-rbac-role-no-wildcards", stack, role, mutate(role, ("rules", 0), {
            "apiGroups": ["*"], "resources": ["*"], "verbs": ["get"]}))[0]
    assert "grants bind on" in only("k8s-rbac-role-no-escalation-verbs", stack, role,
                                    mutate(role, ("rules", 2, "verbs"), ["get", "bind"]))[0]
    assert "every Secret" in only("k8s-rbac-role-secrets-access", stack, role,
                                  mutate(role, ("rules", 0, "resources"), ["pods", "secrets"]))[0]


def test_named_secret_reads_are_not_secret_access() -> None:
    stack = example("gcp-prod").stack
    reader = next(r for r in stack.of_type(ROLE_TYPE) if "token-reader" in r.name)
    assert reader.props["rules"][0]["resourceNames"]
    assert violations("k8s-rbac-role-secrets-access", reader) == []
    assert only("k8s-rbac-role-secrets-access", stack, reader, mutate(reader, ("rules", 0, "resourceNames")))


def test_chart_rendered_roles_are_advisory() -> None:
    stack = example("onprem-prod").stack
    role = next(iter(stack.of_type(ROLE_TYPE)))
    chart_role = rendered_copy(role)
    assert k8s.rendered(chart_role) and not k8s.rendered(role)
    assert violations("k8s-rbac-chart-role-least-privilege", chart_role) == []
    wild = mutate(chart_role, ("rules", 2, "verbs"), ["*"])
    assert only("k8s-rbac-chart-role-least-privilege", Stack([*stack.resources, chart_role]), chart_role, wild)
    assert violations("k8s-rbac-role-no-wildcards", wild) == []


def test_cluster_admin_bindings() -> None:
    stack = example("onprem-prod").stack
    binding = next(iter(stack.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")))
    assert violations("k8s-rbac-binding-no-cluster-admin", binding) == []
    admin = mutate(binding, ("roleRef",), {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                           "name": "cluster-admin"})
    assert only("k8s-rbac-binding-no-cluster-admin", stack, binding, admin) == ["binds cluster-admin to Group vision"]
    masters = mutate(binding, ("subjects", 0, "name"), "system:masters")
    assert "system:masters" in only("k8s-rbac-binding-no-cluster-admin", stack, binding, masters)[0]


# ----- Services and queues -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cloud", ["gcp", "aws"])
def test_load_balancers_use_the_platforms_internal_annotations(cloud: str) -> None:
    context = PolicyContext(cloud=cloud)
    internal = service(INTERNAL_LB_ANNOTATIONS[cloud])
    assert violations("k8s-service-load-balancer-internal", internal, context) == []
    assert violations("k8s-service-no-node-port", internal, context) == []
    stack = example(f"{cloud}-prod").stack
    messages = only("k8s-service-load-balancer-internal", Stack([*stack.resources, internal]), internal,
                    service({}), context)
    assert next(iter(INTERNAL_LB_ANNOTATIONS[cloud])) in messages[0]
    other = "aws" if cloud == "gcp" else "gcp"  # the other cloud's annotation does nothing here
    assert violations("k8s-service-load-balancer-internal", service(INTERNAL_LB_ANNOTATIONS[other]), context)


def test_load_balancers_on_prem_and_unknown_target() -> None:
    assert violations("k8s-service-load-balancer-internal", service({}), PolicyContext(cloud="onprem")) == []
    assert violations("k8s-service-load-balancer-internal", service({}))  # target unknown: either cloud's will do
    assert violations("k8s-service-load-balancer-internal", service(INTERNAL_LB_ANNOTATIONS["aws"])) == []
    unknown = service({"networking.gke.io/load-balancer-type": UNKNOWN_STRING_VALUE})
    assert "fails closed" in violations("k8s-service-load-balancer-internal", unknown, PolicyContext(cloud="gcp"))[0]


def test_node_ports() -> None:
    stack = example("aws-prod").stack
    cluster_ip = service({}, "ClusterIP")
    assert violations("k8s-service-no-node-port", cluster_ip) == []
    assert only("k8s-service-no-node-port", Stack([*stack.resources, cluster_ip]), cluster_ip,
                service({}, "NodePort"), PolicyContext(cloud="aws"))


def test_cluster_queue_quota() -> None:
    stack = example("onprem-prod").stack
    queue = next(iter(stack.of_type(k8s.CLUSTER_QUEUES[0])))
    assert violations("k8s-kueue-clusterqueue-quota", queue) == []
    quota = ("spec", "resourceGroups", 0, "flavors", 0, "resources", 1, "nominalQuota")
    assert "(memory) has no nominalQuota" in only("k8s-kueue-clusterqueue-quota", stack, queue, mutate(queue, quota))[0]
    assert "every namespace" in only("k8s-kueue-clusterqueue-quota", stack, queue,
                                     mutate(queue, ("spec", "namespaceSelector"), {}))[0]
    assert "no spec.resourceGroups" in only("k8s-kueue-clusterqueue-quota", stack, queue,
                                            mutate(queue, ("spec", "resourceGroups"), []))[0]


def test_image_references() -> None:
    assert k8s.image_problem("registry:5000/team/img") == "has no tag, so it means :latest"
    assert k8s.image_problem("registry:5000/team/img:1.2") is None
    assert k8s.image_problem("img@sha256:" + "0" * 64) is None
    assert k8s.image_problem("img:latest") == "uses the :latest tag"
