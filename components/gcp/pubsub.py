"""One Pub/Sub topic with its subscriptions: CMEK, storage pinned to allowed regions, dead-lettering."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_gcp as gcp
from pydantic import BaseModel, ConfigDict, Field

from mlinfra.components.base import Component
from mlinfra.components.gcp import permissions
from mlinfra.components.gcp.kms import KmsKey


class SubscriptionArgs(BaseModel):
    """A pull subscription."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Logical subscription name (used in child names). Required.")
    physical_name: str = Field(description="Subscription name in GCP. Required.")
    ack_deadline_seconds: int = Field(default=60, ge=10, le=600, description="Ack deadline. Default: 60 s.")
    retention_days: int = Field(default=7, ge=1, le=7, description="Unacked message retention. Default: 7 days.")
    min_backoff_seconds: int = Field(default=10, ge=0, le=600, description="Min retry backoff. Default: 10 s.")
    max_backoff_seconds: int = Field(default=600, ge=0, le=600, description="Max retry backoff. Default: 600 s.")
    dead_letter: bool = Field(default=True, description="Route failed messages to the dead-letter topic. Default: on.")
    max_delivery_attempts: int = Field(
        default=5, ge=5, le=100, description="Attempts before dead-lettering. Default: 5."
    )
    filter: str | None = Field(default=None, description="Message filter. Default: every message.")
    exactly_once: bool = Field(default=False, description="Exactly-once delivery. Default: off.")


class PubSubTopicArgs(BaseModel):
    """Inputs of :class:`PubSubTopic`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    project: str = Field(description="GCP project id. Required.")
    topic_name: str = Field(description="Physical topic name. Required.")
    key: KmsKey = Field(description="The pubsub key used for topic (and dead-letter topic) encryption. Required.")
    key_grant: Any = Field(default=None, description="Pub/Sub agent's key grant the topics wait for. Default: none.")
    pubsub_agent: Any = Field(description="IAM member (Input[str]) of the Pub/Sub service agent. Required.")
    allowed_regions: list[str] = Field(
        min_length=1, description="Regions messages may be stored in (message storage policy). Required."
    )
    enforce_in_transit: bool = Field(
        default=True,
        description="Also enforce the regions in transit: publish and pull only through regional endpoints of "
        "allowed regions (clients on the global endpoint are refused). Default: on; turn off when no residency "
        "is declared so global-endpoint clients work.",
    )
    retention_days: int | None = Field(
        default=None, ge=1, le=31, description="Topic message retention for replay. Default: none."
    )
    subscriptions: list[SubscriptionArgs] = Field(default_factory=list, description="Subscriptions. Default: none.")
    protect: bool = Field(default=False, description="Pulumi-protect topics and subscriptions. Default: off.")


DEAD_LETTER_SUFFIX = ".dead-letter"
"""Dead-letter topic and subscription names add this to the topic's. '.' cannot occur in config names
(``^[a-z][a-z0-9-]*$``) but is allowed in Pub/Sub names, so a dead-letter name never equals a user's."""


def _days(days: int) -> str:
    return f"{days * 86400}s"


def _alias(old_name: str) -> pulumi.ResourceOptions:
    """Options carrying a child's previous logical name (same parent) over to its new one."""
    return pulumi.ResourceOptions(aliases=[pulumi.Alias(name=old_name)])


