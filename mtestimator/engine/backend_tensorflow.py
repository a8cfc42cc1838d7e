"""TensorFlow backend: training runs in a compiled ``tf.function``, XLA where it can.

A :class:`Trainer` owns a network, its losses and its optimizer, and traces
once a function that runs ``n_epochs`` epochs of shuffled mini-batch steps
(a stateless per-epoch shuffle, :func:`epoch_order`). Trainers are cached by
architecture (see ``cache.py``) and reused across fits: each fit copies the
estimator's freshly initialised weights in and resets the optimizer, so
nothing is traced again and no graph is left behind per fit.

The function is compiled with XLA (``jit_compile=True``): about five times
faster per step on a CPU than TensorFlow's graph executor for the small
networks of this package. XLA compiles for static shapes, so, as on JAX:

- epochs, first epoch, seed, batch size, the real number of rows and the
  loss weights are values (``tf.while_loop`` with tensor bounds, a
  fixed-size history buffer of ``_MAX_EPOCHS`` rows per call);
- a step takes a fixed-capacity batch (:func:`~.trainer.batch_capacity`,
  the next power of two), lanes past the batch or past the epoch's last
  row masked; each loss is the mean over the real rows of the batch, as in
  Keras's own ``fit`` (the general path, fed the same batches);
- training and validation sets are padded to a size bucket
  (:func:`~.trainer.rows_bucket`) with copies of their first row, which
  never enter a batch or a loss.

Where XLA cannot compile the network (string inputs, layers without an XLA
kernel), where it has random layers (dropout: XLA's random numbers are slow
on a CPU), or with ``MTESTIMATOR_TF_XLA=0``, the same function runs in
TensorFlow's graph executor.

XLA's CPU backend runs single-threaded (``XLA_FLAGS`` gets
``--xla_cpu_multi_thread_eigen=false`` unless it names that flag already;
XLA reads its flags at its first compilation): for these small networks it
is faster (0.11 vs 0.135 s per reference fit, measured), and a fit gives
the same bits whatever the process's thread count (joblib and Dask workers
run with one thread, a notebook with all cores).
"""

import os

from .threads import single_threaded_xla

single_threaded_xla()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from .balancing import HEAD_ORDER_SALT, gradnorm_update, project_conflicting, \
    shared_variables  # noqa: E402
from .trainer import BaseTrainer, batch_capacity, rows_bucket, schedule_factor  # noqa: E402

__all__ = ["Trainer", "epoch_order", "keras_fit", "uses_xla", "xla_wanted"]

_MAX_EPOCHS = 4096  # epochs per compiled call: the rows of its history buffer
_XLA_ENV = "MTESTIMATOR_TF_XLA"
#: What TensorFlow raises when XLA cannot compile a graph (before it runs).
_XLA_ERRORS = (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError,
               tf.errors.InternalError, tf.errors.NotFoundError)


_M32 = 0xFFFFFFFF


def _hash32(x):
    """A 32-bit integer hash (int64 arithmetic that never overflows): the
    same bits on every device, compiled by XLA or not (TensorFlow's
    stateless random ops give other numbers under XLA)."""
    for _ in range(2):
        x = tf.bitwise.bitwise_and(
            tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16)) * 0x45D9F3B, _M32)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def epoch_order(n, seed, epoch, size=None):
    """The sample order of one epoch, a stateless function of (n, seed, epoch).

    Each row gets a random key from (seed, epoch, row) alone; the real rows
    ``0 .. n-1`` come first, sorted by key, then the padding rows
    ``n .. size-1`` (``size`` defaults to ``n``)."""
    size = n if size is None else size
    rows = tf.range(tf.cast(size, tf.int64), dtype=tf.int64)
    seed = tf.bitwise.bitwise_and(tf.cast(seed, tf.int64), _M32)
    epoch = tf.bitwise.bitwise_and(tf.cast(epoch, tf.int64), 0x7FFFFFFF)
    start = _hash32(tf.bitwise.bitwise_and(_hash32(seed) + epoch * 0x9E3779B1, _M32))
    keys = _hash32(tf.bitwise.bitwise_and(start + rows, _M32))
    keys = tf.where(rows < tf.cast(n, tf.int64), keys, _M32 + 1)  # padding last
    return tf.argsort(keys, stable=True)


def xla_wanted():
    """Whether trainers compile with XLA (``MTESTIMATOR_TF_XLA``, default on)."""
    return os.environ.get(_XLA_ENV, "1").strip() not in ("0", "false", "False", "")


def _random_layers(model):
    """Whether ``model`` has layers that draw random numbers (dropout, noise):
    they keep a Keras ``seed_generator``. XLA's CPU random numbers make such
    networks about three times slower than TensorFlow's kernels (measured:
    1.73 vs 0.60 s per reference fit with dropout 0.1), so they train in the
    graph executor."""
    pending = [model]
    while pending:
        layer = pending.pop()
        if getattr(layer, "seed_generator", None) is not None:
            return True
        pending.extend(getattr(layer, "layers", ()))
    return False


