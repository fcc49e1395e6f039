"""Optimizers and schedules: hand-computed updates, and update-by-update parity with torch.optim."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close

import minires as mr
from minires import optim
from minires.optim import lr_scheduler


def quadratic_grads(params):
    """Gradients of L = sum_k sum(p_k^2 * (k+1)): different per parameter, depend on p."""
    for k, p in enumerate(params):
        p.grad = 2 * (k + 1) * p.data


def test_sgd_momentum_by_hand():
    """lr 0.1, momentum 0.9, weight_decay 0.01 on p = 1 with g = 2p (PyTorch's order)."""
    p = mr.tensor([1.0], dtype=np.float64, requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    p.grad = 2 * p.data
    opt.step()  # g = 2 + 0.01 = 2.01; buf = 2.01; p = 1 - 0.201
    assert np.isclose(p.item(), 0.799)
    p.grad = 2 * p.data
    opt.step()  # g = 1.598 + 0.00799; buf = 0.9*2.01 + g; p -= 0.1*buf
    g = 2 * 0.799 + 0.01 * 0.799
    assert np.isclose(p.item(), 0.799 - 0.1 * (0.9 * 2.01 + g))


def test_adam_first_step_is_lr_times_sign():
    """After bias correction Adam's first step is lr * g / (|g| + eps) ~ lr * sign(g)."""
    p = mr.tensor([1.0, -2.0], dtype=np.float64, requires_grad=True)
    opt = optim.Adam([p], lr=0.01)
    p.grad = mr.tensor([3.0, -0.5], dtype=np.float64)
    opt.step()
    assert_close(p.numpy(), [0.99, -1.99], "Adam step 1", atol=1e-7)


def test_adamw_decays_the_weight_not_the_gradient():
    p = mr.tensor([1.0], dtype=np.float64, requires_grad=True)
    opt = optim.AdamW([p], lr=0.1, weight_decay=0.5)
    p.grad = mr.tensor([0.0], dtype=np.float64)  # no gradient signal: only the decay acts
    opt.step()
    assert np.isclose(p.item(), 1.0 * (1 - 0.1 * 0.5))


def test_param_groups_take_defaults_and_their_own_settings():
    a, b = mr.zeros(2, requires_grad=True), mr.zeros(2, requires_grad=True)
    opt = optim.SGD([{"params": [a], "weight_decay": 5e-4}, {"params": [b]}], lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["weight_decay"] == 5e-4 and opt.param_groups[1]["weight_decay"] == 0.0
    assert opt.param_groups[1]["lr"] == 0.1
    with pytest.raises(ValueError, match="more than one group"):
        optim.SGD([{"params": [a]}, {"params": [a]}], lr=0.1)


def test_optimizer_state_dict_round_trip():
    params = [mr.tensor(np.ones(3), requires_grad=True), mr.tensor(np.ones(2), requires_grad=True)]
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    quadratic_grads(params)
    opt.step()
    state = opt.state_dict()
    twins = [mr.tensor(p.numpy().copy(), requires_grad=True) for p in params]
    opt2 = optim.SGD(twins, lr=0.5, momentum=0.9)
    opt2.load_state_dict(state)
    assert opt2.param_groups[0]["lr"] == 0.1
    for step_params, o in ((params, opt), (twins, opt2)):
        quadratic_grads(step_params)
        o.step()
    for p, q in zip(params, twins):
        assert_close(q.numpy(), p.numpy(), "after resuming from state_dict")


@pytest.mark.parametrize("name, make, expected", [
    ("StepLR", lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5), [1, 1, 0.5, 0.5, 0.25]),
    ("MultiStepLR", lambda o: lr_scheduler.MultiStepLR(o, [1, 3]), [1, 0.1, 0.1, 0.01, 0.01]),
    ("CosineAnnealingLR", lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=4), [1, 0.8535534, 0.5, 0.1464466, 0]),
    ("LinearLR", lambda o: lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=2), [0.25, 0.625, 1, 1, 1]),
])
def test_schedules_by_hand(name, make, expected):
    opt = optim.SGD([mr.zeros(1, requires_grad=True)], lr=1.0)
    sched = make(opt)
    got = []
    for _ in expected:
        got.append(opt.param_groups[0]["lr"])
        sched.step()
    assert_close(got, expected, name, atol=1e-6)


# ---------------------------------------------------------------- PyTorch parity

