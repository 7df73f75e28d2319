"""``MlPlatform``: the whole ML platform for one environment, composed from the target's building blocks.

L3 of the three layers: it owns nothing but composition. It creates the target's provider from the
config (so the region and project are explicit, never taken from ambient settings), then hands the
config to the target layer, which maps the neutral config onto that target's L2 components.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pulumi

if TYPE_CHECKING:
    from mlinfra.stacks.config import StackConfig


class UnsupportedTargetError(ValueError):
    """The config names a target whose building blocks are not available in this version."""


class MlPlatform(pulumi.ComponentResource):
    """The complete platform for one environment (network, keys, data services, clusters, access).

    Outputs: ``outputs`` maps output names (bucket names, cluster endpoints, topic ids, …) to values; the
    same map is exported by the stack program.
    """

    outputs: dict[str, pulumi.Output[Any]]

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlinfra:index:MlPlatform", name, None, opts)
        cloud = config.target.cloud
        if cloud == "gcp":
            import pulumi_gcp as gcp

            from mlinfra.components.gcp.target import build_gcp

            provider = gcp.Provider(
                f"{name}-gcp",
                project=config.target.project,
                region=config.target.region,
                default_labels=environment_labels(config),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.outputs = build_gcp(config, parent=self, provider=provider)
        elif cloud == "aws":
            import pulumi_aws as aws

            from mlinfra.components.aws.target import build_aws

            provider = aws.Provider(
                f"{name}-aws",
                region=config.target.region,
                allowed_account_ids=[config.target.account_id] if config.target.account_id else None,
                default_tags={"tags": environment_labels(config)},
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.outputs = build_aws(config, parent=self, provider=provider)
        else:
            raise UnsupportedTargetError(
                f"target.cloud {cloud!r}: this version of mlinfra builds the gcp and aws targets only; "
                f"the {cloud} target is not available yet"
            )
        self.register_outputs(self.outputs)


def environment_labels(config: StackConfig) -> dict[str, str]:
    """Labels every resource carries: the config's own plus the environment and tool markers."""
    return {"mlinfra-environment": config.name, "mlinfra-tier": config.environment, "managed-by": "mlinfra",
            **config.labels}
