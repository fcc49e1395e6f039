"""Every file, function and class that a chapter, a docstring or a comment names exists.

tests/test_docs.py checks the chapters' `minires.x.y` names and repository paths. This file
adds the rest, so that pointers into the code cannot go stale when the code moves:

- docs/*.md: an inline code span that is a bare name (`conv2d_weight_grad_reference`,
  `BackwardFunction`, `choose()`) is defined somewhere in the repository's code, a span
  `Class.attribute` of a class minires defines (`Conv2d.backward`) exists, and a span in
  the docs' abbreviations (`F.pad`, `mr.no_grad()`, `nn.Conv2d`) resolves. Checked are
  names with an underscore or inner capitals, and every `name()`: plain words (`x`, `bias`)
  are left alone.
- docstrings and comments of minires/**/*.py, examples/*.py and benchmarks/*.py: every
  repository path (`minires/kernels/conv.py`), partial path (`kernels/_chunks.py`) or file
  name (`README.md`) exists, every dotted `minires.x.y` resolves, every `name()` is a
  function or class, and every backticked name is defined, as in the chapters.

"Defined" means: bound somewhere in the Python code of minires/, examples/, benchmarks/ or
docs/ (a def, a class, a parameter, an assignment, `self.attribute = ...`, an import), or
spelled as a whole string constant there ("MINIRES_WORKSPACE_MB", "_rebuild_tensor_v2"),
or a Python builtin. `<Op>Backward0` is a node name when minires has a class `<Op>`
(ops/function.py names nodes so). Anything else is in FOREIGN_NAMES or FOREIGN_PATHS
below, each entry with its owner and reason, and an entry nothing uses any more fails.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import inspect
import io
import os
import re
import tokenize
from pathlib import Path

import pytest
from test_docs import CHAPTERS, DOTTED_NAME, REPO_PATH, ROOT, inline_code, resolve

# Names used in docs, docstrings or comments that no code of this repository defines, with
# their owner. An owner written as a Python name (collections.OrderedDict) must resolve.
FOREIGN_NAMES = {
    "blockIdx": "CUDA C's built-in variables, used by the kernel sources in minires/kernels/",
    "blockDim": "CUDA C's built-in variables",
    "threadIdx": "CUDA C's built-in variables",
    "ElementwiseKernel": "cupy's class, which minires/kernels/_cuda.py reaches through cupy()",
    "MPI_Abort": "MPI's C API (minires.distributed calls it through mpi4py)",
    "MPI_Iallreduce": "MPI's C API",
    "OPENBLAS_L2_SIZE": "OpenBLAS's environment variable (docs/fast.md: the machine sets it, minires does not)",
    "ConvolutionBackward0": "PyTorch's node name, shown beside minires's Conv2dBackward0",
    "NativeBatchNormBackward0": "PyTorch's node name, shown beside minires's BatchNorm2dTrainBackward0",
    "NameBackward": "a placeholder: the node of a custom autograd.Function called Name",
    "OrderedDict": "collections.OrderedDict, which .pth files pickle",
    "EMPTY_DICT": "pickle.EMPTY_DICT, an opcode docs/pth.md decodes",
    "EMPTY_TUPLE": "pickle.EMPTY_TUPLE, an opcode",
    "STACK_GLOBAL": "pickle.STACK_GLOBAL, an opcode",
    "copy": "numpy.ndarray.copy, cupy's array method (a comment of minires/tensor.py)",
}
# File names in docstrings and comments that are not files of this repository.
FOREIGN_PATHS = {
    "train.py": "a user's training script, in usage lines (python -m minires.distributed.run train.py)",
    "script.py": "a user's script, in usage lines",
    "find_nan.py": "a file docs/troubleshooting.md has the reader save its snippet in",
    "step_im2col.py": "a file docs/debugging.md has the reader save its snippet in",
}
FOREIGN_ROOTS = ("torch/",)  # PyTorch's source tree (torch/nn/modules/loss.py), which minires/nn/ follows
# the docs' and docstrings' abbreviations: import minires as mr, minires.nn as nn, minires.nn.functional as F
ALIASES = {"mr": "minires", "nn": "minires.nn", "F": "minires.nn.functional"}

CODE_FOLDERS = ("minires", "examples", "benchmarks", "docs")  # whose definitions count
IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
ATTRIBUTE = re.compile(r"([A-Za-z_]\w*)\.([A-Za-z_]\w*)")
ALIASED = re.compile(r"(?:mr|nn|F)(?:\.[A-Za-z_]\w*)+")  # mr.nn.Conv2d, F.conv2d
NODE_NAME = re.compile(r"(\w+)Backward0")
# a relative path or file name of the repository: kernels/_chunks.py, README.md, nn/models/
FILE_NAME = re.compile(r"(?<![\w/.*-])((?:[\w-]+/)*[\w-]+\.(?:py|md|toml|yml|cfg|txt))(?![\w/-])")
CALL = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\(\)")  # name() in prose; x.name() is a method of something
BACKTICKED = re.compile(r"`([^`\n]+)`")
# a repository path in prose (not pytorch/examples/...), a glob like tests/test_kernels_*.py too
REPO_GLOB = re.compile(r"(?<![\w/.-])" + REPO_PATH.pattern.replace(r"[\w./-]*", r"[\w./*-]*"))


# ---------------------------------------------------------------------- what the code defines


def python_files(*folders: str) -> list[Path]:
    files = []
    for folder in folders:
        pattern = "**/*.py" if folder == "minires" else "*.py"
        files += sorted(p for p in (ROOT / folder).glob(pattern) if "__pycache__" not in p.parts)
    return files


def docstring_nodes(tree: ast.AST) -> set[int]:
    """ids of the Constant nodes that are docstrings (not names the code spells)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


