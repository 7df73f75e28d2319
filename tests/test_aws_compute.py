"""The AWS compute components under Pulumi mocks: network, EKS cluster, node groups, node and team roles."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
from collections.abc import Callable
from functools import cache
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from mlinfra.components.aws import eks_cluster, iam, network, node_group
from mlinfra.components.aws.eks_cluster import ClusterAccessArgs, EksCluster, EksClusterArgs
from mlinfra.components.aws.iam import NodeRole, NodeRoleArgs, TeamRole, TeamRoleArgs
from mlinfra.components.aws.network import AwsNetwork, AwsNetworkArgs
from mlinfra.components.aws.node_group import AcceleratorArgs, EksNodeGroup, EksNodeGroupArgs, TaintArgs
from mlinfra.stacks.offline import Plan, PlannedResource, run_program

REGION = "eu-west-1"
ACCOUNT = "123456789012"
LOGS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/logs"
SECRETS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/eks-secrets"
DISKS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/disks"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/platform-admin"
VIEWER = f"arn:aws:iam::{ACCOUNT}:role/vision-dev"
MODULES = (network, eks_cluster, node_group, iam)

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ENDPOINT = "aws:ec2/vpcEndpoint:VpcEndpoint"
ROUTE = "aws:ec2/route:Route"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ATTACH = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
INLINE = "aws:iam/rolePolicy:RolePolicy"
CLUSTER = "aws:eks/cluster:Cluster"
ADDON = "aws:eks/addon:Addon"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"


def run(build: Callable[[pulumi.ResourceOptions], None]) -> Plan:
    """Run ``build(opts)`` with an explicit eu-west-1 provider under mocks."""
    def program() -> None:
        provider = aws.Provider("aws", region=REGION, allowed_account_ids=[ACCOUNT])
        build(pulumi.ResourceOptions(providers=[provider]))
    return run_program(program, project="mlinfra", stack="test")


def one(plan: Plan, type_: str, name: str) -> PlannedResource:
    found = [r for r in plan.of_type(type_) if r.name == name]
    assert len(found) == 1, f"{len(found)} {type_} named {name}: {[r.name for r in plan.of_type(type_)]}"
    return found[0]


def net_args(**kw: Any) -> AwsNetworkArgs:
    return AwsNetworkArgs(**{"network_name": "ml-dev", "region": REGION, "cidr": "10.0.0.0/16",
                             "logs_key_arn": LOGS_KEY, **kw})


def cluster_args(**kw: Any) -> EksClusterArgs:
    return EksClusterArgs(**{"cluster_name": "ml-dev-main", "region": REGION, "subnet_ids": ["subnet-a", "subnet-b"],
                             "secrets_key_arn": SECRETS_KEY, "logs_key_arn": LOGS_KEY, "volumes_key_arn": DISKS_KEY,
                             **kw})


def pool_args(**kw: Any) -> EksNodeGroupArgs:
    return EksNodeGroupArgs(**{"cluster_name": "ml-dev-main", "node_role_arn": f"arn:aws:iam::{ACCOUNT}:role/nodes",
                               "subnet_ids": ["subnet-a", "subnet-b"], "disks_key_arn": DISKS_KEY, **kw})


@cache
def network_plan(nat_per_az: bool = True, nat: bool = True) -> Plan:
    return run(lambda o: AwsNetwork("net", net_args(nat_per_az=nat_per_az, nat=nat), o))


IGNORED: dict[str, Any] = {}


@cache
def compute_plan() -> Plan:
    """A network, a private cluster with access entries, a system pool, GPU/Neuron/spot pools, a team role."""
    IGNORED.clear()

    def remember(args: pulumi.ResourceTransformationArgs) -> None:
        if args.type_ == NODE_GROUP:
            IGNORED[args.name] = args.opts.ignore_changes
        return None

    def build(o: pulumi.ResourceOptions) -> None:
        pulumi.runtime.register_stack_transformation(remember)
        net = AwsNetwork("net", net_args(), o)
        cluster = EksCluster("main", cluster_args(subnet_ids=net.private_subnet_ids, access=[
            ClusterAccessArgs(principal_arn=ADMIN, access="admin"),
            ClusterAccessArgs(principal_arn=VIEWER, access="view", namespaces=["vision"])]), o)
        nodes = NodeRole("nodes", NodeRoleArgs(role_name="ml-dev-main-nodes"), o)
        common = {"cluster_name": cluster.cluster_name, "node_role_arn": nodes.arn,
                  "subnet_ids": net.private_subnet_ids}
        system = EksNodeGroup("system", pool_args(**common, pool_name="system", vcpus=4, min_nodes=1,
                                                  labels={"mlinfra.io/pool": "system"}), o)
        EksNodeGroup("l4", pool_args(**common, pool_name="l4", accelerator=AcceleratorArgs(type="nvidia-l4"),
                                     spot=True, taints=[TaintArgs(key="workload", value="gpu", effect="NoExecute")]),
                     o)
        EksNodeGroup("trn", pool_args(**common, pool_name="trn", disk_size_gb=500,
                                      accelerator=AcceleratorArgs(type="aws-trainium", count=16)), o)
        cluster.add_compute_addons([system])
        TeamRole("vision", TeamRoleArgs(env="ml-dev", team="vision", clusters={"main": cluster.cluster_name},
                                        source_account=ACCOUNT, statements=STATEMENTS), o)
    return run(build)


STATEMENTS: list[Any] = [
    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
     "Resource": ["arn:aws:s3:::acme-raw", "arn:aws:s3:::acme-raw/*"]},
    {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": LOGS_KEY},
]


# ----- every resource goes through the explicit provider, in its region ---------------------------------
def test_every_aws_resource_uses_the_explicit_provider():
    plan = compute_plan()
    provider = one(plan, "pulumi:providers:aws", "aws")
    assert provider.inputs["region"] == REGION
    custom = [r for r in plan.resources if r.custom and r.type.startswith("aws:")]
    assert len(custom) > 60
    assert all(r.provider and r.provider.startswith(provider.urn) for r in custom)


# ----- network ------------------------------------------------------------------------------------------
def test_subnets_span_the_zones_private_and_public_per_zone():
    plan = network_plan()
    subnets = {r.name: r.inputs for r in plan.of_type(SUBNET)}
    private = [s for n, s in subnets.items() if "-private-" in n]
    public = [s for n, s in subnets.items() if "-public-" in n]
    assert len(private) == len(public) == 3
    assert {s["availabilityZone"] for s in private} == {s["availabilityZone"] for s in public} == {
        f"{REGION}{z}" for z in "abc"}
    assert all(s["mapPublicIpOnLaunch"] is False for s in subnets.values())
    assert all(s["tags"]["kubernetes.io/role/internal-elb"] == "1" for s in private)
    assert all(s["tags"]["kubernetes.io/role/elb"] == "1" for s in public)
    assert sorted(s["cidrBlock"] for s in private) == ["10.0.0.0/18", "10.0.128.0/18", "10.0.64.0/18"]
    vpc = one(plan, "aws:ec2/vpc:Vpc", "net-vpc").inputs
    assert vpc["enableDnsSupport"] is True and vpc["enableDnsHostnames"] is True and vpc["cidrBlock"] == "10.0.0.0/16"
    assert "aws:index/getAvailabilityZones:getAvailabilityZones" in plan.invokes


@pytest.mark.parametrize(("per_az", "nat", "expected"), [(True, True, 3), (False, True, 1), (False, False, 0)])
def test_nat_gateways_per_mode(per_az: bool, nat: bool, expected: int):
    plan = network_plan(per_az, nat)
    nats = plan.of_type(NAT)
    assert len(nats) == len(plan.of_type("aws:ec2/eip:Eip")) == expected
    assert all(n.inputs["subnetId"].startswith("net-public-") for n in nats)
    defaults = {r.name: r.inputs for r in plan.of_type(ROUTE) if r.name.startswith("net-private-")}
    assert len(defaults) == (3 if nat else 0)
    targets = {d["natGatewayId"] for d in defaults.values()}
    assert len(targets) == expected
    public = one(plan, ROUTE, "net-public-default").inputs
    assert public["gatewayId"] == "net-igw-id" and public["destinationCidrBlock"] == "0.0.0.0/0"


def test_vpc_endpoints_are_private_and_reachable_only_from_the_vpc():
    plan = network_plan()
    endpoints = {r.inputs["serviceName"].rsplit(f"{REGION}.", 1)[1]: r.inputs for r in plan.of_type(ENDPOINT)}
    assert set(endpoints) == {"s3", "ecr.api", "ecr.dkr", "sts", "kms", "logs", "ec2", "eks-auth"}
    s3 = endpoints.pop("s3")
    assert s3["vpcEndpointType"] == "Gateway"
    assert s3["routeTableIds"] == [f"net-private-{i}-id" for i in range(3)]
    for e in endpoints.values():
        assert e["vpcEndpointType"] == "Interface" and e["privateDnsEnabled"] is True
        assert e["subnetIds"] == [f"net-private-{i}-id" for i in range(3)]
        assert e["securityGroupIds"] == ["net-endpoints-id"]
    sg = one(plan, "aws:ec2/securityGroup:SecurityGroup", "net-endpoints").inputs
    assert sg["ingress"] == [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.0.0.0/16"],
                              "description": "HTTPS from inside the VPC"}]
    assert sg["egress"] == []


def test_flow_logs_go_to_an_encrypted_log_group_through_a_scoped_role():
    plan = network_plan()
    group = one(plan, LOG_GROUP, "net-flow-logs")
    assert group.inputs["kmsKeyId"] == LOGS_KEY and group.inputs["retentionInDays"] == 365
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/vpc/ml-dev/flow-logs"
    flow = one(plan, "aws:ec2/flowLog:FlowLog", "net-flow-logs").inputs
    assert flow["logDestination"] == group_arn and flow["logDestinationType"] == "cloud-watch-logs"
    assert flow["trafficType"] == "ALL" and flow["vpcId"] == "net-vpc-id"
    assert flow["iamRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/ml-dev-flow-logs"
    trust = json.loads(one(plan, ROLE, "net-flow-logs").inputs["assumeRolePolicy"])["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                      "Action": "sts:AssumeRole", "Condition": {
                          "StringEquals": {"aws:SourceAccount": ACCOUNT},
                          "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/*"}}}]
    write, describe = json.loads(one(plan, INLINE, "net-flow-logs").inputs["policy"])["Statement"]
    assert write["Resource"] == [group_arn, f"{group_arn}:*"]
    assert "*" not in json.dumps(write["Action"]) and describe["Action"] == "logs:DescribeLogGroups"


def test_default_security_group_is_closed():
    sg = one(network_plan(), "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "net-default-sg").inputs
    assert sg["ingress"] == [] and sg["egress"] == [] and sg["vpcId"] == "net-vpc-id"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("cidr", "10.0.0.0/24", "/16 to /20"),
    ("flow_logs_retention_days", 42, "retention must be one of"),
    ("az_count", 1, "greater than or equal to 2"),
])
def test_network_args_are_checked(field: str, value: Any, message: str):
    net_args()  # the baseline is valid
    with pytest.raises(ValueError, match=message):
        net_args(**{field: value})


# ----- cluster ------------------------------------------------------------------------------------------
def test_cluster_is_private_encrypted_and_logs_everything():
    plan = compute_plan()
    cluster = one(plan, CLUSTER, "main-cluster")
    i = cluster.inputs
    assert i["name"] == "ml-dev-main"
    assert i["vpcConfig"]["endpointPrivateAccess"] is True and i["vpcConfig"]["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in i["vpcConfig"]
    assert i["vpcConfig"]["subnetIds"] == [f"net-private-{n}-id" for n in range(3)]
    assert i["encryptionConfig"] == {"resources": ["secrets"], "provider": {"keyArn": SECRETS_KEY}}
    assert i["enabledClusterLogTypes"] == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    assert i["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    assert i["deletionProtection"] is True and i["upgradePolicy"] == {"supportType": "STANDARD"}
    log_group = one(plan, LOG_GROUP, "main-logs")
    assert log_group.inputs == {"name": "/aws/eks/ml-dev-main/cluster", "retentionInDays": 90, "kmsKeyId": LOGS_KEY}
    assert log_group.urn in cluster.dependencies
    assert plan.resources.index(log_group) < plan.resources.index(cluster)
    role = one(plan, ROLE, "main-role").inputs
    assert json.loads(role["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "eks.amazonaws.com"}
    assert one(plan, ATTACH, "main-cluster-policy").urn in cluster.dependencies
    key_use = one(plan, INLINE, "main-secrets-key")
    assert key_use.urn in cluster.dependencies
    assert json.loads(key_use.inputs["policy"])["Statement"] == [{
        "Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
        "Resource": SECRETS_KEY}]


def test_addons_include_pod_identity_and_wait_for_nodes_when_they_need_them():
    plan = compute_plan()
    addons = {r.inputs["addonName"]: r for r in plan.of_type(ADDON)}
    assert set(addons) == {"vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns", "aws-ebs-csi-driver"}
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    system = one(plan, NODE_GROUP, "system-group").urn
    for name in ("coredns", "aws-ebs-csi-driver"):
        assert system in addons[name].dependencies
        assert addons["eks-pod-identity-agent"].urn in addons[name].dependencies
    assert addons["aws-ebs-csi-driver"].inputs["podIdentityAssociations"] == [
        {"serviceAccount": "ebs-csi-controller-sa", "roleArn": f"arn:aws:iam::{ACCOUNT}:role/ml-dev-main-ebs-csi"}]
    assert json.loads(one(plan, ROLE, "main-ebs-csi").inputs["assumeRolePolicy"])["Statement"][0]["Principal"] == {
        "Service": "pods.eks.amazonaws.com"}
    kms = json.loads(one(plan, INLINE, "main-ebs-csi-kms").inputs["policy"])["Statement"]
    assert {s["Resource"] for s in kms} == {DISKS_KEY}


def test_access_entries_are_explicit_and_viewers_are_namespaced():
    plan = compute_plan()
    entries = {r.inputs["principalArn"]: r.inputs for r in plan.of_type("aws:eks/accessEntry:AccessEntry")}
    assert set(entries) == {ADMIN, VIEWER} and all(e["type"] == "STANDARD" for e in entries.values())
    policies = {r.inputs["principalArn"]: r.inputs
                for r in plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")}
    assert policies[ADMIN]["policyArn"].endswith("/AmazonEKSClusterAdminPolicy")
    assert policies[ADMIN]["accessScope"] == {"type": "cluster"}
    assert policies[VIEWER]["policyArn"].endswith("/AmazonEKSViewPolicy")
    assert policies[VIEWER]["accessScope"] == {"type": "namespace", "namespaces": ["vision"]}


def test_kubeconfig_uses_get_token_and_outputs_are_set():
    captured: dict[str, Any] = {}

    def build(o: pulumi.ResourceOptions) -> None:
        cluster = EksCluster("main", cluster_args(), o)
        pulumi.export("kubeconfig", cluster.kubeconfig)
        pulumi.export("sg", cluster.cluster_security_group_id)
        pulumi.export("ca", cluster.certificate_authority)
        captured["secret"] = asyncio.ensure_future(cluster.kubeconfig.is_secret())  # resolved once the run is over

    plan = run(build)
    kubeconfig = plan.outputs["kubeconfig"]
    assert "command: aws" in kubeconfig and "get-token, --cluster-name, ml-dev-main, --region, eu-west-1" in kubeconfig
    assert "token:" not in kubeconfig and "client-key" not in kubeconfig
    assert plan.outputs["sg"].startswith("sg-") and plan.outputs["ca"]
    assert captured["secret"].result() is True


def test_public_endpoint_is_limited_to_authorized_networks():
    plan = run(lambda o: EksCluster("main", cluster_args(private_endpoint=False,
                                                         authorized_networks=["203.0.113.0/24"]), o))
    vpc = one(plan, CLUSTER, "main-cluster").inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True and vpc["publicAccessCidrs"] == ["203.0.113.0/24"]


@pytest.mark.parametrize(("networks", "message"), [([], "network.authorized_networks"),
                                                   (["0.0.0.0/0"], "0.0.0.0/0")])
def test_public_endpoint_without_networks_is_refused(networks: list[str], message: str):
    with pytest.raises(ValueError, match=message):
        cluster_args(private_endpoint=False, authorized_networks=networks)


# ----- node groups --------------------------------------------------------------------------------------
def test_launch_templates_require_imdsv2_and_encrypt_volumes():
    plan = compute_plan()
    templates = {r.name: r.inputs for r in plan.of_type(LAUNCH_TEMPLATE)}
    assert set(templates) == {"system-lt", "l4-lt", "trn-lt"}
    for t in templates.values():
        assert t["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                        "httpPutResponseHopLimit": 1, "instanceMetadataTags": "disabled"}
        (disk,) = t["blockDeviceMappings"]
        assert disk["deviceName"] == "/dev/xvda"
        assert disk["ebs"]["encrypted"] == "true" and disk["ebs"]["kmsKeyId"] == DISKS_KEY
        assert disk["ebs"]["volumeType"] == "gp3"
        assert "keyName" not in t and "networkInterfaces" not in t and "imageId" not in t
        assert {s["resourceType"] for s in t["tagSpecifications"]} == {"instance", "volume", "network-interface"}
    assert templates["trn-lt"]["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 500


def test_node_groups_pick_instance_ami_capacity_and_taints():
    plan = compute_plan()
    groups = {r.name: r.inputs for r in plan.of_type(NODE_GROUP)}
    system, l4, trn = groups["system-group"], groups["l4-group"], groups["trn-group"]
    assert (system["instanceTypes"], system["amiType"], system["capacityType"]) == (
        ["m6i.xlarge"], "AL2023_x86_64_STANDARD", "ON_DEMAND")
    assert system["labels"] == {"mlinfra.io/pool": "system"} and "taints" not in system
    assert (l4["instanceTypes"], l4["amiType"], l4["capacityType"]) == (["g6.xlarge"], "AL2023_x86_64_NVIDIA", "SPOT")
    assert l4["taints"] == [{"key": "workload", "value": "gpu", "effect": "NO_EXECUTE"},
                            {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]
    assert (trn["instanceTypes"], trn["amiType"]) == (["trn1.32xlarge"], "AL2023_x86_64_NEURON")
    assert trn["taints"] == [{"key": "aws.amazon.com/neuron", "value": "present", "effect": "NO_SCHEDULE"}]
    for name, g in groups.items():
        assert g["launchTemplate"] == {"id": f"{name.removesuffix('-group')}-lt-id", "version": "1"}
        assert g["updateConfig"] == {"maxUnavailable": 1} and g["nodeRepairConfig"] == {"enabled": True}
        assert g["nodeRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/ml-dev-main-nodes"
        assert g["subnetIds"] == [f"net-private-{n}-id" for n in range(3)]
        assert "remoteAccess" not in g and "diskSize" not in g
        assert IGNORED[name] == ["scalingConfig.desiredSize"]
    assert system["scalingConfig"] == {"minSize": 1, "maxSize": 3, "desiredSize": 1}


def test_node_group_args_are_checked():
    with pytest.raises(ValueError, match="min_nodes"):
        pool_args(pool_name="x", min_nodes=4, max_nodes=2)
    with pytest.raises(ValueError, match="not offered on AWS"):
        pool_args(pool_name="x", accelerator=AcceleratorArgs(type="tpu-v5e"))
    with pytest.raises(ValueError, match="per instance on AWS"):
        run(lambda o: EksNodeGroup("x", pool_args(pool_name="x", accelerator=AcceleratorArgs(type="nvidia-l4",
                                                                                                count=3)), o))
    plan = run(lambda o: EksNodeGroup("x", pool_args(pool_name="x", instance_types=["m7i.2xlarge", "m6a.2xlarge"],
                                                     spot=True), o))
    assert one(plan, NODE_GROUP, "x-group").inputs["instanceTypes"] == ["m7i.2xlarge", "m6a.2xlarge"]


# ----- IAM ----------------------------------------------------------------------------------------------
def test_node_role_has_only_the_node_policies():
    plan = compute_plan()
    role = one(plan, ROLE, "nodes-role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    attached = {r.inputs["policyArn"] for r in plan.of_type(ATTACH) if r.parent == role.parent}
    assert attached == {"arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
                        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
                        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"}
    assert not [r for r in plan.of_type(INLINE) if r.parent == role.parent]
    assert "managedPolicyArns" not in role.inputs and "inlinePolicies" not in role.inputs


def test_team_role_is_pod_identity_only_with_exactly_its_statements():
    plan = compute_plan()
    role = one(plan, ROLE, "vision-role").inputs
    assert role["name"] == "ml-dev-vision-team"
    assert json.loads(role["assumeRolePolicy"]) == {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
        "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}]}
    policy = json.loads(one(plan, INLINE, "vision-policy").inputs["policy"])
    assert policy == {"Version": "2012-10-17", "Statement": STATEMENTS}
    association = one(plan, POD_IDENTITY, "vision-main")
    assert association.inputs == {"clusterName": "ml-dev-main", "namespace": "vision",
                                  "serviceAccount": "vision-workload",
                                  "roleArn": f"arn:aws:iam::{ACCOUNT}:role/ml-dev-vision-team"}
    assert one(plan, CLUSTER, "main-cluster").urn in association.dependencies


def test_team_role_resolves_output_values_and_has_no_policy_without_statements():
    def build(o: pulumi.ResourceOptions) -> None:
        bucket_arn = pulumi.Output.from_input("arn:aws:s3:::acme-models")
        TeamRole("nlp", TeamRoleArgs(env="ml-prod", team="nlp", statements=[
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": pulumi.Output.concat(bucket_arn, "/*")}]), o)
        TeamRole("idle", TeamRoleArgs(env="ml-prod", team="idle" + "x" * 60), o)

    plan = run(build)
    policy = json.loads(one(plan, INLINE, "nlp-policy").inputs["policy"])
    assert policy["Statement"] == [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::acme-models/*"}]
    assert [r.name for r in plan.of_type(INLINE)] == ["nlp-policy"]
    long_name = one(plan, ROLE, "idle-role").inputs["name"]
    assert len(long_name) == 64 and long_name.startswith("ml-prod-idlexxx")
    assert "Condition" not in json.loads(one(plan, ROLE, "nlp-role").inputs["assumeRolePolicy"])["Statement"][0]


def test_team_role_compacts_repeated_and_mergeable_statements():
    def build(o: pulumi.ResourceOptions) -> None:
        models = pulumi.Output.from_input("arn:aws:s3:::acme-models")
        objects = pulumi.Output.concat(models, "/*")  # one Output reused by several grants, as helpers do
        other = pulumi.Output.concat(models, "/*")  # same value, another object: never assumed to be the same
        read = ["s3:GetObject", "s3:GetObjectVersion"]
        listing = {"StringLike": {"s3:prefix": ["a/", "a/*"]}}
        TeamRole("vision", TeamRoleArgs(env="ml-dev", team="vision", statements=[
            {"Effect": "Allow", "Action": read, "Resource": ["arn:aws:s3:::acme-raw/*"]},
            {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [LOGS_KEY]},
            {"Effect": "Allow", "Action": list(reversed(read)), "Resource": [objects]},  # same action set
            {"Effect": "Allow", "Action": read, "Resource": [objects, other]},
            {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [LOGS_KEY]},  # exact duplicate
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::acme-raw"],
             "Condition": listing},
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::acme-models"]},  # no condition
            # Covered by the broader key grant below: left out.
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"],
             "Resource": [LOGS_KEY, DISKS_KEY]},
        ]), o)

    plan = run(build)
    policy = json.loads(one(plan, INLINE, "vision-policy").inputs["policy"])["Statement"]
    assert policy == [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"],
         "Resource": ["arn:aws:s3:::acme-raw/*", "arn:aws:s3:::acme-models/*", "arn:aws:s3:::acme-models/*"]},
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::acme-raw"],
         "Condition": {"StringLike": {"s3:prefix": ["a/", "a/*"]}}},
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::acme-models"]},
        {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:Encrypt"],
         "Resource": [LOGS_KEY, DISKS_KEY]},
    ]


def test_compact_statements_keeps_every_grant_and_leaves_its_input_alone():
    shared = ["arn:aws:sqs:eu-west-1:1:q"]
    given = [
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:aws:sqs:eu-west-1:1:a"},
        {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": shared},
        {"Effect": "Deny", "Action": ["sqs:SendMessage"], "Resource": shared},
        {"Sid": "Named", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": shared},
    ]
    before = json.dumps(given)
    out = iam.compact_statements(given)
    assert json.dumps(given) == before and shared == ["arn:aws:sqs:eu-west-1:1:q"]
    assert out == [
        {"Effect": "Allow", "Action": "sqs:SendMessage",
         "Resource": ["arn:aws:sqs:eu-west-1:1:a", "arn:aws:sqs:eu-west-1:1:q"]},
        given[2], given[3],  # another Effect, another Sid: not merged, and returned as given
    ]
    assert out[1] is given[2]
    assert iam.compact_statements([]) == []


@pytest.mark.parametrize("statement", [
    {"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::acme-raw"},
    {"Effect": "Allow", "Action": ["s3:GetObject", "*"], "Resource": "arn:aws:s3:::acme-raw/*"},
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
    {"Effect": "Allow", "Action": ["sqs:ReceiveMessage"], "Resource": ["*"]},
    {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*"},
    {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::acme-raw"},
])
def test_wildcard_statements_are_refused(statement: dict[str, Any]):
    with pytest.raises(ValueError, match="team 'vision'"):
        run(lambda o: TeamRole("vision", TeamRoleArgs(env="ml-dev", team="vision", statements=[statement]), o))


def test_non_data_list_actions_may_use_a_wildcard_resource():
    iam.check_statements([{"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"}], "t")


# ----- style contract -----------------------------------------------------------------------------------
def _classes(base: type) -> list[type]:
    return [cls for mod in MODULES for _, cls in inspect.getmembers(importlib.import_module(mod.__name__),
                                                                    inspect.isclass)
            if issubclass(cls, base) and cls.__module__ == mod.__name__]

