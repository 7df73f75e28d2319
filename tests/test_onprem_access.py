"""Per-team access inside the on-prem data services, planned from the example stacks and config mutations:
each team's MinIO policy, NATS user and PostgreSQL roles are exactly its grants (and nothing for a team
without grants), every identity is a client certificate, every pod the platform declares is restricted,
and no credential appears in plain text anywhere in the plan."""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pydantic import BaseModel, ValidationError

from mlinfra.components.kubernetes.charts import resolve
from mlinfra.components.onprem import permissions as perms
from mlinfra.components.onprem.access import TeamAccessArgs
from mlinfra.components.onprem.events import ClientArgs, EventBusArgs, StreamArgs
from mlinfra.components.onprem.object_store import BucketArgs, ObjectStoreArgs, TeamPolicyArgs
from mlinfra.components.onprem.warehouse import DatabaseArgs, TeamRoleArgs, WarehouseArgs
from mlinfra.stacks.config import StackConfig
from mlinfra.stacks.loader import load
from mlinfra.stacks.offline import Plan, PlannedResource, run_program
from mlinfra.stacks.program import PROJECT, plan, program

STACKS = Path(__file__).resolve().parent.parent / "stacks"
CHART = "kubernetes:helm.sh/v4:Chart"
CERT = "kubernetes:cert-manager.io/v1:Certificate"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # pulumi's marker of a secret-wrapped value

READ = {"bucket": set(perms.S3_BUCKET_READ), "objects": set(perms.S3_OBJECT_READ)}
WRITE = {"bucket": READ["bucket"] | set(perms.S3_BUCKET_WRITE),
         "objects": READ["objects"] | set(perms.S3_OBJECT_WRITE)}
ADMIN = {"bucket": WRITE["bucket"] | set(perms.S3_BUCKET_ADMIN),
         "objects": WRITE["objects"] | set(perms.S3_OBJECT_ADMIN)}


# --- helpers -------------------------------------------------------------------------------------------


def _config(name: str, teams: dict[str, dict[str, Any]], datasets: tuple[str, ...] = ()) -> StackConfig:
    """An example stack with ``iam.teams`` replaced by ``teams`` (name → grants), plus ``datasets``."""
    data = load(STACKS / name).model_dump(exclude_unset=True)
    data["iam"]["teams"] = [{"name": team, **grants} for team, grants in teams.items()]
    data["training"]["queues"] = [q for q in data["training"]["queues"] if q["team"] in teams]
    data["warehouse"]["datasets"] += [{"name": d} for d in datasets]
    return StackConfig.model_validate(data)


def _chart(result: Plan, suffix: str) -> dict[str, Any]:
    (chart,) = [r for r in result.of_type(CHART) if r.name.endswith(suffix)]
    return dict(chart.inputs["values"])


def _policies(result: Plan) -> dict[str, dict[str, Any]]:
    """MinIO policy name → document, from the bucket-setup ConfigMap."""
    (setup,) = [r for r in result.of_type("kubernetes:core/v1:ConfigMap") if r.name.endswith("-bucket-setup")]
    data = setup.inputs["data"]
    return {key.removeprefix("policy-").removesuffix(".json"): json.loads(value)
            for key, value in data.items() if key.startswith("policy-")}


def _grants(policy: dict[str, Any]) -> dict[str, set[str]]:
    """Resource ARN → allowed actions."""
    out: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow" and "Condition" not in statement
        for resource in statement["Resource"]:
            out.setdefault(resource, set()).update(statement["Action"])
    return out


