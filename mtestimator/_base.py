"""The base of every mtestimator estimator: the one module importing scikeras.

scikeras 0.13 (its last release) predates scikit-learn 1.6. What it gets
wrong there, and how this module repairs it (each repair pinned by a test in
``tests/test_base.py``):

==========================================  ==========================================
scikeras 0.13                               repair here
==========================================  ==========================================
tags through ``_more_tags``, which          ``__sklearn_tags__`` (estimator type,
scikit-learn >= 1.6 ignores: wrong tags,    multi-label / multi-output, sparse input)
``is_classifier`` false
mixins right of the base class              subclasses put ``ClassifierMixin`` first
(``KerasClassifier(BaseWrapper,
ClassifierMixin)``) so the mixin's tags
never apply
``get_params`` reads the instance           parameters come from the ``__init__``
``__dict__``; ``set_params`` stores any     signature as in scikit-learn; unknown
routed name silently, and ``clone`` of a    names raise
subclass loses or invents parameters
float64 X at predict after a float32 fit    X is always validated, then cast to
raises "casting ... is not safe"            float32 (Keras's floatx)
seeding sets Python, NumPy and TensorFlow   per-layer seeded initializers and a
global seeds and TF op determinism around   stateless per-epoch shuffle from the
every fit                                   seed: nothing global is read or written
a ``RandomState`` random_state always       one draw from a copy of it (the caller's
becomes seed 0 (``randint(low=1)``)         object is not advanced)
``model.predict`` per call (tens of ms)     NumPy inference from the weights
``model.fit`` per fit: per-step overhead,   one compiled training function per
a new traced graph (memory) every fit       architecture, cached (``_training``)
``Model.__reduce__`` pickles the compiled   estimators pickle architecture +
model (custom losses must serialize)        weights (``__getstate__``)
non-scikit-learn ``__repr__``               ``BaseEstimator.__repr__``
==========================================  ==========================================
"""

import numbers
import random

import keras
import numpy as np
import scipy.sparse as sp
from scikeras.wrappers import BaseWrapper
from sklearn.base import BaseEstimator, _fit_context
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data

from ._networks import ACTIVATIONS, OPTIMIZERS, TRUNKS, build_network, make_optimizer
from ._forward import extract_dense_layers
from ._training import fit_fast, fit_general, fresh_seed, predict_network

__all__ = ["MultiTaskWrapper"]


def _seed_from(random_state):
    """An int seed (or None) from an int, a RandomState or None."""
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    copy = np.random.RandomState()
    copy.set_state(random_state.get_state())
    return int(copy.randint(0, 2**31 - 1))


