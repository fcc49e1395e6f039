"""The chapters in docs/ stay true to the code they teach.

Fences in docs/*.md mean:
    ```python       a snippet that runs: each chapter's blocks, in order, in one fresh namespace,
                    in a temporary working directory (output shown in a ```text block after it
                    is not compared; snippets check what matters with assert)
    ```py, ```c     a listing quoted from the code: every line must still be in the source
    ```text, ```bash  shown only (but a script's --flags in a ```bash block must exist)

and every inline `minires.some.module.name` must resolve, every inline repository path
(`minires/ops/conv.py`, `examples/finetune.py`, ...) must exist, every figure must exist
and be made by docs/make_figures.py, and mkdocs.yml's nav must list exactly the chapters.
When mkdocs is installed (pip install -e ".[docs]"), `mkdocs build --strict` must pass.
tests/test_code_references.py checks the chapters' bare names (`conv2d_weight_grad_reference`)
and the pointers in the code's own docstrings and comments, with the helpers here.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

import minires as mr
from minires.kernels import _chunks

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CHAPTERS = sorted(DOCS.glob("*.md"))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
DOTTED_NAME = re.compile(r"minires(?:\.[A-Za-z_]\w*)+")
REPO_PATH = re.compile(r"(?:minires|examples|tests|benchmarks|docs)/[\w./-]*")
FLAG = re.compile(r"(?<![\w-])--[a-z][\w-]*")
# the script whose flags a chapter's inline `--flag` spans document
CHAPTER_SCRIPTS = {"training.md": "examples/train_cifar.py", "finetune.md": "examples/finetune.py"}


def fenced_blocks(text: str) -> list[tuple[str, int, str]]:
    """(language, line number of the first code line, code) for every fenced block."""
    return [(m.group(1), text.count("\n", 0, m.start(2)) + 1, m.group(2)) for m in FENCE.finditer(text)]


def inline_code(text: str) -> list[str]:
    """The contents of every `inline code` span outside the fenced blocks."""
    return re.findall(r"`([^`\n]+)`", FENCE.sub("", text))


def references(pattern: re.Pattern) -> list[tuple[str, str]]:
    """(chapter, span) for every inline code span that is wholly a match of pattern (a trailing () allowed)."""
    found = []
    for chapter in CHAPTERS:
        for span in inline_code(chapter.read_text()):
            span = span.removesuffix("()")
            if pattern.fullmatch(span):
                found.append((chapter.name, span))
    return sorted(set(found))


def resolve(dotted: str):
    """Import the longest importable module prefix of `dotted`, then getattr the rest."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        module_name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as e:  # only "this prefix is not a module"; a broken import still raises
            if e.name and (module_name == e.name or module_name.startswith(e.name + ".")):
                continue
            raise
        for attribute in parts[i:]:
            obj = getattr(obj, attribute)
        return obj
    raise ModuleNotFoundError(dotted)


# ---------------------------------------------------------------------- references to the code


def test_docs_exist_and_every_chapter_points_at_code():
    assert len(CHAPTERS) >= 13, f"expected index, debugging and 11 chapters in {DOCS}, got {[c.name for c in CHAPTERS]}"
    for chapter in CHAPTERS:
        spans = inline_code(chapter.read_text())
        names = [s for s in spans if DOTTED_NAME.fullmatch(s.removesuffix("()"))]
        paths = [s for s in spans if REPO_PATH.fullmatch(s)]
        assert names and paths, f"{chapter.name} names no minires.* function ({names}) or no file ({paths})"


@pytest.mark.parametrize(("chapter", "name"), references(DOTTED_NAME), ids=lambda v: v)
def test_dotted_name_resolves(chapter, name):
    try:
        resolve(name)
    except (ImportError, AttributeError) as e:
        pytest.fail(f"docs/{chapter} mentions `{name}`, which does not resolve: {type(e).__name__}: {e}")


@pytest.mark.parametrize(("chapter", "path"), references(REPO_PATH), ids=lambda v: v)
def test_repository_path_exists(chapter, path):
    assert (ROOT / path).exists(), f"docs/{chapter} mentions `{path}`, which does not exist under {ROOT}"


