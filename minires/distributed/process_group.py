"""torch.distributed's process-group calls, on minires Tensors.

    import minires.distributed as dist
    dist.init_process_group("mpi")          # under: mpiexec -n 2 python script.py
    t = mr.tensor([float(dist.get_rank())])
    dist.all_reduce(t)                      # t is now [0 + 1] on both ranks
    dist.all_reduce(t, op=dist.ReduceOp.AVG)

Each collective writes its result into the tensor it is given (its array, in place) on
every rank, and every rank must make the same calls in the same order: a collective is a
meeting, and a rank that skips one leaves the others waiting for it.

There is one process group, the default ("world") one, as after torch's
init_process_group: it is this module's one piece of state, `_world`. Subgroups
(new_group) and the group= arguments other than None raise NotImplementedError.

A rank that stops with an uncaught exception aborts every rank (MPI_Abort), so the others
stop with its traceback on the screen instead of waiting forever in their next
collective; `abort()` does the same on purpose (see minires.distributed.run, which calls it
for a rank that exits with a non-zero status).
"""

from __future__ import annotations

import sys
from typing import Any

from .. import backend
from ..tensor import Tensor

_world: Any = None  # the default process group (an MPIGroup or NCCLGroup) once initialised


class ReduceOp:
    """torch.distributed.ReduceOp's names: how all_reduce combines the ranks' values."""

    SUM, AVG, MAX, MIN, PRODUCT = "sum", "avg", "max", "min", "product"


def is_available() -> bool:
    """True: minires.distributed is always importable (the backends are checked at init)."""
    return True


def is_mpi_available() -> bool:
    """Whether mpi4py imports and finds an MPI library (imports it, which initialises MPI)."""
    try:
        from .mpi import mpi_module

        mpi_module()
    except ImportError:
        return False
    return True


def is_nccl_available() -> bool:
    """Whether CuPy with NCCL imports and sees a GPU."""
    if not backend.gpu_available():
        return False
    try:
        from .nccl import nccl_module

        nccl_module()
    except ImportError:
        return False
    return True


def init_process_group(backend: str | None = None, init_method: str | None = None, timeout: Any = None,
                       world_size: int = -1, rank: int = -1, store: Any = None, group_name: str = "",
                       pg_options: Any = None, device_id: Any = None) -> None:
    """Join the default process group: every process that mpiexec started.

    backend: "mpi" (CPU tensors, through mpi4py) or "nccl" (GPU tensors, through CuPy's
             NCCL; one GPU per rank, chosen by the rank's number on its machine). None: "mpi".
    world_size, rank: may be given, but must then be what mpiexec says (-1: take its word).
    init_method, store, timeout, pg_options, device_id: torch's rendezvous and watchdog
    settings; minires' groups meet through mpiexec, so these raise NotImplementedError.
    """
    global _world
    if _world is not None:
        raise RuntimeError("init_process_group: trying to initialize the default process group twice! "
                           "(call destroy_process_group() first)")
    backend_name = "mpi" if backend is None else str(backend).lower()
    if backend_name not in ("mpi", "nccl"):
        raise NotImplementedError(f"init_process_group: backend {backend!r} is not supported by minires; "
                                  f"allowed: 'mpi' (CPU) or 'nccl' (GPU)")
    for name, value, default in (("init_method", init_method, None), ("store", store, None),
                                 ("timeout", timeout, None), ("pg_options", pg_options, None),
                                 ("device_id", device_id, None)):
        if value is not default and not (name == "init_method" and value == "env://"):
            raise NotImplementedError(f"init_process_group: {name}={value!r} is not supported by minires: its "
                                      f"process groups meet through mpiexec (launch: mpiexec -n N python "
                                      f"script.py, or python -m minires.distributed.run --nproc N script.py)")
    from .mpi import MPIGroup

    group = MPIGroup()
    for name, given, actual in (("world_size", world_size, group.size), ("rank", rank, group.rank)):
        if given != -1 and given != actual:
            group.destroy()
            raise ValueError(f"init_process_group: {name}={given}, but mpiexec started this process with "
                             f"{name} {actual}; leave {name} out (or pass -1)")
    if backend_name == "nccl":
        from .nccl import NCCLGroup

        group = NCCLGroup(group)
    _world = group
    if group.size > 1:
        _abort_all_on_uncaught_exception(group)


def destroy_process_group(group: Any = None) -> None:
    """Leave the default group (MPI itself stays initialised until the process exits)."""
    global _world
    _require_default(group, "destroy_process_group")
    world = _get_world("destroy_process_group")
    _world = None
    if getattr(sys.excepthook, "_minires_previous", None) is not None:
        sys.excepthook = sys.excepthook._minires_previous
    world.destroy()


def is_initialized() -> bool:
    return _world is not None


def get_backend(group: Any = None) -> str:
    _require_default(group, "get_backend")
    return _get_world("get_backend").name


def get_rank(group: Any = None) -> int:
    """This process's number, 0 .. get_world_size() - 1."""
    _require_default(group, "get_rank")
    return _get_world("get_rank").rank


def get_world_size(group: Any = None) -> int:
    """How many processes the group holds."""
    _require_default(group, "get_world_size")
    return _get_world("get_world_size").size


