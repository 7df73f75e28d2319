"""One EKS cluster: private endpoint, secrets encrypted with our key, all control-plane logs, access entries."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Sequence
from typing import Any, Final, Literal, Self

import pulumi
import pulumi_aws as aws
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlinfra.components.aws.iam import (
    CLUSTER_POLICY,
    EBS_CSI_POLICY,
    PARTITION,
    pod_identity_trust,
    role_name,
    service_trust,
)
from mlinfra.components.aws.network import check_retention
from mlinfra.components.base import Component

LOG_TYPES: Final[tuple[str, ...]] = ("api", "audit", "authenticator", "controllerManager", "scheduler")
# Add-ons installed with the cluster: DaemonSets that are healthy with zero nodes, and that nodes need on boot.
CLUSTER_ADDONS: Final[tuple[str, ...]] = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent")
# Add-ons that run Deployments: they report DEGRADED until nodes exist, so they wait for node groups
# (see :meth:`EksCluster.add_compute_addons`).
COMPUTE_ADDONS: Final[tuple[str, ...]] = ("coredns", "aws-ebs-csi-driver")
ACCESS_POLICY: Final[str] = f"arn:{PARTITION}:eks::aws:cluster-access-policy"
# (access, namespaced?) -> EKS access policy.
ACCESS_POLICIES: Final[dict[tuple[str, bool], str]] = {
    ("admin", False): f"{ACCESS_POLICY}/AmazonEKSClusterAdminPolicy",
    ("admin", True): f"{ACCESS_POLICY}/AmazonEKSAdminPolicy",
    ("edit", False): f"{ACCESS_POLICY}/AmazonEKSEditPolicy",
    ("edit", True): f"{ACCESS_POLICY}/AmazonEKSEditPolicy",
    ("view", False): f"{ACCESS_POLICY}/AmazonEKSViewPolicy",
    ("view", True): f"{ACCESS_POLICY}/AmazonEKSViewPolicy",
}
EBS_CSI_SERVICE_ACCOUNT: Final[str] = "ebs-csi-controller-sa"


class ClusterAccessArgs(BaseModel):
    """One IAM principal's access to the cluster (an EKS access entry plus an access policy)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    principal_arn: str = Field(
        pattern=r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/.+$",
        description="IAM role or user ARN (for SSO, the role ARN, not the assumed-role session ARN). Required.",
    )
    access: Literal["admin", "edit", "view"] = Field(
        default="view",
        description="AmazonEKS(Cluster)AdminPolicy, AmazonEKSEditPolicy or AmazonEKSViewPolicy. Default: view.",
    )
    namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces the policy is scoped to. Default: none, the whole cluster.",
    )


