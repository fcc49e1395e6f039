"""Every CUDA C source in minires/kernels/ compiles with NVIDIA's own compiler, nvcc.

tests/test_cuda_source_on_cpu.py runs the kernels on the CPU through a gcc shim, which
checks their indexing but not that they are valid CUDA C++: gcc never sees `__global__`,
`blockIdx` or the CUDA rules on types. This test gives every RawKernel source (each module
constant named *_CUDA, found as the shim test finds them, so a new kernel is covered
without touching this file) to nvcc, with the flags that make nvcc behave like the NVRTC
compiler CuPy uses:

    nvcc -ptx -arch=compute_XX -ftz=true -std=c++17 --Werror all-warnings

- `-ptx -arch=compute_XX`: CuPy's RawKernel compiles with NVRTC to PTX for a virtual
  architecture (`-arch=compute_XX`; newer CuPy asks NVRTC for `sm_XX` cubin when it can).
  XX is the oldest architecture this nvcc lists (`nvcc --list-gpu-arch`), the strictest:
  a kernel that builds there builds for every newer GPU.
- `-ftz=true`: CuPy adds it to every kernel it compiles.
- `-std=c++17`: NVRTC's default dialect (minires passes CuPy no options of its own).
- `--Werror all-warnings`: a warning (an unused variable, a narrowing) fails the test.

Each source is compiled as CuPy receives it (the `typedef float T;` or `double` that
`_cuda.raw_kernel` puts in front), once for float32 and once for float64. To keep it fast
(one nvcc call, about a second, instead of one per source), the sources of a dtype go into
one file, each inside its own namespace so their helpers cannot clash, and each behind a
`#line` directive so nvcc reports an error at its line in the Python file
(`minires/kernels/im2col.py(271): error: ...`). The PTX must then hold one `.entry` per
`extern "C" __global__` kernel, the name CuPy looks the kernel up by.

The one-line ElementwiseKernel bodies (ReLU, add, batch norm) are compiled too, each in a
kernel like the one CuPy generates around it (one thread per element).

Not covered: NVRTC, unlike nvcc, does not include cuda_runtime.h or know the host's C++
headers, so the sources must not `#include` anything (checked below); the launch itself
(grid, block, arguments) needs a GPU: tests/test_gpu.py.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import re
import shutil
import subprocess
import types
from pathlib import Path

import numpy as np
import pytest
from test_cuda_source_on_cpu import every_cuda_source

import minires.kernels
from minires.kernels import _cuda

NVCC = shutil.which("nvcc")
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc (the CUDA toolkit's compiler) is not on PATH")

REPO = Path(__file__).resolve().parents[1]
KERNEL_NAME = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)')
DTYPES = [np.float32, np.float64]


@functools.cache
def oldest_virtual_arch() -> str:
    """The oldest compute_XX this nvcc can target (compute_75 for CUDA 13)."""
    listed = subprocess.run([NVCC, "--list-gpu-arch"], capture_output=True, text=True, check=False).stdout
    archs = sorted(int(a) for a in re.findall(r"compute_(\d+)\b", listed))
    return f"compute_{archs[0]}" if archs else "compute_75"


def nvcc_command(arch: str, options: tuple = ()) -> list[str]:
    """nvcc with CuPy's NVRTC flags, plus the options minires itself passes to cupy.RawKernel."""
    command = [NVCC, "-ptx", f"-arch={arch}", "-ftz=true", "--Werror", "all-warnings", "-Wno-deprecated-gpu-targets"]
    if not any(option.startswith(("-std", "--std")) for option in options):
        command.append("-std=c++17")
    return command + list(options)


def as_cupy_receives(source: str, dtype) -> tuple[str, tuple]:
    """(code, options) that `_cuda.raw_kernel(source, ..., dtype)` hands cupy.RawKernel.

    Runs `_cuda._compile` uncached (its __wrapped__), with a stand-in cupy whose RawKernel
    only records its arguments: the real compile cache is left alone."""
    def record(code, name, options=(), **_):
        return code, tuple(options)

    fake_cupy = types.SimpleNamespace(RawKernel=record)
    original = _cuda.cupy
    _cuda.cupy = lambda: fake_cupy
    try:
        return _cuda._compile.__wrapped__(source, "minires_any_kernel", _cuda.cuda_type(dtype))
    finally:
        _cuda.cupy = original


def source_line(module: str, constant: str) -> tuple[str, int]:
    """(path relative to the repository, line) where the string literal `constant` of
    minires.kernels.`module` starts; (module.constant, 1) when it is not a plain literal."""
    path = Path(inspect.getfile(importlib.import_module(f"minires.kernels.{module}")))
    for node in ast.walk(ast.parse(path.read_text())):
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                and any(isinstance(t, ast.Name) and t.id == constant for t in node.targets)):
            return str(path.relative_to(REPO)), node.value.lineno
    return f"{module}.{constant}", 1


