"""An EKS managed node group (CPU, NVIDIA GPU or Neuron) on a hardened launch template."""

from __future__ import annotations

from typing import Any, Final, Literal, Self

import pulumi
import pulumi_aws as aws
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlinfra.components import accelerators as acc
from mlinfra.components.base import Component

POOL_LABEL: Final[str] = "mlinfra.io/pool"
ROOT_DEVICE: Final[str] = "/dev/xvda"  # root volume of the Amazon Linux 2023 EKS AMIs
_EFFECT: Final[dict[str, str]] = {"NoSchedule": "NO_SCHEDULE", "PreferNoSchedule": "PREFER_NO_SCHEDULE",
                                  "NoExecute": "NO_EXECUTE"}


class TaintArgs(BaseModel):
    """A node taint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1, description="Taint key. Required.")
    value: str = Field(default="", description="Taint value. Default: empty.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] = Field(
        default="NoSchedule", description="Kubernetes taint effect (mapped to EKS's NO_SCHEDULE etc.). "
        "Default: NoSchedule."
    )


class AcceleratorArgs(BaseModel):
    """Accelerators on every node, by neutral name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(description="Neutral accelerator name ('nvidia-l4', 'aws-trainium'). Required.")
    count: int = Field(default=1, ge=1, description="Devices per node; picks the instance size. Default: 1.")


