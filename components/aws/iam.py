"""Identities on AWS: the minimal EKS node role, and one Pod Identity role per team workload."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

import pulumi
import pulumi_aws as aws
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components.base import Component

PARTITION: Final[str] = "aws"  # commercial partition; China and GovCloud would need their own ARNs
MANAGED: Final[str] = f"arn:{PARTITION}:iam::aws:policy"

# Exactly what a managed node needs: join the cluster, pull images, let the VPC CNI assign pod addresses.
# The CNI policy stays on the node role (not a Pod Identity role for aws-node): pods cannot reach the node's
# credentials because IMDSv2 hop limit 1 keeps the metadata service out of pod network namespaces, and a node
# whose CNI needs the pod-identity agent first cannot bootstrap if that agent is unhealthy. No SSM core
# policy: nodes are replaced, not logged into (use ``kubectl debug node/...``), matching the GKE target.
NODE_POLICIES: Final[tuple[str, ...]] = (
    f"{MANAGED}/AmazonEKSWorkerNodePolicy",
    f"{MANAGED}/AmazonEC2ContainerRegistryPullOnly",  # pull images only (ReadOnly also lists and describes)
    f"{MANAGED}/AmazonEKS_CNI_Policy",
)
CLUSTER_POLICY: Final[str] = f"{MANAGED}/AmazonEKSClusterPolicy"
EBS_CSI_POLICY: Final[str] = f"{MANAGED}/service-role/AmazonEBSCSIDriverPolicy"
POD_IDENTITY_PRINCIPAL: Final[str] = "pods.eks.amazonaws.com"

# Services holding data: a statement on them may not use a wildcard resource.
DATA_SERVICES: Final[frozenset[str]] = frozenset({
    "s3", "s3-object-lambda", "sqs", "sns", "kms", "athena", "glue", "dynamodb", "redshift", "redshift-data",
    "redshift-serverless", "events", "lakeformation", "secretsmanager", "ssm", "kinesis", "firehose", "aps",
})
MAX_ROLE_NAME: Final[int] = 64


def role_name(base: str) -> str:
    """``base`` if it fits IAM's 64 characters, else a clipped prefix plus a stable 8-character hash."""
    if len(base) <= MAX_ROLE_NAME:
        return base
    return f"{base[:MAX_ROLE_NAME - 9]}-{hashlib.sha256(base.encode()).hexdigest()[:8]}"


def service_trust(service: str, source_account: Any = None) -> pulumi.Output[str]:
    """An assume-role policy for one AWS service principal, optionally pinned to the calling account."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if source_account is not None:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [statement]})


def pod_identity_trust(source_account: Any = None) -> pulumi.Output[str]:
    """The EKS Pod Identity trust policy: only the pods service may assume (and tag) the role."""
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
                                 "Action": ["sts:AssumeRole", "sts:TagSession"]}
    if source_account is not None:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [statement]})


def _strings(value: Any) -> list[str]:
    """Plain strings in a statement field (unknown Outputs are skipped: they are never literal wildcards)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def check_statements(statements: list[Any], where: str) -> None:
    """Refuse statements that are not least privilege; ``ValueError`` says which and how to fix it.

    Refused: ``Action: "*"``; ``NotAction``/``NotResource`` (allow everything except…); and
    ``Resource: "*"`` on a data service (S3, SQS, SNS, KMS, Athena, Glue, …) — grant on the exact ARNs.
    """
    for i, st in enumerate(statements):
        if not isinstance(st, Mapping):
            raise ValueError(f"{where}: statement {i} must be a dict with Effect, Action and Resource")
        for broad in ("NotAction", "NotResource"):
            if broad in st and st.get("Effect", "Allow") == "Allow":
                raise ValueError(f"{where}: statement {i} uses {broad}; list the actions and resources it allows")
        actions = _strings(st.get("Action"))
        if "*" in actions:
            raise ValueError(f"{where}: statement {i} allows Action '*'; list the actions the workload needs")
        if "*" in _strings(st.get("Resource")):
            data = sorted({a.split(":", 1)[0] for a in actions if a.split(":", 1)[0] in DATA_SERVICES})
            if data or not actions:
                raise ValueError(f"{where}: statement {i} grants {', '.join(data) or 'its actions'} on Resource "
                                 "'*'; name the bucket, queue, topic, key or workgroup ARNs instead")


