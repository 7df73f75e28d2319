"""One event topic on AWS: an SNS topic fanning out to SQS queues, KMS-encrypted, with dead-letter queues.

Why SNS + SQS rather than EventBridge: the neutral model is topic → durable pull subscriptions with
acknowledgement deadlines, retention and dead-lettering, which is exactly SNS fan-out to SQS queues
(visibility timeout = ack deadline, message retention, redrive to a DLQ). S3 publishes to SNS directly, with
no rule language in between; EventBridge would add rules, an event bus and still need SQS targets for pull
consumers with retention.
"""

from __future__ import annotations

from typing import Any, Self

import pulumi
import pulumi_aws as aws
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlinfra.components.aws import names, permissions
from mlinfra.components.aws.kms import AwsKmsKey
from mlinfra.components.base import Component

DEAD_LETTER_RETENTION_DAYS = 14
"""Dead letters are kept for the SQS maximum, 14 days, to leave time to inspect and redrive them."""
DEAD_LETTER_SUFFIX = "-dlq"
"""Suffix of a default dead-letter queue name (kept whole when the queue name is shortened)."""


class SqsSubscriptionArgs(BaseModel):
    """A pull subscription: an SQS queue subscribed to the topic, with a dead-letter queue by default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Logical subscription name (used in child names and outputs). Required.")
    queue_name: str = Field(
        min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$",
        description="Physical SQS queue name (see names.queue_name). Required.",
    )
    dead_letter_queue_name: str | None = Field(
        default=None, min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$",
        description="Physical name of the dead-letter queue. Default: '{queue_name}-dlq'; when that would pass "
        "SQS's 80 characters, queue_name is shortened deterministically first (a head plus a 6-hex-digit hash, "
        "names.fit) so the name still ends in '-dlq'.",
    )
    ack_deadline_seconds: int = Field(
        default=60, ge=0, le=43200,
        description="Visibility timeout: seconds a consumer has to delete a received message before it is "
        "redelivered. Default: 60.",
    )
    retention_days: int = Field(default=7, ge=1, le=14, description="Message retention in days. Default: 7.")
    dead_letter: bool = Field(
        default=True, description="Move messages to a dead-letter queue after repeated failures. Default: on."
    )
    max_delivery_attempts: int = Field(
        default=5, ge=1, le=1000,
        description="Receives before a message moves to the dead-letter queue (maxReceiveCount). Default: 5.",
    )
    receive_wait_seconds: int = Field(
        default=20, ge=0, le=20, description="Long-polling wait of a receive (fewer empty receives). Default: 20."
    )
    kms_data_key_reuse_period_seconds: int = Field(
        default=300, ge=60, le=86400,
        description="Seconds SQS reuses a data key before calling KMS again. Default: 300 (the AWS default).",
    )
    filter: str | None = Field(
        default=None,
        description="Message filter. Default: none. Not supported on AWS yet: SNS filter policies are JSON "
        "attribute matches, not Pub/Sub filter expressions; a filter raises ValueError.",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.filter is not None:
            raise ValueError("events.topics[].subscriptions[].filter is not supported on aws yet (SNS filter policies "
                             "are not Pub/Sub filter expressions); remove the filter and filter in the consumer")
        return self

    @property
    def dead_letter_name(self) -> str:
        """The dead-letter queue's physical name: the explicit one, else ``{queue_name}-dlq`` within 80 characters."""
        if self.dead_letter_queue_name:
            return self.dead_letter_queue_name
        return names.fit(self.queue_name, names.SQS_QUEUE_MAX - len(DEAD_LETTER_SUFFIX)) + DEAD_LETTER_SUFFIX


