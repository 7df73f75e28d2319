"""Tier 2 plumbing: the offline runner records type, name, URN, parent, provider, inputs and config path,
and every run is isolated from the ones before it."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
import pytest

from mlinfra.components import provenance
from mlinfra.stacks.graph import to_mermaid
from mlinfra.stacks.offline import run_program


class _Box(pulumi.ComponentResource):
    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:test:Box", name, None, opts)
        topic = gcp.pubsub.Topic(f"{name}-topic", name=f"{name}-topic", opts=pulumi.ResourceOptions(parent=self))
        bucket = gcp.storage.Bucket(f"{name}-bucket", name=f"{name}-bucket", location="EU",
                                    opts=pulumi.ResourceOptions(parent=self))
        gcp.storage.Notification(f"{name}-note", bucket=bucket.name, topic=topic.id, payload_format="JSON_API_V1",
                                 opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


def _program(box: str, bucket_path: str) -> None:
    provider = gcp.Provider("gcp", project="p-123456", region="europe-west4")
    with provenance.source(bucket_path):
        _Box(box, opts=pulumi.ResourceOptions(providers=[provider]))
    account = gcp.serviceaccount.Account("sa", account_id="team-a", opts=pulumi.ResourceOptions(provider=provider))
    pulumi.export("email", account.email)


def test_records_graph_with_engine_style_urns() -> None:
    plan = run_program(lambda: _program("box", "storage.buckets[3]"), project="mlinfra", stack="dev")
    bucket = plan.named("box-bucket")
    assert bucket.type == "gcp:storage/bucket:Bucket"
    assert bucket.urn == "urn:pulumi:dev::mlinfra::mlinfra:test:Box$gcp:storage/bucket:Bucket::box-bucket"
    assert bucket.parent == plan.named("box").urn
    assert bucket.provider == "urn:pulumi:dev::mlinfra::pulumi:providers:gcp::gcp::gcp-id"
    assert bucket.inputs["location"] == "EU"
    assert bucket.config_path == "storage.buckets[3]"  # inherited from the component's source block
    assert plan.named("sa").config_path == ""
    assert plan.outputs == {"email": "team-a@p-123456.iam.gserviceaccount.com"}
    depths = {res.name: depth for depth, res in plan.walk()}
    assert depths["box"] == 0 and depths["box-topic"] == 1


def test_runs_are_isolated() -> None:
    first = run_program(lambda: _program("one", "a"), project="mlinfra", stack="s1")
    second = run_program(lambda: _program("two", "b"), project="mlinfra", stack="s2")
    assert {r.name for r in second.resources} == {"gcp", "two", "two-topic", "two-bucket", "two-note", "sa"}
    assert all(r.urn.startswith("urn:pulumi:s2::") for r in second.resources)
    assert len(first.resources) == len(second.resources)


def test_program_errors_propagate() -> None:
    def broken() -> None:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        run_program(broken, project="mlinfra", stack="x")
    # and the next run is unaffected
    assert run_program(lambda: _program("ok", "p"), project="mlinfra", stack="y").named("ok-bucket")


def test_plan_json_and_mermaid() -> None:
    plan = run_program(lambda: _program("box", "storage.buckets[0]"), project="mlinfra", stack="dev")
    data = plan.to_json()
    assert data["stack"] == "dev" and len(data["resources"]) == len(plan.resources)
    assert all({"urn", "type", "name", "parent", "inputs", "config_path"} <= set(r) for r in data["resources"])
    mermaid = to_mermaid(plan)
    assert mermaid.startswith("flowchart LR")
    assert 'subgraph n' in mermaid and "box<br/>" in mermaid
    assert "gcp:Bucket" in mermaid
