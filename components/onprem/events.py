"""``EventBus``: the on-prem event bus — NATS with JetStream, streams and consumers declared as CRs.

Why NATS JetStream over Kafka (Strimzi): one small StatefulSet (three pods for R3 streams) with no
ZooKeeper/KRaft quorum or JVM to size and run; MinIO has a native NATS JetStream bucket-notification
target; at-least-once delivery with explicit consumer acks, an ack wait and ``max_deliver``, after which
the server emits a max-deliveries advisory that a dead-letter stream captures.

Why NACK (the NATS JetStream controller, ``jetstream.nats.io/v1beta2`` ``Stream``/``Consumer`` CRs): streams
and consumers become declarative Kubernetes objects, diffed and reconciled like everything else, instead
of an imperative setup Job. The controller's chart is a ChartRef Arg (``controller_chart``); assumed
``nack`` from ``https://nats-io.github.io/k8s/helm/charts``.

Mapping of the neutral config:

- one **Stream** per topic, subjects ``<topic>`` and ``<topic>.>``, file storage, ``limits`` retention with
  ``maxAge`` = the longest of the topic's ``retention_days`` and its subscriptions' ``retention_days``
  (acknowledged messages stay until then, so topics can be replayed; JetStream has no per-consumer
  retention), replicas = min(3, servers);
- one durable pull **Consumer** per subscription: ``ackPolicy: explicit``, ``ackWait`` =
  ``ack_deadline_seconds``, ``maxDeliver`` = the dead-letter attempts (-1, unlimited, when dead-lettering
  is off), ``filterSubject`` when given;
- per topic with a dead-lettering subscription, a ``<topic>-dead-letter`` Stream capturing the
  ``MAX_DELIVERIES`` and ``MSG_TERMINATED`` advisories of those consumers. Advisories carry the stream
  sequence, not the payload: the message is read back from the topic's stream (kept until ``maxAge``).

TLS: a cert-manager Certificate (server auth, the internal CA by default) for client connections and
cluster routes. JetStream file storage on a PVC per server. Every workload runs non-root, RuntimeDefault
seccomp, no escalation, no capabilities, in a ``restricted`` namespace. Not mapped: retry backoff
(JetStream's ``backoff`` overrides ``ackWait``), exactly-once (JetStream deduplicates on publish with
``Nats-Msg-Id`` within the 2-minute duplicate window), Pub/Sub filter expressions (a NATS subject filter is
used instead).

Why client certificates for authentication (``verify_and_map``): every client connection must present a
certificate from the platform CA, and its subject (``CN=<identity>``) *is* the NATS user: no passwords,
tokens or NKeys exist to leak or rotate. Users are listed in the server config the chart renders
(``config.merge.authorization.users``), each with publish/subscribe allow-lists: a team identity
(``clients``) may publish only to its topics' subjects and the JetStream API subjects of the consumers it
was granted (:func:`~mlinfra.components.onprem.permissions.topic_publish_subjects`), and subscribe only to
its own reply inbox (``_INBOX.<identity>.>``, set as the client's inbox prefix) so it cannot read replies
meant for others. A certificate that maps to no user is refused. The platform's own clients are users too:
the NACK controller (``CN=platform-nack``: the JetStream API only) and, with bucket notifications, MinIO
(publish to the notification subjects only). All users live in the default account, where the streams are.
The monitoring port is outside ``verify_and_map`` (NATS does not apply it there), so probes keep working.
"""

from __future__ import annotations

from typing import Any, Self

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mlinfra.components.base import Component
from mlinfra.components.kubernetes.charts import ChartRef
from mlinfra.components.kubernetes.helm import HelmAddon, HelmAddonArgs, namespace_labels
from mlinfra.components.onprem.common import (
    certificate,
    client_certificate,
    restricted_container_security_context,
    restricted_pod_security_context,
    service_dns,
)
from mlinfra.components.onprem.permissions import (
    DEFAULT_INBOX,
    NACK_IDENTITY,
    NACK_PUBLISH,
    TopicAccess,
    nats_permissions,
    nats_user,
    topic_publish_subjects,
)

NATS_UID = 1000


