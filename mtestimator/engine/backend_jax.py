"""JAX backend: epochs x batches in one compiled function that rarely recompiles.

Same interface as ``backend_tensorflow``: a :class:`Trainer` (cached by
architecture, see ``cache.py``) runs epochs of shuffled mini-batch steps
inside one ``jax.jit`` over Keras's stateless API (``stateless_call``,
``stateless_apply``); ``keras_fit`` is the general path.

XLA compiles for static shapes, so everything that varies between fits of
one architecture is either a traced value or rounded up to a few shapes:

- Traced values, never a recompilation: the number of epochs, the first
  epoch, the seed, the real training-set size ``n``, the batch size, the
  loss weights (an array in the order of the heads), and, as variables of
  the network and optimizer, the learning rate and the dropout rates.
  Epochs and steps are ``lax.fori_loop`` with traced bounds; one call runs
  at most ``_MAX_EPOCHS`` epochs (its history buffer has that many rows),
  longer runs loop in Python.
- Training and validation sets are padded with zero rows (zero loss weight)
  to a size bucket, ``2**k`` or ``1.5 * 2**k`` rows (at least
  32, see ``trainer.rows_bucket``). Consecutive buckets grow by 1.33x or 1.5x: a learning
  curve from 10% to 100% of the data compiles at most 8 times however many
  sizes it has (6 for 10 sizes), while padding costs at most half the
  data's memory, and as much more sorting in each epoch's shuffle (the
  only work done on padding rows: they sort last in :func:`epoch_order`
  and never enter a batch). Powers of two would compile less often but
  double both costs in the worst case.
- A step takes a fixed-capacity batch, the next power of two >= the batch
  size (batch sizes 17 to 32 share one compilation, and a batch of 17
  computes 32 rows); lanes past the batch
  size or past the epoch's last real row are masked (they read a real row,
  never a padding row), and each loss is the mean over the real samples of
  the batch, as in Keras's own ``fit`` (the general path, fed the same
  batches).

The compiled functions belong to their trainer (closures over its network,
losses and optimizer, never over the trainer), so a trainer dropped from the
cache frees its executables. Importing this module turns on JAX's persistent
compilation cache (see :func:`_enable_persistent_cache`), so a new process
reuses the executables of earlier ones; the estimators import it before they
build their first network, whose building compiles too.
"""

import os
import tempfile

import jax
import jax.numpy as jnp
import keras
import numpy as np
from jax import lax

from ._compat import jit_cache_size
from .balancing import HEAD_ORDER_SALT, gradnorm_update, project_conflicting, shared_variables
from .trainer import BaseTrainer, schedule_factor
from .trainer import batch_capacity as _batch_capacity
from .trainer import rows_bucket as _rows_bucket

__all__ = ["Trainer", "epoch_order", "keras_fit"]

_MAX_EPOCHS = 4096  # epochs per compiled call: the rows of its history buffer
_CACHE_DIR_ENV = "MTESTIMATOR_JAX_CACHE_DIR"
_DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "mtestimator", "jax")
_CACHE_MIN_COMPILE_SECS = 0.1  # cache our training and evaluation functions
_persistent_cache_checked = False


def epoch_order(n, seed, epoch, size=None):
    """The sample order of one epoch, a stateless function of (n, seed, epoch).

    Each row gets a random key from (seed, epoch, row) alone; the real rows
    ``0 .. n-1`` come first, sorted by key, then the padding rows
    ``n .. size-1`` (``size`` defaults to ``n``), so the order of the real
    rows does not depend on the padding.
    """
    key = jax.random.fold_in(jax.random.PRNGKey(seed), epoch)
    rows = jnp.arange(n if size is None else size)
    keys = jax.vmap(lambda row: jax.random.bits(jax.random.fold_in(key, row)))(rows)
    keys = jnp.where(rows < n, keys, np.uint32(2**32 - 1))
    return jnp.argsort(keys, stable=True)  # stable: ties keep real rows first


