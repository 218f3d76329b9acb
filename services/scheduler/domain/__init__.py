"""Scheduler domain: sessions, ledgers, slot arithmetic, admission and placement. No I/O."""
