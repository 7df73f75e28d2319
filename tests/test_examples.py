"""Examples double as integration tests: every shipped stack file validates and plans, and the plain
``pulumi up`` entry point (``__main__.py`` named by Pulumi.yaml) runs the same program."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from mlinfra.stacks.loader import load, parse_yaml
from mlinfra.stacks.offline import run_program
from mlinfra.stacks.program import plan

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "stacks").glob("*.yaml"))


def test_examples_exist() -> None:
    assert {p.name for p in EXAMPLES} >= {"gcp-dev.yaml", "gcp-prod.yaml", "aws-dev.yaml", "aws-prod.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_plans(path: Path) -> None:
    config = load(path)
    result = plan(config)
    assert result.named(config.name).type == "mlinfra:index:MlPlatform"
    custom = [r for r in result.resources if r.custom]
    assert len(custom) > 30
    assert all(r.config_path for r in custom if not r.type.startswith("pulumi:providers:"))


def test_prod_example_is_split_eu_and_protected() -> None:
    config = load(ROOT / "stacks" / "gcp-prod.yaml")
    assert config.environment == "prod" and config.protected
    assert sorted(c.role for c in config.clusters) == ["serving", "training"]
    assert config.residency.allowed_regions == ["eu"]
    kinds = {p.accelerator.type for p in config.node_pools if p.accelerator}
    assert any(k.startswith("nvidia-") for k in kinds) and any(k.startswith("tpu-") for k in kinds)


def test_pulumi_project_runs_the_same_program() -> None:
    project = parse_yaml((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "mlinfra" and project["runtime"]["name"] == "python"
    via_main = run_program(lambda: runpy.run_path(str(ROOT / "__main__.py")), project="mlinfra", stack="gcp-dev")
    direct = plan(load(ROOT / "stacks" / "gcp-dev.yaml"))
    assert [(r.type, r.name) for r in via_main.resources] == [(r.type, r.name) for r in direct.resources]


def test_plans_are_reproducible() -> None:
    config = load(ROOT / "stacks" / "gcp-dev.yaml")
    assert plan(config).to_json() == plan(config).to_json()
