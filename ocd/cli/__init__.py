"""The ``ocd`` executable: one module per subcommand, argument parsing only."""

from ocd.cli.executable import build_parser, main

__all__ = ["build_parser", "main"]
