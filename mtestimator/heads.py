"""Heads: one output of a multi-task network each.

A head is a scikit-learn estimator (``get_params``, ``set_params``,
``clone``) that owns one task: which columns of ``y`` it takes, how those
targets are validated and encoded for Keras, its output layer and loss, how
the network's output is decoded back into predictions, its default metric,
any tuning after training (thresholds) and its weight in the total loss.

:class:`~mtestimator.MultiTaskEstimator` clones its heads at ``fit``; the
fitted clones live in its ``heads_`` attribute. Nothing here imports Keras:
losses are named by string, or built when the network is built.

The protocol a head implements (used by the estimator, in this order):

``fit(y, sample_weight)``
    learn what the targets define (classes, scaling, label weights).
``transform_targets(y)``
    validate targets against what ``fit`` learned, in their natural form.
``encode(y_natural)``
    ``(array for Keras, per-row loss weights)``.
``output_units_``, ``output_activation_``, ``build_loss()``
    the head's Dense output layer and its loss.
``decode(raw)``, ``predict_proba(raw)``
    network output back to predictions.
``tune(y_natural, raw)``
    after training (e.g. ``threshold="auto"``).
``score_targets(y_natural, y_pred, sample_weight)``
    the head's default metric (greater is better).
"""

import numbers
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import type_of_target

from ._persistence import register

__all__ = ["BaseHead", "ClassificationHead", "MultiLabelHead", "RegressionHead"]

_THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_COLUMNS = [None, numbers.Integral, str, list, tuple]


def _natural(values):
    """An object column back to its natural dtype (ints, floats or strings)."""
    values = np.asarray(values)
    if values.dtype == object:
        try:
            return np.asarray(values.tolist())
        except (TypeError, ValueError):
            return values
    return values


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _is_missing(value):
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # e.g. a set of labels
        return False


def _as_numpy(y, *, numeric=False):
    """pandas (nullable dtypes too), sparse or array-like to a NumPy array.

    Missing values become NaN (``numeric``) or None (object arrays).
    """
    if isinstance(y, (pd.DataFrame, pd.Series)):
        frame = y.to_frame() if isinstance(y, pd.Series) else y
        extension = any(isinstance(d, pd.api.extensions.ExtensionDtype)
                        for d in frame.dtypes)
        if extension:
            if numeric:
                try:
                    out = frame.to_numpy(dtype=np.float64, na_value=np.nan)
                except (TypeError, ValueError):
                    out = frame.to_numpy(dtype=object)
            else:
                out = frame.astype(object).where(frame.notna(), None).to_numpy()
                # nullable ints/booleans come back to their plain dtype when complete
        else:
            out = frame.to_numpy()
        return out[:, 0] if isinstance(y, pd.Series) else out
    if sp.issparse(y):
        return y.toarray()
    return np.asarray(y)


