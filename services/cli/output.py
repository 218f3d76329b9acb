"""How the CLI prints for people: consoles that never wrap into a pipe, cells that never break.

Tables show short forms by default (as `docker ps` does): a UUID's first 8 characters, a time to
the second in UTC, "∞" for unlimited, memory in GiB. `--wide` shows every value in full and
`--json` what the gateway answered. A cell never breaks across lines: columns do not wrap.
"""

from __future__ import annotations

import json
import re
import sys
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO

from rich.console import Console

from contracts.quota import SLOT_NAMES, UNLIMITED, effective_slots
from contracts.values import SlotName

INFINITY = "∞"
SHORT_ID = 8
GIB = 1024**3
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(\.\d+)?(\+00:00|Z)$")


def make_console(stream: TextIO | None = None, stderr: bool = False) -> Console:
    """A console for `stream`: a terminal's width there; anywhere else (a pipe, a file) lines as
    long as their content, so a path or a key is never split by a wrap."""
    target = stream or (sys.stderr if stderr else sys.stdout)
    if target.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=100_000, soft_wrap=True)


def short(value: str, wide: bool) -> str:
    """A UUID or an ISO time in its short form, unless `wide`."""
    if wide:
        return value
    if _UUID.fullmatch(value):
        return value[:SHORT_ID]
    when = _TIME.fullmatch(value)
    if when:
        return f"{when.group(1)} {when.group(2)}"
    return value


def quantity(slot: str, value: Any) -> str:
    """One slot's amount for people: ∞, 0, cores, GiB for memory (bytes on the wire)."""
    if value == UNLIMITED:
        return INFINITY
    text = str(value)
    if slot != SlotName.MEM:
        return text
    try:
        gib = Decimal(text) / GIB
    except InvalidOperation:
        return text
    return f"{gib.normalize():f} GiB" if gib else "0"


def slot_cells(policy: dict[str, Any]) -> dict[str, str]:
    """A keypair policy's slots, every known slot resolved (∞ or 0 where none is named)."""
    if not policy.get("default_for_unspecified"):
        return {}
    return {slot: quantity(slot, value) for slot, value in effective_slots(policy).items()}


def cell(value: Any, wide: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value == UNLIMITED:
        return INFINITY
    if isinstance(value, dict) and value and set(value) <= set(SLOT_NAMES):
        return "  ".join(f"{slot} {quantity(slot, amount)}" for slot, amount in value.items())
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return short(str(value), wide)
