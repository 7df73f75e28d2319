"""Metrics of the in-cluster layer reach the cloud's managed Prometheus.

EKS: per cluster an Amazon Managed Prometheus scraper into the platform workspace (cluster ARN, private subnets,
its own security group), an access entry mapping the scraper's role to a Kubernetes user whose RBAC is read-only,
and the platform's alert rules as the workspace's rule group namespace. GKE: a PodMonitoring of Kueue with the
least-privilege token it needs, and GKE's managed DCGM on GPU clusters. Off switches create none of it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from mlinfra.components.aws.kms import AwsKmsKey
from mlinfra.components.aws.monitoring import RULE_NAMESPACE, AwsMonitoringArgs
from mlinfra.components.aws.names import fit
from mlinfra.components.aws.prometheus_scraper import AmpScraperArgs, access_entry_principal
from mlinfra.components.kubernetes import monitoring
from mlinfra.components.kubernetes.layer import metrics_sources
from mlinfra.components.kubernetes.monitoring import COLLECTOR_ROLE, COLLECTOR_USER, METRICS_READER
from mlinfra.components.kubernetes.scheduling import (
    KUEUE_METRICS_PORT,
    KUEUE_NAMESPACE,
    KUEUE_POD_LABELS,
    kueue_values,
)
from mlinfra.stacks.config import StackConfig
from mlinfra.stacks.loader import load
from mlinfra.stacks.offline import Plan, PlannedResource
from mlinfra.stacks.program import plan

STACKS = Path(__file__).resolve().parent.parent / "stacks"
AWS = ("aws-dev.yaml", "aws-prod.yaml")
GCP = ("gcp-dev.yaml", "gcp-prod.yaml")

SCRAPER = "aws:amp/scraper:Scraper"
RULES = "aws:amp/ruleGroupNamespace:RuleGroupNamespace"
ACCESS = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
SG = "aws:ec2/securityGroup:SecurityGroup"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
CLUSTER_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
ROLE_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
POD_MONITORING = "kubernetes:monitoring.googleapis.com/v1:PodMonitoring"
SECRET = "kubernetes:core/v1:Secret"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
CHART = "kubernetes:helm.sh/v4:Chart"


@cache
def _plan(name: str) -> Plan:
    return plan(load(STACKS / name))


def _variant(name: str, **monitoring_changes: Any) -> Plan:
    raw = load(STACKS / name).model_dump(mode="json", exclude_unset=True)
    raw["monitoring"] = {**raw.get("monitoring", {}), **monitoring_changes}
    return plan(StackConfig.model_validate(raw))


def _physical(config: StackConfig, cluster: str) -> str:
    return fit(f"{config.name}-{cluster}", 100)


def _kube_provider(result: Plan, config: StackConfig, cluster: str) -> str:
    (provider,) = [r for r in result.of_type("pulumi:providers:kubernetes")
                   if r.name == f"{config.name}-{cluster}-k8s"]
    return provider.urn


def _on(result: Plan, type_: str, provider: str) -> list[PlannedResource]:
    return [r for r in result.of_type(type_) if (r.provider or "").startswith(provider)]


def _has_wildcard(rules: list[dict[str, Any]]) -> bool:
    return any("*" in value for rule in rules for key in ("verbs", "resources", "apiGroups", "nonResourceURLs",
                                                            "resourceNames") for value in rule.get(key, []))


# --- EKS: the scraper ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", AWS)
def test_one_scraper_per_cluster_into_the_platform_workspace(name: str) -> None:
    config, result = load(STACKS / name), _plan(name)
    workspace = result.outputs["monitoring.prometheus_workspace"]
    scrapers = {r.inputs["alias"]: r for r in result.of_type(SCRAPER)}
    assert set(scrapers) == {_physical(config, c.name) for c in config.clusters}
    private = [r.name for r in result.of_type("aws:ec2/subnet:Subnet") if "-private-" in r.name]
    for cluster in config.clusters:
        physical = _physical(config, cluster.name)
        scraper = scrapers[physical]
        source = scraper.inputs["source"]["eks"]
        region, account = config.target.region, config.target.account_id
        assert source["clusterArn"] == f"arn:aws:eks:{region}:{account}:cluster/{physical}"
        assert result.named(f"{config.name}-{cluster.name}-cluster").urn in scraper.dependencies
        assert source["subnetIds"] == [f"{n}-id" for n in private] and len(private) >= 2
        (group,) = [r for r in result.of_type(SG) if r.name == f"{config.name}-{cluster.name}-metrics-sg"]
        assert source["securityGroupIds"] == [f"{group.name}-id"]
        assert scraper.inputs["destination"] == {"amp": {"workspaceArn": workspace}}
        assert scraper.inputs["region"] == config.target.region
        assert scraper.config_path == "monitoring"


@pytest.mark.parametrize("name", AWS)
def test_scrape_jobs_follow_what_each_cluster_runs(name: str) -> None:
    config, result = load(STACKS / name), _plan(name)
    scrapers = {r.inputs["alias"]: r for r in result.of_type(SCRAPER)}
    for cluster in config.clusters:
        physical = _physical(config, cluster.name)
        scrape = yaml.safe_load(scrapers[physical].inputs["scrapeConfiguration"])
        jobs = {j["job_name"]: j for j in scrape["scrape_configs"]}
        sources = metrics_sources(config, cluster)
        expected = {"kubelet", "cadvisor", "kube-state-metrics"}
        expected |= {"dcgm-exporter"} if sources.gpu_metrics else set()
        expected |= {"kueue"} if sources.kueue_namespace else set()
        assert set(jobs) == expected, physical
        for job in jobs.values():  # every series says which cluster it came from
            assert {"target_label": "cluster", "replacement": physical} in job["relabel_configs"]
        if "kueue" in jobs:
            kueue = jobs["kueue"]
            assert kueue["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"names": [KUEUE_NAMESPACE]}}]
            assert kueue["scheme"] == "https" and kueue["authorization"]["credentials_file"]
            labels, port = kueue["relabel_configs"][:2]
            assert labels["regex"] == ";".join(KUEUE_POD_LABELS.values()) and labels["action"] == "keep"
            assert port["regex"] == str(KUEUE_METRICS_PORT) and port["action"] == "keep"
        if "dcgm-exporter" in jobs:
            dcgm = jobs["dcgm-exporter"]
            assert dcgm["kubernetes_sd_configs"][0]["namespaces"] == {"names": [monitoring.DCGM_NAMESPACE]}
            assert dcgm["honor_labels"] is True  # the GPU-holding pod's labels win
            assert not any(r.get("target_label") in {"pod", "namespace"} for r in dcgm["relabel_configs"])
    # the training cluster (prod: 'train'; dev: the shared one) is the one with Kueue
    trains = config.cluster_for("training").name
    assert "- job_name: kueue" in scrapers[_physical(config, trains)].inputs["scrapeConfiguration"]


def test_dcgm_scrape_port_is_the_port_the_exporter_announces() -> None:
    values = monitoring.dcgm_exporter_values(["gpu"])
    assert values["podAnnotations"]["prometheus.io/port"] == str(monitoring.DCGM_METRICS_PORT)


@pytest.mark.parametrize("name", AWS)
def test_scraper_network_reaches_only_the_cluster_on_the_scrape_ports(name: str) -> None:
    config, result = load(STACKS / name), _plan(name)
    for cluster in config.clusters:
        prefix = f"{config.name}-{cluster.name}-metrics"
        group = f"{prefix}-sg-id"
        sources = metrics_sources(config, cluster)
        ports = set(monitoring.collector_ports(kueue_namespace=sources.kueue_namespace,
                                               gpu_metrics=sources.gpu_metrics))
        egress = [r.inputs for r in result.of_type(EGRESS) if r.name.startswith(f"{prefix}-")]
        ingress = [r.inputs for r in result.of_type(INGRESS) if r.name.startswith(f"{prefix}-")]
        assert {int(r["fromPort"]) for r in egress} == {int(r["toPort"]) for r in egress} == ports
        assert {int(r["fromPort"]) for r in ingress} == ports
        cluster_sg = {r["referencedSecurityGroupId"] for r in egress}
        assert len(cluster_sg) == 1 and group not in cluster_sg  # towards the cluster security group only
        assert all(r["securityGroupId"] == group and r["ipProtocol"] == "tcp" for r in egress)
        assert all(r["securityGroupId"] in cluster_sg and r["referencedSecurityGroupId"] == group for r in ingress)
        assert not any("cidrIpv4" in r for r in egress + ingress)


# --- EKS: identity and RBAC ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", AWS)
def test_access_entry_maps_the_scraper_role_to_the_collector_user(name: str) -> None:
    config, result = load(STACKS / name), _plan(name)
    entries = [r for r in result.of_type(ACCESS) if r.inputs.get("userName") == COLLECTOR_USER]
    assert sorted(e.inputs["clusterName"] for e in entries) == sorted(_physical(config, c.name)
                                                                      for c in config.clusters)
    for entry in entries:
        principal = entry.inputs["principalArn"]
        # the scraper's role ARN without its service-linked path, as EKS identifies it
        assert principal.startswith(f"arn:aws:iam::{config.target.account_id}:role/AWSServiceRoleForAmazonPrometheus")
        assert entry.inputs["type"] == "STANDARD" and not entry.inputs.get("kubernetesGroups")
        # no EKS access policy: the only permissions are the in-cluster RBAC below
        assert not [a for a in result.of_type(ASSOCIATION) if a.inputs["principalArn"] == principal]


def test_access_entry_principal_drops_the_service_linked_path() -> None:
    role = "AWSServiceRoleForAmazonPrometheusScraper_1234abcd-56ef-7"
    arn = f"arn:aws:iam::111122223333:role/aws-service-role/scraper.aps.amazonaws.com/{role}"
    assert access_entry_principal(arn) == f"arn:aws:iam::111122223333:role/{role}"
    assert access_entry_principal("arn:aws:iam::111122223333:role/plain") == "arn:aws:iam::111122223333:role/plain"


@pytest.mark.parametrize("name", AWS)
def test_collector_rbac_is_read_only_least_privilege_on_every_cluster(name: str) -> None:
    config, result = load(STACKS / name), _plan(name)
    for cluster in config.clusters:
        provider = _kube_provider(result, config, cluster.name)
        roles = [r for r in _on(result, CLUSTER_ROLE, provider) if r.inputs["metadata"]["name"] == COLLECTOR_ROLE]
        (role,) = roles
        rules = role.inputs["rules"]
        assert not _has_wildcard(rules)
        assert {v for r in rules for v in r["verbs"]} <= {"get", "list", "watch"}
        assert {res for r in rules for res in r.get("resources", [])} == {"nodes", "pods", "nodes/metrics"}
        assert {g for r in rules for g in r.get("apiGroups", [])} == {""}
        assert [u for r in rules for u in r.get("nonResourceURLs", [])] == ["/metrics"]
        assert not any("secrets" in r.get("resources", []) or "nodes/proxy" in r.get("resources", []) for r in rules)
        (binding,) = [b for b in _on(result, CLUSTER_BINDING, provider)
                      if b.inputs["metadata"]["name"] == COLLECTOR_ROLE]
        assert binding.inputs["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                             "name": COLLECTOR_ROLE}
        assert binding.inputs["subjects"] == [{"kind": "User", "name": COLLECTOR_USER,
                                               "apiGroup": "rbac.authorization.k8s.io"}]


# --- EKS: alert rules ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", AWS)
def test_workspace_rule_group_namespace_is_the_platform_rule_file(name: str) -> None:
    result = _plan(name)
    (rules,) = result.of_type(RULES)
    (workspace,) = result.of_type("aws:amp/workspace:Workspace")
    assert rules.inputs["data"] == monitoring.prometheus_rule_file()
    assert rules.inputs["name"] == RULE_NAMESPACE
    assert rules.inputs["workspaceId"] == f"{workspace.name}-id"
    names = [r["alert"] for g in yaml.safe_load(rules.inputs["data"])["groups"] for r in g["rules"]]
    assert names == [r.name for r in monitoring.ALERT_RULES]
    # held once, in the workspace: no PrometheusRule on EKS, where no Prometheus Operator would read it
    assert result.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule") == []


# --- GKE ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", GCP)
def test_gke_monitors_kueue_where_it_runs(name: str) -> None:
    config, result = load(STACKS / name), _plan(name)
    trains = config.cluster_for("training").name
    for cluster in config.clusters:
        provider = _kube_provider(result, config, cluster.name)
        monitors = _on(result, POD_MONITORING, provider)
        if cluster.name != trains:
            assert monitors == []
            continue
        (monitor,) = monitors
        kueue_chart = [c for c in _on(result, CHART, provider) if c.inputs["chart"].endswith("/kueue")]
        assert monitor.inputs["metadata"]["namespace"] == KUEUE_NAMESPACE == kueue_chart[0].inputs["namespace"]
        assert monitor.inputs["apiVersion"] == "monitoring.googleapis.com/v1"
        spec = monitor.inputs["spec"]
        assert spec["selector"] == {"matchLabels": KUEUE_POD_LABELS}
        (endpoint,) = spec["endpoints"]
        assert endpoint["port"] == KUEUE_METRICS_PORT and endpoint["scheme"] == "https"
        secret_name = endpoint["authorization"]["credentials"]["secret"]["name"]
        # the token: a ServiceAccount's, in Kueue's namespace, that may only GET /metrics
        (secret,) = [s for s in _on(result, SECRET, provider) if s.inputs["metadata"]["name"] == secret_name]
        assert secret.inputs["type"] == "kubernetes.io/service-account-token"
        assert secret.inputs["metadata"]["namespace"] == KUEUE_NAMESPACE
        account = secret.inputs["metadata"]["annotations"]["kubernetes.io/service-account.name"]
        (sa,) = [s for s in _on(result, SERVICE_ACCOUNT, provider) if s.inputs["metadata"]["name"] == account]
        assert sa.inputs["automountServiceAccountToken"] is False
        (reader,) = [r for r in _on(result, CLUSTER_ROLE, provider) if r.inputs["metadata"]["name"] == METRICS_READER]
        assert reader.inputs["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
        (reader_binding,) = [b for b in _on(result, CLUSTER_BINDING, provider)
                             if b.inputs["metadata"]["name"] == METRICS_READER]
        assert reader_binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": account,
                                                      "namespace": KUEUE_NAMESPACE}]
        # only GKE's managed collector may read the token, and only that Secret
        (role,) = [r for r in _on(result, ROLE, provider) if r.inputs["metadata"]["name"] == "mlinfra-gmp-token-reader"]
        assert role.inputs["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret_name],
                                         "verbs": ["get", "list", "watch"]}]
        assert not _has_wildcard(role.inputs["rules"])
        (binding,) = [b for b in _on(result, ROLE_BINDING, provider)
                      if b.inputs["metadata"]["name"] == "mlinfra-gmp-token-reader"]
        assert binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": "collector",
                                               "namespace": "gke-gmp-system"}]
        assert kueue_chart[0].urn.rsplit("::", 1)[1] in " ".join(monitor.dependencies)


@pytest.mark.parametrize("name", GCP)
def test_gke_collects_gpu_metrics_with_managed_dcgm_where_gpus_are(name: str) -> None:
    config, result = load(STACKS / name), _plan(name)
    for cluster in config.clusters:
        gke = result.named(f"{config.name}-{cluster.name}-cluster")
        components = gke.inputs["monitoringConfig"]["enableComponents"]
        assert gke.inputs["monitoringConfig"]["managedPrometheus"]["enabled"] is True
        assert ("DCGM" in components) is metrics_sources(config, cluster).gpu_metrics


@pytest.mark.parametrize("name", GCP)
def test_gke_needs_no_collector_user(name: str) -> None:
    result = _plan(name)
    roles = [r for r in result.of_type(CLUSTER_ROLE) if r.inputs["metadata"]["name"] == COLLECTOR_ROLE]
    assert roles == [] and result.of_type(SCRAPER) == []


def test_kueue_reports_cluster_queue_quota_and_usage() -> None:
    config = yaml.safe_load(kueue_values(["batch/job"])["managerConfig"]["controllerManagerConfigYaml"])
    assert config["metrics"] == {"bindAddress": f":{KUEUE_METRICS_PORT}", "enableClusterQueueResources": True}


# --- off switches -------------------------------------------------------------------------------------------

def _managed_prometheus_objects(result: Plan) -> list[PlannedResource]:
    return [*result.of_type(SCRAPER), *result.of_type(RULES), *result.of_type(POD_MONITORING),
            *[r for r in result.of_type(ACCESS) if r.inputs.get("userName") == COLLECTOR_USER],
            *[r for r in result.of_type(CLUSTER_ROLE) if r.inputs["metadata"]["name"] in {COLLECTOR_ROLE,
                                                                                          METRICS_READER}],
            *[r for r in result.of_type(SG) if r.name.endswith("-metrics-sg")]]


@pytest.mark.parametrize("name", ["aws-dev.yaml", "gcp-dev.yaml"])
@pytest.mark.parametrize("switch", [{"enabled": False}, {"managed_prometheus": False}])
def test_switched_off_nothing_is_created(name: str, switch: dict[str, bool]) -> None:
    assert _managed_prometheus_objects(_plan(name))
    result = _variant(name, **switch)
    assert _managed_prometheus_objects(result) == []
    assert result.of_type("aws:amp/workspace:Workspace") == []


# --- validators ---------------------------------------------------------------------------------------------

def _scraper_args(**changes: Any) -> AmpScraperArgs:
    base: dict[str, Any] = dict(
        region="eu-west-1", alias="ml-dev-main", cluster_name="ml-dev-main", cluster_arn="arn", vpc_id="vpc",
        cluster_security_group_id="sg", subnet_ids=["a", "b"], workspace_arn="ws",
        scrape_configuration=monitoring.collector_scrape_config("ml-dev-main", kueue_namespace=None,
                                                                gpu_metrics=False),
    )
    return AmpScraperArgs(**{**base, **changes})


def test_scraper_args_accept_a_scrape_configuration_and_reject_the_rest() -> None:
    assert _scraper_args().collector_user == COLLECTOR_USER
    assert _scraper_args(ports=[443, 10250, 8443]).ports == [443, 10250, 8443]
    with pytest.raises(ValidationError, match="scrape_configs"):
        _scraper_args(scrape_configuration="global: {scrape_interval: 30s}\n")
    with pytest.raises(ValidationError, match="system:"):
        _scraper_args(collector_user="system:masters")
    with pytest.raises(ValidationError, match="not TCP ports"):
        _scraper_args(ports=[0])


def test_rule_file_needs_the_workspace_and_rule_groups() -> None:
    key = AwsKmsKey(purpose="logs", region="eu-west-1", account_id="111122223333", arn=None,  # type: ignore[arg-type]
                    key_id=None, alias="alias/x")  # type: ignore[arg-type]
    base = {"region": "eu-west-1", "key": key, "workspace_alias": "dev", "log_group_name": "/mlinfra/dev/platform"}
    assert AwsMonitoringArgs(**base, rule_file=monitoring.prometheus_rule_file()).rule_file
    with pytest.raises(ValidationError, match="managed_prometheus"):
        AwsMonitoringArgs(**base, managed_prometheus=False, rule_file=monitoring.prometheus_rule_file())
    with pytest.raises(ValidationError, match="'groups'"):
        AwsMonitoringArgs(**base, rule_file="rules: []\n")


# --- the monitoring layer on its own ------------------------------------------------------------------------

def _layer(**kw: Any) -> Plan:
    import pulumi
    import pulumi_kubernetes as k8s

    from mlinfra.components.kubernetes.monitoring import MonitoringLayer, MonitoringLayerArgs
    from mlinfra.stacks.offline import run_program

    def program() -> None:
        provider = k8s.Provider("k8s", render_yaml_to_directory="/tmp/mlinfra-managed-prometheus")
        MonitoringLayer("mon", MonitoringLayerArgs(**kw), pulumi.ResourceOptions(providers=[provider]))

    return run_program(program, project="mlinfra", stack="test")


def test_layer_adds_scrape_objects_only_where_the_target_reads_them() -> None:
    gke = _layer(target="gcp", kueue_namespace="kueue-system")
    assert len(gke.of_type(POD_MONITORING)) == 1 and not _has_wildcard(gke.of_type(ROLE)[0].inputs["rules"])
    # on EKS the cloud layer's scraper has the Kueue job; nothing GKE-specific is created in the cluster
    eks = _layer(target="aws", kueue_namespace="kueue-system", collector_user=COLLECTOR_USER)
    assert eks.of_type(POD_MONITORING) == [] and eks.of_type(SECRET) == []
    assert [r.inputs["metadata"]["name"] for r in eks.of_type(CLUSTER_ROLE)] == [COLLECTOR_ROLE]
    assert _layer(target="aws").of_type(CLUSTER_ROLE) == []
    assert _layer(target="gcp").of_type(POD_MONITORING) == []