OPTIMIZERS = {
    "sgd": ({"lr": 0.1}, "SGD"),
    "sgd_momentum_wd": ({"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}, "SGD"),
    "sgd_dampening": ({"lr": 0.05, "momentum": 0.8, "dampening": 0.3}, "SGD"),
    "sgd_nesterov": ({"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}, "SGD"),
    "adam": ({"lr": 0.01}, "Adam"),
    "adam_wd": ({"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}, "Adam"),
    "adamw": ({"lr": 0.01, "weight_decay": 0.1}, "AdamW"),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_matches_torch_step_by_step(name):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    settings, cls = OPTIMIZERS[name]
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    ours = [mr.tensor(a, requires_grad=True) for a in start]
    theirs = [torch.tensor(a, requires_grad=True) for a in start]
    opt = getattr(optim, cls)([{"params": ours[:1]}, {"params": ours[1:], "lr": 0.03}], **settings)
    opt_t = getattr(torch.optim, cls)([{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.03}], **settings)
    for step in range(5):
        quadratic_grads(ours)
        for k, p in enumerate(theirs):
            p.grad = 2 * (k + 1) * p.detach().clone()
        opt.step()
        opt_t.step()
        for i, (p, q) in enumerate(zip(ours, theirs)):
            assert_close(p.numpy(), q.detach().numpy(), f"{name}: parameter {i} after step {step + 1}", atol=1e-12,
                         rtol=1e-10)


SCHEDULES = {
    "StepLR": ({"step_size": 3, "gamma": 0.5}, {}),
    "MultiStepLR": ({"milestones": [2, 5], "gamma": 0.1}, {}),
    "CosineAnnealingLR": ({"T_max": 7, "eta_min": 0.001}, {}),
    "LinearLR": ({"start_factor": 0.1, "total_iters": 4}, {}),
    "OneCycleLR": ({"max_lr": 0.5, "total_steps": 10}, {"momentum": 0.9}),
}


@pytest.mark.parametrize("name", SCHEDULES)
def test_schedule_matches_torch(name):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    kwargs, opt_kwargs = SCHEDULES[name]
    opt = optim.SGD([mr.zeros(1, requires_grad=True)], lr=0.2, **opt_kwargs)
    opt_t = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.2, **opt_kwargs)
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    sched_t = getattr(torch.optim.lr_scheduler, name)(opt_t, **kwargs)
    for step in range(9):
        group, group_t = opt.param_groups[0], opt_t.param_groups[0]
        assert np.isclose(group["lr"], group_t["lr"], rtol=1e-9, atol=1e-12), (name, step, group["lr"], group_t["lr"])
        if name == "OneCycleLR":
            assert np.isclose(group["momentum"], group_t["momentum"], rtol=1e-9), (step, group["momentum"])
        opt_t.step()
        sched.step()
        sched_t.step()


def test_warmup_cosine_matches_torch_sequential():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    opt = optim.SGD([mr.zeros(1, requires_grad=True)], lr=0.1)
    sched = lr_scheduler.WarmupCosineLR(opt, warmup=3, total=10, start_factor=0.1)
    opt_t = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched_t = torch.optim.lr_scheduler.SequentialLR(opt_t, [
        torch.optim.lr_scheduler.LinearLR(opt_t, start_factor=0.1, total_iters=3),
        torch.optim.lr_scheduler.CosineAnnealingLR(opt_t, T_max=7)], milestones=[3])
    for step in range(10):
        assert np.isclose(opt.param_groups[0]["lr"], opt_t.param_groups[0]["lr"], atol=1e-9), step
        opt_t.step()
        sched.step()
        sched_t.step()


def test_scheduler_state_dict_resumes_the_same_lr():
    opt = optim.SGD([mr.zeros(1, requires_grad=True)], lr=1.0)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        sched.step()
    opt2 = optim.SGD([mr.zeros(1, requires_grad=True)], lr=1.0)
    sched2 = lr_scheduler.CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(sched.state_dict())
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    sched.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def _stepped(kind, **settings):
    params = [mr.tensor(np.ones(3), requires_grad=True), mr.tensor(np.ones(2), requires_grad=True)]
    opt = kind(params, **settings)
    quadratic_grads(params)
    opt.step()
    return opt


def _fresh(kind, **settings):
    return kind([mr.tensor(np.ones(3), requires_grad=True), mr.tensor(np.ones(2), requires_grad=True)], **settings)


def test_loading_another_optimizers_state_is_refused_naming_both():
    adam_state = _stepped(optim.Adam, lr=0.1).state_dict()
    sgd_state = _stepped(optim.SGD, lr=0.1, momentum=0.9).state_dict()
    sgd = _fresh(optim.SGD, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: this state was saved by Adam or AdamW \(its groups "
                                         r"have betas, eps; SGD's have momentum, dampening, nesterov\)"):
        sgd.load_state_dict(adam_state)
    assert sgd.state == {} and "betas" not in sgd.param_groups[0], "a refused state must change nothing"
    for kind in (optim.Adam, optim.AdamW):
        with pytest.raises(ValueError, match=rf"{kind.__name__}.load_state_dict: this state was saved by SGD "
                                             rf"\(its groups have momentum, dampening, nesterov; "
                                             rf"{kind.__name__}'s have betas, eps\)"):
            _fresh(kind).load_state_dict(sgd_state)
    _fresh(optim.AdamW).load_state_dict(adam_state)  # as in PyTorch: the same buffers and settings


def test_pytorch_shaped_states_are_recognised_by_their_keys():
    # torch 2.x's state_dict() groups (no minires-only key is needed to tell the kinds apart)
    torch_sgd = {"lr": 0.1, "momentum": 0.9, "dampening": 0, "weight_decay": 0, "nesterov": False,
                 "maximize": False, "foreach": None, "differentiable": False, "fused": None}
    torch_adam = {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0, "amsgrad": False,
                  "maximize": False, "foreach": None, "capturable": False, "differentiable": False,
                  "fused": None, "decoupled_weight_decay": False}
    sgd_state = {"state": {0: {"momentum_buffer": np.ones(3)}}, "param_groups": [{**torch_sgd, "params": [0, 1]}]}
    adam_state = {"state": {0: {"step": 1.0, "exp_avg": np.ones(3), "exp_avg_sq": np.ones(3)}},
                  "param_groups": [{**torch_adam, "params": [0, 1]}]}
    _fresh(optim.SGD, lr=0.1).load_state_dict(sgd_state)
    _fresh(optim.Adam).load_state_dict(adam_state)
    with pytest.raises(ValueError, match="SGD.load_state_dict: this state was saved by Adam or AdamW"):
        _fresh(optim.SGD, lr=0.1).load_state_dict(adam_state)
    with pytest.raises(ValueError, match="Adam.load_state_dict: this state was saved by SGD"):
        _fresh(optim.Adam).load_state_dict(sgd_state)


def test_per_parameter_buffers_must_be_this_optimizers():
    adam_state = _stepped(optim.Adam).state_dict()
    adam_state["state"][0]["max_exp_avg_sq"] = np.ones(3)  # amsgrad, which minires' Adam does not do
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: this state does not fit Adam \(parameter 0 has "
                                         r"buffers step, exp_avg, exp_avg_sq, max_exp_avg_sq; Adam keeps step, "
                                         r"exp_avg, exp_avg_sq\)"):
        _fresh(optim.Adam).load_state_dict(adam_state)
    partial = _stepped(optim.Adam).state_dict()
    del partial["state"][1]["exp_avg"]
    with pytest.raises(ValueError, match="parameter 1 has buffers step, exp_avg_sq; Adam keeps"):
        _fresh(optim.Adam).load_state_dict(partial)
    mixed = _stepped(optim.SGD, lr=0.1, momentum=0.9).state_dict()
    mixed["state"][1] = _stepped(optim.Adam).state_dict()["state"][1]  # SGD's groups, Adam's buffers
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: this state was saved by Adam or AdamW \(parameter 1 "
                                         r"has buffers step, exp_avg, exp_avg_sq; SGD keeps momentum_buffer\)"):
        _fresh(optim.SGD, lr=0.1, momentum=0.9).load_state_dict(mixed)
    _fresh(optim.SGD, lr=0.1).load_state_dict(_stepped(optim.SGD, lr=0.1).state_dict())  # no momentum, no buffers


# ---------------------------------------------------------------- zero_grad, add_param_group, state_dict layout

def test_zero_grad_sets_none_by_default_or_zeros_in_place():
    model = mr.nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    params = list(model.parameters())
    quadratic_grads(params)
    opt.zero_grad()  # PyTorch 2's default: set_to_none=True
    assert all(p.grad is None for p in params)
    quadratic_grads(params)
    arrays = [p.grad for p in params]
    opt.zero_grad(set_to_none=False)
    for p, array in zip(params, arrays):
        assert p.grad is array and not np.any(np.asarray(p.grad)), "zeroed in place, the same array"
    model.zero_grad(set_to_none=False)
    assert all(p.grad is a for p, a in zip(params, arrays))
    model.zero_grad()
    assert all(p.grad is None for p in params)
    opt.zero_grad(set_to_none=False)  # a parameter without a gradient keeps None, as in PyTorch
    assert all(p.grad is None for p in params)


def test_zero_grad_in_place_then_backward_accumulates_from_zero():
    w = mr.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    opt.zero_grad(set_to_none=False)
    (w * 3.0).sum().backward()
    assert_close(np.asarray(w.grad), [3.0, 3.0], "gradient after an in-place zero_grad")


def test_add_param_group_fills_defaults_and_refuses_duplicates():
    a, b, c = (mr.zeros(2, requires_grad=True) for _ in range(3))
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": b, "lr": 0.01})
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[1]["lr"] == 0.01
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["nesterov"] is False
    with pytest.raises(ValueError, match="more than one group"):
        opt.add_param_group({"params": [c, a]})
    with pytest.raises(TypeError, match="ordered collections"):
        opt.add_param_group({"params": {c}})
    with pytest.raises(TypeError, match="must be a dict"):
        opt.add_param_group([c])
    with pytest.warns(UserWarning, match="duplicate parameters"):
        opt.add_param_group({"params": [c, c]})
    assert len(opt.param_groups) == 3


@pytest.mark.parametrize("cls, settings", [("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-3}),
                                           ("Adam", {"lr": 0.01, "betas": (0.8, 0.99)}),
                                           ("AdamW", {"lr": 0.01})])
def test_state_dict_layout_is_torchs(cls, settings):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    rng = np.random.default_rng(1)
    start = [rng.standard_normal((3, 2)), rng.standard_normal(4), rng.standard_normal(2)]
    ours = [mr.tensor(a, requires_grad=True) for a in start]
    theirs = [torch.tensor(a, requires_grad=True) for a in start]
    opt = getattr(optim, cls)([{"params": ours[:2]}, {"params": ours[2:], "lr": 0.03}], **settings)
    opt_t = getattr(torch.optim, cls)([{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.03}], **settings)
    for _ in range(2):
        quadratic_grads(ours[:2])  # the last parameter gets no gradient: no state for it, in both
        for k, p in enumerate(theirs[:2]):
            p.grad = 2 * (k + 1) * p.detach().clone()
        opt.step()
        opt_t.step()
    mine, torchs = opt.state_dict(), opt_t.state_dict()
    assert list(mine) == list(torchs) == ["state", "param_groups"]
    assert list(mine["state"]) == list(torchs["state"]) == [0, 1]
    for i in mine["state"]:
        assert list(mine["state"][i]) == list(torchs["state"][i]), i
        for key, value in mine["state"][i].items():
            theirs_value = torchs["state"][i][key]
            if key == "step":  # torch keeps a float tensor, we a number
                assert value == 2 and float(theirs_value) == 2.0
            else:
                assert_close(value, theirs_value.numpy(), f"{cls} state[{i}][{key}]", atol=1e-12)
    for group, group_t in zip(mine["param_groups"], torchs["param_groups"]):
        assert group["params"] == group_t["params"]
        assert set(group) <= set(group_t), set(group) - set(group_t)
        assert all(group[k] == group_t[k] for k in group), cls
    # and torch's state_dict, tensors made arrays, resumes ours
    as_arrays = {"state": {i: {k: float(v) if k == "step" else v.numpy() for k, v in s.items()}
                           for i, s in torchs["state"].items()}, "param_groups": torchs["param_groups"]}
    twins = [mr.tensor(p.detach().numpy().copy(), requires_grad=True) for p in theirs]
    opt2 = getattr(optim, cls)([{"params": twins[:2]}, {"params": twins[2:]}], **settings)
    opt2.load_state_dict(as_arrays)
    quadratic_grads(twins[:2])
    for k, p in enumerate(theirs[:2]):
        p.grad = 2 * (k + 1) * p.detach().clone()
    opt2.step()
    opt_t.step()
    for p, q in zip(twins, theirs):
        assert_close(p.numpy(), q.detach().numpy(), f"{cls} resumed from torch's state_dict", atol=1e-12)
