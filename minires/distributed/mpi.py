"""The "mpi" backend: collectives on NumPy arrays through mpi4py, in place.

    group = MPIGroup()                          # rank and size come from mpiexec
    work = group.all_reduce(array, "sum", async_op=True)   # MPI_Iallreduce, returns at once
    ...                                         # compute something else meanwhile
    work.wait()                                 # now array holds the sum over the ranks

The MPI library is the `mpich` package from the package index (pip install mpich puts
libmpi.so and mpiexec into the virtual environment), and mpi4py finds it there at run time;
nothing comes from the system. mpi4py is imported only here, when a group is made, so that
`import minires.distributed` costs nothing and works without it.

Every call takes a C-contiguous numpy array and writes its result into that same array
(MPI_IN_PLACE), as torch.distributed's collectives write into the tensor they are given.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

REDUCE_OPS = ("sum", "avg", "max", "min", "product")


def mpi_module():
    """mpi4py.MPI, or ImportError saying how to get it (importing it initialises MPI)."""
    try:
        from mpi4py import MPI
    except ImportError as e:  # no mpi4py, or it found no MPI library
        raise ImportError(
            f"minires.distributed 'mpi' backend needs mpi4py and an MPI library ({e}); install both from the "
            f"package index with: pip install mpi4py mpich   (minires lists them as dependencies)"
        ) from e
    return MPI


# How long a rank that aborts waits after flushing its output: mpiexec forwards a rank's
# output through a pipe, and MPI_Abort tears every process down, the forwarder too, possibly
# before it has passed on the last lines (the traceback that says why): on a loaded 2-core
# machine all but the first line were lost now and then (tests/test_distributed.py).
_ABORT_GRACE_S = 1.0


def abort_world(MPI: Any, status: int) -> None:
    """Flush this rank's output, give mpiexec a moment to forward it, then MPI_Abort every rank."""
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(_ABORT_GRACE_S)
    MPI.COMM_WORLD.Abort(status)


class MPIWork:
    """What an async_op=True collective returns (torch's Work): wait() blocks until the
    result is in the array; is_completed() asks without blocking (and gives MPI a chance
    to move the message along: MPICH progresses a non-blocking collective only inside MPI calls)."""

    def __init__(self, request: Any, array: np.ndarray, after: Any = None):
        self.request, self.array, self.after = request, array, after  # array kept alive until done
        self.done = False

    def is_completed(self) -> bool:
        if not self.done and self.request.Test():
            self._finish()
        return self.done

    def wait(self, timeout: Any = None) -> bool:
        if timeout is not None:
            raise NotImplementedError("Work.wait(timeout=...) is not supported by minires' mpi backend")
        if not self.done:
            self.request.Wait()
            self._finish()
        return True

    def _finish(self) -> None:
        self.done = True
        if self.after is not None:  # avg: divide the sum by the number of ranks
            self.after()


class MPIGroup:
    """Every process that mpiexec started (MPI_COMM_WORLD): rank 0 .. size - 1."""

    name = "mpi"

    def __init__(self):
        MPI = mpi_module()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD.Dup()  # our own communicator: the user's MPI calls cannot mix with ours
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        # ranks on the same machine, numbered from 0: which GPU a rank takes under nccl
        self.local_rank = self.comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()

    # ------------------------------------------------------------------ the collectives
    def all_reduce(self, array: np.ndarray, op: str, async_op: bool = False) -> MPIWork | None:
        """array <- op over the ranks of array, elementwise (in place)."""
        _check_buffer("all_reduce", array)
        mpi_op = {"sum": self.MPI.SUM, "avg": self.MPI.SUM, "max": self.MPI.MAX, "min": self.MPI.MIN,
                  "product": self.MPI.PROD}[op]
        after = None
        if op == "avg":
            if array.dtype.kind != "f":
                raise TypeError(f"all_reduce: ReduceOp.AVG needs a floating-point tensor, got {array.dtype}")
            size = self.size

            def after():
                array[...] /= size
        if async_op:
            return MPIWork(self.comm.Iallreduce(self.MPI.IN_PLACE, array, op=mpi_op), array, after)
        self.comm.Allreduce(self.MPI.IN_PLACE, array, op=mpi_op)
        if after is not None:
            after()
        return None

    def broadcast(self, array: np.ndarray, src: int, async_op: bool = False) -> MPIWork | None:
        """array <- rank src's array, on every rank."""
        _check_buffer("broadcast", array)
        if async_op:
            return MPIWork(self.comm.Ibcast(array, root=src), array)
        self.comm.Bcast(array, root=src)
        return None

    def all_gather(self, out: np.ndarray, array: np.ndarray, async_op: bool = False) -> MPIWork | None:
        """out[r] <- rank r's array.   array: (*S)   out: (size, *S), both C-contiguous"""
        _check_buffer("all_gather", array)
        _check_buffer("all_gather", out)
        if async_op:
            return MPIWork(self.comm.Iallgather(array, out), out)
        self.comm.Allgather(array, out)
        return None

    def barrier(self) -> None:
        self.comm.Barrier()

    def bcast_object(self, obj: Any, src: int) -> Any:
        """Any picklable Python object from rank src (the NCCL id, say)."""
        return self.comm.bcast(obj, root=src)

    def abort(self, status: int) -> None:
        """Stop every rank now (MPI_Abort): mpiexec kills the other processes."""
        abort_world(self.MPI, status)

    def destroy(self) -> None:
        self.comm.Free()


def _check_buffer(where: str, array: Any) -> None:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{where}: the mpi backend works on CPU (numpy) tensors, got a {type(array).__module__}."
                        f"{type(array).__name__}; use backend 'nccl' for GPU tensors")
    if not array.flags.c_contiguous or not array.flags.writeable:
        raise ValueError(f"{where}: the buffer must be C-contiguous and writable, got shape {array.shape} "
                         f"with strides {array.strides}")