class PubSubTopic(Component):
    """A CMEK-encrypted topic whose messages never leave the allowed regions.

    Secure defaults: customer-managed key; message storage policy limited to the residency regions with
    in-transit enforcement (``enforce_in_transit``); subscriptions never expire, retry with backoff and, by
    default, dead-letter to ``{topic}.dead-letter`` (same key, same regions; the '.' keeps it apart from any
    user topic or subscription) whose own subscription keeps dead letters for 7 days;
    the Pub/Sub service agent gets exactly the publisher/subscriber roles dead-lettering needs. Grant
    helpers: :meth:`grant_publish`, :meth:`grant_subscribe`, :meth:`grant_admin`.
    """

    topic_id: pulumi.Output[str]
    topic_name: pulumi.Output[str]
    subscription_ids: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: PubSubTopicArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:gcp:PubSubTopic", name, None, opts)
        self._name = name
        self._key = args.key
        waits = [args.key_grant] if args.key_grant is not None else None
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect, depends_on=waits)
        child = pulumi.ResourceOptions(parent=self)
        storage = {"allowed_persistence_regions": sorted(args.allowed_regions),
                   "enforce_in_transit": args.enforce_in_transit}
        topic = gcp.pubsub.Topic(
            f"{name}-topic", name=args.topic_name, project=args.project, kms_key_name=args.key.id,
            message_storage_policy=storage,
            message_retention_duration=_days(args.retention_days) if args.retention_days else None,
            opts=stateful,
        )
        self.topic = topic
        self.topic_id = topic.id
        self.topic_name = topic.name
        dead_letter_topic: gcp.pubsub.Topic | None = None
        if any(s.dead_letter for s in args.subscriptions):
            # Formerly '{name}-dead-letter…', which a user topic 'x-dead-letter' could collide with. The physical
            # names change too, so these are replaced (no aliases: an old name may now be a user's).
            dlq = f"{name}{DEAD_LETTER_SUFFIX}"
            dead_letter_topic = gcp.pubsub.Topic(
                dlq, name=f"{args.topic_name}{DEAD_LETTER_SUFFIX}", project=args.project,
                kms_key_name=args.key.id, message_storage_policy=storage, message_retention_duration=_days(7),
                opts=stateful,
            )
            gcp.pubsub.Subscription(
                f"{dlq}-sub", name=f"{args.topic_name}{DEAD_LETTER_SUFFIX}", project=args.project,
                topic=dead_letter_topic.id, ack_deadline_seconds=60, message_retention_duration=_days(7),
                expiration_policy={"ttl": ""}, opts=stateful,
            )
            gcp.pubsub.TopicIAMMember(
                f"{dlq}.agent-publish", topic=dead_letter_topic.id, role=permissions.TOPIC_PUBLISH,
                member=args.pubsub_agent, opts=child,
            )
        self.subscriptions: dict[str, gcp.pubsub.Subscription] = {}
        for sub in args.subscriptions:
            dead = dead_letter_topic if sub.dead_letter else None
            resource = gcp.pubsub.Subscription(
                f"{name}-{sub.name}",
                name=sub.physical_name,
                project=args.project,
                topic=topic.id,
                ack_deadline_seconds=sub.ack_deadline_seconds,
                message_retention_duration=_days(sub.retention_days),
                retry_policy={"minimum_backoff": f"{sub.min_backoff_seconds}s",
                              "maximum_backoff": f"{sub.max_backoff_seconds}s"},
                expiration_policy={"ttl": ""},
                dead_letter_policy={"dead_letter_topic": dead.id, "max_delivery_attempts": sub.max_delivery_attempts}
                if dead is not None else None,
                filter=sub.filter,
                enable_exactly_once_delivery=sub.exactly_once,
                opts=stateful,
            )
            self.subscriptions[sub.name] = resource
            if dead is not None:
                # Two '.' keep the agent's grant apart from any team's ('{sub}.{team}-subscribe'). The alias keeps
                # the binding: without it the old member's delete would remove the binding the new one shares.
                gcp.pubsub.SubscriptionIAMMember(
                    f"{name}-{sub.name}.pubsub-agent.subscribe", subscription=resource.name,
                    role=permissions.SUBSCRIPTION_SUBSCRIBE, member=args.pubsub_agent,
                    opts=pulumi.ResourceOptions.merge(child, _alias(f"{name}-{sub.name}-agent-subscribe")),
                )
        self.subscription_ids = {n: s.id for n, s in self.subscriptions.items()}
        self.register_outputs({"topic_id": self.topic_id, "topic_name": self.topic_name,
                               **{f"subscription_{n}": i for n, i in self.subscription_ids.items()}})

    def grant_publish(self, grantee: str, member: pulumi.Input[str]) -> gcp.pubsub.TopicIAMMember:
        """Let ``member`` (logical name ``grantee``) publish to the topic."""
        permissions.check_member(member)
        return gcp.pubsub.TopicIAMMember(
            f"{self._name}-{grantee}-publish", topic=self.topic.id, role=permissions.TOPIC_PUBLISH, member=member,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def grant_subscribe(self, grantee: str, member: pulumi.Input[str]) -> list[pulumi.CustomResource]:
        """Let ``member`` pull from every subscription of the topic, and view the topic."""
        permissions.check_member(member)
        child = pulumi.ResourceOptions(parent=self)
        grants: list[pulumi.CustomResource] = [gcp.pubsub.TopicIAMMember(
            f"{self._name}-{grantee}-view", topic=self.topic.id, role=permissions.TOPIC_VIEW, member=member,
            opts=child,
        )]
        for sub_name, sub in self.subscriptions.items():
            # '.' between subscription and grantee: 'a-b' + 'c' and 'a' + 'b-c' would otherwise share a name.
            grants.append(gcp.pubsub.SubscriptionIAMMember(
                f"{self._name}-{sub_name}.{grantee}-subscribe", subscription=sub.name,
                role=permissions.SUBSCRIPTION_SUBSCRIBE, member=member,
                opts=pulumi.ResourceOptions.merge(child, _alias(f"{self._name}-{sub_name}-{grantee}-subscribe")),
            ))
        return grants

    def grant_admin(self, grantee: str, member: pulumi.Input[str]) -> list[pulumi.CustomResource]:
        """Publish, subscribe and manage the topic and its subscriptions (not its IAM policy)."""
        grants: list[pulumi.CustomResource] = [gcp.pubsub.TopicIAMMember(
            f"{self._name}-{grantee}-admin", topic=self.topic.id, role=permissions.TOPIC_ADMIN, member=member,
            opts=pulumi.ResourceOptions(parent=self),
        )]
        return grants + self.grant_subscribe(grantee, member)
