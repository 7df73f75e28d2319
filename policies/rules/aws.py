"""Security rules for AWS resources: S3, EKS, EC2 and VPC, KMS, IAM, SQS and SNS, CloudWatch Logs, Athena, Glue.

In pulumi-aws v7 a bucket's settings are separate resources (public access block, policy, encryption, versioning,
ownership controls), so the S3 rules are stack rules: each ``aws:s3/bucket:Bucket`` is matched with its
companions through ``dependencies`` first (the companion's ``bucket`` input is not known during a first preview),
then by the ``bucket`` input's value. The same goes for node groups and their launch templates, VPCs and their
flow logs and default security group, and data stores and the KMS keys they name.

Customer-managed keys are judged with :meth:`Resource.has` (a key ARN not known yet is still a key); settings
that are literal in any sane program (flags, algorithms, policy documents) are read with :meth:`Resource.get`,
so an unknown one fails closed.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from pulumi_policy.proxy import UnknownValueError

from mlinfra.policies.catalog import (
    CIS_AWS,
    CIS_EKS,
    Resource,
    Stack,
    cis,
    is_unknown,
    resource_rule,
    rules_in,
    stack_rule,
)
from mlinfra.policies.context import PolicyContext
from mlinfra.policies.engine import UNKNOWN_NOTE

Finding = tuple[str, str | None]

BUCKET: Final[str] = "aws:s3/bucket:Bucket"
BUCKETS: Final[tuple[str, ...]] = (BUCKET, "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK: Final[str] = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY: Final[str] = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_ENCRYPTION: Final[str] = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
BUCKET_ENCRYPTIONS: Final[tuple[str, ...]] = (
    BUCKET_ENCRYPTION,
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
BUCKET_VERSIONING: Final[str] = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_VERSIONINGS: Final[tuple[str, ...]] = (BUCKET_VERSIONING, "aws:s3/bucketVersioningV2:BucketVersioningV2")
BUCKET_OWNERSHIP: Final[str] = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
BUCKET_ACLS: Final[tuple[str, ...]] = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")
EKS_CLUSTER: Final[str] = "aws:eks/cluster:Cluster"
NODE_GROUP: Final[str] = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE: Final[str] = "aws:ec2/launchTemplate:LaunchTemplate"
INSTANCE: Final[str] = "aws:ec2/instance:Instance"
VOLUME: Final[str] = "aws:ebs/volume:Volume"
VPC: Final[str] = "aws:ec2/vpc:Vpc"
FLOW_LOG: Final[str] = "aws:ec2/flowLog:FlowLog"
DEFAULT_SECURITY_GROUP: Final[str] = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP: Final[str] = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE: Final[str] = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE: Final[str] = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
KMS_KEY: Final[str] = "aws:kms/key:Key"
KMS_ALIAS: Final[str] = "aws:kms/alias:Alias"
QUEUE: Final[str] = "aws:sqs/queue:Queue"
QUEUE_POLICY: Final[str] = "aws:sqs/queuePolicy:QueuePolicy"
TOPIC: Final[str] = "aws:sns/topic:Topic"
TOPIC_POLICY: Final[str] = "aws:sns/topicPolicy:TopicPolicy"
LOG_GROUP: Final[str] = "aws:cloudwatch/logGroup:LogGroup"
WORKGROUP: Final[str] = "aws:athena/workgroup:Workgroup"
CATALOG_ENCRYPTION: Final[str] = "aws:glue/dataCatalogEncryptionSettings:DataCatalogEncryptionSettings"
PROMETHEUS: Final[str] = "aws:amp/workspace:Workspace"
ROLE: Final[str] = "aws:iam/role:Role"
IAM_POLICIES: Final[tuple[str, ...]] = (
    "aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy", "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy", ROLE,
)

# Services holding data (mirrors components.aws.iam.DATA_SERVICES, which grant helpers are checked against).
DATA_SERVICES: Final[frozenset[str]] = frozenset({
    "s3", "s3-object-lambda", "sqs", "sns", "kms", "athena", "glue", "dynamodb", "redshift", "redshift-data",
    "redshift-serverless", "events", "lakeformation", "secretsmanager", "ssm", "kinesis", "firehose", "aps",
})
VERSIONED_PURPOSES: Final[frozenset[str]] = frozenset({"data", "models"})
PURPOSE_TAG: Final[str] = "mlinfra-purpose"
REQUIRED_LOG_TYPES: Final[tuple[str, ...]] = ("api", "audit", "authenticator")
ALL_LOG_TYPES: Final[tuple[str, ...]] = ("api", "audit", "authenticator", "controllerManager", "scheduler")
ACCELERATOR_TAINTS: Final[dict[str, tuple[str, ...]]] = {
    "NVIDIA": ("nvidia.com/gpu",),
    "Neuron": ("aws.amazon.com/neuron", "aws.amazon.com/neuroncore", "aws.amazon.com/neurondevice"),
}
_NVIDIA_FAMILY = re.compile(r"^(p\d|g\d|gr\d)")
_NEURON_FAMILY = re.compile(r"^(trn\d|inf\d)")
_KEY_ID = re.compile(r"(?:^|:key/)([0-9a-fA-F-]{36}|mrk-[0-9a-f]{32})$")
MLINFRA_SETS = "mlinfra sets this; custom components must "


# ----- helpers ---------------------------------------------------------------------------------------------


def _per_resource(res: Resource, check: Callable[[], Iterable[str]]) -> Iterator[Finding]:
    """Run one resource's part of a stack rule; a value not known yet fails that resource closed, not the rule."""
    try:
        messages = list(check())
    except UnknownValueError as exc:
        messages = [f"{exc.message}: {UNKNOWN_NOTE}"]
    for message in messages:
        yield message, res.urn


def _companions(stack: Stack, owners: list[Resource], types: tuple[str, ...], key: str) -> dict[str, list[Resource]]:
    """Resources of ``types`` by the URN of the owner they belong to: via dependencies, else ``key``'s value.

    An owner is identified by its own ``key`` input (a bucket's ``bucket`` name); values not known yet never match.
    """
    by_urn = {o.urn: o for o in owners}
    by_value: dict[str, str] = {}
    for owner in owners:
        value = owner.known(key)
        if isinstance(value, str) and value:
            by_value[value] = owner.urn
    found: dict[str, list[Resource]] = {o.urn: [] for o in owners}
    for companion in stack.of_type(*types):
        owner_urns = [d for d in companion.dependencies if d in by_urn]
        value = companion.known(key)
        named = by_value.get(value) if isinstance(value, str) else None
        if len(owner_urns) != 1 and named is not None:  # none, or several (a policy naming another bucket too)
            owner_urns = [named]
        for urn in owner_urns[:1]:
            found[urn].append(companion)
    return found


