"""The Google APIs the platform uses, enabled on the project before anything else is created."""

from __future__ import annotations

from typing import Final

import pulumi
import pulumi_gcp as gcp
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components.base import Component
from mlinfra.components.ordering import wait_for

# Every API a resource or lookup of the GCP target calls, with the component that needs it.
PLATFORM_SERVICES: Final[tuple[str, ...]] = (
    "serviceusage.googleapis.com",          # enabling the others
    "cloudresourcemanager.googleapis.com",  # project lookup, project IAM members, audit configs
    "iam.googleapis.com",                   # service accounts and their IAM
    "iamcredentials.googleapis.com",        # Workload Identity token exchange for team service accounts
    "compute.googleapis.com",               # VPC, subnets, router/NAT, firewalls, node VMs and disks
    "container.googleapis.com",             # GKE clusters and node pools
    "cloudkms.googleapis.com",              # key rings, keys and their IAM
    "storage.googleapis.com",               # buckets and notifications
    "pubsub.googleapis.com",                # topics and subscriptions
    "bigquery.googleapis.com",              # datasets and the BigQuery encryption agent lookup
    "logging.googleapis.com",               # _Default bucket retention, node and cluster logs
    "monitoring.googleapis.com",            # cluster metrics and Managed Prometheus
    "binaryauthorization.googleapis.com",   # clusters enforce the project's Binary Authorization policy
    "containersecurity.googleapis.com",     # GKE security posture and vulnerability scanning
    "artifactregistry.googleapis.com",      # nodes pull images (node SA has artifactregistry.reader)
)


class ProjectServicesArgs(BaseModel):
    """Inputs of :class:`ProjectServices`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    project: str = Field(description="GCP project id. Required.")
    services: tuple[str, ...] = Field(
        default=PLATFORM_SERVICES,
        description="API service names to enable. Default: every API the GCP target uses (PLATFORM_SERVICES).",
    )


class ProjectServices(Component):
    """Enables the Google APIs the platform needs; every other resource of the environment waits for it.

    Safe defaults: destroying the environment never turns an API off (``disable_on_destroy`` off), since
    other environments or tools in the project may use it, and enabling never cascades into disabling
    dependants (``disable_dependent_services`` off). Outputs: ``enabled_services`` (the service names);
    ``resources`` holds the ``gcp.projects.Service`` resources for ``depends_on``.
    """

    enabled_services: pulumi.Output[list[str]]

    def __init__(self, name: str, args: ProjectServicesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:gcp:ProjectServices", name, None, opts)
        self.resources: list[gcp.projects.Service] = [
            gcp.projects.Service(
                f"{name}-{service.split('.')[0]}", project=args.project, service=service,
                disable_on_destroy=False, disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for service in args.services
        ]
        self.enabled_services = pulumi.Output.all(*[s.service for s in self.resources])
        self.register_outputs({"enabled_services": self.enabled_services})

    def waits_for_apis(self, args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult:
        """A resource transformation adding ``depends_on`` on every enabled API.

        Give it to a component as ``transformations=[services.waits_for_apis]``: transformations are inherited
        by children, so every resource created under the component (custom or not) waits for the APIs.
        """
        return wait_for(self.resources)(args)
