"""Keras's initial weights without a compilation per layer shape on JAX.

On JAX, each Keras initializer call runs ``jax.random.uniform`` (or
``normal``, ``truncated_normal``) jitted for the exact shape of the weight:
a new compilation, about 0.25 s and a few MB that stay in JAX's caches, for
every new layer width (measured: building a two-layer MLP of a new width
took 0.75 s; a search over ``hidden_layer_sizes`` paid it at each width).

JAX's random numbers are counter-based (threefry, partitionable: the
default): element ``i`` of a draw depends on the key and ``i`` alone, so
the first ``size`` values of a draw of ``N >= size`` values are the values
of a draw of ``size``. :func:`initializer` draws at a few sizes (powers
of two, at least 1024: one compilation for every layer of up to 1024
weights, one more per doubling above), cuts and reshapes in NumPy
(then puts the result on the device, which compiles nothing),
and gives Keras's values bit for bit (tested against Keras for every
initializer it handles); constant initializers are NumPy arrays. Any other
initializer, a stateful seed, or JAX configured otherwise gets Keras's own.

:func:`unwrap` puts Keras's initializer objects back on a layer once it
is built, so the network's config (saving, cloning) names Keras's classes
only.
"""

import math

import keras
import numpy as np

from ._compat import compute_fans, flatten_layers

__all__ = ["initializer", "unwrap"]

_MIN_DRAW = 1024  # values per draw at least: one compilation for most small layers

_VARIANCE_SCALING = (keras.initializers.VarianceScaling, keras.initializers.GlorotUniform,
                     keras.initializers.GlorotNormal, keras.initializers.HeUniform,
                     keras.initializers.HeNormal, keras.initializers.LecunUniform,
                     keras.initializers.LecunNormal)


def initializer(name, seed):
    """Keras's initializer ``name`` (seeded with ``seed``, None: Keras's
    default), drawn in buckets on JAX."""
    if seed is None:
        inner = keras.initializers.get(name)
    else:
        try:
            inner = keras.initializers.get({"class_name": name, "config": {"seed": seed}})
        except TypeError:  # initializers without a seed (zeros, ones, ...)
            inner = keras.initializers.get(name)
    if keras.backend.backend() == "jax" and _bucketable(inner):
        return _Bucketed(inner)
    return inner


def _bucketable(inner):
    kind = type(inner)
    if kind in (keras.initializers.Zeros, keras.initializers.Ones):
        return True
    if kind not in (*_VARIANCE_SCALING, keras.initializers.RandomUniform,
                    keras.initializers.RandomNormal, keras.initializers.TruncatedNormal):
        return False
    import jax

    return isinstance(inner.seed, int) and bool(jax.config.jax_threefry_partitionable)


def unwrap(layer):
    """Put Keras's own initializers back on ``layer`` and its sublayers."""
    for layer in flatten_layers(layer):
        for attr, value in list(vars(layer).items()):
            if isinstance(value, _Bucketed):
                setattr(layer, attr, value.inner)


class _Bucketed(keras.initializers.Initializer):
    """Keras's ``inner`` initializer, drawn at a bucketed size and cut."""

    def __init__(self, inner):
        self.inner = inner

    def get_config(self):
        return self.inner.get_config()

    def __call__(self, shape, dtype=None):
        import jax

        # a device array: Keras's jnp.asarray of a NumPy array would compile
        # a copy for each shape
        return jax.device_put(self._values(tuple(int(d) for d in shape), dtype))

    def _values(self, shape, dtype):
        dtype = keras.backend.standardize_dtype(dtype or keras.backend.floatx())
        inner, kind = self.inner, type(self.inner)
        if kind is keras.initializers.Zeros:
            return np.zeros(shape, dtype)
        if kind is keras.initializers.Ones:
            return np.ones(shape, dtype)
        if kind in _VARIANCE_SCALING:
            return self._variance_scaling(shape, dtype)
        if kind is keras.initializers.RandomUniform:
            return self._draw("uniform", shape, dtype, minval=inner.minval,
                              maxval=inner.maxval)
        distribution = "normal" if kind is keras.initializers.RandomNormal else "truncated"
        return self._draw(distribution, shape, dtype) * inner.stddev + inner.mean

    def _variance_scaling(self, shape, dtype):
        """Keras's ``VarianceScaling.__call__``, drawn by :meth:`_draw`."""
        inner = self.inner
        scale = inner.scale
        fan_in, fan_out = compute_fans(shape, input_axes=getattr(inner, "input_axes", None),
                                       output_axes=getattr(inner, "output_axes", None))
        if inner.mode == "fan_in":
            scale /= max(1.0, fan_in)
        elif inner.mode == "fan_out":
            scale /= max(1.0, fan_out)
        else:
            scale /= max(1.0, (fan_in + fan_out) / 2.0)
        if inner.distribution == "truncated_normal":
            stddev = math.sqrt(scale) / 0.87962566103423978
            return self._draw("truncated", shape, dtype) * stddev + 0.0  # Keras adds the mean
        if inner.distribution == "untruncated_normal":
            return self._draw("normal", shape, dtype) * math.sqrt(scale) + 0.0
        limit = math.sqrt(3.0 * scale)
        return self._draw("uniform", shape, dtype, minval=-limit, maxval=limit)

    def _draw(self, distribution, shape, dtype, **bounds):
        """The values of Keras's ``random.<distribution>(shape, seed=inner.seed)``
        (before its scaling), as a NumPy array."""
        import jax

        from ._compat import jax_draw_seed

        key = jax_draw_seed(self.inner.seed)
        size = math.prod(shape)
        bucket = (max(_MIN_DRAW, 1 << (size - 1).bit_length()),)
        if distribution == "uniform":
            values = jax.random.uniform(key, bucket, dtype, bounds["minval"], bounds["maxval"])
        elif distribution == "normal":
            values = jax.random.normal(key, bucket, dtype)
        else:
            values = jax.random.truncated_normal(key, -2.0, 2.0, bucket, dtype)
        return np.asarray(values)[:size].reshape(shape)
