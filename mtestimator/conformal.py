"""ConformalMultiTask: conformal intervals (regression heads) and sets (classification heads) per head."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.model_selection import KFold, check_cv, train_test_split
from sklearn.utils import _safe_indexing, check_random_state
from sklearn.utils.validation import check_is_fitted

from ._base import BaseMultiTask
from ._compat import HasMethods, Interval, StrOptions, fit_context, num_samples
from ._conformal_folds import _Fold, _Spread, _class_indices, _final, _spread_features
from ._conformal_scores import class_scores, interval, prediction_set

__all__ = ["ConformalMultiTask"]

_KINDS = ("regressor", "classifier", "multilabel")


class ConformalMultiTask(MetaEstimatorMixin, BaseEstimator):
    """Conformal prediction intervals and sets for every head of a multi-task estimator.

    Wraps any estimator of this package (or a Pipeline ending in one). At
    ``fit`` the estimator is cloned and trained on part of the data, and the
    rows it did not see calibrate, head by head, how far its predictions may
    be from the truth: a regression head gets intervals, a classification
    head sets of classes, each covering the truth on (at least) a
    ``confidence_level`` share of new rows drawn like the training rows.

    Parameters
    ----------
    estimator : estimator
        A :class:`~mtestimator.MultiTaskEstimator` (or
        :class:`~mtestimator.JointRegressorClassifier`,
        :class:`~mtestimator.MultiLabelMLPClassifier`,
        :class:`~mtestimator.SeparateNetworks`), or a Pipeline ending in one.
    confidence_level : float or dict, default=0.9
        The coverage wanted, in (0, 1); a dict gives one per head name (every
        head named).
    method : {"split", "cv+"}, default="split"
        ``"split"``: one model trained on ``1 - calibration_fraction`` of the
        rows, calibrated on the rest. ``"cv+"`` (Barber et al., 2021): one
        model per fold of ``cv``, each calibrated on its left-out fold, so
        every row calibrates; ``estimator_`` is then trained on all rows (for
        ``predict``), and the intervals and sets combine the fold models.
    cv : int, cross-validation generator or None, default=None
        The folds of ``"cv+"``; None: 5 shuffled folds (``random_state``).
    calibration_fraction : float, default=0.2
        The share of rows kept out of training to calibrate (``"split"``).
    scale : None or "mad", default=None
        ``"mad"``: regression scores are divided by an estimate of the mean
        absolute deviation of the residuals at each row, so the intervals
        widen where the model is less sure. The estimate is a
        ``HistGradientBoostingRegressor(max_iter=50)`` fitted, per target
        column, to the absolute residuals of the model's own training rows
        (never the calibration rows, so the coverage guarantee holds) on the
        features the final estimator sees; they must be numeric.
    set_method : {"aps", "lac"}, default="aps"
        Classification scores: ``"aps"`` (adaptive prediction sets, Romano
        et al., 2020, randomized) adds classes by decreasing probability
        until the calibrated mass is reached, the last one with a random
        tie-break so that the coverage is the level, not above it (the draws
        are seeded: ``predict_set`` gives the same sets for the same X,
        and an empty set is possible); ``"lac"`` keeps the classes whose
        probability is above a calibrated threshold (smallest sets on
        average).
    random_state : int, RandomState instance or None, default=None
        The calibration split or the folds' shuffle, and APS's tie-breaks.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone that ``predict`` uses.
    estimators_ : list of estimators
        The fold models (``"cv+"``); ``[estimator_]`` with ``"split"``.
    confidence_levels_ : dict
        The confidence level of each head.
    head_kinds_ : dict
        ``"regressor"``, ``"classifier"`` or ``"multilabel"`` by head name.
    n_calibration_ : dict
        The number of calibration rows of each head (rows with its label; a
        conditional head: where its true condition holds).

    Notes
    -----
    Multi-label heads get one set per label, over (absent, present): each
    label covers its truth with the confidence level (marginally, label by
    label, not all labels at once). Conditional heads are calibrated on the
    rows where their condition truly holds; their intervals and sets are
    given on every row and hold for rows where the condition holds.
    A row without a head's label does not calibrate that head.

    Examples
    --------
    >>> import numpy as np
    >>> from mtestimator import MultiTaskEstimator
    >>> from mtestimator.conformal import ConformalMultiTask
    >>> from mtestimator.heads import ClassificationHead, RegressionHead
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = np.column_stack([X[:, 0], X[:, 1] > 0])
    >>> est = MultiTaskEstimator(heads=[("value", RegressionHead(0)),
    ...                                 ("sign", ClassificationHead(1))],
    ...                          epochs=2, random_state=0)
    >>> conformal = ConformalMultiTask(est, random_state=0).fit(X, y)
    >>> conformal.predict_interval(X[:5])["value"].shape
    (5, 2)
    >>> conformal.predict_set(X[:5])["sign"].shape
    (5, 2)
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"])],
        "confidence_level": [Interval(numbers.Real, 0, 1, closed="neither"), dict],
        "method": [StrOptions({"split", "cv+"})],
        "cv": ["cv_object"],
        "calibration_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "scale": [StrOptions({"mad"}), None],
        "set_method": [StrOptions({"aps", "lac"})],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator, *, confidence_level=0.9, method="split", cv=None,
                 calibration_fraction=0.2, scale=None, set_method="aps", random_state=None):
        self.estimator = estimator
        self.confidence_level = confidence_level
        self.method = method
        self.cv = cv
        self.calibration_fraction = calibration_fraction
        self.scale = scale
        self.set_method = set_method
        self.random_state = random_state

    # -- fitting ---------------------------------------------------------------

    def _folds(self, n, seed):
        """``(training rows, calibration rows)`` of each model."""
        rows = np.arange(n)
        if self.method == "split":
            return [train_test_split(rows, test_size=self.calibration_fraction,
                                     random_state=seed)]
        cv = KFold(5, shuffle=True, random_state=seed) if self.cv is None else check_cv(self.cv)
        return list(cv.split(rows))

    def _levels(self, names):
        level = self.confidence_level
        if not isinstance(level, dict):
            return dict.fromkeys(names, float(level))
        unknown, missing = set(level) - set(names), [n for n in names if n not in level]
        if unknown or missing:
            raise ValueError(
                f"The 'confidence_level' dict must name every head once: the heads are "
                f"{names!r}; got {sorted(map(str, level))!r}. Give one level per head, or "
                "one float for all."
            )
        for name, value in level.items():
            if not (isinstance(value, numbers.Real) and 0 < value < 1):
                raise ValueError(f"The confidence level of head {name!r} must be a float in "
                                 f"(0, 1); got {value!r}.")
        return {n: float(level[n]) for n in names}

    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Train the model(s) and calibrate every head.

        Parameters
        ----------
        X : array-like
            As the estimator takes it.
        y : array-like or DataFrame
            As the estimator takes it.
        **fit_params
            Passed to the estimator's ``fit`` (rows indexed along with X when
            they have one value per row).

        Returns
        -------
        self : ConformalMultiTask
        """
        if not isinstance(_final(self.estimator), BaseMultiTask):
            raise TypeError(
                "ConformalMultiTask wraps an estimator of mtestimator (MultiTaskEstimator, "
                "JointRegressorClassifier, MultiLabelMLPClassifier, SeparateNetworks) or a "
                f"Pipeline ending in one; got {type(_final(self.estimator)).__name__}. For "
                "a single-output scikit-learn estimator, use MAPIE."
            )
        n = num_samples(X)
        self._seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        folds = self._folds(n, self._seed)
        self.estimators_, fitted = [], []
        for train, calibration in folds:
            model = self._fit_one(X, y, train, fit_params)
            if not fitted:  # the heads are known: the levels checked before more training
                heads = _final(model).heads_
                self.head_kinds_ = {name: head.kind for name, head in heads}
                self.confidence_levels_ = self._levels(list(self.head_kinds_))
            self.estimators_.append(model)
            fitted.append(_Fold(model, calibration))
        if self.scale == "mad":
            for fold, (train, _) in zip(fitted, folds):
                self._fit_spread(fold, X, y, train)
        self._calibrate(fitted, X, y)
        self.estimator_ = (fitted[0].model if self.method == "split"
                           else self._fit_one(X, y, np.arange(n), fit_params))
        self._fitted = fitted
        return self

    def _fit_one(self, X, y, rows, fit_params):
        params = {k: _safe_indexing(v, rows) if _num_samples_or_none(v) == num_samples(X)
                  else v for k, v in fit_params.items()}
        return clone(self.estimator).fit(_safe_indexing(X, rows), _safe_indexing(y, rows),
                                         **params)

    def _targets(self, model, y):
        """Per head: the targets of ``y`` as the head reads them, and the rows
        that calibrate it (a label given; a conditional head: its condition true)."""
        final = _final(model)
        natural = final._natural_targets(y, final.heads_)
        out = {}
        for name, head in final.heads_:
            if head.kind == "classifier":
                target, given = _class_indices(head, natural[name])
            else:
                target = np.asarray(natural[name], np.float64).reshape(len(natural[name]), -1)
                given = ~np.isnan(target).all(axis=1)
            if head.when is not None:
                condition = natural[head.condition_head_]
                given = given & np.isin(condition, list(head.when[1]))
            out[name] = (target, given)
        return out

    def _fit_spread(self, fold, X, y, train):
        X_train = _safe_indexing(X, train)
        Z = _spread_features(fold.features(X_train))
        outputs = fold.outputs(X_train)
        targets = self._targets(fold.model, _safe_indexing(y, train))
        for name, kind in self.head_kinds_.items():
            if kind != "regressor":
                continue
            target, given = targets[name]
            models = []
            for j in range(target.shape[1]):
                keep = given & ~np.isnan(target[:, j])
                residual = np.abs(target[keep, j] - outputs[name][keep, j])
                models.append(_Spread(residual).fit(Z[keep], residual))
            fold.spread[name] = models

    def _tie_breaks(self, rng, n, n_columns):
        """APS's uniform tie-breaks, one per row (and label); None with LAC."""
        if self.set_method != "aps":
            return [None] * n_columns
        return list(rng.uniform(size=(n_columns, n)))

    def _calibrate(self, fitted, X, y):
        """Per head: the calibration scores (NaN where a row has no label) and folds."""
        scores, folds = {}, {}
        rng = np.random.default_rng(self._seed)
        for number, fold in enumerate(fitted):
            X_cal = _safe_indexing(X, fold.rows)
            outputs = fold.outputs(X_cal)
            targets = self._targets(fold.model, _safe_indexing(y, fold.rows))
            for name, kind in self.head_kinds_.items():
                target, given = targets[name]
                out = outputs[name]
                if kind == "regressor":
                    s = np.abs(target - out) / fold.spreads(X_cal, name, out.shape[1])
                elif kind == "classifier":
                    u = self._tie_breaks(rng, len(target), 1)[0]
                    s = class_scores(out, self.set_method, u)[
                        np.arange(len(target)), np.maximum(target, 0)]
                    # a class the fold's model never saw: no set of it covers the row
                    s = np.where(target >= 0, s, np.inf).reshape(-1, 1)
                else:
                    u = self._tie_breaks(rng, len(target), out.shape[1])
                    s = np.stack([class_scores(out[:, j], self.set_method, u[j])[
                        np.arange(len(target)), np.nan_to_num(target[:, j]).astype(int)]
                        for j in range(out.shape[1])], axis=1)
                    s[np.isnan(target)] = np.nan
                s = np.where(given[:, None], s, np.nan)
                scores.setdefault(name, []).append(s)
                folds.setdefault(name, []).append(np.full(len(s), number))
        self._scores = {name: np.concatenate(s) for name, s in scores.items()}
        self._score_folds = {name: np.concatenate(f) for name, f in folds.items()}
        self.n_calibration_ = {name: int((~np.isnan(s).all(axis=1)).sum())
                               for name, s in self._scores.items()}

    def _column(self, name, j):
        """Column ``j``'s calibration scores and folds, rows with a score only."""
        s = self._scores[name][:, j]
        keep = ~np.isnan(s)
        return s[keep], self._score_folds[name][keep]

    def save(self, path):
        """Write the fitted wrapper to ``path``: :func:`mtestimator.save`.

        One file, no pickle: each fold's estimator in mtestimator's own
        format, the rest (calibration scores, spread models) through skops;
        :func:`mtestimator.load` reads it back.
        """
        from .persistence.objects import save

        save(self, path)

    # -- prediction --------------------------------------------------------------

    def predict(self, X):
        """The estimator's predictions (``estimator_.predict``)."""
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    def _heads_of(self, kinds, what):
        check_is_fitted(self, "estimator_")
        names = [n for n, k in self.head_kinds_.items() if k in kinds]
        if not names:
            raise ValueError(
                f"{what} needs a head of kind {' or '.join(kinds)}; the heads of this "
                f"estimator are {self.head_kinds_!r}."
            )
        return names

    def predict_interval(self, X):
        """Conformal prediction intervals of every regression head.

        Parameters
        ----------
        X : array-like

        Returns
        -------
        intervals : dict
            Head name -> ``(n_samples, 2)`` (lower, upper) for a head of one
            target column, ``(n_samples, n_outputs, 2)`` for several. A bound
            is infinite when there are too few calibration rows for the level.
        """
        names = self._heads_of(("regressor",), "predict_interval")
        outputs = [fold.outputs(X) for fold in self._fitted]
        result = {}
        for name in names:
            centres = np.stack([o[name] for o in outputs])  # (folds, n, k)
            spreads = np.stack([fold.spreads(X, name, centres.shape[2])
                                for fold in self._fitted])
            bounds = np.stack([interval(centres[:, :, j], spreads[:, :, j],
                                        *self._column(name, j), self.confidence_levels_[name])
                               for j in range(centres.shape[2])], axis=1)
            one_d = getattr(dict(_final(self.estimator_).heads_)[name], "one_d_", False)
            result[name] = bounds[:, 0] if one_d else bounds
        return result

    def predict_set(self, X):
        """Conformal prediction sets of every classification and multi-label head.

        Parameters
        ----------
        X : array-like

        Returns
        -------
        sets : dict
            Head name -> boolean ``(n_samples, n_classes)``, True for the
            classes in the set, columns in the order of the head's
            ``classes_``; a multi-label head: ``(n_samples, n_labels, 2)``,
            per label whether "absent" (0) and "present" (1) are in its set.
        """
        names = self._heads_of(("classifier", "multilabel"), "predict_set")
        classes = {name: head.classes_ for name, head in _final(self.estimator_).heads_
                   if head.kind == "classifier"}
        outputs = [fold.outputs(X, classes) for fold in self._fitted]
        rng = np.random.default_rng(self._seed + 1)  # the same sets at every call
        result = {}
        for name in names:
            level, n = self.confidence_levels_[name], num_samples(X)
            probas = ([outputs_[name] for outputs_ in outputs],) \
                if self.head_kinds_[name] == "classifier" else \
                [[o[name][:, j] for o in outputs] for j in range(outputs[0][name].shape[1])]
            u = self._tie_breaks(rng, n, len(probas))
            sets = [prediction_set(np.stack([class_scores(p, self.set_method, u[j])
                                             for p in per_fold]),
                                   *self._column(name, j), level)
                    for j, per_fold in enumerate(probas)]
            result[name] = sets[0] if self.head_kinds_[name] == "classifier" else \
                np.stack(sets, axis=1)
        return result


def _num_samples_or_none(value):
    try:
        return num_samples(value)
    except TypeError:
        return None
