"""Per-head access through a Pipeline: the estimator at its end, and X as that estimator sees it.

``mtestimator.predict_heads(pipe, X)`` and ``predict_proba_heads`` take one
of mtestimator's estimators or a :class:`~sklearn.pipeline.Pipeline` ending
with one (nested Pipelines too): the steps before it transform X, then the
estimator predicts the heads asked for. ``summary``, ``plot_network`` and
``HistoryDisplay.from_estimator`` reach the estimator the same way
(:func:`final_estimator`).
"""

import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

__all__ = ["final_estimator", "predict_heads", "predict_proba_heads", "through"]


def final_estimator(estimator, what=None):
    """The estimator at the end of ``estimator`` (itself when not a Pipeline);
    with ``what`` (the caller's name), a TypeError for any scikit-learn estimator
    (or step) that is not one of mtestimator's."""
    final = estimator
    while isinstance(final, Pipeline):
        final = final[-1]
    if what is not None and not hasattr(final, "predict_head") and \
            isinstance(final, (BaseEstimator, str)):
        got = type(estimator).__name__
        if final is not estimator:
            step = repr(final) if isinstance(final, str) else type(final).__name__
            got += f" ending with {step}"
        hint = (" For a search, pass its best_estimator_."
                if type(final).__name__.endswith("SearchCV") else "")
        raise TypeError(f"{what} needs one of mtestimator's estimators, or a Pipeline "
                        f"ending with one; got {got}.{hint}")
    return final


def through(estimator, X, what):
    """``(final estimator, X transformed by the steps before it)``."""
    final = final_estimator(estimator, what)
    while isinstance(estimator, Pipeline):
        if len(estimator) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator[-1]
    return final, X


def _names(est, heads, what, default):
    """The head names asked for, each checked against the fitted heads; None:
    those for which ``default(head)`` holds."""
    check_is_fitted(est, "model_")
    if heads is None:
        return [name for name, head in est.heads_ if default(head)]
    names = [heads] if isinstance(heads, str) else heads
    if not isinstance(names, (list, tuple)) or not names or \
            not all(isinstance(n, str) for n in names):
        raise TypeError(f"{what}: heads must be a head name, a non-empty list of head "
                        f"names or None (every head); got {heads!r}.")
    for name in names:
        est._head(name)  # not fitted, or no such head: says which heads there are
    return list(names)


def predict_heads(estimator, X, heads=None):
    """The predictions of each head, by name.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        One of mtestimator's estimators, or a Pipeline ending with one: the
        steps before it transform ``X`` first.
    X : array-like or DataFrame
        As the Pipeline (or the estimator) takes it.
    heads : str or list of str, default=None
        The heads to predict; None: every head.

    Returns
    -------
    predictions : dict
        ``{head name: predictions}``, each as ``predict_head`` returns it; a
        Series or DataFrame carries ``X``'s index when ``X`` is a DataFrame,
        also where the steps before the estimator gave it an array (a
        ColumnTransformer's output): ``pipe.predict`` cannot keep it then.

    Examples
    --------
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from mtestimator import MultiLabelMLPClassifier, predict_heads
    >>> X, y = make_multilabel_classification(n_samples=40, n_classes=3, random_state=0)
    >>> pipe = make_pipeline(StandardScaler(), MultiLabelMLPClassifier(epochs=1,
    ...                                                                random_state=0))
    >>> pipe = pipe.fit(X, y)
    >>> {name: p.shape for name, p in predict_heads(pipe, X).items()}
    {'labels': (40, 3)}
    """
    est, Xt = through(estimator, X, "predict_heads")
    names = _names(est, heads, "predict_heads", lambda head: True)
    return {name: _indexed(est.predict_head(Xt, name), X) for name in names}


def _indexed(prediction, X):
    """``prediction`` with ``X``'s index, when both are pandas objects."""
    if isinstance(X, pd.DataFrame) and isinstance(prediction, (pd.Series, pd.DataFrame)):
        return prediction.set_axis(X.index, axis=0)
    return prediction


def predict_proba_heads(estimator, X, heads=None):
    """The probabilities of each classification and multi-label head, by name.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        As in :func:`predict_heads`.
    X : array-like or DataFrame
    heads : str or list of str, default=None
        The heads (each with probabilities); None: every head that has them.

    Returns
    -------
    probabilities : dict
        ``{head name: array}``: ``(n_samples, n_classes)`` for a
        classification head (columns in the order of the head's
        ``classes_``), ``(n_samples, n_labels)`` for a multi-label head.
    """
    est, Xt = through(estimator, X, "predict_proba_heads")
    names = _names(est, heads, "predict_proba_heads",
                   lambda head: hasattr(head, "predict_proba"))
    return {name: est._predict_head_proba(Xt, name) for name in names}
