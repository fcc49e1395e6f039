"""Regenerate every figure under docs/figures/ from real runs of minires.

    python docs/make_figures.py            # all figures (about 15 s on a 2-core laptop)
    python docs/make_figures.py gradnorms  # only one of them

Figures:
    gradnorms.png  per-layer gradient norms at initialisation, plain-56 vs ResNet-56
                   (chapter "The residual block"): measured, one backward each
    im2col.png     the 4x4 image and its im2col matrix for a 2x2 kernel (chapter "Convolution")
    basicblock_graph.svg  the backward graph of a BasicBlock, drawn by minires.autograd.make_dot
                   (chapter "Autograd, whole")
    training.png   loss and accuracy per epoch of the measured 30-epoch ResNet-20 run
                   (chapter "Training on CIFAR-10"), drawn from its metrics.csv, kept in
                   docs/runs/resnet20_cifar10.csv (the run itself takes ~1.5 h: see that chapter)

Needs matplotlib (pip install -e ".[docs]").
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import minires as mr
import minires.nn.functional as F
from minires.kernels.im2col import im2col_reference
from minires.nn.models.resnet import BasicBlock, ResNet

DOCS = Path(__file__).resolve().parent
FIGURES = DOCS / "figures"


# ---------------------------------------------------------------------- gradient norms


class PlainBlock(BasicBlock):
    """A BasicBlock without its shortcut: y = relu(BN(conv(relu(BN(conv(x))))))."""

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)))  # no "+ x": a plain net


def conv_gradient_norms(block: type, n_per_stage: int = 9, batch: int = 32, seed: int = 0) -> list[float]:
    """||dL/dw|| of every conv weight, input side first, after one backward of cross-entropy
    on random CIFAR-shaped data, for a freshly initialised CIFAR ResNet built from `block`."""
    mr.manual_seed(seed)
    model = ResNet(block, [n_per_stage] * 3, [16, 32, 64], num_classes=10, shortcut="A")
    rng = np.random.default_rng(seed)
    images = mr.Tensor(rng.standard_normal((batch, 3, 32, 32)).astype(np.float32))
    labels = mr.Tensor(rng.integers(0, 10, batch))
    F.cross_entropy(model(images), labels).backward()
    return [float(np.linalg.norm(m.weight.grad)) for m in model.modules() if isinstance(m, mr.nn.Conv2d)]


def gradnorms() -> None:
    plain = conv_gradient_norms(PlainBlock)
    residual = conv_gradient_norms(BasicBlock)
    layers = np.arange(1, len(plain) + 1)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.semilogy(layers, plain, "o-", ms=3, label="plain-56 (shortcuts removed)")
    ax.semilogy(layers, residual, "s-", ms=3, label="ResNet-56")
    for boundary in (19.5, 37.5):  # the stride-2 stage boundaries (16 -> 32 -> 64 channels)
        ax.axvline(boundary, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="conv layer (1 = next to the input, 55 = next to the classifier)",
           ylabel="||dL/dW||  (log scale)",
           title="Gradient norm of each conv weight at initialisation\n"
                 "one backward of cross-entropy, batch 32 of random 3x32x32 inputs, seed 0")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(FIGURES / "gradnorms.png", dpi=110)
    plt.close(fig)
    print(f"gradnorms.png: plain first/last {plain[0]:.4g} / {plain[-1]:.4g}, "
          f"resnet first/last {residual[0]:.4g} / {residual[-1]:.4g}")


# ---------------------------------------------------------------------- im2col layout


def im2col() -> None:
    x = np.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    col = im2col_reference(x, (2, 2), (1, 1), (0, 0), (1, 1))  # (4, 9)
    fig, (ax_x, ax_col) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [4, 9]})

    def grid(ax, values, highlight, title, xlabel, ylabel):
        rows, cols = values.shape
        ax.imshow(np.where(highlight, 1.0, 0.0), cmap="Purples", vmin=0, vmax=3, aspect="equal")
        for r in range(rows):
            for c in range(cols):
                ax.text(c, r, f"{values[r, c]:g}", ha="center", va="center", fontsize=12)
        ax.set_xticks(range(cols))
        ax.set_yticks(range(rows))
        ax.set_xticks(np.arange(-0.5, cols), minor=True)
        ax.set_yticks(np.arange(-0.5, rows), minor=True)
        ax.grid(which="minor", color="black", lw=0.8)
        ax.tick_params(which="minor", length=0)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)

    in_patch = np.zeros((4, 4), bool)
    in_patch[1:3, 1:3] = True  # the 2x2 window at output position (1, 1)
    grid(ax_x, x[0, 0], in_patch, "x: one 4x4 image", "w", "h")
    in_column = np.zeros(col.shape, bool)
    in_column[:, 4] = True
    grid(ax_col, col, in_column, "col = im2col(x): (C*KH*KW, N*OH*OW) = (4, 9)",
         "column = output position (n, oh, ow)", "row = kernel offset (c, i, j)")
    ax_col.set_xticklabels([f"(0,{oh},{ow})" for oh in range(3) for ow in range(3)], fontsize=8)
    ax_col.set_yticklabels(["(0,0,0)", "(0,0,1)", "(0,1,0)", "(0,1,1)"], fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURES / "im2col.png", dpi=110)
    plt.close(fig)
    print("im2col.png")


# ---------------------------------------------------------------------- the measured run


def training() -> None:
    sys.path.insert(0, str(DOCS.parent / "examples"))
    from train_cifar import plot_curves  # the same plot train_cifar.py writes as curves.png

    with open(DOCS / "runs" / "resnet20_cifar10.csv", newline="") as f:
        rows = [{key: float(value) for key, value in row.items()} for row in csv.DictReader(f)]
    plot_curves(rows, FIGURES / "training.png")
    print(f"training.png: {len(rows)} epochs, final test accuracy {100 * rows[-1]['test_acc']:.2f}%")


# ---------------------------------------------------------------------- a backward graph, drawn


def basicblock_graph() -> None:
    """make_dot of a BasicBlock's output: its ops, its parameters by name."""
    mr.manual_seed(0)
    block = BasicBlock(8, 8)
    y = block(mr.randn(2, 8, 6, 6))
    path = mr.autograd.make_dot(y, params=dict(block.named_parameters())).render(FIGURES / "basicblock_graph",
                                                                                 format="svg")
    print(f"{Path(path).name}: the graph of a BasicBlock")


FIGURE_MAKERS = {"gradnorms": gradnorms, "im2col": im2col, "training": training, "basicblock_graph": basicblock_graph}

if __name__ == "__main__":
    mr.tune_process()  # threads, OpenMP, malloc, as the examples (minires/tuning.py)
    FIGURES.mkdir(exist_ok=True)
    for name in sys.argv[1:] or FIGURE_MAKERS:
        FIGURE_MAKERS[name]()