def source_lines() -> set[str]:
    """Every line (stripped) of the repository's Python files: the corpus quoted listings come from."""
    lines: set[str] = set()
    for folder in ("minires", "examples", "tests", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            lines.update(line.strip() for line in path.read_text().splitlines())
    return lines


def test_quoted_listings_match_the_source():
    corpus = source_lines()
    stale = []
    for chapter in CHAPTERS:
        for language, line_number, code in fenced_blocks(chapter.read_text()):
            if language not in ("py", "c"):
                continue
            for offset, line in enumerate(code.splitlines()):
                if line.strip() and line.strip() != "..." and line.strip() not in corpus:
                    stale.append(f"docs/{chapter.name}:{line_number + offset}: {line.strip()}")
    assert not stale, "quoted listings no longer match the code:\n" + "\n".join(stale)


def test_script_flags_exist():
    """--flags in inline spans of training/finetune.md, and in ```bash commands that run a script."""
    missing = []
    for chapter in CHAPTERS:
        text = chapter.read_text()
        uses: list[tuple[str, str]] = []  # (script, flag)
        if chapter.name in CHAPTER_SCRIPTS:
            uses += [(CHAPTER_SCRIPTS[chapter.name], flag) for span in inline_code(text) for flag in FLAG.findall(span)]
        for language, _, code in fenced_blocks(text):
            if language != "bash":
                continue
            for command in code.replace("\\\n", " ").splitlines():
                script = re.search(r"(?:examples|benchmarks)/\w+\.py", command)
                if script:
                    uses += [(script.group(0), flag) for flag in FLAG.findall(command[script.end():])]
        for script, flag in uses:
            if flag != "--help" and f'"{flag}"' not in (ROOT / script).read_text():
                missing.append(f"docs/{chapter.name}: {script} has no flag {flag}")
    assert not missing, "\n".join(sorted(set(missing)))


# ---------------------------------------------------------------------- figures and the site


def test_figures_exist_and_are_generated():
    make_figures = (DOCS / "make_figures.py").read_text()
    for chapter in CHAPTERS:
        for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", chapter.read_text()):
            assert (DOCS / image).is_file(), f"docs/{chapter.name} shows {image}, which does not exist"
            assert f"{Path(image).name}" in make_figures, f"{image} is not made by docs/make_figures.py"


def test_nav_lists_every_chapter():
    config = (ROOT / "mkdocs.yml").read_text()
    assert re.search(r"^docs_dir:\s*docs\s*$", config, re.MULTILINE), "mkdocs.yml must say docs_dir: docs"
    nav = re.findall(r"^\s*-\s*[^:\n]+:\s*([\w-]+\.md)\s*$", config, re.MULTILINE)
    assert nav and nav[0] == "index.md", f"the nav should start with index.md, got {nav}"
    assert sorted(nav) == sorted(c.name for c in CHAPTERS), (
        f"mkdocs.yml nav {nav} does not list exactly docs/*.md {[c.name for c in CHAPTERS]}"
    )


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[docs]')")
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(ROOT / "mkdocs.yml"),
               "-d", str(tmp_path / "site")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"


# ---------------------------------------------------------------------- the snippets run


@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if "```python" in c.read_text()], ids=lambda c: c.name)
def test_chapter_snippets_run(chapter, tmp_path, monkeypatch):
    blocks = [(line, code) for language, line, code in fenced_blocks(chapter.read_text()) if language == "python"]
    monkeypatch.chdir(tmp_path)  # snippets may write files (checkpoints)
    rng_state, workspace = mr.get_rng_state(), _chunks.workspace_bytes()
    namespace: dict = {"__name__": f"docs_{chapter.stem}"}
    try:
        with mock.patch.dict(os.environ):
            for line, code in blocks:
                # padded so that a traceback points at the line of the .md file
                exec(compile("\n" * (line - 1) + code, str(chapter), "exec"), namespace)  # noqa: S102 - our own docs
    finally:
        mr.set_rng_state(rng_state)
        _chunks.set_workspace_bytes(workspace)
    assert mr.is_grad_enabled(), f"docs/{chapter.name} left gradient recording switched off"


def test_debugging_transcripts_are_a_fresh_recording():
    """The pdb sessions in docs/debugging.md are what docs/record_debugging.py records now."""
    script = Path(__file__).resolve().parents[1] / "docs" / "record_debugging.py"
    result = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
