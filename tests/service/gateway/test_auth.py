"""Authentication: Backend.AI request signing (our signer and the official SDK's), refusals with
reasons, login tokens, and the per-keypair rate limit."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from contracts import signing
from tests.support.gateway import GatewayStack, new_user

ROOT = Path(__file__).resolve().parents[3]
ORACLE = Path(__file__).with_name("sdk_oracle.py")
SETUP = ROOT / "deploy" / "ci" / "setup-sdk-venv.sh"


def sdk_python() -> Path:
    venv = Path(os.environ.get("BAIKAL_SDK_VENV", "/opt/baikal-sdk-venv"))
    python = venv / "bin" / "python"
    if not python.exists():
        pytest.skip(f"!!! the official Backend.AI SDK is not installed: its own virtualenv "
                    f"{venv} is missing. Create it with `bash {SETUP.relative_to(ROOT)}` "
                    "(.ci/run does; it needs PyPI) to check signing against the SDK !!!")
    return python


def oracle(mode: str, payload: object) -> object:
    done = subprocess.run([str(sdk_python()), str(ORACLE), mode], input=json.dumps(payload),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def code(answer: httpx.Response) -> str:
    return answer.json()["error"]["code"]


def signed_get(stack: GatewayStack, path: str, access_key: str, secret_key: str,
               when: datetime | None = None, **header_overrides: str) -> httpx.Response:
    host = f"127.0.0.1:{stack.port}"
    headers = signing.signed_headers(access_key=access_key, secret_key=secret_key,
                                     method="GET", path_with_query=path, host=host, now=when)
    headers.update(header_overrides)
    return httpx.get(stack.url + path, headers=headers, timeout=10)


# ---- the official SDK as the oracle ---------------------------------------------------------


def test_our_signature_equals_the_sdks_for_the_same_inputs() -> None:
    cases = [
        ("GET", "/users?status=all&limit=5", "application/json", "http://127.0.0.1:8090",
         datetime(2026, 11, 22, 14, 54, 31, 648479, tzinfo=UTC)),
        ("POST", "/users", "Application/JSON", "http://gateway.example:443",
         datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("PATCH", "/users/a%40b.io", "text/plain", "http://10.0.0.1:9000",
         datetime(2026, 12, 31, 23, 59, 59, 1, tzinfo=UTC)),
        ("GET", "/", "text/plain", "http://localhost:8090",  # day key in the date's own zone
         datetime(2026, 6, 1, 1, 0, tzinfo=UTC).astimezone(
             datetime.now().astimezone().tzinfo or UTC)),
    ]
    payload = [{"method": m, "version": signing.API_VERSION, "endpoint": e,
                "date": d.isoformat(), "rel_url": p, "content_type": ct,
                "access_key": "AKIAEXAMPLEEXAMPLE22", "secret_key": "s3cr3t-" + str(i)}
               for i, (m, p, ct, e, d) in enumerate(cases)]
    theirs = oracle("sign", payload)
    ours = [signing.sign(secret_key=c["secret_key"], method=c["method"],
                         path_with_query=c["rel_url"], raw_date=c["date"],
                         date=datetime.fromisoformat(c["date"]),
                         host=httpx.URL(c["endpoint"]).netloc.decode(),
                         content_type=c["content_type"], api_version=c["version"])
            for c in payload]
    assert ours == theirs


def test_a_request_signed_by_the_official_sdk_is_accepted(stack: GatewayStack) -> None:
    spec = {"endpoint": stack.url, "access_key": stack.root["access_key"],
            "secret_key": stack.root["secret_key"], "method": "GET", "path": "/auth/whoami"}
    answer = oracle("request", spec)
    assert answer["status"] == 200, answer
    assert answer["body"]["email"] == stack.root["email"]
    listed = oracle("request", {**spec, "path": "/users", "params": {"status": "all"}})
    assert listed["status"] == 200 and listed["body"]["total"] >= 1
    created = oracle("request", {**spec, "method": "POST", "path": "/users",
                                 "json": new_user("sdk")})
    assert created["status"] == 201, created


def test_a_request_the_sdk_signed_with_a_wrong_secret_is_refused(stack: GatewayStack) -> None:
    answer = oracle("request", {"endpoint": stack.url, "access_key": stack.root["access_key"],
                                "secret_key": "not-the-secret", "method": "GET",
                                "path": "/auth/whoami"})
    assert answer["status"] == 401, answer
    assert answer["body"]["error"]["code"] == "gateway.auth.signature_mismatch"


# ---- refusals, each with its reason --------------------------------------------------------


def test_each_authentication_refusal_answers_401_with_its_own_code_and_reason(
        stack: GatewayStack) -> None:
    ak, sk = stack.root["access_key"], stack.root["secret_key"]
    assert signed_get(stack, "/auth/whoami", ak, sk).status_code == 200

    wrong = signed_get(stack, "/auth/whoami", ak, "wrong-secret")
    assert (wrong.status_code, code(wrong)) == (401, "gateway.auth.signature_mismatch")
    assert wrong.json()["error"]["message"] == "HMAC signature mismatch"

    skewed = signed_get(stack, "/auth/whoami", ak, sk,
                        when=datetime.now(UTC) - timedelta(minutes=16))
    assert (skewed.status_code, code(skewed)) == (401, "gateway.auth.date_skew")
    assert "sync" in skewed.json()["error"]["message"]
    assert signed_get(stack, "/auth/whoami", ak, sk,
                      when=datetime.now(UTC) + timedelta(minutes=14)).status_code == 200

    unknown = signed_get(stack, "/auth/whoami", "AKIAUNKNOWNUNKNOWN23", sk)
    assert (unknown.status_code, code(unknown)) == (401, "gateway.auth.unknown_key")
    garbage = signed_get(stack, "/auth/whoami", "not-a-key", sk)
    assert code(garbage) == "gateway.auth.unknown_key"

    no_version = signed_get(stack, "/auth/whoami", ak, sk, **{"X-BackendAI-Version": ""})
    assert code(no_version) == "gateway.auth.version_missing"
    anonymous = httpx.get(stack.url + "/users")
    assert (anonymous.status_code, code(anonymous)) == (401, "gateway.auth.missing")
    bad_header = httpx.get(stack.url + "/users", headers={"Authorization": "Basic abc"})
    assert code(bad_header) == "gateway.auth.header_invalid"

    for header in (f"BackendAI signMethod=HMAC-SHA256, credential={ak}:sig\xe9\xff",
                   f"BackendAI signMethod=HMAC-SHAKE_128, credential={ak}:abc",
                   "Bearer bkt1.\xe9.\xe9", "BackendAI \xff"):
        odd = httpx.get(stack.url + "/auth/whoami", headers={
            "Authorization": header.encode("latin-1"), "Date": datetime.now(UTC).isoformat(),
            "X-BackendAI-Version": signing.API_VERSION})
        assert odd.status_code == 401, (header, odd.text)

    # the signature covers the path and query: replaying it elsewhere fails
    headers = signing.signed_headers(access_key=ak, secret_key=sk, method="GET",
                                     path_with_query="/users?status=active",
                                     host=f"127.0.0.1:{stack.port}")
    moved = httpx.get(stack.url + "/users?status=all", headers=headers)
    assert code(moved) == "gateway.auth.signature_mismatch"


def test_an_inactive_keypair_is_refused(stack: GatewayStack, root: httpx.Client) -> None:
    creds = root.post("/users", json=new_user("inactivekey")).json()
    ak, sk = creds["access_key"], creds["secret_key"]
    assert signed_get(stack, "/auth/whoami", ak, sk).status_code == 200
    root.post(f"/keypairs/{ak}/deactivate")
    refused = signed_get(stack, "/auth/whoami", ak, sk)
    assert (refused.status_code, code(refused)) == (401, "gateway.auth.inactive_key")


def test_other_date_headers_and_formats_are_accepted(stack: GatewayStack) -> None:
    ak, sk = stack.root["access_key"], stack.root["secret_key"]
    host = f"127.0.0.1:{stack.port}"
    now = datetime.now(UTC).replace(microsecond=0)
    for header, raw in (("X-BackendAI-Date", now.isoformat()),
                        ("Date", format_datetime(now, usegmt=True))):
        signature = signing.sign(secret_key=sk, method="GET", path_with_query="/auth/whoami",
                                 raw_date=raw, date=now, host=host,
                                 content_type="application/json",
                                 api_version=signing.API_VERSION)
        answer = httpx.get(stack.url + "/auth/whoami", headers={
            "Authorization": f"BackendAI signMethod=HMAC-SHA256, credential={ak}:{signature}",
            header: raw, "X-BackendAI-Version": signing.API_VERSION,
            "Content-Type": "application/json"})
        assert answer.status_code == 200, (header, answer.text)


# ---- login tokens -------------------------------------------------------------------------


def test_login_returns_a_bearer_token_that_authenticates(stack: GatewayStack,
                                                         root: httpx.Client) -> None:
    root.post("/users", json=new_user("login"))
    anonymous = stack.client(signed=False)
    wrong = anonymous.post("/auth/login", json={"email": "userlogin@example.com",
                                                "password": "Wr0ng-pass"})
    assert (wrong.status_code, code(wrong)) == (401, "identity.auth.invalid_credentials")
    login = anonymous.post("/auth/login", json={"email": "userlogin@example.com",
                                                "password": "Passw0rd!"})
    assert login.status_code == 200, login.text
    body = login.json()
    assert body["token_type"] == "Bearer" and "secret_key" not in json.dumps(body)
    bearer = {"Authorization": f"Bearer {body['token']}"}
    me = anonymous.get("/auth/whoami", headers=bearer)
    assert me.json()["email"] == "userlogin@example.com" and me.json()["method"] == "token"
    tampered = anonymous.get("/auth/whoami",
                             headers={"Authorization": f"Bearer {body['token']}x"})
    assert (tampered.status_code, code(tampered)) == (401, "gateway.auth.token_invalid")
    root.post("/users/userlogin@example.com/deactivate")
    after = anonymous.get("/auth/whoami", headers=bearer)
    assert (after.status_code, code(after)) == (401, "gateway.auth.inactive_key")


# ---- rate limit ---------------------------------------------------------------------------


def test_rate_limit_over_the_rolling_window_with_headers(stack: GatewayStack,
                                                         root: httpx.Client) -> None:
    creds = root.post("/users", json=new_user("limited")).json()
    root.put(f"/keypairs/{creds['access_key']}/rate-limit", json={"rate_limit": 3})
    with stack.client(creds["access_key"], creds["secret_key"]) as user:
        answers = [user.get("/auth/whoami") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert answers[0].headers["X-RateLimit-Window"] == "900"
    assert code(answers[3]) == "gateway.rate_limit.exceeded"
    anonymous = httpx.get(stack.url + "/")
    assert anonymous.headers["X-RateLimit-Limit"] == "1000"
