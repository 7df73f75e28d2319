"""AWS security rules: a compliant baseline (the aws-prod example), one mutation, the exact rule id.

Every rule has a passing fixture (a real resource or the whole plan of a shipped example) and a failing one; a
mutation must trip its own rule and no other rule of the family. Stack rules see the example's plan with one
resource mutated, removed or detached from its dependencies.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from mlinfra.policies.catalog import CIS_AWS, CIS_EKS, Resource, Rule, Stack
from mlinfra.policies.check import check_file
from mlinfra.policies.context import PolicyContext
from mlinfra.policies.engine import UNKNOWN_NOTE, run_resource_rule, run_stack_rule
from mlinfra.policies.rules import aws
from mlinfra.policies.testing import EXAMPLES, Example, example, mutate, replace_in, violations

FAMILY: tuple[Rule, ...] = aws.RULES
IDS = {r.id for r in FAMILY}
EXAMPLE_FILES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


@pytest.fixture(scope="module")
def prod() -> Example:
    return example("aws-prod")


def find(ex: Example | Stack, type_: str, name: str) -> Resource:
    """The resource of ``type_`` named ``name`` (several types share logical names)."""
    resources = ex.resources
    found = [r for r in resources if r.type == type_ and r.name == name]
    assert len(found) == 1, f"{type_} {name}: {len(found)} found"
    return found[0]


def fired(target: Resource | Stack, context: PolicyContext, extra: Resource | None = None) -> set[str]:
    """Ids of the family's rules reporting anything on a resource, or on a stack (plus one resource of it)."""
    ids = set()
    resources = [target] if isinstance(target, Resource) else ([extra] if extra else [])
    for rule in FAMILY:
        if rule.scope == "stack":
            hit = isinstance(target, Stack) and bool(run_stack_rule(rule, target, context))
        else:
            hit = any(run_resource_rule(rule, r, context) for r in resources if rule.applies_to(r.type))
        if hit:
            ids.add(rule.id)
    return ids


def assert_only(rule_id: str, target: Resource | Stack, context: PolicyContext,
                mutated: Resource | None = None) -> list[str]:
    """``rule_id`` reports on ``target`` and no other rule of the family does; returns its messages."""
    messages = violations(rule_id, target, context)
    assert messages, f"{rule_id} reported nothing"
    assert fired(target, context, mutated) == {rule_id}
    return messages


def swapped(ex: Example, old: Resource, new: Resource) -> Stack:
    return replace_in(ex.stack, old, new)


def without(ex: Example, *gone: Resource) -> Stack:
    return Stack([r for r in ex.resources if all(r is not g for g in gone)])


def detached(res: Resource) -> Resource:
    """The resource with no dependencies (matching then falls back to values)."""
    return dataclasses.replace(res, dependencies=())


def with_policy(res: Resource, key: str, edit: Callable[[dict[str, Any]], None]) -> Resource:
    document = json.loads(res.props[key])
    edit(document)
    return mutate(res, (key,), json.dumps(document))


def public_allow(document: dict[str, Any]) -> None:
    document["Statement"].append({"Sid": "Everyone", "Effect": "Allow", "Principal": "*", "Action": "*",
                                  "Resource": "*"})


# ----- the family as a whole -------------------------------------------------------------------------------


def test_family_metadata() -> None:
    assert len(FAMILY) >= 16
    assert len(IDS) == len(FAMILY)
    for rule in FAMILY:
        assert rule.id.startswith("aws-") and rule.targets == ("aws",)
        assert rule.doc, f"{rule.id} has no docstring"
        assert all(c.framework in (CIS_AWS, CIS_EKS) for c in rule.controls)
        if rule.severity in ("critical", "high"):
            assert rule.enforcement == "mandatory", rule.id
        else:
            assert rule.enforcement == "advisory", rule.id


def test_data_services_match_the_grant_helpers() -> None:
    from mlinfra.components.aws.iam import DATA_SERVICES

    assert aws.DATA_SERVICES == DATA_SERVICES


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_examples_have_no_mandatory_aws_violation(name: str) -> None:
    report = check_file(EXAMPLES / f"{name}.yaml")
    ours = [f for f in report.findings if f.rule.id in IDS]
    assert [f"{f.rule.id} {f.resource}: {f.message}" for f in ours if f.blocking] == []
    # advisory ones neither (aws-dev runs every rule advisory): the shipped components satisfy the whole family
    assert [f"{f.rule.id} {f.resource}: {f.message}" for f in ours] == []