_epoch_order_of_n = jax.jit(epoch_order, static_argnums=0)  # for the general path


def _seed32(seed):
    return np.uint32(seed % 2**32)


_ALIGN = 64  # bytes: the alignment at which XLA's CPU client uses a host buffer as it is


def _pad_rows(a, size):
    """``a`` with zero rows up to ``size``, on the device: one copy of the
    data on a CPU. The rows go to a buffer aligned to 64 bytes, which
    ``device_put`` then uses as it is (``jnp.asarray`` copied again, and so
    does ``device_put`` with NumPy's own 16-byte alignment)."""
    a = np.ascontiguousarray(a)
    shape = (size, *a.shape[1:])
    nbytes = int(np.prod(shape)) * a.itemsize
    raw = np.empty(nbytes + _ALIGN, np.uint8)
    start = -raw.ctypes.data % _ALIGN
    out = raw[start:start + nbytes].view(a.dtype).reshape(shape)
    out[:len(a)] = a
    out[len(a):] = 0
    return jax.device_put(out)


def _persistent_cache_dir():
    """Where our persistent compilation cache goes: ``$MTESTIMATOR_JAX_CACHE_DIR``
    (empty: none), else ``~/.cache/mtestimator/jax``; None when the user
    configured JAX's own cache, or the directory cannot be written."""
    if jax.config.jax_compilation_cache_dir is not None:
        return None
    path = os.path.expanduser(os.environ.get(_CACHE_DIR_ENV, _DEFAULT_CACHE_DIR))
    if not path:
        return None
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:  # read-only, not a directory, ...
        return None
    return path


def _enable_persistent_cache():
    """Turn on JAX's persistent compilation cache in :func:`_persistent_cache_dir`,
    once per process. A write that fails later (full disk) is a warning from
    JAX, never an error."""
    global _persistent_cache_checked
    if _persistent_cache_checked:
        return
    _persistent_cache_checked = True
    path = _persistent_cache_dir()
    if path is not None:
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs",
                          _CACHE_MIN_COMPILE_SECS)


def _loss_function(model, losses, names, metric_sums, log_variances=None):
    """``loss(tv, ntv, x, y, w, mask, loss_weights, training)`` ->
    ``(total, ([total, head..., metric sums...], ntv))``: each head's loss
    (``losses``: each head's own) is the mean over the rows where ``mask`` is
    1, weighted by ``w``; ``metric_sums(y, pred, w, mask)`` the heads' metric
    sums (:func:`~.metrics.sums_function`); with the layers of learned
    ``log_variances`` s, the total is ``sum(exp(-s) L + s)``."""

    penalised = bool(model.losses)  # weight penalties (TabularTrunk's alpha)

    def head_losses(tv, ntv, x, y, w, mask, training):
        """``(pred, ntv, penalties, per_head, terms)``: ``terms`` each head's
        ``exp(-s) L + s`` with learned log-variances, else None."""
        if penalised and training:
            pred, ntv, penalties = model.stateless_call(tv, ntv, x, training=training,
                                                        return_losses=True)
        else:
            pred, ntv = model.stateless_call(tv, ntv, x, training=training)
            penalties = ()
        scope = keras.StatelessScope(state_mapping=list(zip(model.trainable_variables, tv)))
        with scope:  # losses may read model variables (learned loss weights)
            count = jnp.maximum(jnp.sum(mask), 1.0)
            per_head = jnp.stack([
                jnp.sum(jnp.where(mask > 0, losses[name].call(y[name], pred[name]).reshape(-1)
                                  * w[name], 0.0)) / count for name in names])
            terms = None
            if log_variances is not None:  # as on TensorFlow: the s term weighted as the rows
                s = jnp.stack([jnp.asarray(layer.log_var.value, jnp.float32)
                               for layer in log_variances])
                weight = jnp.stack([jnp.sum(jnp.where(mask > 0, w[name], 0.0)) / count
                                    for name in names])
                terms = jnp.exp(-s) * per_head + s * weight
        return pred, ntv, penalties, per_head, terms

    def loss(tv, ntv, x, y, w, mask, loss_weights, training):
        pred, ntv, penalties, per_head, terms = head_losses(tv, ntv, x, y, w, mask, training)
        total = jnp.sum(loss_weights * per_head) if terms is None else jnp.sum(terms)
        for penalty in penalties:
            total = total + penalty
        return total, (jnp.concatenate([total[None], per_head,
                                        metric_sums(y, pred, w, mask)]), ntv)

    loss.head_losses = head_losses
    return loss


