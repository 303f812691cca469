"""Command line: ``python -m loadtest <subcommand>``; see loadtest/README.md."""

from loadtest.cli import main

main()