def test_baseline_is_clean(prod: Example) -> None:
    assert fired(prod.stack, prod.context) == set()
    for res in prod.resources:
        assert fired(res, prod.context) == set(), res.name


# ----- S3 --------------------------------------------------------------------------------------------------


def test_public_access_block(prod: Example) -> None:
    block = find(prod, aws.PUBLIC_ACCESS_BLOCK, "ml-prod-raw-public-access-block")
    assert violations("aws-s3-bucket-public-access-block", prod.stack, prod.context) == []
    # matched by the bucket name when the dependency is not there
    assert violations("aws-s3-bucket-public-access-block", swapped(prod, block, detached(block)), prod.context) == []
    off = mutate(block, ("restrictPublicBuckets",), False)
    [message] = assert_only("aws-s3-bucket-public-access-block", swapped(prod, block, off), prod.context, off)
    assert "restrictPublicBuckets" in message
    assert "no public access block" in assert_only("aws-s3-bucket-public-access-block", without(prod, block),
                                                   prod.context)[0]


def test_tls_only(prod: Example) -> None:
    policy = find(prod, aws.BUCKET_POLICY, "ml-prod-raw-policy")
    assert violations("aws-s3-bucket-tls-only", prod.stack, prod.context) == []

    def drop_tls(document: dict[str, Any]) -> None:
        document["Statement"] = [s for s in document["Statement"] if s["Sid"] != "DenyInsecureTransport"]

    plain = with_policy(policy, "policy", drop_tls)
    [message] = assert_only("aws-s3-bucket-tls-only", swapped(prod, policy, plain), prod.context, plain)
    assert "aws:SecureTransport" in message


def test_tls_only_fails_closed_on_an_unknown_policy(prod: Example) -> None:
    policy = find(prod, aws.BUCKET_POLICY, "ml-prod-raw-policy")
    unknown = mutate(policy, ("policy",), UNKNOWN_STRING_VALUE)
    [message] = violations("aws-s3-bucket-tls-only", swapped(prod, policy, unknown), prod.context)
    assert ".policy" in message and UNKNOWN_NOTE in message


def test_bucket_cmk(prod: Example) -> None:
    config = find(prod, aws.BUCKET_ENCRYPTION, "ml-prod-raw-encryption")
    default = ("rules", 0, "applyServerSideEncryptionByDefault")
    assert violations("aws-s3-bucket-cmk", prod.stack, prod.context) == []
    # a key not known yet is still a customer key
    pending = mutate(config, (*default, "kmsMasterKeyId"), UNKNOWN_STRING_VALUE)
    assert violations("aws-s3-bucket-cmk", swapped(prod, config, pending), prod.context) == []
    sse_s3 = mutate(config, (*default, "sseAlgorithm"), "AES256")
    assert "AES256" in assert_only("aws-s3-bucket-cmk", swapped(prod, config, sse_s3), prod.context, sse_s3)[0]
    managed = mutate(config, (*default, "kmsMasterKeyId"), "alias/aws/s3")
    assert "AWS managed" in assert_only("aws-s3-bucket-cmk", swapped(prod, config, managed), prod.context,
                                        managed)[0]
    no_bucket_key = mutate(config, ("rules", 0, "bucketKeyEnabled"), False)
    assert_only("aws-s3-bucket-cmk", swapped(prod, config, no_bucket_key), prod.context, no_bucket_key)


def test_versioning(prod: Example) -> None:
    raw = find(prod, aws.BUCKET_VERSIONING, "ml-prod-raw-versioning")
    artifacts = find(prod, aws.BUCKET_VERSIONING, "ml-prod-artifacts-versioning")
    assert violations("aws-s3-bucket-versioning", prod.stack, prod.context) == []
    # artifacts buckets may go unversioned
    assert violations("aws-s3-bucket-versioning", without(prod, artifacts), prod.context) == []
    [message] = assert_only("aws-s3-bucket-versioning", without(prod, raw), prod.context)
    assert "data bucket" in message
    suspended = mutate(raw, ("versioningConfiguration", "status"), "Suspended")
    assert_only("aws-s3-bucket-versioning", swapped(prod, raw, suspended), prod.context, suspended)


