"""The hand-written kernels: the loops under convolution, pooling and batch norm.

One file per kernel family, each kernel written three times with one signature:

    <name>_reference   NumPy, the clearest version (what the docs quote)
    <name>_numba       explicit loops, jitted with numba (the default on CPU)
    <name>_cupy        CUDA C through cupy (chosen for cupy arrays)

Families:
    conv.py        the convolution's forward, input and weight gradients (what ops/conv.py calls)
    im2col.py      im2col / col2im: convolution as one matrix product
    winograd.py    Winograd F(2x2, 3x3) and F(4x4, 3x3): 3x3 stride-1 convolution, forward, input and weight gradients
    pooling.py     max_pool2d, avg_pool2d, global_avg_pool2d (forward and backward)
    batchnorm.py   batch_norm_train_forward, batch_norm_eval_forward, batch_norm_backward
    elementwise.py relu_forward, relu_backward, add_forward (the residual join)
    _chunks.py     a batch in chunks on worker threads, the workspace bound (speed machinery)
    _cuda.py       compiling the CUDA C sources lazily (cupy is imported on first use only)

Each kernel's public function (no suffix) picks its implementation with
`backend.choose(x, <name>_reference, <name>_numba, <name>_cupy)`; the ops call those.
Run with NUMBA_DISABLE_JIT=1 to step into the numba loops with pdb.
"""
