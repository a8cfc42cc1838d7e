"""What a fitted estimator does with its networks: predict, score, inspect, save, pickle.

:class:`FittedNetworks` is a mixin of :class:`~mtestimator._base.BaseMultiTask`:
it reads the fitted state the fit sequence leaves (``heads_``, ``trunk_``,
the networks, y's layout) and never trains.
"""

import copy

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_consistent_length, check_is_fitted

from ._concurrency import reading
from ._targets import assemble, column_list, decode_all
from .engine import imports
from .persistence.estimator_state import ColumnNames, FeatureNames, Features, FitSettings, \
    HeadCopy, History, Iterations, Seed, Shape, TargetLayout
from .persistence.spec import OneOf, Rebuilt

__all__ = ["FittedNetworks"]


class FittedNetworks:
    """Prediction, scores, inspection and persistence of the fitted networks."""

    # -- the fitted state a saved file holds (see mtestimator.persistence.spec) ------

    _persisted_as = "estimator"
    _fitted_state = {
        "n_features_in_": Features(),
        "n_iter_": Iterations(),
        "input_shape_": Shape(required=True),
        "history_": History(),
        "feature_names_in_": FeatureNames(),
        "classes_": HeadCopy("classes_"),
        # rebuilt from the file's networks, heads and trunk
        **{name: Rebuilt() for name in ("model_", "heads_", "trunk_", "named_heads_")},
    }
    #: The private fitted state prediction needs.
    _private_state = {
        "_seed": Seed(),
        "_target_layout": TargetLayout(),
        "_target_frame_columns": ColumnNames(),
        "_X_dtype": OneOf("float32", "string"),
        # what partial_fit continues (format 4 on; the optimizers' state is in the archive)
        "_fit_seed": Seed(since=4),
        "_fitted_with": FitSettings(since=4),
    }

    # -- the fitted networks ---------------------------------------------------------

    def _snapshot(self):
        """The fitted state a failed partial_fit changes in place: each network's
        weights, its compiled optimizer's state (callbacks path) and the heads."""
        saved = {}
        for key, model in self._keras_networks().items():
            optimizer = getattr(model, "optimizer", None)
            saved[key] = (model.get_weights(),
                          [np.array(v.numpy()) for v in optimizer.variables]
                          if optimizer is not None and optimizer.built else None)
        return saved, copy.deepcopy(self.heads_)

    def _restore(self, saved):
        networks = self._keras_networks()
        for key, (weights, optimizer_state) in saved[0].items():
            networks[key].set_weights(weights)
            if optimizer_state is not None:
                for var, value in zip(networks[key].optimizer.variables, optimizer_state):
                    var.assign(value)
        self.heads_ = saved[1]

    def _keras_networks(self):
        """The fitted Keras networks by key: ``{"model": model_}``, or one per
        head name (SeparateNetworks)."""
        if self._joint:
            return {"model": self.model_}
        return {name: wrapper.model_ for name, wrapper in self.estimators_}

    def _set_keras_networks(self, networks):
        """Keep ``networks`` (as :meth:`_keras_networks` gives them) as the fitted ones."""
        if self._joint:
            self.model_ = networks["model"]
            return
        from ._scikeras import set_history, wrap

        self.model_ = None
        self.estimators_ = [(name, wrap(head, networks[name])) for name, head in self.heads_]
        if "history_" in self.__dict__:  # loaded (fit sets the history after the networks)
            for name, wrapper in self.estimators_:
                set_history(wrapper, self.history_, name)

    def _numpy_networks(self):
        """Each trained Dense network as NumPy arrays, or False (other trunks:
        prediction then calls the Keras model)."""
        from .engine.forward import extract_dense_layers

        return {key: extract_dense_layers(model) or False
                for key, model in self._keras_networks().items()}

    # -- prediction ---------------------------------------------------------------

    def _raw(self, X_valid, names=None):
        """Raw network outputs (a dict by head name) on validated X; only the
        heads in ``names`` (and the trunk) are computed for a Dense network,
        and only their networks are run with one network per head."""
        from .engine.training import predict

        if "_dense_layers" not in self.__dict__:  # e.g. unpickled or loaded
            self._dense_layers = self._numpy_networks()
        if self._joint:
            return predict(self.model_, X_valid, self._dense_layers["model"], names)
        return {name: predict(model, X_valid, self._dense_layers[name])[name]
                for name, model in self._keras_networks().items()
                if names is None or name in names}

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

    def _assemble(self, predictions, X, heads=None, layout=False):
        """Head predictions in the layout of y (or of ``layout``: some heads' columns)."""
        return assemble(predictions, self.heads_ if heads is None else heads,
                        self._target_layout if layout is False else layout,
                        self._target_frame_columns, frame_output=self._frame_output,
                        index=X.index if isinstance(X, pd.DataFrame) else None)

    @reading
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
        raw = self._predict_raw(X)  # checks fitted before heads_ is read
        return self._assemble(decode_all(self.heads_, raw), X)

    @reading
    def predict_head(self, X, head):
        """The predictions of one head.

        Parameters
        ----------
        X : array-like
        head : str
            The head's name.

        Returns
        -------
        y_pred : ndarray, Series or DataFrame
            As :meth:`predict` gives this head's columns: when y was a
            DataFrame, a Series (a head of one column, named as it) or a
            DataFrame, with X's index when X is a DataFrame and the dtypes of
            y's columns; else an array of shape (n_samples,) or
            (n_samples, n_columns).
        """
        pred = self._predict_head_values(X, head)
        frame_columns = self._target_frame_columns
        if not (self._frame_output and frame_columns is not None):
            return pred
        fitted = self._head(head)
        layout = self._target_layout
        if layout is not None:
            layout = [(key, name) for key, name in layout if name == head]
        out = self._assemble({head: pred}, X, [(head, fitted)], layout)
        single = column_list(head, fitted.columns, frame_columns)[0]
        return out.iloc[:, 0] if layout is not None and single else out

    @reading
    def _predict_head_values(self, X, head):
        """One head's decoded predictions as NumPy (what scorers compare)."""
        fitted = self._head(head)
        needed = [head] if fitted.when is None else [head, fitted.condition_head_]
        return decode_all(self.heads_, self._predict_raw(X, needed), [head])[head]

    @reading
    def _predict_head_proba(self, X, head):
        fitted = self._head(head)
        if not hasattr(fitted, "predict_proba"):
            raise ValueError(f"Head {head!r} of {type(self).__name__} is a "
                             f"{type(fitted).__name__}: it has no probabilities.")
        return fitted.predict_proba(self._predict_raw(X, [head])[head])

    @reading
    def _proba_all(self, X):
        raw = self._predict_raw(X)
        return [head.predict_proba(raw[name]) for name, head in self.heads_
                if hasattr(head, "predict_proba")]

    @reading
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
        predictions = decode_all(self.heads_, self._predict_raw(X))
        scores = [head.score_targets(natural[name], predictions[name],
                                     sample_weight=sample_weight)
                  for name, head in self.heads_]
        return float(np.nanmean(scores)) if not np.isnan(scores).all() else float("nan")

    # -- inspection (_inspect.py, _diagram.py) ------------------------------------------

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
        from ._diagram import plot_network

        return plot_network(self, to_file=to_file, **kwargs)

    # -- persistence -------------------------------------------------------------

    @reading
    def save(self, path):
        """Save the fitted estimator to one file, safely loadable with
        :func:`mtestimator.load` (Keras format + JSON; no pickle).

        Parameters
        ----------
        path : str or path-like
            The file to write. Keras ``callbacks`` are not saved.
        """
        from .persistence import save

        save(self, path)

    @reading
    def __getstate__(self):
        # The network travels as architecture + weights: no compiled losses,
        # optimizer objects or callbacks (which hold a model of their own).
        from .persistence.objects import placeholder

        stored = placeholder(self)  # mtestimator.save: the estimator's own file
        if stored is not None:
            return stored
        state = dict(super().__getstate__())
        state.pop("_dense_layers", None)
        model = state.get("model_")
        if model is not None:
            keras = imports.keras()

            del state["model_"]
            config = keras.saving.serialize_keras_object(model)
            config.pop("compile_config", None)
            state["_network"] = (config, [np.asarray(w) for w in model.get_weights()])
        return state

    def __setstate__(self, state):
        from .persistence.objects import restore

        if restore(self, state):  # mtestimator.load: the estimator read from its file
            return
        network = state.pop("_network", None)
        super().__setstate__(state)
        if network is not None:
            keras = imports.keras()  # global random state kept (a fresh process)

            from .engine import networks  # noqa: F401  (registers the custom layers)

            self.model_ = keras.saving.deserialize_keras_object(network[0])
            self.model_.set_weights(network[1])
