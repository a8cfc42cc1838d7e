"""Trunks: the part of a multi-task network that every head shares.

A trunk is a scikit-learn estimator (``get_params``, ``set_params``,
``clone``) that validates ``X`` for the estimator and builds the shared
layers of the network: from one batch of samples to a 2-D feature tensor on
which each head puts its output layer. The Keras layers themselves come from
the pure builders in ``mtestimator.engine.networks``; nothing here imports Keras
until a network is built.

- :class:`MLPTrunk`: Dense layers on 2-D X (sparse X accepted).
- :class:`RecurrentTrunk`: stacked LSTM or GRU layers on 3-D X
  ``(n_samples, timesteps, channels)``.
- :class:`Conv1DTrunk`: causal Conv1D layers and global average pooling on
  3-D X.
- :class:`KerasTrunk`: any Keras model a function builds: images, text,
  anything Keras can take.
- :class:`TabularTrunk` (raw DataFrames) and :class:`MixtureOfExpertsTrunk`
  (experts mixed by one gate per head): in their own modules.
"""

import numbers

import numpy as np
import scipy.sparse as sp
from ._build_fn import check_signature, takes_seed, warn_unseeded
from ._compat import Interval, StrOptions
from sklearn.utils.validation import validate_data

from ._trunk_base import (ACTIVATIONS, BaseTrunk, _set_input_shape,
                          check_float32_range, check_initializer, check_layer_sizes)
from .persistence.spec import register

__all__ = ["ACTIVATIONS", "BaseTrunk", "Conv1DTrunk", "KerasTrunk", "MLPTrunk",
           "RecurrentTrunk"]

class _LayerStackTrunk(BaseTrunk):
    """A trunk of ``hidden_layer_sizes`` layers with a Keras ``kernel_initializer``."""

    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "kernel_initializer": [str],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
    }

    _sequence = False  # X is (n_samples, n_features); True: (n_samples, timesteps, channels)

    def validate_X(self, estimator, X, reset):
        return self._validate_dense(estimator, X, reset, sequence=self._sequence)

    def check(self, owner):
        super().check(owner)
        check_layer_sizes(self.hidden_layer_sizes, owner)
        check_initializer(self.kernel_initializer, owner)


