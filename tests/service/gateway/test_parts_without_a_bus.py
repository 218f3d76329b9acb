"""The gateway's pure parts, no bus: signing, tokens, the rolling window, CSV rows and names,
metrics, which query routes may be served directly."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import generate_latest

from contracts import signing
from services.gateway import exports
from services.gateway.direct import direct_queries
from services.gateway.errors import ApiError
from services.gateway.metrics import HttpMetrics
from services.gateway.ratelimit import SlidingWindow
from services.gateway.routes.calls import AdminReader, AnyCaller, Reader, caller_route, query_route
from services.gateway.tokens import TokenIssuer


def test_authorization_header_is_parsed_and_bad_ones_refused() -> None:
    credential = signing.parse_authorization(
        "BackendAI signMethod=HMAC-SHA256, credential=AKIAEXAMPLE:abc123")
    assert (credential.access_key, credential.signature, credential.hash_type) == (
        "AKIAEXAMPLE", "abc123", "sha256")
    assert signing.parse_authorization("Sorna signMethod=HMAC-SHA256, credential=A:B")
    for bad in ("Bearer x", "BackendAI credential=A:B", "BackendAI signMethod=HMAC-SHA256",
                "BackendAI signMethod=HMAC-SHA256, credential=nocolon"):
        with pytest.raises(signing.SignatureFormatError):
            signing.parse_authorization(bad)
    rsa = signing.parse_authorization("BackendAI signMethod=RSA-SHA256, credential=A:B")
    with pytest.raises(signing.SignatureFormatError):
        assert rsa.hash_type


def test_dates_parse_as_the_reference_server_reads_them() -> None:
    assert signing.parse_date("2026-11-22T14:54:31.648479+00:00") == datetime(
        2026, 11, 22, 14, 54, 31, 648479, tzinfo=UTC)
    assert signing.parse_date("2026-11-22T14:54:31").tzinfo == UTC  # naive = UTC
    assert signing.parse_date("Sun, 22 Nov 2026 14:54:31 GMT").hour == 14
    with pytest.raises(signing.SignatureFormatError):
        signing.parse_date("yesterday")


def test_the_day_key_uses_the_dates_own_offset_and_old_versions_sign_the_body() -> None:
    seoul = timezone(timedelta(hours=9))
    late = datetime(2026, 1, 1, 23, 30, tzinfo=UTC)
    same_instant = late.astimezone(seoul)  # already 2 January in Seoul
    common = {"secret_key": "s", "method": "GET", "path_with_query": "/", "host": "h",
              "content_type": "application/json", "api_version": signing.API_VERSION}
    assert signing.sign(raw_date="x", date=late, **common) != signing.sign(
        raw_date="x", date=same_instant, **common)
    old = {**common, "api_version": "v3.20170615"}
    assert signing.sign(raw_date="x", date=late, body=b"a", **old) != signing.sign(
        raw_date="x", date=late, body=b"b", **old)
    assert signing.sign(raw_date="x", date=late, body=b"a", **common) == signing.sign(
        raw_date="x", date=late, body=b"b", **common)


def test_tokens_verify_expire_and_resist_tampering() -> None:
    issuer = TokenIssuer(b"k" * 32, ttl_seconds=60)
    token, expires = issuer.issue("AKIAEXAMPLE", now=1000)
    assert expires == 1060 and issuer.verify(token, now=1059) == "AKIAEXAMPLE"
    with pytest.raises(ApiError) as expired:
        issuer.verify(token, now=1060)
    assert expired.value.code == "gateway.auth.token_expired" and expired.value.status == 401
    other = TokenIssuer(b"x" * 32, ttl_seconds=60)
    for bad in (token[:-2] + "AA", "bkt1.abc", "nope", token.replace("bkt1", "bkt2")):
        with pytest.raises(ApiError):
            issuer.verify(bad, now=1001)
    with pytest.raises(ApiError):
        other.verify(token, now=1001)


def test_rolling_window_counts_refused_requests_and_forgets_old_ones() -> None:
    now = [0.0]
    window = SlidingWindow(900, clock=lambda: now[0])
    assert [window.hit("a", 2) for _ in range(3)] == [(True, 1), (True, 0), (False, 0)]
    assert window.hit("b", 2) == (True, 1)  # per keypair
    now[0] = 899.0
    assert window.hit("a", 2) == (False, 0)  # still inside the window
    now[0] = 1798.0  # the first three are out, the one at 899 is not
    assert window.hit("a", 2) == (True, 0)


def test_export_file_names_default_to_a_timestamp_and_bad_names_are_refused() -> None:
    moment = datetime(2026, 5, 1, 13, 5, 9, tzinfo=UTC)
    assert exports.download_name(None, "users", moment) == "users_2026-05-01_13-05-09.csv"
    assert exports.download_name("", "users", moment) == "users_2026-05-01_13-05-09.csv"
    assert exports.download_name("x.CSV", "users") == "x.CSV"
    assert exports.download_name("a" * 255, "users") == "a" * 255 + ".csv"
    for bad in ("a" * 256, "a b", "a/b", "é", "a\nb"):
        with pytest.raises(ApiError) as refused:
            exports.download_name(bad, "users")
        assert refused.value.status == 400


def test_csv_cells_and_session_rows() -> None:
    assert [exports.cell(v) for v in (None, True, False, 3, {"b": 1, "a": [2]}, "=1+1",
                                      "-x", "plain")] == [
        "", "true", "false", "3", '{"a":[2],"b":1}', "'=1+1", "'-x", "plain"]
    row = exports.session_row({
        "session_id": "s1", "name": "nb", "image": "cr.io/stable/python:3.11",
        "cluster_size": 2, "user_id": "u1", "status": "TERMINATED", "reason": "exited",
        "access_key": "AK", "slots": {"cpu": "2", "mem": str(3 * 2**29), "cuda.shares": "0.5"},
        "requested_at": 0, "terminated_at": 60.5}, {"u1": "a@b.c"})
    assert row == ["s1", "nb", "python:3.11", "multi-node", "a@b.c", "TERMINATED", "exited",
                   "AK", "2", "1.50", 0, "0.5", "1970-01-01T00:00:00+00:00",
                   "1970-01-01T00:01:00.500000+00:00"]
    assert exports._image_name("python") == "python"
    assert exports._image_name("library/python:3") == "python:3"


def test_request_metrics_are_counted_and_bucketed_as_prometheus_expects() -> None:
    metrics = HttpMetrics()
    for seconds in (0.0004, 0.003, 0.003, 7.0):
        metrics.http.observe("/users/{email}", "GET", 200, seconds)
    text = generate_latest(metrics.registry).decode()
    labels = 'method="GET",route="/users/{email}",status="200"'
    assert f"bai_http_requests_total{{{labels}}} 4.0" in text
    for le, count in (("0.0005", 1), ("0.0025", 1), ("0.005", 3), ("5.0", 3), ("+Inf", 4)):
        assert f'bai_http_request_seconds_bucket{{le="{le}",{labels}}} {count}.0' in text
    assert re.search(rf"bai_http_request_seconds_sum{{{labels}}} 7\.0064", text)
    assert "bai_http_requests_in_flight 0.0" in text


def test_query_routes_take_their_role_and_refuse_being_shadowed() -> None:
    earlier, users = APIRouter(), APIRouter(prefix="/users")

    @earlier.get("/users/me")
    async def me() -> Response:
        return Response()

    @users.get("/{email}")
    @query_route("bai.qry.identity.users.get.v1")
    async def get_user(email: str, call: AdminReader) -> Response:
        """One user."""

    @users.post("/{email}/again")
    @query_route("bai.qry.identity.users.get.v1")
    async def post_only(email: str, call: Reader) -> Response:
        """Not a GET: a POST never shadows a GET."""

    (found,) = direct_queries([users])
    assert (found.route.path, found.role, list(found.params)) == ("/users/{email}", "admin",
                                                                  ["email"])
    assert found.data("/users/a@b.c") == {"email": "a@b.c"} and found.data("/users/") is None
    with pytest.raises(RuntimeError, match="shadowed"):
        direct_queries([earlier, users])
    assert len(direct_queries([users, earlier])) == 1
    with pytest.raises(TypeError, match="exactly one Reader"):
        query_route("bai.qry.x.y.z.v1")(me)
    with_query = APIRouter()

    @with_query.get("/things/{name}")
    @query_route("bai.qry.x.things.get.v1")
    async def get_thing(name: str, call: Reader, detail: bool = False) -> Response:
        """`detail` is a query parameter: FastAPI would pass it, the direct path would not."""

    with pytest.raises(TypeError, match="path parameters only"):
        direct_queries([with_query])


def test_caller_routes_are_served_directly_only_without_path_parameters() -> None:
    from services.gateway.routes.auth import router as auth_router
    from services.gateway.routes.auth import whoami_data

    (found,) = direct_queries([auth_router])
    assert (found.route.path, found.role, found.subject, found.answer) == (
        "/auth/whoami", "user", "", whoami_data)
    assert found.data("/auth/whoami") == {} and found.data("/auth/whoami/") is None
    with_parameter = APIRouter()

    @with_parameter.get("/me/{name}")
    @caller_route(whoami_data)
    async def me_by_name(name: str, caller: AnyCaller) -> Response:
        """A path parameter the caller's answer would never see."""
        return Response()

    with pytest.raises(TypeError, match="path parameters only"):
        direct_queries([with_parameter])