class EksNodeGroupArgs(BaseModel):
    """Inputs of :class:`EksNodeGroup`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    cluster_name: Any = Field(
        description="Cluster name (Input[str]); pass EksCluster.cluster_name so the group waits for it. Required."
    )
    pool_name: str = Field(min_length=1, max_length=63, pattern=r"^[0-9A-Za-z][A-Za-z0-9\-_]*$",
                           description="Physical node group name, unique in the cluster. Required.")
    node_role_arn: Any = Field(description="ARN (Input[str]) of the NodeRole. Required.")
    subnet_ids: Any = Field(description="Private subnet ids (Input[list[str]]) the nodes run in. Required.")
    machine_class: Literal["general", "compute", "memory"] = Field(
        default="general", description="CPU pools: m6i, c6i or r6i. Default: general (m6i)."
    )
    vcpus: int = Field(default=8, ge=2, description="vCPUs of CPU pools. Default: 8.")
    instance_types: list[str] = Field(
        default_factory=list,
        description="Explicit instance types (several diversify spot capacity); win over the derived type. "
        "Default: derived from machine_class/vcpus or the accelerator.",
    )
    accelerator: AcceleratorArgs | None = Field(default=None, description="Accelerators. Default: none (CPU pool).")
    ami_type: str | None = Field(
        default=None,
        description="EKS AMI type. Default: AL2023 NVIDIA for NVIDIA pools, AL2023 Neuron for Trainium/"
        "Inferentia, AL2023 standard x86_64 otherwise.",
    )
    min_nodes: int = Field(default=0, ge=0, description="Autoscaling minimum. Default: 0.")
    max_nodes: int = Field(default=3, ge=1, description="Autoscaling maximum. Default: 3.")
    spot: bool = Field(default=False, description="SPOT capacity instead of ON_DEMAND. Default: off.")
    disk_size_gb: int = Field(default=100, ge=20, le=16384, description="Root gp3 volume size. Default: 100 GB.")
    disks_key_arn: Any = Field(
        description="ARN (Input[str]) of the disks KMS key encrypting root volumes; its policy must let the "
        "EC2 Auto Scaling service-linked role use it. Required.",
    )
    taints: list[TaintArgs] = Field(
        default_factory=list, description="Extra taints; the accelerator taint is always added. Default: none."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description=f"Extra Kubernetes node labels ({POOL_LABEL} is always set). Default: none."
    )
    tags: dict[str, str] = Field(
        default_factory=dict, description="AWS tags on the group, its instances and volumes (cost). Default: none."
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"pool {self.pool_name}: min_nodes ({self.min_nodes}) exceeds max_nodes "
                             f"({self.max_nodes}); lower min_nodes or raise max_nodes")
        if self.accelerator is not None and self.accelerator.type not in acc.AWS_INSTANCES:
            raise ValueError(f"pool {self.pool_name}: {self.accelerator.type} is not offered on AWS; use one of "
                             f"{', '.join(acc.AWS_INSTANCES)}")
        return self


class EksNodeGroup(Component):
    """Worker nodes for one purpose: an EKS managed node group on its own launch template.

    Secure defaults: IMDSv2 required with a hop limit of 1 (pods cannot reach the node's credentials or
    metadata), root volume gp3 encrypted with the disks key and deleted with the instance, no SSH key and
    no remote access, nodes only in private subnets (no public IPs); node auto-repair; rolling updates one
    node at a time. Accelerator pools run the EKS AL2023 NVIDIA or Neuron AMI and are tainted
    (``nvidia.com/gpu`` / ``aws.amazon.com/neuron`` = present:NoSchedule) so only pods that ask for the
    device land there. The desired size is left to the autoscaler after creation (ignored in diffs).
    A system pool is this component with a CPU instance and label ``mlinfra.io/pool=system``.
    Outputs: ``node_group_name``, ``instance_types``, ``launch_template_id``.
    """

    node_group_name: pulumi.Output[str]
    launch_template_id: pulumi.Output[str]
    instance_types: list[str]
    ami_type: str

    def __init__(self, name: str, args: EksNodeGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:aws:EksNodeGroup", name, None, opts)
        a = args.accelerator
        taints = [{"key": t.key, "value": t.value, "effect": _EFFECT[t.effect]} for t in args.taints]
        if a is None:
            derived = acc.aws_instance_type(args.machine_class, args.vcpus)
        else:
            derived = acc.aws_instance_type(args.machine_class, args.vcpus, a.type, a.count)
            taints.append({"key": acc.RESOURCE_NAME[a.type], "value": "present", "effect": "NO_SCHEDULE"})
        self.instance_types = list(args.instance_types) or [derived]
        self.ami_type = args.ami_type or (acc.AWS_AMI_TYPE.get(a.type, acc.AWS_DEFAULT_AMI_TYPE) if a
                                          else acc.AWS_DEFAULT_AMI_TYPE)
        labels = {POOL_LABEL: args.pool_name, **args.labels}
        resource_tags = {**args.tags, **labels}
        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            description=f"mlinfra node group {args.pool_name}",
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required",
                              "http_put_response_hop_limit": 1, "instance_metadata_tags": "disabled"},
            block_device_mappings=[{"device_name": ROOT_DEVICE, "ebs": {
                "volume_size": args.disk_size_gb, "volume_type": "gp3", "encrypted": "true",
                "kms_key_id": args.disks_key_arn, "delete_on_termination": "true"}}],
            tag_specifications=[{"resource_type": kind, "tags": resource_tags}
                                for kind in ("instance", "volume", "network-interface")],
            update_default_version=True,
            tags=args.tags or None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        group = aws.eks.NodeGroup(
            f"{name}-group",
            cluster_name=args.cluster_name,
            node_group_name=args.pool_name,
            node_role_arn=args.node_role_arn,
            subnet_ids=args.subnet_ids,
            launch_template={"id": template.id, "version": template.latest_version.apply(str)},
            instance_types=self.instance_types,
            ami_type=self.ami_type,
            capacity_type="SPOT" if args.spot else "ON_DEMAND",
            scaling_config={"min_size": args.min_nodes, "max_size": args.max_nodes, "desired_size": args.min_nodes},
            update_config={"max_unavailable": 1},
            node_repair_config={"enabled": True},
            labels=labels,
            taints=taints or None,
            tags=args.tags or None,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["scalingConfig.desiredSize"]),
        )
        self.group = group
        self.node_group_name = group.node_group_name
        self.launch_template_id = template.id
        self.register_outputs({"node_group_name": self.node_group_name, "launch_template_id": self.launch_template_id,
                               "instance_types": self.instance_types})
