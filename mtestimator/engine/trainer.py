"""What every backend's trainer shares: losses, the epoch loop, callbacks.

A fit runs the compiled training function in chunks of epochs. The first
chunk is one epoch (it may include the compilation); each next chunk is
sized from the last one's seconds per epoch to take about
:data:`CHUNK_SECONDS`. Between chunks, and only there, Python runs: the
progress display moves, Ctrl-C (KeyboardInterrupt) is raised, and a
non-finite loss stops training. With validation data (early stopping) or
callbacks, every chunk is one epoch, so that callbacks see each epoch's logs
and the model's weights at that epoch, and can stop training or change the
learning rate (``model.optimizer``) before the next one; callbacks that
only read the logs (``History``, ``CSVLogger``, ``TerminateOnNaN``,
``EarlyStopping`` without ``restore_best_weights``: :func:`reads_logs_only`)
keep the chunks, see each epoch after its chunk, and a stop inside a chunk
runs it again up to the stopping epoch (a chunk's epochs are a function of
its starting state: the weights, the optimizer and dropout seeds are saved
before it).

A backend subclass provides ``_data`` (arrays to backend tensors),
``_epochs`` (run epochs, return per-epoch ``[total, head...]`` losses, then
the heads' metric sums (:func:`~.metrics.sums_function`), then with learned
loss weights each head's log-variance at the epoch's end, then with GradNorm
each head's loss weight at the epoch's end: ``n_values`` in all),
``_evaluate`` (the same on a validation set), ``_zeros_like`` and
``compilations``, and may override ``_set_loss_weights``. The loss weights, the learning
rate, the dropout rates, the batch size and the number of epochs are values
of the compiled function, not constants of it; GradNorm and PCGrad
(:mod:`.balancing`, :attr:`BaseTrainer.mode`) are static arguments of it: a
balanced fit compiles its own function, and a fit with neither runs the one
it always did.
"""

import signal
import threading
import time

import keras
import numpy as np

from ._compat import LossFunctionWrapper
from .metrics import data_totals, metric_logs, n_sums, sums_function
from .networks import set_dropout_rates, transferable_variables
from .optimizers import load_optimizer_state
from .progress import make_progress
from .spec import SCHEDULES  # noqa: F401  (re-exported: the kinds schedule_factor takes)

__all__ = ["BaseTrainer", "CHUNK_SECONDS", "DWA_TEMPERATURE", "LOG_VARIANCE", "LOSS_WEIGHT",
           "SCHEDULES",
           "WARMUP_FRACTION", "batch_capacity", "batch_hook", "dwa_weights",
           "needs_batch_hooks", "reads_logs_only", "rows_bucket", "schedule_factor"]

#: The share of the steps that "linear_warmup_cosine" warms up over.
WARMUP_FRACTION = 0.05


def schedule_factor(kind, step, total, xp):
    """The learning rate's multiplier at ``step`` of ``total`` (0-based, float
    tensors; ``xp`` the array module: ``tf.math`` or ``jax.numpy``):
    ``"cosine"`` from 1 down to 0 as Keras's ``CosineDecay``;
    ``"linear_warmup_cosine"`` up linearly over the first
    :data:`WARMUP_FRACTION` of the steps, then the cosine down to 0."""
    p = step / total
    if kind == "cosine":
        return 0.5 * (1.0 + xp.cos(np.pi * p))
    w = WARMUP_FRACTION
    warm = (step + 1.0) / xp.maximum(w * total, 1.0)
    decay = 0.5 * (1.0 + xp.cos(np.pi * xp.maximum(p - w, 0.0) / (1.0 - w)))
    return xp.minimum(warm, decay)

#: The history's key of a head's learned log-variance (``loss_weights="auto"``), after its name.
LOG_VARIANCE = "_log_variance"
#: The history's key of a head's learned loss weight (``loss_weights="gradnorm"``).
LOSS_WEIGHT = "_loss_weight"

#: Seconds of training between two returns to Python (progress, Ctrl-C).
CHUNK_SECONDS = 0.5
_MAX_GROWTH = 8  # a chunk is at most this many times longer than the last

MIN_ROWS = 32  # the smallest training-set bucket


def rows_bucket(n):
    """The padded size of a set of ``n`` rows: the smallest ``2**k`` or
    ``1.5 * 2**k`` that holds them, at least :data:`MIN_ROWS`.

    The compiled backends (XLA) compile for each shape; consecutive buckets
    grow by 1.33x or 1.5x, so a learning curve from 10% to 100% of the data
    compiles about 5 times, while padding costs at most half the data's
    memory."""
    size = MIN_ROWS
    while size < n:
        size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
    return size


def batch_capacity(batch_size):
    """The rows of one compiled step: the next power of two >= ``batch_size``
    (lanes past the batch are masked)."""
    return 1 << (int(batch_size) - 1).bit_length()


