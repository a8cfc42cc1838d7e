"""TensorFlow backend: a whole training run in one compiled ``tf.function``.

A :class:`Trainer` owns a network, its losses and its optimizer, and traces
once a function that runs ``n_epochs`` epochs of shuffled mini-batch steps
(``train_step`` per batch, a stateless per-epoch shuffle). Trainers are
cached by architecture (see ``_training.py``) and reused across fits: each
fit copies the estimator's freshly initialised weights in and resets the
optimizer, so nothing is traced again and no graph is left behind per fit.
"""

import keras
import numpy as np
import tensorflow as tf
from keras.src.losses.losses import LossFunctionWrapper

__all__ = ["Trainer", "epoch_order", "keras_fit"]


def epoch_order(n, seed, epoch):
    """The sample order of one epoch: a stateless function of (seed, epoch)."""
    noise = tf.random.stateless_uniform([n], seed=tf.stack([tf.cast(seed, tf.int64),
                                                            tf.cast(epoch, tf.int64)]))
    return tf.argsort(noise, stable=True)


class Trainer:
    """A network plus its compiled multi-epoch training function."""

    def __init__(self, model, losses, loss_weights, optimizer):
        self.model = model
        self.names = list(losses)
        self.losses = {n: LossFunctionWrapper(keras.losses.get(l))
                       if isinstance(l, str) else l for n, l in losses.items()}
        weights = loss_weights or {}
        self.loss_weights = {n: float(weights.get(n, 1.0)) for n in self.names}
        self.optimizer = optimizer
        optimizer.build(model.trainable_variables)
        self._run = tf.function(self._run_epochs, reduce_retracing=True)
        self._eval = tf.function(self._evaluate, reduce_retracing=True)

    def compilations(self):
        """How many times the training function was traced."""
        return self._run.experimental_get_tracing_count()

    def reset(self, source, learning_rate):
        """Start a fit: weights (and dropout seeds) of ``source``, a fresh optimizer."""
        for dst, src in zip(self.model.variables, source.variables):
            dst.assign(src)
        for var in self.optimizer.variables:
            var.assign(tf.zeros(var.shape, var.dtype))
        self.optimizer.learning_rate = learning_rate

    def _losses(self, x, y, w, training):
        pred = self.model(x, training=training)
        per_head = [self.losses[n](y[n], pred[n], sample_weight=w) for n in self.names]
        total = tf.add_n([self.loss_weights[n] * l for n, l in zip(self.names, per_head)])
        return tf.stack([total, *per_head])

    def _run_epochs(self, X, Y, W, first_epoch, n_epochs, batch_size, seed):
        n = tf.shape(X)[0]
        steps = (n + batch_size - 1) // batch_size
        history = tf.TensorArray(tf.float32, size=n_epochs)
        for e in tf.range(n_epochs):
            order = epoch_order(n, seed, first_epoch + e)
            sums = tf.zeros([len(self.names) + 1])
            for s in tf.range(steps):
                idx = order[s * batch_size:tf.minimum(n, (s + 1) * batch_size)]
                x, w = tf.gather(X, idx), tf.gather(W, idx)
                y = {k: tf.gather(v, idx) for k, v in Y.items()}
                with tf.GradientTape() as tape:
                    losses = self._losses(x, y, w, training=True)
                    total = losses[0]
                grads = tape.gradient(total, self.model.trainable_variables)
                self.optimizer.apply(grads, self.model.trainable_variables)
                sums += losses * tf.cast(tf.shape(idx)[0], tf.float32)
            history = history.write(e, sums / tf.cast(n, tf.float32))
        return history.stack()

    def _evaluate(self, X, Y, W):
        return self._losses(X, Y, W, training=False)

    def _logs(self, values, prefix=""):
        return {f"{prefix}loss": float(values[0]),
                **{f"{prefix}{n}_loss": float(v) for n, v in zip(self.names, values[1:])}}

    def fit(self, X, Y, W, *, epochs, batch_size, seed, validation=None, patience=None):
        """Train; returns the per-epoch history (``loss``, ``<head>_loss``, ``val_*``).

        With ``validation=(X, Y, W)`` and ``patience``, runs epoch by epoch,
        stops after ``patience`` epochs without a lower validation loss and
        restores the best weights.
        """
        args = [tf.constant(X), {k: tf.constant(v) for k, v in Y.items()}, tf.constant(W)]
        const = [tf.constant(int(batch_size)), tf.constant(int(seed), tf.int64)]
        if validation is None:
            values = self._run(*args, tf.constant(0), tf.constant(int(epochs)), *const).numpy()
            logs = [self._logs(v) for v in values]
        else:
            val = [tf.constant(validation[0]),
                   {k: tf.constant(v) for k, v in validation[1].items()},
                   tf.constant(validation[2])]
            logs, best, best_weights, waited = [], np.inf, None, 0
            for epoch in range(int(epochs)):
                values = self._run(*args, tf.constant(epoch), tf.constant(1), *const).numpy()[0]
                val_values = self._eval(*val).numpy()
                logs.append({**self._logs(values), **self._logs(val_values, "val_")})
                if val_values[0] < best:
                    best, best_weights, waited = val_values[0], self.model.get_weights(), 0
                else:
                    waited += 1
                    if waited >= patience:
                        break
            self.model.set_weights(best_weights)
        return {k: [log[k] for log in logs] for k in logs[0]}


def keras_fit(model, X, Y, W, *, epochs, batch_size, seed, validation=None, callbacks=(),
              verbose=0):
    """The general path: Keras's own ``model.fit`` (any callbacks), fed the
    same batches in the same order as :meth:`Trainer.fit`."""
    n = len(X)
    steps = -(-n // batch_size)
    data = (tf.constant(X), {k: tf.constant(v) for k, v in Y.items()}, tf.constant(W))

    def epoch_batches(epoch):
        order = epoch_order(n, seed, epoch)
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    ds = (tf.data.Dataset.range(epochs).flat_map(epoch_batches)
          .map(lambda idx: tuple(tf.nest.map_structure(lambda a: tf.gather(a, idx), data))))
    history = model.fit(ds, epochs=epochs, steps_per_epoch=steps, validation_data=validation,
                        callbacks=list(callbacks), verbose=verbose, shuffle=False)
    return history.history