class ConsumerArgs(BaseModel):
    """A durable pull consumer (the neutral subscription)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description="Durable name. Required.")
    ack_deadline_seconds: int = Field(default=60, ge=1, description="Ack wait in seconds. Default: 60.")
    retention_days: int = Field(
        default=7, ge=1, description="Days unacknowledged messages are kept (the stream's maxAge covers it). "
        "Default: 7.",
    )
    dead_letter: bool = Field(
        default=True, description="Capture messages that exhausted their deliveries in the dead-letter stream. "
        "Default: on.",
    )
    max_delivery_attempts: int = Field(
        default=5, ge=1, description="Deliveries before a message is dead-lettered (with dead_letter). Default: 5."
    )
    filter_subject: str | None = Field(
        default=None, description="Only messages on this NATS subject. Default: every message of the topic."
    )


class StreamArgs(BaseModel):
    """A stream (the neutral topic) and its consumers."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,51}[a-z0-9])?$", description="Topic name. Required.")
    retention_days: int | None = Field(
        default=None, ge=1, description="Days messages are kept for replay. Default: the longest consumer "
        "retention (7 days without consumers).",
    )
    consumers: list[ConsumerArgs] = Field(default_factory=list, description="Subscriptions. Default: none.")

    @property
    def max_age_days(self) -> int:
        """How long the stream keeps messages."""
        return max([self.retention_days or 0, *(c.retention_days for c in self.consumers)]) or 7