def _balanced_gradients(loss, metric_sums, n_heads, where, auto):
    """``grads(tv, ntv, x, y, w, mask, loss_weights, initial, active, t, seed, lr,
    mode)`` -> ``(grads, values, ntv, loss_weights)``: one step's gradients under
    GradNorm and/or PCGrad (``mode``, see :mod:`.balancing`), GradNorm's new
    weights (once the first epoch's losses are known, ``active``). ``where["shared"]``: the
    positions of :func:`~.balancing.shared_variables`, filled before the first
    balanced fit traces."""
    head_losses = loss.head_losses
    k = n_heads
    eye = jnp.eye(k)

    def grads(tv, ntv, x, y, w, mask, loss_weights, initial, active, t, seed, lr, mode):
        gradnorm, pcgrad = mode
        shared, matrices = where["shared"]

        def objective(tv):
            pred, ntv2, penalties, per_head, terms = head_losses(tv, ntv, x, y, w, mask, True)
            penalty = sum(penalties, jnp.float32(0.0))
            return (per_head if terms is None else terms, penalty), (pred, ntv2, per_head)

        (terms, penalty), vjp, (pred, ntv, per_head) = jax.vjp(objective, tv, has_aux=True)
        coef = jnp.ones(k) if auto else loss_weights  # the weights apply to the gradients
        total = jnp.sum(coef * terms) + penalty
        (out,) = vjp((coef, jnp.float32(1.0)))
        gradnorm, pcgrad = gradnorm and bool(matrices) and k > 1, pcgrad and bool(shared) and k > 1
        per_head_grads = [vjp((eye[i], jnp.float32(0.0)))[0] for i in range(k)] \
            if gradnorm or pcgrad else []
        if gradnorm:
            norms = jnp.stack([jnp.sqrt(sum(jnp.sum(jnp.square(g[p])) for p in matrices))
                               for g in per_head_grads])
            new = gradnorm_update(coef, norms, per_head, initial, lr)
            loss_weights = jnp.where(active, new, coef)
        if pcgrad:
            rows = jnp.stack([coef[i] * jnp.concatenate([g[p].ravel() for p in shared])
                              for i, g in enumerate(per_head_grads)])
            order = epoch_order(k, jnp.bitwise_xor(seed, np.uint32(HEAD_ORDER_SALT)), t)
            combined = project_conflicting(rows, order)
            (pen,) = vjp((jnp.zeros(k), jnp.float32(1.0)))
            combined = combined + jnp.concatenate([pen[p].ravel() for p in shared])
            out, offset = list(out), 0
            for p in shared:
                out[p] = combined[offset:offset + out[p].size].reshape(out[p].shape)
                offset += out[p].size
        values = jnp.concatenate([total[None], per_head, metric_sums(y, pred, w, mask)])
        return out, values, ntv, loss_weights

    return grads


