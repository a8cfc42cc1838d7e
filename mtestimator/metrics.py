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

__all__ = [
    "hamming_loss_scorer",
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
    y = estimator._check_targets(y, reset=False)
    report = per_label_report(y, estimator.predict(X), labels=estimator.classes_)
    return {f"{metric}_{label}": float(report.loc[label, metric])
            for metric in ("precision", "recall", "f1") for label in report.index}
