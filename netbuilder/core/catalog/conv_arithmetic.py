"""Output sizes of convolutions and pooling along one spatial axis, as Keras 3 computes them.

Each function takes one input length (None when unknown) and returns the output length (None when
it cannot be known). They do not raise: callers decide what a length <= 0 means for their layer.
"""

from __future__ import annotations

Dim = int | None


def conv_length(length: Dim, kernel: int, padding: str, stride: int, dilation: int = 1) -> Dim:
    """Output length of a convolution: floor((L - d(K-1) - 1) / S) + 1 for 'valid';
    floor((L - 1) / S) + 1 for 'same' and 'causal'."""
    if length is None:
        return None
    if padding == "valid":
        return (length - dilation * (kernel - 1) - 1) // stride + 1
    return (length - 1) // stride + 1


def deconv_length(length: Dim, kernel: int, padding: str, stride: int,
                  output_padding: int | None = None, dilation: int = 1) -> Dim:
    """Output length of a transposed convolution
    (Keras' ``compute_conv_transpose_output_length``)."""
    if length is None:
        return None
    kernel = kernel + (kernel - 1) * (dilation - 1)
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(kernel - stride, 0)
        return length * stride
    pad = kernel // 2 if padding == "same" else 0
    return (length - 1) * stride + kernel - 2 * pad + output_padding


def pool_length(length: Dim, pool: int, padding: str, stride: int) -> Dim:
    """Output length of pooling: floor((L - P) / S) + 1 for 'valid'; floor((L - 1) / S) + 1 for
    'same'."""
    if length is None:
        return None
    if padding == "valid":
        return (length - pool) // stride + 1
    return (length - 1) // stride + 1
