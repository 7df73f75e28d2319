"""Who may do what: teams with their grants, and policy waivers."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from mlinfra.stacks.config.base import Name, StrictModel

PolicyLevel = Literal["mandatory", "advisory", "disabled"]
BucketAccess = Literal["read", "write", "admin"]
DatasetAccess = Literal["read", "write", "admin"]
TopicAccess = Literal["publish", "subscribe", "admin"]


class TeamConfig(StrictModel):
    """A team: its workload identity, Kubernetes namespace and least-privilege grants."""

    name: Name = Field(description="Team name; also its namespace and workload identity name. Required.")
    members: list[str] = Field(
        default_factory=list,
        description="Human principals of the team ('group:ml@example.com', 'user:a@example.com'); granted "
        "namespace access. Default: none.",
    )
    buckets: dict[Name, BucketAccess] = Field(
        default_factory=dict,
        description="Bucket name → 'read' | 'write' | 'admin' for the team's workloads. A grant on a "
        "CMEK bucket includes use of its key. Default: no access.",
    )
    datasets: dict[Name, DatasetAccess] = Field(
        default_factory=dict, description="Dataset name → 'read' | 'write' | 'admin'. Default: no access."
    )
    topics: dict[Name, TopicAccess] = Field(
        default_factory=dict,
        description="Topic name → 'publish' | 'subscribe' (its subscriptions) | 'admin'. Default: no access.",
    )


class IamConfig(StrictModel):
    """Identity and access section."""

    admins: list[str] = Field(
        default_factory=list,
        description="Principals who administer the clusters (GKE: roles/container.clusterAdmin; EKS: a "
        "cluster-admin access entry). Default: none; on EKS nobody, not even the deployer, gets implicit "
        "admin, so list the role that runs deployments.",
    )
    teams: list[TeamConfig] = Field(default_factory=list, description="Teams. Default: none.")


class Waiver(StrictModel):
    """An accepted exception to one policy on one resource, with an owner and an expiry date."""

    policy: str = Field(min_length=3, description="Policy id, e.g. 'gcp-storage-bucket-versioning'. Required.")
    resource: str = Field(
        min_length=1, description="Logical resource name (or URN) the waiver covers; '*' for all. Required."
    )
    reason: str = Field(min_length=10, description="Why the exception is acceptable. Required.")
    owner: str = Field(min_length=3, description="Who answers for it (e-mail or team). Required.")
    expires: dt.date = Field(description="Last day the waiver holds (YYYY-MM-DD); expired waivers fail checks.")


class PoliciesConfig(StrictModel):
    """How strictly this environment enforces the policy catalog (``mlinfra policy list``)."""

    enforcement: Literal["catalog", "advisory", "mandatory"] = Field(
        default="catalog",
        description="'catalog': each rule's own default level; 'advisory': report every finding without "
        "failing (e.g. dev); 'mandatory': every enabled rule blocks (e.g. prod). Rules disabled by default "
        "stay disabled. Default: catalog.",
    )
    rules: dict[str, PolicyLevel] = Field(
        default_factory=dict,
        description="Policy id → 'mandatory' | 'advisory' | 'disabled', overriding 'enforcement' for one rule. "
        "Default: none.",
    )


class ExtensionConfig(StrictModel):
    """A custom component from an installed extension package (entry point group ``mlinfra.components``)."""

    component: str = Field(min_length=1, description="Entry point name of the component, e.g. 'audit-archive'. "
                           "Required.")
    name: Name = Field(description="Name of this instance; prefixed with the environment name. Required.")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="The component's own Args (validated against it). Default: none."
    )
