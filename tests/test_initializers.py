"""Initial weights on JAX: Keras's values, without a compilation per shape."""

import logging

import keras
import numpy as np
import pytest

from mtestimator import MultiLabelMLPClassifier
from mtestimator.engine.initializers import _Bucketed, initializer

pytestmark = pytest.mark.backend  # Keras's own initial values, per backend

NAMES = ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform",
         "lecun_normal", "random_uniform", "random_normal", "truncated_normal",
         "variance_scaling", "zeros", "ones"]
JAX = keras.backend.backend() == "jax"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(10, 7), (3, 4, 5), (1,), (100, 33), (2, 1, 96)])
def test_values_are_keras_own_bit_for_bit(name, shape):
    for seed in (0, 12345):
        ours = initializer(name, seed)
        try:
            theirs = keras.initializers.get({"class_name": name, "config": {"seed": seed}})
        except TypeError:
            theirs = keras.initializers.get(name)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours(shape, "float32")),
                                      keras.ops.convert_to_numpy(theirs(shape, "float32")))
        assert isinstance(ours, _Bucketed) is JAX


def test_stateful_or_unknown_initializers_are_keras_own():
    assert type(initializer("orthogonal", 0)) is keras.initializers.Orthogonal
    assert type(initializer("identity", None)) is keras.initializers.Identity


def test_built_layers_carry_keras_initializers_in_their_config():
    clf = MultiLabelMLPClassifier((6, 5), epochs=1, random_state=0).fit(
        np.random.RandomState(0).normal(size=(40, 4)), np.eye(3, dtype=int)[np.arange(40) % 3])
    for layer in clf.model_.layers:
        for attr in ("kernel_initializer", "bias_initializer"):
            if hasattr(layer, attr):
                assert not isinstance(getattr(layer, attr), _Bucketed)
    assert "_Bucketed" not in str(clf.model_.get_config())


@pytest.mark.skipif(not JAX, reason="TensorFlow's eager ops do not compile per shape")
def test_new_layer_widths_do_not_compile_new_draws(caplog):
    """Widths 40..47 share the draws of one size bucket, and biases are NumPy
    zeros: building their layers compiles no random or fill function."""
    import jax

    def build(width):
        keras.layers.Dense(width, kernel_initializer=initializer("glorot_uniform", width),
                           bias_initializer=initializer("zeros", None)).build((None, 4))

    build(48)  # compiles the draw of the 1024-value bucket
    caplog.clear()
    with caplog.at_level(logging.WARNING), jax.log_compiles():
        for width in range(40, 48):
            build(width)
    compiled = [r.getMessage() for r in caplog.records if "Compiling" in r.getMessage()]
    assert not compiled, compiled
