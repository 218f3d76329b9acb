"""GPU discovery and sampling through NVML (`nvidia-ml-py`, imported as `pynvml`).

The NVML library is injectable: unit tests hand in a fake module with the same functions;
production imports `pynvml`. No library, no driver or no device all mean: no GPU slots.
Runnable on its own (`python -m services.agent.gpu`) to print what a node would report.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
from types import ModuleType
from typing import Any

from contracts.agent import GpuInfo

log = logging.getLogger(__name__)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def load_pynvml() -> ModuleType | None:
    try:
        return importlib.import_module("pynvml")
    except ImportError:
        return None


class NvmlProbe:
    def __init__(self, library: Any | None = None) -> None:
        self._library = library
        self._loaded = library is not None
        self._initialised = False
        self._lock = threading.Lock()  # NVML handles are used from worker threads

    @property
    def nvml(self) -> Any | None:
        if not self._loaded:
            self._library = load_pynvml()
            self._loaded = True
        return self._library

    def _init(self, nvml: Any) -> bool:
        if not self._initialised:
            try:
                nvml.nvmlInit()
            except nvml.NVMLError as exc:
                log.info("NVML unavailable (%s): this node reports no GPU", exc)
                return False
            self._initialised = True
        return True

    def discover(self) -> list[GpuInfo]:
        """Every GPU with model, memory, driver version and current use; [] without NVML."""
        nvml = self.nvml
        if nvml is None:
            log.info("pynvml is not installed: this node reports no GPU")
            return []
        with self._lock:
            if not self._init(nvml):
                return []
            try:
                driver = _text(nvml.nvmlSystemGetDriverVersion())
                return [self._device(nvml, index, driver)
                        for index in range(nvml.nvmlDeviceGetCount())]
            except nvml.NVMLError as exc:
                log.warning("NVML failed while listing GPUs (%s): reporting none", exc)
                return []

    def sample(self, known: list[GpuInfo]) -> list[GpuInfo]:
        """Fresh utilisation and memory use for known devices; unchanged where NVML fails."""
        nvml = self.nvml
        if nvml is None or not known:
            return known
        with self._lock:
            if not self._init(nvml):
                return known
            return [self._sampled(nvml, gpu) for gpu in known]

    def _device(self, nvml: Any, index: int, driver: str) -> GpuInfo:
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        return GpuInfo(index=index, uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
                       model=_text(nvml.nvmlDeviceGetName(handle)),
                       memory_bytes=int(memory.total), driver_version=driver,
                       utilization_percent=self._utilisation(nvml, handle),
                       memory_used_bytes=int(memory.used))

    def _sampled(self, nvml: Any, gpu: GpuInfo) -> GpuInfo:
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(gpu.index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        except nvml.NVMLError as exc:
            log.warning("NVML cannot sample GPU %s: %s", gpu.index, exc)
            return gpu
        return gpu.model_copy(update={"utilization_percent": self._utilisation(nvml, handle),
                                      "memory_used_bytes": int(memory.used)})

    @staticmethod
    def _utilisation(nvml: Any, handle: Any) -> float | None:
        try:
            return float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except nvml.NVMLError:
            return None  # some devices (MIG, vGPU) do not report it

    def close(self) -> None:
        with self._lock:
            if self._initialised and self._library is not None:
                try:
                    self._library.nvmlShutdown()
                except self._library.NVMLError as exc:
                    log.debug("nvmlShutdown: %s", exc)
                self._initialised = False


def main() -> None:
    """Print the GPUs this node would report (for checking a GPU machine by hand)."""
    probe = NvmlProbe()
    gpus = probe.discover()
    print(json.dumps([gpu.model_dump() for gpu in gpus], indent=2))  # noqa: T201
    probe.close()


if __name__ == "__main__":
    main()
