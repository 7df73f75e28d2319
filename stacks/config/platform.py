"""Platform tooling: where the in-cluster layer gets its Helm charts (air-gapped sites point these at a
mirror), and where the engine keeps the environment's state and how it encrypts secrets."""

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


STATE_SCHEMES = ("file", "s3", "gs", "azblob", "https")
KMS_SECRETS = ("gcpkms", "awskms", "azurekeyvault", "hashivault")


class BackendConfig(StrictModel):
    """Where `mlinfra up` keeps the environment's state, and how it encrypts the secrets in it."""

    url: str | None = Field(
        default=None,
        description="State backend: 'file://DIR', 's3://BUCKET[/PREFIX][?region=R]', 'gs://BUCKET', "
        "'azblob://CONTAINER' or 'https://api.pulumi.com' (Pulumi Cloud). Remote backends lock the stack during "
        "updates. Default: a local file backend in .mlinfra/state beside the stack file (no account). "
        "`--backend` overrides it. Prod requires a remote backend.",
    )
    secrets_provider: str | None = Field(
        default=None,
        description="How secrets in the state are encrypted: 'passphrase' (from PULUMI_CONFIG_PASSPHRASE, "
        "PULUMI_CONFIG_PASSPHRASE_FILE, or a 0600 file mlinfra creates once in .mlinfra/), or a KMS key: "
        "'gcpkms://projects/P/locations/L/keyRings/R/cryptoKeys/K', 'awskms://alias/NAME?region=R', "
        "'azurekeyvault://VAULT.vault.azure.net/keys/KEY', 'hashivault://KEY'. Default: passphrase. Prod "
        "requires a KMS key.",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        issues = []
        if self.url is not None and self.url.partition("://")[0] not in STATE_SCHEMES:
            issues.append((("url",), f"unknown backend {self.url!r}; use one of "
                           + ", ".join(f"{s}://" for s in STATE_SCHEMES)))
        provider = self.secrets_provider
        if provider is not None and provider != "passphrase" and provider.partition("://")[0] not in KMS_SECRETS:
            issues.append((("secrets_provider",), f"unknown secrets provider {provider!r}; use 'passphrase' or "
                           + ", ".join(f"{s}://" for s in KMS_SECRETS)))
        raise_issues(issues)
        return self

    @property
    def remote(self) -> bool:
        """True for a backend other than a local directory."""
        return self.url is not None and not self.url.startswith("file://")

    @property
    def uses_kms(self) -> bool:
        """True when secrets are encrypted with a KMS key rather than a passphrase."""
        return self.secrets_provider is not None and self.secrets_provider.partition("://")[0] in KMS_SECRETS


class NamingConfig(StrictModel):
    """How resource names are built: ``{prefix}{environment name}-{resource}``, shortened to each service's limit."""

    prefix: str = Field(
        default="", pattern=r"^([a-z][a-z0-9-]{0,14}-)?$",
        description="Put before the environment name in every resource name, e.g. 'acme-' gives "
        "'acme-ml-prod-raw'. Lowercase, ends with '-'. Changing it renames (replaces) resources. Default: none.",
    )
