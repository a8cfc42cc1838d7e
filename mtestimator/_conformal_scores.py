"""The arithmetic of conformal prediction: conformity scores, their quantiles, CV+ bounds and sets.

No estimators here: arrays in, arrays out. ``level`` is the confidence
level ``1 - alpha``; ``n`` the number of calibration scores. The split
method is CV+ with one fold, so both use the same functions (Barber et al.,
"Predictive inference with the jackknife+", 2021; Romano, Sesia and Candès,
"Classification with valid and adaptive coverage", 2020).
"""

import math

import numpy as np

__all__ = ["class_scores", "interval", "prediction_set", "rank"]

#: Test rows per block in the CV+ computations (memory: rows x calibration rows).
_BLOCK = 512


def rank(n, level):
    """``ceil((n + 1) * level)``: which smallest score bounds the interval
    (above ``n``: no finite bound). Rounded first so that e.g. ``(99 + 1) * 0.9``
    is 90, not 91."""
    return math.ceil(round((n + 1) * level, 9))


def class_scores(proba, set_method, u=None):
    """The non-conformity score of every class, (n, n_classes).

    ``"lac"``: ``1 - p``. ``"aps"``: the probability mass of the classes more
    probable than the class (ties in column order) plus ``u`` times its own
    probability; ``u`` (one per row, uniform in [0, 1]) is the random
    tie-break that makes the coverage exact rather than conservative
    (``u=None``: 1, the class's whole probability).
    """
    proba = np.asarray(proba, np.float64)
    if set_method == "lac":
        return 1.0 - proba
    order = np.argsort(-proba, axis=1, kind="stable")
    ordered = np.take_along_axis(proba, order, axis=1)
    mass = np.cumsum(ordered, axis=1) - ordered * (0.0 if u is None else 1.0 - u[:, None])
    scores = np.empty_like(proba)
    np.put_along_axis(scores, order, mass, axis=1)
    return scores


def _kth(values, k, axis=-1):
    """The k-th smallest (1-based) along ``axis``; NaNs sort last."""
    return np.take(np.partition(values, k - 1, axis=axis), k - 1, axis=axis)


def interval(centres, spreads, scores, folds, level):
    """CV+ (one fold: split conformal) interval of one target column.

    Parameters
    ----------
    centres, spreads : ndarray of shape (n_folds, n_test)
        Each fold model's prediction and spread estimate (1 without scaling).
    scores : ndarray of shape (n,)
        The calibration rows' scores ``|y - prediction| / spread`` (each by
        the model of its fold).
    folds : ndarray of shape (n,)
        The fold of each calibration row.
    level : float

    Returns
    -------
    bounds : ndarray of shape (n_test, 2)
    """
    n, n_test = len(scores), centres.shape[1]
    k = rank(n, level)
    out = np.empty((n_test, 2))
    if k > n or n == 0:
        out[:, 0], out[:, 1] = -np.inf, np.inf
        return out
    if centres.shape[0] == 1:  # split: the k-th smallest score around one prediction
        q = _kth(scores, k)
        out[:, 0] = centres[0] - q * spreads[0]
        out[:, 1] = centres[0] + q * spreads[0]
        return out
    for start in range(0, n_test, _BLOCK):
        rows = slice(start, start + _BLOCK)
        mu, sd = centres[folds, rows].T, spreads[folds, rows].T  # (block, n)
        # the floor(alpha (n + 1))-th smallest of mu - R is minus the k-th smallest of R - mu
        out[rows, 0] = -_kth(scores * sd - mu, k)
        out[rows, 1] = _kth(mu + scores * sd, k)
    return out


def prediction_set(test_scores, scores, folds, level):
    """CV+ (one fold: split conformal) sets: a class is in when fewer than
    ``rank(n, level)`` calibration scores are below its score.

    Parameters
    ----------
    test_scores : ndarray of shape (n_folds, n_test, n_classes)
        Each fold model's class scores on the test rows.
    scores : ndarray of shape (n,)
        The calibration rows' scores of their true class.
    folds : ndarray of shape (n,)
    level : float

    Returns
    -------
    sets : ndarray of shape (n_test, n_classes), bool
    """
    n = len(scores)
    k = rank(n, level)
    if k > n or n == 0:
        return np.ones(test_scores.shape[1:], bool)
    below = np.zeros(test_scores.shape[1:], np.int64)
    for fold in range(test_scores.shape[0]):
        ordered = np.sort(scores[folds == fold])
        below += np.searchsorted(ordered, test_scores[fold], side="left")
    return below < k
