"""On-prem data services under mocks: ObjectStore (MinIO), EventBus (NATS JetStream + NACK), Warehouse
(CloudNativePG). Charts pinned from the given ChartRefs, restricted namespaces, TLS, 1:1 mapping of the
neutral inputs, existing-endpoint mode, and no plaintext secret anywhere in the recorded plan."""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Iterator
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pydantic import BaseModel, ValidationError

from mlinfra.components.kubernetes.charts import ChartRef, resolve
from mlinfra.components.onprem.events import ConsumerArgs, EventBus, EventBusArgs, StreamArgs
from mlinfra.components.onprem.object_store import (
    BucketArgs,
    BucketNotificationArgs,
    ExpiryRuleArgs,
    ObjectStore,
    ObjectStoreArgs,
)
from mlinfra.components.onprem.warehouse import DatabaseArgs, Warehouse, WarehouseArgs
from mlinfra.stacks.offline import Plan, PlannedResource, run_program

PASSWORD = "Pw-7f3c1e9a-never-in-clear"
ACCESS_KEY = "minio-root-4b1d"
S3_SECRET = "s3-secret-9e2a77"
KES_KEY = "kes:v1:kes-api-key-5c0d"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # pulumi's marker of a secret-wrapped value (rpc._special_sig_key)
NACK = ChartRef("nack", "https://nats-io.github.io/k8s/helm/charts", "0.29.2")
CHART = "kubernetes:helm.sh/v4:Chart"
MODULES = ("object_store", "events", "warehouse")


def _opts(tmp: str) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(providers=[k8s.Provider("k8s", render_yaml_to_directory=tmp)])


def _buckets() -> list[BucketArgs]:
    return [
        BucketArgs(name="raw", retention_days=30, lock_retention=True,
                   lifecycle=[ExpiryRuleArgs(after_days=365), ExpiryRuleArgs(after_days=30, noncurrent_only=True)],
                   notifications=[BucketNotificationArgs(topic="uploads", subject="uploads.objects",
                                                         events=["created", "deleted"], prefix="incoming/")]),
        BucketArgs(name="scratch", versioning=False, lifecycle=[ExpiryRuleArgs(after_days=7, prefix="tmp/")]),
    ]


def _store_args(**over: Any) -> ObjectStoreArgs:
    base: dict[str, Any] = {
        "chart": resolve("minio-operator"), "root_user": pulumi.Output.secret(ACCESS_KEY),
        "root_password": pulumi.Output.secret(PASSWORD), "nats_address": "nats.events.svc.cluster.local:4222",
        "servers": 4, "volumes_per_server": 2, "volume_size_gb": 200, "storage_class": "fast-ssd",
        "buckets": _buckets(),
    }
    return ObjectStoreArgs(**{**base, **over})


def _streams() -> list[StreamArgs]:
    return [
        StreamArgs(name="uploads", retention_days=14, consumers=[
            ConsumerArgs(name="ingest", ack_deadline_seconds=120, retention_days=3, max_delivery_attempts=7),
            ConsumerArgs(name="audit", ack_deadline_seconds=30, dead_letter=False, filter_subject="uploads.objects"),
        ]),
        StreamArgs(name="metrics", consumers=[ConsumerArgs(name="rollup", retention_days=5)]),
        StreamArgs(name="bare"),
    ]


def _warehouse_args(**over: Any) -> WarehouseArgs:
    base: dict[str, Any] = {
        "chart": resolve("cloudnative-pg"), "instances": 3, "storage_size_gb": 80,
        "datasets": [DatabaseArgs(name="feature-store", description="features"), DatabaseArgs(name="raw")],
        "backup_bucket": "pg-backups", "backup_endpoint": "https://minio.object-store.svc.cluster.local",
        "backup_access_key_id": pulumi.Output.secret(ACCESS_KEY),
        "backup_secret_access_key": pulumi.Output.secret(S3_SECRET),
    }
    return WarehouseArgs(**{**base, **over})


