"""paired_comparison: several estimators on identical folds, per head and metric, with paired statistics."""

import numbers

import numpy as np
import pandas as pd
from sklearn.base import is_classifier
from sklearn.metrics import accuracy_score, check_scoring, hamming_loss, r2_score
from sklearn.model_selection import check_cv, cross_validate

from ..metrics import make_head_scorer

__all__ = ["corrected_ttest", "paired_comparison"]

#: Each head kind's default metric: (name, score function, greater is better).
DEFAULT_METRICS = {
    "regressor": ("r2", r2_score, True),
    "classifier": ("accuracy", accuracy_score, True),
    "multilabel": ("neg_hamming_loss", hamming_loss, False),
}


def corrected_ttest(differences, n_train, n_test):
    """Two-sided p-value of the corrected resampled t-test (Nadeau and Bengio, 2003).

    Parameters
    ----------
    differences : array-like of shape (n_folds,)
        Per-fold score differences of two models evaluated on the same folds.
    n_train, n_test : int or float
        Training and test rows of a fold (their mean when the folds differ).

    Returns
    -------
    p_value : float
        The variance of the mean difference is inflated by ``n_test / n_train``
        to account for the overlap of the training sets between folds, so
        the test does not claim significance that plain paired t-tests on
        cross-validation folds would. 1.0 when every difference is zero, 0.0
        when they are equal and non-zero, NaN with fewer than two folds.

    Examples
    --------
    >>> round(corrected_ttest([0.02, 0.01, 0.03, 0.02, 0.015], 800, 200), 3)
    0.019
    """
    from scipy import stats

    d = np.asarray(differences, dtype=float)
    k = len(d)
    if k < 2:
        return float("nan")
    mean, var = d.mean(), d.var(ddof=1)
    if var == 0:
        return 1.0 if mean == 0 else 0.0
    t = mean / np.sqrt((1 / k + n_test / n_train) * var)
    return float(2 * stats.t.sf(abs(t), df=k - 1))


def _final(estimator):
    return estimator[-1] if hasattr(estimator, "steps") else estimator


def _default_scoring(estimators):
    """One head scorer per head and its kind's default metric, from the first of
    our estimators: {(head, metric): scorer}."""
    ours = [e for e in estimators.values() if hasattr(_final(e), "_make_heads")]
    if not ours:
        raise ValueError(
            "paired_comparison needs 'scoring' when none of the estimators is a mtestimator "
            "estimator (or a Pipeline ending in one): pass a scorer name such as 'r2', a "
            "callable, or a dict of them."
        )
    scoring = {}
    for name, head in _final(ours[0])._make_heads():
        metric, func, greater = DEFAULT_METRICS[head.kind]
        scoring[name, metric] = make_head_scorer(func, head=name, greater_is_better=greater)
    return scoring


def _named_scoring(scoring):
    """{(head, metric): scorer} from the user's ``scoring``; the head of a head
    scorer (:func:`~mtestimator.metrics.make_head_scorer`), else None."""
    if isinstance(scoring, dict):
        if not scoring:
            raise ValueError("'scoring' is an empty dict; give at least one scorer.")
        items = scoring.items()
    elif isinstance(scoring, (list, tuple, set)):
        items = [(s, s) for s in scoring]
    elif isinstance(scoring, str) or callable(scoring):
        items = [(scoring if isinstance(scoring, str) else "score", scoring)]
    else:
        raise TypeError(
            f"'scoring' must be None, a scorer name, a callable, a list of names or a dict "
            f"of them; got {type(scoring).__name__} {scoring!r:.80}."
        )
    return {(getattr(s, "head", None), str(name)): s for name, s in items}


