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
"""

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from ._build_fn import check_signature, takes_seed, warn_unseeded
from ._compat import Interval, StrOptions, validate_params
from sklearn.utils.validation import validate_data

from .persistence.spec import register
from .engine import imports

__all__ = ["ACTIVATIONS", "BaseTrunk", "Conv1DTrunk", "KerasTrunk", "MLPTrunk",
           "RecurrentTrunk"]

#: Activations accepted for hidden layers (the names Keras knows them by).
ACTIVATIONS = frozenset(
    {"relu", "tanh", "sigmoid", "elu", "selu", "gelu", "silu", "swish",
     "softplus", "leaky_relu", "linear"}
)


def check_layer_sizes(sizes, owner, name="hidden_layer_sizes"):
    """A positive int or non-empty sequence of positive ints, as a list."""
    given = sizes
    sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(sizes)
    if not sizes or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in sizes
    ):
        raise ValueError(
            f"The {name!r} parameter of {owner} must be a positive int or a non-empty "
            f"sequence of positive ints. Got {given!r} instead."
        )
    return [int(s) for s in sizes]


def check_initializer(name, owner):
    """Fail early, naming the parameter, for an unknown Keras initializer."""
    keras = imports.keras()

    try:
        try:  # a seed in the config: Keras draws no default seed from `random`
            keras.initializers.get({"class_name": name, "config": {"seed": 0}})
        except TypeError:  # initializers without a seed (zeros, ones, ...)
            keras.initializers.get({"class_name": name, "config": {}})
    except (ValueError, TypeError):
        raise ValueError(
            f"The 'kernel_initializer' parameter of {owner} must be the name of a Keras "
            f"initializer such as 'he_uniform' or 'glorot_uniform'. Got {name!r} instead."
        ) from None


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_float32_range(X):
    """X (float64, sparse or dense) must fit float32, where the network computes."""
    values = X.data if sp.issparse(X) else X
    if values.size and np.abs(values).max() > _FLOAT32_MAX:
        dense = X.toarray() if sp.issparse(X) else X
        where = tuple(int(i) for i in np.argwhere(np.abs(dense) > _FLOAT32_MAX)[0])
        place = {2: f"column {where[-1]}",
                 3: f"timestep {where[1]}, channel {where[-1]}"}.get(
                     len(where), f"position {where[1:]}")
        raise ValueError(
            f"X holds {float(dense[where])!r} in {place} (row {where[0]}), "
            f"beyond float32's range ({_FLOAT32_MAX:.3g}) in which the network computes. "
            "Scale the features (e.g. StandardScaler in a Pipeline) or change their units."
        )


def _set_input_shape(estimator, X, reset):
    shape = tuple(int(d) for d in X.shape[1:])
    if reset:
        estimator.input_shape_ = shape
    elif shape != tuple(estimator.input_shape_):
        raise ValueError(
            f"X has samples of shape {shape}, but {type(estimator).__name__} was fitted "
            f"on samples of shape {tuple(estimator.input_shape_)}."
        )


class BaseTrunk(BaseEstimator):
    """Base class of trunks.

    A subclass implements ``validate_X(estimator, X, reset)`` (returns the
    array the network takes and sets ``estimator.input_shape_``) and
    ``build(inputs, seeds)`` (Keras layers from the input tensor to a 2-D
    feature tensor; ``seeds`` is an iterator of ints or Nones, one per
    initializer and dropout layer).
    """

    #: Where a saved file may name the class (see mtestimator.persistence.spec).
    _persisted_as = "trunk"
    #: A trunk is saved by its parameters: it keeps no fitted state of its own.
    _fitted_state = {}

    def check(self, owner):
        """Validate the parameters beyond ``_parameter_constraints``."""
        validate_params(self)

    def cache_key(self):
        """What makes two networks of this trunk the same architecture."""
        return (type(self).__name__, repr(sorted(self.get_params(deep=False).items())))

    def compile_key(self):
        """What makes two networks of this trunk share one compiled training
        function: :meth:`cache_key` less what a trainer sets as a value (a
        dropout rate; whether there is dropout at all stays in the key)."""
        params = self.get_params(deep=False)
        if "dropout" not in params:
            return self.cache_key()
        params["dropout"] = bool(params["dropout"])
        return (type(self).__name__, repr(sorted(params.items())))

    def _validate_dense(self, estimator, X, reset, *, sequence):
        name = type(estimator).__name__
        if not sequence and getattr(X, "ndim", None) == 3:
            raise ValueError(
                f"Found array with dim 3, but {name} with trunk='mlp' expects 2-D X "
                "(n_samples, n_features): an MLPTrunk takes rows of features. For sequences "
                "(n_samples, timesteps, channels) use trunk='lstm', 'gru' or 'conv1d' "
                "(RecurrentTrunk, Conv1DTrunk); or flatten the windows."
            )
        fitted = getattr(estimator, "input_shape_", None)
        shape = getattr(X, "shape", ())
        if sequence and not reset and fitted and len(shape) in (2, 3) and shape[1] != fitted[0]:
            raise ValueError(
                f"X has {shape[1]} timesteps, but {name} was fitted on sequences of "
                f"{fitted[0]} timesteps (X of shape (n_samples, {fitted[0]}, {fitted[-1]})). "
                "Pad or cut the sequences to that length, or fit again on the new length."
            )
        X = validate_data(estimator, X, reset=reset, dtype=[np.float64, np.float32],
                          accept_sparse=False if sequence else ["csr", "csc", "coo"],
                          allow_nd=sequence)
        if sequence:
            if X.ndim == 2:  # (n_samples, timesteps): one channel
                X = X[:, :, None]
            elif X.ndim != 3:
                raise ValueError(
                    f"{type(self).__name__} expects X of shape (n_samples, timesteps, "
                    f"channels) or (n_samples, timesteps); got {X.ndim} dimensions."
                )
            if 0 in X.shape[1:]:
                raise ValueError(
                    f"{type(self).__name__} needs at least one timestep and one channel; "
                    f"got X of shape {X.shape} ({X.shape[1]} timesteps, {X.shape[2]} "
                    "channels)."
                )
        check_float32_range(X)
        X = (X.toarray() if sp.issparse(X) else X).astype(np.float32)
        _set_input_shape(estimator, X, reset)
        return X


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

__all__ += ["TabularTrunk"]
