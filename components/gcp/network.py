"""The private network: custom-mode VPC, one subnet per cluster, NAT, and a deny-by-default firewall."""

from __future__ import annotations

import ipaddress
from typing import Final

import pulumi
import pulumi_gcp as gcp
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components.base import Component

# Google front ends that send load-balancer health checks.
HEALTH_CHECK_RANGES: Final[tuple[str, ...]] = ("35.191.0.0/16", "130.211.0.0/22")


class SubnetRanges(BaseModel):
    """The address ranges one cluster gets, carved from the network's ranges."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cluster: str = Field(description="Cluster name the subnet serves. Required.")
    nodes: ipaddress.IPv4Network = Field(description="Primary (node) range, a /20. Required.")
    pods: ipaddress.IPv4Network = Field(description="Pods secondary range, a /14. Required.")
    services: ipaddress.IPv4Network = Field(description="Services secondary range, a /20. Required.")
    control_plane: ipaddress.IPv4Network = Field(description="Private control-plane range, a /28. Required.")

    @property
    def pods_range_name(self) -> str:
        """Name of the pods secondary range."""
        return f"{self.cluster}-pods"

    @property
    def services_range_name(self) -> str:
        """Name of the services secondary range."""
        return f"{self.cluster}-services"


def carve(clusters: list[str], cidr: ipaddress.IPv4Network, pods: ipaddress.IPv4Network,
          services: ipaddress.IPv4Network, control_plane: ipaddress.IPv4Network) -> list[SubnetRanges]:
    """Cluster i gets the i-th /20 of ``cidr``, /14 of ``pods``, /20 of ``services``, /28 of ``control_plane``."""
    node_nets = cidr.subnets(new_prefix=20)
    pod_nets = pods.subnets(new_prefix=14)
    svc_nets = services.subnets(new_prefix=20)
    cp_nets = control_plane.subnets(new_prefix=28)
    return [SubnetRanges(cluster=c, nodes=next(node_nets), pods=next(pod_nets), services=next(svc_nets),
                         control_plane=next(cp_nets)) for c in clusters]


class GcpNetworkArgs(BaseModel):
    """Inputs of :class:`GcpNetwork`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    project: str = Field(description="GCP project id. Required.")
    region: str = Field(description="Region of the subnets, router and NAT. Required.")
    network_name: str = Field(description="Physical VPC name (1-63 characters). Required.")
    subnets: list[SubnetRanges] = Field(description="One subnet per cluster, see :func:`carve`. Required.")
    flow_logs: bool = Field(default=True, description="VPC flow logs on every subnet. Default: on.")
    flow_logs_sampling: float = Field(default=0.5, gt=0, le=1, description="Flow log sampling. Default: 0.5.")
    nat: bool = Field(default=True, description="Cloud Router + Cloud NAT for private nodes. Default: on.")


class GcpNetwork(Component):
    """A custom-mode VPC with private subnets, Cloud NAT and a deny-all-ingress baseline.

    Secure defaults: no auto-created subnets; nodes have no public IPs and reach Google APIs through
    Private Google Access and the internet only through NAT (errors logged); flow logs on; ingress is
    denied (and logged) unless it comes from inside the VPC's own ranges or from Google's load-balancer
    health checkers. SSH through IAP (35.235.240.0/20) is deliberately *not* opened: GKE nodes are
    replaced, not logged into; debug with ``kubectl debug`` instead. Default routes are kept because NAT and
    Private Google Access route through the default internet gateway. The project's auto-created
    "default" network is not ours to manage: remove it and prevent its return with the org policy
    ``compute.skipDefaultNetworkCreation``.
    """

    network_id: pulumi.Output[str]
    network_self_link: pulumi.Output[str]
    subnet_ids: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: GcpNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:gcp:GcpNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.ranges = {s.cluster: s for s in args.subnets}
        vpc = gcp.compute.Network(
            f"{name}-vpc", name=args.network_name, project=args.project, auto_create_subnetworks=False,
            routing_mode="REGIONAL", delete_default_routes_on_create=False, opts=child,
        )
        self.network_id = vpc.id
        self.network_self_link = vpc.self_link
        self.subnets: dict[str, gcp.compute.Subnetwork] = {}
        for s in args.subnets:
            self.subnets[s.cluster] = gcp.compute.Subnetwork(
                f"{name}-{s.cluster}",
                name=f"{args.network_name}-{s.cluster}"[:63],
                project=args.project,
                region=args.region,
                network=vpc.id,
                ip_cidr_range=str(s.nodes),
                private_ip_google_access=True,
                secondary_ip_ranges=[
                    {"range_name": s.pods_range_name, "ip_cidr_range": str(s.pods)},
                    {"range_name": s.services_range_name, "ip_cidr_range": str(s.services)},
                ],
                log_config={"aggregation_interval": "INTERVAL_5_SEC", "flow_sampling": args.flow_logs_sampling,
                            "metadata": "INCLUDE_ALL_METADATA"} if args.flow_logs else None,
                opts=child,
            )
        self.subnet_ids = {c: sub.id for c, sub in self.subnets.items()}
        if args.nat:
            router = gcp.compute.Router(f"{name}-router", name=f"{args.network_name}-router"[:63],
                                        project=args.project, region=args.region, network=vpc.id, opts=child)
            gcp.compute.RouterNat(
                f"{name}-nat", name=f"{args.network_name}-nat"[:63], project=args.project, region=args.region,
                router=router.name, nat_ip_allocate_option="AUTO_ONLY",
                source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
                log_config={"enable": True, "filter": "ERRORS_ONLY"}, opts=child,
            )
        internal = sorted({str(r) for s in args.subnets for r in (s.nodes, s.pods, s.services)})
        gcp.compute.Firewall(
            f"{name}-deny-ingress", name=f"{args.network_name}-deny-ingress"[:63], project=args.project,
            network=vpc.id, direction="INGRESS", priority=65534, source_ranges=["0.0.0.0/0"],
            denies=[{"protocol": "all"}], log_config={"metadata": "INCLUDE_ALL_METADATA"}, opts=child,
        )
        gcp.compute.Firewall(
            f"{name}-allow-internal", name=f"{args.network_name}-allow-internal"[:63], project=args.project,
            network=vpc.id, direction="INGRESS", priority=1000, source_ranges=internal,
            allows=[{"protocol": "all"}], opts=child,
        )
        gcp.compute.Firewall(
            f"{name}-allow-health-checks", name=f"{args.network_name}-allow-health-checks"[:63],
            project=args.project, network=vpc.id, direction="INGRESS", priority=1000,
            source_ranges=list(HEALTH_CHECK_RANGES), allows=[{"protocol": "tcp"}], opts=child,
        )
        self.register_outputs({"network_id": self.network_id, "network_self_link": self.network_self_link,
                               **{f"subnet_{c}": i for c, i in self.subnet_ids.items()}})
