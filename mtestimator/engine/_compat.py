"""The private names of Keras, TensorFlow and JAX the engine uses, in one place.

Each has no public equivalent (the comment on its import says why). They are
imported on first use, by attribute (``from ._compat import compute_fans``):
importing mtestimator imports none of these libraries. ``CHECKED_WITH``: the
versions (major.minor) they were checked with; ``tests/test_compat.py`` fails
when an installed version differs, as a reminder to check them again.
The scikit-learn ones are in :mod:`mtestimator._compat`.
"""

__all__ = ["CHECKED_WITH", "compute_fans", "flatten_layers", "jax_draw_seed",
           "jax_noise_shape", "jit_cache_size", "LossFunctionWrapper", "tf_cast_seed",
           "tf_noise_shape"]

CHECKED_WITH = {"keras": "3.15", "tensorflow": "2.21", "jax": "0.10"}


def flatten_layers(layer):
    """``layer`` and all its sublayers, recursively."""
    # Keras has no public recursive walk of sublayers (Model.layers is one level deep)
    return layer._flatten_layers(include_self=True, recursive=True)


def jit_cache_size(function):
    """How many compiled versions the jitted ``function`` holds."""
    # JAX exposes the size of a jitted function's compilation cache only privately
    return function._cache_size()


def __getattr__(name):
    if name == "compute_fans":
        # Keras exports no fan computation; the bucketed initializers must scale as VarianceScaling
        from keras.src.initializers.random_initializers import compute_fans
        return compute_fans
    if name == "jax_draw_seed":
        # the JAX key Keras's initializers draw from an int seed; not exported (SeedGenerator would
        # make a variable per draw)
        from keras.src.backend.jax.random import jax_draw_seed
        return jax_draw_seed
    if name == "jax_noise_shape":
        # keras.random.dropout's noise shape on JAX; dropout at a traced rate cannot call the public one
        from keras.src.backend.jax.random import _get_concrete_noise_shape
        return _get_concrete_noise_shape
    if name == "tf_noise_shape":
        # keras.random.dropout's noise shape on TensorFlow, as above
        from keras.src.backend.tensorflow.random import _get_concrete_noise_shape
        return _get_concrete_noise_shape
    if name == "tf_cast_seed":
        # keras.random.dropout's int32 cast of a seed on TensorFlow, as above
        from keras.src.backend.tensorflow.random import _cast_seed
        return _cast_seed
    if name == "LossFunctionWrapper":
        # keras.losses exports no wrapper giving a loss function Loss's rank matching and reduction
        from keras.src.losses.losses import LossFunctionWrapper
        return LossFunctionWrapper
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