@functools.cache
def definitions() -> tuple[frozenset[str], frozenset[str]]:
    """(every name the code binds or spells as a whole string, the names of its functions and classes)."""
    names: set[str] = set()
    callables: set[str] = set()
    for path in python_files(*CODE_FOLDERS):
        tree = ast.parse(path.read_text())
        docstrings = docstring_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
                callables.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.split(".")[-1])
            elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                  and IDENTIFIER.fullmatch(node.value)):
                names.add(node.value)
    return frozenset(names), frozenset(callables)


@functools.cache
def repository_files() -> tuple[str, ...]:
    """Every file and folder of the repository (relative, with /), build and tool folders left out."""
    skip = {".git", ".venv", ".ci-venv", "__pycache__", "site", ".pytest_cache", ".ruff_cache"}
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in skip and not d.endswith(".egg-info")]
        relative = Path(folder).relative_to(ROOT)
        found += [(relative / name).as_posix() for name in subfolders + files]
    return tuple(found)


# ---------------------------------------------------------------------- the checks, one pointer each


class Checker:
    """Judges one pointer at a time; remembers which allow-list entries were needed."""

    def __init__(self):
        self.used: set[str] = set()

    def foreign(self, name: str) -> bool:
        if name in FOREIGN_NAMES:
            self.used.add(name)
            return True
        return False

    def name(self, name: str, call: bool) -> str | None:
        """Why bare `name` (or `name()` when call) points at nothing; None when it is fine."""
        names, callables = definitions()
        if name in (callables if call else names) or hasattr(builtins, name) or self.foreign(name):
            return None
        node = NODE_NAME.fullmatch(name)
        if node and node.group(1) in callables:  # MulBackward0: minires's class Mul, as ops/function.py names it
            return None
        return f"`{name}{'()' if call else ''}` is no {'function or class' if call else 'name'} defined in " \
               f"{', '.join(CODE_FOLDERS)}/ (nor a builtin or in FOREIGN_NAMES)"

    def attribute(self, owner: str, attribute: str) -> str | None:
        """Why `Owner.attribute` (a class of minires) points at nothing."""
        classes = [c for c in minires_classes() if c.__name__ == owner]
        if not classes or any(hasattr(c, attribute) or attribute in instance_attributes(c) for c in classes):
            return None  # only the classes minires defines are checked (not Path.exists or torch's)
        return f"`{owner}.{attribute}`: no class {owner} in minires has {attribute}"

    def dotted(self, dotted: str) -> str | None:
        """Why `minires.x.y` does not resolve (an instance attribute of a class counts)."""
        try:
            resolve(dotted)
            return None
        except (ImportError, AttributeError) as e:
            parent, _, last = dotted.rpartition(".")
            try:
                owner = resolve(parent)
            except (ImportError, AttributeError):
                owner = None
            if inspect.isclass(owner) and last in instance_attributes(owner):
                return None
            return f"`{dotted}` does not resolve: {type(e).__name__}: {e}"

    def path(self, path: str) -> str | None:
        """Why a repository path (minires/..., tests/..., with * as a glob) does not exist."""
        path = path.rstrip(".,:;")
        if ("*" in path and any(ROOT.glob(path))) or (ROOT / path).exists():
            return None
        return f"`{path}` does not exist in the repository"

    def file_name(self, name: str) -> str | None:
        """Why a partial path or file name (kernels/conv.py, README.md) is no file of the repository."""
        if name.startswith(FOREIGN_ROOTS):
            return None
        if name in FOREIGN_PATHS:
            self.used.add(name)
            return None
        if any(f == name or f.endswith("/" + name) for f in repository_files()):
            return None
        return f"`{name}` is no file of the repository"


