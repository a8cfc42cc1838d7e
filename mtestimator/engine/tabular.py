"""The network of TabularTrunk: feature encoding, efficient ensemble, MLP body; and its NumPy forward pass.

Pure Keras (no scikit-learn). The input is the float32 matrix of
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

from .forward import NUMPY_ACTIVATIONS
from .initializers import initializer
from .networks import _apply, _dropout

__all__ = ["EnsembleAdapter", "MemberMean", "TabularFeatures", "tabular_forward",
           "tabular_trunk"]


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


def tabular_trunk(inputs, *, n_numeric, n_dense, cardinalities, hidden_layer_sizes,
                  activation="relu", kernel_initializer="he_uniform", dropout=0.0, alpha=0.0,
                  n_ensemble=1, embedding_dim=8, n_frequencies=0, frequency_scale=0.1,
                  seeds):
    """The layers of the module docstring, from the tabular matrix to a 2-D feature tensor."""
    x = _apply(TabularFeatures(n_numeric, n_dense, list(cardinalities), embedding_dim,
                               n_frequencies, frequency_scale, seed=next(seeds),
                               name="tabular_features"), inputs)
    if n_ensemble > 1:
        x = EnsembleAdapter(n_ensemble, seed=next(seeds), name="tabular_adapter")(x)
    for i, units in enumerate(hidden_layer_sizes):
        x = _apply(keras.layers.Dense(
            int(units), activation=activation,
            kernel_initializer=initializer(kernel_initializer, next(seeds)),
            bias_initializer=initializer("zeros", None),
            kernel_regularizer=keras.regularizers.L2(alpha) if alpha else None,
            name=f"tabular_dense_{i}"), x)
        if dropout:
            x = _dropout(dropout, next(seeds), f"tabular_dropout_{i}")(x)
    if n_ensemble > 1:
        x = MemberMean(name="tabular_mean")(x)
    return x


def _np(variable):
    return ops.convert_to_numpy(variable).astype(np.float64)


def tabular_forward(model):
    """A NumPy function computing the trunk of a TabularTrunk network (``X ->
    features``, float64), or None if ``model`` has no such trunk."""
    names = {layer.name for layer in model.layers}
    if "tabular_features" not in names:
        return None
    feat = model.get_layer("tabular_features")
    periodic = None
    if feat.n_frequencies and feat.n_numeric:
        periodic = (_np(feat.frequencies), _np(feat.periodic_kernel), _np(feat.periodic_bias))
    table = _np(feat.embeddings) if feat.cardinalities else None
    offsets = np.asarray(getattr(feat, "_offsets", np.zeros(0)), np.int64)
    adapters = (_np(model.get_layer("tabular_adapter").adapters)
                if "tabular_adapter" in names else None)
    dense, i = [], 0
    while f"tabular_dense_{i}" in names:
        layer = model.get_layer(f"tabular_dense_{i}")
        act = getattr(layer.activation, "__name__", str(layer.activation))
        if act not in NUMPY_ACTIVATIONS:
            return None
        dense.append((_np(layer.kernel), _np(layer.bias), act))
        i += 1
    m, n_dense, width = feat.n_numeric, feat.n_dense, feat.embedding_dim

    def forward(X):
        X = np.asarray(X, np.float64)
        parts = []
        if periodic is not None:
            freq, kernel, bias = periodic
            angle = 2 * np.pi * X[:, :m, None] * freq[None]
            emb = np.maximum(np.einsum("bmf,mfd->bmd", np.concatenate(
                [np.sin(angle), np.cos(angle)], axis=-1), kernel) + bias[None], 0)
            parts += [emb.reshape(len(X), m * width), X[:, m:n_dense]]
        else:
            parts.append(X[:, :n_dense])
        if table is not None:
            codes = X[:, n_dense:].astype(np.int64) + offsets[None]
            parts.append(table[codes].reshape(len(X), -1))
        h = np.concatenate(parts, axis=1)
        if adapters is not None:
            h = h[:, None, :] * adapters[None]
        for kernel, bias, act in dense:
            h = NUMPY_ACTIVATIONS[act](h @ kernel + bias)
        return h.mean(axis=1) if adapters is not None else h

    return forward
