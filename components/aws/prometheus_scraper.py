"""One Amazon Managed Prometheus managed collector (scraper) per EKS cluster, writing to the platform workspace."""

from __future__ import annotations

import re
from typing import Any, Final, Self

import pulumi
import pulumi_aws as aws
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlinfra.components.base import Component
from mlinfra.components.kubernetes.monitoring import COLLECTOR_USER

# A scraper's role ARN carries the service-linked path (role/aws-service-role/scraper.aps.amazonaws.com/...);
# EKS identifies the principal by the ARN without the path.
_ROLE_PATH: Final = re.compile(r"^(arn:[^:]+:iam::\d+:role/)(?:[^/]+/)*([^/]+)$")


def access_entry_principal(role_arn: str) -> str:
    """The scraper's role ARN as an EKS access entry principal: the same role, without its IAM path."""
    match = _ROLE_PATH.match(role_arn or "")
    return f"{match.group(1)}{match.group(2)}" if match else role_arn


class AmpScraperArgs(BaseModel):
    """Inputs of :class:`AmpScraper`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    region: str = Field(min_length=1, description="Region of the cluster and the workspace. Required.")
    alias: str = Field(
        min_length=1, max_length=100, pattern=r"^[0-9A-Za-z][-.0-9A-Z_a-z]*$",
        description="Scraper alias (the physical cluster name). Required.",
    )
    cluster_name: Any = Field(description="EKS cluster name (Input[str]) of the access entry. Required.")
    cluster_arn: Any = Field(description="EKS cluster ARN (Input[str]) the scraper discovers targets in. Required.")
    cluster_security_group_id: Any = Field(
        description="The cluster security group (Input[str]) of the control plane and the nodes; it admits the "
        "scraper on `ports` only. Required.",
    )
    vpc_id: Any = Field(description="VPC id (Input[str]) of the cluster. Required.")
    subnet_ids: Any = Field(
        description="Private subnet ids (Input[list[str]]) in at least two zones, where the scraper's network "
        "interfaces are placed. Required.",
    )
    workspace_arn: Any = Field(description="ARN (Input[str]) of the Managed Prometheus workspace. Required.")
    scrape_configuration: str = Field(
        min_length=1,
        description="Prometheus scrape configuration (YAML with 'scrape_configs'), e.g. "
        "kubernetes.monitoring.collector_scrape_config. Required.",
    )
    ports: list[int] = Field(
        default_factory=lambda: [443, 10250], min_length=1,
        description="TCP ports the scraper may open into the cluster security group: 443 the API server "
        "(discovery), 10250 the kubelets, plus each scraped pod's metrics port. Default: 443 and 10250.",
    )
    collector_user: str = Field(
        default=COLLECTOR_USER, min_length=1, pattern=r"^\S+$",
        description="Kubernetes user name the access entry maps the scraper's role to; the in-cluster layer binds "
        "it to the collector's read-only ClusterRole. Default: mlinfra-metrics-collector.",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags. Default: none.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        parsed = yaml.safe_load(self.scrape_configuration)
        if not isinstance(parsed, dict) or not parsed.get("scrape_configs"):
            raise ValueError("scrape_configuration has no 'scrape_configs'; pass a Prometheus configuration, e.g. "
                             "kubernetes.monitoring.collector_scrape_config(...)")
        if self.collector_user.startswith("system:"):
            raise ValueError(f"collector_user {self.collector_user!r}: EKS access entries cannot use 'system:' names; "
                             "use a plain user name such as mlinfra-metrics-collector")
        bad = [p for p in self.ports if not 1 <= p <= 65535]
        if bad:
            raise ValueError(f"ports {bad} are not TCP ports; use 1-65535")
        return self


class AmpScraper(Component):
    """An Amazon Managed Prometheus managed collector scraping one EKS cluster into the platform's workspace.

    The scraper runs in AWS and reaches the cluster through network interfaces in the private subnets; it
    authenticates to Kubernetes as its own IAM role (created by AMP), which an access entry maps to
    ``collector_user``. Secure defaults: the access entry carries no EKS access policy, so the user holds only the
    read-only RBAC the in-cluster monitoring layer binds to it (discover pods and nodes, read kubelet metrics,
    GET /metrics; see :func:`~mlinfra.components.kubernetes.monitoring.collector_rules`); the scraper's
    interfaces sit in a security group of their own that may open only ``ports`` and only towards the cluster
    security group, which admits it on those ports (rather than joining the cluster security group, which would
    open every port both ways); scraped data goes to the workspace inside AWS, never over the internet.
    Outputs: ``scraper_arn``, ``role_arn``, ``security_group_id``.
    """

    scraper_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: AmpScraperArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:aws:AmpScraper", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags or None
        # No inline rules: the provider then removes AWS's default allow-all egress, and the rules below are all.
        group = aws.ec2.SecurityGroup(
            f"{name}-sg", name=f"{args.alias}-amp-scraper"[:255], vpc_id=args.vpc_id,
            description=f"Amazon Managed Prometheus scraper of {args.alias}: cluster metrics ports only",
            region=args.region, tags={**args.tags, "Name": f"{args.alias}-amp-scraper"}, opts=child,
        )
        rules: list[pulumi.Resource] = []
        for port in sorted(set(args.ports)):
            rules.append(aws.vpc.SecurityGroupEgressRule(
                f"{name}-to-cluster-{port}", security_group_id=group.id,
                referenced_security_group_id=args.cluster_security_group_id, ip_protocol="tcp", from_port=port,
                to_port=port, description=f"Scrape the cluster on {port}", region=args.region, opts=child,
            ))
            rules.append(aws.vpc.SecurityGroupIngressRule(
                f"{name}-from-scraper-{port}", security_group_id=args.cluster_security_group_id,
                referenced_security_group_id=group.id, ip_protocol="tcp", from_port=port, to_port=port,
                description=f"Amazon Managed Prometheus scraper on {port}", region=args.region, opts=child,
            ))
        scraper = aws.amp.Scraper(
            f"{name}-scraper", alias=args.alias,
            source={"eks": {"cluster_arn": args.cluster_arn, "subnet_ids": args.subnet_ids,
                            "security_group_ids": [group.id]}},
            destination={"amp": {"workspace_arn": args.workspace_arn}},
            scrape_configuration=args.scrape_configuration, region=args.region, tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=rules),
        )
        aws.eks.AccessEntry(
            f"{name}-access", cluster_name=args.cluster_name,
            principal_arn=scraper.role_arn.apply(access_entry_principal), type="STANDARD",
            user_name=args.collector_user, region=args.region, tags=tags, opts=child,
        )
        self.scraper = scraper
        self.scraper_arn = scraper.arn
        self.role_arn = scraper.role_arn
        self.security_group_id = group.id
        self.register_outputs({"scraper_arn": self.scraper_arn, "role_arn": self.role_arn,
                               "security_group_id": self.security_group_id})
