"""``MlPlatform``: the whole ML platform for one environment, composed from the target's building blocks.

L3 of the three layers: it owns nothing but composition. It creates the target's provider from the
config (so the region and project are explicit, never taken from ambient settings), then hands the
config to the target layer, which maps the neutral config onto that target's L2 components.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

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

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None,
                 secrets: Mapping[str, pulumi.Input[str]] | None = None) -> None:
        cloud = config.target.cloud
        transforms = []
        if cloud == "onprem":  # no provider region on-prem: objects carry the site's region for residency checks
            transforms.append(site_region_label(config.target.region))
        if config.transforms:  # extension transforms (labels, naming rules), applied to every resource
            from mlinfra.stacks.extensions import load_transform

            transforms += [load_transform(name, config) for name in config.transforms]
        if transforms:
            opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(transformations=transforms))
        super().__init__("mlinfra:index:MlPlatform", name, None, opts)
        from mlinfra.components.base import replacements
        from mlinfra.stacks.extensions import replacements_of

        with replacements(replacements_of(config)):  # subclasses from extensions, where the config asks
            self._build(name, config, secrets)
        self._extensions(config)
        self.register_outputs(self.outputs)

    def _build(self, name: str, config: StackConfig, secrets: Mapping[str, pulumi.Input[str]] | None) -> None:
        """The target's building blocks and the in-cluster layer."""
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
            self.providers: dict[str, pulumi.ProviderResource] = {"gcp": provider}
            self.outputs = build_gcp(config, parent=self, provider=provider)
            identities = {t.name: {"iam.gke.io/gcp-service-account": self.outputs[f"teams.{t.name}.service_account"]}
                          for t in config.iam.teams}
            self._cluster_layers(config, "gcp", identities)
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
            self.providers = {"aws": provider}
            self.outputs = build_aws(config, parent=self, provider=provider)
            self._cluster_layers(config, "aws", {})
        elif cloud == "onprem":
            import pulumi_kubernetes as k8s

            from mlinfra.components.kubernetes.layer import build_cluster_layer
            from mlinfra.components.onprem.target import build_onprem

            target = config.target
            kube = k8s.Provider(
                f"{name}-k8s", kubeconfig=target.kubeconfig, context=target.context,
                render_yaml_to_directory=target.render_to, opts=kubernetes_provider_options(self),
            )
            self.providers = {"kubernetes": kube}
            layer = build_cluster_layer(config, config.clusters[0], target="onprem", identities={}, index=0,
                                        parent=self, provider=kube,
                                        grafana_admin_password=(secrets or {}).get("grafanaAdminPassword"))
            self.outputs = {**layer.outputs, **build_onprem(
                config, parent=self, provider=kube, secrets=secrets or {},
                after=[layer.certificates] if layer.certificates is not None else [],
                team_namespaces=layer.namespaces)}
        else:
            raise UnsupportedTargetError(
                f"target.cloud {cloud!r}: this version of mlinfra builds the gcp, aws and onprem targets only; "
                f"the {cloud} target is not available yet"
            )

    def _extensions(self, config: StackConfig) -> None:
        """Custom components of installed extensions, with the target's provider (stacks/extensions.py)."""
        from mlinfra.components import provenance
        from mlinfra.stacks.extensions import load_component, settings_of

        for index, extension in enumerate(config.extensions):
            where = f"extensions[{index}]"
            component = load_component(extension.component)
            args = settings_of(component, dict(extension.settings), where)
            with provenance.source(where):
                component(f"{config.resource_prefix}-{extension.name}", args,
                          opts=pulumi.ResourceOptions(parent=self, providers=self.providers))


    def _cluster_layers(self, config: StackConfig, target: Literal["gcp", "aws"],
                        identities: dict[str, dict[str, pulumi.Input[str]]]) -> None:
        """The shared in-cluster layer on every cluster the cloud layer created, through its kubeconfig."""
        import pulumi_kubernetes as k8s

        from mlinfra.components.kubernetes.layer import build_cluster_layer

        for index, cluster in enumerate(config.clusters):
            kube = k8s.Provider(
                f"{config.resource_prefix}-{cluster.name}-k8s",
                kubeconfig=self.outputs[f"clusters.{cluster.name}.kubeconfig"],
                opts=kubernetes_provider_options(self),
            )
            physical = None
            if target == "aws":
                from mlinfra.components.aws import names as aws_names

                physical = aws_names.fit(f"{config.resource_prefix}-{cluster.name}", 100)
            layer = build_cluster_layer(config, cluster, target=target, identities=identities, index=index,
                                        parent=self, provider=kube, cluster_name=physical)
            self.outputs.update(layer.outputs)


REGION_LABEL = "mlinfra.io/region"
PROVIDER_VERSION_ENV = "MLINFRA_KUBERNETES_PROVIDER_VERSION"


def kubernetes_provider_options(parent: pulumi.Resource) -> pulumi.ResourceOptions:
    """Options of the platform's Kubernetes providers.

    The engine loads the plugin version the SDK asks for; an engine built by ``scripts/bootstrap-engine`` has
    another version installed and exports ``MLINFRA_KUBERNETES_PROVIDER_VERSION`` so the providers ask for it
    (docs/engine.md). Unset, the SDK's own version is used.
    """
    return pulumi.ResourceOptions(parent=parent, version=os.environ.get(PROVIDER_VERSION_ENV) or None)


def site_region_label(region: str) -> pulumi.ResourceTransformation:
    """A transformation labelling every Kubernetes object with the site's declared region.

    On-prem there is no provider region to judge residency by; the residency pack reads this label.
    """

    def label(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if not args.type_.startswith("kubernetes:") or args.type_.startswith("kubernetes:helm.sh/"):
            return None
        metadata = args.props.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("labels", {}), dict):
            labels = {**(metadata.get("labels") or {}), REGION_LABEL: region}
            return pulumi.ResourceTransformationResult({**args.props, "metadata": {**metadata, "labels": labels}},
                                                       args.opts)
        if metadata is not None and hasattr(metadata, "labels") and isinstance(metadata.labels or {}, dict):
            metadata.labels = {**(metadata.labels or {}), REGION_LABEL: region}
        return None

    return label


def environment_labels(config: StackConfig) -> dict[str, str]:
    """Labels every resource carries: the config's own plus the environment and tool markers."""
    return {"mlinfra-environment": config.name, "mlinfra-tier": config.environment, "managed-by": "mlinfra",
            **config.labels}
