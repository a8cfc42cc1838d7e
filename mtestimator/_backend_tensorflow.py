"""TensorFlow backend: a whole training run in one compiled ``tf.function``.

A :class:`Trainer` owns a network, its losses and its optimizer, and traces
once a function that runs ``n_epochs`` epochs of shuffled mini-batch steps
(``train_step`` per batch, a stateless per-epoch shuffle). Trainers are
cached by architecture (see ``_training.py``) and reused across fits: each
fit copies the estimator's freshly initialised weights in and resets the
optimizer, so nothing is traced again and no graph is left behind per fit.
"""

import tensorflow as tf

from ._trainer import BaseTrainer

__all__ = ["Trainer", "epoch_order", "keras_fit"]


def epoch_order(n, seed, epoch):
    """The sample order of one epoch: a stateless function of (seed, epoch)."""
    noise = tf.random.stateless_uniform([n], seed=tf.stack([tf.cast(seed, tf.int64),
                                                            tf.cast(epoch, tf.int64)]))
    return tf.argsort(noise, stable=True)


class Trainer(BaseTrainer):
    """A network plus its compiled multi-epoch training function."""

    def __init__(self, model, losses, optimizer):
        super().__init__(model, losses, optimizer)
        self._loss_weights = tf.Variable(tf.ones([len(self.names)]), trainable=False)
        self._run = tf.function(self._run_epochs, reduce_retracing=True)
        self._eval = tf.function(self._evaluate_graph, reduce_retracing=True)

    def compilations(self):
        """How many times the training function was traced."""
        return self._run.experimental_get_tracing_count()

    @staticmethod
    def _zeros_like(var):
        return tf.zeros(var.shape, var.dtype)

    def _set_loss_weights(self, values):
        self._loss_weights.assign(values)

    @staticmethod
    def _data(X, Y, W):
        return (tf.constant(X), {k: tf.constant(v) for k, v in Y.items()},
                {k: tf.constant(v) for k, v in W.items()})

    def _epochs(self, data, first_epoch, n_epochs, batch_size, seed):
        return self._run(*data, tf.constant(first_epoch), tf.constant(n_epochs),
                         tf.constant(batch_size), tf.constant(seed, tf.int64)).numpy()

    def _evaluate(self, data):
        return self._eval(*data).numpy()

    def _losses(self, x, y, w, training):
        pred = self.model(x, training=training)
        per_head = [self.losses[n](y[n], pred[n], sample_weight=w[n]) for n in self.names]
        per_head = tf.stack(per_head)
        total = tf.reduce_sum(self._loss_weights * per_head)
        return tf.concat([[total], per_head], axis=0)

    def _run_epochs(self, X, Y, W, first_epoch, n_epochs, batch_size, seed):
        n = tf.shape(X)[0]
        steps = (n + batch_size - 1) // batch_size
        history = tf.TensorArray(tf.float32, size=n_epochs)
        for e in tf.range(n_epochs):
            order = epoch_order(n, seed, first_epoch + e)
            sums = tf.zeros([len(self.names) + 1])
            for s in tf.range(steps):
                idx = order[s * batch_size:tf.minimum(n, (s + 1) * batch_size)]
                x = tf.gather(X, idx)
                y = {k: tf.gather(v, idx) for k, v in Y.items()}
                w = {k: tf.gather(v, idx) for k, v in W.items()}
                with tf.GradientTape() as tape:
                    losses = self._losses(x, y, w, training=True)
                    total = losses[0]
                grads = tape.gradient(total, self.model.trainable_variables)
                self.optimizer.apply(grads, self.model.trainable_variables)
                sums += losses * tf.cast(tf.shape(idx)[0], tf.float32)
            history = history.write(e, sums / tf.cast(n, tf.float32))
        return history.stack()

    def _evaluate_graph(self, X, Y, W):
        return self._losses(X, Y, W, training=False)


def keras_fit(model, X, Y, W, *, epochs, batch_size, seed, validation=None, callbacks=(),
              verbose=0):
    """The general path: Keras's own ``model.fit`` (any callbacks), fed the
    same batches in the same order as :meth:`Trainer.fit`."""
    n = len(X)
    steps = -(-n // batch_size)
    data = (tf.constant(X), {k: tf.constant(v) for k, v in Y.items()},
            {k: tf.constant(v) for k, v in W.items()})

    def epoch_batches(epoch):
        order = epoch_order(n, seed, epoch)
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    ds = (tf.data.Dataset.range(epochs).flat_map(epoch_batches)
          .map(lambda idx: tuple(tf.nest.map_structure(lambda a: tf.gather(a, idx), data))))
    history = model.fit(ds, epochs=epochs, steps_per_epoch=steps, validation_data=validation,
                        callbacks=list(callbacks), verbose=verbose, shuffle=False)
    return history.history