def one_file(pieces: list[tuple[str, str, int, str]]) -> str:
    """The pieces (label, prefix, line, source) as one translation unit: each in its own
    namespace, with `#line` so nvcc names the Python file and line of an error."""
    parts = []
    for i, (label, prefix, line, source) in enumerate(pieces):
        parts.append(f"// {label}\nnamespace minires_source_{i} {{\n{prefix}#line {line} \"{label}\"\n{source}\n}}\n")
    return "".join(parts)


def compile_with_nvcc(tmp_path: Path, files: dict[str, str], options: tuple = ()) -> dict[str, str]:
    """Compile {name: code} in one nvcc call; the PTX of each; fails with nvcc's output."""
    for name, code in files.items():
        (tmp_path / f"{name}.cu").write_text(code)
    command = nvcc_command(oldest_virtual_arch(), options) + [f"{name}.cu" for name in files]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False, timeout=300)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, f"nvcc failed (rc {result.returncode}):\n$ {' '.join(command)}\n{output}"
    assert "warning" not in output.lower(), f"nvcc warned:\n$ {' '.join(command)}\n{output}"
    return {name: (tmp_path / f"{name}.ptx").read_text() for name in files}


def test_every_raw_kernel_source_compiles_with_nvcc(tmp_path):
    sources = every_cuda_source()
    assert len(sources) >= 6, [name for _, name, _ in sources]  # im2col, col2im, 2 max pool, 2 avg pool at least
    kernels = [k for _, _, source in sources for k in KERNEL_NAME.findall(source)]
    assert len(kernels) == len(set(kernels)), f"two kernels share a name: {sorted(kernels)}"

    files, all_options = {}, set()
    for dtype in DTYPES:
        pieces = []
        for module, constant, source in sources:
            assert "#include" not in source, f"{module}.{constant}: NVRTC has no host headers; do not #include"
            code, options = as_cupy_receives(source, dtype)
            all_options.add(options)
            prefix = code[:code.index(source)]  # "typedef float T;\n"
            path, line = source_line(module, constant)
            pieces.append((path, prefix, line, source))
        files[np.dtype(dtype).name] = one_file(pieces)
    assert len(all_options) == 1, f"kernels compiled with different options: {all_options}"

    for dtype, ptx in compile_with_nvcc(tmp_path, files, all_options.pop()).items():
        entries = set(re.findall(r"\.entry\s+(\w+)", ptx))
        missing = [k for k in kernels if k not in entries]
        assert not missing, f"{dtype}: no PTX entry for {missing} (found {sorted(entries)})"


def every_elementwise_body() -> list[tuple[str, str, str, str, str, int]]:
    """(in_params, out_params, operation, name, path, line) of every `_cuda.elementwise(...)`
    call in minires/kernels/ with four string literals, found in the source (ast)."""
    found = []
    for path in sorted(Path(minires.kernels.__path__[0]).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "elementwise"
                    and len(node.args) == 4
                    and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)):
                found.append((*(a.value for a in node.args), str(path.relative_to(REPO)), node.args[2].lineno))
    return found


C_TYPES = {"T": "T", "float32": "float", "float64": "double", "int32": "int", "int64": "long long", "bool": "bool"}


def elementwise_kernel_source(in_params: str, out_params: str, operation: str, name: str) -> str:
    """A CUDA kernel shaped like cupy.ElementwiseKernel's: one thread per element, inputs read
    into locals of their declared type, the operation, then the outputs written back. On one
    line, so that nvcc's line number for an error is the operation's line in the Python file."""
    def params(text):
        return [(C_TYPES[p.split()[0]], p.split()[-1]) for p in text.split(",")]

    ins, outs = params(in_params), params(out_params)
    arguments = ", ".join([f"const {t}* {n}_in" for t, n in ins] + [f"{t}* {n}_out" for t, n in outs])
    reads = " ".join(f"{t} {n} = {n}_in[i];" for t, n in ins)
    declarations = " ".join(f"{t} {n};" for t, n in outs)
    writes = " ".join(f"{n}_out[i] = {n};" for _, n in outs)
    return (f'extern "C" __global__ void {name}({arguments}, long long size) {{ '
            f"long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; if (i >= size) return; "
            f"{reads} {declarations} {{ {operation}; }} {writes} }}\n")


def test_every_elementwise_kernel_body_compiles_with_nvcc(tmp_path):
    bodies = every_elementwise_body()
    assert len(bodies) >= 5, bodies  # ReLU forward and backward, add, batch norm's normalise and backward
    files = {}
    for dtype in DTYPES:
        pieces = []
        for in_params, out_params, operation, name, path, line in bodies:
            kernel = elementwise_kernel_source(in_params, out_params, operation, name)
            pieces.append((path, f"typedef {_cuda.cuda_type(dtype)} T;\n", line, kernel))
        files[np.dtype(dtype).name] = one_file(pieces)
    for dtype, ptx in compile_with_nvcc(tmp_path, files).items():
        entries = set(re.findall(r"\.entry\s+(\w+)", ptx))
        missing = [name for _, _, _, name, _, _ in bodies if name not in entries]
        assert not missing, f"{dtype}: no PTX entry for {missing}"
