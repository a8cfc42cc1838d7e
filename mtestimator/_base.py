"""The fit sequence of every mtestimator estimator, top to bottom.

:class:`BaseMultiTask` is a plain scikit-learn ``BaseEstimator``: no
scikeras class, no Keras import until a network is built. A subclass says
which heads and which trunk (``_make_heads``, ``_make_trunk``); everything
else is here, in the order ``fit`` runs it:

1. parameters: fresh clones of the heads and the trunk, their parameters
   checked;
2. X through the trunk's validation; y split between the heads by their
   ``columns``;
3. zero-weight rows dropped, before anything is learned from the targets;
4. each head fitted on what remains (classes, scaling, label weights) and its
   targets encoded;
5. the network built from the trunk and one output layer per head (or, for
   ``partial_fit``, the fitted one continued);
6. training: a cached compiled trainer run in chunks of epochs (progress,
   Ctrl-C and callbacks with epoch hooks between chunks), or Keras's own
   ``model.fit`` for callbacks with per-batch hooks; the same batches in the
   same order either way;
7. heads tuned after training (thresholds), on the early-stopping
   validation split or the training data.

``fit`` and ``partial_fit`` are all-or-nothing: on any exception,
KeyboardInterrupt included, the estimator is left as it was.
"""

import copy
import numbers

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import train_test_split
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils._tags import ClassifierTags, RegressorTags
from sklearn.utils.validation import _check_sample_weight, check_consistent_length, \
    check_is_fitted

from .heads import _missing_mask

__all__ = ["BaseMultiTask", "OPTIMIZER_NAMES"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)

#: Optimizers by name (``mtestimator._networks.OPTIMIZERS`` holds the classes).
OPTIMIZER_NAMES = ("adam", "adamw", "nadam", "rmsprop", "sgd", "adagrad")


def _seed_from(random_state):
    """An int seed (or None) from an int, a RandomState or None."""
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    copy_ = np.random.RandomState()
    copy_.set_state(random_state.get_state())
    return int(copy_.randint(0, 2**31 - 1))


def _is_frame(y):
    return isinstance(y, pd.DataFrame)


def fresh_seed():
    """A new seed from the operating system, touching no global RNG state."""
    import secrets

    return secrets.randbits(31)


def _loss_key(loss):
    """A loss (a Keras name or a configured Loss object) as a cache-key string."""
    return repr(loss if isinstance(loss, str) else loss.get_config())


def _comparable(params):
    """Parameters with NaN made comparable (NaN != NaN, even after a pickle)."""
    return {k: "nan" if isinstance(v, float) and np.isnan(v) else v
            for k, v in params.items()}


