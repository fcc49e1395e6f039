"""Learning-rate schedulers: hand-computed values (always run), and step by step against
torch.optim.lr_scheduler where torch is installed (imported inside the tests only)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import minires as mr
from minires import optim
from minires.optim import lr_scheduler


def one_group(lr=1.0, **settings):
    return optim.SGD([mr.zeros(1, requires_grad=True)], lr=lr, **settings)


def lrs_over(sched, opt, steps, key="lr"):
    got = []
    for _ in range(steps):
        got.append(opt.param_groups[0][key])
        sched.step()
    return got


# ---------------------------------------------------------------- by hand (no torch needed)

@pytest.mark.parametrize("name, make, expected", [
    ("ExponentialLR", lambda o: lr_scheduler.ExponentialLR(o, gamma=0.5), [1, 0.5, 0.25, 0.125]),
    ("LambdaLR", lambda o: lr_scheduler.LambdaLR(o, lambda t: 1 / (t + 1)), [1, 1 / 2, 1 / 3, 1 / 4]),
    ("CosineAnnealingLR past T_max", lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=2),
     [1, 0.5, 0, 0.5, 1, 0.5, 0]),  # SGDR without restarts: a period of 2 * T_max
    ("LinearLR decay", lambda o: lr_scheduler.LinearLR(o, start_factor=1.0, end_factor=0.5, total_iters=2),
     [1, 0.75, 0.5, 0.5]),
    ("SequentialLR", lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.LinearLR(o, 0.5, total_iters=2),
                                                             lr_scheduler.ExponentialLR(o, 0.5)], milestones=[2]),
     [0.5, 0.75, 1, 0.5, 0.25]),  # the exponential phase starts at its own step 0
    ("MultiStepLR repeated milestone", lambda o: lr_scheduler.MultiStepLR(o, [2, 2], gamma=0.5), [1, 1, 0.25, 0.25]),
])
def test_schedules_by_hand(name, make, expected):
    opt = one_group()
    got = lrs_over(make(opt), opt, len(expected))
    np.testing.assert_allclose(got, expected, atol=1e-12, err_msg=name)


def test_reduce_lr_on_plateau_by_hand():
    opt = one_group()
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    got = []
    for metric in [1, 1, 1, 0.5, 0.5, 0.5]:
        sched.step(metric)
        got.append(opt.param_groups[0]["lr"])
    # bad steps counted after the best: more than patience=1 of them halves the lr
    assert got == [1, 1, 0.5, 0.5, 0.5, 0.25]
    assert sched.get_last_lr() == [0.25]


@pytest.mark.parametrize("form", [{"total_steps": 10}, {"epochs": 2, "steps_per_epoch": 5}])
def test_one_cycle_by_hand(form):
    opt = one_group(momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, **form)
    lrs, momenta = [], []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        momenta.append(opt.param_groups[0]["momentum"])
        sched.step()
    # initial_lr = 1/25 at step 0, max_lr at step 0.3*10-1 = 2, min_lr = initial_lr/1e4 at step 9
    np.testing.assert_allclose([lrs[0], lrs[1], lrs[2], lrs[9]], [0.04, 0.52, 1.0, 4e-6], rtol=1e-12)
    np.testing.assert_allclose([momenta[0], momenta[1], momenta[2], momenta[9]], [0.95, 0.9, 0.85, 0.95], rtol=1e-12)
    assert sched.last_epoch == 10  # last_epoch == total_steps is still allowed, as in PyTorch; 11 is not
    with pytest.raises(ValueError, match="Tried to step 11 times. The specified number of total steps is 10"):
        sched.step()


def test_one_cycle_cycles_adams_beta1():
    opt = optim.Adam([mr.zeros(1, requires_grad=True)], lr=1.0, betas=(0.9, 0.99))
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    assert opt.param_groups[0]["betas"] == (0.95, 0.99)
    sched.step()
    sched.step()
    assert np.isclose(opt.param_groups[0]["betas"][0], 0.85) and opt.param_groups[0]["betas"][1] == 0.99


def test_constructor_errors_are_pytorchs():
    opt = one_group(momentum=0.9)
    with pytest.raises(ValueError, match=r"You must define either total_steps OR \(epochs AND steps_per_epoch\)"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="You must define either"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, epochs=3)
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        lr_scheduler.OneCycleLR(_no_momentum_optimizer(), max_lr=0.1, total_steps=5)
    with pytest.raises(ValueError, match="number of schedulers 2 and the number of milestones to be equal to 2"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.StepLR(opt, 2), lr_scheduler.StepLR(opt, 3)], milestones=[1, 2])
    with pytest.raises(ValueError, match="does not support `ReduceLROnPlateau`"):
        lr_scheduler.SequentialLR(opt, [lr_scheduler.ReduceLROnPlateau(opt)], milestones=[])
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(one_group(), 2, last_epoch=3)
    with pytest.raises(ValueError, match="Expected 1 lr_lambdas, but got 2"):
        lr_scheduler.LambdaLR(opt, [lambda t: 1.0, lambda t: 1.0])


def _no_momentum_optimizer():
    class Plain(optim.Optimizer):
        def step(self):
            pass
    return Plain([mr.zeros(1, requires_grad=True)], {"lr": 0.1})


# ---------------------------------------------------------------- resuming (no torch needed)

def _schedulers(mod):
    """name -> (make(opt), optimizer settings, steps): every scheduler over about three periods."""
    return {
        "StepLR": (lambda o: mod.StepLR(o, step_size=3, gamma=0.5), {}, 12),
        "MultiStepLR": (lambda o: mod.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3), {}, 12),
        "ExponentialLR": (lambda o: mod.ExponentialLR(o, gamma=0.9), {}, 15),
        "LambdaLR": (lambda o: mod.LambdaLR(o, lambda t: 0.95**t + 0.01 * (t % 3)), {}, 12),
        "LambdaLR per group": (lambda o: mod.LambdaLR(o, [lambda t: 1 / (t + 1), lambda t: 0.9**t]), {}, 10),
        "CosineAnnealingLR": (lambda o: mod.CosineAnnealingLR(o, T_max=5, eta_min=0.01), {}, 30),
        "CosineAnnealingLR T_max=7": (lambda o: mod.CosineAnnealingLR(o, T_max=7), {}, 42),
        "LinearLR": (lambda o: mod.LinearLR(o, start_factor=0.2, end_factor=0.9, total_iters=4), {}, 12),
        "LinearLR decay": (lambda o: mod.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=6), {}, 12),
        "SequentialLR": (lambda o: mod.SequentialLR(o, [mod.LinearLR(o, start_factor=0.1, total_iters=3),
                                                        mod.CosineAnnealingLR(o, T_max=7)], milestones=[3]), {}, 24),
        "SequentialLR of three": (lambda o: mod.SequentialLR(o, [mod.LinearLR(o, start_factor=0.5, total_iters=2),
                                                                 mod.ExponentialLR(o, gamma=0.8),
                                                                 mod.StepLR(o, step_size=2, gamma=0.5)],
                                                             milestones=[3, 7]), {}, 14),
        "OneCycleLR": (lambda o: mod.OneCycleLR(o, max_lr=[0.5, 0.2], total_steps=20), {"momentum": 0.9}, 20),
        "OneCycleLR by epochs": (lambda o: mod.OneCycleLR(o, max_lr=0.5, epochs=4, steps_per_epoch=5,
                                                          anneal_strategy="linear"), {"momentum": 0.9}, 20),
        "OneCycleLR three phases": (lambda o: mod.OneCycleLR(o, max_lr=0.3, total_steps=15, pct_start=0.25,
                                                             three_phase=True, base_momentum=[0.8, 0.7]),
                                    {"momentum": 0.9}, 15),
        "OneCycleLR Adam": (lambda o: mod.OneCycleLR(o, max_lr=0.01, total_steps=12, div_factor=10.0),
                            {"adam": True}, 12),
    }


def _ours(settings):
    params = [mr.zeros(1, requires_grad=True), mr.zeros(1, requires_grad=True)]
    groups = [{"params": params[:1]}, {"params": params[1:], "lr": 0.05}]
    if settings.get("adam"):
        return optim.Adam(groups, lr=0.2)
    return optim.SGD(groups, lr=0.2, **settings)


def _theirs(torch, settings):
    params = [torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)]
    groups = [{"params": params[:1]}, {"params": params[1:], "lr": 0.05}]
    if settings.get("adam"):
        return torch.optim.Adam(groups, lr=0.2)
    return torch.optim.SGD(groups, lr=0.2, **settings)


def _settings(opt):
    """What a scheduler changes: each group's lr and momentum (or Adam's beta1)."""
    return [(g["lr"], g.get("momentum", g.get("betas", (None,))[0])) for g in opt.param_groups]


NAMES = list(_schedulers(lr_scheduler))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("k", [1, 4])
def test_resume_from_state_dict_equals_the_uninterrupted_run(name, k):
    make, settings, steps = _schedulers(lr_scheduler)[name]
    opt = _ours(settings)
    sched = make(opt)
    for _ in range(k):
        sched.step()
    saved = json.loads(json.dumps(sched.state_dict()))  # JSON-able, as train_cifar's checkpoints need
    saved_opt = opt.state_dict()
    opt2 = _ours(settings)
    sched2 = make(opt2)
    opt2.load_state_dict(saved_opt)  # a real resume loads both, as in PyTorch
    sched2.load_state_dict(saved)
    assert sched2.last_epoch == sched.last_epoch and sched2.get_last_lr() == sched.get_last_lr()
    for step in range(k, steps - 1):
        assert _settings(opt2) == _settings(opt), (name, step)
        sched.step()
        sched2.step()


@pytest.mark.parametrize("name", ["StepLR", "CosineAnnealingLR", "SequentialLR", "OneCycleLR", "LambdaLR"])
def test_resume_from_the_scheduler_alone(name):
    """minires also writes the saved lrs into the groups (PyTorch leaves that to the optimizer)."""
    make, settings, steps = _schedulers(lr_scheduler)[name]
    opt = _ours(settings)
    sched = make(opt)
    for _ in range(5):
        sched.step()
    opt2 = _ours(settings)
    sched2 = make(opt2)
    sched2.load_state_dict(json.loads(json.dumps(sched.state_dict())))
    for step in range(5, steps - 1):
        assert _settings(opt2) == _settings(opt), (name, step)
        sched.step()
        sched2.step()


def test_reduce_lr_on_plateau_resumes():
    opt, opt2 = one_group(), one_group()
    sched, sched2 = lr_scheduler.ReduceLROnPlateau(opt, patience=1), lr_scheduler.ReduceLROnPlateau(opt2, patience=1)
    for metric in [1, 1, 0.5]:
        sched.step(metric)
    sched2.load_state_dict(json.loads(json.dumps(sched.state_dict())))  # best may be inf: JSON writes Infinity
    for metric in [0.5, 0.5, 0.5, 0.1]:
        sched.step(metric)
        sched2.step(metric)
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_states_saved_before_the_chainable_schedulers_still_load():
    """train_cifar's checkpoints hold these (no _last_lr, no _step_count): the lr comes back
    from the closed form at last_epoch."""
    opt = one_group(lr=0.1, momentum=0.9)
    sched = lr_scheduler.WarmupCosineLR(opt, warmup=3, total=10)
    sched.load_state_dict({"warmup": 3, "total": 10, "start_factor": 0.1, "eta_min": 0.0, "base_lrs": [0.1],
                           "last_epoch": 5})
    fresh_opt = one_group(lr=0.1, momentum=0.9)
    fresh = lr_scheduler.WarmupCosineLR(fresh_opt, warmup=3, total=10)
    for _ in range(5):
        fresh.step()
    assert opt.param_groups[0]["lr"] == fresh_opt.param_groups[0]["lr"]
    sched.step()
    fresh.step()
    assert opt.param_groups[0]["lr"] == fresh_opt.param_groups[0]["lr"]

    opt = one_group(lr=0.1, momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    sched.load_state_dict({"max_lr": 0.1, "total_steps": 10, "initial_lr": 0.004, "min_lr": 4e-7, "peak": 2.0,
                           "cycle_momentum": True, "base_momentum": 0.85, "max_momentum": 0.95,
                           "base_lrs": [0.004], "last_epoch": 2})
    assert np.isclose(opt.param_groups[0]["lr"], 0.1) and np.isclose(opt.param_groups[0]["momentum"], 0.85)
    multistep = lr_scheduler.MultiStepLR(one_group(), [2, 4])
    multistep.load_state_dict({"milestones": [2, 4], "gamma": 0.1, "base_lrs": [1.0], "last_epoch": 3})
    assert np.isclose(multistep.optimizer.param_groups[0]["lr"], 0.1)


def test_lambdas_are_not_saved_but_callable_objects_state_is():
    class Halving:
        def __init__(self):
            self.rate = 0.5

        def __call__(self, t):
            return self.rate**t

    def fn(t):
        return 1.0

    opt = optim.SGD([{"params": [mr.zeros(1, requires_grad=True)]}, {"params": [mr.zeros(1, requires_grad=True)]}],
                    lr=1.0)
    halving = Halving()
    halving.rate = 0.25
    state = lr_scheduler.LambdaLR(opt, [fn, halving]).state_dict()
    assert state["lr_lambdas"] == [None, {"rate": 0.25}]
    fresh = Halving()
    lr_scheduler.LambdaLR(one_group(), fn)  # a single function is fine too
    sched2 = lr_scheduler.LambdaLR(optim.SGD([{"params": [mr.zeros(1, requires_grad=True)]},
                                              {"params": [mr.zeros(1, requires_grad=True)]}], lr=1.0), [fn, fresh])
    sched2.load_state_dict(state)
    assert fresh.rate == 0.25


def test_step_with_an_epoch_jumps_by_the_closed_form_with_pytorchs_warning():
    opt = one_group()
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    with pytest.warns(UserWarning, match="The epoch parameter in `scheduler.step\\(\\)` was not necessary"):
        sched.step(2)
    assert sched.last_epoch == 2 and np.isclose(opt.param_groups[0]["lr"], 0.5)


def test_last_epoch_resume_via_the_constructor():
    """Construct with last_epoch=k on an optimizer holding initial_lr: one step past k (as PyTorch)."""
    opt = one_group()
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        sched.step()
    opt2 = one_group()
    opt2.load_state_dict(opt.state_dict())
    sched2 = lr_scheduler.StepLR(opt2, step_size=2, gamma=0.5, last_epoch=3)
    sched.step()
    assert sched2.last_epoch == 4 and opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == 0.25


# ---------------------------------------------------------------- step by step against torch

def assert_same(ours, theirs, what):
    np.testing.assert_allclose(np.array(ours, dtype=float), np.array(theirs, dtype=float), rtol=1e-12, atol=1e-15,
                               err_msg=what)


@pytest.mark.parametrize("name", NAMES)
def test_matches_torch_step_by_step(name):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    make, settings, steps = _schedulers(lr_scheduler)[name]
    make_t = _schedulers(torch.optim.lr_scheduler)[name][0]
    opt, opt_t = _ours(settings), _theirs(torch, settings)
    sched, sched_t = make(opt), make_t(opt_t)
    for step in range(steps):
        assert_same(_settings(opt), _settings(opt_t), f"{name} at step {step}")
        assert_same(sched.get_last_lr(), sched_t.get_last_lr(), f"{name}: get_last_lr at step {step}")
        assert sched.last_epoch == sched_t.last_epoch
        opt_t.step()
        sched.step()
        sched_t.step()
    theirs = {k for k in sched_t.state_dict() if k != "_get_lr_called_within_step"}
    assert set(sched.state_dict()) == theirs, name  # PyTorch's layout
    assert set(opt.param_groups[0]) <= set(opt_t.param_groups[0])


@pytest.mark.parametrize("name", NAMES)
def test_loads_torchs_state_dict_and_continues_as_torch(name):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    make, settings, steps = _schedulers(lr_scheduler)[name]
    make_t = _schedulers(torch.optim.lr_scheduler)[name][0]
    opt_t = _theirs(torch, settings)
    sched_t = make_t(opt_t)
    for _ in range(4):
        opt_t.step()
        sched_t.step()
    opt = _ours(settings)
    sched = make(opt)
    torch_groups = opt_t.state_dict()["param_groups"]
    opt.load_state_dict({"state": {}, "param_groups": torch_groups})
    sched.load_state_dict(sched_t.state_dict())
    for step in range(4, steps - 1):
        assert_same(_settings(opt), _settings(opt_t), f"{name} at step {step}")
        opt_t.step()
        sched.step()
        sched_t.step()


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR",
                                  "OneCycleLR"])
def test_last_epoch_constructor_matches_torch(name):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    make_kw = {
        "StepLR": ({"step_size": 3, "gamma": 0.5}, {}),
        "MultiStepLR": ({"milestones": [2, 4], "gamma": 0.3}, {}),
        "ExponentialLR": ({"gamma": 0.9}, {}),
        "CosineAnnealingLR": ({"T_max": 5, "eta_min": 0.01}, {}),
        "LinearLR": ({"start_factor": 0.2, "total_iters": 6}, {}),
        "OneCycleLR": ({"max_lr": 0.5, "total_steps": 20}, {"momentum": 0.9}),
    }
    kwargs, settings = make_kw[name]
    runs = []
    for mod, new_opt in ((lr_scheduler, lambda: _ours(settings)), (torch.optim.lr_scheduler,
                                                                    lambda: _theirs(torch, settings))):
        opt = new_opt()
        sched = getattr(mod, name)(opt, **kwargs)
        for _ in range(5):
            opt.step()
            sched.step()
        opt2 = new_opt()
        opt2.load_state_dict(opt.state_dict())
        sched2 = getattr(mod, name)(opt2, **kwargs, last_epoch=5)
        seen = []
        for _ in range(6):
            seen.append(_settings(opt2))
            opt2.step()
            sched2.step()
        runs.append(seen)
    assert_same(runs[0], runs[1], name)


@pytest.mark.parametrize("epochs", [[3, 7, 2], [0, 10, 15]])
def test_step_with_epoch_matches_torch(epochs):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    for name, kwargs in [("StepLR", {"step_size": 3}), ("MultiStepLR", {"milestones": [2, 5]}),
                         ("ExponentialLR", {"gamma": 0.9}), ("CosineAnnealingLR", {"T_max": 6}),
                         ("LinearLR", {"total_iters": 4})]:
        opt, opt_t = _ours({}), _theirs(torch, {})
        sched, sched_t = getattr(lr_scheduler, name)(opt, **kwargs), getattr(torch.optim.lr_scheduler, name)(opt_t,
                                                                                                            **kwargs)
        for epoch in epochs:
            with pytest.warns(UserWarning):
                sched.step(epoch)
            with pytest.warns(UserWarning):
                sched_t.step(epoch)
            assert_same(_settings(opt), _settings(opt_t), f"{name} at epoch {epoch}")
            sched.step()
            sched_t.step()
            assert_same(_settings(opt), _settings(opt_t), f"{name} after epoch {epoch}")


METRICS = [1.0, 0.9, 0.9, 0.95, 0.91, 0.8999, 0.8, 0.85, 0.86, 0.87, 0.88, 0.5, 0.5, 0.6, 0.7, 0.49, 0.7, 0.8,
           0.9, 1.0, 1.1, 1.2]


@pytest.mark.parametrize("kwargs", [
    {},
    {"patience": 2, "factor": 0.5},
    {"patience": 1, "factor": 0.5, "cooldown": 2, "min_lr": [0.0, 0.03]},
    {"patience": 0, "factor": 0.5, "threshold": 0.05, "threshold_mode": "abs", "min_lr": 0.01},
    {"mode": "max", "patience": 1, "factor": 0.3, "threshold": 0.01},
    {"mode": "max", "patience": 2, "threshold_mode": "abs", "threshold": 0.1, "cooldown": 1},
    {"patience": 0, "factor": 0.9, "eps": 0.015},  # reductions smaller than eps are skipped
])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    opt, opt_t = _ours({}), _theirs(torch, {})
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    sched_t = torch.optim.lr_scheduler.ReduceLROnPlateau(opt_t, **kwargs)
    for i, metric in enumerate(METRICS):
        sched.step(metric)
        sched_t.step(torch.tensor(metric, dtype=torch.float64))
        assert_same(_settings(opt), _settings(opt_t), f"{kwargs} after metric {i}")
        assert (sched.num_bad_epochs, sched.cooldown_counter, sched.last_epoch) == (
            sched_t.num_bad_epochs, sched_t.cooldown_counter, sched_t.last_epoch)
        assert sched.best == sched_t.best or math.isinf(sched.best) and math.isinf(sched_t.best)
        assert_same(sched.get_last_lr(), sched_t.get_last_lr(), "get_last_lr")
    assert set(sched.state_dict()) == set(sched_t.state_dict())
