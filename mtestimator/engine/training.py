"""The engine's entry: a network specification and data in, a trained network out.

Training and prediction behind one interface, whatever the Keras backend.

Two paths, the same batches in the same order for the same seed:

- the fast path: a backend :class:`Trainer` runs the training compiled, in
  chunks of epochs (see ``trainer.py``: progress, Ctrl-C and callbacks with
  epoch hooks between chunks). Trainers are cached by architecture (see
  ``cache.py``: bounded by memory), so a grid search or a repeated
  cross-validation traces once per architecture instead of once per fit;
  learning rate, loss weights, dropout rates, batch size and epochs are
  values of the compiled function, not part of the architecture.
- the general path (callbacks with per-batch hooks): Keras's own ``model.fit``.

Both paths take the optimizer's state in and give it back out (the values
of its variables, the same list on both paths: :class:`Trained`), so a
continued fit may switch paths and the optimizer carries on (Adam's
iteration count and moments); the network's compiled optimizer on the
general path is only where that state sits during the fit, loaded from
``start`` before each one, so a fit that failed leaves nothing behind.

The backend module (``backend_tensorflow`` or ``backend_jax``) is chosen
from ``keras.backend.backend()``; the estimators never see which.
"""

import copy
import warnings
from dataclasses import dataclass

import keras
import numpy as np

from . import learned_weights, networks, optimizers
from .cache import checkout
from .forward import dense_forward, extract_dense_layers
from .metrics import HeadMetric
from .networks import transferable_variables
from .trainer import batch_hook, needs_batch_hooks

__all__ = ["Diverged", "Trained", "backend_module", "build", "jit_compile", "predict", "train",
           "warn_slow_path"]

_PREDICT_CHUNK = 8192  # rows per eager Keras call
_DENSE_CHUNK = 65536  # rows per NumPy forward pass: bounded memory on large X


def backend_module():
    """The module implementing training for the current Keras backend."""
    name = keras.backend.backend()
    if name == "tensorflow":
        from . import backend_tensorflow as module
    elif name == "jax":
        from . import backend_jax as module
    else:
        raise RuntimeError(
            f"mtestimator supports the 'tensorflow' and 'jax' Keras backends; the "
            f"current backend is {name!r}. Set KERAS_BACKEND=tensorflow or jax."
        )
    return module


def jit_compile(model, X):
    """Keras's ``jit_compile`` for the general path: XLA where the fast path
    compiles ``model`` with XLA too (on TensorFlow, XLA draws other random
    numbers than TensorFlow's own kernels), else Keras's default."""
    if keras.backend.backend() != "tensorflow":
        return "auto"
    from .backend_tensorflow import uses_xla

    return uses_xla(model, X)


def build(spec):
    """A fresh network from ``spec`` (the backend set up first: on JAX, its
    persistent compilation cache, since building compiles too)."""
    backend_module()
    return networks.build(spec)


class Diverged(FloatingPointError):
    """Training diverged: the loss became ``value`` at ``epoch`` (from 1)."""

    def __init__(self, value, epoch):
        super().__init__(f"The loss became {value} at epoch {epoch}.")
        self.value, self.epoch = value, epoch


@dataclass
class Trained:
    """What a fit returns: the trained network, its optimizer's state (the
    values of the optimizer's variables, in Keras's order: iteration count,
    learning rate, then each weight's slots; the same list on both paths)
    and the per-epoch history."""

    model: object
    optimizer_state: object
    history: dict


def train(spec, X, Y, W, settings, *, validation=None, start=None):
    """Train the network of ``spec`` on ``X``; ``Y`` and ``W`` are dicts by
    output name (targets, per-row loss weights), ``validation`` is
    ``(X, Y, W)`` for early stopping, ``settings`` a
    :class:`~mtestimator.engine.spec.TrainSettings`, ``start`` an earlier
    :class:`Trained` to continue (its network is trained in place), else a
    new network is built.

    Callbacks with per-batch hooks train with Keras's own ``model.fit``;
    otherwise a cached compiled trainer runs (:mod:`~mtestimator.engine.trainer`).
    Raises :class:`Diverged` when a loss is not finite.
    """
    model = build(spec) if start is None else start.model
    batch_size = max(1, min(int(settings.batch_size), len(X)))
    seed = settings.seed + settings.first_epoch
    callbacks = [copy.deepcopy(cb) for cb in settings.callbacks]
    if any(needs_batch_hooks(cb) for cb in callbacks):
        if settings.balancing is not None or settings.gradient_method is not None:
            what = (f"Loss balancing {settings.balancing!r} re-weights the heads"
                    if settings.balancing is not None else
                    f"gradient_method={settings.gradient_method!r} combines the heads' gradients")
            raise ValueError(
                f"{what} in the compiled trainer, but a callback with per-batch hooks trains "
                "with Keras's own fit. Use epoch hooks (on_epoch_end) in the callbacks, or "
                "fixed loss weights and gradient_method=None.")
        history = _keras_fit(spec, model, X, Y, W, settings, batch_size, seed, validation,
                             callbacks, start=start)
        _check_finite(history["loss"])
        state = optimizers.optimizer_state(model.optimizer)
    else:
        with checkout(spec.key(), lambda: _new_trainer(spec, settings),
                      lambda trainer: _shapes(trainer.model) == _shapes(model)) as trainer:
            trainer.reset(model, settings.learning_rate, settings.loss_weights,
                          None if start is None else start.optimizer_state,
                          schedule=settings.schedule, epochs=settings.epochs)
            history = trainer.fit(X, Y, W, epochs=settings.epochs, batch_size=batch_size,
                                  seed=seed, validation=validation,
                                  patience=settings.patience, callbacks=callbacks,
                                  verbose=settings.verbose, description=settings.description,
                                  balancing=settings.balancing,
                                  gradient=settings.gradient_method,
                                  initial_losses=settings.initial_losses)
            _check_finite(history["loss"])
            for dst, src in zip(transferable_variables(model), trainer.variables()):
                dst.assign(src)
            state = optimizers.optimizer_state(trainer.optimizer)
    return Trained(model, state, {k: [float(v) for v in vals] for k, vals in history.items()})