def test_bucket_v2_types_are_recognised(prod: Example) -> None:
    renamed = {aws.BUCKET: "aws:s3/bucketV2:BucketV2", aws.BUCKET_VERSIONING: aws.BUCKET_VERSIONINGS[1],
               aws.BUCKET_ENCRYPTION: aws.BUCKET_ENCRYPTIONS[1]}
    stack = Stack([dataclasses.replace(r, type=renamed.get(r.type, r.type)) for r in prod.resources])
    assert fired(stack, prod.context) == set()
    versioning = next(r for r in stack.resources if r.type == aws.BUCKET_VERSIONINGS[1] and "raw" in r.name)
    assert violations("aws-s3-bucket-versioning", Stack([r for r in stack.resources if r is not versioning]),
                      prod.context)


def test_companion_depending_on_two_buckets_goes_to_the_one_it_names(prod: Example) -> None:
    raw = find(prod, aws.PUBLIC_ACCESS_BLOCK, "ml-prod-raw-public-access-block")
    models = find(prod, aws.BUCKET, "ml-prod-models-bucket")
    both = dataclasses.replace(raw, dependencies=(models.urn, *raw.dependencies))
    assert violations("aws-s3-bucket-public-access-block", swapped(prod, raw, both), prod.context) == []


def test_ownership_enforced(prod: Example) -> None:
    controls = find(prod, aws.BUCKET_OWNERSHIP, "ml-prod-raw-ownership")
    assert violations("aws-s3-bucket-ownership-enforced", prod.stack, prod.context) == []
    writer = mutate(controls, ("rule", "objectOwnership"), "ObjectWriter")
    assert "ObjectWriter" in assert_only("aws-s3-bucket-ownership-enforced", swapped(prod, controls, writer),
                                         prod.context, writer)[0]


# ----- EKS -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster(prod: Example) -> Resource:
    return find(prod, aws.EKS_CLUSTER, "ml-prod-train-cluster")


def public(cluster: Resource, cidrs: list[str] | None) -> Resource:
    opened = mutate(cluster, ("vpcConfig", "endpointPublicAccess"), True)
    return mutate(opened, ("vpcConfig", "publicAccessCidrs"), cidrs) if cidrs is not None else opened


def test_private_endpoint(prod: Example, cluster: Resource) -> None:
    dev = PolicyContext(environment="dev")
    assert violations("aws-eks-cluster-private-endpoint", cluster, prod.context) == []
    restricted = public(cluster, ["10.200.0.0/24"])
    assert fired(restricted, dev) == set()  # outside prod: public, limited to authorized networks
    assert "prod" in assert_only("aws-eks-cluster-private-endpoint", restricted, prod.context)[0]
    no_private = mutate(cluster, ("vpcConfig", "endpointPrivateAccess"), False)
    assert_only("aws-eks-cluster-private-endpoint", no_private, dev)


def test_public_access_cidrs(prod: Example, cluster: Resource) -> None:
    dev = PolicyContext(environment="dev")
    assert violations("aws-eks-cluster-public-access-cidrs", cluster, dev) == []
    assert "0.0.0.0/0" in assert_only("aws-eks-cluster-public-access-cidrs", public(cluster, None), dev)[0]
    assert_only("aws-eks-cluster-public-access-cidrs", public(cluster, ["10.200.0.0/24", "0.0.0.0/0"]), dev)


def test_secrets_encryption(prod: Example, cluster: Resource) -> None:
    assert violations("aws-eks-cluster-secrets-encryption", cluster, prod.context) == []
    pending = mutate(cluster, ("encryptionConfig", "provider", "keyArn"), UNKNOWN_STRING_VALUE)
    assert violations("aws-eks-cluster-secrets-encryption", pending, prod.context) == []
    assert_only("aws-eks-cluster-secrets-encryption", mutate(cluster, ("encryptionConfig", "resources"), []),
                prod.context)
    no_key = mutate(cluster, ("encryptionConfig", "provider"))
    assert "keyArn" in assert_only("aws-eks-cluster-secrets-encryption", no_key, prod.context)[0]


def test_audit_logs(prod: Example, cluster: Resource) -> None:
    assert violations("aws-eks-cluster-audit-logs", cluster, prod.context) == []
    partial = mutate(cluster, ("enabledClusterLogTypes",), ["api", "controllerManager", "scheduler"])
    assert "audit, authenticator" in assert_only("aws-eks-cluster-audit-logs", partial, prod.context)[0]


