"""The hand-written kernels: the loops under convolution, pooling and batch norm.

One file per kernel family, each kernel written three times with one signature:

    <name>_reference   NumPy, the clearest version (what the docs quote)
    <name>_numba       explicit loops, jitted with numba (the default on CPU)
    <name>_cupy        CUDA C through cupy (chosen for cupy arrays)

Families:
    im2col.py      im2col / col2im: convolution as one matrix product
    winograd.py    Winograd F(2x2, 3x3): 3x3 stride-1 convolution, forward, input and weight gradients
    pooling.py     max_pool2d, avg_pool2d, global_avg_pool2d (forward and backward)
    batchnorm.py   batch_norm_train_forward, batch_norm_eval_forward, batch_norm_backward
    elementwise.py relu_forward, relu_backward, add_forward (the residual join)
    _cuda.py       compiling the CUDA C sources lazily (cupy is imported on first use only)

Nothing here chooses an implementation: `backend.kernel(module, name, x)` does.
Run with NUMBA_DISABLE_JIT=1 to step into the numba loops with pdb.
"""
