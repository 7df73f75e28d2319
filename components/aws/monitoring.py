"""Monitoring on AWS: a Managed Prometheus workspace and the platform's CloudWatch log group, both on our key."""

from __future__ import annotations

from typing import Final, Self

import pulumi
import pulumi_aws as aws
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlinfra.components.aws.kms import AwsKmsKey
from mlinfra.components.base import Component

RULE_NAMESPACE: Final = "mlinfra-alerts"
# The only retention periods CloudWatch Logs accepts.
LOG_RETENTION_DAYS: Final[tuple[int, ...]] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)


class AwsMonitoringArgs(BaseModel):
    """Inputs of :class:`AwsMonitoring`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    region: str = Field(min_length=1, description="Region of the workspace and log group. Required.")
    key: AwsKmsKey = Field(description="The logs key (same region) encrypting the workspace and log group. Required.")
    workspace_alias: str = Field(
        min_length=1, max_length=100, description="Alias of the Prometheus workspace (the environment name). Required."
    )
    log_group_name: str = Field(
        min_length=1, max_length=512,
        description="Name of the platform log group, '/mlinfra/{env}/platform' (names.platform_log_group). Required.",
    )
    log_retention_days: int = Field(
        default=30,
        description="Days log events are kept; one of CloudWatch's periods (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, "
        "180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653). Default: 30.",
    )
    managed_prometheus: bool = Field(
        default=True, description="Create the Managed Prometheus workspace. Default: on."
    )
    rule_file: str | None = Field(
        default=None, min_length=1,
        description="A Prometheus rule file (YAML with 'groups'), loaded into the workspace as the rule group "
        "namespace 'mlinfra-alerts': one per workspace, shared by every cluster writing to it. Needs "
        "managed_prometheus. Default: none.",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags. Default: none.")
    protect: bool = Field(
        default=False,
        description="Pulumi-protect the workspace and log group and turn on the log group's own deletion protection. "
        "Default: off.",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.rule_file is not None:
            parsed = yaml.safe_load(self.rule_file)
            if not isinstance(parsed, dict) or not parsed.get("groups"):
                raise ValueError("rule_file is not a Prometheus rule file: it needs a top-level 'groups' list (see "
                                 "kubernetes.monitoring.prometheus_rule_file)")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            nearest = min(LOG_RETENTION_DAYS, key=lambda d: (abs(d - self.log_retention_days), -d))
            raise ValueError(f"CloudWatch Logs cannot keep logs {self.log_retention_days} days; use one of "
                             f"{LOG_RETENTION_DAYS} (nearest: {nearest})")
        if self.rule_file is not None and not self.managed_prometheus:
            raise ValueError("rule_file is evaluated by the Managed Prometheus workspace, which managed_prometheus "
                             "turns off; turn it on or drop rule_file")
        if self.key.region != self.region:
            raise ValueError(f"monitoring is in {self.region} but its key in {self.key.region}; pass a logs key "
                             "created in that region")
        return self


class AwsMonitoring(Component):
    """An Amazon Managed Prometheus workspace and a CloudWatch log group for platform and application logs.

    Secure defaults: the workspace and the log group are encrypted with the logs key (whose key policy lets
    CloudWatch Logs use it for this account's log groups only); logs are kept ``log_retention_days``, never
    forever; in prod (``protect``) both are Pulumi-protected and the log group's deletion protection is on. The
    EKS control-plane log group is created by the EKS component itself (its name is fixed by EKS). With
    ``rule_file``, the workspace evaluates the platform's alert rules (a rule group namespace); each cluster's
    metrics arrive through its own :class:`~mlinfra.components.aws.prometheus_scraper.AmpScraper`.
    """

    workspace_arn: pulumi.Output[str] | None
    prometheus_endpoint: pulumi.Output[str] | None
    log_group_names: dict[str, pulumi.Output[str]]
    log_group_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: AwsMonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:aws:AwsMonitoring", name, None, opts)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        self.workspace: aws.amp.Workspace | None = None
        self.workspace_arn = None
        self.prometheus_endpoint = None
        if args.managed_prometheus:
            self.workspace = aws.amp.Workspace(
                f"{name}-prometheus", alias=args.workspace_alias, kms_key_arn=args.key.arn, region=args.region,
                tags=args.tags, opts=stateful,
            )
            self.workspace_arn = self.workspace.arn
            self.prometheus_endpoint = self.workspace.prometheus_endpoint
            if args.rule_file is not None:
                aws.amp.RuleGroupNamespace(
                    f"{name}-alert-rules", name=RULE_NAMESPACE, workspace_id=self.workspace.id, data=args.rule_file,
                    region=args.region, tags=args.tags, opts=pulumi.ResourceOptions(parent=self),
                )
        platform = aws.cloudwatch.LogGroup(
            f"{name}-platform-logs", name=args.log_group_name, retention_in_days=args.log_retention_days,
            kms_key_id=args.key.arn, log_group_class="STANDARD", deletion_protection_enabled=args.protect,
            region=args.region, tags=args.tags, opts=stateful,
        )
        self.log_groups = {"platform": platform}
        self.log_group_names = {k: g.name for k, g in self.log_groups.items()}
        self.log_group_arns = {k: g.arn for k, g in self.log_groups.items()}
        outputs: dict[str, pulumi.Output[str]] = {"log_group_platform": platform.name}
        if self.workspace is not None:
            outputs.update(workspace_arn=self.workspace.arn, prometheus_endpoint=self.workspace.prometheus_endpoint)
        self.register_outputs(outputs)
