"""Heads: the unit of design of every mtestimator network.

A head knows its output layer, its loss, how to encode its part of ``y`` for
Keras and decode the network's output back, and its default metric. An
estimator is a trunk plus a list of heads; :class:`HeadsEncoder` is the
scikeras target encoder that splits ``y`` between them and joins the
predictions back together.
"""

import numpy as np
from sklearn.metrics import accuracy_score, r2_score

from ._networks import OutputSpec, WeightedBinaryCrossentropy

__all__ = ["ClassificationHead", "HeadsEncoder", "MultiLabelHead", "RegressionHead"]


def _natural(values):
    """An object column back to its natural dtype (ints, floats or strings)."""
    values = np.asarray(values)
    if values.dtype == object:
        try:
            return np.asarray(values.tolist())
        except (TypeError, ValueError):
            return values
    return values


class RegressionHead:
    """One linear unit, mean squared error, optionally on a standardised target.

    Parameters
    ----------
    name : str
    scale : bool, default=False
        Standardise the target before training (mean 0, std 1); decoding
        brings predictions back to the original units.
    """

    metric = staticmethod(r2_score)
    loss = "mean_squared_error"

    def __init__(self, name="regression", *, scale=False):
        self.name = name
        self.scale = scale

    def fit(self, y):
        y = np.asarray(y, dtype=np.float64)
        self.mean_, self.std_ = 0.0, 1.0
        if self.scale:
            std = float(np.std(y))
            self.mean_, self.std_ = float(np.mean(y)), (std if std > 0 else 1.0)
        return self

    @property
    def output_spec(self):
        return OutputSpec(self.name, 1, "linear")

    @staticmethod
    def natural(y):
        """The target column as given by the user, as numbers."""
        return np.asarray(y, dtype=np.float64)

    def encode(self, y):
        y = np.asarray(y, dtype=np.float64)
        return ((y - self.mean_) / self.std_).astype(np.float32).reshape(-1, 1)

    def decode(self, raw):
        return np.asarray(raw, dtype=np.float64).reshape(-1) * self.std_ + self.mean_

    def stratify(self, y_encoded):
        return None


class ClassificationHead:
    """Softmax over the classes, or one sigmoid unit when there are two.

    ``classes_`` are the sorted distinct labels seen in ``fit``;
    :meth:`predict_proba` always has one column per class, like every
    scikit-learn classifier.
    """

    metric = staticmethod(accuracy_score)

    def __init__(self, name="classification"):
        self.name = name

    def fit(self, y):
        self.classes_ = np.unique(_natural(y))
        if len(self.classes_) < 2:
            raise ValueError(
                f"The classification target has a single class "
                f"({self.classes_.tolist()!r}); at least 2 classes are needed."
            )
        return self

    @property
    def binary(self):
        return len(self.classes_) == 2

    @property
    def loss(self):
        return "binary_crossentropy" if self.binary else "sparse_categorical_crossentropy"

    @property
    def output_spec(self):
        if self.binary:
            return OutputSpec(self.name, 1, "sigmoid")
        return OutputSpec(self.name, len(self.classes_), "softmax")

    @staticmethod
    def natural(y):
        """The label column in its natural dtype (ints, floats or strings)."""
        return _natural(y)

    def encode(self, y):
        y = _natural(y)
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        unseen = self.classes_[idx] != y
        if unseen.any():
            raise ValueError(
                f"y contains labels not seen in fit: {np.unique(y[unseen]).tolist()!r}; "
                f"the classes seen in fit are {self.classes_.tolist()!r}."
            )
        dtype = np.float32 if self.binary else np.int32
        return idx.astype(dtype).reshape(-1, 1)

    def predict_proba(self, raw):
        raw = np.asarray(raw, dtype=np.float64)
        if self.binary:
            p = raw.reshape(-1)
            return np.column_stack([1.0 - p, p])
        return raw

    def decode(self, raw):
        return self.classes_[np.argmax(self.predict_proba(raw), axis=1)]

    def stratify(self, y_encoded):
        return np.asarray(y_encoded).reshape(-1)


class MultiLabelHead:
    """One sigmoid unit per label, binary cross-entropy.

    Parameters
    ----------
    name : str
    classes : array-like of shape (n_labels,)
        The label names, in column order.
    class_weight : None, "balanced" or array-like of shape (n_labels,)
        Weight of the positive term of each label's loss (``pos_weight_``);
        ``"balanced"`` is ``n_negative / n_positive`` per label.
    """

    metric = staticmethod(accuracy_score)

    def __init__(self, name="labels", *, classes, class_weight=None):
        self.name = name
        self.classes = classes
        self.class_weight = class_weight

    def fit(self, y):
        self.classes_ = np.asarray(self.classes)
        self.pos_weight_ = None
        if isinstance(self.class_weight, str):  # "balanced"
            pos = y.sum(axis=0)
            self.pos_weight_ = np.where(pos > 0, (len(y) - pos) / np.maximum(pos, 1), 1.0)
        elif self.class_weight is not None:
            weight = np.asarray(self.class_weight, dtype=np.float64).reshape(-1)
            if weight.shape != (y.shape[1],) or not np.all(np.isfinite(weight) & (weight > 0)):
                raise ValueError(
                    "The 'class_weight' parameter must be None, 'balanced' or "
                    f"{y.shape[1]} positive floats, one per label. Got "
                    f"{self.class_weight!r} instead."
                )
            self.pos_weight_ = weight
        return self

    @property
    def loss(self):
        if self.pos_weight_ is None:
            return "binary_crossentropy"
        return WeightedBinaryCrossentropy(self.pos_weight_)

    @property
    def output_spec(self):
        return OutputSpec(self.name, len(self.classes_), "sigmoid")

    def encode(self, y):
        return np.asarray(y, dtype=np.float32)

    def predict_proba(self, raw):
        return np.asarray(raw, dtype=np.float64)

    def decode(self, raw, threshold=0.5):
        return (self.predict_proba(raw) > threshold).astype(np.int64)

    def stratify(self, y_encoded):
        return None


class HeadsEncoder:
    """The scikeras target encoder: ``y`` split column-wise between heads.

    Parameters
    ----------
    heads : list of heads
    columns : list of (int or None)
        The column of ``y`` each head takes; ``None`` means all of ``y``.
    """

    def __init__(self, heads, columns):
        self.heads = heads
        self.columns = columns

    def _parts(self, y):
        return [y if col is None else y[:, col] for col in self.columns]

    def fit(self, y):
        for head, part in zip(self.heads, self._parts(y)):
            head.fit(part)
        return self

    def transform(self, y):
        return {h.name: h.encode(part) for h, part in zip(self.heads, self._parts(y))}

    def get_metadata(self):
        return {"n_outputs_expected_": len(self.heads)}

    def stratify(self, y_encoded):
        """Labels to stratify an inner validation split on, or None."""
        for head in self.heads:
            labels = head.stratify(y_encoded[head.name])
            if labels is not None:
                return labels
        return None
