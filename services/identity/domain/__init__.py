"""Identity domain: aggregates, validation rules and errors. Sync, no I/O."""
