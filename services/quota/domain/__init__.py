"""Quota domain: policy field rules, aggregates, errors. Sync, no I/O."""