def _expected_s3(buckets: dict[str, dict[str, set[str]]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for bucket, level in buckets.items():
        out[f"arn:aws:s3:::{bucket}"] = level["bucket"]
        out[f"arn:aws:s3:::{bucket}/*"] = level["objects"]
    return out


def _nats_users(result: Plan) -> dict[str, dict[str, Any]]:
    users = _chart(result, "-events-nats")["config"]["merge"]["authorization"]["users"]
    return {u["user"]: u["permissions"] for u in users}


def _cluster(result: Plan) -> dict[str, Any]:
    (cluster,) = result.of_type("kubernetes:postgresql.cnpg.io/v1:Cluster")
    return dict(cluster.inputs["spec"])


def _roles(result: Plan) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in _cluster(result)["managed"]["roles"]}


def _pod_specs(result: Plan) -> Iterator[tuple[PlannedResource, dict[str, Any]]]:
    """Every pod spec the platform declares directly (Jobs, Deployments, ... and bare Pods)."""
    for res in result.resources:
        if not res.custom or not res.type.startswith("kubernetes:") or "spec" not in res.inputs:
            continue
        spec = res.inputs["spec"]
        if res.type.endswith(":Pod"):
            yield res, spec
        elif isinstance(spec, dict) and isinstance(spec.get("template"), dict) and "spec" in spec["template"]:
            yield res, spec["template"]["spec"]
        elif isinstance(spec, dict) and "jobTemplate" in spec:
            yield res, spec["jobTemplate"]["spec"]["template"]["spec"]


def _plaintext(value: Any, needle: str, path: str = "$") -> Iterator[str]:
    """JSON paths where ``needle`` occurs outside a secret-wrapped value."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return
        for key, item in value.items():
            if needle in str(key):
                yield f"{path}.{key}"
            yield from _plaintext(item, needle, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _plaintext(item, needle, f"{path}[{i}]")
    elif needle in str(value):
        yield path


@pytest.fixture(scope="module")
def prod() -> Plan:
    return plan(load(STACKS / "onprem-prod.yaml"))


@pytest.fixture(scope="module")
def local() -> Plan:
    return plan(load(STACKS / "local.yaml"))


# --- MinIO ---------------------------------------------------------------------------------------------


def test_bucket_grants_become_exactly_those_minio_policies(prod: Plan, local: Plan) -> None:
    # onprem-prod: vision and nlp both {raw: read, models: write}; local: research the same.
    for result, teams in ((prod, ("vision", "nlp")), (local, ("research",))):
        policies = _policies(result)
        assert set(policies) == {perms.identity(t) for t in teams}
        for team in teams:
            assert _grants(policies[perms.identity(team)]) == _expected_s3({"raw": READ, "models": WRITE})


def test_read_is_exactly_read_and_admin_adds_data_management() -> None:
    result = plan(_config("onprem-prod.yaml", {"ro": {"buckets": {"raw": "read"}},
                                               "ops": {"buckets": {"models": "admin"}},
                                               "none": {"datasets": {"features": "read"}}}))
    policies = _policies(result)
    assert set(policies) == {"team-ro", "team-ops"}  # a team without bucket grants gets no policy at all
    assert _grants(policies["team-ro"]) == _expected_s3({"raw": READ})
    assert _grants(policies["team-ops"]) == _expected_s3({"models": ADMIN})
    every = {a for p in policies.values() for actions in _grants(p).values() for a in actions}
    assert not {"s3:PutBucketPolicy", "s3:DeleteBucket", "s3:PutBucketVersioning", "s3:PutEncryptionConfiguration",
                "s3:PutLifecycleConfiguration", "s3:BypassGovernanceRetention", "s3:ListAllMyBuckets"} & every
    assert not any("*" in a for a in every)
    script = next(r for r in result.of_type("kubernetes:core/v1:ConfigMap")
                  if r.name.endswith("-bucket-setup")).inputs["data"]["setup.sh"]
    assert "mc admin policy create store team-ro /config/policy-team-ro.json" in script
    assert "team-none" not in script
    assert 'case " team-ops team-ro " in' in script  # every other team-* policy is removed


def test_minio_accepts_team_certificates_only_with_verification(prod: Plan) -> None:
    (tenant,) = prod.of_type("kubernetes:minio.min.io/v2:Tenant")
    env = {e["name"]: e["value"] for e in tenant.inputs["spec"]["env"]}
    assert env["MINIO_IDENTITY_TLS_ENABLE"] == "on" and env["MINIO_IDENTITY_TLS_SKIP_VERIFY"] == "off"
    no_teams = plan(_config("onprem-prod.yaml", {"solo": {"datasets": {"features": "read"}}}))
    (tenant,) = no_teams.of_type("kubernetes:minio.min.io/v2:Tenant")
    assert not any(e["name"].startswith("MINIO_IDENTITY_TLS") for e in tenant.inputs["spec"]["env"])


def test_existing_endpoint_enforces_nothing_in_cluster() -> None:
    data = load(STACKS / "local.yaml").model_dump(exclude_unset=True)
    data["target"]["object_store_endpoint"] = "https://s3.corp.example:9000"
    result = plan(StackConfig.model_validate(data))
    assert not result.of_type("kubernetes:minio.min.io/v2:Tenant")
    (netpol,) = [r for r in result.of_type(POLICY) if r.name.endswith("-allow-data-services")]
    assert "object-store" not in json.dumps(netpol.inputs["spec"])
    assert "platform-minio-notify" not in json.dumps(_chart(result, "-events-nats"))


# --- NATS ----------------------------------------------------------------------------------------------


def test_topic_grants_become_exactly_those_nats_permissions(prod: Plan, local: Plan) -> None:
    # vision / research: {raw-events: subscribe}; the topic has one dead-lettering consumer raw-ingest.
    subscribe = {
        "$JS.API.CONSUMER.INFO.raw-events.raw-ingest", "$JS.API.CONSUMER.MSG.NEXT.raw-events.raw-ingest",
        "$JS.ACK.raw-events.raw-ingest.>", "$JS.API.STREAM.MSG.GET.raw-events",
        "$JS.API.STREAM.INFO.raw-events-dead-letter", "$JS.API.STREAM.MSG.GET.raw-events-dead-letter",
    }
    for result, team, others in ((prod, "vision", ["nlp"]), (local, "research", [])):
        users = _nats_users(result)
        assert set(users) == {"CN=platform-nack", "CN=platform-minio-notify", f"CN={perms.identity(team)}"}
        mine = users[f"CN={perms.identity(team)}"]
        assert set(mine["publish"]["allow"]) == subscribe  # no publishing to the topic itself
        assert mine["subscribe"] == {"allow": [f"_INBOX.team-{team}.>"]}
        for other in others:  # nlp has no topic grant: no user, so its certificate cannot connect
            assert f"CN={perms.identity(other)}" not in users
        assert users["CN=platform-minio-notify"] == {"publish": {"allow": ["raw-events.objects"]},
                                                      "subscribe": {"allow": ["_INBOX.>"]}}
        assert users["CN=platform-nack"]["publish"] == {"allow": ["$JS.API.>"]}
        tls = _chart(result, "-events-nats")["config"]["nats"]["tls"]
        assert tls["merge"] == {"verify_and_map": True}


def test_publish_and_admin_topic_grants() -> None:
    result = plan(_config("onprem-prod.yaml", {"pub": {"topics": {"raw-events": "publish"}},
                                               "ops": {"topics": {"raw-events": "admin"}},
                                               "none": {"buckets": {"raw": "read"}}}))
    users = _nats_users(result)
    assert "CN=team-none" not in users
    assert users["CN=team-pub"]["publish"] == {"allow": ["raw-events", "raw-events.>"]}
    ops = set(users["CN=team-ops"]["publish"]["allow"])
    assert {"raw-events", "$JS.API.CONSUMER.MSG.NEXT.raw-events.raw-ingest", "$JS.API.STREAM.PURGE.raw-events",
            "$JS.API.CONSUMER.NAMES.raw-events"} <= ops
    assert not any(s.startswith(("$JS.API.STREAM.CREATE", "$JS.API.STREAM.UPDATE", "$JS.API.STREAM.DELETE",
                                 "$JS.API.CONSUMER.CREATE", "$JS.API.CONSUMER.DELETE")) or s in (">", "$JS.API.>")
               for user in users.values() if user is not users["CN=platform-nack"]
               for s in user["publish"].get("allow", []))


def test_a_client_without_subjects_is_denied_everything() -> None:
    assert perms.nats_permissions([], "_INBOX.team-x") == {"publish": {"deny": [">"]},
                                                            "subscribe": {"allow": ["_INBOX.team-x.>"]}}


# --- PostgreSQL ----------------------------------------------------------------------------------------


def test_dataset_grants_become_roles_memberships_and_certificate_logins(prod: Plan, local: Plan) -> None:
    roles = _roles(prod)  # vision: {features: read}; nlp: {features: write}
    assert set(roles) == {"owner_features", "team_vision_read", "team_nlp_write"}
    assert roles["team_vision_read"]["inRoles"] == ["pg_read_all_data"]
    assert roles["team_nlp_write"]["inRoles"] == ["pg_read_all_data", "pg_write_all_data"]
    assert roles["owner_features"]["login"] is False
    for role in roles.values():
        assert role["disablePassword"] is True and "passwordSecret" not in role
        assert not any(role[a] for a in ("superuser", "createdb", "createrole", "replication", "bypassrls"))
    pg = _cluster(prod)["postgresql"]
    assert pg["pg_hba"] == ["hostssl features team_nlp_write all cert map=mlinfra-teams",
                            "hostssl features team_vision_read all cert map=mlinfra-teams"]
    assert pg["pg_ident"] == ["mlinfra-teams team-nlp team_nlp_write", "mlinfra-teams team-vision team_vision_read"]
    assert _roles(local)["team_research_write"]["inRoles"] == ["pg_read_all_data", "pg_write_all_data"]


def test_mixed_levels_stay_per_dataset_and_admin_owns_ddl() -> None:
    result = plan(_config("onprem-prod.yaml", {"mix": {"datasets": {"features": "read", "labels": "admin"}},
                                               "none": {"buckets": {"raw": "read"}}}, datasets=("labels",)))
    roles = _roles(result)
    assert {r for r in roles if r.startswith("team_")} == {"team_mix_read", "team_mix_admin"}  # none: no role
    assert roles["team_mix_admin"]["inRoles"] == ["owner_labels", "pg_read_all_data", "pg_write_all_data"]
    assert roles["team_mix_read"]["inRoles"] == ["pg_read_all_data"]
    hba = _cluster(result)["postgresql"]["pg_hba"]
    assert sorted(hba) == ["hostssl features team_mix_read all cert map=mlinfra-teams",
                           "hostssl labels team_mix_admin all cert map=mlinfra-teams"]
    owners = {r.inputs["spec"]["name"]: r.inputs["spec"]["owner"]
              for r in result.of_type("kubernetes:postgresql.cnpg.io/v1:Database")}
    assert owners == {"features": "owner_features", "labels": "owner_labels"}


def test_postgres_verifies_client_certificates_from_the_platform_ca(prod: Plan) -> None:
    certs = _cluster(prod)["certificates"]
    assert certs["clientCASecret"] == certs["replicationTLSSecret"] == "warehouse-replication-tls"
    (replication,) = [r for r in prod.of_type(CERT) if r.name.endswith("-warehouse-replication-tls")]
    spec = replication.inputs["spec"]
    assert spec["commonName"] == "streaming_replica" and spec["usages"] == ["client auth", "digital signature"]
    assert "cnpg.io/reload" in spec["secretTemplate"]["labels"]


# --- identity and network path -------------------------------------------------------------------------


def test_each_team_with_grants_gets_a_short_lived_client_certificate(prod: Plan) -> None:
    certs = {r.inputs["metadata"]["namespace"]: r.inputs["spec"] for r in prod.of_type(CERT)
             if r.name.endswith("-access-certificate")}
    assert set(certs) == {"vision", "nlp"}
    for team, spec in certs.items():
        assert spec["commonName"] == f"team-{team}" and spec["secretName"] == f"team-{team}-tls"
        assert "dnsNames" not in spec and spec["usages"] == ["client auth", "digital signature"]
        assert (spec["duration"], spec["renewBefore"]) == ("24h", "8h")
        assert spec["privateKey"]["rotationPolicy"] == "Always"
        assert spec["issuerRef"] == {"name": "mlinfra-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    assert prod.outputs["teams.vision.certificate_secret"] == "team-vision-tls"


def test_egress_only_to_the_services_granted() -> None:
    result = plan(_config("onprem-prod.yaml", {"s3": {"buckets": {"raw": "read"}},
                                               "bus": {"topics": {"raw-events": "publish"}}, "nothing": {}}))
    egress = {r.inputs["metadata"]["namespace"]: r.inputs["spec"]["egress"] for r in result.of_type(POLICY)
              if r.name.endswith("-allow-data-services")}
    assert set(egress) == {"s3", "bus"}
    assert egress["s3"] == [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name":
                                                                           "object-store"}}}],
                             "ports": [{"protocol": "TCP", "port": 9000}]}]
    assert [e["ports"][0]["port"] for e in egress["bus"]] == [4222]
    assert not [r for r in result.resources if r.type == "mlinfra:onprem:TeamAccess" and "nothing" in r.name]


def test_team_access_waits_for_its_namespace_and_the_ca(prod: Plan) -> None:
    (cert,) = [r for r in prod.of_type(CERT) if r.name == "dc-prod-vision-access-certificate"]
    assert any(d.endswith("::dc-prod-main-vision-ns") for d in cert.dependencies)
    assert any(d.endswith("::dc-prod-main-serving-ca-issuer") for d in cert.dependencies)


# --- workloads and secrets -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["onprem-prod.yaml", "local.yaml"])
def test_every_declared_pod_is_restricted_with_requests_and_limits(name: str) -> None:
    specs = list(_pod_specs(plan(load(STACKS / name))))
    assert specs, "the bucket-setup Job at least"
    for res, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["seccompProfile"] == {"type": "RuntimeDefault"}, res.name
        assert spec.get("automountServiceAccountToken") is False, res.name
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), res.name
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}, res.name
            assert sc["readOnlyRootFilesystem"] is True and sc["runAsNonRoot"] is True, res.name
            assert not sc.get("privileged"), res.name
            limits = container["resources"]
            assert set(limits["requests"]) >= {"cpu", "memory"} and set(limits["limits"]) >= {"cpu", "memory"}
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume, res.name


def test_no_credential_in_plain_text_anywhere_in_the_plan() -> None:
    config = load(STACKS / "onprem-prod.yaml")  # with KES: all three generated secrets are used
    values = {"objectStoreRootUser": "root-user-3b9e51", "objectStoreRootPassword": "root-pass-c0ffee77",
              "objectStoreKesApiKey": "kes:v1:api-key-a1b2c3"}

    def offline() -> None:
        program(config, {k: pulumi.Output.secret(v) for k, v in values.items()})

    doc = run_program(offline, project=PROJECT, stack=config.name).to_json()
    text = json.dumps(doc)
    for value in values.values():
        assert value in text, f"{value} not recorded at all: the check would prove nothing"
        assert list(_plaintext(doc, value)) == [], value
    # Team access carries no credential of any kind: certificates are issued in-cluster, nothing else exists.
    access = [r for r in doc["resources"] if r["config_path"].startswith("iam.teams")]
    assert access and not [r for r in access if r["type"] == "kubernetes:core/v1:Secret"]
    users = json.dumps(_nats_users(plan(config)))
    assert not any(word in users for word in ('"password"', '"token"', '"nkey"'))
    assert not any("passwordSecret" in r or "password" in r for r in _roles(plan(config)).values())


# --- validation and contract ---------------------------------------------------------------------------


def test_component_validators() -> None:
    base = {"chart": resolve("minio-operator"), "root_user": pulumi.Output.secret("u"),
            "root_password": pulumi.Output.secret("p"), "buckets": [BucketArgs(name="raw")]}
    with pytest.raises(ValidationError, match="unknown buckets"):
        ObjectStoreArgs(**base, team_policies=[TeamPolicyArgs(identity="team-a", buckets={"nope": "read"})])
    with pytest.raises(ValidationError, match="built-in policy"):
        ObjectStoreArgs(**base, team_policies=[TeamPolicyArgs(identity="readwrite", buckets={"raw": "read"})])
    with pytest.raises(ValidationError, match="existing_endpoint"):
        ObjectStoreArgs(chart=resolve("minio-operator"), existing_endpoint="https://s3.corp:9000",
                        buckets=[BucketArgs(name="raw")],
                        team_policies=[TeamPolicyArgs(identity="team-a", buckets={"raw": "read"})])
    with pytest.raises(ValidationError, match="unknown topics"):
        EventBusArgs(chart=resolve("nats"), controller_chart=resolve("nack"), streams=[StreamArgs(name="a")],
                     clients=[ClientArgs(identity="team-a", topics={"b": "publish"})])
    with pytest.raises(ValidationError, match="controller"):
        EventBusArgs(chart=resolve("nats"), controller_chart=resolve("nack"),
                     clients=[ClientArgs(identity=perms.NACK_IDENTITY)])
    wh = {"chart": resolve("cloudnative-pg"), "datasets": [DatabaseArgs(name="a")]}
    with pytest.raises(ValidationError, match="cluster_issuer"):
        WarehouseArgs(**wh, cluster_issuer=None, team_roles=[TeamRoleArgs(identity="team-a", datasets={"a": "read"})])
    with pytest.raises(ValidationError, match="unknown datasets"):
        WarehouseArgs(**wh, team_roles=[TeamRoleArgs(identity="team-a", datasets={"b": "read"})])
    with pytest.raises(ValidationError, match="renew_before_hours"):
        TeamAccessArgs(team="a", identity="team-a", certificate_hours=8, renew_before_hours=8)
    with pytest.raises(ValidationError):
        TeamPolicyArgs(identity="team-a", buckets={})


def test_permission_levels_nest_and_name_their_resources() -> None:
    for bucket in ("raw", "models.v2"):
        read, write, admin = (_grants(perms.object_store_policy({bucket: a})) for a in ("read", "write", "admin"))
        for arn in read:
            assert read[arn] < write[arn] < admin[arn]
        assert set(read) == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    assert perms.dataset_memberships("admin", "x") == ["pg_read_all_data", "pg_write_all_data", "owner_x"]
    with pytest.raises(ValueError, match="at least one"):
        perms.object_store_policy({})


def test_access_module_contract() -> None:
    module = importlib.import_module("mlinfra.components.onprem.access")
    assert module.__doc__ and "Why" in module.__doc__
    component = module.TeamAccess
    assert '"mlinfra:onprem:TeamAccess"' in inspect.getsource(component)
    assert list(inspect.signature(component.__init__).parameters) == ["self", "name", "args", "opts"]
    for model in (module.TeamAccessArgs, module.ServiceEndpointArgs):
        assert issubclass(model, BaseModel) and model.model_config.get("frozen")
        assert all(info.description for info in model.model_fields.values())
