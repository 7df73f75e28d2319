"""ACME's company-wide label, put on every GCP resource that takes labels: a resource transformation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pulumi

if TYPE_CHECKING:
    from mlinfra.stacks.config import StackConfig

LABEL = "acme-owner"


def owner_label(config: StackConfig) -> pulumi.ResourceTransformation:
    """A transformation adding ``acme-owner: <environment>`` to the labels of every GCP resource that has labels."""

    def transform(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        labels = args.props.get("labels")
        if not args.type_.startswith("gcp:") or not isinstance(labels, dict):
            return None
        return pulumi.ResourceTransformationResult({**args.props, "labels": {**labels, LABEL: config.name}},
                                                   args.opts)

    return transform