class BaseMultiTask(BaseEstimator):
    """Shared machinery of the estimators: the fit sequence and prediction.

    Subclasses define ``__init__`` (parameters only), ``_make_heads``
    (``[(name, unfitted head), ...]``) and ``_make_trunk`` (an unfitted
    trunk); optionally ``_check_y`` (a preset's own checks of y's layout),
    ``_uncertainty`` (learned loss weights) and ``_after_fit``.
    """

    _parameter_constraints = {
        "optimizer": [StrOptions(set(OPTIMIZER_NAMES))],
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

    #: predict returns a DataFrame when y was one (presets keep arrays).
    _frame_output = True

    # -- what a subclass says ---------------------------------------------------

    def _make_heads(self):
        raise NotImplementedError

    def _make_trunk(self):
        raise NotImplementedError

    def _check_y(self, y, reset):
        """Hook: a preset's own checks of y's layout; returns y."""
        return y

    def _uncertainty(self):
        """Hook: learn the loss weights by homoscedastic uncertainty."""
        return False

    def _after_fit(self):
        """Hook: attributes a preset derives from the fitted heads."""

    def _head_kinds(self):
        """The kinds of the heads as given in the parameters (for tags)."""
        return [head.kind for _, head in self._make_heads()]

    # -- scikit-learn protocol ----------------------------------------------------

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        try:
            kinds = self._head_kinds()
            sparse = type(self._make_trunk()).__name__ == "MLPTrunk"
        except Exception:  # invalid parameters: plain tags; fit says what is wrong
            kinds, sparse = [], False
        tags.input_tags.sparse = sparse
        if kinds == ["classifier"]:
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags()
        elif kinds == ["multilabel"]:
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags(multi_label=True)
            tags.target_tags.multi_output = True
            tags.target_tags.single_output = False
        elif kinds == ["regressor"]:
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
            tags.target_tags.multi_output = True
        else:
            tags.target_tags.multi_output = True
            tags.target_tags.single_output = False
        return tags

    def set_params(self, **params):
        """Set the parameters of this estimator (scikit-learn semantics).

        Parameters
        ----------
        **params : dict
            Estimator parameters; ``<param>__<sub>`` reaches a parameter
            that is itself an estimator (a trunk, a head).

        Returns
        -------
        self : estimator instance
        """
        valid = self.get_params(deep=False)
        for key in params:
            name = key.split("__", 1)[0]
            if name not in valid or ("__" in key and not hasattr(valid[name], "set_params")):
                raise ValueError(
                    f"Invalid parameter {key!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {sorted(valid)!r}."
                )
        return super().set_params(**params)

    # -- parameters -----------------------------------------------------------------

    def _parts(self):
        """Fresh clones of the heads (named) and the trunk, parameters checked."""
        owner = type(self).__name__
        heads = self._make_heads()
        seen = set()
        for name, head in heads:
            if not isinstance(name, str) or not name or "__" in name or "/" in name \
                    or name in seen:
                raise ValueError(
                    f"The head names of {owner} must be distinct non-empty strings "
                    f"without '__' or '/'; got {name!r}."
                )
            seen.add(name)
            head._validate_params()
            head.name_ = name
        if not heads:
            raise ValueError(f"{owner} needs at least one head; got none.")
        trunk = self._make_trunk()
        trunk.check(owner)
        return heads, trunk

    # -- targets --------------------------------------------------------------------

    def _split_targets(self, y, heads, reset):
        """Each head's part of y (a dict by head name); learns the layout on reset."""
        owner = type(self).__name__
        if len(heads) == 1 and heads[0][1].columns is None:
            if reset:
                self._target_layout = None
                self._target_frame_columns = (list(y.columns) if _is_frame(y) else None)
            return {heads[0][0]: y}
        for name, head in heads:
            if head.columns is None:
                raise ValueError(
                    f"Head {name!r} of {owner} has columns=None (the whole y), which "
                    "only a single head may have; give each head its columns."
                )
        frame = _is_frame(y)
        if not frame:
            y = y.toarray() if sp.issparse(y) else np.asarray(y)
            if y.ndim != 2:
                raise ValueError(
                    f"y must be a 2-D array or a DataFrame with the columns of the heads "
                    f"of {owner}; got an array of shape {y.shape}."
                )
        available = list(y.columns) if frame else list(range(y.shape[1]))
        parts, used = {}, {}
        for name, head in heads:
            cols = head.columns if isinstance(head.columns, (list, tuple)) else [head.columns]
            keys = []
            for col in cols:
                if isinstance(col, str) and not frame:
                    raise ValueError(
                        f"Head {name!r} names the column {col!r}, but y is not a "
                        "DataFrame: pass y as a DataFrame, or give columns as positions."
                    )
                key = available[col] if isinstance(col, numbers.Integral) and \
                    not isinstance(col, bool) and -len(available) <= col < len(available) \
                    else col
                if key not in available:
                    raise ValueError(
                        f"Head {name!r} takes column {col!r}, which y does not have; y's "
                        f"columns are {available!r}."
                    )
                if key in used:
                    raise ValueError(
                        f"Column {key!r} of y is taken by heads {used[key]!r} and {name!r}; "
                        "give each head its own column (copy the column to use it twice)."
                    )
                used[key] = name
                keys.append(key)
            single = not isinstance(head.columns, (list, tuple))
            if frame:
                parts[name] = y[keys[0]] if single else y[keys]
            else:
                parts[name] = y[:, keys[0]] if single else y[:, keys]
        if reset:
            if not frame and len(used) < len(available):
                unused = [c for c in available if c not in used]
                raise ValueError(
                    f"Columns {unused!r} of y are taken by no head of {owner}; drop them "
                    "or add a head for them."
                )
            self._target_layout = [(c, used[c]) for c in available if c in used]
            self._target_frame_columns = list(y.columns) if frame else None
        return parts

    def _conditions(self, parts, heads, reset):
        """For each conditional head, the rows whose true condition class holds."""
        named = dict(heads)
        active = {}
        for name, head in heads:
            if head.when is None:
                continue
            when = head.when
            if not (len(when) == 2 and np.ndim(when[1]) == 1 and not isinstance(when[1], str)):
                raise ValueError(
                    f"The 'when' parameter of head {name!r} must be (column, list of "
                    f"values), e.g. ('status', ['paid']); got {when!r}."
                )
            owner = next((n for n, h in heads if h.kind == "classifier" and h is not head
                          and h.columns == when[0] and h.when is None), None)
            if owner is None:
                raise ValueError(
                    f"Head {name!r} has when={when!r}, but no unconditional "
                    f"ClassificationHead of {type(self).__name__} takes column {when[0]!r}: "
                    "the condition is predicted by such a head. Add one."
                )
            labels = named[owner].transform_targets(parts[owner])
            active[name] = np.isin(labels, list(when[1])) & ~_missing_mask(np.asarray(labels))
            if reset:
                head.condition_head_ = owner
        return active

    def _decode_all(self, raw, names=None):
        """Decoded predictions by head name; conditional heads get ``otherwise``
        where their predicted condition class does not hold."""
        heads = dict(self.heads_)
        names = list(heads) if names is None else names
        wanted = set(names) | {heads[n].condition_head_ for n in names
                               if heads[n].when is not None}
        out = {n: heads[n].decode(raw[n]) for n in heads if n in wanted}
        for n in names:
            if heads[n].when is not None:
                out[n] = heads[n].apply_condition(out[n], out[heads[n].condition_head_])
        return {n: out[n] for n in names}

    def _natural_targets(self, y, heads, reset=False):
        y = self._check_y(y, reset=reset)
        parts = self._split_targets(y, heads, reset=reset)
        return {name: head.transform_targets(parts[name]) for name, head in heads}

    # -- fitting ----------------------------------------------------------------

    def fit(self, X, y, sample_weight=None):
        """Fit the network to ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            What the trunk takes: 2-D features for an MLP trunk (sparse
            allowed), ``(n_samples, timesteps, channels)`` for sequence
            trunks, anything a :class:`~mtestimator.trunks.KerasTrunk` takes.
        y : array-like, DataFrame or list of label collections
            The targets; each head takes its ``columns``.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in every head's loss. Zero-weight samples
            are dropped before anything is learned from the targets.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One more epoch on ``X`` and ``y``, keeping the optimizer state.

        Like scikit-learn's MLP: the first call (on an unfitted estimator)
        initialises the network and trains one epoch; later calls continue
        it. The targets must hold no class or label unseen by the first
        call. Between calls, ``learning_rate``, ``epochs`` and ``callbacks``
        may change and apply; the heads, the trunk, the optimizer and
        ``loss_weights="auto"`` may not (a ValueError says to call ``fit``).
        A call that fails (divergence, Ctrl-C) leaves the estimator, its
        weights and optimizer state as they were.

        Parameters
        ----------
        X, y, sample_weight
            As in :meth:`fit`.
        classes : array-like or dict, default=None
            On the first call, every class of the classification head (a dict
            ``{head name: classes}`` with several heads), as in scikit-learn's
            ``partial_fit``; later calls ignore it.

        Returns
        -------
        self : object
        """
        return self._fit(X, y, sample_weight, partial=True, classes=classes)

    def _fit(self, X, y, sample_weight, *, partial, classes=None):
        self._validate_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        warm = partial and self._has_network()
        previous = dict(self.__dict__)
        saved = self._snapshot() if warm else None
        try:
            self._fit_sequence(X, y, sample_weight, warm=warm, partial=partial,
                               classes=classes)
        except BaseException:  # errors, divergence, KeyboardInterrupt: all or nothing
            self.__dict__.clear()
            self.__dict__.update(previous)
            if saved is not None:
                self._restore(saved)
            raise
        return self

    def _has_network(self):
        """Whether a network was fitted (what partial_fit continues)."""
        return hasattr(self, "model_")

    def _snapshot(self):
        """The fitted state a failed partial_fit changes in place: the network's
        weights, its compiled optimizer's state (callbacks path) and the heads."""
        optimizer = getattr(self.model_, "optimizer", None)
        return (self.model_.get_weights(), copy.deepcopy(self.heads_),
                [np.array(v.numpy()) for v in optimizer.variables]
                if optimizer is not None and optimizer.built else None)

    def _restore(self, saved):
        weights, heads, optimizer_state = saved
        self.model_.set_weights(weights)
        self.heads_ = heads
        if optimizer_state is not None:
            for var, value in zip(self.model_.optimizer.variables, optimizer_state):
                var.assign(value)

    def _fit_sequence(self, X, y, sample_weight, *, warm, partial, classes=None):
        # 1. parameters
        heads, trunk = self._parts()
        if warm:
            self._check_unchanged(heads, trunk)
            heads, trunk = self.heads_, self.trunk_
        else:
            self._seed = _seed_from(self.random_state)
            # unseeded: a fresh seed from the OS (Keras would draw from `random`)
            self._fit_seed = self._seed if self._seed is not None else fresh_seed()
        # 2. X through the trunk; y split between the heads
        X = trunk.validate_X(self, X, reset=not warm)
        y = self._check_y(y, reset=not warm)
        check_consistent_length(X, y)
        # 3. zero-weight rows dropped
        w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        if np.any(w > _FLOAT32_MAX):
            raise ValueError(
                f"sample_weight holds {float(w.max())!r}, beyond float32's range "
                f"({_FLOAT32_MAX:.3g}) in which the network trains; rescale the weights."
            )
        if not np.any(w > 0):
            raise ValueError("Sample weights must contain at least one non-zero number.")
        rows = np.arange(len(w))  # positions in the caller's data, for messages
        if not np.all(w > 0):
            rows = np.flatnonzero(w > 0)
            X, y, w = X[rows], _safe_indexing(y, rows), w[rows]
        parts = self._split_targets(y, heads, reset=not warm)
        active = self._conditions(parts, heads, reset=not warm)
        # 4. heads fitted on what remains (a conditional head: on its rows),
        #    targets encoded; a missing target weighs 0 in its head's loss
        natural, Y, W = {}, {}, {}
        labelled = np.zeros(len(X), bool)
        for name, head in heads:
            on = active.get(name)
            if not warm:
                part = parts[name] if on is None else _safe_indexing(parts[name],
                                                                     np.flatnonzero(on))
                given = classes.get(name) if isinstance(classes, dict) else classes
                fit_kw = {"classes": given} if given is not None and \
                    head.kind == "classifier" else {}
                head.fit(part, sample_weight=w if on is None else w[on], **fit_kw)
            natural[name] = head.transform_targets(parts[name])
            Y[name], row_weight = head.encode(natural[name])
            if on is not None:
                row_weight = row_weight * on
            has = row_weight > 0
            labelled |= has
            # normalised over the labelled rows: the loss's scale does not
            # depend on how many rows lack this head's targets
            scale = w.sum() / max(w[has].sum(), np.finfo(np.float64).tiny)
            W[name] = (w * row_weight * scale).astype(np.float32)
        if not labelled.all():
            bad = rows[~labelled]
            raise ValueError(
                f"{len(bad)} row(s) of y have no target for any head of "
                f"{type(self).__name__} (rows {bad[:10].tolist()}"
                f"{' ...' if len(bad) > 10 else ''}): every row needs at least one label. "
                "Drop them, or give them a target."
            )
        if not warm:
            weights = [h.loss_weight for _, h in heads]
            if not self._uncertainty() and not sum(weights) > 0:
                raise ValueError(
                    f"The loss weights of the heads of {type(self).__name__} are all zero "
                    f"({weights}); at least one head must have a positive loss_weight."
                )
            self.heads_, self.trunk_ = heads, trunk
            self._fitted_with = self._fit_settings()
            self._X_dtype = "string" if X.dtype.kind == "U" else "float32"
            # 5. the network
            self.model_ = self._network(heads, trunk)
            self._optimizer_state = None
        self._check_backend_input()
        # 6. training
        validation, split_natural = None, natural
        if self.early_stopping:
            (X, Y, W, natural), (Xv, Yv, Wv, natural_v) = self._inner_split(X, Y, W, natural)
            validation, split_natural = (Xv, Yv, Wv), natural_v
        epochs = 1 if partial else self.epochs
        self._train(X, Y, W, validation, epochs=epochs, warm=warm)
        # 7. heads tuned after training
        X_tune = X if validation is None else validation[0]
        tuned_on = natural if validation is None else split_natural
        raw = self._raw(X_tune)
        for name, head in heads:
            head.tune(tuned_on[name], raw[name])
        if len(heads) == 1 and hasattr(heads[0][1], "classes_"):
            self.classes_ = heads[0][1].classes_
        self._after_fit()

    def _check_unchanged(self, heads, trunk):
        fitted = [(n, type(h), _comparable(h.get_params())) for n, h in self.heads_]
        wanted = [(n, type(h), _comparable(h.get_params())) for n, h in heads]
        if fitted != wanted or type(trunk) is not type(self.trunk_) or \
                trunk.cache_key() != self.trunk_.cache_key():
            raise ValueError(
                f"The heads or the trunk of {type(self).__name__} changed since it was "
                "fitted (set_params); partial_fit cannot change the network. Call fit."
            )
        fitted_with = getattr(self, "_fitted_with", None)
        if fitted_with is not None and fitted_with != self._fit_settings():
            raise ValueError(
                f"The optimizer or the loss weighting of {type(self).__name__} changed "
                f"since it was fitted ({fitted_with} -> {self._fit_settings()}); "
                "partial_fit continues the same optimizer and network. Call fit."
            )

    def _fit_settings(self):
        """What partial_fit cannot change besides the network's layers."""
        return {"optimizer": self.optimizer, "uncertainty": bool(self._uncertainty())}

    def _check_backend_input(self):
        if self._X_dtype == "string":
            import keras

            if keras.backend.backend() != "tensorflow":
                raise ValueError(
                    "String input (a text KerasTrunk) trains on the TensorFlow backend "
                    f"only; the Keras backend is {keras.backend.backend()!r}. Set "
                    "KERAS_BACKEND=tensorflow, or vectorise the text before the estimator."
                )

    def _network(self, heads, trunk):
        """A fresh network: the trunk and one named Dense output per head (each
        through its learned loss weight with ``_uncertainty()``)."""
        from ._networks import OutputSpec, add_uncertainty_weights, build_network
        from ._training import backend_module

        backend_module()  # its set-up (JAX: the persistent compilation cache) first
        specs = [OutputSpec(name, head.output_units_, head.output_activation_)
                 for name, head in heads]
        model = build_network(self.input_shape_, specs, trunk.build,
                              seed=getattr(self, "_fit_seed", self._seed),
                              input_dtype=self._X_dtype)
        if self._uncertainty():
            model = add_uncertainty_weights(model)[0]
        return model

    def _losses(self, model):
        """The losses of ``model``'s heads and their static weights (or None)."""
        from ._networks import UncertaintyWeightedLoss

        losses = {name: head.build_loss() for name, head in self.heads_}
        if not self._uncertainty():
            return losses, self._loss_weights()
        return {name: UncertaintyWeightedLoss(loss, model.get_layer(f"{name}_uncertainty"),
                                              name=f"{name}_loss")
                for name, loss in losses.items()}, None

    def _loss_weights(self):
        """Each head's static weight in the total loss; None with learned weights."""
        if self._uncertainty():
            return None
        return {name: float(h.loss_weight) for name, h in self.heads_}

    def _trainer_key(self):
        """What makes two fits able to share one compiled trainer. Values the
        trainer takes at each fit (learning rate, loss weights, dropout rates,
        batch size, epochs) are not in it."""
        return (
            type(self).__name__, self.trunk_.compile_key(), tuple(self.input_shape_),
            self._X_dtype, self.optimizer, self._uncertainty(),
            tuple((name, type(h).__name__, h.output_units_, h.output_activation_,
                   _loss_key(h.build_loss())) for name, h in self.heads_),
        )

    def _make_trainer(self, trainer_class):
        from ._networks import make_optimizer, variable_dropout_rates

        with variable_dropout_rates():
            model = self._network(self.heads_, self.trunk_)
        return trainer_class(model, self._losses(model)[0],
                             make_optimizer(self.optimizer, self.learning_rate))

    def _inner_split(self, X, Y, W, natural):
        """Carve the early-stopping validation set out of the training data."""
        n = len(X)
        stratify = next((s for s in (h.stratify(natural[name]) for name, h in self.heads_)
                         if s is not None), None)
        if stratify is not None and np.min(np.unique(stratify, return_counts=True)[1]) < 2:
            stratify = None  # a class with one member cannot be split
        try:
            train, val = train_test_split(np.arange(n), test_size=self.validation_fraction,
                                          random_state=self._fit_seed, stratify=stratify)
        except ValueError:
            train, val = [], []
        if len(train) == 0 or len(val) == 0:
            raise ValueError(
                f"early_stopping=True needs a validation set, but "
                f"validation_fraction={self.validation_fraction} of {n} samples "
                "leaves an empty training or validation set. Use more samples, "
                "another validation_fraction, or early_stopping=False."
            )

        def take(idx):
            return (X[idx], {k: v[idx] for k, v in Y.items()},
                    {k: v[idx] for k, v in W.items()},
                    {k: v[idx] for k, v in natural.items()})

        return take(train), take(val)

    def _train(self, X, Y, W, validation, *, epochs, warm):
        from ._trainer import needs_batch_hooks
        from ._training import fit_fast, fit_general, jit_compile

        seed = getattr(self, "_fit_seed", None)  # None after load: a fresh seed
        if seed is None:
            seed = self._seed if self._seed is not None else fresh_seed()
        initial_epoch = self.n_iter_ if warm else 0
        seed = seed + initial_epoch  # partial_fit continues: new shuffles
        common = {"epochs": epochs, "batch_size": max(1, min(int(self.batch_size), len(X))),
                  "seed": seed}
        if any(needs_batch_hooks(cb) for cb in self.callbacks or ()):
            # general path: Keras's own fit, for callbacks with per-batch hooks
            from ._networks import make_optimizer

            if not warm or not getattr(self.model_, "compiled", False):
                losses, loss_weights = self._losses(self.model_)
                self.model_.compile(
                    optimizer=make_optimizer(self.optimizer, self.learning_rate),
                    loss=losses, loss_weights=loss_weights,
                    jit_compile=jit_compile(self.model_, X))
            else:  # partial_fit continues the compiled optimizer, at today's rate
                self.model_.optimizer.learning_rate = self.learning_rate
            history = fit_general(self.model_, X, Y, W, validation=validation,
                                  callbacks=self._fit_callbacks(validation is not None),
                                  verbose=self.verbose, **common)
        else:
            history, self._optimizer_state = fit_fast(
                self.model_, self._trainer_key(), self._make_trainer, X, Y, W,
                learning_rate=self.learning_rate, loss_weights=self._loss_weights(),
                validation=validation, patience=self.n_iter_no_change,
                optimizer_state=getattr(self, "_optimizer_state", None) if warm else None,
                callbacks=[copy.deepcopy(cb) for cb in self.callbacks or ()], verbose=self.verbose,
                description=type(self).__name__, **common)
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
        if warm:
            history = {k: self.history_.get(k, []) + v for k, v in history.items()}
        self.history_ = history
        self.n_iter_ = len(history["loss"])
        self._dense_layers = self._numpy_network()

    def _fit_callbacks(self, early_stopping):
        """The callbacks of one Keras ``model.fit`` (the general path): deep copies of the parameter's (which so
        never hold a fit's state, an open CSVLogger file or a model, and the
        estimator still clones, pickles and cross-validates after fitting),
        TerminateOnNaN, and early stopping on the validation loss."""
        import keras

        callbacks = [*(copy.deepcopy(cb) for cb in self.callbacks or ()),
                     keras.callbacks.TerminateOnNaN()]
        if early_stopping:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=self.n_iter_no_change,
                restore_best_weights=True))
        return callbacks

    def _numpy_network(self):
        """The trained Dense network as NumPy arrays, or False (other trunks:
        prediction then calls the Keras model)."""
        from ._forward import extract_dense_layers

        return extract_dense_layers(self.model_) or False

    # -- prediction ---------------------------------------------------------------

    def _raw(self, X_valid, names=None):
        """Raw network outputs (a dict by head name) on validated X; only the
        heads in ``names`` (and the trunk) are computed for a Dense network."""
        from ._training import predict_network

        if "_dense_layers" not in self.__dict__:  # e.g. unpickled or loaded
            self._dense_layers = self._numpy_network()
        return predict_network(self.model_, X_valid, self._dense_layers, names)

    def _predict_raw(self, X, names=None):
        check_is_fitted(self, "model_")
        return self._raw(self.trunk_.validate_X(self, X, reset=False), names)

    def _head(self, name):
        check_is_fitted(self, "model_")
        heads = dict(self.heads_)
        if name not in heads:
            raise ValueError(f"{type(self).__name__} has no head {name!r}; its heads are "
                             f"{list(heads)!r}.")
        return heads[name]

    def _index(self, X):
        return X.index if isinstance(X, pd.DataFrame) else None

    def _assemble(self, predictions, X):
        """Head predictions in the layout of y."""
        frame = self._frame_output and self._target_frame_columns is not None
        if self._target_layout is None:  # one head on the whole y
            (out,) = predictions.values()
            if frame:
                if out.ndim == 1:
                    return pd.Series(out, index=self._index(X),
                                     name=self._target_frame_columns[0]
                                     if len(self._target_frame_columns) == 1 else None)
                return pd.DataFrame(out, columns=self._target_frame_columns,
                                    index=self._index(X))
            return out
        columns = {}
        for name, head in self.heads_:
            pred = predictions[name]
            keys = [key for key, owner in self._target_layout if owner == name]
            for i, key in enumerate(keys):
                columns[key] = pred if pred.ndim == 1 else pred[:, i]
        ordered = [columns[key] for key, _ in self._target_layout]
        if frame:
            return pd.DataFrame({key: columns[key] for key, _ in self._target_layout},
                                index=self._index(X))
        if all(c.dtype.kind in "biuf" for c in ordered):
            return np.column_stack(ordered).astype(np.result_type(*ordered))
        out = np.empty((len(ordered[0]), len(ordered)), dtype=object)
        for j, col in enumerate(ordered):
            out[:, j] = col
        return out

    def predict(self, X):
        """Predictions of every head, in the layout of y.

        Parameters
        ----------
        X : array-like
            As in :meth:`fit`.

        Returns
        -------
        y_pred : ndarray or DataFrame
            One head on the whole y: that head's predictions (1-D for one
            target column). Several heads: one column per column of y that a
            head takes, in y's order; a DataFrame with y's column names when
            y was a DataFrame, else an array (float when every prediction is
            numeric, else object).
        """
        return self._assemble(self._decode_all(self._predict_raw(X)), X)

    def predict_head(self, X, head):
        """The predictions of one head.

        Parameters
        ----------
        X : array-like
        head : str
            The head's name.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_columns)
        """
        fitted = self._head(head)
        needed = [head] if fitted.when is None else [head, fitted.condition_head_]
        return self._decode_all(self._predict_raw(X, needed), [head])[head]

    def _predict_head_proba(self, X, head):
        fitted = self._head(head)
        if not hasattr(fitted, "predict_proba"):
            raise ValueError(f"Head {head!r} of {type(self).__name__} is a "
                             f"{type(fitted).__name__}: it has no probabilities.")
        return fitted.predict_proba(self._predict_raw(X, [head])[head])

    def _proba_all(self, X):
        raw = self._predict_raw(X)
        return [head.predict_proba(raw[name]) for name, head in self.heads_
                if hasattr(head, "predict_proba")]

    def score(self, X, y, sample_weight=None):
        """The heads' default metrics, averaged over the heads.

        Accuracy for a classification head, subset accuracy for a
        multi-label head, R² for a regression head: each is 1 for a perfect
        model, so with several heads the mean weighs them evenly. Use
        :func:`~mtestimator.metrics.make_head_scorer` for anything else.

        Parameters
        ----------
        X : array-like
        y : array-like or DataFrame
            Targets in the layout seen in ``fit``.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        check_is_fitted(self, "model_")
        check_consistent_length(X, y)
        natural = self._natural_targets(y, self.heads_)
        predictions = self._decode_all(self._predict_raw(X))
        scores = [head.score_targets(natural[name], predictions[name],
                                     sample_weight=sample_weight)
                  for name, head in self.heads_]
        return float(np.nanmean(scores)) if not np.isnan(scores).all() else float("nan")

    # -- inspection (see _inspect.py) ---------------------------------------------

    def summary(self, print_fn=print):
        """Print a table of the trunk and heads, parameter counts and final losses.

        Parameters
        ----------
        print_fn : callable, default=print
            Called with the table's text; ``None`` returns it instead.

        Returns
        -------
        text : str or None
            The table when ``print_fn`` is None.
        """
        from ._inspect import summary

        return summary(self, print_fn=print_fn)

    def plot_network(self, to_file="network.png", **kwargs):
        """Draw the fitted network with ``keras.utils.plot_model``.

        Needs pydot and Graphviz (``pip install pydot`` and the system's
        ``graphviz`` package); without them a clear ImportError says so.

        Parameters
        ----------
        to_file : str or path-like, default="network.png"
        **kwargs
            Passed to ``keras.utils.plot_model`` (defaults: ``show_shapes=True``,
            ``show_layer_names=True``).

        Returns
        -------
        path : str
            The file written.
        """
        from ._inspect import plot_network

        return plot_network(self, to_file=to_file, **kwargs)

    # -- persistence -------------------------------------------------------------

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
        # optimizer objects or callbacks (which hold a model of their own).
        state = dict(super().__getstate__())
        state.pop("_dense_layers", None)
        model = state.pop("model_", None)
        if model is not None:
            import keras

            config = keras.saving.serialize_keras_object(model)
            config.pop("compile_config", None)
            state["_network"] = (config, [np.asarray(w) for w in model.get_weights()])
        return state

    def __setstate__(self, state):
        network = state.pop("_network", None)
        super().__setstate__(state)
        if network is not None:
            import keras

            from . import _networks  # noqa: F401  (registers the custom layers)

            self.model_ = keras.saving.deserialize_keras_object(network[0])
            self.model_.set_weights(network[1])


def clone_heads(heads):
    """Fresh clones of ``[(name, head), ...]``."""
    return [(name, clone(head)) for name, head in heads]
