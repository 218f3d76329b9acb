"""Container runtimes: docker (production), process (hosts without Docker), simulated."""
