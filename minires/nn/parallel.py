"""DataParallel, accepted on one device so that torch training scripts run unchanged."""

from __future__ import annotations

from typing import Any

from .module import Module


class DataParallel(Module):
    """torch.nn.DataParallel on one device: it simply runs the wrapped module.

    minires has one device per process, so there is nothing to split the batch over:
    DataParallel(model)(x) is model(x). It holds the model as `module`, so state_dict()
    keys get torch's "module." prefix (load them into the bare model via
    model.module.state_dict(), as with torch). device_ids may be None, [0] or [device 0]
    and output_device None or 0; more devices raise NotImplementedError."""

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        ids = None if device_ids is None else [_device_index(d) for d in device_ids]
        if ids not in (None, [0]):
            raise NotImplementedError(f"DataParallel: device_ids={device_ids!r} is not supported by minires "
                                      f"(one device only: None or [0])")
        if output_device is not None and _device_index(output_device) != 0:
            raise NotImplementedError(f"DataParallel: output_device={output_device!r} is not supported by minires "
                                      f"(one device only)")
        self.module, self.device_ids, self.output_device, self.dim = module, ids or [0], 0, dim

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.module(*inputs, **kwargs)


def _device_index(device) -> int | None:
    """0 for 0, "cuda", "cuda:0" or "cpu"; the index for "cuda:N"; None if unreadable."""
    if isinstance(device, int):
        return device
    text = str(device)
    if text in ("cpu", "cuda"):
        return 0
    if text.startswith("cuda:") and text[5:].isdigit():
        return int(text[5:])
    return None


def __getattr__(name: str):
    """nn.parallel.DistributedDataParallel, as torch spells it. It lives in minires.distributed
    (which sits above nn: it wraps Modules and talks to other processes), so it is imported
    the first time it is asked for, never by `import minires.nn`."""
    if name == "DistributedDataParallel":
        from ..distributed.ddp import DistributedDataParallel

        return DistributedDataParallel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
