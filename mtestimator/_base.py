"""The fit sequence of every mtestimator estimator, top to bottom.

:class:`BaseMultiTask` is a plain scikit-learn ``BaseEstimator``: no
scikeras class, no Keras import until a network is built. A subclass says
which heads and which trunk (``_make_heads``, ``_make_trunk``); everything
else is here, in the order ``fit`` runs it:

1. parameters: fresh clones of the heads and the trunk, checked;
2. X through the trunk's validation; y split between the heads by their
   ``columns`` (:mod:`~mtestimator._targets`);
3. zero-weight rows dropped, before anything is learned from the targets;
4. each head fitted on what remains (classes, scaling, label weights) and its
   targets encoded;
5. the networks' specifications: one network for every head, or
   (``_joint = False``: :class:`~mtestimator.SeparateNetworks`) one per head
   trained on the rows labelled for it;
6. training, by the engine (:func:`mtestimator.engine.training.train`): each
   network built from its specification (or the fitted one continued) and trained;
7. heads tuned after training (thresholds), on the early-stopping
   validation split or the training data.

``fit`` and ``partial_fit`` are all-or-nothing: on any exception,
KeyboardInterrupt included, the estimator is left as it was. Fits of one
estimator from several threads run one at a time, and predictions wait for
a running fit (:mod:`~mtestimator._concurrency`).
"""

import numbers
from types import SimpleNamespace

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_consistent_length

from ._columns import check_text_input, validate_columns
from ._compat import Interval, StrOptions, check_sample_weight, validate_params
from ._concurrency import fitting
from ._dtypes import describe
from ._fitted import FittedNetworks
from ._protocol import SklearnProtocol
from ._targets import classes_of, conditions, split_targets, validation_split
from .engine import imports
from .heads._base import tower_sizes
from .heads._calibration import calibrated
from .heads._checks import check_head_name, check_loss_weights
from .engine.spec import NetworkSpec, TrainSettings, fresh_seed, seed_of, seed_stream

__all__ = ["BaseMultiTask", "OPTIMIZER_NAMES"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)

#: Optimizers by name (``mtestimator.engine.optimizers.OPTIMIZERS`` holds the classes).
OPTIMIZER_NAMES = ("adam", "adamw", "nadam", "rmsprop", "sgd", "adagrad")

_DIVERGED = ("became {value} at epoch {epoch}. The estimator was left as it was before this "
             "fit. Lower 'learning_rate', scale the features (e.g. StandardScaler in a "
             "Pipeline) or check the data for extreme values.")


def _comparable(params):
    """Parameters with NaN made comparable (NaN != NaN, even after a pickle)."""
    return {k: "nan" if isinstance(v, float) and np.isnan(v) else v
            for k, v in params.items()}


