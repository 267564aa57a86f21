"""The `tierstream` console script: `main` and one module per subcommand."""

from streams.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