@register
class MLPTrunk(_LayerStackTrunk):
    """Dense layers, each optionally followed by dropout, on 2-D X.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Units of each hidden Dense layer.
    activation : str, default="relu"
    kernel_initializer : str, default="he_uniform"
        A Keras initializer name.
    dropout : float in [0, 1), default=0.0
        Dropout rate after each hidden layer.

    Examples
    --------
    >>> from mtestimator.trunks import MLPTrunk
    >>> MLPTrunk(hidden_layer_sizes=(64, 32))
    MLPTrunk(hidden_layer_sizes=(64, 32))
    """

    _parameter_constraints = {**_LayerStackTrunk._parameter_constraints,
                              "activation": [StrOptions(set(ACTIVATIONS))]}

    def __init__(self, hidden_layer_sizes=(100,), *, activation="relu",
                 kernel_initializer="he_uniform", dropout=0.0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.kernel_initializer = kernel_initializer
        self.dropout = dropout

    def build(self, inputs, seeds):
        from .engine.networks import mlp_trunk

        return mlp_trunk(inputs, check_layer_sizes(self.hidden_layer_sizes, "MLPTrunk"),
                         activation=self.activation,
                         kernel_initializer=self.kernel_initializer,
                         dropout=self.dropout, seeds=seeds)


@register
class RecurrentTrunk(_LayerStackTrunk):
    """Stacked LSTM or GRU layers on sequences ``(n_samples, timesteps, channels)``.

    2-D X is read as one channel. The recurrent layers use Keras's tanh.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(32,)
        Units of each recurrent layer; the last returns its final state.
    cell : {"lstm", "gru"}, default="lstm"
    kernel_initializer : str, default="glorot_uniform"
    dropout : float in [0, 1), default=0.0
        Dropout rate after each recurrent layer.

    Examples
    --------
    >>> from mtestimator.trunks import RecurrentTrunk
    >>> RecurrentTrunk(cell="gru")
    RecurrentTrunk(cell='gru')
    """

    _sequence = True
    _parameter_constraints = {**_LayerStackTrunk._parameter_constraints,
                              "cell": [StrOptions({"lstm", "gru"})]}

    def __init__(self, hidden_layer_sizes=(32,), *, cell="lstm",
                 kernel_initializer="glorot_uniform", dropout=0.0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.cell = cell
        self.kernel_initializer = kernel_initializer
        self.dropout = dropout

    def build(self, inputs, seeds):
        from .engine.networks import recurrent_trunk

        return recurrent_trunk(inputs, check_layer_sizes(self.hidden_layer_sizes, "trunk"),
                               cell=self.cell, kernel_initializer=self.kernel_initializer,
                               dropout=self.dropout, seeds=seeds)


@register
class Conv1DTrunk(_LayerStackTrunk):
    """Causal Conv1D layers, then global average pooling over time.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(32,)
        Filters of each convolution.
    kernel_size : int, default=3
    activation : str, default="relu"
    kernel_initializer : str, default="glorot_uniform"
    dropout : float in [0, 1), default=0.0

    Examples
    --------
    >>> from mtestimator.trunks import Conv1DTrunk
    >>> Conv1DTrunk(hidden_layer_sizes=(16, 16), kernel_size=5)
    Conv1DTrunk(hidden_layer_sizes=(16, 16), kernel_size=5)
    """

    _sequence = True
    _parameter_constraints = {**_LayerStackTrunk._parameter_constraints,
                              "kernel_size": [Interval(numbers.Integral, 1, None, closed="left")],
                              "activation": [StrOptions(set(ACTIVATIONS))]}

    def __init__(self, hidden_layer_sizes=(32,), *, kernel_size=3, activation="relu",
                 kernel_initializer="glorot_uniform", dropout=0.0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.kernel_size = kernel_size
        self.activation = activation
        self.kernel_initializer = kernel_initializer
        self.dropout = dropout

    def build(self, inputs, seeds):
        from .engine.networks import conv1d_trunk

        return conv1d_trunk(inputs, check_layer_sizes(self.hidden_layer_sizes, "trunk"),
                            activation=self.activation,
                            kernel_initializer=self.kernel_initializer,
                            dropout=self.dropout, seeds=seeds, kernel_size=self.kernel_size)


@register
class KerasTrunk(BaseTrunk):
    """Any Keras model as the trunk: images, text, anything Keras can build.

    Parameters
    ----------
    build_fn : callable
        ``build_fn(input_shape)`` returns a Keras model (or layer) from one
        batch of samples of shape ``(batch, *input_shape)`` to a 2-D feature
        tensor ``(batch, n_features)``. If it also accepts a ``seed``
        argument (or ``**kwargs``) it receives an int seed (the estimator's
        ``random_state``, or a fresh one per fit when that is None), to seed
        its initializers and dropout layers; otherwise its layers are as
        random as it makes them, and a fit with a ``random_state`` warns.
    input_dtype : {"float32", "string"} or None, default=None
        What X holds. ``None``: strings if X is an array of strings (text),
        else float32 numbers.

    Notes
    -----
    X may have any number of dimensions: ``(n, h, w, c)`` images,
    ``(n,)`` strings for a text trunk (a ``TextVectorization`` layer in the
    model; string input trains on the TensorFlow backend only). Numeric X is
    checked for NaN and infinity and cast to float32.

    Examples
    --------
    >>> import keras
    >>> from mtestimator.trunks import KerasTrunk
    >>> def small_cnn(input_shape):
    ...     return keras.Sequential([
    ...         keras.Input(input_shape),
    ...         keras.layers.Conv2D(8, 3, activation="relu"),
    ...         keras.layers.GlobalAveragePooling2D()])
    >>> trunk = KerasTrunk(small_cnn)
    """

    _parameter_constraints = {
        "build_fn": [callable],
        "input_dtype": [StrOptions({"float32", "string"}), None],
    }

    def __init__(self, build_fn, *, input_dtype=None):
        self.build_fn = build_fn
        self.input_dtype = input_dtype

    def check(self, owner):
        if self.build_fn is None:
            raise ValueError(
                f"The KerasTrunk of {owner} has build_fn=None (a loaded estimator does not "
                "keep the function): set it before fitting again, e.g. "
                "est.set_params(trunk__build_fn=my_build_fn)."
            )
        super().check(owner)
        check_signature(self.build_fn)

    def check_seeded(self, owner, random_state):
        """Warn when fits with the same ``random_state`` will differ anyway (an
        optional trunk hook, called at each fit)."""
        if random_state is not None:
            warn_unseeded(self.build_fn, owner)

    def cache_key(self):
        # the function object itself (held by the key, so its id is never reused)
        return (type(self).__name__, self.build_fn, self.input_dtype)

    def _is_text(self, X):
        if self.input_dtype is not None:
            return self.input_dtype == "string"
        return np.asarray(X).dtype.kind in "USO" and not _numeric_objects(X)

    def validate_X(self, estimator, X, reset):
        if sp.issparse(X):
            raise TypeError("KerasTrunk takes dense X: Sparse data was passed, but dense "
                            "data is required. Use X.toarray().")
        if self._is_text(X):
            X = np.asarray(X, dtype=str)
            if X.ndim == 0 or len(X) == 0:
                raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}) while a "
                                 "minimum of 1 is required.")
            if reset:
                for attr in ("n_features_in_", "feature_names_in_"):
                    estimator.__dict__.pop(attr, None)
        else:
            X = validate_data(estimator, X, reset=reset, dtype=[np.float64, np.float32],
                              ensure_2d=False, allow_nd=True)
            if X.ndim == 1:
                X = X[:, None]
            check_float32_range(X)
            X = X.astype(np.float32)
        _set_input_shape(estimator, X, reset)
        return X

    def build(self, inputs, seeds):
        kwargs = {"seed": next(seeds)} if takes_seed(self.build_fn) else {}
        model = self.build_fn(tuple(inputs.shape[1:]), **kwargs)
        if not callable(model) or not hasattr(model, "trainable_weights"):
            raise ValueError(
                "KerasTrunk's build_fn must return a Keras model or layer (called on the "
                f"input tensor); it returned {type(model).__name__} {model!r:.80}."
            )
        features = model(inputs)
        if len(features.shape) != 2:
            raise ValueError(
                f"KerasTrunk's build_fn must return a model whose output is 2-D "
                f"(batch, n_features); its output has shape {tuple(features.shape)}. End "
                "it with Flatten() or a global pooling layer."
            )
        return features


def _numeric_objects(X):
    """True for an object array whose items are all numbers."""
    arr = np.asarray(X)
    if arr.dtype != object:
        return False
    return all(isinstance(v, numbers.Number) for v in arr.ravel()[:100])


from ._tabular_trunk import TabularTrunk  # noqa: E402  (raw tables: its own module)
from ._experts_trunk import MixtureOfExpertsTrunk  # noqa: E402  (per-head features)

__all__ += ["MixtureOfExpertsTrunk", "TabularTrunk"]