class MultiTaskWrapper(BaseWrapper):
    """Shared machinery: validation, network building, training, prediction.

    Subclasses define ``__init__`` (parameters only), ``_check_targets`` (y to
    an array, learning label names on ``reset``), ``_make_heads`` (the heads
    and the column of y each one takes), ``predict`` and ``score``.
    """

    # scikeras reads ``warm_start``; mtestimator estimators always fit anew.
    warm_start = False

    _parameter_constraints = {
        "trunk": [StrOptions(set(TRUNKS))],
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "kernel_initializer": [str],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "callbacks": [list, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # -- scikit-learn protocol (repairs of scikeras) -------------------------

    _get_param_names = classmethod(BaseEstimator._get_param_names.__func__)

    def set_params(self, **params):
        """Set the parameters of this estimator (scikit-learn semantics).

        Parameters
        ----------
        **params : dict
            Estimator parameters; routed names such as ``optimizer__beta_1``
            are not parameters here.

        Returns
        -------
        self : estimator instance
        """
        valid = self.get_params(deep=False)
        for key in params:
            if key.split("__", 1)[0] not in valid or (
                "__" in key and not hasattr(valid[key.split("__", 1)[0]], "set_params")
            ):
                raise ValueError(
                    f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {sorted(valid)!r}."
                )
        return BaseEstimator.set_params(self, **params)
    __repr__ = BaseEstimator.__repr__

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # -- parameters ----------------------------------------------------------

    def _hidden_layer_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(sizes)
        if not sizes or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
            for s in sizes
        ):
            raise ValueError(
                "The 'hidden_layer_sizes' parameter of "
                f"{type(self).__name__} must be a positive int or a non-empty "
                f"sequence of positive ints. Got {self.hidden_layer_sizes!r} instead."
            )
        return [int(s) for s in sizes]

    def _check_params(self):
        self._hidden_layer_sizes()
        state = random.getstate()  # Keras draws a default seed from it
        try:
            keras.initializers.get(self.kernel_initializer)
        except ValueError:
            raise ValueError(
                f"The 'kernel_initializer' parameter of {type(self).__name__} must "
                "be the name of a Keras initializer such as 'he_uniform' or "
                f"'glorot_uniform'. Got {self.kernel_initializer!r} instead."
            ) from None
        finally:
            random.setstate(state)

    # -- data ----------------------------------------------------------------

    def _validate_data(self, X=None, y=None, reset=False, y_numeric=False):
        if X is not None:
            X = self._validate_X(X, reset)
        if y is not None:
            y = self._check_targets(y, reset=reset)
            if X is not None:
                check_consistent_length(X, y)
        return X, y

    def _validate_X(self, X, reset):
        name = type(self).__name__
        sequence = self.trunk != "mlp"
        if not sequence and np.ndim(X) == 3:
            raise ValueError(
                f"Found array with dim 3, but {name} with trunk='mlp' expects 2-D X "
                "(n_samples, n_features). For sequences (n_samples, timesteps, "
                "channels) use trunk='lstm', 'gru' or 'conv1d'; or flatten the windows."
            )
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32],
                          accept_sparse=False if sequence else ["csr", "csc", "coo"],
                          allow_nd=sequence)
        if sequence:
            if X.ndim == 2:  # (n_samples, timesteps): one channel
                X = X[:, :, None]
            elif X.ndim != 3:
                raise ValueError(
                    f"trunk={self.trunk!r} expects X of shape (n_samples, timesteps, "
                    f"channels) or (n_samples, timesteps); got {X.ndim} dimensions."
                )
        X = (X.toarray() if sp.issparse(X) else X).astype(np.float32)
        if reset:
            self.input_shape_ = tuple(int(d) for d in X.shape[1:])
        elif tuple(X.shape[1:]) != tuple(self.input_shape_):
            raise ValueError(
                f"X has samples of shape {tuple(X.shape[1:])}, but {name} was fitted "
                f"on samples of shape {tuple(self.input_shape_)}."
            )
        return X

    @property
    def target_encoder(self):
        from ._heads import HeadsEncoder

        heads, columns = self._make_heads()
        return HeadsEncoder(heads, columns)

    # -- fitting -------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X`` and ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : see the class docstring
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the loss; zero-weight samples are dropped.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._check_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        previous = dict(self.__dict__)
        try:
            self._fit(X, y, sample_weight=sample_weight, warm_start=False,
                      epochs=self.epochs, initial_epoch=0)
        except BaseException:  # errors, divergence, KeyboardInterrupt: all or nothing
            self.__dict__.clear()
            self.__dict__.update(previous)
            raise
        return self

    def _initialize(self, X, y=None):
        self._seed = _seed_from(self.random_state)
        X, y = self._validate_data(X, y, reset=True)
        self.target_encoder_ = self.target_encoder.fit(y)
        vars(self).update(self.target_encoder_.get_metadata())
        self._after_targets()
        self.feature_encoder_ = self.feature_encoder.fit(X)
        self.model_ = self._build_keras_model()
        self._initialize_callbacks()
        return X, y

    def _after_targets(self):
        """Hook run once the heads have seen y, before the network is built."""

    def _loss_weights(self):
        """Static weight of each head's loss (dict by head name) or None."""
        return None

    def _adapt_network(self, model, losses):
        """Hook: change the network and its losses before compiling (see
        ``_network_variant``)."""
        return model, losses

    def _network_parts(self):
        """A fresh network, its losses and loss weights (uncompiled)."""
        heads = self.target_encoder_.heads
        model = build_network(
            self.input_shape_,
            [h.output_spec for h in heads],
            hidden_layer_sizes=self._hidden_layer_sizes(),
            activation=self.activation,
            kernel_initializer=self.kernel_initializer,
            dropout=self.dropout,
            seed=self._seed,
            trunk=self.trunk,
        )
        model, losses = self._adapt_network(model, {h.name: h.loss for h in heads})
        return model, losses, self._loss_weights()

    def _build_keras_model(self):
        model, losses, loss_weights = self._network_parts()
        model.compile(optimizer=make_optimizer(self.optimizer, self.learning_rate),
                      loss=losses, loss_weights=loss_weights)
        return model

    def _trainer_key(self):
        """What makes two fits able to share one compiled trainer."""
        heads = self.target_encoder_.heads
        return (
            type(self).__name__, self.trunk, tuple(self.input_shape_),
            tuple(self._hidden_layer_sizes()),
            self.activation, float(self.dropout), self.optimizer,
            tuple((h.name, h.output_spec.units, h.output_spec.activation,
                   h.loss if isinstance(h.loss, str) else repr(h.loss.get_config()))
                  for h in heads),
            repr(self._loss_weights()), self._network_variant(),
        )

    def _network_variant(self):
        """Hook: names a change ``_adapt_network`` makes, for the trainer key."""
        return None

    def _make_trainer(self, trainer_class):
        model, losses, loss_weights = self._network_parts()
        return trainer_class(model, losses, loss_weights,
                             make_optimizer(self.optimizer, self.learning_rate))

    # -- persistence ---------------------------------------------------------

    def save(self, path):
        """Save the fitted estimator to one file, safely loadable with
        :func:`mtestimator.load` (Keras format + JSON; no pickle).

        Parameters
        ----------
        path : str or path-like
            The file to write. Keras ``callbacks`` are not saved.
        """
        from ._persistence import save

        save(self, path)

    def __getstate__(self):
        # The network travels as architecture + weights: no compiled losses,
        # optimizer state or callbacks (which hold a model of their own).
        state = dict(super().__getstate__())
        for key in ("_fit_callbacks", "_predict_callbacks", "_dense_layers"):
            state.pop(key, None)
        model = state.pop("model_", None)
        if model is not None:
            config = keras.saving.serialize_keras_object(model)
            config.pop("compile_config", None)
            state["_network"] = (config, [np.asarray(w) for w in model.get_weights()])
        return state

    def __setstate__(self, state):
        network = state.pop("_network", None)
        super().__setstate__(state)
        if network is not None:
            self.model_ = keras.saving.deserialize_keras_object(network[0])
            self.model_.set_weights(network[1])

    def _inner_split(self, X, y, sample_weight):
        """Carve the early-stopping validation set out of the training data."""
        n = len(X)
        stratify = self.target_encoder_.stratify(y)
        if stratify is not None and np.min(np.unique(stratify, return_counts=True)[1]) < 2:
            stratify = None  # a class with one member cannot be split
        train, val = train_test_split(np.arange(n), test_size=self.validation_fraction,
                                      random_state=self._seed, stratify=stratify)
        if len(train) == 0 or len(val) == 0:
            raise ValueError(
                f"early_stopping=True needs a validation set, but "
                f"validation_fraction={self.validation_fraction} of {n} samples "
                "leaves an empty training or validation set. Use more samples, "
                "another validation_fraction, or early_stopping=False."
            )

        def take(idx):
            return X[idx], {k: v[idx] for k, v in y.items()}, sample_weight[idx]

        return take(train), take(val)

    def _fit_keras_model(self, X, y, sample_weight, warm_start, epochs, initial_epoch,
                         **kwargs):
        W = (np.ones(len(X), np.float32) if sample_weight is None
             else np.asarray(sample_weight, np.float32))
        validation = None
        if self.early_stopping:
            (X, y, W), validation = self._inner_split(X, y, W)
        seed = self._seed if self._seed is not None else fresh_seed()
        # partial_fit continues the epoch numbering, so its shuffles are new
        seed = seed + initial_epoch
        common = {"epochs": epochs, "batch_size": max(1, min(int(self.batch_size), len(X))),
                  "seed": seed}
        if self._fit_callbacks:  # general path: Keras's own fit, any callbacks
            callbacks = [*self._fit_callbacks, keras.callbacks.TerminateOnNaN()]
            if validation is not None:
                callbacks.append(keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=self.n_iter_no_change,
                    restore_best_weights=True))
            history = fit_general(self.model_, X, y, W, validation=validation,
                                  callbacks=callbacks, verbose=self.verbose, **common)
        else:
            history = fit_fast(self.model_, self._trainer_key(), self._make_trainer, X, y, W,
                               learning_rate=self.learning_rate, validation=validation,
                               patience=self.n_iter_no_change, **common)
        losses = np.asarray(history["loss"], dtype=float)
        if not np.all(np.isfinite(losses)):
            raise FloatingPointError(
                f"Training of {type(self).__name__} diverged: the loss became "
                f"{losses[~np.isfinite(losses)][0]} at epoch "
                f"{int(np.argmin(np.isfinite(losses))) + 1}. The estimator was left "
                "as it was before this fit. Lower 'learning_rate', scale the features (e.g. "
                "StandardScaler in a Pipeline) or check the data for extreme values."
            )
        history = {k: [float(v) for v in vals] for k, vals in history.items()}
        if initial_epoch > 0 and hasattr(self, "history_"):  # partial_fit: one more epoch
            history = {k: self.history_.get(k, []) + v for k, v in history.items()}
        self.history_ = history
        self.n_iter_ = len(history["loss"])
        self._dense_layers = self._numpy_network()
        self._after_fit(X, y, validation)

    def _numpy_network(self):
        """The trained Dense network as NumPy arrays, or False (other trunks:
        prediction then calls the Keras model)."""
        return extract_dense_layers(self.model_) or False

    def _after_fit(self, X, y, validation):
        """Hook run after training (e.g. threshold tuning)."""

    # -- prediction ----------------------------------------------------------

    def _predict_raw(self, X, **kwargs):
        check_is_fitted(self, "model_")
        X, _ = self._validate_data(X, reset=False)
        if "_dense_layers" not in self.__dict__:  # e.g. unpickled or loaded
            self._dense_layers = self._numpy_network()
        return predict_network(self.model_, X, self._dense_layers)
