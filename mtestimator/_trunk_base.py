"""The trunks' shared base: BaseTrunk, dense X validation, and the checks of layer parameters.

Every trunk module builds on it (:mod:`mtestimator.trunks`, and the trunks
in their own modules), so none of them imports another.
"""

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import validate_data

from ._compat import validate_params
from .engine import imports

__all__ = ["ACTIVATIONS", "BaseTrunk", "check_float32_range", "check_initializer",
           "check_layer_sizes"]

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
    if values.size and max(values.max(), -values.min()) > _FLOAT32_MAX:  # no copy of X
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
        # float32 X is not copied (nothing downstream writes to it)
        X = (X.toarray() if sp.issparse(X) else X).astype(np.float32, copy=False)
        _set_input_shape(estimator, X, reset)
        return X
