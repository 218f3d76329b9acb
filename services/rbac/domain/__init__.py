"""RBAC domain: Role and its rules, the directory learnt from identity, the grant index.

Sync, no I/O.
"""
