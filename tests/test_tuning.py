"""minires is fast by default and leaves the process as it found it: `import minires` changes
nothing, a plain script uses every core it may, and BLAS is held at one thread only while
minires's own workers run (numpy code between steps sees it as it left it). `tune_process()`
changes only what it says: the threads, and glibc's malloc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, os
    import numpy
    from threadpoolctl import threadpool_info

    def state():
        return {"env": dict(os.environ), "pools": [(p["user_api"], p["num_threads"]) for p in threadpool_info()]}

    before = state()
    import minires
    import minires.nn.functional as F
    after_import = state()
    threads = minires.get_num_threads()
    x = minires.randn(8, 16, 12, 12, requires_grad=True)
    w = minires.randn(16, 16, 3, 3, requires_grad=True)
    F.max_pool2d(F.relu(F.conv2d(x, w, padding=1)), 2).sum().backward()  # the workers ran, BLAS inside them
    after_step = state()
    minires.tune_process(2)
    after_tune = state()
    print(json.dumps({"before": before, "after_import": after_import, "after_step": after_step,
                      "after_tune": after_tune, "threads": threads, "tuned_threads": minires.get_num_threads()}))
    """
)


def test_import_and_a_training_step_change_nothing_and_tune_process_changes_what_it_says():
    env = {key: value for key, value in os.environ.items() if key not in ("OMP_WAIT_POLICY", "MINIRES_THREADS")}
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["after_import"] == seen["before"], "import minires changed the environment or the thread pools"
    blas_before = [n for api, n in seen["before"]["pools"] if api == "blas"]
    blas_after_step = [n for api, n in seen["after_step"]["pools"] if api == "blas"]
    assert blas_after_step == blas_before, "BLAS was not put back as it was after minires's workers ran"
    assert seen["after_step"]["env"] == seen["before"]["env"], "a training step changed the environment"
    assert seen["threads"] == len(os.sched_getaffinity(0)), "a plain script uses every core it may, as PyTorch"
    assert seen["tuned_threads"] == 2
    assert seen["after_tune"]["env"] == seen["before"]["env"] and "OMP_WAIT_POLICY" not in seen["after_tune"]["env"]
