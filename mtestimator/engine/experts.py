"""Mixture-of-experts trunks: shared (and per-head) experts, one softmax gate per head.

Pure Keras (no scikit-learn). :func:`experts_trunk` builds, from the input
tensor, one feature tensor per head (a dict by head name), which
:func:`mtestimator.engine.networks.build_network` gives each head instead of
one shared tensor:

- ``expert_<e>_dense_<i>``: ``n_experts`` shared MLPs on the input (each
  Dense layer followed by ``expert_<e>_dropout_<i>`` with dropout);
- ``<head>_expert_<e>_dense_<i>``: with ``n_task_experts``, each head's own
  experts (Progressive Layered Extraction's customized gate control, Tang et
  al. 2020; none: Multi-gate Mixture-of-Experts, Ma et al. 2018);
- ``<head>_gate``: a softmax over the experts the head sees (the shared ones,
  then its own), from the input;
- ``<head>_experts``: :class:`ExpertMix`, the gate-weighted sum of those
  experts' outputs: the head's features.
"""

import keras
from keras import ops

from .initializers import initializer

__all__ = ["ExpertMix", "experts_trunk"]


@keras.saving.register_keras_serializable(package="mtestimator")
class ExpertMix(keras.layers.Layer):
    """``[gate (batch, E), expert_1 (batch, d), ..., expert_E]`` to the
    gate-weighted sum of the experts, ``(batch, d)``."""

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[1])

    def call(self, inputs):
        gate, experts = inputs[0], ops.stack(inputs[1:], axis=1)  # (batch, E, d)
        return ops.sum(experts * ops.expand_dims(gate, -1), axis=1)


def experts_trunk(inputs, heads, *, n_experts, expert_layer_sizes, n_task_experts=0,
                  activation="relu", kernel_initializer="glorot_uniform", dropout=0.0,
                  seeds, apply, make_dropout):
    """Each head's features: ``{head: tensor (batch, expert_layer_sizes[-1])}``.

    ``apply(layer, x)`` builds a layer (seeded initializers) and
    ``make_dropout(rate, seed, name)`` makes a dropout layer, as the other
    trunks of :mod:`~mtestimator.engine.networks` do. Seeds are drawn for the
    shared experts first, then per head: its own experts, then its gate.
    """

    def expert(prefix):
        x = inputs
        for i, units in enumerate(expert_layer_sizes):
            x = apply(keras.layers.Dense(
                int(units), activation=activation,
                kernel_initializer=initializer(kernel_initializer, next(seeds)),
                bias_initializer=initializer("zeros", None), name=f"{prefix}_dense_{i}"), x)
            if dropout:
                x = make_dropout(dropout, next(seeds), f"{prefix}_dropout_{i}")(x)
        return x

    shared = [expert(f"expert_{e}") for e in range(n_experts)]
    features = {}
    for head in heads:
        own = [expert(f"{head}_expert_{e}") for e in range(n_task_experts)]
        pool = shared + own
        gate = apply(keras.layers.Dense(
            len(pool), activation="softmax",
            kernel_initializer=initializer(kernel_initializer, next(seeds)),
            bias_initializer=initializer("zeros", None), name=f"{head}_gate"), inputs)
        features[head] = ExpertMix(name=f"{head}_experts")([gate, *pool])
    return features
