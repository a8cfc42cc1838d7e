"""The optimizers: built by name, and their state as NumPy arrays.

A fit hands its optimizer's state on (Adam's iteration count and moments),
to the next ``partial_fit`` on either training path and to a saved file.
"""

import keras
import numpy as np

__all__ = ["OPTIMIZERS", "load_optimizer_state", "make_optimizer", "optimizer_state"]

#: Optimizers by name; ``learning_rate`` is passed to each.
OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "nadam": keras.optimizers.Nadam,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
    "adagrad": keras.optimizers.Adagrad,
}


def make_optimizer(name, learning_rate, weight_decay=None):
    """An optimizer instance from its name in :data:`OPTIMIZERS`; ``weight_decay``
    (decoupled, as AdamW) when not None."""
    if weight_decay is None:
        return OPTIMIZERS[name](learning_rate=learning_rate)
    return OPTIMIZERS[name](learning_rate=learning_rate, weight_decay=weight_decay)


def optimizer_state(optimizer):
    """The values of ``optimizer``'s variables as NumPy copies, in Keras's
    order (iteration count, learning rate, then each weight's slots): the
    same list for any optimizer of one class built for one architecture.
    An optimizer compiled with a learning-rate schedule has no learning-rate
    variable; its current rate takes that place, so states from either kind
    line up."""
    values = [np.array(v.numpy()) for v in optimizer.variables]
    if not _has_rate_variable(optimizer):
        values.insert(1, np.array(float(optimizer.learning_rate), np.float32))
    return values


def _has_rate_variable(optimizer):
    return len(optimizer.variables) > 1 and optimizer.variables[1].name == "learning_rate"


def _zeros_like(var):
    return np.zeros(var.shape, var.dtype)


def load_optimizer_state(optimizer, state, variables=None, zeros_like=_zeros_like):
    """Give ``optimizer``'s variables the values of ``state`` (as
    :func:`optimizer_state` gives them), or ``zeros_like(variable)`` (a fresh
    optimizer) when ``state`` is None; built first for ``variables`` if it
    is not. An optimizer with a schedule keeps its schedule's rate."""
    if not optimizer.built:
        optimizer.build(variables)
    if state is None:
        values = map(zeros_like, optimizer.variables)
    elif _has_rate_variable(optimizer):
        values = state
    else:
        values = [state[0], *state[2:]]
    for var, value in zip(optimizer.variables, values):
        var.assign(value)
