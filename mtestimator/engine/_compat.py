"""The private names of Keras, TensorFlow and JAX the engine uses, in one place.

Each has no public equivalent (the comment on its entry says why). They are
imported on first use, by attribute (``from ._compat import compute_fans``):
importing mtestimator imports none of these libraries. ``CHECKED_WITH``: the
versions (major.minor) they were checked with; ``tests/test_compat.py`` fails
when an installed version differs, as a reminder to check them again.
The scikit-learn ones are in :mod:`mtestimator._compat`.
"""

import importlib

__all__ = ["CHECKED_WITH", "LossFunctionWrapper", "compute_fans", "flatten_layers",
           "jax_draw_seed", "jax_noise_shape", "jit_cache_size", "load_private", "tf_cast_seed",
           "tf_noise_shape"]

CHECKED_WITH = {"keras": "3.15", "jax": "0.10"}  # TensorFlow: public names only


def flatten_layers(layer):
    """``layer`` and all its sublayers, recursively."""
    # Keras has no public recursive walk of sublayers (Model.layers is one level deep)
    return layer._flatten_layers(include_self=True, recursive=True)


def jit_cache_size(function):
    """How many compiled versions the jitted ``function`` holds."""
    # JAX exposes the size of a jitted function's compilation cache only privately
    return function._cache_size()


# name: (attribute, module, fallback modules...), each with why no public name will do
_PRIVATE = {
    # Keras exports no fan computation; the bucketed initializers must scale as VarianceScaling
    "compute_fans": ("compute_fans", "keras.src.initializers.random_initializers"),
    # the JAX key Keras's initializers draw from an int seed; not exported (a SeedGenerator would
    # make a variable per draw)
    "jax_draw_seed": ("jax_draw_seed", "keras.src.backend.jax.random"),
    # keras.random.dropout's noise shape on JAX; dropout at a traced rate cannot call the public one
    "jax_noise_shape": ("_get_concrete_noise_shape", "keras.src.backend.jax.random"),
    # keras.random.dropout's noise shape on TensorFlow, as above
    "tf_noise_shape": ("_get_concrete_noise_shape", "keras.src.backend.tensorflow.random"),
    # keras.random.dropout's int32 cast of a seed on TensorFlow, as above
    "tf_cast_seed": ("_cast_seed", "keras.src.backend.tensorflow.random"),
    # keras.losses exports no wrapper giving a loss function Loss's rank matching and reduction
    "LossFunctionWrapper": ("LossFunctionWrapper", "keras.src.losses.losses"),
}


def load_private(table, name, owner):
    """The private name ``name`` of ``table`` (see ``_PRIVATE``), imported now;
    an AttributeError of module ``owner`` if it has none."""
    if name not in table:
        raise AttributeError(f"module {owner!r} has no attribute {name!r}")
    attribute, *modules = table[name]
    for module in modules[:-1]:
        try:
            return getattr(importlib.import_module(module), attribute)
        except ImportError:  # an older version: the next module
            pass
    return getattr(importlib.import_module(modules[-1]), attribute)


def __getattr__(name):
    value = globals()[name] = load_private(_PRIVATE, name, __name__)
    return value
