"""One session on this node without the bus, through the agent's own code, for checking a
machine by hand (a GPU node: NVML discovery, cuda.shares → MPS daemon and limits):

    python -m services.agent.trial --runtime process --shares 0.25 --mem 16G -- \\
        python -c "import torch; torch.empty(30 * 2**30, dtype=torch.uint8, device='cuda')"

It builds the real supervisor on an in-memory store, prints the capacity it discovered,
starts the session, waits for its exit and prints the recorded state and the output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from decimal import Decimal
from pathlib import Path

from prometheus_client import CollectorRegistry

from contracts import agent as c
from contracts.envelope import Actor
from contracts.values import SlotName
from services.agent.app import AgentApplication, Origin
from services.agent.gpu import NvmlProbe
from services.agent.main import make_runtime, version
from services.agent.metrics import AgentMetrics
from services.agent.mps import MpsControl
from services.agent.settings import AgentSettings
from services.agent.supervisor import Supervisor
from services.agent.views import ContainerView

UNITS = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def size(text: str) -> int:
    unit = UNITS.get(text[-1:].upper())
    return int(Decimal(text[:-1]) * unit) if unit else int(text)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m services.agent.trial")
    parser.add_argument("--runtime", default="process", choices=["process", "docker"])
    parser.add_argument("--image", default="baikal/busybox:latest")
    parser.add_argument("--cpu", default="1")
    parser.add_argument("--mem", default="1G")
    parser.add_argument("--shares", help="cuda.shares (fractional GPU)")
    parser.add_argument("--devices", help="cuda.device (whole GPUs)")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the session")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("command", nargs="+")
    return parser.parse_args()


async def trial(args: argparse.Namespace) -> int:
    data = Path(tempfile.mkdtemp(prefix="baikal-trial-"))
    settings = AgentSettings(agent_id="trial", runtime=args.runtime, reserved_cpu=0,
                             reserved_mem=0, data_dir=data, keep_exited=True,
                             heartbeat_seconds=3600, label_prefix="ai.baikal.trial.")
    app = AgentApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, agent_id="trial")
    view = ContainerView(app)
    view.attach()
    sup = Supervisor(settings, app, view, await make_runtime(settings), NvmlProbe(),
                     MpsControl(settings.mps_control), AgentMetrics(CollectorRegistry()),
                     version())
    await sup.start()
    try:
        print(sup.heartbeat().model_dump_json(indent=2))  # noqa: T201
        slots = {SlotName.CPU: args.cpu, SlotName.MEM: str(size(args.mem))}
        slots |= {SlotName.CUDA_SHARES: args.shares} if args.shares else {}
        slots |= {SlotName.CUDA_DEVICE: args.devices} if args.devices else {}
        environ = dict(item.split("=", 1) for item in args.env)
        request = c.StartContainer(session_id="trial", image=args.image, command=args.command,
                                   slots=slots, environ=environ)
        state = await sup.start_container(Origin("trial", Actor(system="operator")), request)
        async with asyncio.timeout(args.timeout):
            while view.get("trial") is not None:
                await asyncio.sleep(0.2)
        state = app.state("trial")
        print(json.dumps(state, indent=2))  # noqa: T201
        for log in (data / "agent" / "trial" / "logs").glob("*.log"):
            print(log.read_text())  # noqa: T201
        return 0 if state["exit_code"] == 0 else 1
    finally:
        await sup.stop()


def main() -> None:
    raise SystemExit(asyncio.run(trial(arguments())))


if __name__ == "__main__":
    main()