def test_all_log_types(prod: Example, cluster: Resource) -> None:
    assert violations("aws-eks-cluster-all-log-types", cluster, prod.context) == []
    partial = mutate(cluster, ("enabledClusterLogTypes",), ["api", "audit", "authenticator"])
    assert "controllerManager, scheduler" in assert_only("aws-eks-cluster-all-log-types", partial,
                                                         prod.context)[0]


def test_access_entries_only(prod: Example, cluster: Resource) -> None:
    assert violations("aws-eks-cluster-access-entries-only", cluster, prod.context) == []
    both = mutate(cluster, ("accessConfig", "authenticationMode"), "API_AND_CONFIG_MAP")
    assert_only("aws-eks-cluster-access-entries-only", both, prod.context)


def test_no_creator_admin(prod: Example, cluster: Resource) -> None:
    assert violations("aws-eks-cluster-no-creator-admin", cluster, prod.context) == []
    unset = mutate(cluster, ("accessConfig", "bootstrapClusterCreatorAdminPermissions"))
    assert_only("aws-eks-cluster-no-creator-admin", unset, prod.context)


def test_node_group_no_remote_access(prod: Example) -> None:
    group = find(prod, aws.NODE_GROUP, "ml-prod-serve-cpu-group")
    assert violations("aws-eks-node-group-no-remote-access", group, prod.context) == []
    ssh = mutate(group, ("remoteAccess",), {"ec2SshKey": "ops"})
    assert "0.0.0.0/0" in assert_only("aws-eks-node-group-no-remote-access", ssh, prod.context)[0]


def test_node_group_launch_template(prod: Example) -> None:
    group = find(prod, aws.NODE_GROUP, "ml-prod-serve-cpu-group")
    assert violations("aws-eks-node-group-launch-template", prod.stack, prod.context) == []
    bare = mutate(detached(group), ("launchTemplate",))
    assert "no launchTemplate" in assert_only("aws-eks-node-group-launch-template", swapped(prod, group, bare),
                                              prod.context, bare)[0]
    foreign = mutate(detached(group), ("launchTemplate",), {"name": "someone-elses", "version": "1"})
    assert "not created in this plan" in assert_only(
        "aws-eks-node-group-launch-template", swapped(prod, group, foreign), prod.context, foreign)[0]


def test_accelerator_taint(prod: Example) -> None:
    gpu = find(prod, aws.NODE_GROUP, "ml-prod-train-a100-group")
    neuron = find(prod, aws.NODE_GROUP, "ml-prod-train-trainium-group")
    cpu = find(prod, aws.NODE_GROUP, "ml-prod-serve-cpu-group")
    for group in (gpu, neuron, cpu):
        assert violations("aws-eks-node-group-accelerator-taint", group, prod.context) == []
    assert "nvidia.com/gpu" in assert_only("aws-eks-node-group-accelerator-taint",
                                           mutate(gpu, ("taints",)), prod.context)[0]
    soft = mutate(neuron, ("taints", 0, "effect"), "PREFER_NO_SCHEDULE")
    assert "aws.amazon.com/neuron" in assert_only("aws-eks-node-group-accelerator-taint", soft, prod.context)[0]


# ----- EC2 and VPC -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(prod: Example) -> Resource:
    return find(prod, aws.LAUNCH_TEMPLATE, "ml-prod-train-system-lt")


def test_imdsv2(prod: Example, template: Resource) -> None:
    assert violations("aws-ec2-instance-imdsv2", template, prod.context) == []
    optional = mutate(template, ("metadataOptions", "httpTokens"), "optional")
    assert "optional" in assert_only("aws-ec2-instance-imdsv2", optional, prod.context)[0]


def test_imds_hop_limit(prod: Example, template: Resource) -> None:
    assert violations("aws-ec2-launch-template-imds-hop-limit", template, prod.context) == []
    two = mutate(template, ("metadataOptions", "httpPutResponseHopLimit"), 2.0)
    assert "is 2" in assert_only("aws-ec2-launch-template-imds-hop-limit", two, prod.context)[0]