def _missing_mask(values):
    """Elementwise: True where a target is missing (NaN, None, pd.NA)."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype == object:
        return np.vectorize(_is_missing, otypes=[bool])(values) if values.size else \
            np.zeros(values.shape, bool)
    return np.zeros(values.shape, bool)


class BaseHead(BaseEstimator):
    """Base class of heads: the parameters every head has.

    Parameters
    ----------
    columns : None, int, str or list of int or str, default=None
        The columns of ``y`` this head takes: names when ``y`` is a
        DataFrame, positions (ints, as in ``ColumnTransformer``) otherwise.
        ``None`` means the whole ``y``, for an estimator with one head.
        Missing values (NaN, None, ``pd.NA``) in them mean "no label for
        this task on this row": the row still trains the other heads.
    when : (column, list of values) or None, default=None
        A conditional head: it learns only from rows whose true ``column``
        (taken by a :class:`ClassificationHead` of the same estimator) is one
        of the values, and at predict time rows whose *predicted* class is
        not among them get ``otherwise``.
    otherwise : scalar, default=nan
        The prediction of a conditional head outside its condition.
    loss_weight : float, default=1.0
        Weight of this head's loss in the network's total loss (unless the
        estimator learns the weights, ``loss_weights="auto"``).
    """

    _parameter_constraints = {
        "columns": _COLUMNS,
        "when": [tuple, None],
        "otherwise": "no_validation",
        "loss_weight": [Interval(numbers.Real, 0, None, closed="left")],
    }

    #: The head's default metric, greater is better.
    metric = staticmethod(accuracy_score)
    #: "classifier", "regressor" or "multilabel": the estimator type of a
    #: single-head estimator.
    kind = None

    def __init__(self, columns=None, *, when=None, otherwise=np.nan, loss_weight=1.0):
        self.columns = columns
        self.when = when
        self.otherwise = otherwise
        self.loss_weight = loss_weight

    # -- naming ---------------------------------------------------------------

    def _where(self):
        """How error messages name this head's part of y."""
        head = type(self).__name__
        if getattr(self, "name_", None) is not None:
            head = f"{head} {self.name_!r}"
        cols = self.columns
        if cols is None:
            return f"{head} (y)"
        if isinstance(cols, (list, tuple)):
            return f"{head} (columns {list(cols)!r} of y)"
        return f"{head} (column {cols!r} of y)"

    def _one_column(self):
        return self.columns is not None and not isinstance(self.columns, (list, tuple))

    # -- protocol defaults ----------------------------------------------------

    def build_loss(self):
        """The Keras loss of this head (a name or a ``keras.losses.Loss``)."""
        return self.loss_

    def stratify(self, y_natural):
        """Labels to stratify a validation split on, or None."""
        return None

    def tune(self, y_natural, raw):
        """Adjust after training (e.g. thresholds); nothing by default."""
        return self

    def labelled(self, y_natural):
        """Rows with at least one target of this head (not all missing)."""
        missing = _missing_mask(np.asarray(y_natural))
        return ~missing.all(axis=1) if missing.ndim == 2 else ~missing

    def score_targets(self, y_natural, y_pred, sample_weight=None):
        """The head's default metric on the rows whose targets are all present."""
        y_natural = np.asarray(y_natural)
        missing = _missing_mask(y_natural)
        keep = ~missing.any(axis=1) if missing.ndim == 2 else ~missing
        if not keep.any():
            return float("nan")
        y_true = y_natural[keep]
        if y_true.dtype == object:
            y_true = _natural(y_true)
        y_pred = np.asarray(y_pred)[keep]
        if y_pred.dtype == object and y_true.dtype != object:
            y_pred = _natural(y_pred)
        weight = None if sample_weight is None else np.asarray(sample_weight)[keep]
        return float(self.metric(y_true, y_pred, sample_weight=weight))

    def apply_condition(self, pred, condition_pred):
        """``otherwise`` on rows whose predicted condition class is outside ``when``."""
        outside = ~np.isin(condition_pred, list(self.when[1]))
        if not outside.any():
            return pred
        fill, pred = self.otherwise, np.asarray(pred)
        numeric = pred.dtype.kind in "biuf" and (fill is None or _is_number(fill))
        fill = np.nan if fill is None and numeric else fill
        out = pred.astype(np.result_type(pred.dtype, np.float64) if numeric and not
                          float(fill).is_integer() else pred.dtype if numeric else object)
        out[outside] = fill
        return out


