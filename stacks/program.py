"""The one Pulumi program: config → :class:`MlPlatform`. Every path (offline plan, engine, plain
``pulumi up``) runs exactly this function."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlinfra.components.platform import MlPlatform
    from mlinfra.stacks.config import StackConfig
    from mlinfra.stacks.offline import Plan

PROJECT = "mlinfra"

# Targets whose building blocks ship in this version. `validate` rejects the others up front.
BUILDABLE_TARGETS = ("gcp", "aws", "onprem")

# Generated credentials the program needs (on-prem object store, on-prem Grafana admin). `mlinfra up` creates
# them once and keeps them, encrypted, in the state; a plain `pulumi up` reads them from `mlinfra:<name>` secret
# config; an offline plan uses the placeholder below, never a real value.
SECRET_NAMES = ("objectStoreRootUser", "objectStoreRootPassword", "objectStoreKesApiKey", "grafanaAdminPassword")
PLAN_PLACEHOLDER = "(generated at first mlinfra up)"


def unbuildable_reason(config: StackConfig) -> str | None:
    """Why this version cannot build the config's target, or None when it can."""
    cloud = config.target.cloud
    if cloud in BUILDABLE_TARGETS:
        return None
    return (f"the {cloud} target is not available in this version of mlinfra (buildable: "
            f"{', '.join(BUILDABLE_TARGETS)}); the config is otherwise valid")


def program(config: StackConfig, secrets: Mapping[str, Any] | None = None) -> MlPlatform:
    """Declare the platform for ``config`` in the current Pulumi program and export its outputs.

    ``secrets`` maps names in :data:`SECRET_NAMES` to secret values (default: the stack's ``mlinfra:``
    secret config).
    """
    import pulumi

    from mlinfra.components.platform import MlPlatform

    if secrets is None:
        stack_config = pulumi.Config("mlinfra")
        secrets = {k: v for k in SECRET_NAMES if (v := stack_config.get_secret(k)) is not None}
    platform = MlPlatform(config.name, config, secrets=secrets)
    for key, value in platform.outputs.items():
        pulumi.export(key, value)
    return platform


def plan(config: StackConfig) -> Plan:
    """Run the program offline under mocks and return what it would create."""
    from mlinfra.stacks.offline import run_program

    def offline() -> None:
        import pulumi

        program(config, {k: pulumi.Output.secret(PLAN_PLACEHOLDER) for k in SECRET_NAMES})

    return run_program(offline, project=PROJECT, stack=config.name)