MAX_INLINE_POLICY: Final[int] = 10_240
"""IAM's limit on a role's inline policies, in characters (whitespace not counted)."""


def _identity(value: Any) -> Any:
    """A hashable stand-in for a statement value: plain values by content, Outputs and other objects by identity.

    Outputs are never resolved, so two Outputs are "equal" only when they are the same object (grant helpers
    reuse their Outputs, which is what makes their repeated statements recognisable here).
    """
    if isinstance(value, Mapping):
        return ("map", tuple(sorted(((str(k), _identity(v)) for k, v in value.items()), key=lambda kv: kv[0])))
    if isinstance(value, list | tuple):
        return ("list", tuple(_identity(v) for v in value))
    if value is None or isinstance(value, str | int | float | bool):
        return ("value", value)
    return ("object", id(value))


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def compact_statements(statements: list[Any]) -> list[Any]:
    """The same permissions in fewer statements: duplicates dropped, same-permission statements merged.

    Three steps, each leaving exactly the same (action, resource, condition) grants, in first-seen order:

    * exact duplicates are dropped;
    * statements with the same Effect, the same set of actions, the same Condition (or none) and otherwise the same
      fields (Sid, Principal, …) become one statement whose Resource is the ordered union of theirs;
    * a resource is left out of a statement when another one with the same Effect, Condition and fields already
      grants a superset of its actions on that resource (e.g. decrypt-only on a key that a write grant also names);
      a statement left with no resource is dropped.

    Resources may be ``pulumi.Output``: they are never resolved, and two Outputs are the same resource only when
    they are the same object (grant helpers reuse theirs). Statements that do not change are returned as given (the
    same objects); none is modified.
    """
    out: list[Any] = []
    merged: dict[Any, int] = {}  # merge key -> index in out
    groups: dict[int, tuple[Any, frozenset[Any], list[Any]]] = {}  # index -> (fields key, actions, resources)
    for st in statements:
        if not isinstance(st, Mapping) or "Resource" not in st or "Action" not in st:
            key: Any = ("whole", _identity(st))
        else:
            rest = _identity({k: v for k, v in st.items() if k not in ("Action", "Resource")})
            key = ("merge", rest, frozenset(_identity(a) for a in _as_list(st["Action"])))
        if key not in merged:
            merged[key] = len(out)
            out.append(st)
            if key[0] == "merge":
                groups[len(out) - 1] = (key[1], key[2], [])
        if key[0] == "merge":
            union = groups[merged[key]][2]
            for resource in _as_list(st["Resource"]):
                if all(_identity(resource) != _identity(r) for r in union):
                    union.append(resource)
    keep: dict[int, list[Any]] = {}
    for index, (rest, actions, union) in groups.items():
        # Resources on which a broader statement (same fields, strictly more actions) already grants these actions.
        covered = {_identity(r) for other, (o_rest, o_actions, o_union) in groups.items()
                   if other != index and o_rest == rest and actions < o_actions for r in o_union}
        keep[index] = [r for r in union if _identity(r) not in covered]
    result: list[Any] = []
    for index, st in enumerate(out):
        if index not in keep:
            result.append(st)
        elif not keep[index]:
            continue
        elif [_identity(r) for r in keep[index]] == [_identity(r) for r in _as_list(st["Resource"])]:
            result.append(st)
        else:
            result.append({**st, "Resource": keep[index]})
    return result


