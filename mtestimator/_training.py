"""Training and prediction behind one interface, whatever the Keras backend.

Two paths, the same batches in the same order for the same seed:

- the fast path: a backend :class:`Trainer` runs the training compiled, in
  chunks of epochs (see ``_trainer.py``: progress, Ctrl-C and callbacks with
  epoch hooks between chunks). Trainers are cached by architecture (see
  ``_cache.py``: bounded by memory), so a grid search or a repeated
  cross-validation traces once per architecture instead of once per fit;
  learning rate, loss weights, dropout rates, batch size and epochs are
  values of the compiled function, not part of the architecture.
- the general path (callbacks with per-batch hooks): Keras's own ``model.fit``.

The backend module (``_backend_tensorflow`` or ``_backend_jax``) is chosen
from ``keras.backend.backend()``; the estimators never see which.
"""

import secrets

import keras
import numpy as np

from ._cache import checkout, clear_cache
from ._forward import dense_forward, extract_dense_layers
from ._networks import transferable_variables

__all__ = ["backend_module", "clear_cache", "fit_general", "fit_fast", "fresh_seed",
           "jit_compile", "predict_network"]

_PREDICT_CHUNK = 8192  # rows per eager Keras call
_DENSE_CHUNK = 65536  # rows per NumPy forward pass: bounded memory on large X


def backend_module():
    """The module implementing training for the current Keras backend."""
    name = keras.backend.backend()
    if name == "tensorflow":
        from . import _backend_tensorflow as module
    elif name == "jax":
        from . import _backend_jax as module
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
    from ._backend_tensorflow import uses_xla

    return uses_xla(model, X)


def fresh_seed():
    """A new seed from the operating system, touching no global RNG state."""
    return secrets.randbits(31)


def _shapes(model):
    return [tuple(v.shape) for v in transferable_variables(model)]


def _trainer(key, factory, model):
    """A cached trainer for ``key`` (see :mod:`~mtestimator._cache`), or a new
    one from ``factory`` (e.g. a KerasTrunk whose function now builds another
    network gets a new one)."""
    return checkout(key, lambda: factory(backend_module().Trainer),
                    lambda trainer: _shapes(trainer.model) == _shapes(model))


def fit_fast(model, key, factory, X, Y, W, *, epochs, batch_size, learning_rate, seed,
             loss_weights=None, validation=None, patience=None, optimizer_state=None,
             callbacks=(), verbose=0, description=None):
    """Train ``model`` in place with a cached compiled trainer.

    ``factory(Trainer)`` builds a trainer for ``key`` when none is cached:
    a network of the same architecture as ``model`` (dropout rates as
    variables), its losses and optimizer. ``Y`` and ``W`` are dicts by head
    name (targets, per-row loss weights); ``loss_weights`` a dict of each
    head's weight in the total loss (``None``: all 1). ``optimizer_state``
    (from an earlier call) continues the optimizer; ``None`` starts a fresh
    one. ``callbacks`` (epoch hooks only) and ``verbose``: see
    :meth:`~mtestimator._trainer.BaseTrainer.fit`. ``model`` is only written
    once training succeeded.

    Returns
    -------
    history : dict of list of float
    optimizer_state : list of ndarray
    """
    with _trainer(key, factory, model) as trainer:
        trainer.reset(model, learning_rate, loss_weights, optimizer_state)
        history = trainer.fit(X, Y, W, epochs=epochs, batch_size=batch_size, seed=seed,
                              validation=validation, patience=patience, callbacks=callbacks,
                              verbose=verbose, description=description)
        for dst, src in zip(transferable_variables(model), trainer.variables()):
            dst.assign(src)
        state = [np.array(v.numpy()) for v in trainer.optimizer.variables]
    return history, state


def fit_general(model, X, Y, W, **kwargs):
    """Train a compiled ``model`` with Keras's ``model.fit`` (any callbacks)."""
    return backend_module().keras_fit(model, X, Y, W, **kwargs)


def predict_network(model, X, dense_layers=None, names=None):
    """Raw outputs of ``model`` on ``X`` as a dict of arrays by head name.

    A Dense network runs in NumPy from ``dense_layers`` (see
    :func:`~mtestimator._forward.extract_dense_layers`; ``None``: extract
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