_BATCH_HOOKS = ("on_batch_begin", "on_batch_end", "on_train_batch_begin",
                "on_train_batch_end", "on_test_begin", "on_test_end",
                "on_test_batch_begin", "on_test_batch_end")


def batch_hook(callback):
    """The first per-batch or evaluation hook ``callback`` implements (which
    needs Keras's own ``model.fit``), or None. TerminateOnNaN is the
    exception: the epoch loop stops on a non-finite loss itself."""
    if isinstance(callback, keras.callbacks.TerminateOnNaN):
        return None
    if isinstance(callback, keras.callbacks.ModelCheckpoint) and callback.save_freq == "epoch":
        return None
    return next((hook for hook in _BATCH_HOOKS
                 if not getattr(getattr(callback, hook), "_is_default", False)), None)


def needs_batch_hooks(callback):
    """Whether ``callback`` needs Keras's own ``model.fit`` (:func:`batch_hook`)."""
    return batch_hook(callback) is not None


def reads_logs_only(callback):
    """Whether ``callback`` only reads each epoch's logs (never the weights,
    never the learning rate), so it may see an epoch after the next ones
    ran: Keras's ``History``, ``CSVLogger``, ``TerminateOnNaN``, and
    ``EarlyStopping`` without ``restore_best_weights`` (exact classes: a
    subclass may read more)."""
    if type(callback) is keras.callbacks.EarlyStopping:
        return not callback.restore_best_weights
    return type(callback) in (keras.callbacks.History, keras.callbacks.CSVLogger,
                              keras.callbacks.TerminateOnNaN)


class _DeferredInterrupt:
    """Ctrl-C during a fit, honoured between chunks of epochs.

    While a fit runs in the main thread under Python's default SIGINT
    handler, SIGINT only sets a flag, which the epoch loop checks after
    each chunk (and on exit) and turns into KeyboardInterrupt. A
    KeyboardInterrupt raised by the default handler can land anywhere in
    the main thread, including in an object's ``__del__`` run by the
    garbage collector, where Python ignores it and training goes on (seen
    once in CI: a Ctrl-C lost in a long TensorFlow fit). A second SIGINT
    raises at once. Elsewhere (other threads, a handler of your own),
    nothing changes.
    """

    def __init__(self):
        self.pending = False
        self._installed = False

    def _handle(self, signum, frame):
        if self.pending:
            raise KeyboardInterrupt
        self.pending = True

    def check(self):
        if self.pending:
            raise KeyboardInterrupt

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if exc_type is None:
            self.check()
        return False