@functools.cache
def minires_classes() -> tuple[type, ...]:
    """Every class defined in a module of minires (all of them imported)."""
    import pkgutil

    import minires

    found = []
    for info in pkgutil.walk_packages(minires.__path__, "minires."):
        module = importlib.import_module(info.name)
        found += [v for v in vars(module).values() if inspect.isclass(v) and v.__module__ == info.name]
    return tuple(found)


def instance_attributes(cls: type) -> set[str]:
    """Names a class or its bases (in minires) assign as self.name = ... or annotate."""
    found: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("minires"):
            continue
        try:
            tree = ast.parse(inspect.getsource(klass).strip())
        except (OSError, TypeError, SyntaxError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                found.add(node.attr)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                found.add(node.target.id)
    return found


def check_span(checker: Checker, span: str) -> str | None:
    """Why an inline code span that names code points at nothing; None when fine or not a name."""
    call = span.endswith("()")
    bare = span.removesuffix("()")
    if IDENTIFIER.fullmatch(bare):
        inner_capital = re.search(r"[a-z0-9][A-Z]", bare)
        if call or "_" in bare.strip("_") or inner_capital:
            return checker.name(bare, call)
        return None
    if ALIASED.fullmatch(bare):
        alias, _, rest = bare.partition(".")
        return checker.dotted(f"{ALIASES[alias]}.{rest}")
    attribute = ATTRIBUTE.fullmatch(bare)
    if attribute and attribute.group(1)[0].isupper():
        return checker.attribute(*attribute.groups())
    return None


def prose(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every docstring and comment of a Python file, in line order."""
    source = path.read_text()
    tree = ast.parse(source)
    docstrings = docstring_nodes(tree)
    found = [(node.lineno, node.value) for node in ast.walk(tree) if id(node) in docstrings]
    found += [(token.start[0], token.string) for token in tokenize.generate_tokens(io.StringIO(source).readline)
              if token.type == tokenize.COMMENT]
    return sorted(found)


def check_prose(checker: Checker, text: str) -> list[tuple[int, str]]:
    """(line within text, problem) for each stale pointer in one docstring or comment."""
    found = [(m, checker.path(m.group(0))) for m in REPO_GLOB.finditer(text)]
    found += [(m, checker.file_name(m.group(1))) for m in FILE_NAME.finditer(text) if not REPO_PATH.match(m.group(1))]
    found += [(m, checker.dotted(m.group(0))) for m in DOTTED_NAME.finditer(text)]
    found += [(m, checker.name(m.group(1), call=True)) for m in CALL.finditer(text)]
    found += [(m, check_span(checker, m.group(1))) for m in BACKTICKED.finditer(text)]
    return sorted((text.count("\n", 0, m.start()), problem) for m, problem in found if problem)


@functools.cache
def findings() -> tuple[dict[str, list[str]], dict[str, list[str]], frozenset[str]]:
    """({chapter: problems}, {python file: problems}, allow-list entries used), computed once."""
    checker = Checker()
    chapters = {}
    for chapter in CHAPTERS:
        problems = [check_span(checker, span) for span in inline_code(chapter.read_text())]
        problems += [checker.file_name(span) for span in inline_code(chapter.read_text())
                     if FILE_NAME.fullmatch(span) and not REPO_PATH.match(span)]
        chapters[chapter.name] = [p for p in problems if p]
    sources = {}
    for path in python_files("minires", "examples", "benchmarks"):
        relative = path.relative_to(ROOT).as_posix()
        sources[relative] = [f"{relative}:{line + offset}: {problem}" for line, text in prose(path)
                             for offset, problem in check_prose(checker, text)]
    return chapters, sources, frozenset(checker.used)


# ---------------------------------------------------------------------- the tests


@pytest.mark.parametrize("chapter", [c.name for c in CHAPTERS])
def test_chapter_names_exist(chapter):
    problems = findings()[0][chapter]
    assert not problems, f"docs/{chapter} names code that does not exist:\n" + "\n".join(problems)


@pytest.mark.parametrize("folder", ["minires", "examples", "benchmarks"])
def test_docstrings_and_comments_point_at_existing_code(folder):
    problems = [p for path, found in findings()[1].items() if path.startswith(folder + "/") for p in found]
    assert not problems, f"stale pointers in the docstrings and comments of {folder}/:\n" + "\n".join(problems)


def test_allow_lists_are_small_true_and_used():
    _, _, used = findings()
    for name, owner in FOREIGN_NAMES.items():
        dotted = owner.split()[0].rstrip(",")
        if dotted.split(".")[0] in ("collections", "pickle", "numpy"):
            assert resolve(dotted), f"FOREIGN_NAMES says {name} is {dotted}, which does not resolve"
    unused = sorted((set(FOREIGN_NAMES) | set(FOREIGN_PATHS)) - used)
    assert not unused, f"allow-list entries nothing names any more (remove them): {unused}"
    assert len(FOREIGN_NAMES) + len(FOREIGN_PATHS) <= 25, "the allow-lists should stay small"


def test_the_checks_catch_stale_pointers():
    """Each check fails on a made-up stale pointer (so a passing run means something)."""
    checker = Checker()
    assert checker.name("conv2d_weight_grad_reference", call=False) is None
    assert checker.name("conv2d_weight_grad_referenc", call=False)
    assert checker.name("choose", call=True) is None
    assert checker.name("kernel", call=True)  # backend.kernel() is now backend.choose()
    assert checker.file_name("kernels/_chunks.py") is None
    assert checker.file_name("DESIGN.md")  # the design document is not in the repository
    assert checker.path("minires/kernels/conv.py.") is None
    assert checker.path("minires/kernels/convolution.py")
    assert checker.dotted("minires.data.CIFAR10.data") is None  # an instance attribute
    assert checker.dotted("minires.kernels.conv.conv2d_forward_numpy")
    assert check_span(checker, "F.conv2d") is None
    assert check_span(checker, "mr.nn.Conv3d")
    assert checker.attribute("Conv2d", "backward") is None  # minires.ops.conv.Conv2d
    assert checker.attribute("Conv2d", "backwards")
    assert check_span(checker, "MulBackward0") is None
    assert check_span(checker, "FooBackward0")
    problems = check_prose(checker, "see DESIGN.md; ops/conv.py's kernel() calls `choose()`")
    assert [p.split()[0] for _, p in problems] == ["`DESIGN.md`", "`kernel()`"], problems
