"""Scorers for multi-label and multi-head estimators.

Every scorer here is a scikit-learn scorer (or a callable returning a dict of
scores), usable as a ``scoring=`` entry of ``cross_validate`` and
``GridSearchCV``.
"""

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    hamming_loss,
    make_scorer,
    precision_recall_fscore_support,
)

from ._compat import BaseScorer
from ._pipeline import final_estimator, through
from .heads import _natural

__all__ = [
    "hamming_loss_scorer",
    "make_head_scorer",
    "per_label_report",
    "per_label_scorer",
    "subset_accuracy_scorer",
]

#: Subset accuracy (every label of a sample right), greater is better.
subset_accuracy_scorer = make_scorer(accuracy_score)

#: Negated Hamming loss (fraction of wrong labels), greater is better.
hamming_loss_scorer = make_scorer(hamming_loss, greater_is_better=False)


def per_label_report(y_true, y_pred, *, labels=None):
    """Precision, recall, F1 and support of each label.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, n_labels)
        Binary indicator matrices.
    labels : array-like of shape (n_labels,), default=None
        Label names for the index; ``0 .. n_labels - 1`` by default.

    Returns
    -------
    report : pandas.DataFrame
        One row per label; columns ``precision``, ``recall``, ``f1``,
        ``support``.

    Examples
    --------
    >>> per_label_report([[1, 0], [1, 1]], [[1, 0], [0, 1]], labels=["a", "b"]).round(3)
       precision  recall     f1  support
    a        1.0     0.5  0.667        2
    b        1.0     1.0  1.000        1
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None,
                                                 zero_division=0.0)
    index = labels if labels is not None else np.arange(y_true.shape[1])
    return pd.DataFrame({"precision": p, "recall": r, "f1": f,
                         "support": s}, index=pd.Index(index))


def per_label_scorer(estimator, X, y):
    """A ``scoring=`` callable: precision, recall and F1 of every label.

    Returns a dict with keys ``precision_<label>``, ``recall_<label>`` and
    ``f1_<label>``, label names taken from ``estimator.classes_``; in
    ``cross_validate`` each becomes a ``test_...`` column.

    Examples
    --------
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from sklearn.model_selection import cross_validate
    >>> from mtestimator import MultiLabelMLPClassifier
    >>> X, y = make_multilabel_classification(n_samples=60, n_classes=2, random_state=0)
    >>> cv = cross_validate(MultiLabelMLPClassifier(epochs=2, random_state=0), X, y,
    ...                     cv=2, scoring=per_label_scorer)
    >>> sorted(k for k in cv if k.startswith("test_"))
    ['test_f1_0', 'test_f1_1', 'test_precision_0', 'test_precision_1', 'test_recall_0', 'test_recall_1']
    """
    final = final_estimator(estimator)
    (y,) = final._natural_targets(y, final.heads_).values()
    report = per_label_report(y, estimator.predict(X), labels=final.classes_)
    return {f"{metric}_{label}": float(report.loc[label, metric])
            for metric in ("precision", "recall", "f1") for label in report.index}


class _HeadScorer(BaseScorer):
    """A scikit-learn scorer of one head (see :func:`make_head_scorer`)."""

    def __init__(self, score_func, sign, kwargs, response_method, head):
        super().__init__(score_func, sign, kwargs, response_method)
        self._head = head

    @property
    def head(self):
        """The name of the head this scorer scores."""
        return self._head

    def __repr__(self):
        return super().__repr__()[:-1] + f", head={self._head!r})"

    def _score(self, method_caller, estimator, X, y_true, **kwargs):
        final, Xt = through(estimator, X, "a head scorer")
        head = self._head
        fitted = final._head(head)
        y_true = final._natural_targets(y_true, final.heads_)[head]
        if self._response_method == "predict_proba":
            y_pred = final._predict_head_proba(Xt, head)
            if fitted.kind == "classifier" and y_pred.shape[1] == 2:
                y_pred = y_pred[:, 1]
        else:
            y_pred = final._predict_head_values(Xt, head)
        # rows without this head's target are not scored
        keep = fitted.labelled(y_true)
        y_true = np.asarray(y_true)[keep]
        if y_true.dtype == object:
            y_true = _natural(y_true)
        weight = kwargs.pop("sample_weight", None)
        extra = {} if weight is None else {"sample_weight": np.asarray(weight)[keep]}
        return self._sign * float(self._score_func(
            y_true, np.asarray(y_pred)[keep], **{**self._kwargs, **kwargs, **extra}))


def make_head_scorer(score_func, *, head, greater_is_better=True,
                     response_method="predict", **kwargs):
    """A scikit-learn scorer of one head of a multi-head estimator.

    Parameters
    ----------
    score_func : callable
        A metric ``score_func(y_true, y_pred, **kwargs)``, such as
        ``mean_absolute_error`` or ``accuracy_score``.
    head : str
        The name of the head to score (``"regression"`` or
        ``"classification"`` for a
        :class:`~mtestimator.JointRegressorClassifier`); ``y_true`` is that
        head's part of y, on the rows where it has a target.
    greater_is_better : bool, default=True
        If False the score is negated, as with ``make_scorer``.
    response_method : {"predict", "predict_proba"}, default="predict"
        ``"predict_proba"`` (classification and multi-label heads) passes
        the probabilities; with two classes, those of ``classes_[1]``, as
        scikit-learn does for binary metrics such as ``roc_auc_score``.
    **kwargs
        Passed to ``score_func``.

    Returns
    -------
    scorer : scikit-learn scorer
        ``scorer(estimator, X, y, sample_weight=None) -> float``, for
        ``scoring=`` in ``cross_validate`` and ``GridSearchCV`` (also in a
        multi-metric dict with ``refit=``), including on a Pipeline ending in
        a mtestimator estimator. Under metadata routing,
        ``scorer.set_score_request(sample_weight=True)`` makes it receive the
        weights. A head the estimator does not have is a ValueError naming
        its heads.

    Examples
    --------
    >>> from sklearn.metrics import mean_absolute_error
    >>> mae = make_head_scorer(mean_absolute_error, head="regression",
    ...                        greater_is_better=False)
    >>> import sklearn
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     mae = mae.set_score_request(sample_weight=True)
    """
    if not isinstance(head, str) or not head:
        raise ValueError(f"head must be the name of a head (a string); got {head!r}.")
    if response_method not in ("predict", "predict_proba"):
        raise ValueError("response_method must be 'predict' or 'predict_proba'; got "
                         f"{response_method!r}.")
    return _HeadScorer(score_func, 1 if greater_is_better else -1, kwargs, response_method,
                       head)
