"""The fitted parts of a conformal estimator: one model and its calibration rows, outputs on common classes, spread models."""

import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_array

from ._compat import num_samples
from .heads import _missing_mask, _natural

__all__ = ["_Fold", "_Spread", "_class_indices", "_final", "_spread_features"]


def _final(estimator):
    return estimator[-1] if isinstance(estimator, Pipeline) else estimator


class _Fold:
    """One fitted model, the rows it left out (its calibration rows) and,
    with ``scale="mad"``, its spread models (head -> one per target column)."""

    def __init__(self, model, calibration_rows):
        self.model, self.rows, self.spread = model, calibration_rows, {}

    def features(self, X):
        """X as the final estimator sees it (after a Pipeline's steps)."""
        return self.model[:-1].transform(X) if isinstance(self.model, Pipeline) else X

    @staticmethod
    def _aligned(proba, own, classes):
        """Probabilities in the columns of ``classes`` (0 for a class this fold's
        model did not see; CV+ folds may miss a rare class)."""
        if classes is None or np.array_equal(own, classes):
            return proba
        out = np.zeros((len(proba), len(classes)))
        out[:, np.searchsorted(classes, own)] = proba
        return out

    def outputs(self, X, classes=None):
        """Per head: predictions (n, k) of a regression head, probabilities
        (n, n_classes) of a classification head, (n, n_labels, 2) of a
        multi-label head. Conditional heads: on every row, as if the
        condition held. ``classes``: head -> the columns wanted."""
        classes = classes or {}
        final = _final(self.model)
        raw = final._predict_raw(self.features(X))
        out = {}
        for name, head in final.heads_:
            if head.kind == "regressor":
                out[name] = np.asarray(head.decode(raw[name]), np.float64).reshape(len(raw[name]), -1)
            elif head.kind == "classifier":
                out[name] = self._aligned(head.predict_proba(raw[name]), head.classes_,
                                          classes.get(name))
            else:
                p = head.predict_proba(raw[name])
                out[name] = np.stack([1.0 - p, p], axis=2)
        return out

    def spreads(self, X, name, n_columns):
        """(n, k): each regression column's spread estimate (ones without scaling)."""
        models = self.spread.get(name)
        if models is None:
            return np.ones((num_samples(X), n_columns))
        Z = _spread_features(self.features(X))
        return np.column_stack([m.predict(Z) for m in models])


def _spread_features(Z):
    """The features of the spread models: 2-D, numeric, dense."""
    if sp.issparse(Z):
        Z = Z.toarray()
    try:
        return check_array(Z, dtype=np.float64, ensure_all_finite=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            "scale='mad' estimates the spread of the residuals from the features the "
            f"final estimator sees, which must be a 2-D numeric array ({exc}). Use "
            "scale=None (e.g. with sequences), or a Pipeline that encodes the features."
        ) from exc


class _Spread:
    """The spread model of one target column: gradient boosting on the absolute
    residuals, floored at a thousandth of their mean (a spread is positive)."""

    def __init__(self, residual):
        self.floor = max(1e-3 * float(np.mean(residual)) if len(residual) else 0.0, 1e-12)

    def fit(self, Z, residual):
        from sklearn.ensemble import HistGradientBoostingRegressor

        self.model = HistGradientBoostingRegressor(max_iter=50, random_state=0).fit(Z, residual)
        return self

    def predict(self, Z):
        return np.maximum(self.model.predict(Z), self.floor)


def _class_indices(head, labels):
    """Each label's column in ``head.classes_`` (-1: a class the head did not
    see in its training rows) and where a label is given."""
    labels = np.asarray(labels)
    given = ~_missing_mask(labels)
    values = _natural(labels[given])
    found = np.clip(np.searchsorted(head.classes_, values), 0, len(head.classes_) - 1)
    idx = np.zeros(len(labels), np.int64)
    idx[given] = np.where(head.classes_[found] == values, found, -1)
    return idx, given
