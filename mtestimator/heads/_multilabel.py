"""MultiLabelHead: one sigmoid unit per label, binary cross-entropy, tuned thresholds."""

import numbers
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import MultiLabelBinarizer
from .._compat import Interval, StrOptions

from ..persistence.spec import Array, Classes, Flag, OneOf, register
from ._base import BaseHead, _as_numpy, _missing_mask, _natural, f1_thresholds, \
    tunes_threshold_or_temperature
from ._checks import check_head, check_storable
from ._calibration import fit_temperature, scale_sigmoid

__all__ = ["MultiLabelHead", "f1_thresholds"]


def _is_label_collections(y):
    """True for a list of label collections (as MultiLabelBinarizer takes)."""
    if isinstance(y, (np.ndarray, pd.DataFrame)) or sp.issparse(y):
        return False
    try:
        items = list(y)
    except TypeError:
        return False
    if not items or not all(isinstance(i, (set, frozenset, list, tuple)) for i in items):
        return False
    if isinstance(y, pd.Series) or any(isinstance(i, (set, frozenset)) for i in items):
        return True
    return len({len(i) for i in items}) > 1


@register
class MultiLabelHead(BaseHead):
    """One sigmoid unit per label, binary cross-entropy: any number of labels per row.

    Parameters
    ----------
    columns : None or list of int or str, default=None
        The 0/1 label columns. With ``None`` the whole ``y``, which may also
        be a list of label collections (``[{"a"}, {"a", "b"}, set()]``) or a
        sparse indicator matrix.
        Columns of a DataFrame ``y`` are taken by label only (an int label
        too: ``1`` is the column labelled 1, never the second column; a
        MultiIndex column by its tuple); positions (ints) only for an array
        ``y``. Column names of a DataFrame ``y`` must be unique.
    threshold : float, array-like of shape (n_labels,) or "auto", default=0.5
        A label is predicted when its probability is above its threshold.
        ``"auto"`` tunes one threshold per label on a grid from 0.05 to 0.95
        to maximise that label's F1, on the early-stopping validation set
        when there is one, else on the training data.
    class_weight : None, "balanced" or array-like of shape (n_labels,), default=None
        Weight of the positive term of each label's loss (``pos_weight_``);
        ``"balanced"`` is ``n_negative / n_positive`` per label.
    loss_weight : float, default=1.0
        Weight of this head's loss in the total loss.
    calibration : None or "temperature", default=None
        ``"temperature"``: after training, one temperature per label (each
        label has its own sigmoid and its own frequency) is fitted to
        minimise that label's log loss (as ClassificationHead's), on the
        held-out rows (as ClassificationHead's: the early-stopping split, or
        ``validation_fraction`` of the rows held out of training); ``predict_proba``
        divides each label's logit by its temperature. ``predict`` (the
        thresholds, tuned on the network's own probabilities) does not change.
    hidden_layer_sizes : int or tuple of int, default=()
        This head's own tower of Dense layers between the shared trunk and
        its output, with the trunk's activation, dropout, ``alpha`` and
        initializer (see :class:`BaseHead`); ``()``: no tower.

    Attributes
    ----------
    classes_ : ndarray of shape (n_labels,)
        Label names: the DataFrame's columns, the labels of a list of label
        collections, the selected column positions, or ``0 .. n_labels - 1``.
    threshold_ : ndarray of shape (n_labels,)
    pos_weight_ : ndarray of shape (n_labels,) or None
    temperature_ : ndarray of shape (n_labels,) or None
        One fitted temperature per label (``calibration="temperature"``).

    Examples
    --------
    >>> from mtestimator.heads import MultiLabelHead
    >>> MultiLabelHead(columns=["a", "b", "c"], threshold="auto")
    MultiLabelHead(columns=['a', 'b', 'c'], threshold='auto')
    """

    _fitted_state = {
        "classes_": Classes(ordered=False),
        "threshold_": Array("f", per_unit=True, required=True, finite=True, low=0, high=1,
                            meaning="a probability threshold"),
        "pos_weight_": Array("f", none=True, per_unit=True, finite=True, low=0,
                             meaning="a positive-label weight"),
        "bool_": Flag(),
        "masked_": Flag(),
        "output_activation_": OneOf("sigmoid", required=True),
        "loss_": OneOf("binary_crossentropy"),
        "temperature_": Array("f", none=True, per_unit=True, finite=True, low=0,
                              open_low=True,
                              meaning="a temperature"),
    }

    _parameter_constraints = {
        **BaseHead._parameter_constraints,
        "threshold": [Interval(numbers.Real, 0, 1, closed="both"), StrOptions({"auto"}),
                      "array-like"],
        "class_weight": [StrOptions({"balanced"}), "array-like", None],
        "calibration": [StrOptions({"temperature"}), None],
    }
    metric = staticmethod(accuracy_score)
    history_metric = "binary_accuracy"  # per label: 1 - Hamming loss
    kind = "multilabel"

    def __init__(self, columns=None, *, threshold=0.5, class_weight=None, when=None,
                 otherwise=np.nan, loss_weight=1.0, calibration=None,
                 hidden_layer_sizes=()):
        super().__init__(columns, when=when, otherwise=otherwise, loss_weight=loss_weight,
                         hidden_layer_sizes=hidden_layer_sizes)
        self.threshold = threshold
        self.class_weight = class_weight
        self.calibration = calibration

    def _indicator(self, y, reset):
        """(indicator matrix, label names or None) from any multi-label layout."""
        names, is_bool = None, False
        if _is_label_collections(y):
            binarizer = MultiLabelBinarizer(classes=None if reset else self.classes_)
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)
                try:
                    y = binarizer.fit_transform(list(y))
                except UserWarning as exc:
                    raise ValueError(f"y has labels not seen in fit: {exc}") from None
            names = binarizer.classes_
            if len(names) == 0:
                raise ValueError(
                    f"Every label set of y is empty ({self._where()}): there is no label to "
                    "learn. Give label sets that name the labels, e.g. [{'a'}, {'a', 'b'}, "
                    "set()], or a binary indicator matrix with one column per label."
                )
        elif isinstance(y, pd.DataFrame):
            check_storable(self, y)
            is_bool = all(pd.api.types.is_bool_dtype(d) for d in y.dtypes)
            names, y = np.asarray(y.columns), _as_numpy(y, numeric=True)
        else:
            y = _as_numpy(y)
            check_storable(self, y)
            is_bool = y.dtype == bool
        if y.ndim != 2:
            raise ValueError(
                f"y must be a 2-D binary indicator matrix of shape (n_samples, "
                f"n_labels) or a list of label collections; got an array of shape "
                f"{y.shape} ({self._where()}). For a single target use a "
                "ClassificationHead; to turn lists of labels into an indicator matrix "
                "use sklearn.preprocessing.MultiLabelBinarizer."
            )
        if y.dtype == object:
            missing = _missing_mask(y)
            present = _natural(y[~missing])
            if present.dtype.kind in "biuf" or len(present) == 0:
                filled = np.full(y.shape, np.nan)
                filled[~missing] = present.astype(np.float64) if len(present) else []
                y = filled
            else:
                y = _natural(y)
        if reset:
            self.bool_ = bool(is_bool)
        missing = np.isnan(y) if y.dtype.kind == "f" else np.zeros(y.shape, bool)
        values = y[~missing]
        if y.dtype.kind not in "biuf" or not np.isin(values, (0, 1)).all():
            bad = np.unique(values[~np.isin(values, (0, 1))] if y.dtype.kind in "biuf"
                            else values)[:5]
            raise ValueError(
                f"y must hold only 0 and 1 (one column per label, NaN for a missing "
                f"label); got values {bad.tolist()!r} ({self._where()}). Pass a binary "
                "indicator matrix, or a list of label sets such as [{'a'}, {'a', 'b'}, "
                "set()]."
            )
        if missing.any():
            return y.astype(np.float64), names
        return y.astype(np.int64), names

    def transform_targets(self, y):
        """The targets as an indicator matrix in the order of ``classes_``: int64,
        or float64 with NaN where labels are missing."""
        y, names = self._indicator(y, reset=False)
        if y.shape[1] != len(self.classes_):
            raise ValueError(
                f"y has {y.shape[1]} label columns, but {self._where()} was fitted "
                f"with {len(self.classes_)} labels {self.classes_.tolist()!r}."
            )
        if names is not None and not np.array_equal(names, self.classes_):
            raise ValueError(
                f"y has columns {names.tolist()!r}, but {self._where()} was fitted with "
                f"labels {self.classes_.tolist()!r}."
            )
        return y

    def fit(self, y, sample_weight=None):
        """Learn the labels, their weights and fixed thresholds.

        Parameters
        ----------
        y : indicator matrix, DataFrame, sparse matrix or list of label collections
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : MultiLabelHead
        """
        check_head(self)
        for param in ("threshold", "class_weight"):
            if isinstance(getattr(self, param), dict):
                raise ValueError(
                    f"{self._where()}: {param}={getattr(self, param)!r} is a dict; give "
                    f"one value per label as a list in the order of the label columns, "
                    f"e.g. {param}=[0.3, 0.5]."
                )
        y, names = self._indicator(y, reset=True)
        n_labels = y.shape[1]
        if names is None:
            names = (np.asarray(list(self.columns)) if isinstance(self.columns, (list, tuple))
                     else np.arange(n_labels))
        self.classes_ = names
        present = ~np.isnan(y) if y.dtype.kind == "f" else np.ones(y.shape, bool)
        counts = np.nansum(y, axis=0) if y.dtype.kind == "f" else y.sum(axis=0)
        n_present = present.sum(axis=0)
        if not n_present.all():
            empty = np.asarray(names)[n_present == 0].tolist()
            raise ValueError(
                f"Label columns {empty!r} of {self._where()} are missing (NaN) on every "
                "row: there is nothing to learn them from. Drop them or give labels."
            )
        constant = np.flatnonzero((counts == 0) | (counts == n_present))
        if len(constant):
            warnings.warn(
                f"Label columns {constant.tolist()} are all 0 or all 1 in y "
                f"({self._where()}); the network can only learn to predict them constant.",
                UserWarning,
            )
        self.pos_weight_ = None
        if isinstance(self.class_weight, str):  # "balanced"
            self.pos_weight_ = np.where(counts > 0,
                                        (n_present - counts) / np.maximum(counts, 1), 1.0)
        elif self.class_weight is not None:
            weight = np.asarray(self.class_weight, dtype=np.float64).reshape(-1)
            if weight.shape != (n_labels,) or not np.all(np.isfinite(weight) & (weight > 0)):
                raise ValueError(
                    "The 'class_weight' parameter must be None, 'balanced' or "
                    f"{n_labels} positive floats, one per label. Got "
                    f"{self.class_weight!r} instead."
                )
            self.pos_weight_ = weight
        self.threshold_ = self._fixed_threshold(n_labels)
        self.masked_ = bool((~present).any())
        self.loss_ = "binary_crossentropy"
        self.output_units_, self.output_activation_ = n_labels, "sigmoid"
        self.temperature_ = None
        return self

    def _fixed_threshold(self, n_labels):
        if isinstance(self.threshold, str):  # "auto": tuned after training
            return np.full(n_labels, 0.5)
        threshold = np.asarray(self.threshold, dtype=np.float64).reshape(-1)
        if threshold.size == 1:
            threshold = np.repeat(threshold, n_labels)
        if threshold.shape != (n_labels,) or not np.all((threshold >= 0) & (threshold <= 1)):
            raise ValueError(
                f"The 'threshold' parameter of MultiLabelHead must be a float in "
                f"[0, 1], {n_labels} such floats (one per label) or 'auto'. Got "
                f"{self.threshold!r} instead."
            )
        return threshold

    def build_loss(self):
        if getattr(self, "masked_", False):
            from ..engine.networks import MaskedLoss

            return MaskedLoss("bce", self.pos_weight_)
        if self.pos_weight_ is None:
            return "binary_crossentropy"
        from ..engine.networks import WeightedBinaryCrossentropy

        return WeightedBinaryCrossentropy(self.pos_weight_)

    def encode(self, y_natural):
        """Float32 indicator matrix (NaN where missing, with the masked loss)
        and per-row weights (0 for a row without any label of this head)."""
        y = np.asarray(y_natural, np.float64)
        present = ~np.isnan(y)
        weight = present.any(axis=1) if self.masked_ else present.all(axis=1)
        if not self.masked_:
            y = np.where(present, y, 0.0)
        return y.astype(np.float32), weight.astype(np.float32)

    def predict_proba(self, raw):
        """Probability of each label, independently of the others (calibrated
        with ``calibration="temperature"``)."""
        temperature = getattr(self, "temperature_", None)
        if temperature is None:
            return np.asarray(raw, dtype=np.float64)
        return scale_sigmoid(raw, temperature)

    def decode(self, raw):
        """Indicator matrix: 1 (True for bool targets) where a label's network
        probability (before calibration) is above its threshold."""
        return (np.asarray(raw, dtype=np.float64) > self.threshold_).astype(
            bool if getattr(self, "bool_", False) else np.int64)

    def tunes(self):
        return tunes_threshold_or_temperature(self)

    def tune(self, y_natural, raw):
        """With ``threshold="auto"``: per-label F1-maximising thresholds; with
        ``calibration="temperature"``: one temperature per label, on the rows
        where that label is given."""
        proba = np.asarray(raw, dtype=np.float64)
        if isinstance(self.threshold, str):
            self.threshold_ = f1_thresholds(y_natural, proba)
        if self.calibration == "temperature":
            y = np.asarray(y_natural, np.float64)
            self.temperature_ = np.array([
                fit_temperature(proba[~np.isnan(y[:, j]), j], y[~np.isnan(y[:, j]), j],
                                softmax=False) for j in range(y.shape[1])])
        return self
