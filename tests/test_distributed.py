"""minires.distributed: the collectives, DistributedDataParallel, SyncBatchNorm and the
launcher, on 2 real processes (mpiexec -n 2 python tests/mpi_worker.py ...), and the parts
that need no second process (DistributedSampler, SyncBatchNorm's backward, errors) here.

The 2-rank tests skip, saying why, where mpi4py or mpiexec is missing (pip install mpich
mpi4py; both are minires dependencies on Linux). The NCCL ones are marked gpu.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import random_tensor

import minires as mr
import minires.distributed as dist
from minires import nn
from minires.distributed.run import find_mpiexec
from minires.utils.data import DataLoader, DistributedSampler, TensorDataset

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "mpi_worker.py"


def _mpi_missing() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install mpi4py mpich)"
    try:
        find_mpiexec()
    except FileNotFoundError as e:
        return str(e)
    return None


requires_mpi = pytest.mark.skipif(_mpi_missing() is not None, reason=str(_mpi_missing()))
# the workers use the NumPy reference kernels (no Numba compilation in each fresh process) and one thread each
WORKER_ENV = {**os.environ, "MINIRES_KERNELS": "reference", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
              "OPENBLAS_NUM_THREADS": "1"}


def mpirun(*args: str, nproc: int = 2, timeout: float = 120, launcher: bool = False) -> subprocess.CompletedProcess:
    """Run tests/mpi_worker.py on nproc ranks (through minires.distributed.run with launcher=True)."""
    if launcher:
        command = [sys.executable, "-m", "minires.distributed.run", "--nproc", str(nproc), str(WORKER), *args]
    else:
        command = [find_mpiexec(), "-n", str(nproc), sys.executable, str(WORKER), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=WORKER_ENV, cwd=ROOT,
                          check=False)


def result(run: subprocess.CompletedProcess) -> dict:
    assert run.returncode == 0, f"the ranks failed (exit {run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, f"expected one RESULT line from rank 0, got:\n{run.stdout[-3000:]}"
    return json.loads(lines[0].removeprefix("RESULT "))


# ---------------------------------------------------------------------- on 2 ranks


@requires_mpi
def test_collectives_on_two_ranks():
    got = result(mpirun("collectives"))
    assert got["size"] == 2 and got["backend"] == "mpi", got
    assert got["total"] == [3.0, 6.0], f"all_reduce sum of [1, 2] * (rank + 1): {got['total']}"
    assert got["mean"] == [1.5, 3.0], f"all_reduce AVG: {got['mean']}"
    assert got["biggest"] == [1.0, 0.0], f"all_reduce MAX (async): {got['biggest']}"
    assert got["from_1"] == [[1.0] * 3] * 2, f"broadcast from rank 1: {got['from_1']}"
    assert got["strided"] == (2 * np.arange(12.0).reshape(3, 4).T).tolist(), f"a non-contiguous tensor: {got}"
    assert got["gathered"] == [[0.0, 10.0], [1.0, 11.0]], f"all_gather: {got['gathered']}"


@requires_mpi
def test_ddp_with_syncbatchnorm_on_2x8_equals_one_process_on_16():
    """The issue's proof: 3 steps of DDP + SyncBatchNorm on 2 ranks x 8 images are 3 steps of one
    process on 16 (SGD with momentum and weight decay), to float32 round-off; the ranks start from
    different initialisations, so DDP's broadcast is tested too, and several buckets are used."""
    got = result(mpirun("ddp", "sync", "3", "8"))
    assert got["buckets"] > 1, got
    assert got["between_ranks"] == 0.0, f"the two ranks' weights differ by {got['between_ranks']}"
    diff = got["vs_big_batch"]
    assert diff["params"] < 1e-6 * max(1.0, diff["scale"]), f"DDP+SyncBN vs one process on 2B: {diff}"
    assert diff["buffers"] < 1e-6, f"running statistics, DDP+SyncBN vs one process on 2B: {diff}"
    assert got["vs_split_batchnorm"]["params"] > 1e-4, f"the comparison must be able to tell: {got}"
    assert got["keys"][0] == "0.weight", "model.module.state_dict() has the bare model's keys"


@requires_mpi
def test_ddp_with_plain_batchnorm_differs_as_per_rank_statistics_predict():
    """With plain BatchNorm each rank normalises by its own 8 images: the run equals one process
    that runs the model on each half of the 16 separately (and keeps rank 0's running statistics,
    which DDP broadcasts at every forward), and differs from the true big batch."""
    got = result(mpirun("ddp", "plain", "3", "8"))
    assert got["between_ranks"] == 0.0, got
    assert got["vs_split_batchnorm"]["params"] < 1e-6, f"plain BN vs its prediction: {got['vs_split_batchnorm']}"
    assert got["vs_split_batchnorm"]["buffers"] < 1e-6, got
    assert got["vs_big_batch"]["params"] > 1e-4, f"plain BN should differ from the big batch: {got['vs_big_batch']}"


@requires_mpi
def test_no_sync_accumulates_then_averages_the_sums():
    got = result(mpirun("no_sync"))
    assert got["worst"] < 1e-6, f"no_sync x2 + a synced backward vs mean over ranks of the summed grads: {got}"