def uses_xla(model, X):
    """Whether a trainer of ``model`` (and the general path) compiles with XLA:
    ``MTESTIMATOR_TF_XLA`` not 0, numeric input, and no random layers."""
    return xla_wanted() and np.asarray(X).dtype.kind in "biuf" and not _random_layers(model)


def _pad_rows(a, size):
    """``a`` with copies of its first row up to ``size`` rows (any dtype)."""
    if len(a) == size:
        return a
    return np.concatenate([a, np.repeat(a[:1], size - len(a), axis=0)])


class Trainer(BaseTrainer):
    """A network plus its compiled multi-epoch training function."""

    #: TensorFlow keeps traced graphs and XLA executables for the life of the
    #: process, whether the trainer lives or not.
    frees_compiled_code = False

    def __init__(self, model, losses, optimizer, metrics=()):
        super().__init__(model, losses, optimizer, metrics)
        self._loss_weights = tf.Variable(tf.ones([len(self.names)]), trainable=False)
        # GradNorm's L(0) by head (-1: not yet known)
        self._initial = tf.Variable(tf.zeros([len(self.names)]), trainable=False)
        self._shared = None  # (shared, matrices) positions, on the first balanced fit
        self._schedule_values = tf.Variable([1.0, 0.0], trainable=False)  # epochs, rate
        self._xla = xla_wanted() and not _random_layers(model)
        self._run_xla = tf.function(self._run_epochs, jit_compile=True, autograph=False,
                                    reduce_retracing=True)
        self._run_graph = tf.function(self._run_epochs, autograph=False,
                                      reduce_retracing=True)
        self._eval = tf.function(self._evaluate_graph, autograph=False,
                                 reduce_retracing=True)
        self._concrete_functions = {}  # (function, capacity, shapes) -> concrete

    def compilations(self):
        """How many times the training function was traced (XLA then compiles
        once per traced function and size bucket)."""
        return (self._run_xla.experimental_get_tracing_count()
                + self._run_graph.experimental_get_tracing_count())

    @staticmethod
    def _zeros_like(var):
        return tf.zeros(var.shape, var.dtype)

    def _set_loss_weights(self, values):
        super()._set_loss_weights(values)
        self._loss_weights.assign(values)

    def _current_loss_weights(self):
        return self._loss_weights.numpy()

    @staticmethod
    def _data(X, Y, W):
        """Padded to a size bucket; the real number of rows travels along."""
        size = rows_bucket(len(X))
        return (tf.constant(_pad_rows(X, size)),
                {k: tf.constant(_pad_rows(v, size)) for k, v in Y.items()},
                {k: tf.constant(_pad_rows(v, size)) for k, v in W.items()},
                tf.constant(len(X), tf.int32))

    def _epochs(self, data, first_epoch, n_epochs, batch_size, seed):
        """Run ``n_epochs`` epochs, in calls of at most ``_MAX_EPOCHS``."""
        capacity = batch_capacity(batch_size)
        kind, total = self.schedule
        # static: a scheduled or balanced fit traces its own function
        static = {"capacity": capacity, "schedule": kind, "mode": self.mode}
        if any(self.mode):
            if self._shared is None:
                self._shared = shared_variables(self.model)
            self._initial.assign(self.initial_losses)
        if kind is not None:  # values, not constants: no new trace per rate or epochs
            self._schedule_values.assign([float(total), self.base_learning_rate])
        history = [np.zeros((0, self.n_values), np.float32)]
        for start in range(0, n_epochs, _MAX_EPOCHS):
            count = min(_MAX_EPOCHS, n_epochs - start)
            args = (*data, tf.constant(first_epoch + start, tf.int32),
                    tf.constant(count, tf.int32), tf.constant(batch_size, tf.int32),
                    tf.constant(seed, tf.int64))
            values = None
            if self._xla and args[0].dtype != tf.string:
                try:
                    values = self._concrete(self._run_xla, args, **static)(*args, **static)
                except _XLA_ERRORS:
                    # XLA could not compile this network: nothing ran (variables
                    # are written when the compiled function ends); from now on
                    # this trainer runs in the graph executor
                    self._xla = False
            if values is None:
                values = self._concrete(self._run_graph, args, **static)(*args, **static)
            history.append(values.numpy()[:count])
        self.initial_losses = self._initial.numpy()
        return np.concatenate(history)

    def _evaluate(self, data):
        return self._concrete(self._eval, data)(*data).numpy()

    def _concrete(self, function, args, **static):
        """The concrete function of ``function`` for these arguments' shapes
        (traced on first use). Calling it skips ``tf.function``'s signature
        matching, which costs more than a small network's epoch (1.5 vs 0.9 ms
        per call, measured), paid at every chunk and, with callbacks or
        validation, at every epoch."""
        key = (function, *static.items(),
               *((t.dtype, tuple(t.shape)) for t in tf.nest.flatten(args)))
        concrete = self._concrete_functions.get(key)
        if concrete is None:
            concrete = self._concrete_functions[key] = function.get_concrete_function(
                *args, **static)
        return concrete

    def _head_losses(self, x, y, w, mask, training):
        """``(pred, per_head, terms)``: each head's loss, the mean over the rows
        where ``mask`` is 1 of its per-row loss times ``w``; with learned
        log-variances each head's ``exp(-s) L + s`` term (else None)."""
        pred = self.model(x, training=training)
        count = tf.maximum(tf.reduce_sum(mask), 1.0)
        per_head = tf.stack([
            tf.reduce_sum(tf.reshape(self.head_losses[n].call(y[n], pred[n]), [-1]) * w[n]
                          * mask) / count for n in self.names])
        terms = None
        if self.log_variances is not None:
            # exp(-s) L + s, the s term weighted as the rows are (as Keras's fit does)
            s = self._log_variance_values()
            weight = tf.stack([tf.reduce_sum(w[n] * mask) / count for n in self.names])
            terms = tf.exp(-s) * per_head + s * weight
        return pred, per_head, terms

    def _losses(self, x, y, w, mask, training):
        """``[total, head..., metric sums...]``: the heads' losses
        (:meth:`_head_losses`), weighted; the metrics' sums."""
        pred, per_head, terms = self._head_losses(x, y, w, mask, training)
        if terms is None:
            total = tf.reduce_sum(self._loss_weights * per_head)
        else:
            total = tf.reduce_sum(terms)
        if training and self.model.losses:  # weight penalties (TabularTrunk's alpha)
            total = total + tf.add_n(self.model.losses)
        # the metrics off the gradient: without it the gradient graph differs (an
        # LSTM network's weights by a few ulps)
        metrics = self._metric_sums(y, tf.nest.map_structure(tf.stop_gradient, pred), w, mask)
        return tf.concat([[total], per_head, metrics], axis=0)

    def _log_variance_values(self):
        return tf.stack([tf.cast(layer.log_var, tf.float32) for layer in self.log_variances])

    def _balanced_step(self, x, y, w, mask, variables, t, seed, active, mode):
        """One step's gradients under GradNorm and/or PCGrad (``mode``), and
        ``[total, head..., metric sums...]``; GradNorm's new weights assigned
        (once the first epoch's losses are known: ``active``)."""
        gradnorm, pcgrad = mode
        shared, matrices = self._shared
        k = len(self.names)
        with tf.GradientTape(persistent=True) as tape:
            pred, per_head, terms = self._head_losses(x, y, w, mask, True)
            if terms is None:  # the weights apply to the heads' gradients
                terms, coef = per_head, tf.identity(self._loss_weights)
            else:
                coef = tf.ones([k])
            total = tf.reduce_sum(coef * terms)
            head_terms = tf.unstack(terms)  # on the tape: each head's gradient
            penalty = tf.add_n(self.model.losses) if self.model.losses else None
            if penalty is not None:
                total = total + penalty
        grads = tape.gradient(total, variables)
        gradnorm, pcgrad = gradnorm and bool(matrices) and k > 1, pcgrad and bool(shared) and k > 1
        need = sorted({*(matrices if gradnorm else ()), *(shared if pcgrad else ())})
        # sources as TensorFlow variables: a Keras variable's dtype (a string)
        # fails TensorFlow's zeros for a source the target does not depend on
        zero = tf.UnconnectedGradients.ZERO
        per_head_grads = [dict(zip(need, tape.gradient(
            head_terms[i], [variables[p].value for p in need], unconnected_gradients=zero)))
            for i in range(k)] if need else []
        if gradnorm:
            norms = tf.stack([tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(g[p])) for p in matrices]))
                              for g in per_head_grads])
            new = gradnorm_update(coef, norms, per_head, self._initial,
                                  tf.cast(self.optimizer.learning_rate, tf.float32))
            self._loss_weights.assign(tf.where(active, new, coef))
        if pcgrad:
            at = [variables[i].value for i in shared]
            rows = [coef[i] * tf.concat([tf.reshape(g[p], [-1]) for p in shared], axis=0)
                    for i, g in enumerate(per_head_grads)]
            order = epoch_order(k, tf.bitwise.bitwise_xor(seed, HEAD_ORDER_SALT), t)
            combined = project_conflicting(tf.stack(rows), tf.cast(order, tf.int32))
            if penalty is not None:
                combined = combined + tf.concat([tf.reshape(g, [-1]) for g in tape.gradient(
                    penalty, at, unconnected_gradients=zero)], axis=0)
            grads = list(grads)
            offset = 0
            for i, var in zip(shared, at):
                size = int(np.prod(var.shape))
                grads[i] = tf.reshape(combined[offset:offset + size], var.shape)
                offset += size
        del tape
        metrics = self._metric_sums(y, tf.nest.map_structure(tf.stop_gradient, pred), w, mask)
        return grads, tf.concat([[total], per_head, metrics], axis=0)

    def _run_epochs(self, X, Y, W, n, first_epoch, n_epochs, batch_size, seed, *, capacity,
                    schedule=None, mode=(False, False)):
        """``schedule``: the kind of learning-rate schedule (static: a scheduled
        fit traces its own function; its epochs and base rate are values), None:
        the constant rate. ``mode``: ``(gradnorm, pcgrad)`` (:meth:`_balanced_step`)."""
        size = tf.shape(X)[0]
        steps = (n + batch_size - 1) // batch_size
        lanes = tf.range(capacity)
        n_losses = len(self.names) + 1
        n_values = self._width()
        variables = self.model.trainable_variables

        def epoch(e, history):
            order = epoch_order(n, seed, first_epoch + e, size)

            def step(s, sums):
                positions = s * batch_size + lanes
                mask = tf.cast((lanes < batch_size) & (positions < n), tf.float32)
                idx = tf.gather(order, tf.minimum(positions, n - 1))  # masked: a real row
                x = tf.gather(X, idx)
                y = {k: tf.gather(v, idx) for k, v in Y.items()}
                w = {k: tf.gather(v, idx) for k, v in W.items()}
                if schedule is not None:
                    total, base = self._schedule_values[0], self._schedule_values[1]
                    t = tf.cast((first_epoch + e) * steps + s, tf.float32)
                    self.optimizer.learning_rate.assign(base * schedule_factor(
                        schedule, t, total * tf.cast(steps, tf.float32), tf.math))
                if any(mode):
                    t = tf.cast(first_epoch + e, tf.int64) * tf.cast(steps, tf.int64) \
                        + tf.cast(s, tf.int64)
                    grads, losses = self._balanced_step(x, y, w, mask, variables, t, seed,
                                                        self._initial[0] >= 0, mode)
                else:
                    with tf.GradientTape() as tape:
                        losses = self._losses(x, y, w, mask, training=True)
                        total = losses[0]
                    grads = tape.gradient(total, variables)
                self.optimizer.apply(grads, variables)
                # losses: batch means times rows; metric sums as they are
                return s + 1, sums + tf.concat([losses[:n_losses] * tf.reduce_sum(mask),
                                                losses[n_losses:]], axis=0)

            _, sums = tf.while_loop(lambda s, _: s < steps, step,
                                    (tf.constant(0), tf.zeros([n_values])))
            row = tf.concat([sums[:n_losses] / tf.cast(n, tf.float32), sums[n_losses:]], axis=0)
            if self.log_variances is not None:  # then each s at the epoch's end
                row = tf.concat([row, self._log_variance_values()], axis=0)
            if mode[0]:  # then GradNorm's weights; L(0): the first epoch's mean losses
                row = tf.concat([row, tf.identity(self._loss_weights)], axis=0)
                self._initial.assign(tf.where(self._initial < 0, row[1:n_losses],
                                              self._initial))
            row = tf.reshape(row, [1, self.n_values])
            return e + 1, tf.tensor_scatter_nd_update(history, [[e]], row)

        _, history = tf.while_loop(lambda e, _: e < n_epochs, epoch,
                                   (tf.constant(0), tf.zeros([_MAX_EPOCHS, self.n_values])))
        return history

    def _evaluate_graph(self, X, Y, W, n):
        mask = tf.cast(tf.range(tf.shape(X)[0]) < n, tf.float32)
        return self._losses(X, Y, W, mask, training=False)


def keras_fit(model, X, Y, W, *, epochs, batch_size, seed, validation=None, callbacks=(),
              verbose=0):
    """The general path: Keras's own ``model.fit`` (any callbacks), fed the
    same batches in the same order as :meth:`Trainer.fit`."""
    n = len(X)
    steps = -(-n // batch_size)
    data = (tf.constant(X), {k: tf.constant(v) for k, v in Y.items()},
            {k: tf.constant(v) for k, v in W.items()})

    def epoch_batches(epoch):
        order = epoch_order(n, seed, epoch, rows_bucket(n))[:n]  # the fast path's order
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    ds = (tf.data.Dataset.range(epochs).flat_map(epoch_batches)
          .map(lambda idx: tuple(tf.nest.map_structure(lambda a: tf.gather(a, idx), data))))
    history = model.fit(ds, epochs=epochs, steps_per_epoch=steps, validation_data=validation,
                        callbacks=list(callbacks), verbose=verbose, shuffle=False)
    return history.history