class EksClusterArgs(BaseModel):
    """Inputs of :class:`EksCluster`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    cluster_name: str = Field(
        min_length=1, max_length=100, pattern=r"^[0-9A-Za-z][A-Za-z0-9\-_]*$",
        description="Physical cluster name, unique in the region (e.g. '{env}-{cluster}'). Required.",
    )
    region: str = Field(description="The provider's region; written into the kubeconfig. Required.")
    version: str | None = Field(
        default=None, pattern=r"^1\.\d{2}$", description="Kubernetes minor version ('1.31'). Default: EKS's default."
    )
    upgrade_support: Literal["standard", "extended"] = Field(
        default="standard",
        description="EKS support policy: 'standard' upgrades the control plane automatically at end of standard "
        "support; 'extended' keeps the version (paid). Default: standard.",
    )
    subnet_ids: Any = Field(description="Private subnet ids (Input[list[str]]), at least two zones. Required.")
    private_endpoint: bool = Field(
        default=True, description="API server reachable only from inside the VPC. Default: on."
    )
    authorized_networks: list[ipaddress.IPv4Network] = Field(
        default_factory=list,
        description="CIDRs allowed to reach a public endpoint. Required (non-empty) when private_endpoint is off; "
        "never 0.0.0.0/0. Default: none.",
    )
    service_cidr: ipaddress.IPv4Network | None = Field(
        default=None, description="Kubernetes service range (/12-/24, outside the VPC). Default: EKS picks one."
    )
    secrets_key_arn: Any = Field(
        description="ARN (Input[str]) of the eks-secrets KMS key for envelope encryption of Secrets. Required."
    )
    logs_key_arn: Any = Field(
        description="ARN (Input[str]) of the KMS key encrypting the control-plane log group. Required."
    )
    log_retention_days: int = Field(
        default=90, description="Control-plane log retention, a CloudWatch Logs value. Default: 90 days."
    )
    deletion_protection: bool = Field(default=True, description="EKS deletion protection. Default: on.")
    access: list[ClusterAccessArgs] = Field(
        default_factory=list,
        description="Access entries. The deploying identity gets no implicit admin (see the class doc), so "
        "include it when the same program manages in-cluster resources. Default: none.",
    )
    addon_versions: dict[str, str] = Field(
        default_factory=dict,
        description="Add-on name → pinned version. Default: EKS's default version for the cluster version.",
    )
    volumes_key_arn: Any = Field(
        default=None,
        description="ARN (Input[str]) of the disks key the EBS CSI driver may use for encrypted volumes. "
        "Default: none (the driver gets no KMS rights; volumes then need the AWS-managed key).",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags on every resource. Default: none.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.private_endpoint:
            if not self.authorized_networks:
                raise ValueError(
                    f"cluster {self.cluster_name}: a public endpoint needs network.authorized_networks (the CIDRs "
                    "allowed to reach it); list them, or keep private_endpoint on")
            if any(n.prefixlen == 0 for n in self.authorized_networks):
                raise ValueError(f"cluster {self.cluster_name}: 0.0.0.0/0 in network.authorized_networks opens the "
                                 "API server to the internet; list your own ranges")
        check_retention(self.log_retention_days)
        unknown = set(self.addon_versions) - set(CLUSTER_ADDONS) - set(COMPUTE_ADDONS)
        if unknown:
            raise ValueError(f"addon_versions: unknown add-on(s) {', '.join(sorted(unknown))}; "
                             f"mlinfra manages {', '.join(CLUSTER_ADDONS + COMPUTE_ADDONS)}")
        return self


def _kubeconfig(name: str, endpoint: str, ca: str, region: str) -> str:
    """A kubeconfig authenticating with ``aws eks get-token`` (no static credentials in it)."""
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {name}\n  cluster:\n    server: {endpoint}\n"
        f"    certificate-authority-data: {ca}\n"
        f"contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n"
        f"current-context: {name}\n"
        f"users:\n- name: {name}\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n"
        "      command: aws\n"
        f"      args: [eks, get-token, --cluster-name, {name}, --region, {region}, --output, json]\n"
        "      interactiveMode: Never\n"
    )


class EksCluster(Component):
    """An EKS cluster hardened along the CIS EKS benchmark.

    Secure defaults: private API endpoint (public only with explicit authorized networks, never the whole internet);
    Kubernetes Secrets envelope-encrypted with the eks-secrets key (the cluster role may use only that key); all
    five control-plane log types into ``/aws/eks/{cluster}/cluster``, created first with retention and the logs key
    (EKS would otherwise create it unencrypted and kept forever); authentication by access entries only (mode
    ``API``: no aws-auth ConfigMap) and ``bootstrap_cluster_creator_admin_permissions`` off, so nobody holds an
    invisible cluster-admin — every admin is an access entry in code (the deploying identity included, when it needs
    one); EKS deletion protection; the VPC CNI with NetworkPolicy enforcement on; the Pod Identity agent for
    workload credentials (team roles, EBS CSI driver), never node credentials. Add-ons: vpc-cni, kube-proxy and
    eks-pod-identity-agent with the cluster; coredns and the EBS CSI driver (persistent volumes for checkpoints and
    Prometheus: EKS has no in-tree EBS provisioner) once node groups exist, via :meth:`add_compute_addons`. The
    cluster security group is EKS's default.
    Outputs: ``cluster_name``, ``endpoint``, ``certificate_authority``, ``arn``, ``kubeconfig`` (secret),
    ``cluster_security_group_id``.
    """

    cluster_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    certificate_authority: pulumi.Output[str]
    arn: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:aws:EksCluster", name, None, opts)
        self._name = name
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags or None
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/aws/eks/{args.cluster_name}/cluster", retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_key_arn, tags=tags, opts=child,
        )
        role = aws.iam.Role(f"{name}-role", name=role_name(f"{args.cluster_name}-cluster"),
                            assume_role_policy=service_trust("eks.amazonaws.com"),
                            description=f"EKS control plane of {args.cluster_name}", tags=tags, opts=child)
        attachment = aws.iam.RolePolicyAttachment(f"{name}-cluster-policy", role=role.name, policy_arn=CLUSTER_POLICY,
                                                  opts=child)
        # The control plane uses the secrets key itself (envelope encryption); only that key, only these actions.
        key_use = aws.iam.RolePolicy(
            f"{name}-secrets-key", name="secrets-encryption", role=role.name,
            policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"],
                "Resource": args.secrets_key_arn}]}),
            opts=child,
        )
        public = not args.private_endpoint
        cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=args.cluster_name,
            role_arn=role.arn,
            version=args.version,
            vpc_config={
                "subnet_ids": args.subnet_ids,
                "endpoint_private_access": True,
                "endpoint_public_access": public,
                "public_access_cidrs": [str(n) for n in args.authorized_networks] if public else None,
            },
            encryption_config={"resources": ["secrets"], "provider": {"key_arn": args.secrets_key_arn}},
            enabled_cluster_log_types=list(LOG_TYPES),
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False},
            kubernetes_network_config={"ip_family": "ipv4",
                                       "service_ipv4_cidr": str(args.service_cidr) if args.service_cidr else None},
            upgrade_policy={"support_type": args.upgrade_support.upper()},
            deletion_protection=args.deletion_protection,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, attachment, key_use]),
        )
        self.cluster = cluster
        self._account = cluster.arn.apply(lambda arn: arn.split(":")[4] if arn and arn.count(":") >= 5 else None)
        self.cluster_name = cluster.name
        self.endpoint = cluster.endpoint
        self.arn = cluster.arn
        self.certificate_authority = cluster.certificate_authority.apply(lambda c: (c.data if c else None) or "")
        self.cluster_security_group_id = cluster.vpc_config.apply(
            lambda v: (v.cluster_security_group_id if v else None) or "")
        # A private endpoint is reached over the VPC: admit the authorized networks (VPN, CI) on 443.
        for index, network in enumerate(args.authorized_networks):
            if not network.is_private:
                continue  # public ranges can only use the public endpoint (public_access_cidrs above)
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-api-from-{index}", security_group_id=self.cluster_security_group_id,
                cidr_ipv4=str(network), ip_protocol="tcp", from_port=443, to_port=443,
                description=f"Kubernetes API from authorized network {network}",
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(
            cluster.name, cluster.endpoint, self.certificate_authority,
        ).apply(lambda v: _kubeconfig(v[0], v[1], v[2], args.region)))

        self.addons: dict[str, aws.eks.Addon] = {}
        for addon in CLUSTER_ADDONS:
            config = json.dumps({"enableNetworkPolicy": "true"}) if addon == "vpc-cni" else None
            self._addon(addon, configuration_values=config)
        for entry in args.access:
            tag = hashlib.sha256(entry.principal_arn.encode()).hexdigest()[:8]
            access_entry = aws.eks.AccessEntry(
                f"{name}-access-{tag}", cluster_name=cluster.name, principal_arn=entry.principal_arn, type="STANDARD",
                tags=tags, opts=child,
            )
            scope = ({"type": "namespace", "namespaces": entry.namespaces} if entry.namespaces
                     else {"type": "cluster"})
            aws.eks.AccessPolicyAssociation(
                f"{name}-access-{tag}-{entry.access}", cluster_name=cluster.name,
                principal_arn=access_entry.principal_arn,
                policy_arn=ACCESS_POLICIES[(entry.access, bool(entry.namespaces))], access_scope=scope, opts=child,
            )
        self.register_outputs({
            "cluster_name": self.cluster_name, "endpoint": self.endpoint, "arn": self.arn,
            "certificate_authority": self.certificate_authority, "kubeconfig": self.kubeconfig,
            "cluster_security_group_id": self.cluster_security_group_id,
        })

    def _addon(self, addon: str, *, depends_on: Sequence[pulumi.Resource] = (), configuration_values: str | None = None,
               pod_identity: list[dict[str, Any]] | None = None) -> aws.eks.Addon:
        """One EKS-managed add-on, taking over any self-managed copy EKS bootstrapped."""
        waits = list(depends_on)
        if addon in COMPUTE_ADDONS:  # after the CNI and the Pod Identity agent
            waits += [self.addons[a] for a in CLUSTER_ADDONS]
        self.addons[addon] = aws.eks.Addon(
            f"{self._name}-{addon}", cluster_name=self.cluster.name, addon_name=addon,
            addon_version=self._args.addon_versions.get(addon), configuration_values=configuration_values,
            pod_identity_associations=pod_identity, resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE", tags=self._args.tags or None,
            opts=pulumi.ResourceOptions(parent=self, depends_on=waits or None),
        )
        return self.addons[addon]

    def add_compute_addons(self, node_groups: Sequence[pulumi.Resource]) -> list[aws.eks.Addon]:
        """Install coredns and the EBS CSI driver once ``node_groups`` (at least the system pool) exist.

        Both run Deployments, which stay pending (the add-on DEGRADED, the create timing out) on a cluster
        without nodes. The EBS CSI controller gets its own Pod Identity role with AmazonEBSCSIDriverPolicy
        and, when ``volumes_key_arn`` is set, use of that key for encrypted volumes — nothing on the node role.
        """
        name, args = self._name, self._args
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(f"{name}-ebs-csi", name=role_name(f"{args.cluster_name}-ebs-csi"),
                            assume_role_policy=pod_identity_trust(self._account),
                            description="EBS CSI controller (Pod Identity)",
                            tags=args.tags or None, opts=child)
        waits: list[pulumi.Resource] = [aws.iam.RolePolicyAttachment(
            f"{name}-ebs-csi", role=role.name, policy_arn=EBS_CSI_POLICY, opts=child)]
        if args.volumes_key_arn is not None:
            waits.append(aws.iam.RolePolicy(
                f"{name}-ebs-csi-kms", name="volumes-key", role=role.name,
                policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
                     "Resource": args.volumes_key_arn, "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
                    {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                                                   "kms:GenerateDataKey*", "kms:DescribeKey"],
                     "Resource": args.volumes_key_arn},
                ]}), opts=child,
            ))
        coredns = self._addon("coredns", depends_on=node_groups)
        ebs = self._addon("aws-ebs-csi-driver", depends_on=[*node_groups, *waits],
                          pod_identity=[{"role_arn": role.arn, "service_account": EBS_CSI_SERVICE_ACCOUNT}])
        return [coredns, ebs]
