"""PyTorch's autograd idioms, written as a course writes them: a custom Function with ctx (the
official "Learning PyTorch with Examples" Legendre fit), the graph walked through
next_functions, tensor and module hooks that watch a small ResNet, second derivatives
(a Hessian-vector product) and a WGAN-GP style gradient penalty step. Plain PyTorch: the
tests run it under torch and under minires with only the imports swapped.
Every function works in float64 and returns plain Python numbers, lists and dicts.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

DTYPE = torch.float64


# ---------------------------------------------------------------------------- custom Functions


class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


def fit_legendre(steps=300, learning_rate=5e-6):
    """The tutorial's fit of y = a + b * P3(c + d * x) to a sine (its Taylor polynomial here)."""
    x = torch.arange(200, dtype=DTYPE) / 199 * 2 * math.pi - math.pi
    y = x - x ** 3 / 6 + x ** 5 / 120 - x ** 7 / 5040
    a = torch.full((), 0.0, dtype=DTYPE, requires_grad=True)
    b = torch.full((), -1.0, dtype=DTYPE, requires_grad=True)
    c = torch.full((), 0.0, dtype=DTYPE, requires_grad=True)
    d = torch.full((), 0.3, dtype=DTYPE, requires_grad=True)
    losses = []
    for _ in range(steps):
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    return losses, [a.item(), b.item(), c.item(), d.item()]


class MulConstant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, constant):
        ctx.constant = constant  # a non-tensor argument: kept on ctx, its gradient is None
        return tensor * constant

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.constant, None


class SortWithIndices(torch.autograd.Function):
    """Two outputs, one of them not differentiable (the indices)."""

    @staticmethod
    def forward(ctx, x):
        values, indices = x.sort()
        ctx.mark_non_differentiable(indices)
        ctx.save_for_backward(indices)
        ctx.set_materialize_grads(True)
        return values, indices

    @staticmethod
    def backward(ctx, grad_values, grad_indices):
        indices, = ctx.saved_tensors
        grad = torch.zeros_like(grad_values)
        grad[indices] = grad_values
        return grad


class DoubleInPlace(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        x.mul_(2)
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * 2


class CubeOnce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        return grad_output * 3 * x ** 2


def custom_functions():
    """Gradients through the Functions above, and what their ctx told backward."""
    x = torch.tensor([0.5, -1.0, 2.0], dtype=DTYPE, requires_grad=True)
    seen = {}

    class Spy(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, b, scale):
            ctx.scale = scale
            return a * b * scale

        @staticmethod
        def backward(ctx, grad_output):
            seen["needs_input_grad"] = list(ctx.needs_input_grad)
            return None, grad_output * ctx.scale, None

    out = MulConstant.apply(x, 3.0).sum()
    values, indices = SortWithIndices.apply(x * 1.0)
    out = out + (values * torch.tensor([1.0, 10.0, 100.0], dtype=DTYPE)).sum()
    out = out + Spy.apply(torch.ones(3, dtype=DTYPE), x, 2.0).sum()
    out.backward()
    result = {"grad": x.grad.tolist(), "indices": indices.tolist(), "indices_requires_grad": indices.requires_grad,
              "needs_input_grad": seen["needs_input_grad"], "name": values.grad_fn.name()}

    leaf = torch.tensor([1.0, 2.0], dtype=DTYPE, requires_grad=True)
    y = leaf * 1.0
    z = DoubleInPlace.apply(y)
    result["dirty_is_input"] = z is y
    (z * z).sum().backward()
    result["dirty_grad"] = leaf.grad.tolist()

    w = torch.tensor([1.5], dtype=DTYPE, requires_grad=True)
    g, = torch.autograd.grad((CubeOnce.apply(w) * w).sum(), w, create_graph=True)  # its grad_output is w
    result["once_grad"] = g.tolist()
    try:
        g.sum().backward()
        result["once_second"] = "no error"
    except RuntimeError as error:
        result["once_second"] = str(error)
    return result


# ---------------------------------------------------------------------------- the graph


def walk_graph():
    """The 60-minute blitz's look at the graph: names along next_functions, breadth first."""
    a = torch.tensor([2.0, 3.0], dtype=DTYPE, requires_grad=True)
    b = torch.tensor([6.0, 4.0], dtype=DTYPE, requires_grad=True)
    q = 3 * a ** 3 - b ** 2
    loss = (q * q).sum()
    names, seen, queue = [], set(), [loss.grad_fn]
    while queue:
        node = queue.pop(0)
        if node is None or node in seen:
            continue
        seen.add(node)
        names.append(node.name())
        queue.extend(next_node for next_node, _ in node.next_functions)
    leaves = [node.variable is a or node.variable is b for node in seen if hasattr(node, "variable")]
    h = a * 2
    h.retain_grad()
    (h * h).sum().backward()
    return {"names": names, "leaves": leaves, "is_leaf": [a.is_leaf, q.is_leaf], "retains": h.retains_grad,
            "h_grad": h.grad.tolist(), "a_grad": a.grad.tolist(), "no_grad_next": (a * 2).grad_fn.next_functions[1]}


def tensor_hooks():
    """register_hook on a leaf and on an intermediate tensor; a returned tensor replaces the gradient."""
    x = torch.tensor([1.0, 2.0, 3.0], dtype=DTYPE, requires_grad=True)
    seen = []
    x.register_hook(lambda grad: seen.append(("x", grad.tolist())))
    h = x * x
    handle = h.register_hook(lambda grad: grad * 10)
    h.register_hook(lambda grad: seen.append(("h", grad.tolist())))
    (h * x).sum().backward()
    first = x.grad.tolist()
    handle.remove()
    x.grad = None
    (x * x * x).sum().backward()
    return {"seen": seen, "first": first, "after_remove": x.grad.tolist()}


# ---------------------------------------------------------------------------- module hooks on a small ResNet


class BasicBlock(nn.Module):
    def __init__(self, planes):
        super().__init__()
        self.conv1 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + x)