class NodeRoleArgs(BaseModel):
    """Inputs of :class:`NodeRole`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role_name: str = Field(
        min_length=1, max_length=MAX_ROLE_NAME, pattern=r"^[\w+=,.@-]+$",
        description="Physical IAM role name, unique in the account (e.g. '{cluster}-nodes'). Required.",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags on the role. Default: none.")


class NodeRole(Component):
    """The IAM role EKS managed nodes run as, with only the three policies a node needs.

    Secure defaults: trusted by ``ec2.amazonaws.com`` only; AmazonEKSWorkerNodePolicy,
    AmazonEC2ContainerRegistryPullOnly and AmazonEKS_CNI_Policy and nothing else (no SSM, no S3, no
    CloudWatch: workloads get their own roles through Pod Identity, and IMDSv2 with hop limit 1 on every
    node keeps pods away from these credentials). Managed node groups create the instance profile and the
    cluster access entry for it themselves. Outputs: ``arn``, ``name``.
    """

    arn: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(self, name: str, args: NodeRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:aws:NodeRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role", name=args.role_name, assume_role_policy=service_trust("ec2.amazonaws.com"),
            description="mlinfra EKS managed nodes", tags=args.tags or None, opts=child,
        )
        self.attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-{arn.rsplit('/', 1)[-1]}", role=role.name, policy_arn=arn,
                                         opts=child)
            for arn in NODE_POLICIES
        ]
        self.role = role
        # The ARN resolves only after the policies are attached, so a node group never starts without them.
        self.arn = pulumi.Output.all(role.arn, *[a.id for a in self.attachments]).apply(lambda v: v[0])
        self.name = role.name
        self.register_outputs({"arn": self.arn, "name": self.name})


class TeamRoleArgs(BaseModel):
    """Inputs of :class:`TeamRole`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    env: str = Field(min_length=1, description="Environment name; the role is named '{env}-{team}-team'. Required.")
    team: str = Field(min_length=1, description="Team name: its Kubernetes namespace. Required.")
    service_account: str = Field(
        default="", description="Kubernetes service account that may use the role. Default: '{team}-workload'."
    )
    clusters: dict[str, Any] = Field(
        default_factory=dict,
        description="Cluster key (logical-name suffix) → cluster name (Input[str]; pass EksCluster.cluster_name "
        "so the association waits for the cluster). One Pod Identity association each. Default: none.",
    )
    statements: list[Any] = Field(
        default_factory=list,
        description="IAM policy statements (dicts; values may be Outputs) granting exactly what the team uses. "
        "Action '*', NotAction/NotResource and Resource '*' on data services are refused. Default: none, and "
        "then the role has no policy at all.",
    )
    source_account: Any = Field(
        default=None,
        description="Account id (Input[str]) the trust is conditioned on (aws:SourceAccount). Default: none, "
        "unconditioned (the pods service acts only for associations in this account anyway).",
    )
    max_session_hours: int = Field(default=1, ge=1, le=12, description="Maximum session length. Default: 1 hour.")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags on the role and associations. Default: none.")


class TeamRole(Component):
    """A team's workload role, assumable only through EKS Pod Identity from ``{team}/{team}-workload``.

    Secure defaults: the trust policy names only ``pods.eks.amazonaws.com`` (``sts:AssumeRole`` and
    ``sts:TagSession``, so session tags carry cluster, namespace and service account for ABAC); the only
    permissions are the given statements as one inline policy, checked for wildcards before anything is
    created, with exact duplicates dropped and statements granting the same actions under the same condition
    merged into one (:func:`compact_statements`); no policy at all when there are no statements; one Pod
    Identity association per cluster, for the team namespace's workload service account only. Outputs: ``arn``,
    ``name``, ``role_name``.
    """

    arn: pulumi.Output[str]
    name: pulumi.Output[str]
    role_name: str

    def __init__(self, name: str, args: TeamRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:aws:TeamRole", name, None, opts)
        check_statements(args.statements, f"team {args.team!r}")
        child = pulumi.ResourceOptions(parent=self)
        self.role_name = role_name(f"{args.env}-{args.team}-team")
        role = aws.iam.Role(
            f"{name}-role", name=self.role_name, assume_role_policy=pod_identity_trust(args.source_account),
            description=f"mlinfra team {args.team} workloads (EKS Pod Identity)",
            max_session_duration=args.max_session_hours * 3600, tags=args.tags or None, opts=child,
        )
        waits: list[pulumi.Resource] = [role]
        if args.statements:
            # Grants on several buckets, topics and datasets repeat statements; compacting them keeps the policy
            # far below IAM's 10,240 characters. Serialised without whitespace, as IAM counts it.
            statements = compact_statements(args.statements)
            waits.append(aws.iam.RolePolicy(
                f"{name}-policy", name=f"{args.team}-grants", role=role.name,
                policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements},
                                                separators=(",", ":")),
                opts=child,
            ))
        ksa = args.service_account or f"{args.team}-workload"
        self.associations = [
            aws.eks.PodIdentityAssociation(
                f"{name}-{key}", cluster_name=cluster, namespace=args.team, service_account=ksa, role_arn=role.arn,
                tags=args.tags or None, opts=pulumi.ResourceOptions(parent=self, depends_on=waits),
            )
            for key, cluster in args.clusters.items()
        ]
        self.role = role
        self.arn = role.arn
        self.name = role.name
        self.register_outputs({"arn": self.arn, "name": self.name})
