"""CSV exports: file names, paging through list queries, and rows per list (reference §8).

Rows stream as pages arrive, so memory stays flat however long the list. The first page is read
before the response starts, so a refusal (403, 503) is still an HTTP status; a failure later can
only cut the stream short, which the client sees as an incomplete chunked body.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from contracts.quota import SLOT_NAMES, effective_slots
from contracts.values import SlotName
from services.gateway.errors import gateway_error

FILENAME = re.compile(r"^[A-Za-z0-9._-]+$")
FILENAME_MAX = 255
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # spreadsheet formula injection
GIB = Decimal(1024**3)

Fetch = Callable[[int, int], Awaitable[dict[str, Any]]]
Rows = AsyncIterator[list[dict[str, Any]]]


def download_name(requested: str | None, list_name: str, now: datetime | None = None) -> str:
    """`<list>_<YYYY-MM-DD>_<HH-MM-SS>.csv` (UTC) by default; a given name is checked."""
    if not requested:
        moment = now or datetime.now(UTC)
        return f"{list_name}_{moment:%Y-%m-%d}_{moment:%H-%M-%S}.csv"
    if len(requested) > FILENAME_MAX:
        raise gateway_error("export.filename_invalid",
                            f"the file name has {len(requested)} characters; at most "
                            f"{FILENAME_MAX} are allowed", field="filename", max=FILENAME_MAX)
    if not FILENAME.match(requested):
        raise gateway_error("export.filename_invalid",
                            "the file name may hold only letters, digits, '-', '_' and '.'",
                            field="filename")
    return requested if requested.lower().endswith(".csv") else f"{requested}.csv"


async def paged(fetch: Fetch, page_size: int, max_rows: int) -> tuple[int | None, Rows]:
    """Reads the first page now (so errors surface as statuses), the rest when iterated."""
    first = await fetch(0, page_size)
    total = first.get("total")
    if total is not None and total > max_rows:
        raise gateway_error("export.too_many_rows",
                            f"{total} rows exceed the export limit of {max_rows}; filter first",
                            total=total, max=max_rows)

    async def pages() -> Rows:
        page, offset = first, 0
        while True:
            items = list(page.get("items", []))
            if items:
                yield items
            offset += len(items)
            if (len(items) < page_size or offset >= max_rows
                    or (total is not None and offset >= total)):
                return
            page = await fetch(offset, page_size)

    return total, pages()


async def csv_stream(columns: list[str], pages: Rows,
                     to_row: Callable[[dict[str, Any]], Iterable[Any]]) -> AsyncIterator[bytes]:
    yield _lines([columns])
    async for items in pages:
        yield _lines(to_row(item) for item in items)


def _lines(rows: Iterable[Iterable[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return buffer.getvalue().encode()


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


# ---- rows of each list --------------------------------------------------------------------

USER_COLUMNS = ["email", "username", "full_name", "description", "is_active", "domain", "role",
                "projects"]


def user_row(user: dict[str, Any], project_names: dict[str, str]) -> list[Any]:
    names = [project_names.get(p, p) for p in user.get("projects", [])]
    return [user.get("email"), user.get("username"), user.get("full_name"),
            user.get("description"), user.get("status") == "active", user.get("domain"),
            user.get("role"), ";".join(names)]


SLOTS = list(SLOT_NAMES)
KEYPAIR_COLUMNS = ["access_key", "user_id", "is_active", "is_default", "resource_policy",
                   "rate_limit", "created_at", *(f"total_resource_slots.{s}" for s in SLOTS)]


def keypair_row(keypair: dict[str, Any], slots_by_policy: dict[str, dict[str, Any]]
                ) -> list[Any]:
    slots = slots_by_policy.get(keypair.get("resource_policy", ""), {})
    return [keypair.get("access_key"), keypair.get("email"), keypair.get("is_active"),
            keypair.get("is_default"), keypair.get("resource_policy"),
            keypair.get("rate_limit"), keypair.get("created_at"),
            *(slots.get(s, "") for s in SLOTS)]


POLICY_FIELDS = {
    "keypair": ["default_for_unspecified", *(f"total_resource_slots.{s}" for s in SLOTS),
                "max_session_lifetime", "max_concurrent_sessions", "max_containers_per_session",
                "idle_timeout", "max_pending_session_count", "allowed_vfolder_hosts",
                "max_vfolder_count", "max_vfolder_size"],
    "user": ["max_vfolder_count", "max_quota_scope_size", "max_session_count_per_model_session",
             "max_customized_image_count", "max_concurrent_logins"],
    "project": ["max_vfolder_count", "max_quota_scope_size", "max_network_count"],
}


def policy_columns(kind: str) -> list[str]:
    return ["name", "created_at", *POLICY_FIELDS[kind], "references"]


def policy_row(kind: str, row: dict[str, Any]) -> list[Any]:
    policy = row.get("policy", {})
    slots = effective_slots(policy) if "default_for_unspecified" in policy else {}
    values = []
    for name in POLICY_FIELDS[kind]:
        if name.startswith("total_resource_slots."):
            values.append(slots.get(name.removeprefix("total_resource_slots."), ""))
        else:
            values.append(policy.get(name))
    return [row.get("name"), row.get("created_at"), *values, row.get("references")]


SESSION_COLUMNS = ["id", "name", "image", "cluster_mode", "user_email", "status", "status_info",
                   "access_key", "cpu_slot", "mem_slot", "cuda_device", "cuda_shares",
                   "created_at", "terminated_at"]


def session_row(session: dict[str, Any], emails: dict[str, str]) -> list[Any]:
    """Reference §8.1: image without its registry, memory in GiB (2 decimals), 0 for no GPU."""
    slots = session.get("slots") or {}
    size = int(session.get("cluster_size") or 1)
    return [
        session.get("session_id"), session.get("name"),
        _image_name(str(session.get("image") or "")),
        session.get("cluster_mode") or ("single-node" if size <= 1 else "multi-node"),
        emails.get(str(session.get("user_id")), ""),
        session.get("status"), session.get("reason") or "",
        session.get("access_key"), slots.get(SlotName.CPU, 0), _gib(slots.get(SlotName.MEM, 0)),
        slots.get(SlotName.CUDA_DEVICE, 0), slots.get(SlotName.CUDA_SHARES, 0),
        _when(session.get("requested_at")), _when(session.get("terminated_at")),
    ]


def _when(value: Any) -> str:
    """The scheduler's epoch seconds as ISO 8601 UTC."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).isoformat()
    return "" if value is None else str(value)


def _image_name(image: str) -> str:
    parts = image.split("/")
    return "/".join(parts[2:]) if len(parts) > 2 else parts[-1]


def _gib(raw: Any) -> str:
    try:
        return f"{Decimal(str(raw)) / GIB:.2f}"
    except InvalidOperation:
        return ""