def test_volume_encrypted(prod: Example, template: Resource) -> None:
    assert violations("aws-ec2-volume-encrypted", template, prod.context) == []
    plain = mutate(template, ("blockDeviceMappings", 0, "ebs", "encrypted"), "false")
    assert "/dev/xvda" in assert_only("aws-ec2-volume-encrypted", plain, prod.context)[0]
    managed = mutate(template, ("blockDeviceMappings", 0, "ebs", "kmsKeyId"))
    assert "aws/ebs" in assert_only("aws-ec2-volume-encrypted", managed, prod.context)[0]
    assert_only("aws-ec2-volume-encrypted", mutate(template, ("blockDeviceMappings",)), prod.context)


def test_security_group_no_public_ingress(prod: Example) -> None:
    rule = find(prod, aws.INGRESS_RULE, "ml-prod-train-api-from-0")
    group = find(prod, aws.SECURITY_GROUP, "ml-prod-network-endpoints")
    for res in (rule, group):
        assert violations("aws-ec2-security-group-no-public-ingress", res, prod.context) == []
    [message] = assert_only("aws-ec2-security-group-no-public-ingress", mutate(rule, ("cidrIpv4",), "0.0.0.0/0"),
                            prod.context)
    assert message == "ingress from 0.0.0.0/0 (ports 443-443): open to the internet"
    inline = mutate(group, ("ingress", 0, "ipv6CidrBlocks"), ["::/0"])
    assert "::/0" in assert_only("aws-ec2-security-group-no-public-ingress", inline, prod.context)[0]


def test_flow_logs(prod: Example) -> None:
    flow = find(prod, aws.FLOW_LOG, "ml-prod-network-flow-logs")
    assert violations("aws-vpc-flow-logs", prod.stack, prod.context) == []
    assert "no flow log" in assert_only("aws-vpc-flow-logs", without(prod, flow), prod.context)[0]
    accepted = mutate(flow, ("trafficType",), "ACCEPT")
    assert_only("aws-vpc-flow-logs", swapped(prod, flow, accepted), prod.context, accepted)


def test_default_security_group_closed(prod: Example) -> None:
    group = find(prod, aws.DEFAULT_SECURITY_GROUP, "ml-prod-network-default-sg")
    assert violations("aws-vpc-default-security-group-closed", prod.stack, prod.context) == []
    egress = mutate(group, ("egress",), [{"protocol": "-1", "fromPort": 0, "toPort": 0,
                                          "cidrBlocks": ["10.20.0.0/16"]}])
    assert "1 egress rule" in assert_only("aws-vpc-default-security-group-closed", swapped(prod, group, egress),
                                          prod.context, egress)[0]
    assert "not managed" in assert_only("aws-vpc-default-security-group-closed", without(prod, group),
                                        prod.context)[0]


# ----- KMS -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key(prod: Example) -> Resource:
    return find(prod, aws.KMS_KEY, "ml-prod-kms-storage")


def test_key_rotation(prod: Example, key: Resource) -> None:
    assert violations("aws-kms-key-rotation", key, prod.context) == []
    assert_only("aws-kms-key-rotation", mutate(key, ("enableKeyRotation",), False), prod.context)
    assert "365" in assert_only("aws-kms-key-rotation", mutate(key, ("rotationPeriodInDays",), 365.0),
                                prod.context)[0]
    signing = mutate(mutate(key, ("enableKeyRotation",), False), ("keyUsage",), "SIGN_VERIFY")
    assert violations("aws-kms-key-rotation", signing, prod.context) == []


def test_key_policy_no_public_principal(prod: Example, key: Resource) -> None:
    assert violations("aws-kms-key-policy-no-public-principal", key, prod.context) == []
    opened = with_policy(key, "policy", public_allow)
    assert "Everyone" in assert_only("aws-kms-key-policy-no-public-principal", opened, prod.context)[0]

    def conditioned(document: dict[str, Any]) -> None:
        public_allow(document)
        document["Statement"][-1]["Condition"] = {"StringEquals": {"kms:CallerAccount": "444455556666"}}

    assert violations("aws-kms-key-policy-no-public-principal", with_policy(key, "policy", conditioned),
                      prod.context) == []