def warn_slow_path(callbacks, owner):
    """A UserWarning naming the first of ``callbacks`` that sends training
    through Keras's own ``fit`` (the general path), and the hook that does."""
    for callback in callbacks or ():
        hook = batch_hook(callback)
        if hook is not None:
            warnings.warn(
                f"Callback {type(callback).__name__} implements {hook}, a per-batch or "
                f"evaluation hook: {owner} trains through Keras's own model.fit instead of "
                "its compiled training, often 10 to 50 times slower. To keep the fast "
                "path, do the work in on_epoch_end (epoch hooks run on the compiled path, "
                "after every epoch), or leave the callback out.", UserWarning, stacklevel=4)
            return


def _check_finite(losses):
    losses = np.asarray(losses, dtype=float)
    if not np.all(np.isfinite(losses)):
        bad = int(np.argmin(np.isfinite(losses)))
        raise Diverged(losses[bad], bad + 1)


def _shapes(model):
    return [tuple(v.shape) for v in transferable_variables(model)]


def _new_trainer(spec, settings):
    """A trainer for ``spec``'s architecture: its own network (dropout rates as
    variables), losses and optimizer."""
    model = networks.build(spec, variable_rates=True)
    return backend_module().Trainer(model, networks.losses(spec, model),
                                    optimizers.make_optimizer(spec.optimizer,
                                                            settings.learning_rate,
                                                            spec.weight_decay),
                                    [(o.name, o.metric, o.units) for o in spec.outputs
                                     if o.metric is not None])


def _keras_fit(spec, model, X, Y, W, settings, batch_size, seed, validation, callbacks, *,
               start):
    """Keras's own ``model.fit`` (callbacks with per-batch hooks), fed the same
    batches in the same order as the compiled trainer. A continued fit
    (``start``) compiles the network once and loads ``start``'s optimizer
    state (from either path) into its compiled optimizer, at today's
    learning rate."""
    compiled = start is not None and getattr(model, "compiled", False)
    if compiled:
        try:
            model.optimizer.learning_rate = settings.learning_rate
        except TypeError:  # compiled with a fit's schedule: compile again at a constant rate
            compiled = False
    if not compiled:
        losses = networks.losses(spec, model)
        model.compile(optimizer=optimizers.make_optimizer(
                          spec.optimizer, _keras_schedule(settings, -(-len(X) // batch_size)),
                          spec.weight_decay),
                      loss=losses,
                      loss_weights=None if spec.uncertainty else settings.loss_weights,
                      # learned weights: each head's own loss, as the compiled trainers
                      metrics=learned_weights.metrics(losses) if spec.uncertainty else None,
                      weighted_metrics={o.name: [HeadMetric(o.metric, o.units)]
                                        for o in spec.outputs if o.metric is not None},
                      jit_compile=jit_compile(model, X))
    if start is not None:
        optimizers.load_optimizer_state(model.optimizer, start.optimizer_state,
                                      model.trainable_variables)
        if settings.schedule is None:
            model.optimizer.learning_rate = settings.learning_rate
    learned = learned_weights.callbacks(networks.losses(spec, model)) if spec.uncertainty \
        else []
    callbacks = [*callbacks, *learned, keras.callbacks.TerminateOnNaN()]
    if validation is not None:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=settings.patience, restore_best_weights=True))
    history = backend_module().keras_fit(model, X, Y, W, epochs=settings.epochs,
                                         batch_size=batch_size, seed=seed,
                                         validation=validation, callbacks=callbacks,
                                         verbose=settings.verbose)
    return learned_weights.rename(history, list(Y)) if spec.uncertainty else history


def _keras_schedule(settings, steps):
    """The learning rate of Keras's own ``fit``: the rate, or Keras's
    ``CosineDecay`` for the schedule of ``settings`` (the compiled trainers'
    :func:`~mtestimator.engine.trainer.schedule_factor`)."""
    from .trainer import WARMUP_FRACTION

    if settings.schedule is None:
        return settings.learning_rate
    total = settings.epochs * steps
    warmup = int(WARMUP_FRACTION * total) if settings.schedule != "cosine" else 0
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else settings.learning_rate, max(total - warmup, 1),
        warmup_target=settings.learning_rate if warmup else None, warmup_steps=warmup)


def predict(model, X, dense_layers=None, names=None):
    """Raw outputs of ``model`` on ``X`` as a dict of arrays by head name.

    A Dense network runs in NumPy from ``dense_layers`` (see
    :func:`~mtestimator.engine.forward.extract_dense_layers`; ``None``: extract
    them now, ``False``: not a Dense network), computing only the heads in
    ``names`` (all when None), in chunks of rows to bound memory; any other
    network is called eagerly, in chunks.
    """
    if dense_layers is None:
        dense_layers = extract_dense_layers(model)
    if dense_layers:
        chunk = _DENSE_CHUNK
        if len(X) <= chunk:
            return dense_forward(dense_layers, X, names)
        parts = [dense_forward(dense_layers, X[i:i + chunk], names)
                 for i in range(0, len(X), chunk)]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    chunks = [model(X[i:i + _PREDICT_CHUNK], training=False)
              for i in range(0, max(len(X), 1), _PREDICT_CHUNK)]
    return {k: np.concatenate([np.asarray(c[k]) for c in chunks]) for k in chunks[0]}
