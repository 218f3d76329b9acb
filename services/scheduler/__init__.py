"""Scheduler service: compute sessions, admission against policies, placement on agents."""
