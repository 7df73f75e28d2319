"""Project logging for the environment: retention of the default log bucket and data-access audit logs."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components.base import Component

AUDITED_SERVICES: tuple[str, ...] = ("storage.googleapis.com", "bigquery.googleapis.com", "cloudkms.googleapis.com")


class ProjectLoggingArgs(BaseModel):
    """Inputs of :class:`ProjectLogging`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    project: str = Field(description="GCP project id. Required.")
    retention_days: int = Field(default=30, ge=1, le=3650, description="Retention of the _Default bucket. Default: 30.")
    audit_services: tuple[str, ...] = Field(
        default=AUDITED_SERVICES,
        description="Services whose ADMIN_READ, DATA_READ and DATA_WRITE audit logs are on. Default: Cloud "
        "Storage, BigQuery and Cloud KMS (the data stores and their keys). Empty turns audit configs off.",
    )


class ProjectLogging(Component):
    """Retention on the project's ``_Default`` log bucket and data-access audit logs for the data services.

    Secure defaults: data reads and writes on buckets, datasets and keys are audited (GCP leaves data-access
    logs off unless asked). Both settings are project-wide, so one environment per project should own them.
    """

    audited_services: pulumi.Output[list[str]]

    def __init__(self, name: str, args: ProjectLoggingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:gcp:ProjectLogging", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        gcp.logging.ProjectBucketConfig(
            f"{name}-default-bucket", project=args.project, location="global", bucket_id="_Default",
            retention_days=args.retention_days, opts=child,
        )
        for service in args.audit_services:
            gcp.projects.IAMAuditConfig(
                f"{name}-audit-{service.split('.')[0]}", project=args.project, service=service,
                audit_log_configs=[{"log_type": t} for t in ("ADMIN_READ", "DATA_READ", "DATA_WRITE")],
                opts=child,
            )
        self.audited_services = pulumi.Output.from_input(list(args.audit_services))
        self.register_outputs({"audited_services": self.audited_services})
