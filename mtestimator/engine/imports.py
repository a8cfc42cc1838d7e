"""The engine's first import of Keras and its backend, global random state kept.

Importing TensorFlow draws from NumPy's and Python's global generators, and
importing Keras on JAX from Python's (measured with TensorFlow 2.20, JAX
0.10, Keras 3.15): a user's ``np.random.seed(0)`` followed by a first fit
would draw other numbers afterwards than without the fit. The estimators
import the engine through :func:`training`, which saves both generators'
states before the first import and puts them back after it (a thread
drawing from them meanwhile, during that one import, sees its draws again).
"""

import random
import sys

import numpy as np

__all__ = ["keras", "training"]

_imported = False


def training():
    """The module :mod:`mtestimator.engine.training`, with Keras and the
    backend's module imported; ``random`` and ``np.random`` as they were."""
    global _imported
    if _imported:
        return sys.modules["mtestimator.engine.training"]
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        from . import training as module

        module.backend_module()
        _imported = True
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    return module


def keras():
    """The module :mod:`keras`, first imported through :func:`training` (global
    random state as it was): what every module outside the engine imports."""
    training()
    return sys.modules["keras"]
