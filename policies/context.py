"""What a rule may know about the environment besides the resource: its residency allow-list and kind.

Offline, the context comes from the stack file itself. In the CrossGuard packs it comes from the stack file
named by ``MLINFRA_STACK_FILE`` (``mlinfra up`` sets it), else from the pack's policy config
(``pulumi preview --policy-pack-config``), so both runs judge against the same allow-list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlinfra.stacks import regions

if TYPE_CHECKING:
    from mlinfra.stacks.config import StackConfig


@dataclass(frozen=True)
class PolicyContext:
    """The environment's facts rules may use.

    ``allowed_regions`` is the config's residency allow-list as written (regions and groups); empty means
    residency is unrestricted; ``None`` means nobody told the pack, and residency rules fail closed.
    """

    environment: str = "dev"
    cloud: str = ""
    region: str = ""
    allowed_regions: tuple[str, ...] | None = ()

    @classmethod
    def from_config(cls, config: StackConfig) -> PolicyContext:
        """The context of one stack config."""
        return cls(environment=config.environment, cloud=config.target.cloud, region=config.target.region,
                   allowed_regions=tuple(config.residency.allowed_regions))

    @classmethod
    def from_policy_config(cls, config: Mapping[str, Any]) -> PolicyContext:
        """The context from a CrossGuard policy config (``allowedRegions``, ``environment``, ``cloud``)."""
        allowed = config.get("allowedRegions")
        return cls(environment=str(config.get("environment") or "dev"), cloud=str(config.get("cloud") or ""),
                   region=str(config.get("region") or ""),
                   allowed_regions=tuple(str(a) for a in allowed) if isinstance(allowed, list) else None)

    def allows(self, location: str) -> bool:
        """True when every member region of ``location`` is inside the allow-list (or none is set)."""
        if self.allowed_regions is None:
            return False
        return regions.location_allowed(location, list(self.allowed_regions))

    def describe_allowed(self) -> str:
        """The allow-list for messages."""
        if self.allowed_regions is None:
            return "no allow-list (set MLINFRA_STACK_FILE or the pack's allowedRegions config)"
        return ", ".join(self.allowed_regions) or "anywhere"
