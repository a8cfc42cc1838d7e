"""Each head's default metric while it trains: sums in the training step, a value per epoch.

A head names its metric (:attr:`~mtestimator.engine.spec.OutputSpec.metric`):

- ``"accuracy"``: a class head; the class of the highest probability (a
  sigmoid unit: above 0.5) is the label's;
- ``"binary_accuracy"``: labels; each present label's probability is on its
  side of 0.5 (``1 -`` Hamming loss);
- ``"r2"``: regression, R² per output (on the standardised targets: the
  same R² as in the target's units), averaged over the outputs.

Every row counts with its weight in the head's loss (sample and class
weights; 0 where its target is missing), and a missing label or output
(NaN) counts nowhere. An epoch's training metric is over the batches as
they were trained (as Keras's own), the validation one over the weights
at the epoch's end.

The compiled trainers add :func:`step_sums` (a few numbers per head, in
``keras.ops``) inside their step and divide once per epoch by
:func:`data_totals`, which depend on the data alone (each row enters an
epoch once) and are computed once per fit, in float64. Keras's own
``fit`` (the general path) takes :class:`HeadMetric`, the same sums with the
totals accumulated along.
"""

import keras
import numpy as np
from keras import ops

__all__ = ["HeadMetric", "data_totals", "history_keys", "metric_logs", "n_sums", "step_sums",
           "sums_function"]


def n_sums(kind, units):
    """How many numbers :func:`step_sums` gives for a head of ``units`` outputs."""
    return units if kind == "r2" else 1


def _present(y):
    return ops.logical_not(ops.isnan(ops.cast(y, "float32")))


def step_sums(kind, y, pred, w):
    """The metric's numerators on a batch (``w``: each row's weight, 0 on
    masked rows): weighted correct rows or labels, or per output the weighted
    squared error."""
    w = ops.reshape(w, (-1, 1))
    if kind == "accuracy":
        if pred.shape[-1] == 1:
            right = ops.equal(pred > 0.5, ops.cast(y, pred.dtype) > 0.5)
        else:
            right = ops.equal(ops.argmax(pred, axis=-1),
                              ops.cast(ops.reshape(y, (-1,)), "int32"))[:, None]
        return ops.sum(w * ops.cast(right, w.dtype), axis=0)
    present = _present(y)  # a missing label or output (NaN) counts nowhere
    if kind == "binary_accuracy":
        right = ops.equal(pred > 0.5, ops.cast(y, pred.dtype) > 0.5) & present
        return ops.reshape(ops.sum(w * ops.cast(right, w.dtype)), (1,))
    error = ops.where(present, ops.cast(y, pred.dtype) - pred, 0.0)
    return ops.sum(w * ops.square(error), axis=0)


def sums_function(metrics):
    """``sums(y, pred, w, mask)``: the :func:`step_sums` of ``metrics`` (``[(head,
    kind, units), ...]``) on a batch, one 1-D tensor (empty without metrics); a
    closure over ``metrics`` alone (a compiled function holding it holds no trainer)."""
    metrics = list(metrics)

    def sums(y, pred, w, mask):
        parts = [step_sums(kind, y[n], pred[n], w[n] * mask) for n, kind, _ in metrics]
        return ops.concatenate(parts) if parts else ops.zeros((0,))

    return sums


def data_totals(kind, y, w):
    """The metric's denominators over a data set (NumPy, float64): the total
    weight (of the present labels), or per output the weighted total sum of
    squares about the weighted mean."""
    w = np.asarray(w, np.float64).reshape(-1, 1)
    if kind == "accuracy":
        return w.sum(axis=0)
    y = np.asarray(y, np.float64).reshape(len(w), -1)
    present = ~np.isnan(y) & (w > 0)
    if kind == "binary_accuracy":
        return np.array([np.where(present, w, 0.0).sum()])
    weight = np.where(present, w, 0.0)
    mean = (weight * np.where(present, y, 0.0)).sum(axis=0) / np.maximum(weight.sum(axis=0),
                                                                          1e-300)
    return (weight * np.square(np.where(present, y - mean, 0.0))).sum(axis=0)