class SnsTopicArgs(BaseModel):
    """Inputs of :class:`SnsTopic`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    topic_name: str = Field(
        min_length=1, max_length=256, pattern=r"^[A-Za-z0-9_-]+$",
        description="Physical SNS topic name (see names.topic_name). Required.",
    )
    region: str = Field(min_length=1, description="Region of the topic and its queues. Required.")
    account_id: str = Field(pattern=r"^\d{12}$", description="AWS account id (aws:SourceAccount condition). Required.")
    key: AwsKmsKey = Field(description="The events key (same region) encrypting the topic and its queues. Required.")
    publisher_bucket_arns: list[str] = Field(
        default_factory=list,
        description="ARNs of the S3 buckets allowed to publish (aws:SourceArn; names.bucket_arn). Default: none, "
        "no bucket may publish.",
    )
    subscriptions: list[SqsSubscriptionArgs] = Field(default_factory=list, description="Subscriptions. Default: none.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags on the topic and queues. Default: none.")
    protect: bool = Field(default=False, description="Pulumi-protect the topic and queues. Default: off.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.key.region != self.region:
            raise ValueError(f"the topic is in {self.region} but its key in {self.key.region}; pass an events key "
                             "created in the topic's region")
        return self


class SnsTopic(Component):
    """An SNS topic whose subscriptions are KMS-encrypted SQS queues with dead-letter queues.

    Secure defaults: topic and queues encrypted with the events key; the topic policy lets S3 publish only from
    ``publisher_bucket_arns`` of this account and denies publishing without TLS; each queue accepts messages only
    from this topic (``aws:SourceArn``) and denies non-TLS access; raw message delivery (consumers get the S3 event
    itself); failed messages move to a dead-letter queue (14-day retention) after ``max_delivery_attempts``
    receives, and only their source queue may redrive into it. Grant helpers: :meth:`publish_statements`,
    :meth:`subscribe_statements`, :meth:`admin_statements`.
    """

    topic_arn: pulumi.Output[str]
    queue_arns: dict[str, pulumi.Output[str]]
    queue_urls: dict[str, pulumi.Output[str]]
    dead_letter_queue_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: SnsTopicArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:aws:SnsTopic", name, None, opts)
        self._key = args.key
        region = args.region
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect)
        topic = aws.sns.Topic(
            f"{name}-topic", name=args.topic_name, region=region, kms_master_key_id=args.key.arn,
            signature_version=2, tags=args.tags, opts=stateful,
        )
        self.topic = topic
        self.topic_arn = topic.arn
        statements: list[permissions.Statement] = []
        if args.publisher_bucket_arns:
            statements.append({
                "Sid": "S3PublishesFromNamedBuckets", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sns:Publish", "Resource": topic.arn,
                "Condition": {"ArnLike": {"aws:SourceArn": sorted(args.publisher_bucket_arns)},
                              "StringEquals": {"aws:SourceAccount": args.account_id}},
            })
        statements.append(permissions.secure_transport_deny("sns:Publish", [topic.arn]))
        self.policy = aws.sns.TopicPolicy(f"{name}-policy", arn=topic.arn, region=region,
                                          policy=permissions.document(statements), opts=child)

        self.queues: dict[str, aws.sqs.Queue] = {}
        self.dead_letter_queues: dict[str, aws.sqs.Queue] = {}
        for sub in args.subscriptions:
            prefix = f"{name}-{sub.name}"
            encryption: dict[str, Any] = {"kms_master_key_id": args.key.arn,
                                          "kms_data_key_reuse_period_seconds": sub.kms_data_key_reuse_period_seconds}
            redrive = None
            if sub.dead_letter:
                dlq = aws.sqs.Queue(
                    f"{prefix}-dlq", name=sub.dead_letter_name, region=region,
                    message_retention_seconds=DEAD_LETTER_RETENTION_DAYS * 86400, tags=args.tags,
                    **encryption, opts=stateful,
                )
                self.dead_letter_queues[sub.name] = dlq
                aws.sqs.QueuePolicy(
                    f"{prefix}-dlq-policy", queue_url=dlq.url, region=region,
                    policy=permissions.document([permissions.secure_transport_deny("sqs:*", [dlq.arn])]), opts=child,
                )
                redrive = pulumi.Output.json_dumps({"deadLetterTargetArn": dlq.arn,
                                                    "maxReceiveCount": sub.max_delivery_attempts})
            queue = aws.sqs.Queue(
                f"{prefix}-queue", name=sub.queue_name, region=region,
                message_retention_seconds=sub.retention_days * 86400,
                visibility_timeout_seconds=sub.ack_deadline_seconds,
                receive_wait_time_seconds=sub.receive_wait_seconds,
                redrive_policy=redrive, tags=args.tags, **encryption, opts=stateful,
            )
            self.queues[sub.name] = queue
            if sub.dead_letter:
                aws.sqs.RedriveAllowPolicy(
                    f"{prefix}-dlq-redrive-allow", queue_url=self.dead_letter_queues[sub.name].url, region=region,
                    redrive_allow_policy=pulumi.Output.json_dumps(
                        {"redrivePermission": "byQueue", "sourceQueueArns": [queue.arn]}),
                    opts=child,
                )
            queue_policy = aws.sqs.QueuePolicy(
                f"{prefix}-queue-policy", queue_url=queue.url, region=region,
                policy=permissions.document([
                    {"Sid": "OnlyThisTopicSends", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                     "Action": "sqs:SendMessage", "Resource": queue.arn,
                     "Condition": {"ArnEquals": {"aws:SourceArn": topic.arn}}},
                    permissions.secure_transport_deny("sqs:*", [queue.arn]),
                ]),
                opts=child,
            )
            aws.sns.TopicSubscription(
                f"{prefix}-subscription", topic=topic.arn, protocol="sqs", endpoint=queue.arn, region=region,
                raw_message_delivery=True,
                # Subscribed once the queue accepts the topic's messages, so the first events are not lost.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[queue_policy]),
            )
        self.queue_arns = {n: q.arn for n, q in self.queues.items()}
        self.queue_urls = {n: q.url for n, q in self.queues.items()}
        self.dead_letter_queue_arns = {n: q.arn for n, q in self.dead_letter_queues.items()}
        self.register_outputs({"topic_arn": self.topic_arn,
                               **{f"queue_arn_{n}": a for n, a in self.queue_arns.items()},
                               **{f"queue_url_{n}": u for n, u in self.queue_urls.items()}})

    def publish_statements(self) -> list[permissions.Statement]:
        """IAM statements to publish to the topic, with the data-key use its encryption needs."""
        return [permissions.allow(permissions.SNS_PUBLISH, [self.topic_arn]),
                permissions.kms_publish_statement(self._key.arn)]

    def subscribe_statements(self) -> list[permissions.Statement]:
        """Receive, delete and extend visibility on every queue of the topic, and decrypt their messages.

        A topic without subscriptions has nothing to consume: the list is empty.
        """
        if not self.queues:
            return []
        return [permissions.allow(permissions.SQS_CONSUME, [q.arn for q in self.queues.values()]),
                self._key.statement("read")]

    def admin_statements(self) -> list[permissions.Statement]:
        """Publish and subscribe, read the topic, and consume, purge and redrive the queues and dead-letter queues.

        A redrive (``StartMessageMoveTask`` on a dead-letter queue) runs as the caller: it receives, deletes and
        reads attributes on the dead-letter queue, and sends to the queue the messages return to. So the grant adds
        ``sqs:SendMessage`` on exactly this topic's queues that have a dead-letter queue (the redrive destinations),
        and the key's encrypt/decrypt use both queues need (same events key).
        """
        queues = [q.arn for q in [*self.queues.values(), *self.dead_letter_queues.values()]]
        out = [permissions.allow([*permissions.SNS_PUBLISH, *permissions.SNS_ADMIN], [self.topic_arn])]
        if queues:
            out.append(permissions.allow([*permissions.SQS_CONSUME, *permissions.SQS_ADMIN], queues))
        redrive_targets = [self.queues[sub].arn for sub in self.dead_letter_queues]
        if redrive_targets:
            out.append(permissions.allow(permissions.SQS_REDRIVE_DESTINATION, redrive_targets))
        return [*out, self._key.statement("write")]
