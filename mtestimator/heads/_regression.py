"""RegressionHead: linear units, standardised targets, mean squared error, R² as its score."""

import numpy as np
from sklearn.metrics import r2_score

from ..persistence.spec import Array, Flag, Integer, OneOf, register
from ._base import _FLOAT32_MAX, BaseHead, _as_numpy, _is_missing, _is_number, _missing_mask
from ._checks import check_head, check_storable

__all__ = ["RegressionHead"]


@register
class RegressionHead(BaseHead):
    """Linear outputs and mean squared error: one output per target column.

    Parameters
    ----------
    columns : None, int, str or list of int or str, default=None
        The target column(s); several columns make one head with several
        outputs.
        Columns of a DataFrame ``y`` are taken by label only (an int label
        too: ``1`` is the column labelled 1, never the second column; a
        MultiIndex column by its tuple); positions (ints) only for an array
        ``y``. Column names of a DataFrame ``y`` must be unique.
    scale : bool, default=True
        Standardise each target column inside the estimator (weighted mean 0
        and standard deviation 1 on the training rows), so the head's loss is
        on the scale of the other heads'; predictions come back in the
        original units.
    loss_weight : float, default=1.0
        Weight of this head's loss in the total loss.
    hidden_layer_sizes : int or tuple of int, default=()
        This head's own tower of Dense layers between the shared trunk and
        its output, with the trunk's activation, dropout, ``alpha`` and
        initializer (see :class:`BaseHead`); ``()``: no tower.

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

    _fitted_state = {
        "one_d_": Flag(required=True),
        "n_outputs_": Integer(1, equals="output_units_"),
        "mean_": Array("f", per_unit=True, required=True, finite=True, meaning="a target mean"),
        "std_": Array("f", per_unit=True, required=True, finite=True, low=0, open_low=True,
                      meaning="a standard deviation"),
        "masked_": Flag(),
        "output_activation_": OneOf("linear", required=True),
        "loss_": OneOf("mean_squared_error"),
    }
    _parameter_constraints = {**BaseHead._parameter_constraints, "scale": ["boolean"]}
    metric = staticmethod(r2_score)
    history_metric = "r2"  # unitless, as the score; an MAE would be in standardised units
    kind = "regressor"

    def __init__(self, columns=None, *, scale=True, when=None, otherwise=np.nan,
                 loss_weight=1.0, hidden_layer_sizes=()):
        super().__init__(columns, when=when, otherwise=otherwise, loss_weight=loss_weight,
                         hidden_layer_sizes=hidden_layer_sizes)
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
        check_head(self)
        check_storable(self, y)
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
            from ..engine.networks import MaskedLoss

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
