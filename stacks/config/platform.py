"""Where the in-cluster layer gets its Helm charts (air-gapped sites point these at a mirror)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from mlinfra.components.kubernetes.charts import CHARTS
from mlinfra.stacks.config.base import StrictModel, raise_issues


class ChartOverride(StrictModel):
    """Per-chart source or version override, or switching an add-on off."""

    repository: str | None = Field(
        default=None,
        description="Chart repository: https URL, oci:// registry, or a local directory. Default: helm.mirror, "
        "else the upstream repository.",
    )
    version: str | None = Field(default=None, description="Chart version. Default: the version pinned by mlinfra.")
    enabled: bool = Field(
        default=True, description="Install this chart. Default: on; off leaves the add-on to the cluster admin."
    )


class HelmConfig(StrictModel):
    """Helm chart sources for the in-cluster layer."""

    mirror: str | None = Field(
        default=None,
        description="One repository (https chart repo, oci:// registry or local directory) serving every chart "
        "under its upstream name and version. Default: none, each chart's upstream repository.",
    )
    charts: dict[str, ChartOverride] = Field(
        default_factory=dict,
        description=f"Per-chart overrides by key ({', '.join(sorted(CHARTS))}). Default: none.",
    )

    @model_validator(mode="after")
    def _known_charts(self) -> Self:
        import difflib

        issues = []
        for key in self.charts:
            if key not in CHARTS:
                close = difflib.get_close_matches(key, list(CHARTS), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(CHARTS))}"
                issues.append((("charts", key), f"unknown chart {key!r}{hint}"))
        raise_issues(issues)
        return self

    def enabled(self, key: str) -> bool:
        """Whether the chart ``key`` is installed."""
        override = self.charts.get(key)
        return override.enabled if override else True
