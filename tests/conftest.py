"""pytest's settings for the test folder.

tests/torch_resnet.py and tests/torch_vision_twins.py are PyTorch models that the parity
tests import once torch is known to be there (pytest.importorskip); they are not test
modules. `--doctest-modules` would import every .py file here while collecting, and so
`import torch` on a machine without it: leave those files out of collection, and tests/pytorch_style/ too: PyTorch scripts that
tests/test_pytorch_style.py runs under minires (and under torch where it is installed), and
tests/fixtures/make_torch_files.py, which writes the .pt fixtures with torch.
"""

import pytest

collect_ignore = ["torch_resnet.py", "torch_vision_twins.py", "pytorch_style", "fixtures/make_torch_files.py"]



@pytest.fixture(autouse=True)
def _default_cpu_threads_after_each_test():
    """A test that sets the threads (or runs an example that does) puts them back to minires's
    default afterwards: one per core this process may use."""
    yield
    from minires.kernels import _chunks

    _chunks.set_workers(None)