@requires_mpi
@pytest.mark.parametrize("how", ["raise", "kill"])
def test_a_rank_that_dies_stops_the_others(how):
    """Rank 1 raises (or is killed with SIGKILL) while rank 0 waits in an all_reduce: every rank
    must stop within seconds, with a message, not hang (the timeout would fail the test)."""
    run = mpirun("die", how, timeout=60)
    assert run.returncode != 0, f"the job should fail:\n{run.stdout}\n{run.stderr}"
    assert "should never get here" not in run.stdout
    output = run.stdout + run.stderr
    if how == "raise":
        assert "rank 1 gives up on purpose" in output and "aborting every rank" in output, output[-2000:]
    else:
        assert "BAD TERMINATION" in output or "Killed" in output, output[-2000:]


@requires_mpi
def test_launcher_aborts_every_rank_when_one_exits_nonzero():
    """sys.exit(3) on rank 1 has no hook under a bare mpiexec; the launcher turns it into MPI_Abort."""
    run = mpirun("die", "exit", timeout=60, launcher=True)
    assert run.returncode == 3, f"exit status {run.returncode}:\n{run.stdout}\n{run.stderr}"
    assert "rank 1 exited with status 3" in run.stderr, run.stderr[-2000:]


@requires_mpi
def test_launcher_runs_the_script_on_n_ranks():
    assert result(mpirun("collectives", launcher=True))["total"] == [3.0, 6.0]


# ---------------------------------------------------------------------- in this process


def test_process_group_calls_need_init():
    assert dist.is_available() and not dist.is_initialized()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.all_reduce(mr.ones(2))
    with pytest.raises(RuntimeError, match="init_process_group"):
        nn.parallel.DistributedDataParallel(nn.Linear(2, 2))
    with pytest.raises(NotImplementedError, match="'gloo'"):
        dist.init_process_group("gloo")
    with pytest.raises(NotImplementedError, match="init_method"):
        dist.init_process_group("mpi", init_method="tcp://10.0.0.1:23456")
    assert not dist.is_initialized()


def test_torch_names_resolve():
    assert nn.parallel.DistributedDataParallel is dist.DistributedDataParallel
    assert nn.SyncBatchNorm is dist.SyncBatchNorm
    assert mr.utils.data.distributed.DistributedSampler is DistributedSampler


@pytest.mark.parametrize("n", [10, 11, 3])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_distributed_sampler_covers_the_epoch_once(n, drop_last, shuffle):
    replicas = 4
    samplers = [DistributedSampler(range(n), replicas, r, shuffle=shuffle, seed=7, drop_last=drop_last)
                for r in range(replicas)]
    for s in samplers:
        s.set_epoch(2)
    parts = [list(s) for s in samplers]
    assert len({len(p) for p in parts}) == 1 and len(parts[0]) == len(samplers[0]), parts
    everything = sorted(i for p in parts for i in p)
    if drop_last:
        assert len(everything) == (n // replicas) * replicas and len(set(everything)) == len(everything), parts
    else:
        assert set(everything) == set(range(n)) and len(everything) == -(-n // replicas) * replicas, parts
    again = DistributedSampler(range(n), replicas, 0, shuffle=shuffle, seed=7, drop_last=drop_last)
    again.set_epoch(2)
    assert list(again) == parts[0], "the same epoch and seed give the same order"
    if shuffle and n > 3:
        again.set_epoch(3)
        assert list(again) != parts[0] or n < 8, "a new epoch, a new order"


def test_distributed_sampler_matches_torch_without_shuffle():
    torch = pytest.importorskip("torch", reason="torch is not installed (the oracle for the slicing and padding)")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    for n, replicas, drop_last in [(10, 3, False), (10, 3, True), (2, 5, False), (7, 2, True)]:
        for rank in range(replicas):
            want = list(TorchSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last))
            got = list(DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last))
            assert got == want, f"n={n} replicas={replicas} rank={rank} drop_last={drop_last}: {got} != {want}"
    del torch


def test_distributed_sampler_errors_and_loader():
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(4))
    data = TensorDataset(mr.tensor(np.arange(8.0)))
    loader = DataLoader(data, batch_size=2, sampler=DistributedSampler(data, 2, 1, shuffle=False))
    assert [b[0].tolist() for b in loader] == [[1.0, 3.0], [5.0, 7.0]]


def test_convert_sync_batchnorm_keeps_order_parameters_and_mode():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, momentum=0.2), nn.ReLU(), nn.BatchNorm1d(4))
    model.eval()
    bn = model[1]
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model
    assert [type(m).__name__ for m in model] == ["Conv2d", "SyncBatchNorm", "ReLU", "SyncBatchNorm"]
    assert model[1].weight is bn.weight and model[1].running_mean is bn.running_mean
    assert model[1].momentum == 0.2 and not model[1].training
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                        "1.running_var", "1.num_batches_tracked", "3.weight", "3.bias",
                                        "3.running_mean", "3.running_var", "3.num_batches_tracked"]


