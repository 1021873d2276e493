"""``python -m edge`` is the ``storefront-edge`` command."""

from edge.cli.main import cli

cli(prog_name="storefront-edge")