class BaseMultiTask(SklearnProtocol, FittedNetworks, BaseEstimator):
    """Shared machinery of the estimators: the fit sequence and prediction.

    Subclasses define ``__init__`` (parameters only), ``_make_heads`` (``[(name,
    unfitted head), ...]``), ``_make_trunk`` (an unfitted trunk), and maybe the
    hooks below (``_check_y``, ``_uncertainty``, ``_balancing``, ``_after_fit``).
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

    learning_rate_schedule = weight_decay = None  # presets: a constant rate, Keras's decay
    #: predict returns a DataFrame when y was one (presets keep arrays).
    _frame_output = True
    #: One network for every head; False: one network per head (SeparateNetworks).
    _joint = True

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

    def _balancing(self):
        """Hook: the rule that re-weights the heads' losses ("dwa", "gradnorm"), or None."""
        return None

    def _gradient_method(self):
        """Hook: how the heads' gradients of the trunk combine ("pcgrad"), or None."""
        return None

    def _after_fit(self):
        """Hook: attributes a preset derives from the fitted heads."""

    # -- parameters -----------------------------------------------------------------

    def _parts(self):
        """Fresh clones of the heads (named) and the trunk, parameters checked."""
        owner = type(self).__name__
        heads = self._make_heads()
        seen = set()
        for name, head in heads:
            check_head_name(name, seen, owner)
            seen.add(name)
            validate_params(head)
            head.name_ = name
            tower_sizes(head)
        if not heads:
            raise ValueError(f"{owner} needs at least one head; got none.")
        trunk = self._make_trunk()
        trunk.check(owner)
        getattr(trunk, "check_seeded", lambda *_: None)(owner, self.random_state)  # optional
        return heads, trunk

    # -- targets --------------------------------------------------------------------

    def _natural_targets(self, y, heads):
        """Each head's targets in y, as the head reads them (y in the fitted layout)."""
        y = self._check_y(y, reset=False)
        parts = split_targets(y, heads, type(self).__name__, reset=False)[0]
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
        with fitting(self):  # one fit of this estimator at a time
            return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One more epoch on ``X`` and ``y``, keeping the optimizer state.

        Like scikit-learn's MLP: the first call (on an unfitted estimator)
        initialises the network and trains one epoch; later calls continue
        it. The targets must hold no class or label unseen by the first
        call. Between calls, ``learning_rate``, ``epochs`` and ``callbacks``
        may change and apply; the heads, the trunk, the optimizer and
        ``loss_weights="auto"`` may not (a ValueError says to call ``fit``).
        The optimizer's state carries over, also where a call trains through
        Keras's own ``fit`` (a callback with per-batch hooks). A call that
        fails (divergence, Ctrl-C) leaves the estimator as it was.

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
        with fitting(self):
            return self._fit(X, y, sample_weight, partial=True, classes=classes)

    def _fit(self, X, y, sample_weight, *, partial, classes=None):
        engine = imports.training()  # Keras: on the first fit, global random state kept
        Diverged, Trained, train = engine.Diverged, engine.Trained, engine.train
        check_loss_weights(self)  # one weight per head: point to the heads' loss_weight
        validate_params(self)
        engine.warn_slow_path(self.callbacks, type(self).__name__)  # once per fit
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        warm = partial and self._has_network()
        previous = dict(self.__dict__)
        saved = self._snapshot() if warm else None
        try:
            prep = self._prepare(X, y, sample_weight, warm=warm, partial=partial,
                                 classes=classes)
            # 6. training: the engine builds (or continues) and trains each network
            trained, networks = {}, self._keras_networks() if warm else {}
            for key, spec, data, validation, settings in self._jobs(prep, warm):
                start = None
                if warm:
                    state = getattr(self, "_optimizer_state", {})  # none after load
                    start = Trained(networks[key], state.get(key), None)
                try:
                    trained[key] = train(spec, *data, settings, validation=validation,
                                         start=start)
                except Diverged as exc:
                    what = "the loss" if self._joint else "its loss"
                    where = "" if self._joint else f"head {key!r} of "
                    raise FloatingPointError(
                        f"Training of {where}{type(self).__name__} diverged: {what} "
                        + _DIVERGED.format(value=exc.value, epoch=exc.epoch)) from None
            self._finish(prep, trained, warm)
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

    def _prepare(self, X, y, sample_weight, *, warm, partial, classes):
        """Steps 1 to 5: the data each network trains on."""
        owner = type(self).__name__
        # 1. parameters
        heads, trunk = self._parts()
        if warm:
            self._check_unchanged(heads, trunk)
            heads, trunk = self.heads_, self.trunk_
        else:
            self._seed = seed_of(self.random_state)
        if not warm or not hasattr(self, "_fit_seed"):  # a loaded estimator has none
            # unseeded: a fresh seed from the OS (Keras would draw from `random`),
            # kept for the partial_fits that continue this fit
            self._fit_seed = self._seed if self._seed is not None else fresh_seed()
        # 2. X through the trunk; y split between the heads
        X_given, X = X, validate_columns(trunk, self, X, reset=not warm)
        y = self._check_y(y, reset=not warm)
        check_consistent_length(X, y)
        # 3. zero-weight rows dropped
        w = check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
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
        parts, layout, frame_columns = split_targets(y, heads, owner, reset=not warm)
        if not warm:
            self._target_layout, self._target_frame_columns = layout, frame_columns
        active = conditions(parts, heads, owner, reset=not warm)
        # 4. heads fitted on what remains (a conditional head: on its rows),
        #    targets encoded; a missing target weighs 0 in its head's loss
        natural, Y, W = {}, {}, {}
        labelled = np.zeros(len(X), bool)
        for name, head in heads:
            on = active.get(name)
            if not warm:
                part = parts[name] if on is None else _safe_indexing(parts[name],
                                                                     np.flatnonzero(on))
                given = classes_of(classes, heads, name, owner)
                fit_kw = {"classes": given} if given is not None and \
                    head.kind == "classifier" else {}
                head.fit(part, sample_weight=w if on is None else w[on], **fit_kw)
                head.target_dtypes_ = describe(parts[name], head.kind)  # for predict
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
                f"{owner} (rows {bad[:10].tolist()}"
                f"{' ...' if len(bad) > 10 else ''}): every row needs at least one label. "
                "Drop them, or give them a target."
            )
        if not warm:
            weights = [h.loss_weight for _, h in heads]
            if not self._uncertainty() and not sum(weights) > 0:
                raise ValueError(
                    f"The loss weights of the heads of {owner} are all zero "
                    f"({weights}); at least one head must have a positive loss_weight."
                )
            self.heads_, self.trunk_ = heads, trunk
            self._fitted_with = self._fit_settings()
            self._X_dtype = "string" if X.dtype.kind == "U" else "float32"
            self._optimizer_state = {}  # by network key, as _keras_networks()
        check_text_input(self._X_dtype, self._joint)
        prep = SimpleNamespace(X=X, Y=Y, W=W, natural=natural, validation=None,
                               natural_val=None, epochs=1 if partial else self.epochs,
                               schedule=None if partial else self.learning_rate_schedule)
        why = "early_stopping=True" if self.early_stopping else calibrated(heads)
        if why:  # held-out rows: early stopping, and the heads' calibration and tuning
            (prep.X, prep.Y, prep.W, prep.natural), (Xv, Yv, Wv, prep.natural_val), split = \
                validation_split(X, Y, W, natural, heads, self.validation_fraction,
                                 self._fit_seed, why)
            if not warm and getattr(trunk, "_fitted_state", None):  # preprocessing learned
                # again on the training rows only (held-out rows are encoded as test rows)
                prep.X = validate_columns(trunk, self, _safe_indexing(X_given, rows[split[0]]),
                                          True)  # rows: the split's positions in X as given
                Xv = validate_columns(trunk, self, _safe_indexing(X_given, rows[split[1]]), False)
            prep.validation = (Xv, Yv, Wv)
        return prep

    def _jobs(self, prep, warm):
        """Step 5: ``(key, spec, (X, Y, W), validation, settings)`` of each network."""
        owner = type(self).__name__
        seed = self._fit_seed
        settings = {"epochs": prep.epochs, "batch_size": self.batch_size,
                    "learning_rate": self.learning_rate, "seed": seed,
                    "patience": self.n_iter_no_change, "callbacks": tuple(self.callbacks or ()),
                    "verbose": self.verbose, "schedule": prep.schedule,
                    "balancing": self._balancing(), "gradient_method": self._gradient_method()}
        network = {"input_shape": tuple(self.input_shape_), "trunk": self.trunk_.build,
                   "trunk_key": self.trunk_.compile_key(), "optimizer": self.optimizer,
                   "input_dtype": self._X_dtype, "owner": owner, "weight_decay": self.weight_decay,
                   "per_head": getattr(self.trunk_, "per_head", False)}
        outputs = {name: head.output_spec(self.trunk_) for name, head in self.heads_}
        if self._joint:
            spec = NetworkSpec(outputs=tuple(outputs.values()), uncertainty=self._uncertainty(),
                               seed=seed, **network)
            validation = prep.validation if self.early_stopping else None
            return [("model", spec, (prep.X, prep.Y, prep.W), validation, TrainSettings(
                first_epoch=self.n_iter_ if warm else 0, loss_weights=self._loss_weights(warm),
                initial_losses=self._initial_losses(warm), description=owner, **settings))]
        jobs, seeds = [], seed_stream(seed)  # one seed per head's network
        for name, _ in self.heads_:
            keep = prep.W[name] != 0  # each network trains on the rows labelled for it
            if not keep.any():
                raise ValueError(
                    f"Head {name!r} of {owner} has no labelled row with a non-zero weight: "
                    "its network has nothing to train on. Give it labels, or drop the head."
                )
            validation = None
            if prep.validation is not None and self.early_stopping:
                Xv, Yv, Wv = prep.validation
                validation = (Xv, {name: Yv[name]}, {name: Wv[name]})
            spec = NetworkSpec(outputs=(outputs[name],), seed=next(seeds),
                               name=f"{name}_network", **network)
            data = (prep.X[keep], {name: prep.Y[name][keep]}, {name: prep.W[name][keep]})
            first = len(self.history_.get(f"{name}_loss", ())) if warm else 0
            jobs.append((name, spec, data, validation, TrainSettings(
                first_epoch=first, description=spec.name, **settings)))
        return jobs

    def _finish(self, prep, trained, warm):
        """The trained networks kept; step 7, heads tuned."""
        if self._joint:
            result = trained["model"]
            self.model_ = result.model
            history = result.history
        else:
            self.model_ = None  # no single network: one per head, in estimators_
            if not warm:
                self._set_keras_networks({k: t.model for k, t in trained.items()})
            history = {}
            for name, result in trained.items():  # losses named by the head; its metric
                renamed = {"loss": f"{name}_loss", "val_loss": f"val_{name}_loss"}
                history.update({renamed.get(k, k): v for k, v in result.history.items()
                                if v and (k in renamed or not k.endswith("_loss"))})
        self._optimizer_state = {**getattr(self, "_optimizer_state", {}), **{
            k: t.optimizer_state for k, t in trained.items()}}
        if warm:
            history = {k: self.history_.get(k, []) + v for k, v in history.items()}
        self.history_ = history
        self.n_iter_ = max(len(v) for k, v in history.items() if not k.startswith("val_"))
        self._dense_layers = self._numpy_networks()
        # 7. heads tuned after training
        X_tune = prep.X if prep.validation is None else prep.validation[0]
        tuned_on = prep.natural if prep.validation is None else prep.natural_val
        tuned = [name for name, head in self.heads_ if head.tunes()]
        raw = self._raw(X_tune, tuned) if tuned else {}  # no prediction when none tunes
        for name in tuned:
            dict(self.heads_)[name].tune(tuned_on[name], raw[name])
        if len(self.heads_) == 1 and hasattr(self.heads_[0][1], "classes_"):
            self.classes_ = self.heads_[0][1].classes_
        self._after_fit()
        if not self._joint:
            from ._scikeras import set_history

            for name, wrapper in self.estimators_:
                set_history(wrapper, history, name)

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

    def _loss_weights(self, warm=False):
        """Each head's (starting) weight in the total loss; None with learned weights."""
        if self._uncertainty():
            return None
        return {name: float(h.loss_weight) for name, h in self.heads_}

    def _initial_losses(self, warm):  # hook: GradNorm's L_i(0) by head (continued fit), or None
        return None
