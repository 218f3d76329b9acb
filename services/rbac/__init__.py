"""RBAC: roles, scopes, permissions, assignments and permission checks."""
