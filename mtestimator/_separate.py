"""SeparateNetworks: the heads and trunk of MultiTaskEstimator, one network per head.

The "separate single-task models" side of every comparison: the same heads
and the same trunk as :class:`~mtestimator.MultiTaskEstimator`, but each head
gets a network of its own (a fresh copy of the trunk and that head's output
layer and loss), trained alone by a scikeras ``KerasRegressor`` (regression
heads) or ``KerasClassifier`` (classification and multi-label heads).

scikeras is imported only when a network is trained (or a fitted estimator
is unpickled), never by ``import mtestimator``: importing it patches
``keras.Model.__reduce__`` (and those of losses, metrics and optimizers) for
the whole process, which is how the scikeras trainers pickle.

The scikeras estimators are internal per-head trainers (scikeras 0.13
predates scikit-learn 1.6, so they are not offered as estimators of their
own). What each one does, and what it is given:

- it validates the data, builds the head's network (calling a builder that
  uses ``mtestimator._networks``, seeded from the estimator's seed without
  global state), compiles it with the optimizer and the head's loss and
  keeps the per-epoch history;
- it receives the targets already encoded by the head (``head.encode``;
  NaN where a masked head misses a label) and the head's row weights
  (class weights, 0 for a row without a label) times the sample weights;
  scikeras drops the rows of weight 0, so a head's network trains on the
  rows labelled for it. Its target encoder passes the targets through
  unchanged, and the network's raw output back unchanged, so the head's
  own ``decode`` and ``predict_proba`` are the only decoding: a separate
  network's predictions decode exactly like the joint network's;
- its Keras training call runs mtestimator's own training (the same two
  paths as MultiTaskEstimator: a cached compiled trainer without callbacks,
  Keras's ``model.fit`` with callbacks), so every head's network sees the
  same batches in the same order as the joint network with the same seed
  (on the same rows). scikeras's own ``model.fit`` call would shuffle with
  the global NumPy and TensorFlow random state, and its ``random_state``
  seeds those globally: neither is used.
"""

import copy
import functools
import threading
from collections import defaultdict

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import HasMethods

from ._base import BaseMultiTask
from ._estimator import MultiTaskEstimator
from ._persistence import register

__all__ = ["SeparateNetworks"]

_TRAINER_CLASSES = {}
_TRAINER_CLASSES_LOCK = threading.Lock()


# -- the per-head scikeras trainers (scikeras imported on first use) ---------------


def _build_head_network(*, name, units, activation, trunk, input_shape, input_dtype, seed):
    """One head's network: a fresh copy of the trunk and the head's Dense output.

    The model's output is a dict ``{name: tensor}``, as in the joint network,
    so prediction and training address it by the head's name.
    """
    from ._networks import OutputSpec, build_network
    from ._training import backend_module

    backend_module()  # its set-up (JAX: the persistent compilation cache) first
    model = build_network(input_shape, [OutputSpec(name, units, activation)], trunk.build,
                          seed=seed, input_dtype=input_dtype)
    model.name = f"{name}_network"
    return model


class _EncodedTargets(TransformerMixin, BaseEstimator):
    """scikeras target encoder of a per-head trainer: targets arrive encoded by
    the head and go to Keras unchanged; the network's raw output comes back
    unchanged (the head decodes it)."""

    def fit(self, y):
        self.n_outputs_expected_ = 1
        return self

    def transform(self, y):
        return y

    def inverse_transform(self, y, return_proba=False):
        if isinstance(y, dict):  # the network's {head name: output}
            (y,) = y.values()
        return np.asarray(y)

    def get_metadata(self):
        return {"n_outputs_expected_": 1}


def _optimizer_state(model):
    """The values of a compiled model's optimizer variables (None if never built)."""
    optimizer = model.optimizer
    if not optimizer.built:
        return None
    return [np.array(v.numpy()) for v in optimizer.variables]


def _set_optimizer_state(model, state):
    """Write ``state`` into the model's optimizer, building it first: a pickled
    trainer then holds the optimizer state its training reached."""
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    if state is not None and len(state) == len(optimizer.variables):
        for var, value in zip(optimizer.variables, state):
            var.assign(value)


