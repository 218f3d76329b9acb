"""The information page: each service's version and health, NATS, event stores, license.

How a service is found, in order: a URL from BAIKAL_SERVICE_URLS (compose, Kubernetes), else the
run files that services write under `<data_dir>/run/` (the embedded stack), whose `/health`
answers version, store backend and uptime. A service with neither is probed over the bus: a
request to one of its query subjects that any live instance answers (with a refusal: the probe
is not a valid query) tells it is up; "no responders" (or no connection) that it is down, no
answer within BAIKAL_INFO_TIMEOUT that it is unresponsive (the bus client's `probe`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import httpx

from contracts.identity import Subjects as IdentitySubjects
from contracts.quota import Subjects as QuotaSubjects
from contracts.scheduler import Subjects as SchedulerSubjects
from contracts.signing import API_VERSION
from services.gateway.state import Gateway
from services.runtime.client import TIMEOUT, UNAVAILABLE, BusError

LICENSE = "Apache-2.0"
STORE_BACKENDS = ["sqlite", "postgresql"]
PROBES = {"identity": IdentitySubjects.DOMAIN_LIST, "quota": QuotaSubjects.KEYPAIR_POLICY_LIST,
          "scheduler": SchedulerSubjects.AGENT_LIST}


@functools.cache
def package_version() -> str:
    try:
        return version("baikal")
    except PackageNotFoundError:
        return "0.0.0+unknown"


def health_urls(gateway: Gateway) -> dict[str, str]:
    """Instance name → base URL; configured URLs win over run files."""
    urls: dict[str, str] = {}
    run_dir = Path(gateway.settings.data_dir) / "run"
    for run_file in sorted(run_dir.glob("*.json")) if run_dir.is_dir() else []:
        try:
            info = json.loads(run_file.read_text())
            if info.get("service") != "gateway":
                urls[run_file.stem] = f"http://{info['http_host']}:{info['http_port']}"
        except (OSError, ValueError, KeyError):
            continue
    urls.update(gateway.settings.service_url_map())
    return urls


async def _health(http: httpx.AsyncClient, name: str, base: str) -> dict[str, Any]:
    row: dict[str, Any] = {"instance": name, "service": name.rsplit("-", 1)[0],
                           "source": "health", "url": f"{base}/health"}
    try:
        answer = await http.get(f"{base}/health")
        body = answer.json()
    except (httpx.HTTPError, ValueError):
        return {**row, "status": "down"}
    checks = body.get("checks", {})
    service = checks.get("service", {})
    return {**row, "status": body.get("status", "unknown"),
            "service": service.get("service", row["service"]),
            "version": service.get("version"), "store": service.get("store"),
            "uptime_seconds": service.get("uptime_seconds"),
            "nats_server_version": _version_text(checks.get("nats", {}).get("server_version"))}


def _version_text(raw: Any) -> str | None:
    """'<nats server v2.10.1>' (how a ServerVersion prints) → '2.10.1'."""
    found = re.search(r"\d+\.\d+\.\d+\S*", str(raw)) if raw else None
    return found.group(0).rstrip(">") if found else None


# How a probe that found no answer reads on the page, by the client's code.
NO_ANSWER_STATUS = {UNAVAILABLE: "down", TIMEOUT: "unresponsive"}


async def _probe(gateway: Gateway, service: str) -> dict[str, Any]:
    row: dict[str, Any] = {"instance": service, "service": service, "source": "bus",
                           "version": None, "store": None}
    try:
        await gateway.bus.client.probe(PROBES[service], timeout=gateway.settings.info_timeout)
    except BusError as exc:
        if exc.code not in NO_ANSWER_STATUS:
            raise
        return {**row, "status": NO_ANSWER_STATUS[exc.code]}
    return {**row, "status": "ok"}


async def gather(gateway: Gateway) -> dict[str, Any]:
    urls = health_urls(gateway)
    async with httpx.AsyncClient(timeout=gateway.settings.info_timeout) as http:
        rows = list(await asyncio.gather(*(_health(http, n, u) for n, u in urls.items())))
    seen = {row["service"] for row in rows}
    probed = [s for s in PROBES if s not in seen and gateway.connected]
    rows += await asyncio.gather(*(_probe(gateway, s) for s in probed))
    rows.append(own_health(gateway))
    return {
        "name": "baikal",
        "version": package_version(),
        "api_version": API_VERSION,
        "license": LICENSE,
        "services": sorted(rows, key=lambda r: r["instance"]),
        "nats": nats_info(gateway),
        "event_store": {"backends": STORE_BACKENDS,
                        "in_use": sorted({r["store"] for r in rows if r.get("store")})},
    }


def own_health(gateway: Gateway) -> dict[str, Any]:
    return {"instance": f"gateway-{gateway.settings.instance}", "service": "gateway",
            "source": "self", "status": "ok" if gateway.connected else "degraded",
            "version": package_version(), "store": None,
            "uptime_seconds": round(time.time() - gateway.started_at, 1)}


def nats_info(gateway: Gateway) -> dict[str, Any]:
    nc = gateway.nc
    if nc is None or not nc.is_connected:
        return {"connected": False}
    server: dict[str, Any] = getattr(nc, "_server_info", {}) or {}
    return {"connected": True, "server_version": server.get("version"),
            "server_name": server.get("server_name"), "cluster": server.get("cluster"),
            "jetstream": bool(server.get("jetstream")),
            "url": str(nc.connected_url.netloc) if nc.connected_url else None}