def test_data_key_in_plan(prod: Example) -> None:
    queue = find(prod, aws.QUEUE, "ml-prod-raw-events-raw-ingest-queue")
    assert violations("aws-kms-data-key-in-plan", prod.stack, prod.context) == []
    # without the dependency, the key ARN still matches a key an alias of this plan targets
    loose = detached(queue)
    assert violations("aws-kms-data-key-in-plan", swapped(prod, queue, loose), prod.context) == []
    foreign = mutate(loose, ("kmsMasterKeyId",), "arn:aws:kms:eu-west-1:999988887777:key/"
                                                 "11111111-2222-3333-4444-555555555555")
    [message] = assert_only("aws-kms-data-key-in-plan", swapped(prod, queue, foreign), prod.context, foreign)
    assert message.startswith("kmsMasterKeyId names 'arn:aws:kms:eu-west-1:999988887777")
    pending = mutate(loose, ("kmsMasterKeyId",), UNKNOWN_STRING_VALUE)
    [message] = violations("aws-kms-data-key-in-plan", swapped(prod, queue, pending), prod.context)
    assert UNKNOWN_NOTE in message
    by_alias = mutate(loose, ("kmsMasterKeyId",), "alias/ml-prod-events")
    assert violations("aws-kms-data-key-in-plan", swapped(prod, queue, by_alias), prod.context) == []


def test_data_key_in_plan_walks_lists(prod: Example, template: Resource) -> None:
    foreign = mutate(detached(template), ("blockDeviceMappings", 0, "ebs", "kmsKeyId"), "alias/shared-disks")
    [message] = assert_only("aws-kms-data-key-in-plan", swapped(prod, template, foreign), prod.context, foreign)
    assert message.startswith("blockDeviceMappings[0].ebs.kmsKeyId names 'alias/shared-disks'")


# ----- SQS, SNS, CloudWatch Logs, Athena, Glue --------------------------------------------------------------


@pytest.mark.parametrize(("rule_id", "type_", "name", "managed"), [
    ("aws-sqs-queue-cmk", aws.QUEUE, "ml-prod-raw-events-raw-ingest-queue", "alias/aws/sqs"),
    ("aws-sns-topic-cmk", aws.TOPIC, "ml-prod-raw-events-topic", "alias/aws/sns"),
])
def test_messaging_cmk(prod: Example, rule_id: str, type_: str, name: str, managed: str) -> None:
    res = find(prod, type_, name)
    assert violations(rule_id, res, prod.context) == []
    assert "not set" in assert_only(rule_id, mutate(res, ("kmsMasterKeyId",)), prod.context)[0]
    assert managed in assert_only(rule_id, mutate(res, ("kmsMasterKeyId",), managed), prod.context)[0]


@pytest.mark.parametrize(("rule_id", "type_", "name"), [
    ("aws-sqs-queue-policy-no-public-principal", aws.QUEUE_POLICY, "ml-prod-raw-events-raw-ingest-queue-policy"),
    ("aws-sns-topic-policy-no-public-principal", aws.TOPIC_POLICY, "ml-prod-raw-events-policy"),
])
def test_messaging_policy_no_public_principal(prod: Example, rule_id: str, type_: str, name: str) -> None:
    res = find(prod, type_, name)
    assert violations(rule_id, res, prod.context) == []  # their Deny statements name '*': only Allows count
    assert_only(rule_id, with_policy(res, "policy", public_allow), prod.context)


def test_log_group_cmk(prod: Example) -> None:
    group = find(prod, aws.LOG_GROUP, "ml-prod-train-logs")
    assert violations("aws-cloudwatch-log-group-cmk", group, prod.context) == []
    assert_only("aws-cloudwatch-log-group-cmk", mutate(group, ("kmsKeyId",)), prod.context)


def test_log_group_retention(prod: Example) -> None:
    group = find(prod, aws.LOG_GROUP, "ml-prod-train-logs")
    assert violations("aws-cloudwatch-log-group-retention", group, prod.context) == []
    assert "forever" in assert_only("aws-cloudwatch-log-group-retention", mutate(group, ("retentionInDays",)),
                                    prod.context)[0]


def test_athena_workgroup(prod: Example) -> None:
    workgroup = find(prod, aws.WORKGROUP, "ml-prod-warehouse-workgroup")
    encryption = ("configuration", "resultConfiguration", "encryptionConfiguration")
    assert violations("aws-athena-workgroup-enforced-encryption", workgroup, prod.context) == []
    sse_s3 = mutate(workgroup, (*encryption, "encryptionOption"), "SSE_S3")
    assert "SSE_S3" in assert_only("aws-athena-workgroup-enforced-encryption", sse_s3, prod.context)[0]
    loose = mutate(workgroup, ("configuration", "enforceWorkgroupConfiguration"), False)
    assert_only("aws-athena-workgroup-enforced-encryption", loose, prod.context)


