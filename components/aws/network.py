"""The private network on AWS: a VPC across availability zones, NAT, VPC endpoints, flow logs, closed default SG."""

from __future__ import annotations

import ipaddress
from typing import Any, Final, Self

import pulumi
import pulumi_aws as aws
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlinfra.components.aws.iam import role_name
from mlinfra.components.base import Component

# Retention values CloudWatch Logs accepts.
LOG_RETENTION_DAYS: Final[tuple[int, ...]] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)
# Interface endpoints private nodes need without NAT: image pulls (ECR API + Docker registry), Pod Identity
# credentials (eks-auth), STS, KMS, CloudWatch Logs, and EC2 (the VPC CNI and node bootstrap describe instances).
DEFAULT_INTERFACE_ENDPOINTS: Final[tuple[str, ...]] = ("ecr.api", "ecr.dkr", "sts", "kms", "logs", "ec2", "eks-auth")
MAX_AZS: Final[int] = 3


def carve_subnets(cidr: ipaddress.IPv4Network, az_count: int) -> tuple[list[ipaddress.IPv4Network],
                                                                       list[ipaddress.IPv4Network]]:
    """Private and public subnets for ``az_count`` zones: the VPC splits into quarters; zone i's private
    subnet is quarter i (pods take VPC addresses with the VPC CNI, so private subnets are large), and the
    public subnets (load balancers and NAT only) are sixteenths carved from the last quarter.

    A /16 gives private /18s (16,379 addresses) and public /20s.
    """
    quarters = list(cidr.subnets(prefixlen_diff=2))
    public = list(quarters[3].subnets(prefixlen_diff=2))
    return quarters[:az_count], public[:az_count]


def check_retention(days: int) -> int:
    """``days`` if CloudWatch Logs accepts it, else ``ValueError`` listing the accepted values."""
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"CloudWatch Logs retention must be one of {', '.join(map(str, LOG_RETENTION_DAYS))} "
                         f"days, not {days}")
    return days


