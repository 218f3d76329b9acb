"""Run by the official Backend.AI client SDK's own virtualenv (never imported by pytest).

    python sdk_oracle.py sign     < cases.json   → the SDK's signature for each case
    python sdk_oracle.py request  < request.json → status and body of a request the SDK signed

It imports only the SDK, so it shows what that client does, not what baikal thinks it does.
"""

import asyncio
import json
import sys
from datetime import datetime

from ai.backend.client.auth import generate_signature
from ai.backend.client.config import APIConfig
from ai.backend.client.exceptions import BackendAPIError
from ai.backend.client.request import Request
from ai.backend.client.session import AsyncSession
from yarl import URL


def sign(cases):
    out = []
    for case in cases:
        _, signature = generate_signature(
            method=case["method"], version=case["version"], endpoint=URL(case["endpoint"]),
            date=datetime.fromisoformat(case["date"]), rel_url=case["rel_url"],
            content_type=case["content_type"], access_key=case["access_key"],
            secret_key=case["secret_key"], hash_type="sha256")
        out.append(signature)
    return out


async def request(spec):
    config = APIConfig(endpoint=spec["endpoint"], endpoint_type="api",
                       access_key=spec["access_key"], secret_key=spec["secret_key"])
    async with AsyncSession(config=config) as session:
        rqst = Request(spec["method"], spec["path"], params=spec.get("params"))
        if spec.get("json") is not None:
            rqst.set_json(spec["json"])
        try:
            async with rqst.fetch() as resp:
                return {"status": resp.status, "body": await resp.json(),
                        "api_version": rqst.api_version}
        except BackendAPIError as exc:
            status, _, data = exc.args
            return {"status": status, "body": data, "api_version": rqst.api_version,
                    "negotiated": list(session.api_version)}


if __name__ == "__main__":
    payload = json.load(sys.stdin)
    result = sign(payload) if sys.argv[1] == "sign" else asyncio.run(request(payload))
    json.dump(result, sys.stdout)