class BaseTrainer:
    """A network, its losses and optimizer, and a compiled training function."""

    #: Whether dropping the trainer frees its compiled code (see ``cache.py``).
    frees_compiled_code = True

    def __init__(self, model, losses, optimizer, metrics=()):
        self.model = model
        #: ``[(head, metric kind, units), ...]``: the metrics in the history (metrics.py)
        self.metrics = list(metrics)
        self._metric_sums = sums_function(self.metrics)  # (y, pred, w, mask) -> sums
        self.names = list(losses)
        self.losses = {n: LossFunctionWrapper(keras.losses.get(l)) if isinstance(l, str) else l
                       for n, l in losses.items()}
        # learned loss weights (loss_weights="auto"): each head's own loss, and the layers
        # holding its log-variance s; the total is sum(exp(-s) L + s), the history keeps L
        learned = all(hasattr(loss, "weight_layer") for loss in self.losses.values())
        self.head_losses = {n: loss.base if learned else loss for n, loss in self.losses.items()}
        self.log_variances = [self.losses[n].weight_layer for n in self.names] \
            if learned else None
        self._learned_width = len(self.names) if learned else 0
        #: ``(gradnorm, pcgrad)`` of the running fit (static arguments of the compiled step)
        self.mode = (False, False)
        #: GradNorm's ``L_i(0)``: each head's mean loss over the first epoch (-1: not yet)
        self.initial_losses = np.full(len(self.names), -1.0, np.float32)
        self.optimizer = optimizer
        optimizer.build(model.trainable_variables)
        self.model.optimizer = optimizer  # what callbacks such as ReduceLROnPlateau change
        self.loss_weights = dict.fromkeys(self.names, 1.0)

    @property
    def n_values(self):
        """The values of an epoch's history row (:meth:`_logs`)."""
        return self._width() + self._learned_width + (len(self.names) if self.mode[0] else 0)

    def _balancing_state(self):
        """The loss weights and GradNorm's initial losses (a chunk's replay restores them)."""
        return np.array(self._current_loss_weights(), np.float32), self.initial_losses.copy()

    def _current_loss_weights(self):
        """Hook: the loss weights the compiled function holds now (GradNorm updates them)."""
        return self._loss_weight_values

    def nbytes(self):
        """Bytes of the network's and the optimizer's variables."""
        return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize
                   for v in [*self.model.variables, *self.optimizer.variables])

    def release(self):
        """Hook: the cache drops this trainer; free what the backend holds for it."""

    def variables(self):
        """The network's variables that a fit copies in and out."""
        return transferable_variables(self.model)

    #: ``(kind, epochs)`` of the fit's learning-rate schedule (kind None: constant).
    schedule = (None, 1)

    def reset(self, source, learning_rate, loss_weights=None, optimizer_state=None,
              schedule=None, epochs=1):
        """Start a fit: weights, dropout seeds and rates of ``source``; the loss
        weights (``None``: all 1); a fresh optimizer, or the one saved in
        ``optimizer_state``; the learning-rate ``schedule`` (one of
        :data:`SCHEDULES`, over ``epochs``; None: constant)."""
        self.schedule = (schedule, int(epochs))
        self.base_learning_rate = float(learning_rate)
        for dst, src in zip(self.variables(), transferable_variables(source)):
            dst.assign(src.value)
        set_dropout_rates(self.model, source)
        load_optimizer_state(self.optimizer, optimizer_state, zeros_like=self._zeros_like)
        self.optimizer.learning_rate = learning_rate
        weights = loss_weights or {}
        self.loss_weights = {n: float(weights.get(n, 1.0)) for n in self.names}
        self._set_loss_weights(np.array([self.loss_weights[n] for n in self.names],
                                        dtype=np.float32))

    def _set_loss_weights(self, values):
        """Hook: the loss weights changed (``values`` in the order of ``names``).
        A backend that passes ``self.loss_weights`` at each call needs nothing."""
        self._loss_weight_values = np.asarray(values, np.float32)

    def _logs(self, values, prefix="", totals=None):
        """``loss`` (what was minimised), ``<head>_loss`` (each head's own loss),
        each head's metric and, with learned loss weights,
        ``<head>_log_variance`` (training only)."""
        k, width = len(self.names), self._width()
        logs = {f"{prefix}loss": float(values[0]),
                **{f"{prefix}{n}_loss": float(v) for n, v in zip(self.names, values[1:1 + k])}}
        if self.metrics:  # the sums after the losses, over the data set's totals
            logs.update(metric_logs(self.metrics, values[1 + k:width], totals, prefix))
        extra = values[width:]
        if self.log_variances is not None and not prefix:
            logs.update({f"{n}{LOG_VARIANCE}": float(v) for n, v in zip(self.names, extra)})
            extra = extra[len(self.names):]
        if self.mode[0] and not prefix:  # GradNorm's weights at the epoch's end
            logs.update({f"{n}{LOSS_WEIGHT}": float(v) for n, v in zip(self.names, extra)})
        return logs

    def _width(self):
        """The values of an epoch: the total and each head's loss, the metric sums."""
        return 1 + len(self.names) + sum(n_sums(kind, units) for _, kind, units in self.metrics)

    def _totals(self, Y, W):
        return {n: data_totals(kind, Y[n], W[n]) for n, kind, _ in self.metrics}

    def fit(self, X, Y, W, *, epochs, batch_size, seed, validation=None, patience=None,
            callbacks=(), verbose=0, description=None, balancing=None, gradient=None,
            initial_losses=None):
        """Train; returns the per-epoch history (``loss``, ``<head>_loss``, ``val_*``).

        With ``validation=(X, Y, W)`` and ``patience``, stops after
        ``patience`` epochs without a lower validation loss and restores the
        best weights. ``callbacks`` are Keras callbacks with epoch hooks
        only (see :func:`needs_batch_hooks`); ``verbose`` as in
        :mod:`~mtestimator.engine.progress`.

        Callbacks that only read the logs (:func:`reads_logs_only`) see
        each epoch after its chunk has run; when one stops training inside
        a chunk, the chunk is run again from its start up to that epoch, so
        the weights are that epoch's. Any other callback, and validation,
        makes every chunk one epoch, and so does ``balancing="dwa"``
        (:func:`dwa_weights` sets the loss weights before each epoch).
        ``balancing="gradnorm"`` learns the loss weights at each step (from
        the loss weights given to :meth:`reset`; ``initial_losses``: each
        head's ``L_i(0)``, None: the first epoch's mean losses, no update
        before they are known) and ``gradient="pcgrad"`` projects the heads'
        conflicting gradients of the shared variables (:mod:`.balancing`),
        both inside the compiled function.
        """
        epochs, batch_size, seed = int(epochs), int(batch_size), int(seed)
        self.mode = (balancing == "gradnorm", gradient == "pcgrad")
        self.initial_losses = np.asarray(
            [-1.0 if initial_losses is None else initial_losses[n] for n in self.names],
            np.float32)
        data = self._data(X, Y, W)
        val = None if validation is None else self._data(*validation)
        totals = self._totals(Y, W), None if validation is None else self._totals(*validation[1:])
        per_epoch = val is not None or balancing == "dwa" or not all(
            reads_logs_only(cb) for cb in callbacks)
        base = np.array([self.loss_weights[n] for n in self.names], np.float32)
        replay = bool(callbacks) and not per_epoch
        callbacks = keras.callbacks.CallbackList(
            list(callbacks), model=self.model, epochs=epochs, verbose=0,
            steps=-(-len(X) // batch_size))
        progress = make_progress(verbose, epochs, description)
        self.model.stop_training = False
        logs, stop = [], _EarlyStop(patience)
        try:
            with _DeferredInterrupt() as interrupt:
                callbacks.on_train_begin()
                chunk = 1
                while len(logs) < epochs and not self.model.stop_training:
                    interrupt.check()
                    first, n = len(logs), min(chunk, epochs - len(logs))
                    if per_epoch:
                        callbacks.on_epoch_begin(first)
                    start_state = self._snapshot() if replay and n > 1 else None
                    start = time.perf_counter()
                    values = self._epochs(data, first, n, batch_size, seed)
                    seconds = (time.perf_counter() - start) / n
                    interrupt.check()
                    for epoch, row in enumerate(values, first):
                        epoch_logs = self._logs(row, totals=totals[0])
                        if val is not None:
                            epoch_logs.update(self._logs(self._evaluate(val), "val_", totals[1]))
                        logs.append(epoch_logs)
                        if balancing == "dwa":  # the next epoch's weights
                            self._set_loss_weights(base * dwa_weights(logs, self.names))
                        progress.update(epoch, epoch_logs, seconds)
                        if not np.all(np.isfinite(row[:1 + len(self.names)])):
                            self.model.stop_training = True  # the estimator reports it
                            break
                        if replay:
                            callbacks.on_epoch_begin(epoch)
                        if callbacks.callbacks:
                            callbacks.on_epoch_end(epoch, epoch_logs)
                        if val is not None and stop.update(epoch_logs["val_loss"], self.model):
                            self.model.stop_training = True
                        if self.model.stop_training:
                            if epoch < first + n - 1 and start_state is not None:
                                # stopped inside the chunk: back to its start,
                                # and the same epochs (same order, same dropout
                                # draws) up to this one
                                self._restore(start_state)
                                self._epochs(data, first, epoch - first + 1, batch_size, seed)
                            break
                    if not per_epoch:
                        chunk = max(1, min(int(CHUNK_SECONDS / max(seconds, 1e-9)),
                                           _MAX_GROWTH * n))
                stop.restore(self.model)
                callbacks.on_train_end(logs[-1] if logs else None)
        finally:
            progress.close()
        return {k: [log.get(k, np.nan) for log in logs] for k in logs[0]}

    def _all_variables(self):
        return [*self.model.variables, *self.optimizer.variables]

    def _snapshot(self):
        """Every variable's value (network, dropout seeds, optimizer), and the
        learned balancing state."""
        return [np.array(v.numpy()) for v in self._all_variables()], self._balancing_state()

    def _restore(self, state):
        values, (weights, initial) = state
        for var, value in zip(self._all_variables(), values):
            var.assign(value)
        self._set_loss_weights(weights)
        self.initial_losses = initial


#: Dynamic Weight Average's temperature (Liu et al. 2019's choice).
DWA_TEMPERATURE = 2.0


def dwa_weights(logs, names, temperature=DWA_TEMPERATURE):
    """Dynamic Weight Average (Liu et al., CVPR 2019): the heads' loss weights
    for the next epoch, from the last two epochs' losses of each head,
    ``K softmax(r / T)`` with ``r_k = L_k(t-1) / L_k(t-2)``: a head whose loss
    falls more slowly weighs more. Ones before two epochs have run."""
    if len(logs) < 2:
        return np.ones(len(names), np.float32)
    ratio = np.array([logs[-1][f"{n}_loss"] / max(logs[-2][f"{n}_loss"], 1e-12)
                      for n in names])
    z = np.exp((ratio - ratio.max()) / temperature)
    return (len(names) * z / z.sum()).astype(np.float32)


class _EarlyStop:
    """The estimators' early stopping on the validation loss: stop after
    ``patience`` epochs without a new best, and go back to the best weights."""

    def __init__(self, patience):
        self.patience = patience
        self.best, self.weights, self.waited = np.inf, None, 0

    def update(self, value, model):
        """Record an epoch's validation loss; True when training should stop."""
        if value < self.best:
            self.best, self.weights, self.waited = value, model.get_weights(), 0
            return False
        self.waited += 1
        return self.waited >= self.patience

    def restore(self, model):
        if self.weights is not None:  # None: no validation, or never a finite loss
            model.set_weights(self.weights)
