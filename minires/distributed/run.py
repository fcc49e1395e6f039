"""Start a script on N processes: python -m minires.distributed.run --nproc N script.py [its args].

    python -m minires.distributed.run --nproc 2 examples/train_cifar.py --distributed --batch-size 64

is mpiexec -n 2 (the one pip installed next to this Python, from the mpich package) running
the script on every rank through this module, which does what torchrun does for its workers:

- it sets torch's environment variables from MPI's (RANK, WORLD_SIZE, LOCAL_RANK,
  LOCAL_WORLD_SIZE), so scripts that read them find them;
- a rank that ends with an error (an uncaught exception, or sys.exit with a non-zero
  status) aborts every rank (MPI_Abort), so the others stop instead of waiting forever for
  it in their next collective. Under a bare mpiexec, minires.distributed does this for
  uncaught exceptions only: Python gives no hook for sys.exit.

The exit status is the first failing rank's (mpiexec's), 0 when every rank succeeded.
"""

from __future__ import annotations

import argparse
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

from .mpi import abort_world


def find_mpiexec() -> str:
    """The mpiexec beside this Python (a virtual environment's bin/, where pip puts mpich's), else on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return str(beside)
    found = shutil.which("mpiexec")
    if found is None:
        raise FileNotFoundError("minires.distributed.run: no mpiexec beside this Python nor on PATH; install one "
                                "from the package index: pip install mpich mpi4py")
    return found


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m minires.distributed.run",
                                description="Run a training script on N processes (ranks) through mpiexec.")
    p.add_argument("--nproc", "--nproc-per-node", "--nproc_per_node", dest="nproc", type=int, default=1,
                   help="how many processes to start on this machine (default: %(default)s)")
    p.add_argument("--rank-process", action="store_true", help=argparse.SUPPRESS)  # inside mpiexec: one rank
    p.add_argument("script", help="the Python script every rank runs")
    p.add_argument("script_args", nargs=argparse.REMAINDER, help="its arguments, passed on unchanged")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rank_process:
        return run_rank(args.script, args.script_args)
    if args.nproc < 1:
        build_parser().error(f"--nproc must be an integer >= 1, got {args.nproc}")
    if not Path(args.script).is_file():
        build_parser().error(f"no script at {args.script}")
    command = [find_mpiexec(), "-n", str(args.nproc), sys.executable, "-m", "minires.distributed.run",
               "--rank-process", args.script, *args.script_args]
    status = subprocess.call(command)
    if status != 0:
        print(f"minires.distributed.run: the {args.nproc} ranks of {args.script} ended with exit status {status} "
              f"(a rank failed; its message is above)", file=sys.stderr, flush=True)
    return status


def run_rank(script: str, script_args: list[str]) -> int:
    """One rank: torch's environment variables, the script as __main__, an abort if it fails."""
    env = os.environ  # MPICH's hydra sets PMI_RANK and PMI_SIZE, and MPI_LOCALRANKID / MPI_LOCALNRANKS
    for torch_name, mpi_names in (("RANK", ("PMI_RANK", "OMPI_COMM_WORLD_RANK")),
                                  ("WORLD_SIZE", ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")),
                                  ("LOCAL_RANK", ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK")),
                                  ("LOCAL_WORLD_SIZE", ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE"))):
        for name in mpi_names:
            if name in env and torch_name not in env:
                env[torch_name] = env[name]
    sys.argv = [script, *script_args]
    sys.path.insert(0, str(Path(script).resolve().parent))  # as `python script.py` puts its folder first
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0):
            if not isinstance(e.code, int):
                print(e.code, file=sys.stderr)
            _abort_everyone(e.code if isinstance(e.code, int) else 1, "exited with status "
                            f"{e.code if isinstance(e.code, int) else 1}")
        raise
    except BaseException as e:  # the traceback first, as Python prints it; then stop every rank
        import traceback

        traceback.print_exc()
        _abort_everyone(1, f"stopped with {type(e).__name__}")
        raise
    return 0


def _abort_everyone(status: int, what: str) -> None:
    """MPI_Abort, if MPI was started (before that, mpiexec sees the exit and there is no one waiting)."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is None or not mpi.Is_initialized() or mpi.Is_finalized() or mpi.COMM_WORLD.Get_size() == 1:
        return
    print(f"minires.distributed.run: rank {mpi.COMM_WORLD.Get_rank()} {what}; aborting every rank (MPI_Abort) "
          f"so that none waits for it forever", file=sys.stderr, flush=True)
    abort_world(mpi, status or 1)


if __name__ == "__main__":
    sys.exit(main())