@register
class RegressionHead(BaseHead):
    """Linear outputs and mean squared error: one output per target column.

    Parameters
    ----------
    columns : None, int, str or list of int or str, default=None
        The target column(s); several columns make one head with several
        outputs.
    scale : bool, default=True
        Standardise each target column inside the estimator (weighted mean 0
        and standard deviation 1 on the training rows), so the head's loss is
        on the scale of the other heads'; predictions come back in the
        original units.
    loss_weight : float, default=1.0
        Weight of this head's loss in the total loss.

    Attributes
    ----------
    mean_, std_ : ndarray of shape (n_outputs_,)
        The standardisation (0 and 1 with ``scale=False``).
    n_outputs_ : int
        Number of target columns.

    Examples
    --------
    >>> from mtestimator.heads import RegressionHead
    >>> RegressionHead(columns=["length", "weight"])
    RegressionHead(columns=['length', 'weight'])
    """

    _parameter_constraints = {**BaseHead._parameter_constraints, "scale": ["boolean"]}
    metric = staticmethod(r2_score)
    kind = "regressor"

    def __init__(self, columns=None, *, scale=True, when=None, otherwise=np.nan,
                 loss_weight=1.0):
        super().__init__(columns, when=when, otherwise=otherwise, loss_weight=loss_weight)
        self.scale = scale

    def transform_targets(self, y):
        """The targets as float64, (n,) or (n, n_outputs); missing ones NaN."""
        one_d = getattr(self, "one_d_", None)
        values = _as_numpy(y, numeric=True)
        if values.dtype == object:
            values = np.where(_missing_mask(values), np.nan, values)
        try:
            target = values.astype(np.float64)
        except (TypeError, ValueError):
            bad = next(v for v in values.ravel() if not _is_number(v) and not _is_missing(v))
            raise ValueError(
                f"{self._where()}: the regression target must be numeric; got {bad!r}. Give a RegressionHead number columns "
                "(and class labels to a ClassificationHead)."
            ) from None
        if target.ndim not in (1, 2):
            raise ValueError(f"{self._where()}: regression targets must be 1-D or 2-D; "
                             f"got shape {target.shape}.")
        if np.isinf(target).any():
            raise ValueError(f"{self._where()}: the regression target contains infinity. "
                             "Use NaN (or None) for a missing value.")
        if np.nanmax(np.abs(target), initial=0.0) > _FLOAT32_MAX:
            raise ValueError(
                f"{self._where()}: the regression target holds "
                f"{float(np.nanmax(np.abs(target)))!r}, beyond float32's range "
                f"({_FLOAT32_MAX:.3g}) in which the network trains; express it in "
                "larger units (e.g. thousands) first."
            )
        if one_d is not None:
            width = 1 if target.ndim == 1 else target.shape[1]
            if width != self.n_outputs_:
                raise ValueError(f"{self._where()}: y has {width} target columns, but the "
                                 f"head was fitted with {self.n_outputs_}.")
        return target

    def fit(self, y, sample_weight=None):
        """Learn the number of outputs and the standardisation.

        Parameters
        ----------
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : RegressionHead
        """
        for attr in ("one_d_", "n_outputs_"):
            self.__dict__.pop(attr, None)
        target = self.transform_targets(y)
        self.one_d_ = target.ndim == 1
        target = target.reshape(len(target), -1)
        self.n_outputs_ = target.shape[1]
        present = ~np.isnan(target)
        empty = np.flatnonzero(~present.any(axis=0))
        if len(empty):
            raise ValueError(f"{self._where()}: output(s) {empty.tolist()} have no value on "
                             "any training row (all missing).")
        self.mean_ = np.zeros(self.n_outputs_)
        self.std_ = np.ones(self.n_outputs_)
        if self.scale:
            w = np.ones(len(target)) if sample_weight is None else \
                np.asarray(sample_weight, np.float64)
            w = w[:, None] * present
            # in units of the largest value, so tiny targets' squares do not underflow
            unit = np.nanmax(np.abs(target), axis=0, initial=0.0)
            unit = np.where(unit > 0, unit, 1.0)
            filled = np.where(present, target / unit, 0.0)
            mean = (w * filled).sum(axis=0) / w.sum(axis=0)
            std = np.sqrt((w * (filled - mean) ** 2 * present).sum(axis=0) / w.sum(axis=0))
            mean, std = mean * unit, std * unit
            tiny = np.sqrt(np.finfo(np.float32).tiny)
            if np.any((std > 0) & (std < tiny)):
                raise ValueError(
                    f"{self._where()}: the regression target's standard deviation "
                    f"({float(std.min())!r}) underflows float32, in which the network trains; "
                    "express it in smaller units (e.g. multiply by 1e6) first."
                )
            self.mean_ = mean
            self.std_ = np.where(std > 0, std, 1.0)
        # outputs missing on only some rows need a per-element mask in the loss
        self.masked_ = bool(self.n_outputs_ > 1 and (~present).any())
        self.loss_ = "mean_squared_error"
        self.output_units_, self.output_activation_ = self.n_outputs_, "linear"
        return self

    def build_loss(self):
        if getattr(self, "masked_", False):
            from .engine.networks import MaskedLoss

            return MaskedLoss("mse")
        return self.loss_

    def encode(self, y_natural):
        """Standardised float32 targets and per-row weights (0: no target)."""
        y = np.asarray(y_natural, np.float64).reshape(len(y_natural), -1)
        present = ~np.isnan(y)
        weight = (present.any(axis=1) if self.masked_ else present.all(axis=1))
        y = (y - self.mean_) / self.std_
        if not self.masked_:
            y = np.where(present, y, 0.0)
        return y.astype(np.float32), weight.astype(np.float32)

    def decode(self, raw):
        """Predictions in the target's units: (n,) for one column, else (n, k)."""
        out = np.asarray(raw, np.float64).reshape(len(raw), -1) * self.std_ + self.mean_
        return out.reshape(-1) if self.one_d_ else out


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
    class_weight : None, "balanced" or dict, default=None
        Weights of the classes in this head's loss, as in scikit-learn:
        ``"balanced"`` is ``n_samples / (n_classes * count(class))``; a dict
        maps labels to weights (missing labels weigh 1).
    loss_weight : float, default=1.0
        Weight of this head's loss in the total loss.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The sorted labels seen in ``fit``.

    Examples
    --------
    >>> from mtestimator.heads import ClassificationHead
    >>> ClassificationHead(columns="species", class_weight="balanced")
    ClassificationHead(class_weight='balanced', columns='species')
    """

    _parameter_constraints = {**BaseHead._parameter_constraints,
                              "class_weight": [StrOptions({"balanced"}), dict, None]}
    metric = staticmethod(accuracy_score)
    kind = "classifier"

    def __init__(self, columns=None, *, class_weight=None, when=None, otherwise=np.nan,
                 loss_weight=1.0):
        super().__init__(columns, when=when, otherwise=otherwise, loss_weight=loss_weight)
        self.class_weight = class_weight

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
                    f"{self._where()}: the class labels mix numbers and strings (e.g. "
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
        self.loss_ = "binary_crossentropy" if binary else "sparse_categorical_crossentropy"
        self.output_units_ = 1 if binary else len(self.classes_)
        self.output_activation_ = "sigmoid" if binary else "softmax"
        self.class_weight_ = None
        if self.class_weight is not None:
            weights = compute_sample_weight(self.class_weight, labels)
            self.class_weight_ = np.array([weights[labels == c][0] for c in self.classes_])
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
        """Class probabilities, one column per class of ``classes_``."""
        raw = np.asarray(raw, np.float64)
        if self.output_units_ == 1:
            p = raw.reshape(-1)
            return np.column_stack([1.0 - p, p])
        return raw

    def decode(self, raw):
        """The most probable class of each row."""
        return self.classes_[np.argmax(self.predict_proba(raw), axis=1)]

    def stratify(self, y_natural):
        idx, present = self._indices(y_natural)
        return np.where(present, idx, -1)


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


def f1_thresholds(y_true, proba):
    """Per label, the threshold of the grid that maximises F1 (ties: nearest 0.5);
    missing labels (NaN) are left out."""
    y_true = np.asarray(y_true, dtype=np.float64)
    present = ~np.isnan(y_true)[:, :, None]
    y_true = np.nan_to_num(y_true).astype(bool)
    order = np.argsort(np.abs(_THRESHOLD_GRID - 0.5), kind="stable")
    grid = _THRESHOLD_GRID[order]
    pred = proba[:, :, None] > grid[None, None, :]
    tp = np.sum(pred & y_true[:, :, None] & present, axis=0)
    fp = np.sum(pred & ~y_true[:, :, None] & present, axis=0)
    fn = np.sum(~pred & y_true[:, :, None] & present, axis=0)
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return grid[np.argmax(f1, axis=1)]


@register
class MultiLabelHead(BaseHead):
    """One sigmoid unit per label, binary cross-entropy: any number of labels per row.

    Parameters
    ----------
    columns : None or list of int or str, default=None
        The 0/1 label columns. With ``None`` the whole ``y``, which may also
        be a list of label collections (``[{"a"}, {"a", "b"}, set()]``) or a
        sparse indicator matrix.
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

    Attributes
    ----------
    classes_ : ndarray of shape (n_labels,)
        Label names: the DataFrame's columns, the labels of a list of label
        collections, the selected column positions, or ``0 .. n_labels - 1``.
    threshold_ : ndarray of shape (n_labels,)
    pos_weight_ : ndarray of shape (n_labels,) or None

    Examples
    --------
    >>> from mtestimator.heads import MultiLabelHead
    >>> MultiLabelHead(columns=["a", "b", "c"], threshold="auto")
    MultiLabelHead(columns=['a', 'b', 'c'], threshold='auto')
    """

    _parameter_constraints = {
        **BaseHead._parameter_constraints,
        "threshold": [Interval(numbers.Real, 0, 1, closed="both"), StrOptions({"auto"}),
                      "array-like"],
        "class_weight": [StrOptions({"balanced"}), "array-like", None],
    }
    metric = staticmethod(accuracy_score)
    kind = "multilabel"

    def __init__(self, columns=None, *, threshold=0.5, class_weight=None, when=None,
                 otherwise=np.nan, loss_weight=1.0):
        super().__init__(columns, when=when, otherwise=otherwise, loss_weight=loss_weight)
        self.threshold = threshold
        self.class_weight = class_weight

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
        elif isinstance(y, pd.DataFrame):
            is_bool = all(pd.api.types.is_bool_dtype(d) for d in y.dtypes)
            names, y = np.asarray(y.columns), _as_numpy(y, numeric=True)
        else:
            y = _as_numpy(y)
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
        y, names = self._indicator(y, reset=True)
        n_labels = y.shape[1]
        if names is None:
            names = (np.asarray(list(self.columns)) if isinstance(self.columns, (list, tuple))
                     else np.arange(n_labels))
        self.classes_ = names
        present = ~np.isnan(y) if y.dtype.kind == "f" else np.ones(y.shape, bool)
        counts = np.nansum(y, axis=0) if y.dtype.kind == "f" else y.sum(axis=0)
        n_present = present.sum(axis=0)
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
            from .engine.networks import MaskedLoss

            return MaskedLoss("bce", self.pos_weight_)
        if self.pos_weight_ is None:
            return "binary_crossentropy"
        from .engine.networks import WeightedBinaryCrossentropy

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
        """Probability of each label, independently of the others."""
        return np.asarray(raw, dtype=np.float64)

    def decode(self, raw):
        """Indicator matrix: 1 (True for bool targets) where a label's
        probability is above its threshold."""
        return (self.predict_proba(raw) > self.threshold_).astype(
            bool if getattr(self, "bool_", False) else np.int64)

    def tune(self, y_natural, raw):
        """With ``threshold="auto"``: per-label F1-maximising thresholds."""
        if isinstance(self.threshold, str):
            self.threshold_ = f1_thresholds(y_natural, self.predict_proba(raw))
        return self
