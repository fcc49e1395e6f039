"""Differentiable ops: forward and backward on raw arrays (numpy or cupy).

Use them as `ops.Add`, `ops.Conv2d`, ... so an op never shares a name with a layer.
Each file groups one topic; every class is one op with its derivative beside it.
"""

from .arithmetic import Add, Cast, Div, MatMul, Mul, Neg, Pow, PowScalar, Sub
from .elementwise import Abs, Clip, Exp, Log, Maximum, Relu, Sigmoid, Sqrt, Tanh, Where
from .function import Function, unbroadcast
from .loss import CrossEntropy, LogSoftmax, Softmax
from .movement import Concatenate, Expand, GetItem, Pad, Permute, Reshape
from .reduce import Max, Mean, Sum, Var

__all__ = [
    "Abs", "Add", "Cast", "Clip", "Concatenate", "CrossEntropy", "Div", "Exp", "Expand",
    "Function", "GetItem", "Log", "LogSoftmax", "MatMul", "Max", "Maximum", "Mean", "Mul",
    "Neg", "Pad", "Permute", "Pow", "PowScalar", "Relu", "Reshape", "Sigmoid", "Softmax",
    "Sqrt", "Sub", "Sum", "Tanh", "Var", "Where", "unbroadcast",
]
