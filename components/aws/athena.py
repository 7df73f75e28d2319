"""The warehouse on AWS: an Athena workgroup over Glue catalog databases, one per dataset, data on S3.

Why Athena + Glue rather than Redshift Serverless as the default: it is serverless and pay-per-query
with no idle cost (Redshift Serverless bills a minimum RPU capacity whenever it runs and sits in a VPC
that needs subnets, security groups and sizing); there is no capacity to choose; and tables are files on
S3, so the data lake the platform already writes (Parquet, Iceberg) is queryable in place, encrypted with
our own key and governed by the same bucket policies and IAM grants as every other bucket.
"""

from __future__ import annotations

import re
from typing import Final, Self

import pulumi
import pulumi_aws as aws
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlinfra.components.aws import names, permissions
from mlinfra.components.aws.kms import AwsKmsKey
from mlinfra.components.aws.s3 import LifecycleRuleArgs, S3Bucket, S3BucketArgs
from mlinfra.components.base import Component

_GB: Final[int] = 1024**3
RESULTS_PREFIX: Final[str] = "athena-results/"
"""Results of the environment workgroup (operators); each team's workgroup writes under ``{team}/`` instead."""
TEAM_PATTERN: Final[str] = r"^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$"


class AthenaDatasetArgs(BaseModel):
    """One dataset: a Glue database whose tables live under ``s3://{data bucket}/{name}/``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        pattern=r"^[a-z][a-z0-9-]*$", description="Neutral dataset name; also its S3 prefix '{name}/'. Required."
    )
    database_name: str = Field(
        pattern=r"^[a-z0-9_]{1,255}$", description="Physical Glue database name (names.glue_database_name). Required."
    )
    description: str = Field(default="", description="Database description. Default: empty.")
    table_expiration_days: int | None = Field(
        default=None, ge=1,
        description="Days after which objects under the dataset's prefix expire (an S3 lifecycle rule): Athena has "
        "no table TTL, so this deletes the data files and leaves table definitions in the catalog. Default: never.",
    )


class AthenaWarehouseArgs(BaseModel):
    """Inputs of :class:`AthenaWarehouse`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    region: str = Field(min_length=1, description="Region of the workgroup, catalog and buckets. Required.")
    account_id: str = Field(pattern=r"^\d{12}$", description="AWS account id (the Glue catalog id). Required.")
    key: AwsKmsKey = Field(
        description="The warehouse key (same region): data and results buckets, query results, catalog. Required."
    )
    workgroup_name: str = Field(
        pattern=r"^[A-Za-z0-9._-]{1,128}$",
        description="Physical name of the environment workgroup (names.workgroup_name), for operators; team "
        "workgroups are named '{workgroup_name}-{team}'. Required.",
    )
    teams: list[str] = Field(
        default_factory=list,
        description="Teams that query the warehouse: one enforced workgroup each, '{workgroup_name}-{team}', whose "
        "results go to 's3://{results bucket}/{team}/'. Grant helpers take the team as 'grantee' and grant only "
        "its workgroup and results prefix. Default: none (only the environment workgroup).",
    )
    data_bucket_name: str = Field(description="Physical name of the bucket holding table data. Required.")
    results_bucket_name: str = Field(description="Physical name of the query results bucket. Required.")
    datasets: list[AthenaDatasetArgs] = Field(default_factory=list, description="Datasets. Default: none.")
    scan_limit_per_query_gb: int = Field(
        default=1024, ge=1,
        description="Data a single query may scan before Athena cancels it (bytes_scanned_cutoff_per_query), in GiB. "
        "Default: 1024 (1 TiB, about USD 5 per query at list price), a runaway-cost guard.",
    )
    results_retention_days: int = Field(
        default=30, ge=1, description="Days query results are kept before expiring. Default: 30."
    )
    noncurrent_version_days: int = Field(
        default=30, ge=1,
        description="Days overwritten or deleted table files stay recoverable in the data bucket. Default: 30.",
    )
    publish_cloudwatch_metrics: bool = Field(
        default=True, description="Publish per-query metrics to CloudWatch. Default: on."
    )
    manage_catalog_encryption: bool = Field(
        default=True,
        description="Encrypt the Glue Data Catalog (metadata and connection passwords) with the warehouse key. "
        "The setting is account-wide per region: turn it off when another stack owns it. Default: on.",
    )
    force_destroy: bool = Field(
        default=False, description="Allow destroying buckets with objects and the workgroup with queries. Default: off."
    )
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags. Default: none.")
    protect: bool = Field(default=False, description="Pulumi-protect buckets, databases and workgroup. Default: off.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        seen = [d.name for d in self.datasets]
        if len(seen) != len(set(seen)):
            raise ValueError(f"duplicate dataset names in {seen}; each dataset needs its own prefix")
        if len(self.teams) != len(set(self.teams)):
            raise ValueError(f"duplicate teams in {self.teams}; each team has one workgroup")
        for team in self.teams:
            if not re.match(TEAM_PATTERN, team):
                raise ValueError(f"team {team!r} is not a team name (lowercase letters, digits and '-', at most 30)")
            if f"{team}/" == RESULTS_PREFIX:
                raise ValueError(f"team {team!r} would share the environment workgroup's results prefix; rename it")
        return self


class AthenaWarehouse(Component):
    """Enforced Athena workgroups (one per team), a KMS-encrypted results bucket, a data bucket and Glue databases.

    Secure defaults: every workgroup's configuration is enforced (clients cannot choose another result location
    or turn encryption off); results are written SSE_KMS with the warehouse key into a dedicated private bucket and
    expire after ``results_retention_days``; a per-query scan limit guards cost; engine version AUTO; both buckets
    are :class:`S3Bucket` (SSE-KMS, no public access, TLS only, versioned); the Glue Data Catalog is encrypted
    with the warehouse key when ``manage_catalog_encryption``; buckets, databases and workgroups are
    Pulumi-protected when ``protect``.

    Query results are isolated per team. Athena writes a query's results under its workgroup's output location,
    and with ``enforce_workgroup_configuration`` a caller cannot pick a sub-prefix (the client-side output
    location is ignored), so one shared workgroup would put every team's results under one prefix that every
    querying team must be able to read — results of datasets it has no grant on. Hence each team in ``teams`` gets
    its own workgroup ``{workgroup_name}-{team}`` writing to ``s3://{results bucket}/{team}/``, and the grant
    helpers (:meth:`read_statements`, :meth:`write_statements`, :meth:`admin_statements`, per dataset, with
    ``grantee=team``) allow only that workgroup and that prefix. The environment workgroup ``workgroup_name``
    (results under ``athena-results/``) stays for operators; no grant helper names it.
    """

    workgroup_name: pulumi.Output[str]
    workgroup_arn: pulumi.Output[str]
    results_location: str
    team_workgroup_names: dict[str, pulumi.Output[str]]
    team_workgroup_arns: dict[str, pulumi.Output[str]]
    team_results_locations: dict[str, str]
    database_names: dict[str, pulumi.Output[str]]
    data_bucket_name: pulumi.Output[str]
    results_bucket_name: pulumi.Output[str]

    def __init__(self, name: str, args: AthenaWarehouseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:aws:AthenaWarehouse", name, None, opts)
        self._args = args
        region = args.region
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        expirations = [
            LifecycleRuleArgs(after_days=d.table_expiration_days, action="delete", prefixes=[f"{d.name}/"])
            for d in args.datasets if d.table_expiration_days
        ]
        self.data_bucket = S3Bucket(f"{name}-data", S3BucketArgs(
            bucket_name=args.data_bucket_name, region=region, key=args.key,
            lifecycle=[*expirations, LifecycleRuleArgs(after_days=args.noncurrent_version_days, action="delete",
                                                       noncurrent_only=True)],
            force_destroy=args.force_destroy, tags=args.tags, protect=args.protect,
        ), child)
        self.results_bucket = S3Bucket(f"{name}-results", S3BucketArgs(
            bucket_name=args.results_bucket_name, region=region, key=args.key,
            lifecycle=[LifecycleRuleArgs(after_days=args.results_retention_days, action="delete"),
                       LifecycleRuleArgs(after_days=1, action="delete", noncurrent_only=True)],
            force_destroy=args.force_destroy, tags=args.tags, protect=args.protect,
        ), child)
        self.results_location = f"s3://{args.results_bucket_name}/{RESULTS_PREFIX}"
        workgroup = self._workgroup(f"{name}-workgroup", args.workgroup_name, self.results_location)
        self.workgroup = workgroup
        self.workgroup_name = workgroup.name
        self.workgroup_arn = workgroup.arn
        self.team_workgroups: dict[str, aws.athena.Workgroup] = {}
        self.team_results_locations: dict[str, str] = {}
        for team in args.teams:
            self.team_results_locations[team] = f"s3://{args.results_bucket_name}/{team}/"
            self.team_workgroups[team] = self._workgroup(
                f"{name}-{team}-workgroup", team_workgroup_name(args.workgroup_name, team),
                self.team_results_locations[team])
        self.team_workgroup_names = {t: w.name for t, w in self.team_workgroups.items()}
        self.team_workgroup_arns = {t: w.arn for t, w in self.team_workgroups.items()}
        catalog_encryption: list[pulumi.Resource] = []
        if args.manage_catalog_encryption:
            catalog_encryption.append(aws.glue.DataCatalogEncryptionSettings(
                f"{name}-catalog-encryption", catalog_id=args.account_id, region=region,
                data_catalog_encryption_settings={
                    "encryption_at_rest": {"catalog_encryption_mode": "SSE-KMS", "sse_aws_kms_key_id": args.key.arn},
                    "connection_password_encryption": {"return_connection_password_encrypted": True,
                                                       "aws_kms_key_id": args.key.arn},
                },
                opts=child,
            ))
        self.databases: dict[str, aws.glue.CatalogDatabase] = {}
        for ds in args.datasets:
            self.databases[ds.name] = aws.glue.CatalogDatabase(
                f"{name}-{ds.name}", name=ds.database_name, catalog_id=args.account_id, region=region,
                location_uri=f"s3://{args.data_bucket_name}/{ds.name}/", description=ds.description or None,
                tags=args.tags,
                opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=catalog_encryption)),
            )
        self.database_names = {n: d.name for n, d in self.databases.items()}
        self.data_bucket_name = self.data_bucket.bucket_name
        self.results_bucket_name = self.results_bucket.bucket_name
        # Statements shared by every dataset grant of one team, built once so repeated grants are the same objects
        # (same Outputs) and a team policy can drop the repeats (iam.compact_statements).
        self._query_grants: dict[str, list[permissions.Statement]] = {}
        self.register_outputs({
            "workgroup_name": self.workgroup_name, "workgroup_arn": self.workgroup_arn,
            "data_bucket_name": self.data_bucket_name, "results_bucket_name": self.results_bucket_name,
            **{f"database_{n.replace('-', '_')}": d for n, d in self.database_names.items()},
            **{f"workgroup_{t.replace('-', '_')}": w for t, w in self.team_workgroup_names.items()},
        })

    def _workgroup(self, resource_name: str, workgroup_name: str, output_location: str) -> aws.athena.Workgroup:
        a = self._args
        return aws.athena.Workgroup(
            resource_name, name=workgroup_name, region=a.region, state="ENABLED", force_destroy=a.force_destroy,
            configuration={
                "enforce_workgroup_configuration": True,
                "publish_cloudwatch_metrics_enabled": a.publish_cloudwatch_metrics,
                "bytes_scanned_cutoff_per_query": a.scan_limit_per_query_gb * _GB,
                "engine_version": {"selected_engine_version": "AUTO"},
                "result_configuration": {
                    "output_location": output_location,
                    "expected_bucket_owner": a.account_id,
                    "encryption_configuration": {"encryption_option": "SSE_KMS", "kms_key_arn": a.key.arn},
                },
            },
            tags=a.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=a.protect, depends_on=[self.results_bucket]),
        )

    def _dataset(self, dataset: str) -> AthenaDatasetArgs:
        for ds in self._args.datasets:
            if ds.name == dataset:
                return ds
        raise KeyError(f"no dataset {dataset!r} in the warehouse; it holds {[d.name for d in self._args.datasets]}")

    def _query_statements(self, grantee: str) -> list[permissions.Statement]:
        """Run queries in the grantee's workgroup, write and read its results prefix, use the warehouse key."""
        if grantee not in self.team_workgroups:
            raise KeyError(f"no workgroup for team {grantee!r}; add it to AthenaWarehouseArgs.teams "
                           f"(has {list(self.team_workgroups)})")
        if grantee not in self._query_grants:
            self._query_grants[grantee] = [
                permissions.allow(permissions.ATHENA_QUERY, [self.team_workgroup_arns[grantee]]),
                # Athena writes results as the caller, so even readers write (only) into their results prefix.
                *permissions.s3_statements(self.results_bucket.bucket_arn, "write", f"{grantee}/"),
                # Results are encrypted with the warehouse key, so every query needs to generate data keys with it.
                self._args.key.statement("write"),
            ]
        return self._query_grants[grantee]

    def _statements(self, dataset: str, access: permissions.Access, grantee: str) -> list[permissions.Statement]:
        ds = self._dataset(dataset)
        query = self._query_statements(grantee)
        a = self._args
        glue_actions = list(permissions.GLUE_READ)
        if access in ("write", "admin"):
            glue_actions += permissions.GLUE_WRITE
        if access == "admin":
            glue_actions += permissions.GLUE_ADMIN
        glue = permissions.allow(glue_actions, [
            names.glue_catalog_arn(a.region, a.account_id),
            names.glue_database_arn(a.region, a.account_id, ds.database_name),
            names.glue_tables_arn(a.region, a.account_id, ds.database_name),
        ])
        data = permissions.s3_statements(self.data_bucket.bucket_arn, access, f"{ds.name}/")
        return [*query[:1], glue, *data, *query[1:]]

    def read_statements(self, dataset: str, *, grantee: str) -> list[permissions.Statement]:
        """Query one dataset as team ``grantee``: run queries in its workgroup, read catalog entries and data files.

        The statements shared by all of a team's dataset grants (its workgroup, its results prefix, the key) are
        the same objects on every call, so a team policy keeps them once.
        """
        return self._statements(dataset, "read", grantee)

    def write_statements(self, dataset: str, *, grantee: str) -> list[permissions.Statement]:
        """Read, plus create, update and delete tables and partitions, and write data files under its prefix."""
        return self._statements(dataset, "write", grantee)

    def admin_statements(self, dataset: str, *, grantee: str) -> list[permissions.Statement]:
        """Write, plus update the database and manage table versions, restore and retention of its files."""
        return self._statements(dataset, "admin", grantee)


def team_workgroup_name(workgroup_name: str, team: str) -> str:
    """The workgroup of one team: ``{workgroup_name}-{team}``, within Athena's 128 characters."""
    return names.fit(f"{workgroup_name}-{team}", names.ATHENA_WORKGROUP_MAX)
