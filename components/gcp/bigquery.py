"""One BigQuery dataset: CMEK by default, in its declared location, never public."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_gcp as gcp
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components.base import Component
from mlinfra.components.gcp import permissions
from mlinfra.components.gcp.kms import KmsKey

_DAY_MS = 86_400_000


class BigQueryDatasetArgs(BaseModel):
    """Inputs of :class:`BigQueryDataset`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    project: str = Field(description="GCP project id. Required.")
    dataset_id: str = Field(description="Physical dataset id (letters, digits, '_'). Required.")
    location: str = Field(description="Region or multi-region of the dataset. Required.")
    key: KmsKey = Field(description="The bigquery key; it must sit in the dataset's location. Required.")
    key_grant: Any = Field(default=None, description="BigQuery agent's key grant the dataset waits for. Default: none.")
    description: str = Field(default="", description="Dataset description. Default: empty.")
    table_expiration_days: int | None = Field(default=None, ge=1, description="Default table lifetime. Default: never.")
    partition_expiration_days: int | None = Field(
        default=None, ge=1, description="Default partition lifetime. Default: never."
    )
    delete_contents_on_destroy: bool = Field(
        default=False, description="Allow destroying the dataset with its tables. Default: off."
    )
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels. Default: none.")
    protect: bool = Field(default=False, description="Pulumi-protect the dataset. Default: off.")


class BigQueryDataset(Component):
    """A BigQuery dataset whose tables are encrypted by default with a customer-managed key.

    Secure defaults: default CMEK from a key in the dataset's own location (BigQuery requires it);
    ``delete_contents_on_destroy`` off, so a dataset holding tables cannot be deleted; Pulumi-protected
    when ``protect``; the access list is never managed authoritatively and grants go through
    :meth:`grant_read`, :meth:`grant_write`, :meth:`grant_admin`, which refuse public principals.
    """

    dataset_id: pulumi.Output[str]
    dataset_resource_id: pulumi.Output[str]

    def __init__(self, name: str, args: BigQueryDatasetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:gcp:BigQueryDataset", name, None, opts)
        self._name = name
        self._project = args.project
        dataset = gcp.bigquery.Dataset(
            f"{name}-dataset",
            dataset_id=args.dataset_id,
            project=args.project,
            location=args.location,
            description=args.description or None,
            default_encryption_configuration={"kms_key_name": args.key.id},
            default_table_expiration_ms=args.table_expiration_days * _DAY_MS if args.table_expiration_days else None,
            default_partition_expiration_ms=args.partition_expiration_days * _DAY_MS
            if args.partition_expiration_days else None,
            delete_contents_on_destroy=args.delete_contents_on_destroy,
            labels=args.labels,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect,
                                        depends_on=[args.key_grant] if args.key_grant is not None else None),
        )
        self.dataset = dataset
        self.dataset_id = dataset.dataset_id
        self.dataset_resource_id = dataset.id
        self.register_outputs({"dataset_id": self.dataset_id, "dataset_resource_id": self.dataset_resource_id})

    def _grant(self, access: str, grantee: str, member: pulumi.Input[str]) -> gcp.bigquery.DatasetIamMember:
        permissions.check_member(member)
        return gcp.bigquery.DatasetIamMember(
            f"{self._name}-{grantee}-{access}", dataset_id=self.dataset.dataset_id, project=self._project,
            role=permissions.DATASET_ROLES[access], member=member, opts=pulumi.ResourceOptions(parent=self),
        )

    def grant_read(self, grantee: str, member: pulumi.Input[str]) -> gcp.bigquery.DatasetIamMember:
        """Let ``member`` (logical name ``grantee``) read tables and metadata of this dataset."""
        return self._grant("read", grantee, member)

    def grant_write(self, grantee: str, member: pulumi.Input[str]) -> gcp.bigquery.DatasetIamMember:
        """Let ``member`` create, update and delete tables and their data in this dataset."""
        return self._grant("write", grantee, member)

    def grant_admin(self, grantee: str, member: pulumi.Input[str]) -> gcp.bigquery.DatasetIamMember:
        """Full control of this dataset, including its access list."""
        return self._grant("admin", grantee, member)
