"""The CLI's gateway client: credentials, Backend.AI-signed httpx requests, one-line errors.

Credentials, each field from the first place that has it:
1. BAIKAL_ENDPOINT, BAIKAL_ACCESS_KEY, BAIKAL_SECRET_KEY;
2. the config file: $BAIKAL_CONFIG, else $XDG_CONFIG_HOME/baikal/config.toml
   (~/.config/baikal/config.toml) with `endpoint`, `access_key`, `secret_key`;
3. the embedded stack's data dir (`--data-dir`, default .baikal): superadmin.json and the
   gateway's run file.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from contracts.signing import signed_headers

EXIT_REFUSED = 1  # the gateway or a service said no (4xx)
EXIT_USAGE = 2  # the command line (or what was typed at a prompt) is wrong; nothing was sent
EXIT_AUTH = 3  # no credentials, or they were refused (401)
EXIT_UNAVAILABLE = 4  # nothing answers, or a server failed (5xx)


class CliError(Exception):
    """One line for a person, and the exit code for a script."""

    def __init__(self, message: str, exit_code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True)
class Credentials:
    endpoint: str
    access_key: str
    secret_key: str


def config_path() -> Path:
    if os.environ.get("BAIKAL_CONFIG"):
        return Path(os.environ["BAIKAL_CONFIG"])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "baikal" / "config.toml"


def _from_config() -> dict[str, str]:
    path = config_path()
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"cannot read {path}: {exc}", EXIT_AUTH) from None
    return {k: str(v) for k, v in data.items() if k in ("endpoint", "access_key", "secret_key")}


def _from_data_dir(data_dir: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    admin_file, run_file = data_dir / "superadmin.json", data_dir / "run" / "gateway-0.json"
    try:
        if admin_file.is_file():
            admin = json.loads(admin_file.read_text())
            found |= {"access_key": admin["access_key"], "secret_key": admin["secret_key"]}
        if run_file.is_file():
            run = json.loads(run_file.read_text())
            host = run.get("http_host", "127.0.0.1")
            host = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - a client
            scheme = "https" if run.get("tls") else "http"
            found["endpoint"] = f"{scheme}://{host}:{run['http_port']}"
    except (OSError, ValueError, KeyError):
        pass
    return found


def load_credentials(data_dir: Path, endpoint: str | None = None) -> Credentials:
    env = {k: os.environ.get(f"BAIKAL_{k.upper()}", "")
           for k in ("endpoint", "access_key", "secret_key")}
    merged = {**_from_data_dir(data_dir), **_from_config(),
              **{k: v for k, v in env.items() if v}}
    if endpoint:
        merged["endpoint"] = endpoint
    missing = [k for k in ("endpoint", "access_key", "secret_key") if not merged.get(k)]
    if missing:
        raise CliError("no " + ", ".join(missing) + ": set BAIKAL_ENDPOINT, BAIKAL_ACCESS_KEY "
                       f"and BAIKAL_SECRET_KEY, write {config_path()}, or run `baikal up` "
                       f"with --data-dir {data_dir}", EXIT_AUTH)
    return Credentials(merged["endpoint"].rstrip("/"), merged["access_key"],
                       merged["secret_key"])


class BackendAISigner(httpx.Auth):
    """Signs each request as the Backend.AI SDK does (reference §2.3), with the body's hash
    too (signature version 2): a body swapped under the same headers is refused."""

    def __init__(self, access_key: str, secret_key: str) -> None:
        self.access_key = access_key
        self.secret_key = secret_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        content_type = request.headers.get("content-type", "application/json")
        # A streamed body (a file upload) declares its digest; any other is signed whole.
        declared = request.headers.get("x-baikal-content-sha256")
        request.headers.update(signed_headers(
            access_key=self.access_key, secret_key=self.secret_key, method=request.method,
            path_with_query=request.url.raw_path.decode("ascii"),
            host=request.headers["host"], content_type=content_type,
            body=None if declared else request.content, body_digest=declared))
        yield request


class GatewayClient:
    """`positions_file`: the highest positions the gateway reported (X-Baikal-Positions),
    sent back as X-Baikal-After so a later invocation never sees a state before an earlier
    one's writes, whichever gateway instance answers."""

    def __init__(self, credentials: Credentials, timeout: float = 30.0,
                 positions_file: Path | None = None, request_id: str | None = None) -> None:
        self.credentials = credentials
        self.positions_file = positions_file
        # One id for every HTTP request of this invocation (the gateway's correlation id of
        # all it causes); $BAIKAL_REQUEST_ID names it, e.g. to find it in the events later.
        self.request_id = request_id or os.environ.get("BAIKAL_REQUEST_ID") or (
            "cli-" + os.urandom(8).hex())
        headers = {"X-Request-ID": self.request_id}
        if positions_file is not None and positions_file.is_file():
            headers["X-Baikal-After"] = positions_file.read_text().strip()[:512]
        self.http = httpx.Client(base_url=credentials.endpoint, timeout=timeout,
                                 headers=headers,
                                 auth=BackendAISigner(credentials.access_key,
                                                      credentials.secret_key),
                                 event_hooks={"response": [self._positions]})

    def _positions(self, answer: httpx.Response) -> None:
        seen = answer.headers.get("x-baikal-positions")
        if seen and self.positions_file is not None and seen != self.http.headers.get(
                "x-baikal-after"):
            try:
                self.positions_file.write_text(seen)
            except OSError:
                return  # a read-only data dir: causality within this invocation only
            self.http.headers["X-Baikal-After"] = seen

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None,
             body: Any = None, headers: dict[str, str] | None = None,
             timeout: float | None = None) -> Any:
        try:
            answer = self.http.request(method, path, params=_clean(params), json=body,
                                       headers=headers,
                                       timeout=timeout if timeout is not None else
                                       self.http.timeout)
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the gateway at {self.credentials.endpoint}: {exc}",
                           EXIT_UNAVAILABLE) from None
        check(answer)
        return answer.json()

    def download(self, path: str, params: dict[str, Any], target: Path,
                 progress: Any = None) -> tuple[int, int, str | None]:
        """Streams a CSV export to `target`: (rows, bytes, the server's file name).

        `progress(rows, total)` is called as chunks arrive."""
        rows = size = 0
        name = None
        try:
            with self.http.stream("GET", path, params=_clean(params)) as answer:
                if answer.status_code >= 400:
                    answer.read()
                    check(answer)
                total = int(answer.headers.get("x-total-count", "0")) or None
                name = _attachment_name(answer.headers.get("content-disposition", ""))
                last = b""
                with open(target, "wb") as handle:
                    for chunk in answer.iter_bytes():
                        handle.write(chunk)
                        size += len(chunk)
                        rows += (last + chunk).count(b"\r\n")  # records end with CRLF
                        last = chunk[-1:]
                        if progress is not None:
                            progress(max(rows - 1, 0), total)
        except httpx.HTTPError as exc:
            raise CliError(f"export interrupted: {exc}", EXIT_UNAVAILABLE) from None
        return max(rows - 1, 0), size, name


def _attachment_name(disposition: str) -> str | None:
    _, sep, rest = disposition.partition('filename="')
    name = rest.split('"', 1)[0] if sep else ""
    return Path(name).name or None


def _clean(params: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if params is None else {k: v for k, v in params.items() if v is not None}


def check(answer: httpx.Response) -> None:
    if answer.status_code < 400:
        return
    try:
        error = answer.json()["error"]
        code, message = error["code"], error["message"]
        details = error.get("details") or {}
    except (ValueError, KeyError, TypeError):
        code, message, details = f"http.{answer.status_code}", answer.text[:200], {}
    hint = _detail_hint(details)
    text = f"{code} ({answer.status_code}): {message}{hint}"
    if answer.status_code == 401:
        raise CliError(text, EXIT_AUTH)
    raise CliError(text, EXIT_UNAVAILABLE if answer.status_code >= 500 else EXIT_REFUSED)


def _detail_hint(details: dict[str, Any]) -> str:
    errors = details.get("errors")
    if isinstance(errors, list) and errors:
        fields: Iterator[str] = (f"{e.get('field')}: {e.get('reason')}" for e in errors[:3])
        return " [" + "; ".join(fields) + "]"
    return ""
