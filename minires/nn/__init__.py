"""Neural-network building blocks (PyTorch-shaped). So far: the functional forms in
`minires.nn.functional`; Module and the layers come with the nn issue."""

from . import functional

__all__ = ["functional"]
