"""The Keras layers of TabularTrunk's network: feature encoding and efficient ensemble.

Pure Keras (no scikit-learn); :func:`mtestimator.engine.networks.tabular_trunk`
builds the network, :func:`mtestimator.engine.forward.tabular_forward` runs
it in NumPy. The input is the float32 matrix of
:mod:`mtestimator._tabular`: ``n_dense`` columns taken as they are (the
first ``n_numeric`` of them the scaled numeric features), then one integer
code per embedded categorical column. The layers:

- ``tabular_features`` (:class:`TabularFeatures`): periodic embeddings of the
  numeric features (``x -> ReLU(Linear([sin(2 pi c x), cos(2 pi c x)]))``
  per feature, learned frequencies ``c``; Gorishniy et al. 2022) and learned
  embeddings of the categorical codes (code 0, missing or unseen, starts at
  zero), concatenated with the other columns;
- ``tabular_adapter`` (:class:`EnsembleAdapter`, ``n_ensemble > 1``): ``k``
  copies of the features, each multiplied by its member's vector of random
  signs (TabM-mini, Gorishniy et al. 2025: the members share every other
  weight);
- ``tabular_dense_<i>`` Dense layers (an L2 penalty ``alpha``), each followed
  by ``tabular_dropout_<i>``;
- ``tabular_mean`` (:class:`MemberMean`): the members' features averaged, so
  every head's (linear) output is the average of the members' outputs.
"""

import math

import keras
import numpy as np
from keras import ops

__all__ = ["EnsembleAdapter", "MemberMean", "TabularFeatures"]


def _seeded(kind, seed, **config):
    return keras.initializers.get({"class_name": kind, "config": {**config, "seed": seed}})


@keras.saving.register_keras_serializable(package="mtestimator")
class TabularFeatures(keras.layers.Layer):
    """Numeric (periodic) and categorical embeddings of the tabular matrix.

    Parameters
    ----------
    n_numeric, n_dense : int
        The numeric columns (first) and the columns taken as they are.
    cardinalities : list of int
        Codes of each embedded column (its levels + 1).
    embedding_dim : int
        Width of each categorical embedding and of each numeric one.
    n_frequencies : int
        Frequencies of each periodic numeric embedding (0: none, the
        numeric columns pass as they are).
    frequency_scale : float
        Standard deviation of the initial frequencies.
    seed : int or None
    """

    def __init__(self, n_numeric, n_dense, cardinalities, embedding_dim=8, n_frequencies=0,
                 frequency_scale=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.n_numeric, self.n_dense = int(n_numeric), int(n_dense)
        self.cardinalities = [int(c) for c in cardinalities]
        self.embedding_dim, self.n_frequencies = int(embedding_dim), int(n_frequencies)
        self.frequency_scale = float(frequency_scale)
        self.seed = seed

    def get_config(self):
        return {**super().get_config(), "n_numeric": self.n_numeric, "n_dense": self.n_dense,
                "cardinalities": self.cardinalities, "embedding_dim": self.embedding_dim,
                "n_frequencies": self.n_frequencies, "frequency_scale": self.frequency_scale,
                "seed": self.seed}

    def _seed(self, i):
        return None if self.seed is None else (int(self.seed) * 7 + i) % (2**31 - 1)

    def build(self, input_shape):
        d = self.embedding_dim
        if self.n_frequencies and self.n_numeric:
            m, f = self.n_numeric, self.n_frequencies
            self.frequencies = self.add_weight(
                shape=(m, f), name="frequencies",
                initializer=_seeded("RandomNormal", self._seed(1), stddev=self.frequency_scale))
            limit = 1.0 / math.sqrt(2 * f)
            self.periodic_kernel = self.add_weight(
                shape=(m, 2 * f, d), name="periodic_kernel",
                initializer=_seeded("RandomUniform", self._seed(2), minval=-limit,
                                    maxval=limit))
            self.periodic_bias = self.add_weight(
                shape=(m, d), name="periodic_bias",
                initializer=_seeded("RandomUniform", self._seed(3), minval=-limit,
                                    maxval=limit))
        if self.cardinalities:
            starts = np.concatenate([[0], np.cumsum(self.cardinalities)[:-1]])
            self._offsets = starts.astype("int32")
            table = _seeded("RandomNormal", self._seed(4), stddev=1.0)(
                (int(sum(self.cardinalities)), d))
            table = np.array(ops.convert_to_numpy(table))
            table[starts] = 0.0  # code 0 (missing or unseen) starts neutral
            self.embeddings = self.add_weight(
                shape=table.shape, name="embeddings",
                initializer=keras.initializers.Constant(table))
        self.built = True

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_width())

    def output_width(self):
        numeric = self.n_numeric * self.embedding_dim if self.n_frequencies else self.n_numeric
        return (numeric + self.n_dense - self.n_numeric
                + len(self.cardinalities) * self.embedding_dim)

    def call(self, inputs):
        parts = []
        if self.n_frequencies and self.n_numeric:
            x = inputs[:, :self.n_numeric]
            angle = 2 * math.pi * x[:, :, None] * self.frequencies[None]
            periodic = ops.concatenate([ops.sin(angle), ops.cos(angle)], axis=-1)
            emb = ops.relu(ops.einsum("bmf,mfd->bmd", periodic, self.periodic_kernel)
                           + self.periodic_bias[None])
            parts.append(ops.reshape(emb, (-1, self.n_numeric * self.embedding_dim)))
            parts.append(inputs[:, self.n_numeric:self.n_dense])
        else:
            parts.append(inputs[:, :self.n_dense])
        if self.cardinalities:
            codes = ops.cast(inputs[:, self.n_dense:], "int32") + self._offsets[None]
            emb = ops.take(self.embeddings, codes, axis=0)
            parts.append(ops.reshape(emb, (-1, len(self.cardinalities) * self.embedding_dim)))
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)


@keras.saving.register_keras_serializable(package="mtestimator")
class EnsembleAdapter(keras.layers.Layer):
    """``(batch, d)`` to ``(batch, k, d)``: member ``i`` sees ``x * r_i``, ``r_i``
    a learned vector initialised with random signs (TabM-mini)."""

    def __init__(self, n_members, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.n_members, self.seed = int(n_members), seed

    def get_config(self):
        return {**super().get_config(), "n_members": self.n_members, "seed": self.seed}

    def build(self, input_shape):
        signs = np.random.default_rng(self.seed).choice(
            np.array([-1.0, 1.0], np.float32), size=(self.n_members, int(input_shape[-1])))
        signs[0] = 1.0  # the first member sees the features as they are
        self.adapters = self.add_weight(shape=signs.shape, name="adapters",
                                        initializer=keras.initializers.Constant(signs))
        self.built = True

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n_members, input_shape[-1])

    def call(self, inputs):
        return inputs[:, None, :] * self.adapters[None]


@keras.saving.register_keras_serializable(package="mtestimator")
class MemberMean(keras.layers.Layer):
    """``(batch, k, d)`` to ``(batch, d)``: the members' features averaged."""

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def call(self, inputs):
        return ops.mean(inputs, axis=1)
