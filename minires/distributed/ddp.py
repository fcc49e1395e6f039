"""DistributedDataParallel: every rank trains the same model on its own slice of the batch.

    dist.init_process_group("mpi")                       # mpiexec -n P python train.py
    model = DistributedDataParallel(resnet20())          # rank 0's weights, copied to every rank
    loss = F.cross_entropy(model(x_rank), y_rank)        # x_rank: this rank's B images
    loss.backward()                                      # .grad is now the mean over the P ranks
    opt.step()                                           # the same step on every rank

Why that is the big batch: the loss of the global batch of P*B images is the mean of the P
ranks' losses, so its gradient is the mean of their gradients. Average the gradients,
take the same step from the same weights, and every rank holds the same weights again
(docs/distributed.md).

Buckets and overlap. Averaging parameter by parameter would make hundreds of small
messages; one message for everything could only start when the whole backward is done.
So the parameters are packed, in reverse order (the order backward reaches them), into
buckets of about bucket_cap_mb (the first one 1 MiB, as torch). Each parameter has a
post-accumulate-grad hook (Tensor.register_post_accumulate_grad_hook): when the backward
walk has finished a parameter's gradient it counts it in its bucket, and when a bucket is
complete its gradients are copied into one flat array and its all-reduce is *started*
(MPI_Iallreduce; a NCCL call queued on the stream) while the walk goes on to earlier
layers. When the last bucket has started, still inside backward(), the hook waits for all
of them and copies the averages back into .grad, so backward() returns with averaged
gradients and the optimizer needs nothing special. Buckets start in bucket order on every
rank, whatever order their hooks fire in, because every rank must start its all-reduces
in the same order.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import numpy as np

from .. import backend
from ..grad_mode import is_grad_enabled
from ..nn.module import Module
from ..tensor import Tensor
from . import process_group as dist

FIRST_BUCKET_BYTES = 2**20  # torch's dist._DEFAULT_FIRST_BUCKET_BYTES: the first bucket starts early
DEFAULT_BUCKET_CAP_MB = 25  # torch's default for the others


class _Bucket:
    """Parameters whose gradients travel in one all-reduce.

    slots: (parameter, offset, numel) in flat; flat: (sum of numel,) array of their dtype
    ready: how many of them have their gradient for this backward; work: the all-reduce in flight"""

    def __init__(self, params: list[Tensor]):
        xp = backend.array_module(params[0].array)
        offsets = np.cumsum([0] + [p.numel() for p in params])
        self.slots = [(p, int(offsets[i]), p.numel()) for i, p in enumerate(params)]
        self.flat = xp.zeros(int(offsets[-1]), dtype=params[0].dtype)
        self.ready, self.work = 0, None


class DistributedDataParallel(Module):
    """torch.nn.parallel.DistributedDataParallel over minires' default process group.

    module: the model, already on its device (the same architecture on every rank)
    broadcast_buffers: copy rank 0's buffers (BatchNorm's running statistics) to every rank
        at the start of each forward, as torch does
    bucket_cap_mb: the size of a gradient bucket (default 25; the first one is 1 MiB)
    device_ids, output_device: None or this rank's one device (one device per rank)

    `model.module` is the wrapped model, so state_dict() keys carry torch's "module."
    prefix; save model.module.state_dict() for a checkpoint that loads without DDP.
    no_sync() skips the averaging (gradient accumulation). find_unused_parameters,
    gradient_as_bucket_view, static_graph and process_group other than their defaults
    raise NotImplementedError.

    minires' own addition: `reduction_seconds`, the time this rank spent averaging in the
    last backward (copying into buckets, starting, waiting, copying back).
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group: Any = None, bucket_cap_mb: float | None = None,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False):
        super().__init__()
        for name, value in (("process_group", process_group), ("find_unused_parameters", find_unused_parameters),
                            ("gradient_as_bucket_view", gradient_as_bucket_view), ("static_graph", static_graph)):
            if value not in (None, False):
                raise NotImplementedError(f"DistributedDataParallel: {name}={value!r} is not supported by minires")
        if device_ids is not None and len(device_ids) > 1:
            raise ValueError(f"DistributedDataParallel: device_ids can only be None or contain a single element "
                             f"(one device per rank), got {device_ids!r}")
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an nn.Module, got {type(module).__name__}")
        if bucket_cap_mb is not None and not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got {bucket_cap_mb!r}")
        world = dist._get_world("DistributedDataParallel")
        self.module, self.dim, self.device_ids, self.output_device = module, dim, device_ids, output_device
        self.broadcast_buffers = broadcast_buffers
        self.bucket_cap_mb = DEFAULT_BUCKET_CAP_MB if bucket_cap_mb is None else bucket_cap_mb
        self.require_backward_grad_sync = True  # torch's name; no_sync() turns it off
        self.reduction_seconds = 0.0

        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._names = {id(p): n for n, p in named}
        _check_same_model_everywhere(world, named)
        _broadcast_from_rank0(world, [p for _, p in module.named_parameters()] + list(module.buffers()))
        self._buckets = _make_buckets([p for _, p in reversed(named)], self.bucket_cap_mb)
        self._bucket_of = {id(p): b for b in self._buckets for p, _, _ in b.slots}
        self._hook_handles = [p.register_post_accumulate_grad_hook(self._grad_ready) for _, p in named]
        self._armed = False  # a forward with grad on prepared a backward that will average
        self._next_bucket = 0  # the next bucket to start

    # ------------------------------------------------------------------ forward
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        self._check_last_backward_finished()
        if is_grad_enabled():
            world = dist._get_world("DistributedDataParallel.forward")
            if self.broadcast_buffers and world.size > 1:
                _broadcast_from_rank0(world, list(self.module.buffers()))
            self._armed = self.require_backward_grad_sync and bool(self._buckets)
            for bucket in self._buckets:
                bucket.ready, bucket.work = 0, None
            self._next_bucket, self.reduction_seconds = 0, 0.0
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Inside, backward() accumulates each rank's own gradients without averaging; the
        first backward after it averages the sums (gradient accumulation, as torch's)."""
        before = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = before

    # ------------------------------------------------------------------ during backward
    def _grad_ready(self, param: Tensor) -> None:
        """The hook: param.grad is complete for this backward. Count it; start what can start."""
        if not self._armed:
            return
        started = time.perf_counter()
        bucket = self._bucket_of[id(param)]
        bucket.ready += 1
        while self._next_bucket < len(self._buckets) and self._is_full(self._buckets[self._next_bucket]):
            self._start(self._buckets[self._next_bucket])
            self._next_bucket += 1
        if self._next_bucket == len(self._buckets):
            self._finish()
        else:
            for b in self._buckets[:self._next_bucket]:
                b.work.is_completed()  # lets MPI move the messages in flight along
        self.reduction_seconds += time.perf_counter() - started

    @staticmethod
    def _is_full(bucket: _Bucket) -> bool:
        return bucket.ready == len(bucket.slots)

    def _start(self, bucket: _Bucket) -> None:
        """Copy the bucket's gradients into its flat array, divide by P, start the all-reduce (sum)."""
        world = dist._get_world("DistributedDataParallel")
        for p, offset, n in bucket.slots:
            if p.grad is None:  # a parameter that got no gradient contributes zeros, as in torch
                bucket.flat[offset:offset + n] = 0
            else:
                bucket.flat[offset:offset + n] = p.grad.array.reshape(-1)
        bucket.flat *= bucket.flat.dtype.type(1.0 / world.size)  # sum of g / P = the mean
        bucket.work = world.all_reduce(bucket.flat, "sum", async_op=True)

    def _finish(self) -> None:
        """Every bucket has started: wait for them, copy the means back into .grad."""
        for bucket in self._buckets:
            bucket.work.wait()
            for p, offset, n in bucket.slots:
                mean = bucket.flat[offset:offset + n].reshape(p.shape)
                if p.grad is None:
                    p.grad = Tensor(mean.copy())
                else:
                    p.grad.array[...] = mean
        self._armed = False

    def _check_last_backward_finished(self) -> None:
        """torch's error for a backward that left buckets unfinished: some parameter got no gradient."""
        if self._armed and any(b.ready for b in self._buckets):
            missing = [self._names[id(p)] for b in self._buckets if b.ready < len(b.slots) for p, _, _ in b.slots]
            never = [self._names[id(p)] for b in self._buckets for p, _, _ in b.slots if p.grad is None]
            self._armed = False
            raise RuntimeError(
                "DistributedDataParallel: Expected to have finished reduction in the prior iteration before "
                "starting a new one. Some parameters did not take part in producing the loss, so their gradient "
                f"never arrived and their bucket was never averaged ({len(never)} without a gradient: "
                f"{', '.join(never[:5]) or 'none'}; {len(missing)} in unfinished buckets). Use every parameter "
                f"in the forward, or set requires_grad=False on those not trained (minires does not support "
                f"find_unused_parameters=True)")

    def extra_repr(self) -> str:
        return f"buckets={len(self._buckets)}, bucket_cap_mb={self.bucket_cap_mb}"


def _make_buckets(params: list[Tensor], cap_mb: float) -> list[_Bucket]:
    """Consecutive parameters (in the given order) of one dtype and device, up to the cap in bytes;
    the first bucket is capped at FIRST_BUCKET_BYTES so that the first all-reduce starts early."""
    buckets, current, size = [], [], 0
    cap = min(FIRST_BUCKET_BYTES, cap_mb * 2**20)
    for p in params:
        kind = (p.dtype, p.device)
        if current and (size + p.array.nbytes > cap or (current[0].dtype, current[0].device) != kind):
            buckets.append(_Bucket(current))
            current, size, cap = [], 0, cap_mb * 2**20
        current.append(p)
        size += p.array.nbytes
    if current:
        buckets.append(_Bucket(current))
    return buckets


def _broadcast_from_rank0(world: Any, tensors: list[Tensor]) -> None:
    """Every tensor <- rank 0's, one broadcast per dtype and device (the tensors packed into one array)."""
    groups: dict[tuple, list[Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.dtype.str, t.device), []).append(t)
    for group in groups.values():
        xp = backend.array_module(group[0].array)
        flat = xp.concatenate([xp.asarray(t.array).reshape(-1) for t in group])
        world.broadcast(flat, 0)
        offset = 0
        for t in group:
            n = t.numel()
            t.array = flat[offset:offset + n].reshape(t.shape).copy()
            offset += n


def _check_same_model_everywhere(world: Any, named: list[tuple[str, Tensor]]) -> None:
    """Every rank must wrap the same parameters: compare (count, numel) across ranks, with names in the error."""
    mine = np.array([len(named), sum(p.numel() for _, p in named)], dtype=np.int64)
    xp = backend.array_module(named[0][1].array) if named and world.name == "nccl" else np
    everyone = xp.zeros((world.size, 2), dtype=np.int64)
    world.all_gather(everyone, xp.asarray(mine))
    everyone = everyone.get() if hasattr(everyone, "get") else everyone  # once, at construction
    if not (everyone == everyone[0]).all():
        table = ", ".join(f"rank {r}: {c} parameters, {n} values" for r, (c, n) in enumerate(everyone.tolist()))
        raise ValueError(f"DistributedDataParallel: the ranks wrap different models ({table}); every rank must "
                         f"build the same model")
