"""The CrossGuard packs run the catalog's own rule functions: driven here through the policy SDK's analyzer
service (the gRPC servicer the engine talks to), with requests built from planned resources."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import json
import runpy
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from mlinfra.policies import crossguard
from mlinfra.policies.catalog import Resource
from mlinfra.policies.check import all_rules
from mlinfra.policies.engine import evaluate
from mlinfra.policies.testing import Example, example, mutate
from mlinfra.stacks.config import StackConfig

ROOT = Path(__file__).resolve().parent.parent
TODAY = dt.date(2026, 11, 25)
MANDATORY = proto.EnforcementLevel.Value("MANDATORY")


def analyzer(pack: str, config: StackConfig | None, logs: list[str] | None = None) -> _PolicyAnalyzerServicer:
    log = logs.append if logs is not None else (lambda _m: None)
    policies = crossguard.build_policies(pack, config=config, today=TODAY, log=log)  # type: ignore[arg-type]
    return _PolicyAnalyzerServicer(crossguard.PACK_NAMES[pack], "0.1.0", policies,  # type: ignore[index]
                                   EnforcementLevel.ADVISORY)


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(json.loads(json.dumps(value, default=str)))
    return out


def request(res: Resource, providers: dict[str, Resource]) -> Any:
    req = proto.AnalyzeRequest(type=res.type, properties=struct(dict(res.props)), urn=res.urn, name=res.name)
    provider = providers.get(res.urn)
    if provider is not None:
        req.provider.CopyFrom(proto.AnalyzerProviderResource(
            type=provider.type, properties=struct(dict(provider.props)), urn=provider.urn, name=provider.name))
    return req


def engine_violations(pack: str, ex: Example, config: StackConfig | None = None,
                      logs: list[str] | None = None) -> set[tuple[str, str]]:
    """(policy, urn) of every diagnostic the analyzer returns for the example, resource and stack policies."""
    service = analyzer(pack, config if config is not None else ex.config, logs)
    planned_providers = {r.urn: r for r in ex.resources if r.type.startswith("pulumi:providers:")}
    providers = {}
    for planned in ex.plan.resources:
        ref = (planned.provider or "").rpartition("::")[0]
        if ref in planned_providers:
            providers[planned.urn] = planned_providers[ref]
    found: set[tuple[str, str]] = set()
    for res in ex.resources:
        for diag in service.Analyze(request(res, providers), None).diagnostics:
            found.add((diag.policyName, diag.urn or res.urn))
    stack = proto.AnalyzeStackRequest(resources=[
        proto.AnalyzerResource(type=r.type, properties=struct(dict(r.props)), urn=r.urn, name=r.name,
                               dependencies=list(r.dependencies)) for r in ex.resources])
    for diag in service.AnalyzeStack(stack, None).diagnostics:
        found.add((diag.policyName, diag.urn))
    return found


def offline_violations(pack: str, ex: Example, config: StackConfig | None = None) -> set[tuple[str, str]]:
    config = config if config is not None else ex.config
    rules = [r for r in all_rules() if r.pack == pack]
    report = evaluate(ex.plan, config, rules, today=TODAY)
    return {(f.rule.id, f.urn or "") for f in report.findings if not f.waived}


def with_resource(ex: Example, old: Resource, new: Resource) -> Example:
    """The example with one resource's props changed, in the plan too (what the offline check reads)."""
    plan = dataclasses.replace(ex.plan, resources=[
        dataclasses.replace(r, inputs=new.props) if r.urn == old.urn else r for r in ex.plan.resources])
    return Example(ex.config, plan, tuple(new if r is old else r for r in ex.resources))


@pytest.mark.parametrize("pack", ["residency", "security"])
@pytest.mark.parametrize("name", ["gcp-prod", "aws-prod", "onprem-prod"])
def test_engine_and_offline_agree_on_every_example(pack: str, name: str) -> None:
    ex = example(name)
    assert engine_violations(pack, ex) == offline_violations(pack, ex)


def test_engine_and_offline_agree_on_a_violation() -> None:
    ex = example("gcp-prod")
    topic = ex.first("gcp:pubsub/topic:Topic")
    bad = with_resource(ex, topic, mutate(topic, ("messageStoragePolicy", "allowedPersistenceRegions"), ["us-east1"]))
    engine = engine_violations("residency", bad)
    assert ("residency-gcp-pubsub-topic-persistence", topic.urn) in engine
    assert engine == offline_violations("residency", bad)


def test_mandatory_violation_is_reported_as_mandatory() -> None:
    ex = example("gcp-prod")
    topic = ex.first("gcp:pubsub/topic:Topic")
    bad = mutate(topic, ("messageStoragePolicy", "enforceInTransit"), False)
    diags = analyzer("residency", ex.config).Analyze(request(bad, {}), None).diagnostics
    assert [(d.policyName, d.enforcementLevel) for d in diags] == [
        ("residency-gcp-pubsub-topic-persistence", MANDATORY)]
    assert "enforceInTransit" in diags[0].message


