"""torch.backends: settings PyTorch scripts write. Only cudnn is here, and its switches
are accepted without effect (see cudnn.py). Not to be confused with minires.backend,
which chooses between numpy and cupy and between the kernel implementations."""

from . import cudnn

__all__ = ["cudnn"]
