"""The training loop and batched prediction (TensorFlow input pipeline).

Kept apart from the estimators so that a faster, backend-specific loop can
replace it behind the same two functions.

Shuffling uses a seeded ``tf.data`` pipeline: a different order every epoch,
the same orders for the same seed, and no global random state read or set.
One ``model.fit`` call runs a whole epoch per execution step
(``steps_per_execution``), which removes most of Keras's per-batch overhead.
"""

import math

import numpy as np
import tensorflow as tf

__all__ = ["fit_network", "predict_network"]

_PREDICT_CHUNK = 8192


def _dataset(arrays, n, batch_size, seed):
    ds = tf.data.Dataset.from_tensor_slices(arrays).cache()
    ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).repeat()


def fit_network(model, X, y, sample_weight=None, *, epochs, batch_size, seed=None,
                validation_data=None, callbacks=(), verbose=0, initial_epoch=0):
    """Train ``model`` with mini-batches reshuffled every epoch.

    Parameters
    ----------
    model : compiled keras.Model
    X : ndarray of shape (n_samples, n_features), float32
    y : dict of ndarray
        One encoded target per output name.
    sample_weight : ndarray of shape (n_samples,) or None
    epochs, batch_size : int
    seed : int or None
        Seeds the shuffling. ``None`` is a fresh order every call.
    validation_data : tuple or None
        ``(X_val, y_val)`` evaluated at the end of every epoch.
    callbacks : sequence of keras.callbacks.Callback
    verbose : int
    initial_epoch : int

    Returns
    -------
    history : dict of list of float
    """
    n = len(X)
    batch_size = max(1, min(int(batch_size), n))
    steps = math.ceil(n / batch_size)
    arrays = (X, y) if sample_weight is None else (X, y, sample_weight.astype(np.float32))
    if getattr(model, "steps_per_execution", 1) != steps:
        model.steps_per_execution = steps
        model.train_function = None
    history = model.fit(
        _dataset(arrays, n, batch_size, seed),
        epochs=initial_epoch + epochs,
        initial_epoch=initial_epoch,
        steps_per_epoch=steps,
        validation_data=validation_data,
        callbacks=list(callbacks),
        verbose=verbose,
        shuffle=False,
    )
    return history.history


def predict_network(model, X):
    """Raw outputs of ``model`` on ``X`` as a dict of float arrays.

    Calls the model eagerly, in chunks to bound memory: for the small dense
    networks here that costs well under a millisecond per call, where
    ``model.predict`` costs tens of milliseconds and ``predict_on_batch``
    traces a new function for every fitted model.
    """
    chunks = [model(X[i:i + _PREDICT_CHUNK], training=False)
              for i in range(0, max(len(X), 1), _PREDICT_CHUNK)]
    return {k: np.concatenate([np.asarray(c[k]) for c in chunks]) for k in chunks[0]}
