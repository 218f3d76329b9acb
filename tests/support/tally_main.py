"""Entry point for the tally consumer process (aggregates must not live in __main__)."""

from tests.support.tally_consumer import main

main()
