"""`import minires` leaves the process as it found it; `minires.tune_process()` is the one
explicit call that changes it (threads, BLAS, OpenMP's idle policy, malloc)."""

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
    after_import = state()
    minires.tune_process(2)
    after_tune = state()
    print(json.dumps({"before": before, "after_import": after_import, "after_tune": after_tune,
                      "threads": minires.get_num_threads()}))
    """
)


def test_import_changes_nothing_and_tune_process_changes_what_it_says():
    env = {key: value for key, value in os.environ.items() if key not in ("OMP_WAIT_POLICY", "MINIRES_THREADS")}
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["after_import"] == seen["before"], "import minires changed the environment or the thread pools"
    assert seen["after_tune"]["env"].get("OMP_WAIT_POLICY") == "PASSIVE"
    assert seen["threads"] == 2
    assert all(n == 1 for api, n in seen["after_tune"]["pools"] if api == "blas"), seen["after_tune"]["pools"]
