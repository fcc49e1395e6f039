"""The "nccl" backend: collectives on CuPy arrays through NCCL (cupy.cuda.nccl), one GPU per rank.

    group = NCCLGroup(MPIGroup())     # MPI says who is who and carries NCCL's id to every rank
    group.all_reduce(gradients, "sum")   # queued on the current CUDA stream: returns at once

Bootstrap: rank 0 asks NCCL for a unique id, MPI broadcasts it, and every rank joins the
NCCL communicator with it. Each rank takes the GPU numbered by its rank on its machine
(the MPI "local rank"), so `mpiexec -n 8` on an 8-GPU machine uses every GPU once.

NCCL's calls are queued on the current CUDA stream, after the kernels that made the
gradients and before the optimizer's, so the stream itself orders them: no host
synchronisation, no copy to the host. Work.wait() has nothing left to do for the order.
"""

from __future__ import annotations

from typing import Any

from .mpi import MPIGroup


def nccl_module():
    """cupy.cuda.nccl, or ImportError saying what is missing."""
    try:
        import cupy
        from cupy.cuda import nccl
    except ImportError as e:
        raise ImportError(f"minires.distributed 'nccl' backend needs CuPy with NCCL ({e}); install "
                          f"pip install -e '.[gpu]' on a machine with NVIDIA GPUs, or use backend 'mpi'") from e
    if not nccl.available:
        raise ImportError("minires.distributed 'nccl' backend: this CuPy was built without NCCL; "
                          "pip install nvidia-nccl-cu12 (or use backend 'mpi')")
    return cupy, nccl


class NCCLWork:
    """torch's Work for a NCCL call: already ordered on the stream, so wait() does nothing more
    (torch's wait() likewise only makes the current stream wait for NCCL's)."""

    def __init__(self, after: Any = None):
        self.after = after

    def is_completed(self) -> bool:
        return True

    def wait(self, timeout: Any = None) -> bool:
        if self.after is not None:
            self.after()
            self.after = None
        return True


class NCCLGroup:
    """Every rank, one GPU each; `bootstrap` (an MPIGroup) stays for barriers and objects."""

    name = "nccl"

    def __init__(self, bootstrap: MPIGroup):
        cupy, nccl = nccl_module()
        self.cupy, self.nccl, self.bootstrap = cupy, nccl, bootstrap
        self.rank, self.size, self.local_rank = bootstrap.rank, bootstrap.size, bootstrap.local_rank
        gpus = cupy.cuda.runtime.getDeviceCount()
        if gpus == 0:
            raise RuntimeError("init_process_group('nccl'): this machine has no CUDA GPU; use backend 'mpi'")
        cupy.cuda.Device(self.local_rank % gpus).use()  # one GPU per rank; 'cuda' below means this one
        unique_id = bootstrap.bcast_object(nccl.get_unique_id() if self.rank == 0 else None, src=0)
        self.comm = nccl.NcclCommunicator(self.size, unique_id, self.rank)
        self.types = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64, "float16": nccl.NCCL_FLOAT16,
                      "int32": nccl.NCCL_INT32, "int64": nccl.NCCL_INT64, "uint8": nccl.NCCL_UINT8,
                      "int8": nccl.NCCL_INT8}
        self.ops = {"sum": nccl.NCCL_SUM, "avg": nccl.NCCL_SUM, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN,
                    "product": nccl.NCCL_PROD}

    def _check(self, where: str, array: Any) -> int:
        if not isinstance(array, self.cupy.ndarray):
            raise TypeError(f"{where}: the nccl backend works on GPU (cupy) tensors, got "
                            f"{type(array).__module__}.{type(array).__name__}; move it with .to('cuda'), "
                            f"or use backend 'mpi' for CPU tensors")
        if not array.flags.c_contiguous:
            raise ValueError(f"{where}: the buffer must be C-contiguous, got shape {array.shape}")
        if array.dtype.name not in self.types:
            raise TypeError(f"{where}: NCCL has no type for {array.dtype}; allowed: {', '.join(self.types)}")
        return self.types[array.dtype.name]

    def _stream(self) -> int:
        return self.cupy.cuda.get_current_stream().ptr

    def all_reduce(self, array: Any, op: str, async_op: bool = False) -> NCCLWork | None:
        nccl_type = self._check("all_reduce", array)
        self.comm.allReduce(array.data.ptr, array.data.ptr, array.size, nccl_type, self.ops[op], self._stream())
        after = None
        if op == "avg":
            if array.dtype.kind != "f":
                raise TypeError(f"all_reduce: ReduceOp.AVG needs a floating-point tensor, got {array.dtype}")

            def after():
                array[...] /= self.size
        work = NCCLWork(after)
        if async_op:
            return work
        work.wait()
        return None

    def broadcast(self, array: Any, src: int, async_op: bool = False) -> NCCLWork | None:
        nccl_type = self._check("broadcast", array)
        self.comm.broadcast(array.data.ptr, array.data.ptr, array.size, nccl_type, src, self._stream())
        return NCCLWork() if async_op else None

    def all_gather(self, out: Any, array: Any, async_op: bool = False) -> NCCLWork | None:
        nccl_type = self._check("all_gather", array)
        self._check("all_gather", out)
        self.comm.allGather(array.data.ptr, out.data.ptr, array.size, nccl_type, self._stream())
        return NCCLWork() if async_op else None

    def barrier(self) -> None:
        self.cupy.cuda.get_current_stream().synchronize()  # this rank's queued work is done ...
        self.bootstrap.barrier()  # ... and so is every other rank's

    def bcast_object(self, obj: Any, src: int) -> Any:
        return self.bootstrap.bcast_object(obj, src)

    def abort(self, status: int) -> None:
        self.comm.abort()
        self.bootstrap.abort(status)

    def destroy(self) -> None:
        self.comm.destroy()
        self.bootstrap.destroy()
