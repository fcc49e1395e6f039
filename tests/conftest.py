"""pytest's settings for the test folder.

tests/torch_resnet.py is a PyTorch model that the parity tests import once torch is known
to be there (pytest.importorskip); it is not a test module. `--doctest-modules` would
import every .py file here while collecting, and so `import torch` on a machine without
it: leave that file out of collection.
"""

collect_ignore = ["torch_resnet.py", "fixtures/make_torch_files.py"]  # need torch to import (doctest-modules)
