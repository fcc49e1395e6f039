"""The README's test command works without PyTorch: nothing imports torch while the suite is
collected (doctest collection included), so the parity tests can skip with a reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_collection_never_imports_torch(tmp_path):
    # A stand-in `torch` first on the path: importing it leaves a mark and fails as a missing
    # torch does. Collection must not touch it (a test's own importorskip may, when it runs).
    stand_in, mark = tmp_path / "torch", tmp_path / "torch-was-imported"
    stand_in.mkdir()
    (stand_in / "__init__.py").write_text(
        f"open({str(mark)!r}, 'w').close()\nraise ModuleNotFoundError('blocked by test_collection', name='torch')\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert result.returncode == 0, f"collection failed without torch:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}"
    assert not mark.exists(), "a test module imports torch at collection; import it inside the test (importorskip)"
