"""What every backend's trainer shares: losses, logs, the early-stopping loop.

A backend subclass provides ``_data`` (arrays to backend tensors),
``_epochs`` (run epochs, return per-epoch ``[total, head...]`` losses),
``_evaluate`` (losses on a validation set), ``_zeros_like`` and
``compilations``.
"""

import keras
import numpy as np
from keras.src.losses.losses import LossFunctionWrapper

__all__ = ["BaseTrainer"]


class BaseTrainer:
    """A network, its losses and optimizer, and a compiled training function."""

    def __init__(self, model, losses, loss_weights, optimizer):
        self.model = model
        self.names = list(losses)
        self.losses = {n: LossFunctionWrapper(keras.losses.get(l)) if isinstance(l, str) else l
                       for n, l in losses.items()}
        weights = loss_weights or {}
        self.loss_weights = {n: float(weights.get(n, 1.0)) for n in self.names}
        self.optimizer = optimizer
        optimizer.build(model.trainable_variables)

    def reset(self, source, learning_rate, optimizer_state=None):
        """Start a fit: weights (and dropout seeds) of ``source``, and a fresh
        optimizer, or the one saved in ``optimizer_state``."""
        for dst, src in zip(self.model.variables, source.variables):
            dst.assign(src.value)
        if optimizer_state is None:
            for var in self.optimizer.variables:
                var.assign(self._zeros_like(var))
        else:
            for var, value in zip(self.optimizer.variables, optimizer_state):
                var.assign(value)
        self.optimizer.learning_rate = learning_rate

    def _logs(self, values, prefix=""):
        return {f"{prefix}loss": float(values[0]),
                **{f"{prefix}{n}_loss": float(v) for n, v in zip(self.names, values[1:])}}

    def fit(self, X, Y, W, *, epochs, batch_size, seed, validation=None, patience=None):
        """Train; returns the per-epoch history (``loss``, ``<head>_loss``, ``val_*``).

        With ``validation=(X, Y, W)`` and ``patience``, runs epoch by epoch,
        stops after ``patience`` epochs without a lower validation loss and
        restores the best weights.
        """
        data = self._data(X, Y, W)
        if validation is None:
            values = self._epochs(data, 0, int(epochs), int(batch_size), int(seed))
            logs = [self._logs(v) for v in values]
        else:
            val = self._data(*validation)
            logs, best, best_weights, waited = [], np.inf, None, 0
            for epoch in range(int(epochs)):
                values = self._epochs(data, epoch, 1, int(batch_size), int(seed))[0]
                val_values = self._evaluate(val)
                logs.append({**self._logs(values), **self._logs(val_values, "val_")})
                if val_values[0] < best:
                    best, best_weights, waited = val_values[0], self.model.get_weights(), 0
                else:
                    waited += 1
                    if waited >= patience:
                        break
            if best_weights is not None:  # None: the validation loss was never finite
                self.model.set_weights(best_weights)
        return {k: [log[k] for log in logs] for k in logs[0]}