def test_syncbatchnorm_without_a_group_is_batchnorm():
    x = mr.tensor(np.random.default_rng(0).standard_normal((4, 3, 5, 5)).astype(np.float32))
    plain, sync = nn.BatchNorm2d(3), nn.SyncBatchNorm(3)
    np.testing.assert_allclose(sync(x).numpy(), plain(x).numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sync.running_var.numpy(), plain.running_var.numpy(), rtol=1e-6)


class _OneRank:
    """A stand-in process group of one rank: all_reduce leaves the sums as they are."""

    rank, size, name = 0, 1, "one"

    def all_reduce(self, array, op, async_op=False):
        return None


@pytest.mark.parametrize("shape", [(4, 3, 5, 5), (6, 3)], ids=str)
def test_syncbatchnorm_function_gradcheck_and_forward(shape):
    """SyncBatchNormTrain's backward against central differences (float64, one rank: the sums are
    local), and its forward against F.batch_norm."""
    from minires.autograd.engine import apply
    from minires.distributed.sync_batchnorm import SyncBatchNormTrain

    x = random_tensor(shape, seed=0)
    gamma, beta = random_tensor((3,), seed=1), random_tensor((3,), seed=2)
    mr.gradcheck(lambda x, g, b: apply(SyncBatchNormTrain(1e-5, _OneRank()), x, g, b), x, gamma, beta)
    want = mr.nn.functional.batch_norm(x, None, None, gamma, beta, training=True)
    got = apply(SyncBatchNormTrain(1e-5, _OneRank()), x, gamma, beta)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-10)


@requires_mpi
def test_train_cifar_distributed_prints_and_saves_on_rank_0_and_resumes(tmp_path):
    """examples/train_cifar.py --distributed on 2 ranks: one header and one epoch line (rank 0's), a
    checkpoint and metrics.csv; --resume continues on both ranks."""
    from cifar_fixture import make_cifar_folder

    root = make_cifar_folder(tmp_path / "cifar", n_train=128, n_test=32, seed=0)
    flags = ["--distributed", "--sync-bn", "--data", str(root), "--epochs", "2", "--batch-size", "16",
             "--train-subset", "64", "--warmup-epochs", "0", "--threads", "1", "--checkpoint",
             str(tmp_path / "ck.npz"), "--out", str(tmp_path / "run"), "--no-progress", "--skip-content-check"]
    script = str(ROOT / "examples" / "train_cifar.py")
    for extra in (["--stop-after", "1"], ["--resume"]):
        run = subprocess.run([find_mpiexec(), "-n", "2", sys.executable, script, *flags, *extra], capture_output=True,
                             text=True, timeout=300, env=WORKER_ENV, cwd=tmp_path, check=False)
        assert run.returncode == 0, f"train_cifar.py --distributed failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
        assert run.stdout.count("minires 0.1") == 1 and "x 2 processes (SyncBatchNorm)" in run.stdout, run.stdout
        lines = run.stdout.splitlines()
        assert sum(line.startswith("epoch ") for line in lines) == 1, run.stdout
        assert sum(line.strip().startswith("saved ") for line in lines) == 1, run.stdout
    assert "resumed from" in run.stdout and "epoch   2/2" in run.stdout, run.stdout
    assert len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) == 3  # header + 2 epochs


def test_train_cifar_sync_bn_needs_distributed(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "train_cifar.py"), "--sync-bn", "--checkpoint",
                          str(tmp_path / "c.npz"), "--out", str(tmp_path / "o")], capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 2 and "--sync-bn" in run.stderr and "--distributed" in run.stderr, run.stderr


def _gpus() -> int:
    return mr.cuda.device_count() if mr.cuda.is_available() else 0


@pytest.mark.gpu
@requires_mpi
@pytest.mark.skipif(not dist.is_nccl_available(), reason="needs CuPy with NCCL and a CUDA GPU")
def test_nccl_collectives_and_ddp_with_syncbatchnorm():
    """The nccl backend, one GPU per rank (2 ranks where there are 2 GPUs, else 1): the collectives,
    and DDP + SyncBatchNorm against one CPU process on the global batch."""
    ranks = min(2, _gpus())
    env_backup = WORKER_ENV.get("MPI_WORKER_BACKEND")
    WORKER_ENV["MPI_WORKER_BACKEND"] = "nccl"
    try:
        got = result(mpirun("collectives", nproc=ranks))
        assert got["backend"] == "nccl" and got["size"] == ranks, got
        assert got["gathered"] == [[float(r), 10.0 + r] for r in range(ranks)], got
        ddp_run = result(mpirun("ddp", "sync", "3", "8", nproc=ranks))
        assert ddp_run["between_ranks"] == 0.0, ddp_run
        assert ddp_run["vs_big_batch"]["params"] < 1e-5, f"DDP+SyncBN on GPUs vs one CPU process: {ddp_run}"
    finally:
        if env_backup is None:
            WORKER_ENV.pop("MPI_WORKER_BACKEND", None)
        else:
            WORKER_ENV["MPI_WORKER_BACKEND"] = env_backup