def _document(res: Resource, *path: str | int) -> Mapping[str, Any] | None:
    """A policy document input (JSON string or object) at ``path``; None when absent. Raises when not known yet."""
    raw = res.get(*path)
    if raw in (None, ""):
        return None
    if isinstance(raw, Mapping):
        return raw
    try:
        parsed = json.loads(str(raw))
    except ValueError:
        return {"Statement": [], "_invalid": True}
    return parsed if isinstance(parsed, Mapping) else {"Statement": [], "_invalid": True}


def _statements(document: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not document:
        return []
    raw = document.get("Statement", [])
    items = raw if isinstance(raw, list) else [raw]
    return [s for s in items if isinstance(s, Mapping)]


def _strings(value: Any) -> list[str]:
    """Plain strings of a policy field (a string or a list); values not known yet are never wildcards."""
    items = value if isinstance(value, list | tuple) else [value]
    return [v for v in items if isinstance(v, str) and not is_unknown(v)]


def _allows(statement: Mapping[str, Any]) -> bool:
    return statement.get("Effect", "Allow") == "Allow"


def _is_public(principal: Any) -> bool:
    """``"*"`` or ``{"AWS": "*"}`` (alone or in a list): anyone, in any account, or anonymous."""
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return "*" in _strings(principal.get("AWS"))
    return False


def _public_statements(document: Mapping[str, Any] | None) -> Iterator[str]:
    """Messages for Allow statements open to any principal without a condition narrowing them."""
    for index, st in enumerate(_statements(document)):
        if not _allows(st):
            continue
        label = f"statement {st.get('Sid') or index}"
        if "NotPrincipal" in st:
            yield f"{label} allows NotPrincipal: everyone except the listed principals"
        elif _is_public(st.get("Principal")) and not st.get("Condition"):
            yield f"{label} allows Principal '*' without a Condition: any AWS account or anonymous caller"


def _aws_managed_key(value: Any) -> bool:
    """True for AWS managed key aliases (``alias/aws/s3``, ``arn:...:alias/aws/sqs``)."""
    return isinstance(value, str) and (value.startswith("alias/aws/") or ":alias/aws/" in value)


def _cidr_is_open(cidr: Any) -> bool:
    try:
        return isinstance(cidr, str) and ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def _enabled(value: Any) -> bool:
    """Booleans the provider takes as strings too (launch template ``encrypted: "true"``)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _purpose(bucket: Resource) -> str | None:
    tags = bucket.get("tags", default={})
    purpose = tags.get(PURPOSE_TAG) if isinstance(tags, Mapping) else None
    return purpose if isinstance(purpose, str) else None


# ----- S3 --------------------------------------------------------------------------------------------------


@stack_rule(
    id="aws-s3-bucket-public-access-block", title="S3 buckets block all public access", severity="critical",
    targets=("aws",), controls=cis(CIS_AWS, "2.1.4"),
    rationale="The four public access block settings stop ACLs and bucket policies from ever making objects "
    "public, whatever is granted later; without them one policy or ACL change exposes the data.",
    fix=MLINFRA_SETS + "create an aws.s3.BucketPublicAccessBlock with all four settings on for every bucket",
)
def s3_public_access_block(stack: Stack, context: PolicyContext) -> Iterator[Finding]:
    """Each bucket has a ``BucketPublicAccessBlock`` with blockPublicAcls, blockPublicPolicy, ignorePublicAcls and
    restrictPublicBuckets all true."""
    buckets = list(stack.of_type(*BUCKETS))
    blocks = _companions(stack, buckets, (PUBLIC_ACCESS_BLOCK,), "bucket")
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")

    def check(bucket: Resource) -> Iterator[str]:
        if not blocks[bucket.urn]:
            yield "no public access block: a bucket policy or ACL can make objects public"
        for block in blocks[bucket.urn]:
            off = [f for f in flags if block.get(f) is not True]
            if off:
                yield f"public access block {block.name} leaves {', '.join(off)} off"

    for bucket in buckets:
        yield from _per_resource(bucket, lambda b=bucket: check(b))


def _denies_plain_http(statement: Mapping[str, Any], bucket_name: str | None) -> bool:
    """A Deny of every S3 action on the bucket's objects to everyone when ``aws:SecureTransport`` is false."""
    if statement.get("Effect") != "Deny" or not _is_public(statement.get("Principal")):
        return False
    if not {"*", "s3:*"} & set(_strings(statement.get("Action"))):
        return False
    condition = statement.get("Condition")
    if not isinstance(condition, Mapping):
        return False
    secure = [v for op in ("Bool", "BoolIfExists") if isinstance(condition.get(op), Mapping)
              for k, v in condition[op].items() if k.lower() == "aws:securetransport"]
    if not any(str(v).lower() == "false" or v == ["false"] or v is False for v in secure):
        return False
    resources = _strings(statement.get("Resource"))
    sample = f"arn:aws:s3:::{bucket_name}/object" if bucket_name else None
    return any(fnmatch.fnmatchcase(sample, r) if sample else r.endswith("*") for r in resources)


@stack_rule(
    id="aws-s3-bucket-tls-only", title="S3 bucket policies deny requests without TLS", severity="high",
    targets=("aws",), controls=cis(CIS_AWS, "2.1.1"),
    rationale="S3 accepts plain HTTP unless the bucket policy denies it; objects and credentials-signed requests "
    "would then cross the network unencrypted.",
    fix=MLINFRA_SETS + "add a Deny of s3:* for Principal '*' when aws:SecureTransport is false to the bucket policy",
)
def s3_tls_only(stack: Stack, context: PolicyContext) -> Iterator[Finding]:
    """Each bucket's policy (its ``BucketPolicy`` or inline ``policy``) has a Deny of ``s3:*`` for everyone on its
    objects with ``Bool aws:SecureTransport = false``."""
    buckets = list(stack.of_type(*BUCKETS))
    policies = _companions(stack, buckets, (BUCKET_POLICY,), "bucket")

    def check(bucket: Resource) -> Iterator[str]:
        documents = [_document(p, "policy") for p in policies[bucket.urn]]
        if bucket.has("policy"):
            documents.append(_document(bucket, "policy"))
        name = bucket.get("bucket")
        statements = [s for d in documents for s in _statements(d)]
        if not any(_denies_plain_http(s, name if isinstance(name, str) else None) for s in statements):
            yield ("no bucket policy statement denies requests with aws:SecureTransport false: objects can be read "
                   "and written over plain HTTP")

    for bucket in buckets:
        yield from _per_resource(bucket, lambda b=bucket: check(b))


def _sse_problems(rule: Mapping[str, Any]) -> list[str]:
    """What keeps one server-side encryption rule from being SSE-KMS with a customer key and a bucket key."""
    default = rule.get("applyServerSideEncryptionByDefault")
    default = default if isinstance(default, Mapping) else {}
    algorithm = default.get("sseAlgorithm")
    if is_unknown(algorithm):
        raise UnknownValueError(algorithm, ["applyServerSideEncryptionByDefault", "sseAlgorithm"])
    if algorithm not in ("aws:kms", "aws:kms:dsse"):
        return [f"default encryption is {algorithm or 'not set'} (SSE-S3, AWS-owned keys), not SSE-KMS with a "
                "customer-managed key"]
    key = default.get("kmsMasterKeyId")
    problems = []
    if key in (None, ""):
        problems.append(f"{algorithm} without kmsMasterKeyId uses the AWS managed key aws/s3, not a customer key")
    elif _aws_managed_key(key):
        problems.append(f"kmsMasterKeyId {key!r} is an AWS managed key, not a customer-managed key")
    bucket_key = rule.get("bucketKeyEnabled")
    if is_unknown(bucket_key):
        raise UnknownValueError(bucket_key, ["bucketKeyEnabled"])
    if algorithm == "aws:kms" and bucket_key is not True:
        problems.append("bucketKeyEnabled is off: every object request calls KMS (cost, throttling)")
    return problems


@stack_rule(
    id="aws-s3-bucket-cmk", title="S3 buckets encrypt with a customer-managed KMS key and a bucket key",
    severity="high", targets=("aws",),
    rationale="SSE-S3 and the AWS managed aws/s3 key cannot be restricted, disabled or audited per environment; "
    "a customer key makes reading the data depend on a key policy the environment controls.",
    fix=MLINFRA_SETS + "configure aws.s3.BucketServerSideEncryptionConfiguration with aws:kms, the environment's "
    "storage key and bucket_key_enabled",
)
def s3_cmk(stack: Stack, context: PolicyContext) -> Iterator[Finding]:
    """Each bucket's default encryption (``BucketServerSideEncryptionConfiguration`` or inline) is ``aws:kms`` (or
    DSSE) with a ``kmsMasterKeyId`` that is not an ``alias/aws/*`` key, and ``bucketKeyEnabled`` for SSE-KMS."""
    buckets = list(stack.of_type(*BUCKETS))
    configs = _companions(stack, buckets, BUCKET_ENCRYPTIONS, "bucket")

    def check(bucket: Resource) -> Iterator[str]:
        rules = [r for c in configs[bucket.urn] for r in c.get("rules", default=[]) if isinstance(r, Mapping)]
        inline = bucket.get("serverSideEncryptionConfiguration", "rule")
        if isinstance(inline, Mapping):
            rules.append(inline)
        if not rules:
            yield "no default encryption configuration: objects get SSE-S3 with AWS-owned keys"
            return
        judged = [_sse_problems(r) for r in rules]
        if not any(not p for p in judged):
            yield from dict.fromkeys(p for problems in judged for p in problems)

    for bucket in buckets:
        yield from _per_resource(bucket, lambda b=bucket: check(b))


@stack_rule(
    id="aws-s3-bucket-versioning", title="Data and model buckets are versioned", severity="high", targets=("aws",),
    rationale="Without versioning an overwrite or delete (a bug, a compromised workload, ransomware) destroys "
    "training data and model artifacts for good; buckets without a declared purpose count as data.",
    fix="storage.buckets[].versioning (data and models buckets must keep it on)",
)
def s3_versioning(stack: Stack, context: PolicyContext) -> Iterator[Finding]:
    """Buckets whose ``mlinfra-purpose`` tag is data or models (or absent) have a ``BucketVersioning`` with status
    Enabled (or inline ``versioning.enabled``); artifacts, logs and scratch buckets may go unversioned."""
    buckets = list(stack.of_type(*BUCKETS))
    versionings = _companions(stack, buckets, BUCKET_VERSIONINGS, "bucket")

    def check(bucket: Resource) -> Iterator[str]:
        purpose = _purpose(bucket)
        if purpose is not None and purpose not in VERSIONED_PURPOSES:
            return
        enabled = bucket.get("versioning", "enabled") is True or any(
            v.get("versioningConfiguration", "status") == "Enabled" for v in versionings[bucket.urn])
        if not enabled:
            yield (f"versioning is not enabled on a {purpose or 'data'} bucket: overwritten and deleted objects "
                   "cannot be recovered")

    for bucket in buckets:
        yield from _per_resource(bucket, lambda b=bucket: check(b))


@stack_rule(
    id="aws-s3-bucket-ownership-enforced", title="S3 buckets disable ACLs (BucketOwnerEnforced)", severity="medium",
    enforcement="advisory", targets=("aws",),
    rationale="With ACLs disabled only IAM and the bucket policy grant access and the account owns every object; "
    "ACLs are a second, easily overlooked way to share objects.",
    fix=MLINFRA_SETS + "create aws.s3.BucketOwnershipControls with object_ownership BucketOwnerEnforced and no ACLs",
)
def s3_ownership(stack: Stack, context: PolicyContext) -> Iterator[Finding]:
    """Each bucket has ``BucketOwnershipControls`` with ``rule.objectOwnership`` BucketOwnerEnforced, no inline
    ``acl``/``grants`` and no ``BucketAcl``."""
    buckets = list(stack.of_type(*BUCKETS))
    controls = _companions(stack, buckets, (BUCKET_OWNERSHIP,), "bucket")
    acls = _companions(stack, buckets, BUCKET_ACLS, "bucket")

    def check(bucket: Resource) -> Iterator[str]:
        owned = [c.get("rule", "objectOwnership") for c in controls[bucket.urn]]
        if not owned:
            yield "no ownership controls: object ownership (and whether ACLs apply) is left to the bucket's history"
        for value in owned:
            if value != "BucketOwnerEnforced":
                yield f"objectOwnership is {value!r}: ACLs stay enabled"
        if bucket.has("acl") or bucket.has("grants") or acls[bucket.urn]:
            yield "the bucket sets ACLs: grant access with IAM and the bucket policy only"

    for bucket in buckets:
        yield from _per_resource(bucket, lambda b=bucket: check(b))


# ----- EKS -------------------------------------------------------------------------------------------------


@resource_rule(
    id="aws-eks-cluster-private-endpoint", title="EKS API endpoints are private", severity="high",
    types=(EKS_CLUSTER,), controls=cis(CIS_EKS, "5.4.2"),
    rationale="A private endpoint keeps the Kubernetes API off the internet. Outside prod a public endpoint is "
    "accepted when limited to authorized networks (aws-eks-cluster-public-access-cidrs checks that); prod control "
    "planes stay private.",
    fix="clusters[].private_endpoint (reach private endpoints through network.authorized_networks, e.g. a VPN)",
)
def eks_private_endpoint(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``vpcConfig.endpointPrivateAccess`` on; ``endpointPublicAccess`` off in prod (EKS defaults: private off,
    public on)."""
    if res.get("vpcConfig", "endpointPrivateAccess") is not True:
        yield "vpcConfig.endpointPrivateAccess is off: nodes and VPN users reach the API server over the internet"
    if context.environment == "prod" and res.get("vpcConfig", "endpointPublicAccess", default=True) is not False:
        yield "vpcConfig.endpointPublicAccess is on in prod: the API server is reachable from the internet"


@resource_rule(
    id="aws-eks-cluster-public-access-cidrs", title="Public EKS endpoints admit only authorized networks",
    severity="critical", types=(EKS_CLUSTER,), controls=cis(CIS_EKS, "5.4.1"),
    rationale="A public endpoint without publicAccessCidrs (EKS defaults to 0.0.0.0/0) exposes the API server, and "
    "any credential or authentication bug in it, to the whole internet.",
    fix="network.authorized_networks (never 0.0.0.0/0), or clusters[].private_endpoint",
)
def eks_public_access_cidrs(res: Resource, context: PolicyContext) -> Iterator[str]:
    """When ``vpcConfig.endpointPublicAccess`` is on (or unset), ``publicAccessCidrs`` is set and has no /0."""
    if res.get("vpcConfig", "endpointPublicAccess", default=True) is False:
        return
    cidrs = res.get("vpcConfig", "publicAccessCidrs", default=[])
    if not cidrs:
        yield "the public endpoint has no publicAccessCidrs: EKS admits 0.0.0.0/0"
    for cidr in cidrs:
        if _cidr_is_open(cidr):
            yield f"publicAccessCidrs includes {cidr}: the API server is open to the internet"


@resource_rule(
    id="aws-eks-cluster-secrets-encryption", title="EKS envelope-encrypts Secrets with a KMS key", severity="high",
    types=(EKS_CLUSTER,), controls=cis(CIS_EKS, "5.3.1"),
    rationale="Without envelope encryption Kubernetes Secrets sit in etcd protected only by the service's own "
    "storage encryption; a customer key puts reading them behind a key policy and CloudTrail.",
    fix=MLINFRA_SETS + "set encryption_config {resources: [secrets], provider.key_arn: the eks-secrets key}",
)
def eks_secrets_encryption(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``encryptionConfig.resources`` includes ``secrets`` and ``encryptionConfig.provider.keyArn`` is set."""
    if "secrets" not in res.get("encryptionConfig", "resources", default=[]):
        yield "encryptionConfig.resources does not include secrets: Secrets are not envelope-encrypted"
    if not res.has("encryptionConfig", "provider", "keyArn"):
        yield "encryptionConfig.provider.keyArn is not set: no KMS key encrypts Secrets"


@resource_rule(
    id="aws-eks-cluster-audit-logs", title="EKS sends audit, authenticator and API logs to CloudWatch",
    severity="high", types=(EKS_CLUSTER,), controls=cis(CIS_EKS, "2.1.1"),
    rationale="Audit and authenticator logs are the only record of who did what through the Kubernetes API; EKS "
    "enables no control plane log type by default.",
    fix=MLINFRA_SETS + "set enabled_cluster_log_types to all five types",
)
def eks_audit_logs(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``enabledClusterLogTypes`` includes api, audit and authenticator."""
    enabled = res.get("enabledClusterLogTypes", default=[])
    missing = [t for t in REQUIRED_LOG_TYPES if t not in enabled]
    if missing:
        yield f"enabledClusterLogTypes lacks {', '.join(missing)}: API activity is not recorded"


@resource_rule(
    id="aws-eks-cluster-all-log-types", title="EKS sends all five control plane log types", severity="low",
    enforcement="advisory", types=(EKS_CLUSTER,), controls=cis(CIS_EKS, "2.1.1"),
    rationale="Controller manager and scheduler logs complete the picture when investigating an incident or a "
    "misbehaving cluster; the benchmark recommends all five types.",
    fix=MLINFRA_SETS + "set enabled_cluster_log_types to all five types",
)
def eks_all_log_types(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``enabledClusterLogTypes`` includes controllerManager and scheduler (api/audit/authenticator: see
    aws-eks-cluster-audit-logs)."""
    enabled = res.get("enabledClusterLogTypes", default=[])
    missing = [t for t in ALL_LOG_TYPES if t not in enabled and t not in REQUIRED_LOG_TYPES]
    if missing:
        yield f"enabledClusterLogTypes lacks {', '.join(missing)}"


@resource_rule(
    id="aws-eks-cluster-access-entries-only", title="EKS authenticates through access entries only (mode API)",
    severity="high", types=(EKS_CLUSTER,), controls=cis(CIS_EKS, "4.1.7"),
    rationale="With the aws-auth ConfigMap anyone who can edit one ConfigMap can grant cluster-admin, invisibly to "
    "IAM; access entries are managed and audited through the EKS API.",
    fix=MLINFRA_SETS + "set access_config.authentication_mode to API",
)
def eks_access_entries_only(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``accessConfig.authenticationMode`` is API (not CONFIG_MAP or API_AND_CONFIG_MAP; unset means CONFIG_MAP)."""
    mode = res.get("accessConfig", "authenticationMode", default="CONFIG_MAP")
    if mode != "API":
        yield f"accessConfig.authenticationMode is {mode}: the aws-auth ConfigMap can grant cluster access"


@resource_rule(
    id="aws-eks-cluster-no-creator-admin", title="The EKS cluster creator gets no implicit cluster-admin",
    severity="high", types=(EKS_CLUSTER,),
    rationale="bootstrapClusterCreatorAdminPermissions (on by default) gives whichever identity ran the deployment "
    "permanent cluster-admin that no access entry in code shows.",
    fix=MLINFRA_SETS + "set access_config.bootstrap_cluster_creator_admin_permissions to false and list admins "
    "as access entries (iam.admins)",
)
def eks_no_creator_admin(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``accessConfig.bootstrapClusterCreatorAdminPermissions`` is false (unset means true)."""
    if res.get("accessConfig", "bootstrapClusterCreatorAdminPermissions", default=True) is not False:
        yield ("accessConfig.bootstrapClusterCreatorAdminPermissions is on: the deploying identity is a hidden "
               "cluster-admin")


@resource_rule(
    id="aws-eks-node-group-no-remote-access", title="EKS node groups allow no SSH access", severity="high",
    types=(NODE_GROUP,),
    rationale="remoteAccess installs an SSH key on every node and, without source security groups, opens port 22 "
    "to the internet; nodes are replaced, not logged into.",
    fix=MLINFRA_SETS + "leave remote_access unset (debug nodes with kubectl debug node/...)",
)
def eks_node_group_no_remote_access(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``remoteAccess`` is not set."""
    if res.has("remoteAccess"):
        sources = res.get("remoteAccess", "sourceSecurityGroupIds", default=[])
        where = "from the listed security groups" if sources else "from anywhere (0.0.0.0/0)"
        yield f"remoteAccess is set: nodes accept SSH {where}"


@stack_rule(
    id="aws-eks-node-group-launch-template", title="EKS node groups use a launch template from this plan",
    severity="high", targets=("aws",),
    rationale="Without its own launch template a node group runs on one EKS generates, whose metadata options "
    "and root volume encryption this plan neither sets nor lets the launch template rules check.",
    fix=MLINFRA_SETS + "create an aws.ec2.LaunchTemplate per node group and pass it as launch_template",
)
def eks_node_group_launch_template(stack: Stack, context: PolicyContext) -> Iterator[Finding]:
    """Each node group's ``launchTemplate`` names a launch template created in this plan (matched by dependency,
    then by ``name``)."""
    templates = {t.urn: t for t in stack.of_type(LAUNCH_TEMPLATE)}
    names = {n for t in templates.values() if isinstance(n := t.known("name"), str)}

    def check(group: Resource) -> Iterator[str]:
        if not group.has("launchTemplate"):
            yield "no launchTemplate: EKS generates one whose metadata and disk settings this plan does not control"
        elif (not any(d in templates for d in group.dependencies)
              and group.known("launchTemplate", "name") not in names):
            yield "the launch template is not created in this plan, so its metadata and disk settings are unchecked"

    for group in stack.of_type(NODE_GROUP):
        yield from _per_resource(group, lambda g=group: check(g))


def _accelerator(res: Resource) -> str | None:
    """'Neuron' or 'NVIDIA' when the node group's AMI type or instance types carry accelerators."""
    ami = str(res.get("amiType", default="")).upper()
    types = [str(t) for t in res.get("instanceTypes", default=[])]
    if "NEURON" in ami or any(_NEURON_FAMILY.match(t) for t in types):
        return "Neuron"
    if "NVIDIA" in ami or "GPU" in ami or any(_NVIDIA_FAMILY.match(t) for t in types):
        return "NVIDIA"
    return None


@resource_rule(
    id="aws-eks-node-group-accelerator-taint", title="GPU and Neuron node groups are tainted", severity="medium",
    enforcement="advisory", types=(NODE_GROUP,),
    rationale="An untainted accelerator node accepts any pod: workloads that did not ask for a device land next to "
    "ones that did, on the most expensive capacity, and can see its devices.",
    fix=MLINFRA_SETS + "taint accelerator node groups nvidia.com/gpu or aws.amazon.com/neuron (NO_SCHEDULE)",
)
def eks_accelerator_taint(res: Resource, context: PolicyContext) -> Iterator[str]:
    """NVIDIA node groups (AMI type or p/g instance families) carry a NO_SCHEDULE/NO_EXECUTE ``nvidia.com/gpu``
    taint, Neuron ones (trn/inf) an ``aws.amazon.com/neuron*`` taint."""
    kind = _accelerator(res)
    if kind is None:
        return
    keys = ACCELERATOR_TAINTS[kind]
    taints = [t for t in res.get("taints", default=[]) if isinstance(t, Mapping)]
    if not any(t.get("key") in keys and t.get("effect") in ("NO_SCHEDULE", "NO_EXECUTE") for t in taints):
        yield f"{kind} node group without a NO_SCHEDULE {keys[0]} taint: any pod can be scheduled on it"


# ----- EC2 and VPC -----------------------------------------------------------------------------------------


@resource_rule(
    id="aws-ec2-instance-imdsv2", title="Instances and launch templates require IMDSv2", severity="high",
    types=(LAUNCH_TEMPLATE, INSTANCE), controls=cis(CIS_AWS, "5.6"),
    rationale="IMDSv1 answers plain GET requests, so a server-side request forgery in any workload can read the "
    "instance role's credentials; IMDSv2 needs a session token obtained with a PUT.",
    fix=MLINFRA_SETS + "set metadata_options.http_tokens to required",
)
def ec2_imdsv2(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``metadataOptions.httpTokens`` is required (or ``httpEndpoint`` disabled)."""
    if res.get("metadataOptions", "httpEndpoint") == "disabled":
        return
    tokens = res.get("metadataOptions", "httpTokens")
    if tokens != "required":
        yield f"metadataOptions.httpTokens is {tokens or 'not set'}: IMDSv1 serves credentials without a token"


@resource_rule(
    id="aws-ec2-launch-template-imds-hop-limit", title="Launch templates keep IMDS one hop away", severity="high",
    types=(LAUNCH_TEMPLATE,),
    rationale="With a hop limit above 1, containers (one network hop from the host) reach the node's metadata "
    "service and its role's credentials; pods get their own credentials through Pod Identity instead.",
    fix=MLINFRA_SETS + "set metadata_options.http_put_response_hop_limit to 1",
)
def ec2_imds_hop_limit(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``metadataOptions.httpPutResponseHopLimit`` is 1 (or ``httpEndpoint`` disabled)."""
    if res.get("metadataOptions", "httpEndpoint") == "disabled":
        return
    hops = res.get("metadataOptions", "httpPutResponseHopLimit")
    if hops != 1:
        yield (f"metadataOptions.httpPutResponseHopLimit is {hops if hops is not None else 'not set'}, not 1: pods "
               "can reach the node's instance metadata and credentials")


@resource_rule(
    id="aws-ec2-volume-encrypted", title="EBS volumes are encrypted with a customer-managed key", severity="high",
    types=(LAUNCH_TEMPLATE, VOLUME), controls=cis(CIS_AWS, "2.2.1"),
    rationale="Node disks hold container images, checkpoints and scratch copies of training data; unencrypted or "
    "AWS-managed-key volumes and their snapshots are readable by anyone who can copy them.",
    fix=MLINFRA_SETS + "set block_device_mappings[].ebs.encrypted and kms_key_id (the disks key)",
)
def ec2_volume_encrypted(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Launch templates: ``blockDeviceMappings`` set and each EBS mapping ``encrypted`` with a ``kmsKeyId``;
    volumes: ``encrypted`` with a ``kmsKeyId``."""
    if res.type == VOLUME:
        if not _enabled(res.get("encrypted")):
            yield "encrypted is off"
        elif not res.has("kmsKeyId"):
            yield "kmsKeyId is not set: the volume uses the AWS managed key aws/ebs"
        return
    mappings = [m for m in res.get("blockDeviceMappings", default=[]) if isinstance(m, Mapping)]
    if not mappings:
        yield ("no blockDeviceMappings: the root volume takes the AMI's settings (unencrypted unless the account "
               "encrypts by default)")
    for index, mapping in enumerate(mappings):
        if not mapping.get("ebs"):
            continue
        device = mapping.get("deviceName") or index
        if not _enabled(res.get("blockDeviceMappings", index, "ebs", "encrypted")):
            yield f"blockDeviceMappings[{device}].ebs.encrypted is off"
        elif not res.has("blockDeviceMappings", index, "ebs", "kmsKeyId"):
            yield f"blockDeviceMappings[{device}].ebs.kmsKeyId is not set: the AWS managed key aws/ebs is used"


def _port(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "?"


def _open_cidrs(entry: Mapping[str, Any], *keys: str) -> list[str]:
    return [c for k in keys for c in _strings(entry.get(k)) if _cidr_is_open(c)]


@resource_rule(
    id="aws-ec2-security-group-no-public-ingress", title="Security groups admit no traffic from the whole internet",
    severity="high", types=(INGRESS_RULE, SECURITY_GROUP, SECURITY_GROUP_RULE), controls=cis(CIS_AWS, "5.2", "5.3"),
    rationale="Nodes, endpoints and control planes sit in private subnets; an ingress rule from 0.0.0.0/0 or ::/0 "
    "(remote administration ports included) is one routing change away from exposing them.",
    fix=MLINFRA_SETS + "admit only VPC or network.authorized_networks ranges",
)
def ec2_no_public_ingress(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``cidrIpv4``/``cidrIpv6`` of ingress rules, ``type: ingress`` security group rules and inline ``ingress``
    ``cidrBlocks``/``ipv6CidrBlocks`` are never a /0."""
    if res.type == INGRESS_RULE:
        entries: list[Mapping[str, Any]] = [res.props]
    elif res.type == SECURITY_GROUP_RULE:
        entries = [res.props] if res.get("type") == "ingress" else []
    else:
        entries = [e for e in res.get("ingress", default=[]) if isinstance(e, Mapping)]
    for entry in entries:
        for cidr in _open_cidrs(entry, "cidrIpv4", "cidrIpv6", "cidrBlocks", "ipv6CidrBlocks"):
            ports = f"{_port(entry.get('fromPort'))}-{_port(entry.get('toPort'))}"
            yield f"ingress from {cidr} (ports {ports}): open to the internet"


@stack_rule(
    id="aws-vpc-flow-logs", title="Every VPC has flow logs", severity="medium", enforcement="advisory",
    targets=("aws",), controls=cis(CIS_AWS, "3.7"),
    rationale="Flow logs are the record of which addresses talked to the nodes, endpoints and NAT gateways; "
    "without them exfiltration and scanning leave no trace. The config may turn them off (cost), hence advisory.",
    fix="network.flow_logs",
)
def vpc_flow_logs(stack: Stack, context: PolicyContext) -> Iterator[Finding]:
    """Each VPC has a ``FlowLog`` depending on it with ``trafficType`` ALL or REJECT."""
    flows = list(stack.of_type(FLOW_LOG))

    def check(vpc: Resource) -> Iterator[str]:
        own = [f for f in flows if vpc.urn in f.dependencies]
        if not own:
            yield "no flow log records this VPC's traffic"
        elif not any(f.get("trafficType") in ("ALL", "REJECT") for f in own):
            yield "the VPC's flow logs record only accepted traffic: rejected probes leave no trace"

    for vpc in stack.of_type(VPC):
        yield from _per_resource(vpc, lambda v=vpc: check(v))


@stack_rule(
    id="aws-vpc-default-security-group-closed", title="Default security groups have no rules", severity="high",
    targets=("aws",), controls=cis(CIS_AWS, "5.4"),
    rationale="Anything launched without a security group lands in the VPC's default one, which AWS creates "
    "allowing all traffic between its members and all egress; taken over with no rules it isolates such mistakes.",
    fix=MLINFRA_SETS + "adopt each VPC's default security group (aws.ec2.DefaultSecurityGroup) with no ingress "
    "and no egress",
)
def vpc_default_security_group(stack: Stack, context: PolicyContext) -> Iterator[Finding]:
    """Each VPC has a ``DefaultSecurityGroup`` depending on it; every default security group has empty ``ingress``
    and ``egress``."""
    groups = list(stack.of_type(DEFAULT_SECURITY_GROUP))
    for vpc in stack.of_type(VPC):
        if not any(vpc.urn in g.dependencies for g in groups):
            yield ("the VPC's default security group is not managed: it keeps AWS's allow-all member and egress "
                   "rules", vpc.urn)

    def check(group: Resource) -> Iterator[str]:
        for direction in ("ingress", "egress"):
            rules = group.get(direction, default=[])
            if rules:
                yield f"the default security group has {len(rules)} {direction} rule(s): it must allow nothing"

    for group in groups:
        yield from _per_resource(group, lambda g=group: check(g))


# ----- KMS -------------------------------------------------------------------------------------------------


@resource_rule(
    id="aws-kms-key-rotation", title="KMS keys rotate at least every 90 days", severity="high", types=(KMS_KEY,),
    controls=cis(CIS_AWS, "3.6"),
    rationale="Rotation bounds how much data one key version protects and how long a leaked version stays useful; "
    "AWS rotates no customer key unless asked, and yearly by default.",
    fix="kms.rotation_days (90 on AWS)",
)
def kms_rotation(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Symmetric encryption keys have ``enableKeyRotation`` on and ``rotationPeriodInDays`` ≤ 90 where set
    (asymmetric and HMAC keys cannot rotate)."""
    if (res.get("customerMasterKeySpec", default="SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT"
            or res.get("keyUsage", default="ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT"):
        return
    if res.get("enableKeyRotation") is not True:
        yield "enableKeyRotation is off: the key material never changes"
        return
    period = res.get("rotationPeriodInDays")
    if period is not None and period > 90:
        yield f"rotationPeriodInDays is {period:g}: rotate every 90 days"


@resource_rule(
    id="aws-kms-key-policy-no-public-principal", title="KMS key policies grant nothing to '*' unconditionally",
    severity="critical", types=(KMS_KEY,),
    rationale="A key policy statement allowing Principal '*' lets any AWS account use or manage the key, and so "
    "read every data store it encrypts.",
    fix=MLINFRA_SETS + "name the account root and service principals in key policies, or add a Condition",
)
def kms_policy_public(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Allow statements of the key ``policy`` with Principal ``*`` (or ``{"AWS": "*"}``) carry a Condition, and no
    Allow uses NotPrincipal."""
    document = _document(res, "policy")
    if document and document.get("_invalid"):
        yield "policy is not valid JSON"
    yield from _public_statements(document)


_KEY_FIELDS: Final[dict[str, tuple[tuple[str | int | None, ...], ...]]] = {
    # type -> paths of inputs naming a KMS key; None stands for "every item of the list here"
    **{t: (("rules", None, "applyServerSideEncryptionByDefault", "kmsMasterKeyId"),) for t in BUCKET_ENCRYPTIONS},
    QUEUE: (("kmsMasterKeyId",),),
    TOPIC: (("kmsMasterKeyId",),),
    LOG_GROUP: (("kmsKeyId",),),
    EKS_CLUSTER: (("encryptionConfig", "provider", "keyArn"),),
    WORKGROUP: (("configuration", "resultConfiguration", "encryptionConfiguration", "kmsKeyArn"),),
    CATALOG_ENCRYPTION: (("dataCatalogEncryptionSettings", "encryptionAtRest", "sseAwsKmsKeyId"),
                         ("dataCatalogEncryptionSettings", "connectionPasswordEncryption", "awsKmsKeyId")),
    LAUNCH_TEMPLATE: (("blockDeviceMappings", None, "ebs", "kmsKeyId"),),
    VOLUME: (("kmsKeyId",),),
    PROMETHEUS: (("kmsKeyArn",),),
}


def _key_references(res: Resource) -> Iterator[tuple[str, Any]]:
    """(field, value) for each input of ``res`` that names a KMS key; values not known yet are the sentinel."""
    for path in _KEY_FIELDS.get(res.type, ()):
        yield from _walk(res.props, path, [])


def _walk(value: Any, path: tuple[str | int | None, ...], walked: list[str]) -> Iterator[tuple[str, Any]]:
    if not path:
        if value not in (None, ""):
            yield ".".join(walked), value
        return
    if is_unknown(value):
        yield ".".join(walked), value
        return
    head, rest = path[0], path[1:]
    if head is None:
        for index, item in enumerate(value if isinstance(value, list) else []):
            yield from _walk(item, rest, [*walked[:-1], f"{walked[-1]}[{index}]"] if walked else [str(index)])
    elif isinstance(value, Mapping) and head in value:
        yield from _walk(value[head], rest, [*walked, str(head)])


@stack_rule(
    id="aws-kms-data-key-in-plan", title="Data stores use KMS keys created by this plan", severity="high",
    targets=("aws",),
    rationale="A key from outside the environment has a key policy, rotation and deletion schedule nobody here "
    "reviews; another team (or account) holding it can read or destroy the data.",
    fix="kms (mlinfra creates one key per purpose); custom components must pass the environment's keys",
)
def kms_data_key_in_plan(stack: Stack, context: PolicyContext) -> Iterator[Finding]:
    """Every KMS key named by a bucket encryption configuration, queue, topic, log group, EKS cluster, Athena
    workgroup, Glue catalog encryption, launch template, EBS volume or Prometheus workspace is a key or alias of
    this plan: the resource depends on one, else the value matches an alias name or a key id an alias targets."""
    keys = {r.urn for r in stack.of_type(KMS_KEY, KMS_ALIAS)}
    aliases = {n for a in stack.of_type(KMS_ALIAS) if isinstance(n := a.known("name"), str)}
    key_ids = {k for a in stack.of_type(KMS_ALIAS) if isinstance(k := a.known("targetKeyId"), str)}

    def in_plan(value: str) -> bool:
        alias = value[value.find("alias/"):] if "alias/" in value else None
        match = _KEY_ID.search(value)
        return (alias is not None and alias in aliases) or (match is not None and match.group(1) in key_ids)

    for res in stack.resources:
        if res.type not in _KEY_FIELDS or any(d in keys for d in res.dependencies):
            continue
        for field, value in _key_references(res):
            if is_unknown(value):
                yield (f"{field}: the key is not known before the update and is not a key of this plan: "
                       f"{UNKNOWN_NOTE}"), res.urn
            elif not (isinstance(value, str) and in_plan(value)):
                yield f"{field} names {value!r}, a KMS key this plan does not create", res.urn


# ----- SQS and SNS -----------------------------------------------------------------------------------------


def _cmk_problem(res: Resource, managed: str) -> Iterator[str]:
    if not res.has("kmsMasterKeyId"):
        default = "SQS-managed keys (SSE-SQS)" if res.type == QUEUE else "no encryption at rest"
        yield f"kmsMasterKeyId is not set: {default}, not a customer-managed key"
    elif _aws_managed_key(res.known("kmsMasterKeyId")):
        yield f"kmsMasterKeyId is the AWS managed key {managed}, not a customer-managed key"


@resource_rule(
    id="aws-sqs-queue-cmk", title="SQS queues encrypt with a customer-managed KMS key", severity="high",
    types=(QUEUE,),
    rationale="Queued messages carry event payloads; with SSE-SQS or alias/aws/sqs nobody in the environment can "
    "restrict or audit who decrypts them.",
    fix=MLINFRA_SETS + "set kms_master_key_id to the environment's events key",
)
def sqs_cmk(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``kmsMasterKeyId`` is set and not ``alias/aws/sqs``."""
    yield from _cmk_problem(res, "alias/aws/sqs")


@resource_rule(
    id="aws-sns-topic-cmk", title="SNS topics encrypt with a customer-managed KMS key", severity="high",
    types=(TOPIC,),
    rationale="SNS stores messages unencrypted unless a key is set, and alias/aws/sns cannot be restricted to the "
    "environment's publishers and subscribers.",
    fix=MLINFRA_SETS + "set kms_master_key_id to the environment's events key",
)
def sns_cmk(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``kmsMasterKeyId`` is set and not ``alias/aws/sns``."""
    yield from _cmk_problem(res, "alias/aws/sns")


@resource_rule(
    id="aws-sqs-queue-policy-no-public-principal", title="SQS queue policies grant nothing to '*' unconditionally",
    severity="critical", types=(QUEUE_POLICY, QUEUE),
    rationale="An Allow for Principal '*' without a condition lets any AWS account send, read or purge the queue's "
    "messages.",
    fix=MLINFRA_SETS + "scope Allow statements to named principals or add aws:SourceArn / aws:SourceAccount",
)
def sqs_policy_public(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Allow statements of the queue ``policy`` with Principal ``*`` carry a Condition; no Allow uses NotPrincipal."""
    yield from _public_statements(_document(res, "policy"))


@resource_rule(
    id="aws-sns-topic-policy-no-public-principal", title="SNS topic policies grant nothing to '*' unconditionally",
    severity="critical", types=(TOPIC_POLICY, TOPIC),
    rationale="An Allow for Principal '*' without a condition lets any AWS account publish to or subscribe to the "
    "topic.",
    fix=MLINFRA_SETS + "scope Allow statements to named principals or add aws:SourceArn / aws:SourceAccount",
)
def sns_policy_public(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Allow statements of the topic ``policy`` with Principal ``*`` carry a Condition; no Allow uses NotPrincipal."""
    yield from _public_statements(_document(res, "policy"))


# ----- CloudWatch Logs, Athena, Glue -----------------------------------------------------------------------


@resource_rule(
    id="aws-cloudwatch-log-group-cmk", title="Log groups encrypt with a customer-managed KMS key", severity="high",
    types=(LOG_GROUP,),
    rationale="Control plane, flow and platform logs hold request bodies, addresses and identities; a customer key "
    "restricts who can read them beyond CloudWatch's service-owned encryption.",
    fix=MLINFRA_SETS + "set kms_key_id to the environment's logs key",
)
def log_group_cmk(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``kmsKeyId`` is set."""
    if not res.has("kmsKeyId"):
        yield "kmsKeyId is not set: logs are encrypted only with CloudWatch's own keys"


@resource_rule(
    id="aws-cloudwatch-log-group-retention", title="Log groups have a retention period", severity="medium",
    enforcement="advisory", types=(LOG_GROUP,),
    rationale="Without retention CloudWatch keeps logs forever: personal data outlives its purpose and cost grows "
    "without bound.",
    fix="monitoring.log_retention_days",
)
def log_group_retention(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``retentionInDays`` is set and not 0 (never expire)."""
    if not res.get("retentionInDays"):
        yield "retentionInDays is not set: log events are kept forever"


@resource_rule(
    id="aws-athena-workgroup-enforced-encryption", title="Athena workgroups enforce SSE-KMS query results",
    severity="high", types=(WORKGROUP,),
    rationale="Query results are copies of the data; unless the workgroup enforces its configuration, clients can "
    "write them unencrypted or to any bucket.",
    fix=MLINFRA_SETS + "set enforce_workgroup_configuration and result_configuration.encryption_configuration "
    "(SSE_KMS with the warehouse key)",
)
def athena_workgroup(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``configuration.enforceWorkgroupConfiguration`` is on (the provider's default) and
    ``resultConfiguration.encryptionConfiguration`` is SSE_KMS or CSE_KMS with a ``kmsKeyArn``."""
    if res.get("configuration", "enforceWorkgroupConfiguration", default=True) is not True:
        yield "configuration.enforceWorkgroupConfiguration is off: clients choose result location and encryption"
    option = res.get("configuration", "resultConfiguration", "encryptionConfiguration", "encryptionOption")
    if option not in ("SSE_KMS", "CSE_KMS"):
        yield f"query results are encrypted with {option or 'nothing'}, not a customer-managed KMS key"
    elif not res.has("configuration", "resultConfiguration", "encryptionConfiguration", "kmsKeyArn"):
        yield f"{option} without kmsKeyArn"


@resource_rule(
    id="aws-glue-catalog-encryption", title="The Glue Data Catalog is encrypted with a customer-managed key",
    severity="high", types=(CATALOG_ENCRYPTION,),
    rationale="Catalog metadata (schemas, locations, partition values) and connection passwords are readable by "
    "anyone with Glue read access unless encrypted with a key the environment controls.",
    fix=MLINFRA_SETS + "set encryption_at_rest SSE-KMS and connection_password_encryption with the warehouse key",
)
def glue_catalog_encryption(res: Resource, context: PolicyContext) -> Iterator[str]:
    """``encryptionAtRest.catalogEncryptionMode`` SSE-KMS with ``sseAwsKmsKeyId``, and
    ``connectionPasswordEncryption.returnConnectionPasswordEncrypted`` with ``awsKmsKeyId``."""
    settings = ("dataCatalogEncryptionSettings",)
    mode = res.get(*settings, "encryptionAtRest", "catalogEncryptionMode")
    if mode not in ("SSE-KMS", "SSE-KMS-WITH-SERVICE-ROLE"):
        yield f"encryptionAtRest.catalogEncryptionMode is {mode or 'not set'}: catalog metadata is not encrypted"
    elif not res.has(*settings, "encryptionAtRest", "sseAwsKmsKeyId"):
        yield "encryptionAtRest.sseAwsKmsKeyId is not set: the AWS managed key aws/glue is used"
    if res.get(*settings, "connectionPasswordEncryption", "returnConnectionPasswordEncrypted") is not True:
        yield ("connectionPasswordEncryption.returnConnectionPasswordEncrypted is off: connection passwords are "
               "returned in clear")
    elif not res.has(*settings, "connectionPasswordEncryption", "awsKmsKeyId"):
        yield "connectionPasswordEncryption.awsKmsKeyId is not set"


# ----- IAM -------------------------------------------------------------------------------------------------


def _policy_documents(res: Resource) -> Iterator[tuple[str, Mapping[str, Any] | None]]:
    """(label, document) for a policy resource's ``policy`` or a role's ``inlinePolicies``."""
    if res.type == ROLE:
        for index, inline in enumerate(res.get("inlinePolicies", default=[])):
            if isinstance(inline, Mapping) and inline.get("policy"):
                yield f"inlinePolicies[{inline.get('name') or index}]: ", _document(res, "inlinePolicies", index,
                                                                                   "policy")
        return
    yield "", _document(res, "policy")


def _service(action: str) -> str:
    return action.split(":", 1)[0].lower() if ":" in action else "*"


@resource_rule(
    id="aws-iam-policy-no-wildcard-actions", title="IAM policies allow no '*' or data-service-wide actions",
    severity="high", types=IAM_POLICIES, controls=cis(CIS_AWS, "1.16"),
    rationale="Action '*' is administrator access, and 's3:*', 'kms:*' or 'sqs:*' include changing policies, "
    "disabling keys and deleting data; least privilege lists the actions a workload needs.",
    fix="iam.teams[] grants (mlinfra's grant helpers list actions); custom policies must list actions too",
)
def iam_wildcard_actions(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Allow statements have no ``Action: "*"``, no ``<data service>:*`` (S3, SQS, SNS, KMS, Athena, Glue, …) and
    no ``NotAction``."""
    for label, document in _policy_documents(res):
        if document and document.get("_invalid"):
            yield f"{label}policy is not valid JSON"
        for index, st in enumerate(_statements(document)):
            if not _allows(st):
                continue
            where = f"{label}statement {st.get('Sid') or index}"
            if "NotAction" in st:
                yield f"{where} uses NotAction: it allows every action except those listed"
            for action in _strings(st.get("Action")):
                if action == "*":
                    yield f"{where} allows Action '*': full administrative access"
                elif action.endswith(":*") and _service(action) in DATA_SERVICES:
                    yield f"{where} allows {action}: every action of a data service, policy and key changes included"


@resource_rule(
    id="aws-iam-policy-no-data-wildcard-resource", title="IAM policies grant data actions on named resources only",
    severity="high", types=IAM_POLICIES,
    rationale="A data action on Resource '*' reaches every bucket, queue, topic and key in the account, including "
    "other environments' and teams'.",
    fix="iam.teams[] grants (mlinfra's grant helpers name ARNs); custom policies must name bucket, queue, topic, "
    "key or workgroup ARNs",
)
def iam_data_wildcard_resource(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Allow statements with an action on a data service (or ``*``) do not use ``Resource: "*"`` or
    ``NotResource``."""
    for label, document in _policy_documents(res):
        for index, st in enumerate(_statements(document)):
            if not _allows(st):
                continue
            where = f"{label}statement {st.get('Sid') or index}"
            services = {_service(a) for a in _strings(st.get("Action"))}
            data = sorted(s for s in services if s in DATA_SERVICES or s == "*")
            if not data and "NotAction" not in st:
                continue
            what = ", ".join(data) or "NotAction"
            if "NotResource" in st:
                yield f"{where} grants {what} with NotResource: every resource except those listed"
            elif "*" in _strings(st.get("Resource")):
                yield f"{where} grants {what} on Resource '*': every such resource in the account"


@resource_rule(
    id="aws-iam-role-trust-no-public-principal", title="Role trust policies let no unconditioned '*' assume them",
    severity="critical", types=(ROLE,),
    rationale="A trust policy allowing Principal '*' without a condition lets any AWS account assume the role and "
    "act with its permissions.",
    fix=MLINFRA_SETS + "trust named service principals (pods.eks.amazonaws.com, ...) or accounts, with conditions",
)
def iam_trust_public(res: Resource, context: PolicyContext) -> Iterator[str]:
    """Allow statements of ``assumeRolePolicy`` with Principal ``*`` (or ``{"AWS": "*"}``) carry a Condition; no
    Allow uses NotPrincipal."""
    document = _document(res, "assumeRolePolicy")
    if document and document.get("_invalid"):
        yield "assumeRolePolicy is not valid JSON"
    yield from _public_statements(document)


RULES = rules_in(vars())
