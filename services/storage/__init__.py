"""The storage service: storage hosts, user and group folders, invitations, permissions."""
