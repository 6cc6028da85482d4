"""Keras layers traced for export in an arrangement that suits LiteRT (conversion only).

Every function here is the arithmetic of a KerasCV or Keras layer, rearranged so that
XNNPACK runs it with fewer passes over memory or fewer multiply-adds; the converter's
probe still compares the converted model with the layer's own arithmetic, so a
rearrangement that changed the result would be caught at conversion. Measured in
benchmarks/op_profile.py and bench_engine.py (docs/BENCHMARKS.md, "Engine speed").

TensorFlow, Keras and keras-cv are imported inside the functions: this module is
loaded by the conversion worker only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any


def group_norm(self: Any, inputs: Any) -> Any:
    """``keras.layers.GroupNormalization.call`` for channels-last 4-D inputs.

    Keras reshapes to (b, h, w, groups, channels/groups) and reduces over three of the
    five axes, which LiteRT runs on its reference kernel, one thread, at about 2 GB/s
    (a third of the VAE decoder's time). The same statistics are taken here as
    per-channel spatial means, which XNNPACK runs as a global average pool, then
    averaged over each group's channels on the (b, 1, 1, c) result: every group has
    the same number of channels, so the mean of the channel means is the group mean.
    The variance is the mean squared difference from that group mean, as Keras's.
    """
    import tensorflow as tf
    from keras import ops

    if len(inputs.shape) != 4 or self.axis not in (-1, 3) or inputs.shape[-1] is None:
        return _KERAS_GROUP_NORM(self, inputs)
    c = int(inputs.shape[-1])
    g = int(self.groups)
    x = ops.cast(inputs, "float32")

    def group_mean(per_channel: Any) -> Any:  # (b, 1, 1, c) -> group means, (b, 1, 1, c)
        t = ops.mean(ops.reshape(per_channel, (-1, g, c // g)), axis=-1, keepdims=True)
        # each group's mean repeated over its channels by a broadcast product with ones
        # (exact): ops.repeat converts to TILE, which XNNPACK does not take, so every
        # GroupNorm cut the graph into separately delegated pieces (67 in the decoder)
        return ops.reshape(t * ops.ones((1, 1, c // g)), (-1, 1, 1, c))

    mean = group_mean(ops.mean(x, axis=(1, 2), keepdims=True))
    var = group_mean(ops.mean(tf.math.squared_difference(x, mean), axis=(1, 2), keepdims=True))
    inv = ops.rsqrt(var + self.epsilon)
    if self.scale:
        inv = inv * ops.reshape(self.gamma, (1, 1, 1, c))
    res = -mean * inv
    if self.center:
        res = res + ops.reshape(self.beta, (1, 1, 1, c))
    return ops.cast(x * inv + res, self.compute_dtype)


def vae_attention(self: Any, inputs: Any) -> Any:
    """KerasCV's VAE ``AttentionBlock.call`` without transposing the (hw, hw) scores.

    KerasCV computes v^T (q k^T)^T and transposes the 4096x4096 score matrix (64 MB at
    512x512) to get there; softmax(q k^T / sqrt(c)) v is the same product. The scale is
    applied to the queries (hw x c) instead of the scores (hw x hw)."""
    from keras import ops

    x = self.norm(inputs)
    q, k, v = self.q(x), self.k(x), self.v(x)
    h, w, c = (int(d) for d in inputs.shape[1:])
    q = ops.reshape(q, (-1, h * w, c)) * (1.0 / float(c) ** 0.5)
    k = ops.reshape(k, (-1, h * w, c))
    v = ops.reshape(v, (-1, h * w, c))
    scores = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 2, 1))), axis=-1)
    out = ops.reshape(ops.matmul(scores, v), (-1, h, w, c))
    return self.proj_out(out) + inputs


def upsample_nearest(self: Any, inputs: Any) -> Any:
    """``keras.layers.UpSampling2D.call`` (nearest, channels last, static shape): each
    pixel repeated by a broadcast product with ones in six dimensions, which XNNPACK
    runs; Keras's two ``repeat`` calls convert to TILE, which it does not take (the
    interpreter's own one-thread kernel, and a cut in the delegated graph). Exact."""
    from keras import ops

    shape = tuple(inputs.shape[1:])
    if (self.interpolation != "nearest" or self.data_format != "channels_last"
            or len(shape) != 3 or any(d is None for d in shape)):
        return _KERAS_UPSAMPLING(self, inputs)
    h, w, c = (int(d) for d in shape)
    fh, fw = (int(f) for f in self.size)
    y = ops.reshape(inputs, (-1, h, 1, w, 1, c)) * ops.ones((1, 1, fh, 1, fw, 1),
                                                            dtype=inputs.dtype)
    return ops.reshape(y, (-1, h * fh, w * fw, c))


_KERAS_GROUP_NORM: Any = None
_KERAS_UPSAMPLING: Any = None


@contextmanager
def lean_layers() -> Iterator[None]:
    """Trace GroupNormalization, UpSampling2D and the VAE's attention as above (export
    only)."""
    global _KERAS_GROUP_NORM, _KERAS_UPSAMPLING
    import keras
    from keras_cv.src.models.stable_diffusion.attention_block import AttentionBlock

    with ExitStack() as stack:
        _KERAS_GROUP_NORM = keras.layers.GroupNormalization.call
        _KERAS_UPSAMPLING = keras.layers.UpSampling2D.call
        for cls, name, fn in ((keras.layers.GroupNormalization, "call", group_norm),
                              (keras.layers.UpSampling2D, "call", upsample_nearest),
                              (AttentionBlock, "call", vae_attention)):
            saved = getattr(cls, name)
            setattr(cls, name, fn)
            stack.callback(setattr, cls, name, saved)
        yield
