"""BaseHead, the parameters and protocol every head shares, and the helpers heads use on targets.

See :mod:`mtestimator.heads` for the protocol a head implements.
"""

import numbers

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.metrics import accuracy_score
from .._compat import Interval

from ..persistence.spec import ConditionHead, HeadName, Integer, TargetDtypes, Text

__all__ = ["BaseHead", "f1_thresholds"]

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


#: What a head's tower takes from the trunk, and the value for a trunk without it.
_TOWER_DEFAULTS = (("activation", "relu"), ("dropout", 0.0), ("alpha", 0.0),
                   ("kernel_initializer", "glorot_uniform"))


def tower_sizes(head):
    """The head's ``hidden_layer_sizes`` as a tuple of positive ints (maybe empty)."""
    given = head.hidden_layer_sizes
    sizes = [given] if isinstance(given, numbers.Integral) else list(given)
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1
               for s in sizes):
        raise ValueError(
            f"{head._where()}: hidden_layer_sizes={given!r} must be a positive int or a "
            "sequence of positive ints (the sizes of the head's own Dense layers), or () for "
            "no tower."
        )
    return tuple(int(s) for s in sizes)


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


class BaseHead(BaseEstimator):
    """Base class of heads: the parameters every head has.

    Parameters
    ----------
    columns : None, int, str or list of int or str, default=None
        The columns of ``y`` this head takes: labels when ``y`` is a
        DataFrame (by label only, ints too: ``1`` is the column labelled 1,
        a MultiIndex column is its tuple; the labels must be unique),
        positions (ints, as in ``ColumnTransformer``) when ``y`` is an array.
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
    hidden_layer_sizes : int or tuple of int, default=()
        This head's own tower: Dense layers between the shared trunk and
        the head's output, trained by this head's loss only, with the
        trunk's ``activation``, ``dropout``, ``alpha`` (L2 penalty) and
        ``kernel_initializer`` where the trunk has them (else ReLU, no
        dropout, no penalty, Glorot uniform). ``()``: the output sits on the
        trunk's features (no tower). A tower gives a task room of its own
        when the tasks pull the shared layers apart.
    """

    #: Where a saved file may name the class (see mtestimator.persistence.spec).
    _persisted_as = "head"
    #: The fitted state a saved file holds, and what each attribute must be.
    _fitted_state = {
        "name_": HeadName(),
        "output_units_": Integer(1, required=True),
        "output_activation_": Text(required=True),
        "loss_": Text(),
        "condition_head_": ConditionHead(),
        # the dtypes of its columns of y, for predict (mtestimator._dtypes); since format 5
        "target_dtypes_": TargetDtypes(),
    }

    _parameter_constraints = {
        "columns": _COLUMNS,
        "when": [tuple, None],
        "otherwise": "no_validation",
        "loss_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
    }

    #: The head's default metric, greater is better.
    metric = staticmethod(accuracy_score)
    #: The metric the network reports while it trains, in ``history_`` and the
    #: progress output as ``<name>_<history_metric>`` (mtestimator.engine.metrics);
    #: None: none.
    history_metric = None
    #: "classifier", "regressor" or "multilabel": the estimator type of a
    #: single-head estimator.
    kind = None

    def __init__(self, columns=None, *, when=None, otherwise=np.nan, loss_weight=1.0,
                 hidden_layer_sizes=()):
        self.columns = columns
        self.when = when
        self.otherwise = otherwise
        self.loss_weight = loss_weight
        self.hidden_layer_sizes = hidden_layer_sizes

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

    def output_spec(self, trunk):
        """The engine's :class:`~mtestimator.engine.spec.OutputSpec` of this fitted
        head on ``trunk``: its output layer, loss and tower."""
        from ..engine.spec import OutputSpec

        return OutputSpec(self.name_, self.output_units_, self.output_activation_,
                          self.build_loss(), getattr(self, "history_metric", None),
                          *self.tower(trunk))

    def tower(self, trunk):
        """``(sizes, settings)`` of this head's tower on ``trunk``: the layer
        sizes (a tuple, empty for none) and the trunk's layer settings as
        ``(name, value)`` pairs (empty without a tower)."""
        sizes = tower_sizes(self)
        if not sizes:
            return (), ()
        return sizes, tuple((name, getattr(trunk, name, default))
                            for name, default in _TOWER_DEFAULTS)

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

    def tunes(self):
        """Whether :meth:`tune` reads the network's outputs: the fit predicts
        on the tuning rows only for the heads that do (a head that overrides
        ``tune`` does, unless it says otherwise)."""
        return type(self).tune is not BaseHead.tune

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


def tunes_threshold_or_temperature(head):
    """Whether ``head.tune`` has work: ``threshold="auto"`` or
    ``calibration="temperature"`` (classification heads)."""
    return isinstance(head.threshold, str) or head.calibration == "temperature"