def _plan(tmp_path: Any, store: ObjectStoreArgs | None = None, bus: EventBusArgs | None = None,
          warehouse: WarehouseArgs | None = None) -> Plan:
    def program() -> None:
        opts = _opts(str(tmp_path))
        if store is not None:
            ObjectStore("store", store, opts)
        if bus is not None:
            EventBus("bus", bus, opts)
        if warehouse is not None:
            Warehouse("wh", warehouse, opts)

    return run_program(program, project="mlinfra", stack="onprem-test")


@pytest.fixture
def full(tmp_path: Any) -> Plan:
    kes = {"kes_endpoint": "https://kes.security.svc:7373", "kes_api_key": pulumi.Output.secret(KES_KEY)}
    return _plan(tmp_path, _store_args(**kes),
                 EventBusArgs(chart=resolve("nats"), controller_chart=NACK, streams=_streams()),
                 _warehouse_args())


def _one(plan: Plan, type_: str, name: str) -> PlannedResource:
    found = [r for r in plan.of_type(type_) if r.name == name]
    assert len(found) == 1, f"{type_} {name}: {[r.name for r in plan.of_type(type_)]}"
    return found[0]


def _spec(res: PlannedResource) -> dict[str, Any]:
    return dict(res.inputs["spec"])


# --- secrets -------------------------------------------------------------------------------------------


