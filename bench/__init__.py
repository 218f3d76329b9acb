"""Benchmarks that drive real processes (nats-server, services) over the bus."""
