"""The subcommands of ``ocd``: thin shells that parse arguments and call the core."""
