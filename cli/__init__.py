"""The ``mlinfra`` command line (typer): one command group per module, composed in :mod:`mlinfra.cli.app`."""