def _train_function(loss, optimizer, n_values, n_losses, lr_index, log_variances=(),
                    balanced=None):
    """The compiled training run: ``n_epochs`` epochs from ``first_epoch`` on
    the first ``n`` rows of the padded data, in steps of ``batch_size`` rows
    (at most ``capacity``, the static batch shape). Returns the new state, the
    loss weights and GradNorm's initial losses, and a ``(_MAX_EPOCHS,
    n_values + len(log_variances) [+ heads])`` history whose first
    ``n_epochs`` rows are each epoch's mean losses (the first ``n_losses``
    values), then its metric sums, then the trainable variables at positions
    ``log_variances`` at the epoch's end, then with GradNorm the loss
    weights. ``balanced``: :func:`_balanced_gradients` (``mode``, static,
    ``(gradnorm, pcgrad)``)."""
    grad_fn = jax.value_and_grad(loss, has_aux=True)

    def run(tv, ntv, ov, X, Y, W, n, loss_weights, seed, first_epoch, n_epochs, batch_size,
            schedule_values, initial, *, capacity, schedule=None, mode=(False, False)):
        lanes = jnp.arange(capacity)
        steps = (n + batch_size - 1) // batch_size
        width = n_values + len(log_variances) + (n_losses - 1 if mode[0] else 0)

        def epoch(e, carry):
            state, history = carry
            order = epoch_order(n, seed, first_epoch + e, X.shape[0])

            def step(s, carry):
                (tv, ntv, ov, loss_weights, initial), sums = carry
                positions = s * batch_size + lanes
                mask = ((lanes < batch_size) & (positions < n)).astype(jnp.float32)
                idx = order[jnp.minimum(positions, n - 1)]  # masked lanes: a real row
                y = {k: v[idx] for k, v in Y.items()}
                w = {k: v[idx] for k, v in W.items()}
                if schedule is not None:  # the kind; schedule_values: epochs, base rate
                    total, base = schedule_values[0], schedule_values[1]
                    t = ((first_epoch + e) * steps + s).astype(jnp.float32)
                    ov = list(ov)
                    ov[lr_index] = jnp.asarray(base * schedule_factor(
                        schedule, t, total * steps.astype(jnp.float32), jnp),
                        ov[lr_index].dtype)
                if any(mode):
                    t = (first_epoch + e) * steps + s
                    grads, values, ntv, loss_weights = balanced(
                        tv, ntv, X[idx], y, w, mask, loss_weights, initial,
                        initial[0] >= 0, t, seed, ov[lr_index], mode)
                else:
                    (_, (values, ntv)), grads = grad_fn(tv, ntv, X[idx], y, w, mask,
                                                        loss_weights, True)
                tv, ov = optimizer.stateless_apply(ov, grads, tv)
                # losses: batch means times rows; metric sums as they are
                return (tv, ntv, ov, loss_weights, initial), sums + jnp.concatenate(
                    [values[:n_losses] * jnp.sum(mask), values[n_losses:]])

            state, sums = lax.fori_loop(0, steps, step, (state, jnp.zeros(n_values)))
            row = jnp.concatenate([sums[:n_losses] / n, sums[n_losses:]])
            if log_variances:
                row = jnp.concatenate([row, jnp.stack([jnp.asarray(state[0][i], jnp.float32)
                                                       for i in log_variances])])
            if mode[0]:  # then GradNorm's weights; L(0): the first epoch's mean losses
                row = jnp.concatenate([row, state[3]])
                state = (*state[:4], jnp.where(state[4] < 0, row[1:n_losses], state[4]))
            return state, history.at[e].set(row)

        history = jnp.zeros((_MAX_EPOCHS, width))
        state, history = lax.fori_loop(0, n_epochs, epoch,
                                       ((tv, ntv, ov, loss_weights, initial), history))
        return *state, history

    return jax.jit(run, static_argnames=("capacity", "schedule", "mode"))


def _eval_function(loss):
    """The compiled evaluation: mean losses over the first ``n`` rows."""

    def evaluate(tv, ntv, X, Y, W, n, loss_weights):
        mask = (jnp.arange(X.shape[0]) < n).astype(jnp.float32)
        return loss(tv, ntv, X, Y, W, mask, loss_weights, False)[1][0]

    return jax.jit(evaluate)