class AwsNetworkArgs(BaseModel):
    """Inputs of :class:`AwsNetwork`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    network_name: str = Field(min_length=1, max_length=200,
                              description="Name prefix for the VPC's Name tags, log group and roles. Required.")
    region: str = Field(description="The provider's region; names the endpoint services. Required.")
    cidr: ipaddress.IPv4Network = Field(
        description="VPC address space, /16 to /20; split per :func:`carve_subnets`. Required."
    )
    az_count: int = Field(
        default=3, ge=2, le=MAX_AZS,
        description="Availability zones spanned (the first available, non-opt-in zones). Default: 3.",
    )
    zones: list[str] = Field(
        default_factory=list,
        description="Exact availability zones to use (their number overrides az_count). Default: none, the "
        "first az_count available zones that need no opt-in.",
    )
    nat: bool = Field(
        default=True,
        description="NAT gateways for outbound internet traffic from private subnets. Default: on (public "
        "registries need it); off leaves only the VPC endpoints.",
    )
    nat_per_az: bool = Field(
        default=True,
        description="One NAT gateway per zone, so a zone outage does not cut egress for the others. "
        "Default: on; off uses a single NAT gateway (cheaper, for dev).",
    )
    interface_endpoints: list[str] = Field(
        default_factory=lambda: list(DEFAULT_INTERFACE_ENDPOINTS),
        description="Interface endpoint services (suffix of com.amazonaws.{region}.X), private DNS on, reachable "
        "on 443 from the VPC only. Default: ecr.api, ecr.dkr, sts, kms, logs, ec2, eks-auth. The S3 gateway "
        "endpoint is always created.",
    )
    flow_logs: bool = Field(default=True, description="VPC flow logs (all traffic) to CloudWatch Logs. Default: on.")
    flow_logs_retention_days: int = Field(
        default=365, description="Flow log retention, a CloudWatch Logs value. Default: 365 days."
    )
    logs_key_arn: Any = Field(
        description="ARN (Input[str]) of the KMS key encrypting the flow log group; its policy must allow "
        "logs.{region}.amazonaws.com. Required.",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Tags on every resource. Default: none.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not 16 <= self.cidr.prefixlen <= 20:
            raise ValueError(f"network.cidr {self.cidr} must be a /16 to /20 (AWS VPCs are /16 at most)")
        check_retention(self.flow_logs_retention_days)
        return self


class AwsNetwork(Component):
    """A VPC for EKS across at least two availability zones, private by default.

    Secure defaults: nodes live in private subnets (no public IPs, egress through NAT); public subnets hold
    only NAT gateways and load balancers and do not assign public IPs on launch either; S3 is reached
    through a gateway endpoint and ECR, STS, KMS, CloudWatch Logs, EC2 and EKS Auth through interface
    endpoints with private DNS, whose security group admits only HTTPS from the VPC CIDR and has no egress;
    flow logs record all traffic into a log group encrypted with the logs key, delivered by a role that can
    only write that group and that only the flow-logs service of this account may assume; the VPC's
    default security group is taken over with no rules, so anything that falls back to it is isolated.
    Subnets carry the ``kubernetes.io/role/elb`` / ``internal-elb`` tags the AWS Load Balancer Controller
    looks for. Outputs: ``vpc_id``, ``private_subnet_ids``, ``public_subnet_ids``,
    ``endpoint_security_group_id``.
    """

    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    private_subnet_ids: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]
    endpoint_security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: AwsNetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:aws:AwsNetwork", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        net = args.network_name

        def tagged(label: str, **extra: str) -> dict[str, str]:
            return {**tags, "Name": label, **extra}

        zones = aws.get_availability_zones_output(
            state="available", filters=[{"name": "opt-in-status", "values": ["opt-in-not-required"]}],
            opts=pulumi.InvokeOutputOptions(parent=self),
        )
        vpc = aws.ec2.Vpc(f"{name}-vpc", cidr_block=str(args.cidr), enable_dns_support=True,
                          enable_dns_hostnames=True, tags=tagged(net), opts=child)
        self.vpc = vpc
        self.vpc_id = vpc.id
        self.vpc_cidr = str(args.cidr)
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[],
                                     tags=tagged(f"{net}-default-closed"), opts=child)
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tagged(net), opts=child)

        az_count = len(args.zones) or args.az_count
        private_nets, public_nets = carve_subnets(args.cidr, az_count)
        self.private_subnets: list[aws.ec2.Subnet] = []
        self.public_subnets: list[aws.ec2.Subnet] = []
        for i in range(az_count):
            az: pulumi.Input[str] = args.zones[i] if args.zones else zones.names[i]
            self.private_subnets.append(aws.ec2.Subnet(
                f"{name}-private-{i}", vpc_id=vpc.id, cidr_block=str(private_nets[i]), availability_zone=az,
                map_public_ip_on_launch=False,
                tags=tagged(f"{net}-private-{i}", **{"kubernetes.io/role/internal-elb": "1"}), opts=child,
            ))
            self.public_subnets.append(aws.ec2.Subnet(
                f"{name}-public-{i}", vpc_id=vpc.id, cidr_block=str(public_nets[i]), availability_zone=az,
                map_public_ip_on_launch=False,
                tags=tagged(f"{net}-public-{i}", **{"kubernetes.io/role/elb": "1"}), opts=child,
            ))

        public_rt = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id, tags=tagged(f"{net}-public"), opts=child)
        aws.ec2.Route(f"{name}-public-default", route_table_id=public_rt.id, destination_cidr_block="0.0.0.0/0",
                      gateway_id=igw.id, opts=child)
        for i, sub in enumerate(self.public_subnets):
            aws.ec2.RouteTableAssociation(f"{name}-public-{i}", subnet_id=sub.id, route_table_id=public_rt.id,
                                          opts=child)

        self.nat_gateways: list[aws.ec2.NatGateway] = []
        if args.nat:
            for i in range(az_count if args.nat_per_az else 1):
                eip = aws.ec2.Eip(f"{name}-nat-{i}", domain="vpc", tags=tagged(f"{net}-nat-{i}"), opts=child)
                self.nat_gateways.append(aws.ec2.NatGateway(
                    f"{name}-nat-{i}", allocation_id=eip.id, subnet_id=self.public_subnets[i].id,
                    connectivity_type="public", tags=tagged(f"{net}-nat-{i}"),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                ))
        private_rts: list[aws.ec2.RouteTable] = []
        for i, sub in enumerate(self.private_subnets):
            rt = aws.ec2.RouteTable(f"{name}-private-{i}", vpc_id=vpc.id, tags=tagged(f"{net}-private-{i}"),
                                    opts=child)
            private_rts.append(rt)
            aws.ec2.RouteTableAssociation(f"{name}-private-{i}", subnet_id=sub.id, route_table_id=rt.id, opts=child)
            if self.nat_gateways:
                nat = self.nat_gateways[i if args.nat_per_az else 0]
                aws.ec2.Route(f"{name}-private-{i}-default", route_table_id=rt.id,
                              destination_cidr_block="0.0.0.0/0", nat_gateway_id=nat.id, opts=child)

        # Endpoints: S3 through the route tables (free), the rest as interfaces in every private subnet.
        aws.ec2.VpcEndpoint(
            f"{name}-s3", vpc_id=vpc.id, service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway", route_table_ids=[rt.id for rt in private_rts], tags=tagged(f"{net}-s3"),
            opts=child,
        )
        endpoint_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints", name=f"{net}-endpoints"[:255], vpc_id=vpc.id,
            description="HTTPS from the VPC to interface endpoints",
            ingress=[{"protocol": "tcp", "from_port": 443, "to_port": 443, "cidr_blocks": [str(args.cidr)],
                      "description": "HTTPS from inside the VPC"}],
            egress=[], tags=tagged(f"{net}-endpoints"), opts=child,
        )
        self.endpoint_security_group_id = endpoint_sg.id
        private_ids = [s.id for s in self.private_subnets]
        for service in args.interface_endpoints:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}", vpc_id=vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface", private_dns_enabled=True, subnet_ids=private_ids,
                security_group_ids=[endpoint_sg.id], tags=tagged(f"{net}-{service}"), opts=child,
            )

        if args.flow_logs:
            self._flow_logs(name, args, vpc, tagged(f"{net}-flow-logs"))
        self.private_subnet_ids = pulumi.Output.all(*private_ids)
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in self.public_subnets])
        self.register_outputs({"vpc_id": self.vpc_id, "private_subnet_ids": self.private_subnet_ids,
                               "public_subnet_ids": self.public_subnet_ids,
                               "endpoint_security_group_id": self.endpoint_security_group_id})

    def _flow_logs(self, name: str, args: AwsNetworkArgs, vpc: aws.ec2.Vpc, tags: dict[str, str]) -> None:
        """Flow logs into an encrypted log group, through a role that can write only that group."""
        child = pulumi.ResourceOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        account = identity.account_id
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs", name=f"/aws/vpc/{args.network_name}/flow-logs",
            retention_in_days=args.flow_logs_retention_days, kms_key_id=args.logs_key_arn, tags=tags, opts=child,
        )
        trust = pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"}, "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account},
                "ArnLike": {"aws:SourceArn": pulumi.Output.concat(
                    "arn:aws:ec2:", args.region, ":", account, ":vpc-flow-log/*")},
            },
        }]})
        role = aws.iam.Role(f"{name}-flow-logs", name=role_name(f"{args.network_name}-flow-logs"),
                            assume_role_policy=trust, description="VPC flow logs delivery", tags=tags, opts=child)
        policy = aws.iam.RolePolicy(
            f"{name}-flow-logs", name="deliver-flow-logs", role=role.name,
            policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                 "Resource": [group.arn, pulumi.Output.concat(group.arn, ":*")]},
                {"Effect": "Allow", "Action": "logs:DescribeLogGroups",
                 "Resource": pulumi.Output.concat("arn:aws:logs:", args.region, ":", account, ":log-group:*")},
            ]}),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs", vpc_id=vpc.id, traffic_type="ALL", log_destination_type="cloud-watch-logs",
            log_destination=group.arn, iam_role_arn=role.arn, max_aggregation_interval=60, tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