class _HeadTrainer:
    """What a per-head trainer changes in scikeras's KerasRegressor/KerasClassifier.

    ``fit`` and ``partial_fit`` take, besides scikeras's arguments, ``seed``
    (the batch order), ``key`` (the compiled-trainer cache key), and
    optionally ``validation`` ``(X, {name: y}, {name: w})``, ``patience`` and
    ``callbacks``.
    """

    @property
    def target_encoder(self):
        return _EncodedTargets()

    def _validate_data(self, X=None, y=None, reset=False, y_numeric=False):
        # Encoded targets hold NaN where a masked head has a missing label (its loss
        # skips them); scikeras's checks would refuse them, so it checks a copy.
        if y is not None and np.asarray(y).dtype.kind == "f" and np.isnan(y).any():
            X, _ = super()._validate_data(X=X, y=np.nan_to_num(y), reset=reset,
                                          y_numeric=y_numeric)
            return X, y
        return super()._validate_data(X=X, y=y, reset=reset, y_numeric=y_numeric)

    def _make_trainer(self, trainer_class):
        """A compiled trainer for this head's architecture (see _training.fit_fast)."""
        from ._networks import variable_dropout_rates

        with variable_dropout_rates():
            model = self.model()
        return trainer_class(model, dict(self.loss),
                             self.optimizer(learning_rate=self.optimizer__learning_rate))

    def _fit_keras_model(self, X, y, sample_weight, warm_start, epochs, initial_epoch, *,
                         seed, key, validation=None, patience=None, callbacks=(),
                         general=False, **kwargs):
        from ._training import fit_fast, fit_general

        (name,) = self.model_.output_names
        Y = {name: y}
        W = {name: (np.ones(len(X), np.float32) if sample_weight is None
                    else np.asarray(sample_weight, np.float32))}
        batch_size = max(1, min(int(self.batch_size), len(X)))
        seed = seed + initial_epoch  # partial_fit continues: new shuffles
        if general:  # Keras's own fit (per-batch callbacks), on the network scikeras compiled
            history = fit_general(self.model_, X, Y, W, epochs=epochs, batch_size=batch_size,
                                  seed=seed, validation=validation, callbacks=callbacks,
                                  verbose=self.verbose)
        else:  # the compiled trainer; its optimizer state ends in the model's optimizer
            state = _optimizer_state(self.model_) if initial_epoch else None
            history, state = fit_fast(
                self.model_, key, self._make_trainer, X, Y, W, epochs=epochs,
                batch_size=batch_size, learning_rate=self.optimizer__learning_rate,
                seed=seed, validation=validation, patience=patience, optimizer_state=state,
                callbacks=callbacks, verbose=self.verbose, description=self.model_.name)
            _set_optimizer_state(self.model_, state)
        if not warm_start or not hasattr(self, "history_") or initial_epoch == 0:
            self.history_ = defaultdict(list)
        for key_ in ("loss", "val_loss"):  # one loss: the total is the head's loss
            if key_ in history:
                self.history_[key_] += [float(v) for v in history[key_]]


def _trainer_classes():
    """``{"_HeadRegressor": ..., "_HeadClassifier": ...}``, built once, on first use
    (one class object per process: pickle checks the identity)."""
    with _TRAINER_CLASSES_LOCK:
        if not _TRAINER_CLASSES:
            from scikeras.wrappers import KerasClassifier, KerasRegressor

            from . import _networks  # noqa: F401  (registers the custom losses: unpickling)

            for name, base in (("_HeadRegressor", KerasRegressor),
                               ("_HeadClassifier", KerasClassifier)):
                _TRAINER_CLASSES[name] = type(name, (_HeadTrainer, base), {
                    "__module__": __name__, "__qualname__": name,
                    "__doc__": f"One head's trainer: scikeras's {base.__name__} with the "
                               "changes of _HeadTrainer (internal to SeparateNetworks)."})
    return _TRAINER_CLASSES


def __getattr__(name):
    # pickle finds the trainer classes here without importing scikeras with the module
    if name in ("_HeadRegressor", "_HeadClassifier"):
        return _trainer_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- the estimator ------------------------------------------------------------------


