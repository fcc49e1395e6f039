"""Differentiable ops: forward and backward on raw arrays (numpy or cupy).

Use them as `ops.Add`, `ops.Conv2d`, ... so an op never shares a name with a layer.
Each file groups one topic; every class is one op with its derivative beside it.
"""

from .arithmetic import Add, Cast, Div, MatMul, Mul, Neg, Pow, PowScalar, Sub
from .batchnorm import BatchNorm2dEval, BatchNorm2dTrain
from .conv import Conv2d
from .elementwise import Abs, Clip, Exp, LeakyRelu, Log, Maximum, Relu, ResidualAdd, Sigmoid, Sqrt, Tanh, Where
from .function import Function, unbroadcast
from .loss import BceWithLogits, CrossEntropy, L1Loss, LogSoftmax, MseLoss, NllLoss, Softmax
from .movement import Clone, Concatenate, Expand, GetItem, Pad, Permute, Reshape, SetItem, TakeAlongDim
from .pooling import AvgPool2d, GlobalAvgPool2d, MaxPool2d
from .reduce import Max, Mean, Norm, Sum, Var

__all__ = [
    "Abs", "Add", "AvgPool2d", "BatchNorm2dEval", "BatchNorm2dTrain", "BceWithLogits", "Cast", "Clip", "Clone",
    "Concatenate", "Conv2d", "CrossEntropy", "Div", "Exp", "Expand", "Function", "GetItem", "GlobalAvgPool2d",
    "L1Loss", "LeakyRelu", "Log", "LogSoftmax", "MatMul", "Max", "MaxPool2d", "Maximum", "Mean", "MseLoss", "Mul",
    "Neg", "NllLoss", "Norm", "Pad", "Permute", "Pow", "PowScalar", "Relu", "Reshape", "ResidualAdd", "SetItem",
    "Sigmoid", "Softmax", "Sqrt", "Sub", "Sum", "TakeAlongDim", "Tanh", "Var", "Where", "unbroadcast",
]
