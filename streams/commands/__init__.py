"""One module per `tierstream` subcommand (see `streams.cli`)."""