def paired_comparison(estimators, X, y, *, cv=5, scoring=None, groups=None, n_jobs=None):
    """Fit every estimator on identical folds and compare them, per head and metric.

    "Is the joint network better than separate ones on my data?" is one call:
    every estimator is cross-validated on the same splits, and each is
    compared fold by fold with the first one (the baseline).

    Parameters
    ----------
    estimators : dict of str to estimator
        The contenders, by name; the first is the baseline of the paired
        statistics. Any scikit-learn estimators or Pipelines, fitted on
        clones.
    X : array-like or DataFrame of shape (n_samples, ...)
        Inputs, as each estimator takes them.
    y : array-like or DataFrame
        Targets, as each estimator takes them.
    cv : int, cross-validation generator or iterable, default=5
        As in :func:`sklearn.model_selection.cross_validate`; the splits are
        drawn once and every estimator sees the same ones. Give a
        ``RepeatedKFold`` for more folds (the test's power grows with them).
    scoring : str, callable, list or dict, default=None
        Greater is better, as scikit-learn's scorers. None: one score per
        head of the first mtestimator estimator, R² for regression heads,
        accuracy for classification heads and the negated Hamming loss for
        multi-label heads (head scorers score each head on the rows where it
        has a target). A head scorer (:func:`~mtestimator.metrics.make_head_scorer`)
        reports its head in the ``head`` column.
    groups : array-like of shape (n_samples,), default=None
        Group labels for group-wise splitters.
    n_jobs : int, default=None
        Folds fitted in parallel, as in ``cross_validate``.

    Returns
    -------
    comparison : pandas.DataFrame
        One row per head, metric and estimator: ``mean`` and ``std`` of the
        score over folds, and against the baseline: ``difference`` (mean of
        the per-fold score minus the baseline's; positive: better),
        ``difference_se`` (its standard error), ``wins`` and ``losses``
        (folds better and worse than the baseline), ``folds``, and
        ``p_value`` of the corrected resampled t-test
        (:func:`corrected_ttest`); NaN on the baseline's rows.
        ``fit_time`` is the mean fit seconds. The per-fold scores are in
        ``comparison.attrs["folds"]`` (one row per estimator and fold).

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.dummy import DummyRegressor
    >>> from sklearn.linear_model import Ridge
    >>> X, y = make_regression(n_samples=60, n_features=3, noise=1.0, random_state=0)
    >>> table = paired_comparison({"mean": DummyRegressor(), "ridge": Ridge()}, X, y,
    ...                           cv=3, scoring="r2")
    >>> table.loc[(slice(None), "r2", "ridge"), ["wins", "folds"]].to_numpy().tolist()
    [[3, 3]]
    """
    if not isinstance(estimators, dict) or len(estimators) < 2:
        raise ValueError(
            "'estimators' must be a dict of at least two named estimators, e.g. "
            "{'joint': MultiTaskEstimator(...), 'separate': SeparateNetworks(...)}; got "
            f"{type(estimators).__name__} {estimators!r:.80}."
        )
    if n_jobs is not None and not isinstance(n_jobs, numbers.Integral):
        raise TypeError(f"'n_jobs' must be an int or None; got {n_jobs!r}.")
    first = next(iter(estimators.values()))
    splitter = check_cv(cv, y, classifier=is_classifier(first))
    splits = list(splitter.split(X, y, groups))
    named = _default_scoring(estimators) if scoring is None else _named_scoring(scoring)
    scorers = {f"s{i}": (check_scoring(first, scoring=s) if isinstance(s, str) else s)
               for i, s in enumerate(named.values())}
    rows = []
    for name, estimator in estimators.items():
        result = cross_validate(estimator, X, y, cv=splits, scoring=scorers, n_jobs=n_jobs,
                                error_score="raise")
        for fold in range(len(splits)):
            rows.extend({"head": head, "metric": metric, "estimator": name, "fold": fold,
                         "score": float(result[f"test_s{i}"][fold]),
                         "fit_time": float(result["fit_time"][fold])}
                        for i, (head, metric) in enumerate(named))
    folds = pd.DataFrame(rows)
    n_train = float(np.mean([len(train) for train, _ in splits]))
    n_test = float(np.mean([len(test) for _, test in splits]))
    table = _summarize(folds, list(estimators), n_train, n_test)
    table.attrs["folds"] = folds
    return table


def _summarize(folds, names, n_train, n_test):
    """The per-(head, metric, estimator) table of :func:`paired_comparison`."""
    out = []
    for (head, metric), group in folds.groupby(["head", "metric"], sort=False, dropna=False):
        scores = group.pivot(index="fold", columns="estimator", values="score")
        base = scores[names[0]]
        for name in names:
            d = scores[name] - base
            paired = name != names[0]
            out.append({
                "head": head, "metric": metric, "estimator": name,
                "mean": scores[name].mean(), "std": scores[name].std(ddof=1),
                "difference": d.mean() if paired else np.nan,
                "difference_se": d.std(ddof=1) / np.sqrt(len(d)) if paired else np.nan,
                "wins": int((d > 0).sum()) if paired else None,
                "losses": int((d < 0).sum()) if paired else None,
                "folds": len(d),
                "p_value": corrected_ttest(d, n_train, n_test) if paired else np.nan,
                "fit_time": group[group.estimator == name].fit_time.mean(),
            })
    table = pd.DataFrame(out).astype({"wins": "Int64", "losses": "Int64"})  # NA: the baseline
    return table.set_index(["head", "metric", "estimator"])