def test_unknown_value_is_deferred_to_the_update_in_the_engine() -> None:
    """At preview the SDK reports the rule cannot run yet (advisory); the update runs it on known values."""
    ex = example("gcp-prod")
    bucket = mutate(ex.first("gcp:storage/bucket:Bucket"), ("location",), UNKNOWN_STRING_VALUE)
    diags = analyzer("residency", ex.config).Analyze(request(bucket, {}), None).diagnostics
    assert [d.policyName for d in diags] == ["residency-gcp-location-allowed"]
    assert diags[0].enforcementLevel == proto.EnforcementLevel.Value("ADVISORY")
    assert "during preview" in diags[0].message and ".location" in diags[0].message
    known = mutate(bucket, ("location",), "US")
    diags = analyzer("residency", ex.config).Analyze(request(known, {}), None).diagnostics
    assert [(d.policyName, d.enforcementLevel) for d in diags] == [("residency-gcp-location-allowed", MANDATORY)]


def test_levels_follow_the_environment_config() -> None:
    ex = example("gcp-prod")
    relaxed = ex.config.model_copy(update={"policies": ex.config.policies.model_copy(
        update={"rules": {"residency-gcp-pubsub-topic-persistence": "advisory"}})})
    topic = mutate(ex.first("gcp:pubsub/topic:Topic"), ("messageStoragePolicy", "enforceInTransit"), False)
    diags = analyzer("residency", relaxed).Analyze(request(topic, {}), None).diagnostics
    assert [d.enforcementLevel for d in diags] == [proto.EnforcementLevel.Value("ADVISORY")]
    disabled = ex.config.model_copy(update={"policies": ex.config.policies.model_copy(
        update={"rules": {"residency-gcp-pubsub-topic-persistence": "disabled"}})})
    assert not analyzer("residency", disabled).Analyze(request(topic, {}), None).diagnostics


def test_waived_findings_are_logged_not_reported_and_expired_waivers_do_not_hide() -> None:
    ex = example("gcp-prod")
    topic = mutate(ex.first("gcp:pubsub/topic:Topic"), ("messageStoragePolicy", "enforceInTransit"), False)

    def waived(expires: dt.date) -> StackConfig:
        waiver = {"policy": "residency-gcp-pubsub-topic-persistence", "resource": topic.name,
                  "reason": "migration in progress, see ticket", "owner": "platform@example.com", "expires": expires}
        return StackConfig.model_validate({**ex.config.model_dump(mode="json"), "waivers": [waiver]})

    logs: list[str] = []
    assert not analyzer("residency", waived(TODAY), logs).Analyze(request(topic, {}), None).diagnostics
    assert logs and "waived residency-gcp-pubsub-topic-persistence" in logs[0] and "platform@example.com" in logs[0]
    diags = analyzer("residency", waived(TODAY - dt.timedelta(days=1))).Analyze(request(topic, {}), None).diagnostics
    assert len(diags) == 1 and "waiver expired" in diags[0].message


def test_residency_without_an_allow_list_fails_closed_and_reads_pack_config() -> None:
    bucket = example("gcp-prod").first("gcp:storage/bucket:Bucket")
    service = analyzer("residency", None)
    diags = service.Analyze(request(bucket, {}), None).diagnostics
    assert {d.policyName for d in diags} == {"residency-gcp-location-allowed"}
    configure = proto.ConfigureAnalyzerRequest()
    configure.policyConfig["residency-gcp-location-allowed"].properties.update({"allowedRegions": ["eu"]})
    service.Configure(configure, None)
    assert not service.Analyze(request(bucket, {}), None).diagnostics


def test_analyzer_info_carries_catalog_metadata() -> None:
    info = analyzer("security", None).GetAnalyzerInfo(None, None)
    names = {p.name for p in info.policies}
    assert names == {r.id for r in all_rules() if r.pack == "security"}
    assert all(p.description and p.remediation_steps for p in info.policies)


@pytest.mark.parametrize("pack", ["residency", "security"])
def test_pack_directories_serve_their_pack(pack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = ROOT / "policies" / pack
    project = yaml.safe_load((directory / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == "python" and project["version"]
    served: list[str] = []
    monkeypatch.setattr(crossguard, "serve", served.append)
    monkeypatch.delenv("MLINFRA_STACK_FILE", raising=False)
    runpy.run_path(str(directory / "__main__.py"), run_name="__main__")
    assert served == [pack]
    tree = ast.parse((directory / "__main__.py").read_text())
    assert len([n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]) == 0  # no logic here


def test_stack_file_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLINFRA_STACK_FILE", str(ROOT / "stacks" / "gcp-prod.yaml"))
    config = crossguard.stack_config_from_env()
    assert config is not None and config.name == example("gcp-prod").config.name
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntarget: {cloud: gcp}\n")
    monkeypatch.setenv("MLINFRA_STACK_FILE", str(bad))
    with pytest.raises(SystemExit, match="cannot be used"):
        crossguard.stack_config_from_env()