def _value(kind, sums, totals):
    sums, totals = np.asarray(sums, np.float64), np.asarray(totals, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind != "r2":
            return float(sums[0] / totals[0]) if totals[0] > 0 else float("nan")
        # as scikit-learn's r2_score: a constant target gives 1 if predicted exactly, else 0
        r2 = np.where(totals > 0, 1.0 - sums / totals, np.where(sums > 0, 0.0, 1.0))
    return float(np.mean(r2))


def metric_logs(metrics, values, totals, prefix=""):
    """``{"<prefix><head>_<kind>": value}`` from one epoch's sums (``values``,
    in the order of ``metrics``: ``[(head, kind, units), ...]``) and the data
    set's ``totals`` (``{head: data_totals}``)."""
    logs, start = {}, 0
    for name, kind, units in metrics:
        end = start + n_sums(kind, units)
        logs[f"{prefix}{name}_{kind}"] = _value(kind, values[start:end], totals[name])
        start = end
    return logs


def history_keys(name, kind):
    """The history keys of head ``name``'s metric ``kind``: training, validation."""
    return f"{name}_{kind}", f"val_{name}_{kind}"


class HeadMetric(keras.metrics.Metric):
    """A head's metric for Keras's own ``fit``: :func:`step_sums` over the
    batches, and the totals of :func:`data_totals` accumulated as weighted
    moments (float32: exact for the standardised targets of a RegressionHead).

    Parameters
    ----------
    kind : {"accuracy", "binary_accuracy", "r2"}
    units : int
        The head's outputs.
    """

    def __init__(self, kind, units, name=None, dtype=None):
        super().__init__(name=name or kind, dtype=dtype)
        self.kind, self.units = kind, int(units)
        width = n_sums(kind, units)
        self.sums = self.add_variable(shape=(width,), initializer="zeros", name="sums")
        # accuracies: the weight; r2: the weight, weighted sum and sum of squares per output
        self.moments = self.add_variable(shape=(width if kind != "r2" else 3 * width,),
                                         initializer="zeros", name="moments")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(y_pred, "float32")
        w = (ops.ones((ops.shape(y_pred)[0],)) if sample_weight is None
             else ops.cast(ops.reshape(sample_weight, (-1,)), "float32"))
        self.sums.assign_add(step_sums(self.kind, y_true, y_pred, w))
        w = ops.reshape(w, (-1, 1))
        if self.kind == "accuracy":
            self.moments.assign_add(ops.sum(w, axis=0))
            return
        y = ops.reshape(ops.cast(y_true, "float32"), ops.shape(y_pred))
        weight = ops.where(_present(y) & (w > 0), w, 0.0)
        if self.kind == "binary_accuracy":
            self.moments.assign_add(ops.reshape(ops.sum(weight), (1,)))
            return
        y = ops.where(weight > 0, y, 0.0)
        self.moments.assign_add(ops.concatenate([
            ops.sum(weight, axis=0), ops.sum(weight * y, axis=0),
            ops.sum(weight * ops.square(y), axis=0)]))

    def result(self):
        if self.kind != "r2":
            return ops.divide_no_nan(self.sums[0], self.moments[0])
        k = self.units
        weight, first, second = (self.moments[:k], self.moments[k:2 * k],
                                 self.moments[2 * k:])
        total = second - ops.divide_no_nan(ops.square(first), weight)
        r2 = ops.where(total > 0, 1.0 - ops.divide_no_nan(self.sums, total),
                       ops.where(self.sums > 0, 0.0, 1.0))
        return ops.mean(r2)

    def reset_state(self):
        for var in (self.sums, self.moments):
            var.assign(ops.zeros(var.shape, var.dtype))

    def get_config(self):
        return {"kind": self.kind, "units": self.units, "name": self.name}
