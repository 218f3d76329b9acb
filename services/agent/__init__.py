"""The node agent: runs containers on directed commands, reports capacity and container events."""