@register
class SeparateNetworks(MultiTaskEstimator):
    """The heads and trunk of MultiTaskEstimator, one single-task network per head.

    Each head gets a network of its own: a fresh copy of the trunk's layers
    and that head's output layer, trained on that head's loss alone by a
    scikeras ``KerasRegressor`` (regression heads) or ``KerasClassifier``
    (classification and multi-label heads), for the same epochs, batch size
    and optimizer. It is the "separate single-task models" side of a
    comparison: give it the heads and trunk of a
    :class:`~mtestimator.MultiTaskEstimator` and ``cross_validate`` both on
    the same splits. Targets, predictions and scores are in the same layout
    as MultiTaskEstimator's, decoded by the same heads.

    It subclasses :class:`~mtestimator.MultiTaskEstimator` (itself a
    :class:`~mtestimator._base.BaseMultiTask`) to share its whole fit
    sequence (target splitting, zero-weight rows, head fitting and encoding,
    the early-stopping split, threshold tuning), its predictions and scores,
    and its ``heads__<name>__<param>`` / ``trunk__<param>`` parameters;
    ``loss_weights`` is left out, since no losses are summed.
    ``isinstance(est, MultiTaskEstimator)`` is therefore True; ``model_`` is
    None (there is no single network) and tells the two apart.

    Parameters
    ----------
    heads : list of (str, head) tuples
        The heads, named, as in MultiTaskEstimator. A head's
        ``loss_weight`` is not used: each network has one loss. Rows where a
        head has no label (missing labels: weight 0 for that head) are left
        out of that head's network's training.
    trunk : trunk, default=None
        The trunk copied into every network, from :mod:`mtestimator.trunks`;
        ``None`` means ``MLPTrunk()``. Text (string X) is not supported:
        scikeras takes numeric X only.
    optimizer : {"adam", "adamw", "nadam", "rmsprop", "sgd", "adagrad"}, default="adam"
    learning_rate : float, default=0.001
    epochs : int, default=100
    batch_size : int, default=32
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (the same
        split as MultiTaskEstimator's, stratified on the first
        classification head's labels when it can be); each network stops
        when its own validation loss has not improved for
        ``n_iter_no_change`` epochs and keeps its best weights.
    validation_fraction : float in (0, 1), default=0.1
    n_iter_no_change : int, default=10
    callbacks : list of keras.callbacks.Callback, default=None
        Keras callbacks, deep-copied for each head's network. Callbacks with epoch hooks
        only (``EarlyStopping``, ``ReduceLROnPlateau``, ``LearningRateScheduler``,
        ``History``, ``CSVLogger``, ``TerminateOnNaN``, ``ModelCheckpoint`` saving
        each epoch, your own ``on_epoch_*``/``on_train_*`` callbacks) run on the
        compiled fast path, after every epoch; one with a per-batch or
        evaluation hook (``on_*_batch_*``, ``on_test_*``: e.g. ``TensorBoard``,
        ``ProgbarLogger``) sends training through Keras's own ``model.fit`` (the
        same batches in the same order, slower).
    random_state : int, RandomState instance or None, default=None
        Seeds each network's weights and dropout (a different seed per
        head, derived from this one), the batch order (the same for every
        head, and the same as MultiTaskEstimator's with this seed) and the
        validation split. No global random state is read or changed.
    verbose : int, default=0
        0: silent; 1: a progress bar over epochs per head's network (tqdm,
        on stderr); 2: one line per epoch (stdout). Ctrl-C stops a fit
        within about a second, leaving the estimator as it was.

    Attributes
    ----------
    estimators_ : list of (str, estimator) tuples
        One fitted scikeras trainer per head, in head order: a
        ``KerasRegressor`` for a regression head, a ``KerasClassifier``
        otherwise. Each trainer's ``model_`` is that head's network (outputs
        ``{name: raw output}``), its ``history_`` has ``loss`` (and
        ``val_loss``). They are internal trainers: they take head-encoded
        targets and their ``predict`` returns raw network outputs; use this
        estimator's ``predict``, ``predict_head`` and ``predict_proba``.
    heads_ : list of (str, head) tuples
        The fitted clones of the heads.
    named_heads_ : dict of str to head
    trunk_ : trunk
        The trunk (a clone) of which every network has a copy.
    model_ : None
        There is no single network; each head's is
        ``estimators_[i][1].model_``.
    classes_ : ndarray
        With a single classification or multi-label head: its classes.
    history_ : dict of list of float
        Per-epoch ``<head>_loss`` (and ``val_<head>_loss`` with early
        stopping) of each head's network. There is no total ``loss``: no
        loss is shared. With early stopping the heads' lists may differ in
        length.
    n_iter_ : int
        Epochs run by the network that ran the most; each head's count is
        ``len(history_[f"{name}_loss"])``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has string column names.
    input_shape_ : tuple of int

    See Also
    --------
    MultiTaskEstimator : the same heads and trunk, one shared network.

    Notes
    -----
    Each scikeras trainer trains its network with mtestimator's own loop
    (the compiled trainer MultiTaskEstimator uses; Keras's ``model.fit``
    with callbacks), not scikeras's ``model.fit`` call, which shuffles with
    the global random state: fits are reproducible, and the fit times of
    the two estimators differ by the networks trained, not by the loop.

    scikeras is imported on the first fit (or unpickling), not with
    mtestimator; importing it replaces ``keras.Model.__reduce__`` and
    ``__deepcopy__`` for the whole process (its way of pickling models).

    ``save`` is not available: mtestimator's file format holds one network.
    Pickle or joblib keep a fitted SeparateNetworks (unpickling runs code
    chosen by whoever wrote the file: only load files you trust).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from mtestimator import SeparateNetworks
    >>> from mtestimator.heads import ClassificationHead, RegressionHead
    >>> from mtestimator.trunks import MLPTrunk
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(100, 4))
    >>> Y = pd.DataFrame({"size": X[:, 0] * 3 + 1, "kind": np.where(X[:, 3] > 0, "a", "b")})
    >>> est = SeparateNetworks(
    ...     heads=[("size", RegressionHead(columns="size")),
    ...            ("kind", ClassificationHead(columns="kind"))],
    ...     trunk=MLPTrunk(hidden_layer_sizes=(8,)), epochs=3, random_state=0)
    >>> est.fit(X, Y).predict(X[:2]).columns.tolist()
    ['size', 'kind']
    >>> from scikeras.wrappers import KerasClassifier, KerasRegressor
    >>> [(name, isinstance(trainer, KerasRegressor), isinstance(trainer, KerasClassifier))
    ...  for name, trainer in est.estimators_]
    [('size', True, False), ('kind', False, True)]
    >>> sorted(est.history_), est.n_iter_
    (['kind_loss', 'size_loss'], 3)
    """

    _parameter_constraints = {
        **BaseMultiTask._parameter_constraints,
        "heads": [list],
        "trunk": [HasMethods(["validate_X", "build"]), None],
    }

    def __init__(self, heads, *, trunk=None, optimizer="adam", learning_rate=0.001,
                 epochs=100, batch_size=32, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, callbacks=None, random_state=None, verbose=0):
        self.heads = heads
        self.trunk = trunk
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose

    def _uncertainty(self):
        return False

    # -- fitting: the base's sequence, one network per head ----------------------------

    def _has_network(self):
        return hasattr(self, "estimators_")

    def _snapshot(self):
        # every network's weights, optimizer and history, and the heads
        return ([(t.model_.get_weights(), _optimizer_state(t.model_),
                  copy.deepcopy(dict(t.history_))) for _, t in self.estimators_],
                copy.deepcopy(self.heads_))

    def _restore(self, saved):
        for (_, trainer), (weights, state, history) in zip(self.estimators_, saved[0]):
            trainer.model_.set_weights(weights)
            if state is not None:
                _set_optimizer_state(trainer.model_, state)
            trainer.history_ = defaultdict(list, history)
        self.heads_ = saved[1]

    def _network(self, heads, trunk):
        """No single network (``model_`` is None): each head's network is built by
        its scikeras trainer in ``_train``."""
        return None

    def _check_backend_input(self):
        if self._X_dtype == "string":
            raise ValueError(
                "SeparateNetworks trains each head through scikeras, which takes numeric "
                "X only; X holds strings (a text KerasTrunk). Vectorise the text before "
                "the estimator, or use MultiTaskEstimator."
            )

    def _head_trainer_key(self, name, head):
        """What makes two fits of one head's network able to share a compiled trainer."""
        loss = head.build_loss()
        return (type(self).__name__, name, self.trunk_.compile_key(), tuple(self.input_shape_),
                self._X_dtype, self.optimizer, type(head).__name__, head.output_units_,
                head.output_activation_,
                repr(loss if isinstance(loss, str) else loss.get_config()))

    def _make_trainers(self):
        """One unfitted scikeras trainer per head, its network seeded from ``_seed``."""
        from ._networks import OPTIMIZERS, _seed_stream

        classes = _trainer_classes()
        seeds = _seed_stream(self._seed)  # one seed per head's network
        trainers = []
        for name, head in self.heads_:
            builder = functools.partial(
                _build_head_network, name=name, units=head.output_units_,
                activation=head.output_activation_, trunk=self.trunk_,
                input_shape=tuple(self.input_shape_), input_dtype=self._X_dtype,
                seed=next(seeds))
            cls = classes["_HeadRegressor" if head.kind == "regressor" else "_HeadClassifier"]
            trainers.append((name, cls(
                model=builder, optimizer=OPTIMIZERS[self.optimizer],
                optimizer__learning_rate=float(self.learning_rate),
                loss={name: head.build_loss()}, epochs=self.epochs,
                batch_size=self.batch_size, verbose=self.verbose)))
        return trainers

    def _train(self, X, Y, W, validation, *, epochs, warm):
        from ._trainer import needs_batch_hooks
        from ._training import fresh_seed

        seed = self._seed if self._seed is not None else fresh_seed()
        if not warm:
            self.estimators_ = self._make_trainers()
        heads = dict(self.heads_)
        general = any(needs_batch_hooks(cb) for cb in self.callbacks or ())
        history = {}
        for name, trainer in self.estimators_:
            kwargs = {"seed": seed, "key": self._head_trainer_key(name, heads[name]),
                      "patience": self.n_iter_no_change}
            if validation is not None:
                Xv, Yv, Wv = validation
                kwargs["validation"] = (Xv, {name: Yv[name]}, {name: Wv[name]})
            if general:
                import keras

                # fresh copies per network; History last: the one fit returns
                kwargs["callbacks"] = [*self._fit_callbacks(validation is not None),
                                       keras.callbacks.History()]
                kwargs["general"] = True
            elif self.callbacks:  # epoch hooks only: the compiled trainer runs them
                kwargs["callbacks"] = [copy.deepcopy(cb) for cb in self.callbacks]
            if warm:
                trainer.partial_fit(X, Y[name], sample_weight=W[name], **kwargs)
            else:
                trainer.fit(X, Y[name], sample_weight=W[name], epochs=epochs, **kwargs)
            losses = np.asarray(trainer.history_["loss"], dtype=float)
            if not np.all(np.isfinite(losses)):
                raise FloatingPointError(
                    f"Training of head {name!r} of {type(self).__name__} diverged: its loss "
                    f"became {losses[~np.isfinite(losses)][0]} at epoch "
                    f"{int(np.argmin(np.isfinite(losses))) + 1}. The estimator was left as "
                    "it was before this fit. Lower 'learning_rate', scale the features "
                    "(e.g. StandardScaler in a Pipeline) or check the data for extreme "
                    "values."
                )
            history[f"{name}_loss"] = list(trainer.history_["loss"])
            if trainer.history_.get("val_loss"):
                history[f"val_{name}_loss"] = list(trainer.history_["val_loss"])
        self.history_ = history
        self.n_iter_ = max(len(history[f"{name}_loss"]) for name, _ in self.estimators_)
        self._dense_layers = self._numpy_network()

    # -- prediction -----------------------------------------------------------------

    def _numpy_network(self):
        """Each head's trained Dense network as NumPy arrays, or False."""
        from ._forward import extract_dense_layers

        return {name: extract_dense_layers(trainer.model_) or False
                for name, trainer in self.estimators_}

    def _raw(self, X_valid, names=None):
        """Raw outputs (a dict by head name) on validated X of the networks of the
        heads in ``names`` (all when None): the other networks are not run."""
        from ._training import predict_network

        if "_dense_layers" not in self.__dict__:  # e.g. unpickled
            self._dense_layers = self._numpy_network()
        return {name: predict_network(trainer.model_, X_valid, self._dense_layers[name])[name]
                for name, trainer in self.estimators_ if names is None or name in names}

    # -- persistence ---------------------------------------------------------------

    def save(self, path):
        """Not available: use pickle or joblib.

        mtestimator's file format (:func:`mtestimator.load`) holds one network;
        a SeparateNetworks has one per head.

        Raises
        ------
        ValueError
            Always.
        """
        raise ValueError(
            "SeparateNetworks cannot be saved with save(): mtestimator's file format "
            "holds one network, and SeparateNetworks has one per head. Use pickle or "
            "joblib (joblib.dump(est, path), joblib.load(path)); only load such files "
            "from sources you trust, since unpickling runs code."
        )

    def __getstate__(self):
        state = super().__getstate__()  # drops model_ (None here) and the NumPy copies
        if "model_" in self.__dict__:
            state["model_"] = None
        return state
