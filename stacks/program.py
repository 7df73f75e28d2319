"""The one Pulumi program: config → :class:`MlPlatform`. Every path (offline plan, engine, plain
``pulumi up``) runs exactly this function."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlinfra.components.platform import MlPlatform
    from mlinfra.stacks.config import StackConfig
    from mlinfra.stacks.offline import Plan

PROJECT = "mlinfra"

# Targets whose building blocks ship in this version. `validate` rejects the others up front.
BUILDABLE_TARGETS = ("gcp", "aws")


def unbuildable_reason(config: StackConfig) -> str | None:
    """Why this version cannot build the config's target, or None when it can."""
    cloud = config.target.cloud
    if cloud in BUILDABLE_TARGETS:
        return None
    return (f"the {cloud} target is not available in this version of mlinfra (buildable: "
            f"{', '.join(BUILDABLE_TARGETS)}); the config is otherwise valid")


def program(config: StackConfig) -> MlPlatform:
    """Declare the platform for ``config`` in the current Pulumi program and export its outputs."""
    import pulumi

    from mlinfra.components.platform import MlPlatform

    platform = MlPlatform(config.name, config)
    for key, value in platform.outputs.items():
        pulumi.export(key, value)
    return platform


def plan(config: StackConfig) -> Plan:
    """Run the program offline under mocks and return what it would create."""
    from mlinfra.stacks.offline import run_program

    return run_program(lambda: program(config), project=PROJECT, stack=config.name)
