"""Slot arithmetic: parsing requests, Decimal sums and comparisons, the wire form."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.runtime.errors import CodedError
from services.scheduler.domain import slots as s

D = Decimal
GIB = 1024**3


def refused(code: str, raw: dict[str, object]) -> CodedError:
    with pytest.raises(CodedError) as caught:
        s.parse_request(raw)
    assert caught.value.code == f"scheduler.{code}", caught.value.message
    return caught.value


# ---- parse_request -------------------------------------------------------------------------


def test_numbers_and_decimal_strings() -> None:
    assert s.parse_request({"cpu": 2, "cuda.device": "1", "cuda.shares": "0.5"}) == {
        "cpu": D(2), "cuda.device": D(1), "cuda.shares": D("0.5")}
    assert s.parse_request({"cpu": 1.5}) == {"cpu": D("1.5")}
    assert s.parse_request({"cpu": " 3 "}) == {"cpu": D(3)}


@pytest.mark.parametrize(("raw", "expected"), [
    ("512m", 512 * 1024**2), ("4g", 4 * GIB), ("4G", 4 * GIB), ("4gib", 4 * GIB),
    ("4GB", 4 * GIB), ("1.5g", 3 * GIB // 2), ("2k", 2048), ("1t", 1024**4),
    ("1024", 1024), (1024, 1024), (1024.0, 1024), (" 8g ", 8 * GIB),
])
def test_mem_in_bytes_or_with_a_unit(raw: object, expected: int) -> None:
    assert s.parse_request({"mem": raw}) == {"mem": D(expected)}


def test_mem_is_rounded_to_whole_bytes() -> None:
    assert s.parse_request({"mem": "1.7"}) == {"mem": D(2)}


def test_zero_slots_are_dropped() -> None:
    assert s.parse_request({"cpu": 0, "mem": "0", "cuda.device": "0.0"}) == {}
    assert s.parse_request({}) == {}


def test_an_unknown_slot_is_refused_naming_the_field_and_the_known_slots() -> None:
    error = refused("session.unknown_slot", {"cpu": 1, "tpu": 1})
    assert error.details["field"] == "slots.tpu"
    assert error.details["known"] == list(s.KNOWN)


@pytest.mark.parametrize("raw", [
    {"cpu": -1}, {"cpu": "-0.5"}, {"mem": "-1"}, {"mem": -1024}, {"cuda.shares": "-1"},
])
def test_a_negative_slot_amount_is_refused_naming_the_field(raw: dict[str, object]) -> None:
    error = refused("session.bad_slot", raw)
    assert error.details["field"] == f"slots.{next(iter(raw))}"


@pytest.mark.parametrize("raw", [
    {"cpu": True}, {"cpu": False}, {"mem": True}, {"cuda.device": False},
])
def test_bool_is_not_a_number(raw: dict[str, object]) -> None:
    refused("session.bad_slot", raw)


@pytest.mark.parametrize("value", [
    "NaN", "nan", "sNaN", "-NaN", float("nan"), "Infinity", "-Infinity", "inf", float("inf"),
])
def test_nan_and_infinity_are_refused(value: object) -> None:
    refused("session.bad_slot", {"cpu": value})
    refused("session.bad_slot", {"cuda.shares": value})
    refused("session.bad_slot", {"mem": value})


@pytest.mark.parametrize("value", ["", "abc", "1,5", "4 cores", "0x10", None, [], {}])
def test_a_cpu_amount_that_is_not_a_number_is_refused(value: object) -> None:
    refused("session.bad_slot", {"cpu": value})


@pytest.mark.parametrize("value", ["4x", "g", "4 gg", "abc", "", "4.g", "-4g"])
def test_mem_must_be_bytes_or_a_size(value: str) -> None:
    error = refused("session.bad_slot", {"mem": value})
    assert error.details["field"] == "slots.mem"


# ---- arithmetic --------------------------------------------------------------------------


def test_add_and_sub_cover_both_key_sets() -> None:
    a = {"cpu": D(2), "mem": D(10)}
    b = {"cpu": D("0.5"), "cuda.device": D(1)}
    assert s.add(a, b) == {"cpu": D("2.5"), "mem": D(10), "cuda.device": D(1)}
    assert s.sub(a, b) == {"cpu": D("1.5"), "mem": D(10), "cuda.device": D(-1)}
    assert s.add({}, {}) == {}


def test_unlimited_stays_unlimited_when_added_to_or_subtracted_from() -> None:
    assert s.sub({"cpu": s.INF}, {"cpu": D(1000)}) == {"cpu": s.INF}
    assert s.add({"cpu": s.INF}, {"cpu": D(1)}) == {"cpu": s.INF}


def test_scale_multiplies_every_slot_by_the_factor() -> None:
    assert s.scale({"cpu": D("1.5"), "mem": D(4)}, 3) == {"cpu": D("4.5"), "mem": D(12)}


def test_a_request_fits_when_no_slot_exceeds_the_room_counting_absent_slots_as_zero() -> None:
    room = {"cpu": D(4), "mem": D(8)}
    assert s.fits({"cpu": D(4), "mem": D(8)}, room)          # exactly full
    assert s.fits({"cpu": D(1)}, room)
    assert s.fits({}, room)
    assert not s.fits({"cpu": D("4.01")}, room)
    assert not s.fits({"cuda.device": D(1)}, room)            # missing in room means none
    assert s.fits({"cuda.device": D(0)}, room)                # zero needs nothing
    assert s.fits({"cpu": D(10**9)}, {"cpu": s.INF})
    assert not s.fits({"cpu": D(1)}, {"cpu": D(-1)})


def test_shortfall_lists_only_the_slots_short_in_plain_decimal_form() -> None:
    room = {"cpu": D(4), "mem": D(8)}
    assert s.shortfall({"cpu": D(2)}, room) == {}
    assert s.shortfall({"cpu": D("5.5"), "mem": D(8), "cuda.device": D(2)}, room) == {
        "cpu": "1.5", "cuda.device": "2"}
    assert s.shortfall({"cpu": D(10**6)}, {"cpu": s.INF}) == {}
    # normalized, never in exponent form
    assert s.shortfall({"mem": D(8000)}, {"mem": D(0)}) == {"mem": "8000"}


def test_dominant_share_is_the_largest_fraction_of_finite_nonzero_capacity() -> None:
    capacity = {"cpu": D(10), "mem": D(100), "cuda.device": D(4)}
    assert s.dominant_share({"cpu": D(1), "mem": D(50)}, capacity) == D("0.5")
    assert s.dominant_share({"cuda.device": D(3)}, capacity) == D("0.75")
    assert s.dominant_share({}, capacity) == 0
    assert s.dominant_share({"cpu": D(5)}, {}) == 0
    # unlimited and zero capacities are ignored, not divided by
    assert s.dominant_share({"cpu": D(5), "mem": D(1)},
                            {"cpu": s.INF, "mem": D(0), "cuda.device": D(2)}) == 0


# ---- wire form -----------------------------------------------------------------------------


def test_to_wire_writes_normalized_strings_drops_zeros_and_spells_unlimited() -> None:
    assert s.to_wire({"cpu": D("1.50"), "mem": D(8 * GIB), "cuda.device": D(0)}) == {
        "cpu": "1.5", "mem": str(8 * GIB)}
    assert s.to_wire({"cpu": D("1E+3")}) == {"cpu": "1000"}
    assert s.to_wire({"cpu": s.INF, "mem": D(1)}) == {"cpu": s.UNLIMITED, "mem": "1"}


def test_from_wire_reads_decimal_strings_and_unlimited() -> None:
    assert s.from_wire({"cpu": "unlimited", "mem": "1024", "cuda.shares": "0.5"}) == {
        "cpu": s.INF, "mem": D(1024), "cuda.shares": D("0.5")}


def test_slots_come_back_unchanged_from_a_round_trip_through_the_wire_form() -> None:
    slots = {"cpu": D("2.25"), "mem": s.INF, "cuda.device": D(3)}
    assert s.from_wire(s.to_wire(slots)) == slots
    assert s.to_wire(s.from_wire({"cpu": "unlimited"})) == {"cpu": "unlimited"}