def test_glue_catalog_encryption(prod: Example) -> None:
    settings = find(prod, aws.CATALOG_ENCRYPTION, "ml-prod-warehouse-catalog-encryption")
    path = ("dataCatalogEncryptionSettings",)
    assert violations("aws-glue-catalog-encryption", settings, prod.context) == []
    off = mutate(settings, (*path, "encryptionAtRest", "catalogEncryptionMode"), "DISABLED")
    assert "DISABLED" in assert_only("aws-glue-catalog-encryption", off, prod.context)[0]
    clear = mutate(settings, (*path, "connectionPasswordEncryption", "returnConnectionPasswordEncrypted"), False)
    assert_only("aws-glue-catalog-encryption", clear, prod.context)


# ----- IAM -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def team_policy(prod: Example) -> Resource:
    return find(prod, "aws:iam/rolePolicy:RolePolicy", "ml-prod-vision-policy")


def add_statement(statement: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda document: document["Statement"].append(statement)


def test_no_wildcard_actions(prod: Example, team_policy: Resource) -> None:
    assert violations("aws-iam-policy-no-wildcard-actions", team_policy, prod.context) == []
    everything = with_policy(team_policy, "policy", add_statement(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::ml-prod-raw-444455556666-eu-west-1"}))
    assert "s3:*" in assert_only("aws-iam-policy-no-wildcard-actions", everything, prod.context)[0]
    admin = with_policy(team_policy, "policy", add_statement(
        {"Effect": "Allow", "Action": ["*"], "Resource": "arn:aws:s3:::ml-prod-raw-444455556666-eu-west-1"}))
    assert "administrative" in assert_only("aws-iam-policy-no-wildcard-actions", admin, prod.context)[0]
    # a partial wildcard on a data service is a named subset, and a service-wide one on a non-data service is allowed
    fine = with_policy(team_policy, "policy", add_statement(
        {"Effect": "Allow", "Action": ["kms:GenerateDataKey*", "cloudwatch:*"], "Resource": "*"}))
    assert violations("aws-iam-policy-no-wildcard-actions", fine, prod.context) == []


def test_no_wildcard_actions_fails_closed_on_an_unknown_policy(prod: Example, team_policy: Resource) -> None:
    [message] = violations("aws-iam-policy-no-wildcard-actions", mutate(team_policy, ("policy",),
                                                                          UNKNOWN_STRING_VALUE), prod.context)
    assert UNKNOWN_NOTE in message


def test_no_data_wildcard_resource(prod: Example, team_policy: Resource) -> None:
    autoscaler = find(prod, "aws:iam/rolePolicy:RolePolicy", "ml-prod-train-autoscaler-identity-policy")
    for res in (team_policy, autoscaler):  # the autoscaler's Resource '*' is on EC2/Auto Scaling, not data
        assert violations("aws-iam-policy-no-data-wildcard-resource", res, prod.context) == []
    any_bucket = with_policy(team_policy, "policy", add_statement(
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}))
    assert "s3 on Resource '*'" in assert_only("aws-iam-policy-no-data-wildcard-resource", any_bucket,
                                               prod.context)[0]


def test_role_trust_no_public_principal(prod: Example) -> None:
    role = find(prod, aws.ROLE, "ml-prod-vision-role")
    assert violations("aws-iam-role-trust-no-public-principal", role, prod.context) == []
    anyone = with_policy(role, "assumeRolePolicy", add_statement(
        {"Effect": "Allow", "Principal": {"AWS": ["*"]}, "Action": "sts:AssumeRole"}))
    assert "Principal '*'" in assert_only("aws-iam-role-trust-no-public-principal", anyone, prod.context)[0]


def test_inline_role_policies_are_checked(prod: Example) -> None:
    role = find(prod, aws.ROLE, "ml-prod-vision-role")
    inline = mutate(role, ("inlinePolicies",), [{"name": "legacy", "policy": json.dumps({"Statement": [
        {"Effect": "Allow", "Action": "sqs:*", "Resource": "arn:aws:sqs:eu-west-1:444455556666:q"}]})}])
    assert assert_only("aws-iam-policy-no-wildcard-actions", inline, prod.context) == [
        "inlinePolicies[legacy]: statement 0 allows sqs:*: every action of a data service, policy and key "
        "changes included"]

