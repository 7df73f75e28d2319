"""Tier 2 on AWS: the whole platform program from the example stack files, asserting the composed graph:
one provider in the configured region and account, protection in prod, least-privilege team roles, the
accelerator mapping, and the config-path provenance that points findings at the YAML."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from mlinfra.components.kubernetes.monitoring import COLLECTOR_USER
from mlinfra.stacks.loader import load
from mlinfra.stacks.offline import Plan
from mlinfra.stacks.program import plan

STACKS = Path(__file__).resolve().parent.parent / "stacks"


@cache
def prod() -> Plan:
    return plan(load(STACKS / "aws-prod.yaml"))


@cache
def dev() -> Plan:
    return plan(load(STACKS / "aws-dev.yaml"))


def _policy(plan_: Plan, name: str) -> dict[str, Any]:
    return json.loads(plan_.named(name).inputs["policy"])


def test_one_provider_in_the_configured_region_and_account() -> None:
    (provider,) = prod().of_type("pulumi:providers:aws")
    assert provider.inputs["region"] == "eu-west-1"
    assert json.loads(provider.inputs["allowedAccountIds"]) == ["444455556666"]
    tags = json.loads(provider.inputs["defaultTags"])["tags"]
    assert tags["mlinfra-environment"] == "ml-prod" and tags["data-classification"] == "confidential"
    for res in prod().resources:
        if res.custom and res.type.startswith("aws:"):
            assert res.provider and res.provider.startswith(provider.urn), res.name


def test_prod_protects_data_stores_and_dev_does_not() -> None:
    kinds = {"aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:sns/topic:Topic", "aws:sqs/queue:Queue",
             "aws:glue/catalogDatabase:CatalogDatabase"}
    prod_data = [r for r in prod().resources if r.type in kinds]
    assert len(prod_data) > 15 and all(r.protect for r in prod_data)
    assert not any(r.protect for r in dev().resources if r.type in kinds)
    for cluster in prod().of_type("aws:eks/cluster:Cluster"):
        assert cluster.inputs["deletionProtection"] is True


def test_nat_per_zone_in_prod_single_in_dev() -> None:
    assert len(prod().of_type("aws:ec2/natGateway:NatGateway")) == 3
    assert len(dev().of_type("aws:ec2/natGateway:NatGateway")) == 1
    zones = {s.inputs["availabilityZone"] for s in prod().of_type("aws:ec2/subnet:Subnet")}
    assert zones == {"eu-west-1a", "eu-west-1b", "eu-west-1c"}


def test_accelerators_map_to_instances_amis_and_taints() -> None:
    groups = {r.name: r.inputs for r in prod().of_type("aws:eks/nodeGroup:NodeGroup")}
    a100, trn, l4 = groups["ml-prod-train-a100-group"], groups["ml-prod-train-trainium-group"], \
        groups["ml-prod-serve-l4-group"]
    assert (a100["instanceTypes"], a100["amiType"]) == (["p4de.24xlarge"], "AL2023_x86_64_NVIDIA")
    assert (trn["instanceTypes"], trn["amiType"]) == (["trn1.32xlarge"], "AL2023_x86_64_NEURON")
    assert (l4["instanceTypes"], l4["amiType"]) == (["g6.xlarge"], "AL2023_x86_64_NVIDIA")
    assert {"key": "aws.amazon.com/neuron", "value": "present", "effect": "NO_SCHEDULE"} in trn["taints"]
    assert {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"} in a100["taints"]
    spot = {r.name for r in dev().of_type("aws:eks/nodeGroup:NodeGroup") if r.inputs["capacityType"] == "SPOT"}
    assert spot == {"ml-dev-main-l4-spot-group"}


def test_pools_join_their_configured_cluster() -> None:
    groups = {r.name: r.inputs["clusterName"] for r in prod().of_type("aws:eks/nodeGroup:NodeGroup")}
    assert groups["ml-prod-train-trainium-group"] == "ml-prod-train"
    assert groups["ml-prod-serve-l4-group"] == "ml-prod-serve"


def test_team_role_grants_exactly_its_resources() -> None:
    statements = _policy(prod(), "ml-prod-serving-policy")["Statement"]
    resources = {r for s in statements for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])}
    assert all(r != "*" for r in resources)
    assert any("ml-prod-models-444455556666-eu-west-1" in r for r in resources)
    assert not any("ml-prod-raw" in r for r in resources)  # serving reads models only
    assert any(r.startswith("arn:aws:sqs:eu-west-1:444455556666:") and "serving-rollout" in r for r in resources)
    actions = {a for s in statements for a in s["Action"]}
    assert "s3:PutObject" not in actions and "s3:GetObject" in actions and "kms:Decrypt" in actions


def test_team_role_is_assumed_only_through_pod_identity() -> None:
    trust = json.loads(prod().named("ml-prod-vision-role").inputs["assumeRolePolicy"])
    principals = [s["Principal"] for s in trust["Statement"]]
    assert principals == [{"Service": "pods.eks.amazonaws.com"}]
    associations = [r.inputs for r in prod().of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
                    if r.inputs["namespace"] == "vision"]
    assert {a["clusterName"] for a in associations} == {"ml-prod-train", "ml-prod-serve"}
    assert {a["serviceAccount"] for a in associations} == {"vision-workload"}


def test_admins_and_members_get_access_entries() -> None:
    entries = {r.inputs["principalArn"] for r in prod().of_type("aws:eks/accessEntry:AccessEntry")}
    assert "arn:aws:iam::444455556666:role/ml-platform-deployer" in entries
    assert "arn:aws:iam::444455556666:role/vision-team" in entries
    scoped = [r.inputs for r in prod().of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
              if r.inputs["principalArn"].endswith("role/vision-team")]
    assert all(s["accessScope"] == {"type": "namespace", "namespaces": ["vision"]} for s in scoped)


def test_every_resource_is_traced_to_the_config() -> None:
    paths = {r.config_path for r in prod().resources if r.custom and r.type.startswith("aws:")}
    assert "" not in paths
    assert {"kms", "network", "storage.buckets[0]", "events.topics[0]", "warehouse.datasets", "clusters[0]",
            "clusters[0].system_pool", "node_pools[1]", "iam.teams[2]", "monitoring"} <= paths


def _variant(**changes: Any) -> Plan:
    from mlinfra.stacks.config import StackConfig

    raw = load(STACKS / "aws-dev.yaml").model_dump(mode="json", exclude_unset=True)
    raw.update(changes)
    return plan(StackConfig.model_validate(raw))


def test_one_access_entry_per_principal_even_in_several_roles() -> None:
    deployer = "arn:aws:iam::111122223333:role/ml-platform-deployer"
    both = "arn:aws:iam::111122223333:role/shared-team"
    teams = load(STACKS / "aws-dev.yaml").model_dump(mode="json", exclude_unset=True)["iam"]["teams"]
    teams[0]["members"] = [both, deployer]
    teams[1]["members"] = [both]
    result = _variant(iam={"admins": [deployer], "teams": teams})
    entries = [r.inputs["principalArn"] for r in result.of_type("aws:eks/accessEntry:AccessEntry")
               if r.inputs.get("userName") != COLLECTOR_USER]  # the metrics scraper has its own entry
    assert sorted(entries) == sorted({deployer, both})
    scopes = [r.inputs["accessScope"] for r in result.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
              if r.inputs["principalArn"] == both]
    assert scopes == [{"type": "namespace", "namespaces": ["nlp", "vision"]}]


def test_private_authorized_networks_reach_the_private_endpoint() -> None:
    rules = [r.inputs for r in dev().of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
             if r.name.startswith("ml-dev-main-api-from-")]
    assert rules == [{**rules[0], "cidrIpv4": "10.200.0.0/24", "fromPort": 443, "toPort": 443, "ipProtocol": "tcp"}]


def test_service_ranges_come_from_the_config() -> None:
    ranges = {r.inputs["name"]: r.inputs["kubernetesNetworkConfig"]["serviceIpv4Cidr"]
              for r in prod().of_type("aws:eks/cluster:Cluster")}
    assert ranges == {"ml-prod-train": "10.96.0.0/20", "ml-prod-serve": "10.96.16.0/20"}


def test_cluster_autoscaler_scales_only_tagged_groups_through_pod_identity() -> None:
    from mlinfra.components.kubernetes.autoscaler import NAMESPACE, SERVICE_ACCOUNT

    statements = _policy(prod(), "ml-prod-train-autoscaler-identity-policy")["Statement"]
    writes = [s for s in statements if "autoscaling:SetDesiredCapacity" in s["Action"]]
    assert writes and all(s["Condition"] == {"StringEquals": {
        "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true"}} for s in writes)
    association = prod().named("ml-prod-train-autoscaler-identity-train").inputs
    assert (association["namespace"], association["serviceAccount"]) == (NAMESPACE, SERVICE_ACCOUNT)
    (chart,) = [r.inputs for r in prod().of_type("kubernetes:helm.sh/v4:Chart")
                if r.name == "ml-prod-train-autoscaler-chart"]
    assert chart["namespace"] == NAMESPACE
    assert chart["values"]["autoDiscovery"]["clusterName"] == association["clusterName"] == "ml-prod-train"
    assert chart["values"]["rbac"]["serviceAccount"]["name"] == SERVICE_ACCOUNT