class ClientArgs(BaseModel):
    """One identity allowed to connect to NATS (its client certificate's CN) and what it may do there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identity: str = Field(pattern=r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$",
                          description="Client certificate CN; the NATS user is 'CN=<identity>'. Required.")
    topics: dict[str, TopicAccess] = Field(
        default_factory=dict, description="Topic (stream) name → 'publish' | 'subscribe' | 'admin'. Default: none."
    )
    subjects: list[str] = Field(
        default_factory=list,
        description="Further subjects it may publish to (platform publishers, e.g. MinIO's notification "
        "subjects). Default: none.",
    )
    inbox: str = Field(
        default=DEFAULT_INBOX, pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$",
        description="Reply-subject prefix it subscribes under ('<inbox>.>'); teams get their own so they cannot "
        f"read others' replies. Default: {DEFAULT_INBOX} (clients that cannot set a prefix).",
    )


class EventBusArgs(BaseModel):
    """Inputs of :class:`EventBus`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    chart: ChartRef = Field(description="NATS chart (charts.resolve('nats')). Required.")
    controller_chart: ChartRef = Field(
        description="NACK JetStream controller chart (assumed key 'nack': chart 'nack' from "
        "https://nats-io.github.io/k8s/helm/charts). Required.",
    )
    namespace: str = Field(default="events", description="Namespace of NATS and the controller. Default: events.")
    servers: int = Field(default=3, ge=1, description="NATS servers (odd; 3 for replicated streams). Default: 3.")
    storage_size_gb: int = Field(default=10, ge=1, description="JetStream file store PVC per server, GiB. Default: 10.")
    storage_class: str | None = Field(
        default=None, description="StorageClass of the JetStream PVCs. Default: the cluster's default class."
    )
    memory_gb: int = Field(default=2, ge=1, description="Memory request and limit per server in GiB. Default: 2.")
    cluster_issuer: str = Field(
        default="mlinfra-ca", description="cert-manager ClusterIssuer of the TLS certificates. Default: mlinfra-ca."
    )
    streams: list[StreamArgs] = Field(default_factory=list, description="Streams (topics). Default: none.")
    clients: list[ClientArgs] = Field(
        default_factory=list,
        description="Identities allowed to connect besides the controller, with their grants. Default: none "
        "(only the NACK controller can connect).",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.servers % 2 == 0:
            raise ValueError(f"servers={self.servers}: JetStream needs an odd number of servers for its quorum; "
                             "use 1, 3 or 5")
        names = [s.name for s in self.streams]
        consumers = [c.name for s in self.streams for c in s.consumers]
        if len(set(names)) != len(names) or len(set(consumers)) != len(consumers):
            raise ValueError("stream names and consumer names must each be unique")
        identities = [c.identity for c in self.clients]
        if len(set(identities)) != len(identities) or NACK_IDENTITY in identities:
            raise ValueError(f"client identities must be unique and differ from the controller's {NACK_IDENTITY!r}")
        for client in self.clients:
            unknown = sorted(set(client.topics) - set(names))
            if unknown:
                raise ValueError(f"client {client.identity!r} is granted unknown topics {unknown}; grant streams of "
                                 f"this bus ({names})")
        return self

    def users(self) -> list[dict[str, Any]]:
        """The ``authorization.users`` of the NATS server config: the controller, then every client."""
        streams = {s.name: s for s in self.streams}
        users = [{"user": nats_user(NACK_IDENTITY), "permissions": nats_permissions(NACK_PUBLISH, DEFAULT_INBOX)}]
        for client in self.clients:
            publish = list(client.subjects)
            for topic, access in sorted(client.topics.items()):
                stream = streams[topic]
                dead_letter = f"{topic}-dead-letter" if any(c.dead_letter for c in stream.consumers) else None
                publish += topic_publish_subjects(topic, access, [c.name for c in stream.consumers], dead_letter)
            users.append({"user": nats_user(client.identity), "permissions": nats_permissions(publish, client.inbox)})
        return users


def _duration(seconds: int) -> str:
    return f"{seconds}s"


class EventBus(Component):
    """A NATS JetStream event bus with TLS, one Stream per topic and one durable Consumer per subscription,
    declared as NACK CRs, plus dead-letter streams capturing max-delivery advisories.

    Secure defaults: TLS on client and route connections from the platform CA; clients authenticate with
    certificates mapped to users with subject allow-lists (no passwords; unmapped certificates refused);
    restricted Pod Security namespace; non-root servers with read-only root filesystems; file storage on PVCs.
    Outputs: ``url`` (tls://host:4222), ``address`` (host:port), ``stream_names``, ``consumer_names``.
    """

    url: pulumi.Output[str]
    address: pulumi.Output[str]
    stream_names: pulumi.Output[list[str]]
    consumer_names: pulumi.Output[list[str]]

    def __init__(self, name: str, args: EventBusArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:onprem:EventBus", name, None, opts)
        ns_name = args.namespace
        host = f"nats.{ns_name}.svc.cluster.local"
        ns = k8s.core.v1.Namespace(
            f"{name}-ns", metadata={"name": ns_name, "labels": namespace_labels("restricted")},
            opts=pulumi.ResourceOptions(parent=self),
        )
        server_tls = certificate(
            f"{name}-tls", namespace=ns_name, secret_name="nats-server-tls", issuer=args.cluster_issuer,
            dns_names=[*service_dns("nats", ns_name), f"*.nats-headless.{ns_name}.svc.cluster.local",
                       f"*.nats-headless.{ns_name}.svc", f"nats-headless.{ns_name}.svc.cluster.local"],
            usages=["server auth", "client auth", "digital signature", "key encipherment"],
            parent=self, depends_on=[ns],
        )
        client_tls = client_certificate(
            f"{name}-controller-tls", namespace=ns_name, secret_name="nack-client-tls", common_name=NACK_IDENTITY,
            issuer=args.cluster_issuer, parent=self, depends_on=[ns],
        )
        container_sc = restricted_container_security_context(NATS_UID)
        memory = f"{args.memory_gb}Gi"
        tls_block = {"enabled": True, "secretName": "nats-server-tls"}
        # Client connections: a certificate is required and its subject selects the user.
        client_tls_block = {**tls_block, "merge": {"verify_and_map": True}}
        nats = HelmAddon(f"{name}-nats", HelmAddonArgs(
            chart=args.chart, namespace=ns_name, create_namespace=False, depends_on=[ns, server_tls],
            values={
                "fullnameOverride": "nats",
                "config": {
                    "cluster": {"enabled": args.servers > 1, "replicas": args.servers, "tls": tls_block},
                    "jetstream": {"enabled": True, "fileStore": {"enabled": True, "dir": "/data", "pvc": {
                        "enabled": True, "size": f"{args.storage_size_gb}Gi",
                        **({"storageClassName": args.storage_class} if args.storage_class else {})}},
                        "memoryStore": {"enabled": False}},
                    "nats": {"tls": client_tls_block},
                    "monitor": {"enabled": True},
                    "merge": {"authorization": {"users": args.users()}},
                },
                "tlsCA": {"enabled": True, "secretName": "nats-server-tls", "key": "ca.crt"},
                "container": {"merge": {"securityContext": container_sc, "resources": {
                    "requests": {"cpu": "250m", "memory": memory}, "limits": {"memory": memory}}}},
                "reloader": {"merge": {"securityContext": container_sc, "resources": {
                    "requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}}}},
                "podTemplate": {"merge": {"spec": {
                    "securityContext": restricted_pod_security_context(NATS_UID),
                    "automountServiceAccountToken": False}}},
                "natsBox": {"enabled": False},
            },
        ), opts=pulumi.ResourceOptions(parent=self))
        controller = HelmAddon(f"{name}-controller", HelmAddonArgs(
            chart=args.controller_chart, namespace=ns_name, create_namespace=False, depends_on=[nats, client_tls],
            values={
                "jetstream": {"nats": {"url": f"tls://{host}:4222"},
                              "tls": {"enabled": True, "secretName": "nack-client-tls"}},
                "namespaced": True,
                "securityContext": restricted_pod_security_context(NATS_UID),
                "containerSecurityContext": restricted_container_security_context(NATS_UID),
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
            },
        ), opts=pulumi.ResourceOptions(parent=self))
        replicas = min(3, args.servers)
        self.streams: dict[str, k8s.apiextensions.CustomResource] = {}
        self.consumers: dict[str, k8s.apiextensions.CustomResource] = {}
        for stream in args.streams:
            max_age = f"{stream.max_age_days * 24}h"
            cr = self._stream(name, stream.name, ns_name, controller, {
                "name": stream.name, "subjects": [stream.name, f"{stream.name}.>"], "storage": "file",
                "retention": "limits", "discard": "old", "maxAge": max_age, "replicas": replicas,
                "duplicateWindow": "2m", "description": f"mlinfra topic {stream.name}",
            })
            self.streams[stream.name] = cr
            for consumer in stream.consumers:
                spec: dict[str, Any] = {
                    "streamName": stream.name, "durableName": consumer.name, "deliverPolicy": "all",
                    "ackPolicy": "explicit", "ackWait": _duration(consumer.ack_deadline_seconds),
                    "maxDeliver": consumer.max_delivery_attempts if consumer.dead_letter else -1,
                    "replayPolicy": "instant", "maxAckPending": 1000,
                }
                if consumer.filter_subject:
                    spec["filterSubject"] = consumer.filter_subject
                self.consumers[consumer.name] = k8s.apiextensions.CustomResource(
                    f"{name}-{stream.name}-{consumer.name}", api_version="jetstream.nats.io/v1beta2", kind="Consumer",
                    metadata={"name": consumer.name, "namespace": ns_name}, spec=spec,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[cr]),
                )
            dead = [c.name for c in stream.consumers if c.dead_letter]
            if dead:
                dlq = f"{stream.name}-dead-letter"
                self.streams[dlq] = self._stream(name, dlq, ns_name, controller, {
                    "name": dlq, "storage": "file", "retention": "limits", "discard": "old", "maxAge": max_age,
                    "replicas": replicas, "description": f"dead letters of topic {stream.name}",
                    "subjects": [f"$JS.EVENT.ADVISORY.CONSUMER.{kind}.{stream.name}.{c}"
                                 for c in dead for kind in ("MAX_DELIVERIES", "MSG_TERMINATED")],
                })
        self.host_port = f"{host}:4222"  # known before deploy: other components configure clients with it
        self.url = pulumi.Output.from_input(f"tls://{host}:4222")
        self.address = pulumi.Output.from_input(self.host_port)
        self.stream_names = pulumi.Output.from_input(list(self.streams))
        self.consumer_names = pulumi.Output.from_input(list(self.consumers))
        self.register_outputs({"url": self.url, "address": self.address, "stream_names": self.stream_names,
                               "consumer_names": self.consumer_names})

    def _stream(self, name: str, stream: str, namespace: str, controller: HelmAddon,
                spec: dict[str, Any]) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            f"{name}-{stream}", api_version="jetstream.nats.io/v1beta2", kind="Stream",
            metadata={"name": stream, "namespace": namespace}, spec=spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[controller]),
        )
