"""Keras's own ``fit`` under learned loss weights: the history of the compiled trainers.

With ``loss_weights="auto"`` each head's loss in Keras's ``fit`` is
``exp(-s) L + s``; the compiled trainers (:mod:`.trainer`) report ``L``, the
head's own loss, as ``<head>_loss`` and ``s`` as ``<head>_log_variance``.
:func:`metrics` gives Keras's ``fit`` the same two numbers as metrics (the
same means over the epoch's rows), and :func:`rename` puts them under the
compiled trainers' keys.
"""

import keras

from .trainer import LOG_VARIANCE

__all__ = ["metrics", "rename"]

_OWN = "own_loss"


class _RowMean(keras.metrics.Metric):
    """The mean over the epoch's rows of a per-row value (``value``)."""

    def __init__(self, name):
        super().__init__(name=name)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = keras.ops.reshape(keras.ops.cast(self.value(y_true, y_pred, sample_weight),
                                                  "float32"), (-1,))
        self.total.assign_add(keras.ops.sum(values))
        self.count.assign_add(keras.ops.cast(keras.ops.shape(y_pred)[0], "float32"))

    def result(self):
        return self.total / keras.ops.maximum(self.count, 1.0)


class _OwnLoss(_RowMean):
    """A head's own loss, each row's times its weight: the trainers' ``<head>_loss``."""

    def __init__(self, loss, name=_OWN):
        super().__init__(name)
        self.loss = loss

    def value(self, y_true, y_pred, sample_weight):
        rows = keras.ops.reshape(self.loss.call(y_true, y_pred), (-1,))
        if sample_weight is None:
            return rows
        return rows * keras.ops.reshape(keras.ops.cast(sample_weight, rows.dtype), (-1,))


class _LogVariance(_RowMean):
    """A head's learned log-variance during each batch."""

    def __init__(self, layer, name=LOG_VARIANCE[1:]):
        super().__init__(name)
        self.layer = layer

    def value(self, y_true, y_pred, sample_weight):
        s = keras.ops.cast(self.layer.log_var, "float32")
        return keras.ops.ones((keras.ops.shape(y_pred)[0],), "float32") * s


def metrics(losses):
    """``compile(metrics=...)`` for ``losses`` (UncertaintyWeightedLoss by head)."""
    return {name: [_OwnLoss(loss.base), _LogVariance(loss.weight_layer)]
            for name, loss in losses.items()}


def rename(history, names):
    """Keras's history under the compiled trainers' keys: ``<head>_loss`` the
    head's own loss, ``<head>_log_variance`` (training only)."""
    out = dict(history)
    for name in names:
        for prefix in ("", "val_"):
            own = out.pop(f"{prefix}{name}_{_OWN}", None)
            if own is not None:
                out[f"{prefix}{name}_loss"] = own
        out.pop(f"val_{name}{LOG_VARIANCE}", None)
    return out
