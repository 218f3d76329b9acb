"""Quota service: resource policies, their references, effective limits."""
