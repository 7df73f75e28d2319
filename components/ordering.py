"""Make every resource under a component wait for other resources (e.g. an operator's CRDs).

``depends_on`` on a component does not reach the resources inside it; a transformation does, because
transformations are inherited by children. Give ``ResourceOptions(transformations=[wait_for(x)])``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pulumi


def wait_for(resources: Sequence[pulumi.Resource]) -> Callable[
        [pulumi.ResourceTransformationArgs], pulumi.ResourceTransformationResult]:
    """A transformation adding ``resources`` to the ``depends_on`` of every resource it sees."""
    extra = list(resources)

    def transform(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult:
        existing = args.opts.depends_on
        if existing is None:
            waits: list[pulumi.Resource] = []
        elif isinstance(existing, pulumi.Resource):
            waits = [existing]
        elif isinstance(existing, list | tuple):
            waits = list(existing)
        else:
            raise TypeError(f"{args.name}: depends_on given as an Output cannot be extended; pass a list")
        opts = pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions())
        opts.depends_on = waits + [r for r in extra if r not in waits and r is not args.resource]
        return pulumi.ResourceTransformationResult(args.props, opts)

    return transform
