"""Data services: object storage buckets, event topics and warehouse datasets."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from mlinfra.stacks.config.base import Loc, Name, StrictModel, duplicates, raise_issues

StorageClass = Literal["standard", "infrequent", "cold", "archive"]


class LifecycleRule(StrictModel):
    """Move or delete objects once they reach an age."""

    after_days: int = Field(ge=1, description="Object age in days at which the rule applies. Required.")
    action: Literal["delete", "transition"] = Field(
        description="'delete' removes objects; 'transition' moves them to 'storage_class'. Required."
    )
    storage_class: Literal["infrequent", "cold", "archive"] | None = Field(
        default=None, description="Target class for 'transition' (required then, forbidden for 'delete')."
    )
    noncurrent_only: bool = Field(
        default=False,
        description="Apply only to noncurrent (overwritten or deleted) versions. Default: off, all objects.",
    )
    prefixes: list[str] = Field(
        default_factory=list, description="Only objects under these prefixes. Default: the whole bucket."
    )

    @model_validator(mode="after")
    def _check_action(self) -> Self:
        if self.action == "transition" and self.storage_class is None:
            raise_issues([(("storage_class",), "a 'transition' rule needs 'storage_class' "
                           "(infrequent, cold or archive)")])
        if self.action == "delete" and self.storage_class is not None:
            raise_issues([(("storage_class",), "a 'delete' rule takes no 'storage_class'; remove it")])
        return self


class BucketNotification(StrictModel):
    """Publish an event to a topic when objects change: how the platform reacts to file drops."""

    topic: Name = Field(description="Name of a topic in 'events.topics'. Required.")
    events: list[Literal["created", "deleted", "archived", "metadata_updated"]] = Field(
        default_factory=lambda: ["created"],
        min_length=1,
        description="Object events that publish. Default: ['created'] (a finished upload).",
    )
    prefix: str | None = Field(
        default=None, description="Only objects whose name starts with this prefix. Default: every object."
    )


class BucketConfig(StrictModel):
    """An object storage bucket: CMEK-encrypted, private, uniform access, versioned by default."""

    name: Name = Field(description="Bucket name within the environment; the full name adds a prefix. Required.")
    purpose: Literal["data", "models", "artifacts", "logs", "scratch"] = Field(
        default="data",
        description="What the bucket holds; data and models buckets must stay versioned. Default: data.",
    )
    location: str | None = Field(
        default=None,
        description="Region, dual-region or multi-region ('EU', 'EUR4'). Default: the target region. "
        "Checked against residency: every member region must be allowed.",
    )
    storage_class: StorageClass = Field(default="standard", description="Default storage class. Default: standard.")
    versioning: bool | None = Field(
        default=None,
        description="Keep overwritten and deleted versions. Default: on; on GCP off when 'retention_days' is set "
        "(a GCS retention policy and Object Versioning exclude each other; the policy then protects objects).",
    )
    lifecycle: list[LifecycleRule] = Field(
        default_factory=list, description="Age-based delete/transition rules. Default: none."
    )
    retention_days: int | None = Field(
        default=None, ge=1, le=36500,
        description="Minimum days an object must be kept (retention policy). Default: none.",
    )
    lock_retention: bool = Field(
        default=False,
        description="Lock the retention policy so it can never be shortened (irreversible). Default: off.",
    )
    notifications: list[BucketNotification] = Field(
        default_factory=list, description="Events published to topics when objects change. Default: none."
    )
    force_destroy: bool = Field(
        default=False,
        description="Allow destroying the bucket while it still holds objects. Default: off; refused in prod.",
    )

    @model_validator(mode="after")
    def _check_bucket(self) -> Self:
        if self.lock_retention and self.retention_days is None:
            raise_issues([(("lock_retention",), "'lock_retention' needs 'retention_days'")])
        return self


class DeadLetterConfig(StrictModel):
    """Where messages go after repeated delivery failures."""

    enabled: bool = Field(default=True, description="Route undeliverable messages to a dead-letter topic. Default: on.")
    max_delivery_attempts: int = Field(
        default=5, ge=5, le=100, description="Deliveries before a message is dead-lettered (5-100). Default: 5."
    )


class SubscriptionConfig(StrictModel):
    """A pull subscription on a topic, with retry backoff and a dead-letter topic by default."""

    name: Name = Field(description="Subscription name; unique across all topics. Required.")
    ack_deadline_seconds: int = Field(
        default=60, ge=10, le=600, description="Seconds a consumer has to acknowledge (10-600). Default: 60."
    )
    retention_days: int = Field(
        default=7, ge=1, le=7, description="Days unacknowledged messages are kept (1-7). Default: 7."
    )
    min_backoff_seconds: int = Field(
        default=10, ge=0, le=600, description="Minimum retry backoff in seconds. Default: 10."
    )
    max_backoff_seconds: int = Field(
        default=600, ge=0, le=600, description="Maximum retry backoff in seconds. Default: 600."
    )
    dead_letter: DeadLetterConfig = Field(
        default_factory=DeadLetterConfig, description="Dead-letter routing. Default: on, after 5 attempts."
    )
    filter: str | None = Field(default=None, description="Message filter expression. Default: every message.")
    exactly_once: bool = Field(default=False, description="Exactly-once delivery. Default: off.")

    @model_validator(mode="after")
    def _check_backoff(self) -> Self:
        if self.min_backoff_seconds > self.max_backoff_seconds:
            raise_issues([(("min_backoff_seconds",), "must not exceed 'max_backoff_seconds'")])
        return self


class TopicConfig(StrictModel):
    """An event topic (GCP Pub/Sub, AWS SNS/SQS, on-prem broker), CMEK-encrypted, storage kept in-region."""

    name: Name = Field(description="Topic name. Required.")
    retention_days: int | None = Field(
        default=None, ge=1, le=31,
        description="Days published messages are kept on the topic for replay (1-31). Default: none.",
    )
    subscriptions: list[SubscriptionConfig] = Field(
        default_factory=list, description="Subscriptions on the topic. Default: none."
    )


class DatasetConfig(StrictModel):
    """A warehouse dataset (BigQuery / Athena+Glue / in-cluster SQL), CMEK by default, in-region."""

    name: Name = Field(description="Dataset name; '-' becomes '_' where the warehouse needs it. Required.")
    location: str | None = Field(
        default=None, description="Region or multi-region ('EU'). Default: the target region."
    )
    description: str = Field(default="", description="Human description shown in the warehouse. Default: empty.")
    table_expiration_days: int | None = Field(
        default=None, ge=1, description="Default lifetime of new tables in days. Default: tables never expire."
    )
    partition_expiration_days: int | None = Field(
        default=None, ge=1, description="Default lifetime of partitions in days. Default: never expire."
    )
    delete_contents_on_destroy: bool = Field(
        default=False,
        description="Allow destroying the dataset while it has tables. Default: off; refused in prod.",
    )


class StorageConfig(StrictModel):
    """Object storage section."""

    buckets: list[BucketConfig] = Field(default_factory=list, description="Buckets. Default: none.")

    @model_validator(mode="after")
    def _unique(self) -> Self:
        raise_issues(duplicates(("buckets",), (b.name for b in self.buckets)))
        return self


class EventsConfig(StrictModel):
    """Event bus section."""

    topics: list[TopicConfig] = Field(default_factory=list, description="Topics. Default: none.")

    @model_validator(mode="after")
    def _unique(self) -> Self:
        issues: list[tuple[Loc, str]] = duplicates(("topics",), (t.name for t in self.topics))
        seen: dict[str, str] = {}
        for ti, topic in enumerate(self.topics):
            for si, sub in enumerate(topic.subscriptions):
                if sub.name in seen:
                    issues.append((("topics", ti, "subscriptions", si, "name"),
                                   f"duplicate subscription {sub.name!r} (also on topic {seen[sub.name]!r})"))
                seen.setdefault(sub.name, topic.name)
        raise_issues(issues)
        return self


class WarehouseConfig(StrictModel):
    """Warehouse section."""

    datasets: list[DatasetConfig] = Field(default_factory=list, description="Datasets. Default: none.")

    @model_validator(mode="after")
    def _unique(self) -> Self:
        raise_issues(duplicates(("datasets",), (d.name for d in self.datasets)))
        return self
