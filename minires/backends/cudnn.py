"""torch.backends.cudnn's switches, accepted and without effect.

    mr.backends.cudnn.benchmark = True        # fine to write; changes nothing
    mr.backends.cudnn.deterministic = True    # fine to write; changes nothing

minires does not use cuDNN: its GPU convolutions are im2col + cuBLAS and its pooling
and batch-norm kernels are its own (minires/kernels/), so there is no algorithm search to
turn on (benchmark) and no cuDNN algorithm choice to pin (deterministic). For repeatable
runs, seed with mr.manual_seed.
"""

benchmark = False
deterministic = False
enabled = True
allow_tf32 = False


def is_available() -> bool:
    """False: minires never calls cuDNN."""
    return False
