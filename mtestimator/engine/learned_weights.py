"""Keras's own ``fit`` under learned loss weights: the history of the compiled trainers.

With ``loss_weights="auto"`` each head's loss in Keras's ``fit`` is
``exp(-s) L + s``; the compiled trainers (:mod:`.trainer`) report ``L``, the
head's own loss, as ``<head>_loss`` and ``s`` as ``<head>_log_variance``.
:func:`metrics` gives Keras's ``fit`` the first as a metric (the
same mean over the epoch's rows; :func:`callbacks`, ``s`` at each epoch's
end), and :func:`rename` puts them under the compiled trainers' keys.
"""

import keras

from .trainer import LOG_VARIANCE

__all__ = ["LogVariances", "callbacks", "metrics", "rename"]

_OWN = "own_loss"


class _OwnLoss(keras.metrics.Metric):
    """A head's own loss, each row's times its weight, averaged over the
    epoch's rows: the compiled trainers' ``<head>_loss``."""

    def __init__(self, loss, name=_OWN):
        super().__init__(name=name)
        self.loss = loss
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        rows = keras.ops.reshape(keras.ops.cast(self.loss.call(y_true, y_pred), "float32"),
                                 (-1,))
        if sample_weight is not None:
            rows = rows * keras.ops.reshape(keras.ops.cast(sample_weight, "float32"), (-1,))
        self.total.assign_add(keras.ops.sum(rows))
        self.count.assign_add(keras.ops.cast(keras.ops.shape(rows)[0], "float32"))

    def result(self):
        return self.total / keras.ops.maximum(self.count, 1.0)


class LogVariances(keras.callbacks.Callback):
    """Each head's learned log-variance at the epoch's end, into the epoch's logs."""

    def __init__(self, layers):
        super().__init__()
        self.layers = layers

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update({f"{name}{LOG_VARIANCE}": float(keras.ops.convert_to_numpy(
                layer.log_var)) for name, layer in self.layers.items()})


def metrics(losses):
    """``compile(metrics=...)`` for ``losses`` (UncertaintyWeightedLoss by head)."""
    return {name: [_OwnLoss(loss.base)] for name, loss in losses.items()}


def callbacks(losses):
    """The callbacks that add the log-variances to Keras's history (to run
    before Keras's own ``History``, which ``fit`` puts last)."""
    return [LogVariances({name: loss.weight_layer for name, loss in losses.items()})]


def rename(history, names):
    """Keras's history under the compiled trainers' keys: ``<head>_loss`` the
    head's own loss."""
    out = dict(history)
    for name in names:
        for prefix in ("", "val_"):
            own = out.pop(f"{prefix}{name}_{_OWN}", None)
            if own is not None:
                out[f"{prefix}{name}_loss"] = own
    return out