def _plaintext(value: Any, needle: str, path: str = "$") -> Iterator[str]:
    """JSON paths where ``needle`` occurs outside a secret-wrapped value (how the Plan records secrets)."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return  # {"<sig>": "<secret sig>", "value": ...}: the engine keeps this encrypted
        for key, item in value.items():
            if needle in str(key):
                yield f"{path}.{key}"
            yield from _plaintext(item, needle, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _plaintext(item, needle, f"{path}[{i}]")
    elif needle in str(value):
        yield path


def test_plaintext_detector_is_meaningful() -> None:
    wrapped = {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "value": {"config.env": f"X={PASSWORD}"}}
    assert list(_plaintext({"a": [wrapped]}, PASSWORD)) == []
    assert list(_plaintext({"a": [{"env": f"X={PASSWORD}"}]}, PASSWORD)) == ["$.a[0].env"]


def test_secrets_appear_only_secret_wrapped(full: Plan) -> None:
    doc = full.to_json()
    text = json.dumps(doc)
    for needle in (PASSWORD, ACCESS_KEY, S3_SECRET, KES_KEY):
        assert needle in text, f"{needle} not recorded at all: the check below would prove nothing"
        assert list(_plaintext(doc, needle)) == [], needle
    root = _one(full, "kubernetes:core/v1:Secret", "store-root").inputs["stringData"]
    assert SECRET_SIG in root and PASSWORD in root["value"]["config.env"]
    assert KES_KEY in root["value"]["config.env"]
    backup = _one(full, "kubernetes:core/v1:Secret", "wh-backup-s3").inputs["stringData"]
    assert SECRET_SIG in backup and backup["value"]["ACCESS_SECRET_KEY"] == S3_SECRET


def test_secret_resources_mark_their_outputs_secret(tmp_path: Any) -> None:
    marked: dict[str, list[str]] = {}
    original = k8s.core.v1.Secret.__init__

    def spy(self: k8s.core.v1.Secret, resource_name: str, *a: Any, **kw: Any) -> None:
        marked[resource_name] = list(kw["opts"].additional_secret_outputs or [])
        original(self, resource_name, *a, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(k8s.core.v1.Secret, "__init__", spy)
        _plan(tmp_path, _store_args(), warehouse=_warehouse_args())
    assert marked == {"store-root": ["data", "stringData"], "wh-backup-s3": ["data", "stringData"]}


def test_plain_string_credentials_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"pulumi\.Output\.secret"):
        _store_args(root_password=PASSWORD)
    with pytest.raises(ValidationError, match="root_user and root_password"):
        _store_args(root_user=None)
    with pytest.raises(ValidationError, match=r"pulumi\.Output\.secret"):
        _warehouse_args(backup_secret_access_key=S3_SECRET)


# --- charts, namespaces, TLS ---------------------------------------------------------------------------


def test_charts_installed_at_the_pinned_versions(full: Plan) -> None:
    expected = {"store-operator": resolve("minio-operator"), "bus-nats": resolve("nats"),
                "bus-controller": NACK, "wh-operator": resolve("cloudnative-pg")}
    charts = {r.name: r.inputs for r in full.of_type(CHART)}
    assert set(charts) == set(expected)
    for name, ref in expected.items():
        assert charts[name]["chart"] == ref.name and charts[name]["version"] == ref.version, name
        assert charts[name]["repositoryOpts"]["repo"] == ref.repository, name


def test_every_namespace_is_restricted(full: Plan) -> None:
    namespaces = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"]
                  for r in full.of_type("kubernetes:core/v1:Namespace")}
    assert set(namespaces) == {"object-store", "minio-operator", "events", "warehouse", "cnpg-system"}
    for labels in namespaces.values():
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"


def test_tls_everywhere_from_the_cluster_issuer(full: Plan) -> None:
    certs = {r.name: _spec(r) for r in full.of_type("kubernetes:cert-manager.io/v1:Certificate")}
    assert set(certs) == {"store-tls", "store-operator-trust", "store-nats-client", "bus-tls", "bus-controller-tls",
                          "wh-tls", "wh-replication-tls"}
    for spec in certs.values():
        assert spec["issuerRef"] == {"name": "mlinfra-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    assert "minio.object-store.svc.cluster.local" in certs["store-tls"]["dnsNames"]
    assert "nats.events.svc.cluster.local" in certs["bus-tls"]["dnsNames"]
    assert "warehouse-rw.warehouse.svc.cluster.local" in certs["wh-tls"]["dnsNames"]
    tenant = _spec(_one(full, "kubernetes:minio.min.io/v2:Tenant", "store-tenant"))
    assert tenant["requestAutoCert"] is False
    assert tenant["externalCertSecret"] == [{"name": "mlinfra-tls", "type": "cert-manager.io/v1"}]
    assert _one(full, "kubernetes:cert-manager.io/v1:Certificate", "store-operator-trust").inputs["metadata"] == {
        "name": "operator-ca-tls-mlinfra", "namespace": "minio-operator"}
    nats = _one(full, CHART, "bus-nats").inputs["values"]
    assert nats["config"]["nats"]["tls"] == {"enabled": True, "secretName": "nats-server-tls",
                                             "merge": {"verify_and_map": True}}
    assert nats["config"]["cluster"]["tls"]["enabled"] is True
    nack = _one(full, CHART, "bus-controller").inputs["values"]["jetstream"]
    assert nack["nats"]["url"].startswith("tls://") and nack["tls"]["enabled"] is True
    pg = _spec(_one(full, "kubernetes:postgresql.cnpg.io/v1:Cluster", "wh-cluster"))
    assert pg["certificates"] == {"serverTLSSecret": "warehouse-server-tls", "serverCASecret": "warehouse-server-tls",
                                  "clientCASecret": "warehouse-replication-tls",
                                  "replicationTLSSecret": "warehouse-replication-tls"}


def test_warehouse_without_issuer_keeps_cnpg_tls(tmp_path: Any) -> None:
    plan = _plan(tmp_path, warehouse=_warehouse_args(cluster_issuer=None))
    assert plan.of_type("kubernetes:cert-manager.io/v1:Certificate") == []
    spec = _spec(_one(plan, "kubernetes:postgresql.cnpg.io/v1:Cluster", "wh-cluster"))
    assert "certificates" not in spec and "endpointCA" not in spec["backup"]["barmanObjectStore"]


# --- object store --------------------------------------------------------------------------------------


def test_tenant_pool_sized_from_args_and_non_root(full: Plan) -> None:
    tenant = _one(full, "kubernetes:minio.min.io/v2:Tenant", "store-tenant")
    assert tenant.protect is True
    (pool,) = _spec(tenant)["pools"]
    assert (pool["servers"], pool["volumesPerServer"]) == (4, 2)
    assert pool["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "200Gi"
    assert pool["volumeClaimTemplate"]["spec"]["storageClassName"] == "fast-ssd"
    assert pool["securityContext"]["runAsNonRoot"] is True
    assert pool["containerSecurityContext"]["allowPrivilegeEscalation"] is False
    assert pool["containerSecurityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert _spec(tenant)["configuration"] == {"name": "mlinfra-env-configuration"}


def test_buckets_match_the_neutral_inputs(full: Plan) -> None:
    tenant = _spec(_one(full, "kubernetes:minio.min.io/v2:Tenant", "store-tenant"))
    assert tenant["buckets"] == [{"name": "raw", "objectLock": True}, {"name": "scratch", "objectLock": False}]
    data = _one(full, "kubernetes:core/v1:ConfigMap", "store-bucket-setup").inputs["data"]
    script = data["setup.sh"]
    assert "mc mb --ignore-existing --with-lock store/raw" in script
    assert "mc version enable store/raw" in script and "mc version suspend store/scratch" in script
    assert "mc retention set --default COMPLIANCE 30d store/raw" in script
    assert "retention set --default" not in script.split("store/scratch", 1)[1]
    assert "mc event add store/raw arn:minio:sqs::UPLOADS:nats --event delete,put --prefix incoming/" in script
    assert script.count("mc encrypt set sse-kms mlinfra-object-store") == 2
    assert json.loads(data["raw.lifecycle.json"])["Rules"] == [
        {"ID": "expire-0", "Status": "Enabled", "Filter": {"Prefix": ""}, "Expiration": {"Days": 365}},
        {"ID": "expire-1", "Status": "Enabled", "Filter": {"Prefix": ""},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}]
    assert json.loads(data["scratch.lifecycle.json"])["Rules"][0]["Filter"] == {"Prefix": "tmp/"}
    env = {e["name"]: e["value"] for e in tenant["env"]}
    assert env["MINIO_NOTIFY_NATS_SUBJECT_UPLOADS"] == "uploads.objects"
    assert env["MINIO_NOTIFY_NATS_TLS_UPLOADS"] == "on" and env["MINIO_NOTIFY_NATS_JETSTREAM_UPLOADS"] == "on"
    assert env["MINIO_KMS_KES_ENDPOINT"] == "https://kes.security.svc:7373"
    job = _one(full, "kubernetes:batch/v1:Job", "store-bucket-setup-job").inputs["spec"]["template"]["spec"]
    assert job["securityContext"]["runAsNonRoot"] is True and job["automountServiceAccountToken"] is False
    assert all(e.get("value") != PASSWORD for e in job["containers"][0]["env"])


def test_without_kes_no_encryption_is_configured(tmp_path: Any) -> None:
    plan = _plan(tmp_path, _store_args())
    env = {e["name"] for e in _spec(_one(plan, "kubernetes:minio.min.io/v2:Tenant", "store-tenant"))["env"]}
    assert not any(n.startswith("MINIO_KMS") for n in env)
    assert "sse-kms" not in _one(plan, "kubernetes:core/v1:ConfigMap", "store-bucket-setup").inputs["data"]["setup.sh"]


def test_bucket_config_change_reruns_the_setup_job(tmp_path: Any) -> None:
    first = _plan(tmp_path, _store_args())
    second = _plan(tmp_path, _store_args(buckets=[BucketArgs(name="raw")]))
    name = "store-bucket-setup-job"
    assert (_one(first, "kubernetes:batch/v1:Job", name).inputs["metadata"]["name"]
            != _one(second, "kubernetes:batch/v1:Job", name).inputs["metadata"]["name"])


def test_existing_endpoint_deploys_no_minio(tmp_path: Any) -> None:
    args = ObjectStoreArgs(chart=resolve("minio-operator"), existing_endpoint="https://s3.corp.example:9000",
                           buckets=[BucketArgs(name="raw")])
    captured: dict[str, Any] = {}

    def program() -> None:
        store = ObjectStore("store", args, _opts(str(tmp_path)))
        captured["endpoint"] = store.endpoint

    plan = run_program(program, project="mlinfra", stack="onprem-test")
    types = {r.type for r in plan.resources}
    assert not {CHART, "kubernetes:minio.min.io/v2:Tenant", "kubernetes:core/v1:Secret",
                "kubernetes:batch/v1:Job", "kubernetes:cert-manager.io/v1:Certificate"} & types
    data = _one(plan, "kubernetes:core/v1:ConfigMap", "store-endpoint").inputs["data"]
    assert data["endpoint"] == "https://s3.corp.example:9000" and json.loads(data["buckets"]) == ["raw"]


def test_object_store_validators() -> None:
    with pytest.raises(ValidationError, match="https://"):
        ObjectStoreArgs(chart=resolve("minio-operator"), existing_endpoint="http://s3.corp:9000")
    with pytest.raises(ValidationError, match="kes_api_key"):
        _store_args(kes_endpoint="https://kes:7373")
    with pytest.raises(ValidationError, match="nats_address"):
        _store_args(nats_address=None)
    with pytest.raises(ValidationError, match="versioning"):
        BucketArgs(name="raw", versioning=False, retention_days=3)
    with pytest.raises(ValidationError, match="lock_retention needs retention_days"):
        BucketArgs(name="raw", lock_retention=True)
    assert BucketArgs(name="raw", retention_days=3).versioning is True


# --- event bus -----------------------------------------------------------------------------------------


def test_streams_and_consumers_match_the_neutral_topics(full: Plan) -> None:
    streams = {r.inputs["metadata"]["name"]: _spec(r)
               for r in full.of_type("kubernetes:jetstream.nats.io/v1beta2:Stream")}
    assert set(streams) == {"uploads", "uploads-dead-letter", "metrics", "metrics-dead-letter", "bare"}
    assert streams["uploads"]["maxAge"] == f"{14 * 24}h"  # topic retention beats consumer retention 3
    assert streams["metrics"]["maxAge"] == f"{5 * 24}h"  # longest consumer retention
    assert streams["bare"]["maxAge"] == f"{7 * 24}h"
    assert streams["uploads"]["subjects"] == ["uploads", "uploads.>"]
    for name in ("uploads", "metrics", "bare"):
        assert [streams[name][k] for k in ("storage", "retention", "replicas")] == ["file", "limits", 3]
    assert streams["uploads-dead-letter"]["subjects"] == [
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.uploads.ingest",
        "$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.uploads.ingest"]
    consumers = {r.inputs["metadata"]["name"]: _spec(r)
                 for r in full.of_type("kubernetes:jetstream.nats.io/v1beta2:Consumer")}
    assert set(consumers) == {"ingest", "audit", "rollup"}
    assert consumers["ingest"] == {
        "streamName": "uploads", "durableName": "ingest", "deliverPolicy": "all", "ackPolicy": "explicit",
        "ackWait": "120s", "maxDeliver": 7, "replayPolicy": "instant", "maxAckPending": 1000}
    assert (consumers["audit"]["maxDeliver"], consumers["audit"]["ackWait"]) == (-1, "30s")
    assert consumers["audit"]["filterSubject"] == "uploads.objects"
    assert (consumers["rollup"]["streamName"], consumers["rollup"]["maxDeliver"]) == ("metrics", 5)


def test_nats_jetstream_storage_and_security(full: Plan) -> None:
    values = _one(full, CHART, "bus-nats").inputs["values"]
    store = values["config"]["jetstream"]
    assert store["enabled"] is True and store["fileStore"]["pvc"]["size"] == "10Gi"
    assert values["podTemplate"]["merge"]["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for part in ("container", "reloader"):
        sc = values[part]["merge"]["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["allowPrivilegeEscalation"] is False, part


def test_event_bus_validators() -> None:
    with pytest.raises(ValidationError, match="odd"):
        EventBusArgs(chart=resolve("nats"), controller_chart=NACK, servers=2)
    with pytest.raises(ValidationError, match="unique"):
        EventBusArgs(chart=resolve("nats"), controller_chart=NACK, streams=[StreamArgs(name="a"), StreamArgs(name="a")])


# --- warehouse -----------------------------------------------------------------------------------------


def test_cluster_and_databases_match_the_neutral_datasets(full: Plan) -> None:
    cluster = _one(full, "kubernetes:postgresql.cnpg.io/v1:Cluster", "wh-cluster")
    spec = _spec(cluster)
    assert cluster.protect is True
    assert (spec["instances"], spec["storage"]["size"], spec["enableSuperuserAccess"]) == (3, "80Gi", False)
    assert spec["bootstrap"] == {"initdb": {"database": "app", "owner": "app"}}  # operator-generated credentials
    store = spec["backup"]["barmanObjectStore"]
    assert store["destinationPath"] == "s3://pg-backups/warehouse"
    assert store["endpointURL"] == "https://minio.object-store.svc.cluster.local"
    assert store["endpointCA"] == {"name": "warehouse-server-tls", "key": "ca.crt"}
    assert spec["backup"]["retentionPolicy"] == "30d"
    assert _spec(_one(full, "kubernetes:postgresql.cnpg.io/v1:ScheduledBackup", "wh-daily-backup"))["cluster"] == {
        "name": "warehouse"}
    dbs = {r.name: _spec(r) for r in full.of_type("kubernetes:postgresql.cnpg.io/v1:Database")}
    assert dbs == {
        "wh-feature-store": {"name": "feature_store", "owner": "owner_feature_store", "cluster": {"name": "warehouse"},
                             "ensure": "present", "databaseReclaimPolicy": "retain"},
        "wh-raw": {"name": "raw", "owner": "owner_raw", "cluster": {"name": "warehouse"},
                   "ensure": "present", "databaseReclaimPolicy": "retain"},
    }


def test_warehouse_without_backup_has_no_backup(tmp_path: Any) -> None:
    plan = _plan(tmp_path, warehouse=_warehouse_args(backup_bucket=None, backup_access_key_id=None,
                                                     backup_secret_access_key=None))
    assert "backup" not in _spec(_one(plan, "kubernetes:postgresql.cnpg.io/v1:Cluster", "wh-cluster"))
    assert plan.of_type("kubernetes:core/v1:Secret") == []
    assert plan.of_type("kubernetes:postgresql.cnpg.io/v1:ScheduledBackup") == []


def test_warehouse_validators() -> None:
    with pytest.raises(ValidationError, match="backup_endpoint"):
        _warehouse_args(backup_endpoint=None)
    with pytest.raises(ValidationError, match="duplicate database"):
        _warehouse_args(datasets=[DatabaseArgs(name="a-b"), DatabaseArgs(name="a_b")])


# --- outputs and contract ------------------------------------------------------------------------------


def test_outputs(tmp_path: Any) -> None:
    def program() -> None:
        opts = _opts(str(tmp_path))
        store = ObjectStore("store", _store_args(), opts)
        bus = EventBus("bus", EventBusArgs(chart=resolve("nats"), controller_chart=NACK, streams=_streams()), opts)
        wh = Warehouse("wh", _warehouse_args(), opts)
        pulumi.export("endpoint", store.endpoint)
        pulumi.export("buckets", store.bucket_names)
        pulumi.export("url", bus.url)
        pulumi.export("streams", bus.stream_names)
        pulumi.export("host", wh.host)
        pulumi.export("databases", wh.database_names)

    got: dict[str, Any] = run_program(program, project="mlinfra", stack="onprem-test").outputs
    assert got == {
        "endpoint": "https://minio.object-store.svc.cluster.local", "buckets": ["raw", "scratch"],
        "url": "tls://nats.events.svc.cluster.local:4222",
        "streams": ["uploads", "uploads-dead-letter", "metrics", "metrics-dead-letter", "bare"],
        "host": "warehouse-rw.warehouse.svc.cluster.local", "databases": ["feature_store", "raw"],
    }


def _own(module: Any, base: type) -> list[type]:
    return [c for _, c in inspect.getmembers(module, inspect.isclass) if issubclass(c, base)
            and c.__module__ == module.__name__]


@pytest.mark.parametrize("module_name", MODULES)
def test_contract_tokens_signature_and_documented_args(module_name: str) -> None:
    module = importlib.import_module(f"mlinfra.components.onprem.{module_name}")
    assert module.__doc__ and "Why" in module.__doc__
    (component,) = _own(module, pulumi.ComponentResource)
    assert f'"mlinfra:onprem:{component.__name__}"' in inspect.getsource(component)
    assert list(inspect.signature(component.__init__).parameters) == ["self", "name", "args", "opts"]
    assert component.__doc__ and len(component.__doc__) > 80
    models = _own(module, BaseModel)
    assert models
    for model in models:
        assert model.model_config.get("frozen") and model.model_config.get("extra") == "forbid", model
        for field, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{field}"
            assert "Default" in info.description or "Required" in info.description, f"{model.__name__}.{field}"
