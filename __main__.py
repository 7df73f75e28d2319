"""Entry point for a plain ``pulumi up``: the same program mlinfra runs, for the stack file named by
``pulumi config set mlinfra:stackFile stacks/gcp-dev.yaml`` (default: ``stacks/<stack name>.yaml``)."""

from pathlib import Path

import pulumi

from mlinfra.stacks.loader import ConfigError, load
from mlinfra.stacks.program import program

stack_file = pulumi.Config("mlinfra").get("stackFile") or f"stacks/{pulumi.get_stack()}.yaml"
try:
    config = load(Path(__file__).parent / stack_file)
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None
program(config)
