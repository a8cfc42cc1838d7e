"""ClassificationHead: one sigmoid (two classes) or softmax unit per class, cross-entropy,
class weights, a binary head's decision threshold."""

import numbers
import warnings

import numpy as np
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics import accuracy_score
from .._compat import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight

from ._checks import check_head, check_storable, dict_class_weight
from sklearn.utils.multiclass import type_of_target

from ..persistence.spec import Array, ClassWeights, Classes, PerUnits, register
from ._base import BaseHead, _as_numpy, _missing_mask, _natural, f1_thresholds, \
    tunes_threshold_or_temperature
from ._calibration import fit_temperature, scale_sigmoid, scale_softmax

__all__ = ["ClassificationHead"]


@register
class ClassificationHead(BaseHead):
    """Class labels: one sigmoid unit for two classes, else a softmax.

    Binary targets train with binary cross-entropy, multiclass ones with
    sparse categorical cross-entropy. ``predict_proba`` always has one
    column per class, like every scikit-learn classifier.

    Parameters
    ----------
    columns : None, int or str, default=None
        The label column (one column).
        Columns of a DataFrame ``y`` are taken by label only (an int label
        too: ``1`` is the column labelled 1, never the second column; a
        MultiIndex column by its tuple); positions (ints) only for an array
        ``y``. Column names of a DataFrame ``y`` must be unique.
    class_weight : None, "balanced" or dict, default=None
        Weights of the classes in this head's loss, as in scikit-learn:
        ``"balanced"`` is ``n_samples / (n_classes * count(class))``; a dict
        maps labels to weights (missing labels weigh 1).
    loss_weight : float, default=1.0
        Weight of this head's loss in the total loss.
    calibration : None or "temperature", default=None
        ``"temperature"``: after training, one temperature ``T`` is fitted
        (minimising the log loss, with a prior that keeps ``T`` near 1 on
        little evidence) on held-out rows: the early-stopping validation
        split with ``early_stopping=True``, else ``validation_fraction`` of
        the rows held out of training for it; ``predict_proba`` then
        divides the network's logits by ``T``. The predicted class (the
        argmax) does not change.
    threshold : None, float in (0, 1) or "auto", default=None
        A binary head's decision threshold: ``predict`` gives the second
        class (``classes_[1]``) where its probability is above it. ``None``:
        the most probable class (0.5). ``"auto"``: the threshold of a grid
        from 0.05 to 0.95 that maximises the F1 score of ``classes_[1]``, on
        the early-stopping validation split when there is one, else on the
        training data (as :class:`MultiLabelHead`'s). The threshold applies to
        the network's probabilities (before calibration); ``predict_proba``
        does not change. A multiclass head takes no threshold.
    hidden_layer_sizes : int or tuple of int, default=()
        This head's own tower of Dense layers between the shared trunk and
        its output, with the trunk's activation, dropout, ``alpha`` and
        initializer (see :class:`BaseHead`); ``()``: no tower.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The sorted labels seen in ``fit``.
    temperature_ : ndarray of shape (1,) or None
        The fitted temperature (``calibration="temperature"``), else None.
    threshold_ : ndarray of shape (1,) or None
        A binary head's decision threshold (0.5 with ``threshold=None``, tuned
        with ``"auto"``); None for a multiclass head.

    Examples
    --------
    >>> from mtestimator.heads import ClassificationHead
    >>> ClassificationHead(columns="species", class_weight="balanced")
    ClassificationHead(class_weight='balanced', columns='species')
    """

    _fitted_state = {"classes_": Classes(required=True), "class_weight_": ClassWeights(),
                     "output_activation_": PerUnits("sigmoid", "softmax", required=True),
                     "loss_": PerUnits("binary_crossentropy", "sparse_categorical_crossentropy"),
                     "temperature_": Array("f", none=True, finite=True, low=0, open_low=True,
                                           meaning="a temperature"),
                     "threshold_": Array("f", none=True, per_unit=True, finite=True, low=0,
                                         high=1, meaning="a probability threshold")}
    _parameter_constraints = {**BaseHead._parameter_constraints,
                              "class_weight": [StrOptions({"balanced"}), dict, None],
                              "calibration": [StrOptions({"temperature"}), None],
                              "threshold": [Interval(numbers.Real, 0, 1, closed="neither"),
                                            StrOptions({"auto"}), None]}
    metric = staticmethod(accuracy_score)
    history_metric = "accuracy"
    kind = "classifier"

    def __init__(self, columns=None, *, class_weight=None, when=None, otherwise=np.nan,
                 loss_weight=1.0, calibration=None, threshold=None, hidden_layer_sizes=()):
        super().__init__(columns, when=when, otherwise=otherwise, loss_weight=loss_weight,
                         hidden_layer_sizes=hidden_layer_sizes)
        self.class_weight = class_weight
        self.calibration = calibration
        self.threshold = threshold

    def transform_targets(self, y):
        """The labels as a 1-D array in their natural dtype (object with None
        where a label is missing)."""
        y = _as_numpy(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected. Please change "
                "the shape of y to (n_samples,), for example using ravel().",
                DataConversionWarning, stacklevel=4)
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(
                f"{self._where()}: a ClassificationHead takes one label column; got y of "
                f"shape {y.shape}. Use one ClassificationHead per column, or a "
                "MultiLabelHead for 0/1 label columns."
            )
        missing = _missing_mask(y)
        if y.dtype == object:
            given = y[~missing]
            strings = np.array([isinstance(v, str) for v in given], dtype=bool)
            if strings.any() and not strings.all():
                raise ValueError(
                    f"Mix of label input types (string and number) in {self._where()}: the "
                    "class labels mix numbers and strings (e.g. "
                    f"{given[~strings][0]!r} and {given[strings][0]!r}); convert the column "
                    "to one type first, e.g. y[col].astype(str)."
                )
        present = _natural(y[~missing])
        if present.dtype.kind == "f" and np.isinf(present).any():
            raise ValueError(f"{self._where()}: the class labels contain infinity; a class "
                             "label must be finite (use NaN or None for a missing label).")
        if not missing.any():
            return present
        labels = np.empty(len(y), dtype=object)
        labels[~missing] = list(present)
        labels[missing] = None
        return labels

    def fit(self, y, sample_weight=None, classes=None):
        """Learn the classes (and class weights) from the labels.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array-like, default=None
            Every class, when ``y`` may not show them all (``partial_fit``).

        Returns
        -------
        self : ClassificationHead
        """
        check_head(self)
        check_storable(self, y)
        labels = self.transform_targets(y)
        labels = _natural(labels[~_missing_mask(labels)])
        if len(labels) == 0:
            raise ValueError(f"{self._where()}: every class label is missing.")
        kind = type_of_target(labels) if labels.dtype != object else "multiclass"
        if kind in ("continuous", "continuous-multioutput"):
            raise ValueError(
                f"{self._where()}: the class labels are continuous values "
                f"(e.g. {labels[0]!r}); a ClassificationHead needs class labels. Use a "
                "RegressionHead for numbers, or bin them first (e.g. np.digitize)."
            )
        self.classes_ = np.unique(labels if classes is None else _natural(classes))
        if classes is not None and not np.isin(labels, self.classes_).all():
            raise ValueError(
                f"y holds labels {np.setdiff1d(labels, self.classes_).tolist()!r} that are "
                f"not in classes={self.classes_.tolist()!r} ({self._where()})."
            )
        if len(self.classes_) < 2:
            raise ValueError(
                f"The classification target has a single class "
                f"({self.classes_.tolist()!r}); at least 2 classes are needed, y has 1 "
                f"class ({self._where()})."
            )
        binary = len(self.classes_) == 2
        if self.threshold is not None and not binary:
            raise ValueError(
                f"{self._where()}: threshold={self.threshold!r} applies to a binary head, "
                f"but this head has {len(self.classes_)} classes "
                f"{self.classes_.tolist()[:10]!r}. Leave threshold=None (the most probable "
                "class) for a multiclass head."
            )
        self.threshold_ = (None if not binary else
                           np.array([0.5 if self.threshold in (None, "auto")
                                     else float(self.threshold)]))
        self.loss_ = "binary_crossentropy" if binary else "sparse_categorical_crossentropy"
        self.output_units_ = 1 if binary else len(self.classes_)
        self.output_activation_ = "sigmoid" if binary else "softmax"
        self.class_weight_ = None
        if isinstance(self.class_weight, dict):
            self.class_weight_ = dict_class_weight(self, self.classes_)
        elif self.class_weight is not None:
            weights = compute_sample_weight(self.class_weight, labels)
            self.class_weight_ = np.array([weights[labels == c][0] for c in self.classes_])
        self.temperature_ = None
        return self

    def encode(self, y_natural):
        """Class indices (float32 for binary, int32 otherwise) and per-row
        weights (class weights; 0 where the label is missing)."""
        idx, present = self._indices(y_natural)
        weight = (np.ones(len(idx), np.float32) if self.class_weight_ is None
                  else self.class_weight_[idx].astype(np.float32)) * present
        dtype = np.float32 if self.output_units_ == 1 else np.int32
        return idx.astype(dtype).reshape(-1, 1), weight

    def _indices(self, y_natural):
        y = np.asarray(y_natural)
        present = ~_missing_mask(y)
        values = _natural(y[present])
        idx = np.zeros(len(y), dtype=np.int64)
        if len(values):
            found = np.clip(np.searchsorted(self.classes_, values), 0, len(self.classes_) - 1)
            unseen = self.classes_[found] != values
            if unseen.any():
                raise ValueError(
                    f"y contains labels not seen in fit: {np.unique(values[unseen]).tolist()!r};"
                    f" the classes seen in fit are {self.classes_.tolist()!r} "
                    f"({self._where()})."
                )
            idx[present] = found
        return idx, present

    def predict_proba(self, raw):
        """Class probabilities, one column per class of ``classes_`` (calibrated
        with ``calibration="temperature"``)."""
        temperature = getattr(self, "temperature_", None)
        if temperature is None:
            return self._network_proba(raw)
        if self.output_units_ == 1:
            p = scale_sigmoid(np.asarray(raw, np.float64).reshape(-1), temperature[0])
            return np.column_stack([1.0 - p, p])
        return scale_softmax(raw, temperature[0])

    def _network_proba(self, raw):
        raw = np.asarray(raw, np.float64)
        if self.output_units_ == 1:
            p = raw.reshape(-1)
            return np.column_stack([1.0 - p, p])
        return raw

    def decode(self, raw):
        """The most probable class of each row (calibration does not change it);
        for a binary head, ``classes_[1]`` where the network's probability is
        above ``threshold_`` (0.5 by default: the most probable class)."""
        threshold = getattr(self, "threshold_", None)  # None: multiclass, or an older file
        if threshold is not None:
            return self.classes_[(np.asarray(raw, np.float64).reshape(-1)
                                  > threshold[0]).astype(np.intp)]
        return self.classes_[np.argmax(self._network_proba(raw), axis=1)]

    def tunes(self):
        return tunes_threshold_or_temperature(self)

    def tune(self, y_natural, raw):
        """With ``threshold="auto"``: the F1-maximising threshold; with
        ``calibration="temperature"``: the temperature; on the labelled rows."""
        if isinstance(self.threshold, str):  # "auto", a binary head (checked in fit)
            idx, present = self._indices(y_natural)
            self.threshold_ = f1_thresholds(np.where(present, idx, np.nan)[:, None],
                                            self._network_proba(raw)[:, 1:])
        if self.calibration == "temperature":
            idx, present = self._indices(y_natural)
            binary = self.output_units_ == 1
            proba = self._network_proba(raw)[present]
            self.temperature_ = np.array([fit_temperature(
                proba[:, 1] if binary else proba, idx[present], softmax=not binary)])
        return self

    def stratify(self, y_natural):
        idx, present = self._indices(y_natural)
        return np.where(present, idx, -1)
