"""Resource slot arithmetic on Decimals; "unlimited" is Decimal('Infinity')."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from contracts.values import SLOT_NAMES, SlotName
from services.scheduler.domain.errors import refuse

UNLIMITED = "unlimited"
INF = Decimal("Infinity")
KNOWN = SLOT_NAMES
# Placement compares scarce slots first (reference agent-selection priority).
PRIORITY = (SlotName.CUDA_DEVICE, SlotName.CUDA_SHARES, SlotName.CPU, SlotName.MEM)
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}

Slots = dict[str, Decimal]


def parse_request(raw: dict[str, Any]) -> Slots:
    """A session's requested slots: numbers or decimal strings; mem may say '512m' or '4g'."""
    slots: Slots = {}
    for name, value in raw.items():
        if name not in KNOWN:
            raise refuse("session.unknown_slot", f"unknown resource slot '{name}'",
                         field=f"slots.{name}", known=list(KNOWN))
        quantity = _quantity(name, value)
        # is_finite first: ordering a NaN raises decimal.InvalidOperation
        if not quantity.is_finite() or quantity < 0:
            raise refuse("session.bad_slot", f"slots.{name} must be a finite number ≥ 0",
                         field=f"slots.{name}")
        if quantity > 0:
            slots[name] = quantity
    return slots


def _quantity(name: str, value: Any) -> Decimal:
    if isinstance(value, bool):
        raise refuse("session.bad_slot", f"slots.{name} must be a number", field=f"slots.{name}")
    text = str(value)
    if name == SlotName.MEM:
        match = _SIZE.match(text)
        if match is None:
            raise refuse("session.bad_slot", "slots.mem must be bytes or like '512m', '4g'",
                         field="slots.mem")
        unit = (match.group(2) or "")[:1].lower()
        return (Decimal(match.group(1)) * _UNITS.get(unit, 1)).to_integral_value()
    try:
        return Decimal(text)
    except InvalidOperation:
        raise refuse("session.bad_slot", f"slots.{name} must be a number",
                     field=f"slots.{name}") from None


def from_wire(raw: dict[str, str]) -> Slots:
    return {k: (INF if v == UNLIMITED else Decimal(v)) for k, v in raw.items()}


def to_wire(slots: Slots) -> dict[str, str]:
    return {k: (UNLIMITED if v == INF else format(v.normalize(), "f")) for k, v in slots.items()
            if v != 0}


def add(a: Slots, b: Slots) -> Slots:
    return {k: a.get(k, Decimal(0)) + b.get(k, Decimal(0)) for k in set(a) | set(b)}


def sub(a: Slots, b: Slots) -> Slots:
    return {k: a.get(k, Decimal(0)) - b.get(k, Decimal(0)) for k in set(a) | set(b)}


def scale(a: Slots, factor: int) -> Slots:
    return {k: v * factor for k, v in a.items()}


def fits(request: Slots, room: Slots) -> bool:
    """Every requested slot is available in `room` (a missing slot there means none)."""
    return all(v <= room.get(k, Decimal(0)) for k, v in request.items() if v > 0)


def shortfall(request: Slots, room: Slots) -> dict[str, str]:
    """Per slot, how much the request exceeds `room`."""
    return {k: format((v - room.get(k, Decimal(0))).normalize(), "f")
            for k, v in request.items() if v > room.get(k, Decimal(0))}


def dominant_share(used: Slots, capacity: Slots) -> Decimal:
    shares = [used.get(k, Decimal(0)) / c for k, c in capacity.items() if c > 0 and c != INF]
    return max(shares, default=Decimal(0))
