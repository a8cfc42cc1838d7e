"""JAX backend: a whole training run as one ``jax.jit`` of ``lax.scan``.

Same interface as ``_backend_tensorflow``: a :class:`Trainer` (cached by
architecture in ``_training.py``) runs epochs x batches inside one compiled
function over Keras's stateless API (``stateless_call``,
``stateless_apply``); ``keras_fit`` is the general path. The last, smaller
batch of an epoch is padded and masked, so every step has one static shape
and the loss is still the mean over the real samples of the batch.
"""

from functools import partial

import jax
import jax.numpy as jnp
import keras
import numpy as np

from ._trainer import BaseTrainer

__all__ = ["Trainer", "epoch_order", "keras_fit"]


def epoch_order(n, seed, epoch):
    """The sample order of one epoch: a stateless function of (seed, epoch)."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), epoch)
    return jax.random.permutation(key, n)


class Trainer(BaseTrainer):
    """A network plus its compiled multi-epoch training function."""

    def compilations(self):
        """Compiled versions of the training function (all trainers)."""
        return type(self)._run._cache_size()

    @staticmethod
    def _zeros_like(var):
        return jnp.zeros(var.shape, var.dtype)

    @staticmethod
    def _data(X, Y, W):
        return (jnp.asarray(X), {k: jnp.asarray(v) for k, v in Y.items()},
                {k: jnp.asarray(v) for k, v in W.items()})

    def _epochs(self, data, first_epoch, n_epochs, batch_size, seed):
        *state, values = self._run(*self._state(), *data, jnp.uint32(seed % 2**32),
                                   first_epoch, n_epochs, batch_size)
        self._set_state(*state)
        return np.asarray(values)

    def _evaluate(self, data):
        return np.asarray(self._eval(*self._state()[:2], *data))

    def _loss(self, tv, ntv, x, y, w, mask, training):
        pred, ntv = self.model.stateless_call(tv, ntv, x, training=training)
        scope = keras.StatelessScope(state_mapping=list(zip(self.model.trainable_variables, tv)))
        with scope:  # losses may read model variables (learned loss weights)
            count = jnp.maximum(jnp.sum(mask), 1.0)
            per_head = [jnp.sum(self.losses[n].call(y[n], pred[n]).reshape(-1) * w[n] * mask)
                        / count for n in self.names]
        total = sum(self.loss_weights[n] * l for n, l in zip(self.names, per_head))
        return total, (jnp.stack([total, *per_head]), ntv)

    @partial(jax.jit, static_argnums=(0, 9, 10))
    def _run(self, tv, ntv, ov, X, Y, W, seed, first_epoch, n_epochs, batch_size):
        n = X.shape[0]
        steps = -(-n // batch_size)
        pad = steps * batch_size - n
        grad_fn = jax.value_and_grad(self._loss, has_aux=True)

        def step(carry, batch):
            tv, ntv, ov = carry
            idx, mask = batch
            y = {k: v[idx] for k, v in Y.items()}
            w = {k: v[idx] for k, v in W.items()}
            (_, (values, ntv)), grads = grad_fn(tv, ntv, X[idx], y, w, mask, True)
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            return (tv, ntv, ov), values * jnp.sum(mask)

        def epoch(carry, e):
            order = jnp.concatenate([epoch_order(n, seed, first_epoch + e),
                                     jnp.zeros(pad, dtype=jnp.int32)])
            mask = (jnp.arange(steps * batch_size) < n).astype(jnp.float32)
            carry, sums = jax.lax.scan(step, carry, (order.reshape(steps, batch_size),
                                                     mask.reshape(steps, batch_size)))
            return carry, jnp.sum(sums, axis=0) / n

        (tv, ntv, ov), history = jax.lax.scan(epoch, (tv, ntv, ov), jnp.arange(n_epochs))
        return tv, ntv, ov, history

    @partial(jax.jit, static_argnums=(0,))
    def _eval(self, tv, ntv, X, Y, W):
        return self._loss(tv, ntv, X, Y, W, jnp.ones(X.shape[0]), False)[1][0]

    def _state(self):
        return ([v.value for v in self.model.trainable_variables],
                [v.value for v in self.model.non_trainable_variables],
                [v.value for v in self.optimizer.variables])

    def _set_state(self, tv, ntv, ov):
        for var, value in zip(self.model.trainable_variables, tv):
            var.assign(value)
        for var, value in zip(self.model.non_trainable_variables, ntv):
            var.assign(value)
        for var, value in zip(self.optimizer.variables, ov):
            var.assign(value)


def keras_fit(model, X, Y, W, *, epochs, batch_size, seed, validation=None, callbacks=(),
              verbose=0):
    """The general path: Keras's own ``model.fit`` (any callbacks), fed the
    same batches in the same order as :meth:`Trainer.fit`."""
    n = len(X)
    steps = -(-n // batch_size)

    def batches():
        for epoch in range(epochs):
            order = np.asarray(epoch_order(n, jnp.uint32(seed % 2**32), epoch))
            for s in range(steps):
                idx = order[s * batch_size:(s + 1) * batch_size]
                yield X[idx], {k: v[idx] for k, v in Y.items()}, {k: v[idx] for k, v in W.items()}

    history = model.fit(batches(), epochs=epochs, steps_per_epoch=steps,
                        validation_data=validation, callbacks=list(callbacks),
                        verbose=verbose, shuffle=False)
    return history.history