def small_resnet():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         BasicBlock(8), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)).double()


def module_hooks(net, images, labels):
    """Watch every convolution's activations and gradients, as a class does; then change
    things with hooks (scale an input, zero a gradient) and see the effect."""
    activations, gradients, order = {}, {}, []
    handles = []
    for name, module in net.named_modules():
        if isinstance(module, nn.Conv2d):
            def save_activation(module, args, output, name=name):
                activations[name] = output.norm().item()

            def save_gradient(module, grad_input, grad_output, name=name):
                gradients[name] = [None if g is None else g.norm().item() for g in grad_input + grad_output]
                order.append(name)

            handles.append(module.register_forward_hook(save_activation))
            handles.append(module.register_full_backward_hook(save_gradient))
    loss = F.cross_entropy(net(images), labels)
    loss.backward()
    weight_grad = net[0].weight.grad.norm().item()
    for handle in handles:
        handle.remove()

    net.zero_grad()
    pre = net[6].register_forward_pre_hook(lambda module, args: (args[0] * 2,))
    seen_grad_output = []
    back_pre = net[6].register_full_backward_pre_hook(lambda module, grad_output: seen_grad_output.append(
        grad_output[0].norm().item()))
    zero = net[3].register_full_backward_hook(lambda module, grad_input, grad_output: (torch.zeros_like(grad_input[0]),))
    loss2 = F.cross_entropy(net(images), labels)
    loss2.backward()
    changed = {"loss": loss2.item(), "stem_grad": net[0].weight.grad.norm().item(),
               "fc_grad": net[6].weight.grad.norm().item(), "grad_output": seen_grad_output}
    for handle in (pre, back_pre, zero):
        handle.remove()
    return {"loss": loss.item(), "activations": activations, "gradients": gradients, "order": order,
            "weight_grad": weight_grad, "changed": changed}


# ---------------------------------------------------------------------------- second derivatives


def hessian_vector_product(x, w, v):
    """H v for f(x) = sum(tanh(x @ w) ** 2) + sum(exp(x) * sigmoid(x)), by differentiating twice."""
    x = x.detach().requires_grad_(True)
    f = (torch.tanh(x @ w) ** 2).sum() + (torch.exp(x) * torch.sigmoid(x)).sum()
    g, = torch.autograd.grad(f, x, create_graph=True)
    hv, = torch.autograd.grad((g * v).sum(), x)
    return g.tolist(), hv.tolist()


def gradient_penalty_step(critic, real, fake, alpha, lambda_gp=10.0):
    """One WGAN-GP critic step: the gradient penalty on interpolates, backpropagated to the weights.
    alpha: (N, 1, 1, 1) interpolation weights (torch.rand(N, 1, 1, 1) in a training loop)."""
    interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(interpolates)
    gradients, = torch.autograd.grad(outputs=scores, inputs=interpolates, grad_outputs=torch.ones_like(scores),
                                     create_graph=True, retain_graph=True)
    gradients = gradients.view(gradients.size(0), -1)
    penalty = ((gradients.norm(2, dim=1) - 1) ** 2).mean()
    loss = critic(fake).mean() - critic(real).mean() + lambda_gp * penalty
    critic.zero_grad()
    loss.backward()
    return {"penalty": penalty.item(), "loss": loss.item(),
            "grads": {name: p.grad.norm().item() for name, p in critic.named_parameters()}}


def small_critic():
    torch.manual_seed(2)
    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 8, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, 1)).double()
