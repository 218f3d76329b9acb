"""Mechanism shared by every service: bus, event store, relay, consumers, metrics."""
