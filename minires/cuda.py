"""torch.cuda's everyday names, answered through CuPy (minires's GPU arrays).

    device = mr.device("cuda" if mr.cuda.is_available() else "cpu")
    model.to(device)

Without CuPy or a GPU: is_available() is False, device_count() is 0, and the calls that
need a GPU (current_device, synchronize, get_device_name) raise RuntimeError, as torch's do.
manual_seed and manual_seed_all do nothing: minires draws every random number on the CPU
(minires/random.py) and copies it over, so mr.manual_seed already seeds the GPU's numbers.
"""

from __future__ import annotations

from . import backend


def is_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    return backend.gpu_available()


def device_count() -> int:
    if not is_available():
        return 0
    return backend.cupy_module().cuda.runtime.getDeviceCount()


def _require_gpu(where: str):
    if not is_available():
        raise RuntimeError(f"cuda.{where}: no CUDA GPU is available (minires needs CuPy and an NVIDIA GPU)")
    return backend.cupy_module()


def current_device() -> int:
    return _require_gpu("current_device").cuda.runtime.getDevice()


def set_device(index: int) -> None:
    _require_gpu("set_device").cuda.runtime.setDevice(int(index))


def get_device_name(index: int | None = None) -> str:
    cupy = _require_gpu("get_device_name")
    index = cupy.cuda.runtime.getDevice() if index is None else int(index)
    name = cupy.cuda.runtime.getDeviceProperties(index)["name"]
    return name.decode() if isinstance(name, bytes) else name


def synchronize() -> None:
    """Wait until every kernel queued on the current GPU has finished (for timing)."""
    _require_gpu("synchronize").cuda.Device().synchronize()


def empty_cache() -> None:
    """Hand CuPy's cached, unused GPU memory back to the driver (nothing to do without a GPU)."""
    if is_available():
        backend.cupy_module().get_default_memory_pool().free_all_blocks()


def manual_seed(seed: int) -> None:
    """Accepted, no effect: random numbers are drawn on the CPU; seed them with mr.manual_seed."""


def manual_seed_all(seed: int) -> None:
    """Accepted, no effect (see manual_seed)."""


__all__ = [
    "current_device", "device_count", "empty_cache", "get_device_name", "is_available", "manual_seed",
    "manual_seed_all", "set_device", "synchronize",
]