def all_reduce(tensor: Tensor, op: str = ReduceOp.SUM, group: Any = None, async_op: bool = False):
    """tensor <- op over every rank's tensor, elementwise, on every rank (in place).

    tensor: a Tensor of any shape (or a raw numpy / cupy array), the same shape and dtype
    on every rank. op: ReduceOp.SUM, AVG (the mean), MAX, MIN or PRODUCT.
    async_op=True returns a Work at once: work.wait() before reading the tensor."""
    _require_default(group, "all_reduce")
    if op not in (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.MAX, ReduceOp.MIN, ReduceOp.PRODUCT):
        raise ValueError(f"all_reduce: op must be a ReduceOp (SUM, AVG, MAX, MIN, PRODUCT), got {op!r}")
    world = _get_world("all_reduce")
    return _in_place(tensor, "all_reduce", lambda array: world.all_reduce(array, op, async_op))


def broadcast(tensor: Tensor, src: int, group: Any = None, async_op: bool = False):
    """tensor <- rank src's tensor, on every rank (in place)."""
    _require_default(group, "broadcast")
    world = _get_world("broadcast")
    _check_rank("broadcast", "src", src, world.size)
    return _in_place(tensor, "broadcast", lambda array: world.broadcast(array, int(src), async_op))


def all_gather(tensor_list: list[Tensor], tensor: Tensor, group: Any = None, async_op: bool = False):
    """tensor_list[r] <- rank r's tensor, for every r, on every rank.

    tensor_list: get_world_size() Tensors, each of tensor's shape and dtype (overwritten)."""
    _require_default(group, "all_gather")
    world = _get_world("all_gather")
    if len(tensor_list) != world.size:
        raise ValueError(f"all_gather: tensor_list must hold world_size = {world.size} tensors, "
                         f"got {len(tensor_list)}")
    array = _array(tensor)
    for i, t in enumerate(tensor_list):
        if tuple(_array(t).shape) != tuple(array.shape) or _array(t).dtype != array.dtype:
            raise ValueError(f"all_gather: tensor_list[{i}] is {_array(t).dtype} {tuple(_array(t).shape)}, but "
                             f"tensor is {array.dtype} {tuple(array.shape)}; they must match")
    xp = backend.array_module(array)
    out = xp.empty((world.size, *array.shape), dtype=array.dtype)
    world.all_gather(out, xp.ascontiguousarray(array))
    for i, t in enumerate(tensor_list):
        _array(t)[...] = out[i]
        if isinstance(t, Tensor):
            t._version_counter.value += 1
    return _Done() if async_op else None


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None):
    """Wait until every rank has called barrier()."""
    _require_default(group, "barrier")
    _get_world("barrier").barrier()
    return _Done() if async_op else None


def abort(status: int = 1) -> None:
    """minires' own: stop every rank at once (MPI_Abort), for a rank that must give up while
    the others may be waiting for it in a collective (torch leaves this to torchrun)."""
    _get_world("abort").abort(int(status) or 1)


def new_group(*args: Any, **kwargs: Any):
    raise NotImplementedError("new_group: subgroups are not supported by minires (one default group only)")


# ---------------------------------------------------------------------- helpers


def _get_world(where: str):
    if _world is None:
        raise RuntimeError(f"{where}: Default process group has not been initialized, please make sure to call "
                           f"init_process_group (minires.distributed.init_process_group('mpi'), under mpiexec)")
    return _world


def _require_default(group: Any, where: str) -> None:
    if group is not None:
        raise NotImplementedError(f"{where}: group={group!r} is not supported by minires (only the default group, "
                                  f"group=None)")


def _check_rank(where: str, name: str, value: Any, size: int) -> None:
    if not isinstance(value, int) or not 0 <= value < size:
        raise ValueError(f"{where}: {name} must be a rank in 0..{size - 1}, got {value!r}")


def _array(t: Any):
    if isinstance(t, Tensor):
        return t.array
    if hasattr(t, "shape") and hasattr(t, "dtype"):
        return t
    raise TypeError(f"expected a Tensor (or a numpy / cupy array), got {type(t).__name__}")


def _in_place(tensor: Any, where: str, collective):
    """Run collective(array) on tensor's array, through a contiguous copy if it is not contiguous."""
    array = _array(tensor)
    if array.flags.c_contiguous and array.flags.writeable:
        work = collective(array)
    else:  # a view or a read-only broadcast: reduce a copy, then write it back
        if not array.flags.writeable:
            raise ValueError(f"{where}: the tensor's array is read-only (a broadcast view?); pass a copy")
        buffer = backend.array_module(array).ascontiguousarray(array)
        work = collective(buffer)
        if work is not None:
            work.wait()
        array[...] = buffer
        work = _Done() if work is not None else None
    if isinstance(tensor, Tensor):
        tensor._version_counter.value += 1  # its values changed in place, as torch counts it
    return work


class _Done:
    """The Work of a collective that has already finished."""

    def is_completed(self) -> bool:
        return True

    def wait(self, timeout: Any = None) -> bool:
        return True


def _abort_all_on_uncaught_exception(group: Any) -> None:
    """Print the traceback as usual, then MPI_Abort: mpiexec ends the other ranks, which would
    otherwise wait forever in their next collective for this one."""
    previous = sys.excepthook

    def excepthook(kind, value, tb):
        previous(kind, value, tb)
        print(f"minires.distributed: rank {group.rank} of {group.size} stopped with {kind.__name__}; aborting "
              f"every rank (MPI_Abort) so that none waits for it forever", file=sys.stderr, flush=True)
        group.abort(1)

    excepthook._minires_previous = previous
    sys.excepthook = excepthook
