"""Tier 4: the CLI: exit codes, messages and output formats through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from mlinfra.cli.app import app
from mlinfra.stacks.loader import load

runner = CliRunner()
TEMPLATES = Path(__file__).resolve().parent.parent / "stacks" / "templates"


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("schema", "init", "validate", "plan"):
        assert command in result.output


def test_plan_aws_example() -> None:
    result = runner.invoke(app, ["plan", str(STACKS / "aws-prod.yaml"), "--json", "-"])
    assert result.exit_code == 0, result.output
    types = {r["type"] for r in json.loads(result.stdout)["resources"]}
    assert {"aws:eks/cluster:Cluster", "aws:s3/bucket:Bucket", "aws:sns/topic:Topic"} <= types
    graph = runner.invoke(app, ["plan", str(STACKS / "aws-prod.yaml"), "--graph", "-"])
    assert graph.exit_code == 0 and "mlinfra:EksCluster" in graph.stdout and "-- events -->" in graph.stdout


def test_schema_is_json_schema(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    result = runner.invoke(app, ["schema", "-o", str(out)])
    assert result.exit_code == 0, result.output
    schema = json.loads(out.read_text())
    assert schema["title"] == "StackConfig" and "target" in schema["required"]
    assert schema["properties"]["storage"]["description"]


def test_init_writes_valid_config_per_target(tmp_path: Path) -> None:
    for target in ("gcp", "aws", "onprem"):
        path = tmp_path / f"{target}.yaml"
        result = runner.invoke(app, ["init", "--target", target, str(path)])
        assert result.exit_code == 0, result.output
        assert load(path).target.cloud == target
        assert path.read_text().startswith("# mlinfra stack file")


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("keep me")
    result = runner.invoke(app, ["init", "--target", "gcp", str(path)])
    assert result.exit_code == 2 and "already exists" in result.output
    assert path.read_text() == "keep me"


def test_init_rejects_unknown_target() -> None:
    result = runner.invoke(app, ["init", "--target", "azure"])
    assert result.exit_code == 2


def test_validate_ok() -> None:
    result = runner.invoke(app, ["validate", str(TEMPLATES / "gcp.yaml")])
    assert result.exit_code == 0
    assert "ok:" in result.output


def test_validate_reports_located_errors_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((TEMPLATES / "gcp.yaml").read_text().replace("  region: europe-west4", "  regoin: europe-west4"))
    line = bad.read_text().splitlines().index("  regoin: europe-west4") + 1
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:{line}: target.regoin: unknown field; did you mean 'region'?" in result.output
    assert "Traceback" not in result.output


def test_validate_missing_file() -> None:
    result = runner.invoke(app, ["validate", "does-not-exist.yaml"])
    assert result.exit_code == 2
    assert "does-not-exist.yaml: file not found" in result.output


def test_validate_many_files_fails_if_any_fails(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(TEMPLATES / "gcp.yaml"), str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert "ok:" in result.output and "file not found" in result.output


def test_plan_bad_input_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    result = runner.invoke(app, ["plan", str(bad)])
    assert result.exit_code == 2
    assert "target: required field missing" in result.output


STACKS = TEMPLATES.parent


def test_plan_prints_tree_and_summary() -> None:
    result = runner.invoke(app, ["plan", str(STACKS / "gcp-dev.yaml")])
    assert result.exit_code == 0, result.output
    assert "mlinfra:GcsBucket" in result.output and "← storage.buckets[0]" in result.output
    assert "gcp:Cluster" in result.output
    summary = result.output.strip().splitlines()[-1]
    assert summary.startswith(f"plan {STACKS / 'gcp-dev.yaml'}: ") and "nothing deployed" in summary


def test_plan_json_to_stdout_is_only_json() -> None:
    result = runner.invoke(app, ["plan", str(STACKS / "gcp-dev.yaml"), "--json", "-"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    types = {r["type"] for r in data["resources"]}
    assert {"gcp:storage/bucket:Bucket", "gcp:container/cluster:Cluster", "mlinfra:index:MlPlatform"} <= types
    bucket = next(r for r in data["resources"] if r["type"] == "gcp:storage/bucket:Bucket")
    assert bucket["config_path"].startswith("storage.buckets[") and bucket["urn"].startswith("urn:pulumi:")


def test_plan_graph_and_json_files(tmp_path: Path) -> None:
    graph, plan_json = tmp_path / "g.mmd", tmp_path / "out" / "plan.json"
    result = runner.invoke(app, ["plan", str(STACKS / "gcp-prod.yaml"), "--graph", str(graph),
                                 "--json", str(plan_json), "-q"])
    assert result.exit_code == 0, result.output
    text = graph.read_text()
    assert text.startswith("flowchart LR") and "mlinfra:GkeCluster" in text and "-- events -->" in text
    assert json.loads(plan_json.read_text())["stack"] == "ml-prod"
    assert "resources to create" in result.output and "├──" not in result.output


def test_plan_unwritable_output_is_bad_input(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = runner.invoke(app, ["plan", str(STACKS / "gcp-dev.yaml"), "--json", str(blocker / "plan.json")])
    assert result.exit_code == 2 and "cannot write" in result.output


def test_committed_schema_is_current() -> None:
    committed = STACKS.parent / "docs" / "stack.schema.json"
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    stale = "docs/stack.schema.json is stale: run mlinfra schema -o docs/stack.schema.json"
    assert committed.read_text() == result.stdout, stale


def test_plan_internal_error_is_reported_without_traceback(monkeypatch) -> None:
    import mlinfra.stacks.program as program

    def broken(config):
        raise RuntimeError("boom")

    monkeypatch.setattr(program, "plan", broken)
    monkeypatch.delenv("MLINFRA_DEBUG", raising=False)
    result = runner.invoke(app, ["plan", str(STACKS / "gcp-dev.yaml")])
    assert result.exit_code == 1
    assert "internal error while planning" in result.output and "RuntimeError: boom" in result.output


def test_plan_onprem_render_example() -> None:
    result = runner.invoke(app, ["plan", str(STACKS / "local.yaml"), "--json", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    provider = next(r for r in data["resources"] if r["type"] == "pulumi:providers:kubernetes")
    assert provider["inputs"]["renderYamlToDirectory"] == ".mlinfra/render/local"
    assert any(r["type"] == "mlinfra:onprem:ObjectStore" for r in data["resources"])
