"""Record the pdb sessions of docs/debugging.md afresh, so their line numbers cannot go stale.

    python docs/record_debugging.py            # rewrite the transcripts in docs/debugging.md
    python docs/record_debugging.py --check    # exit 1 if the chapter differs from a fresh recording

Each session is a script and the pdb commands typed into it. The script is written to a
temporary folder and run under `python -m pdb` (with NUMBA_DISABLE_JIT=1, so the kernel
loops are plain Python); the commands go in on stdin, and this file puts each one back
after the `(Pdb) ` prompt that read it, as a terminal would show it. Paths are printed
relative to the repository (`minires/kernels/im2col.py(144)`), the script by its name,
and the frames of pdb itself (bdb.py, `<string>`) are left out of `where`, so the
transcript reads the same on every machine and Python version. A command may name a
source line by its text, `{line: minires/kernels/im2col.py: c = row // (KH * KW)}`,
which is replaced by that line's number.

In the chapter, each transcript is the ```text block right after the line
`<!-- pdb session: NAME -->`; tests/test_docs.py runs this with --check.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHAPTER = REPO / "docs" / "debugging.md"

SESSIONS = {
    "step_im2col": (
        """\
import numpy as np
from minires.kernels import im2col

x = np.arange(1.0, 17.0).reshape(1, 1, 4, 4)  # one 4x4 image: 1, 2, ..., 16
col = im2col.im2col_numba(x, (2, 2), (1, 1), (0, 0), (1, 1))
print(col)
""",
        ["until 4", "break im2col._im2col_loops", "continue", "where", "next", "next", "next",
         "p N, C, H, W, KH, KW, OH, OW", "next", "next", "next", "p row, (c, i, j)",
         "tbreak {line: minires/kernels/im2col.py: c = row // (KH * KW)}", "continue", "p row",
         "p col[0, 0, 0, 0]", "disable 1", "continue", "quit"],
    ),
    "step_backward": (
        """\
import minires as mr
import minires.nn.functional as F
from minires import ops

mr.manual_seed(0)
x = mr.randn(1, 1, 4, 4, requires_grad=True)
w = mr.randn(1, 1, 2, 2, requires_grad=True)
loss = F.conv2d(x, w).relu().sum()
loss.backward()
""",
        ["until 6", "break ops.Conv2d.backward", "continue", "p gy.shape, self.x.shape, self.w.shape", "p gy[0, 0]",
         "up", "p fn, fn.next_functions", "up", "p len(ready), pending", "down", "down", "return",
         "p [g.shape for g in __return__]", "continue", "quit"],
    ),
}


def line_of(reference: str) -> str:
    """'minires/kernels/im2col.py: c = row // (KH * KW)' -> the number of the first line with that text."""
    path, text = (part.strip() for part in reference.split(":", 1))
    for number, line in enumerate((REPO / path).read_text().splitlines(), start=1):
        if text in line:
            return str(number)
    raise ValueError(f"record_debugging: no line with {text!r} in {path}")


def record(name: str) -> str:
    """The transcript of session `name`, as the chapter shows it."""
    script, commands = SESSIONS[name]
    commands = [re.sub(r"\{line: ([^}]*)\}", lambda m: line_of(m.group(1)), c) for c in commands]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.py"
        path.write_text(script)
        env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "PYTHONPATH": str(REPO)}
        env.pop("MINIRES_KERNELS", None)
        result = subprocess.run([sys.executable, "-m", "pdb", str(path)], input="\n".join(commands) + "\n",
                                capture_output=True, text=True, cwd=folder, env=env, timeout=300, check=False)
        output = result.stdout.replace(str(path), path.name).replace(str(REPO) + os.sep, "")
    pieces = output.split("(Pdb) ")  # one prompt per command read
    typed = [pieces[0]] + [f"(Pdb) {command}\n{piece}" for command, piece in zip(commands, pieces[1:])]
    lines = "".join(typed).splitlines()
    kept, skip_next = [], False
    for line in lines:  # drop pdb's own frames from `where`: each is a location line and its `->` line
        if skip_next:
            skip_next = False
            continue
        if re.match(r"\s+(\S*bdb\.py|<string>)\(\d+\)", line):
            skip_next = "bdb.py" in line  # bdb.py frames have a `->` line; <string> has none
            continue
        kept.append(line)
    return "\n".join(kept).rstrip() + "\n"


def chapter_with(transcripts: dict[str, str], text: str) -> str:
    for name, transcript in transcripts.items():
        pattern = re.compile(rf"(<!-- pdb session: {name} -->\n\n```text\n)(.*?)(```)", re.DOTALL)
        if not pattern.search(text):
            raise ValueError(f"record_debugging: docs/debugging.md has no transcript marked '{name}'")
        text = pattern.sub(lambda m, t=transcript: m.group(1) + t + m.group(3), text)
    return text


def main() -> int:
    current = CHAPTER.read_text()
    fresh = chapter_with({name: record(name) for name in SESSIONS}, current)
    if "--check" in sys.argv[1:]:
        if fresh != current:
            import difflib

            diff = difflib.unified_diff(current.splitlines(), fresh.splitlines(), "docs/debugging.md", "recorded now",
                                        lineterm="")
            print("docs/debugging.md: the pdb transcripts differ from a fresh recording; "
                  "run python docs/record_debugging.py\n" + "\n".join(diff), file=sys.stderr)
            return 1
        return 0
    CHAPTER.write_text(fresh)
    print(f"recorded {', '.join(SESSIONS)} into {CHAPTER.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
