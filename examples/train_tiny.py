"""Train a tiny two-layer net on a 3-class spiral with nothing but Tensors and backward.

    python examples/train_tiny.py

The first example to run: every step is visible (forward, loss, backward, a plain SGD
update), and it finishes in seconds. examples/train_cifar.py, the ResNet trainer,
arrives with the nn and optim layers.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import minires as mr
import minires.nn.functional as F

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--steps", type=int, default=300)
parser.add_argument("--lr", type=float, default=1.0)
parser.add_argument("--hidden", type=int, default=64)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()


def spiral(points_per_class: int, classes: int, rng: np.random.Generator):
    """Points on `classes` interleaved spiral arms: x (N, 2) float32, y (N,) int64."""
    radius = np.tile(np.linspace(0.05, 1.0, points_per_class), classes)
    label = np.repeat(np.arange(classes), points_per_class)
    angle = label * 2 * np.pi / classes + radius * 4 + rng.normal(0, 0.2, radius.size)
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return x.astype(np.float32), label


mr.manual_seed(args.seed)
rng = np.random.default_rng(args.seed)
x_train, y_train = spiral(100, 3, rng)
x, y = mr.tensor(x_train), mr.tensor(y_train)

# parameters of a 2 -> hidden -> 3 net, initialised with scale 1/sqrt(fan_in)
w1 = (mr.randn(2, args.hidden) / np.sqrt(2)).requires_grad_()
b1 = mr.zeros(args.hidden, requires_grad=True)
w2 = (mr.randn(args.hidden, 3) / np.sqrt(args.hidden)).requires_grad_()
b2 = mr.zeros(3, requires_grad=True)
params = [w1, b1, w2, b2]

print(f"minires {mr.__version__} | tiny MLP 2-{args.hidden}-3 on a 3-class spiral (300 points) "
      f"| cpu | kernels: {mr.backend.cpu_implementation()} | seed {args.seed} | lr {args.lr}")
start = time.perf_counter()
for step in range(1, args.steps + 1):
    logits = (x @ w1 + b1).relu() @ w2 + b2   # forward
    loss = F.cross_entropy(logits, y)
    for p in params:
        p.zero_grad()
    loss.backward()                           # d loss / d every parameter
    with mr.no_grad():                        # plain SGD: p <- p - lr * grad
        for p in params:
            p.data -= args.lr * p.grad
    if step % 50 == 0 or step == 1:
        accuracy = (logits.argmax(1) == y).numpy().mean()
        print(f"step {step:4d}/{args.steps}  loss {loss.item():.4f}  train acc {100 * accuracy:5.1f}%")
print(f"done in {time.perf_counter() - start:.1f} s")