class Trainer(BaseTrainer):
    """A network plus its compiled multi-epoch training function."""

    def __init__(self, model, losses, optimizer, metrics=()):
        super().__init__(model, losses, optimizer, metrics)
        self._set_loss_weights(np.ones(len(self.names), np.float32))
        # self._metric_sums closes over the metrics, never the trainer
        loss = _loss_function(model, self.head_losses, self.names, self._metric_sums,
                              self.log_variances)
        lr_index = next(i for i, v in enumerate(optimizer.variables)
                        if v is optimizer.learning_rate)
        trainable = model.trainable_variables
        positions = [next(i for i, v in enumerate(trainable) if v is layer.log_var)
                     for layer in self.log_variances or ()]
        self._where = {}  # the shared variables' positions, on the first balanced fit
        self._run = _train_function(loss, optimizer, self._width(), 1 + len(self.names),
                                    lr_index, positions, _balanced_gradients(
                                        loss, self._metric_sums, len(self.names), self._where,
                                        auto=self.log_variances is not None))
        self._eval = _eval_function(loss)

    def compilations(self):
        """Compiled versions of this trainer's training function."""
        return jit_cache_size(self._run)

    @staticmethod
    def _zeros_like(var):
        # NumPy: jnp.zeros would compile a fill for each new shape
        return np.zeros(var.shape, var.dtype)

    @staticmethod
    def _data(X, Y, W):
        """Padded to a size bucket; the real number of rows travels along."""
        size = _rows_bucket(len(X))
        return (_pad_rows(X, size), {k: _pad_rows(v, size) for k, v in Y.items()},
                {k: _pad_rows(v, size) for k, v in W.items()}, np.int32(len(X)))

    def _set_loss_weights(self, values):
        super()._set_loss_weights(values)
        self._loss_weights = np.asarray(values, np.float32)

    def _epochs(self, data, first_epoch, n_epochs, batch_size, seed):
        """Run ``n_epochs`` epochs, in calls of at most ``_MAX_EPOCHS``."""
        state = self._state()
        kind, total = self.schedule
        static = {} if kind is None else {"schedule": kind}
        if any(self.mode):
            static["mode"] = self.mode
            if "shared" not in self._where:
                self._where["shared"] = shared_variables(self.model)
        schedule_values = np.array([total, getattr(self, "base_learning_rate", 0.0)],
                                   np.float32)
        history = [np.zeros((0, self.n_values), np.float32)]
        for start in range(0, n_epochs, _MAX_EPOCHS):
            count = min(_MAX_EPOCHS, n_epochs - start)
            *state, weights, initial, values = self._run(
                *state, *data, self._loss_weights, _seed32(seed),
                np.int32(first_epoch + start), np.int32(count), np.int32(batch_size),
                schedule_values, self.initial_losses, capacity=_batch_capacity(batch_size),
                **static)
            history.append(np.asarray(values)[:count])
            if self.mode[0]:
                self._loss_weights = np.asarray(weights, np.float32)
                self.initial_losses = np.asarray(initial, np.float32)
        self._set_state(*state)
        return np.concatenate(history)

    def _evaluate(self, data):
        return np.asarray(self._eval(*self._state()[:2], *data, self._loss_weights))

    def _current_loss_weights(self):
        return self._loss_weights

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


_enable_persistent_cache()


def keras_fit(model, X, Y, W, *, epochs, batch_size, seed, validation=None, callbacks=(),
              verbose=0):
    """The general path: Keras's own ``model.fit`` (any callbacks), fed the
    same batches in the same order as :meth:`Trainer.fit`."""
    n = len(X)
    steps = -(-n // batch_size)

    def batches():
        for epoch in range(epochs):
            order = np.asarray(_epoch_order_of_n(n, _seed32(seed), epoch))
            for s in range(steps):
                idx = order[s * batch_size:(s + 1) * batch_size]
                yield X[idx], {k: v[idx] for k, v in Y.items()}, {k: v[idx] for k, v in W.items()}

    history = model.fit(batches(), epochs=epochs, steps_per_epoch=steps,
                        validation_data=validation, callbacks=list(callbacks),
                        verbose=verbose, shuffle=False)
    return history.history