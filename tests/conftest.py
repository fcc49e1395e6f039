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
def _one_cpu_thread_after_each_test():
    """A test that runs an example in this process (train_cifar.main calls mr.tune_process)
    leaves the process on several threads: put it back to the default, one, afterwards."""
    yield
    import minires

    if minires.get_num_threads() != 1:
        minires.set_num_threads(1)
