"""The scikeras estimators of SeparateNetworks' per-head networks (``estimators_``).

Each head's network is trained by the engine, like MultiTaskEstimator's
(scikeras's own ``fit`` would shuffle with the global random state), then
handed to scikeras's public API: ``KerasRegressor(model=network)`` for a
regression head, ``KerasClassifier(model=network)`` otherwise, set up
without training by ``initialize``. Their target encoder (scikeras's
documented ``target_encoder`` extension point) passes targets and raw
network outputs through unchanged: the head decodes them.

scikeras is imported on first use, never by ``import mtestimator``:
importing it patches ``keras.Model.__reduce__`` (and those of losses,
metrics and optimizers) for the whole process, which is how its
estimators pickle.
"""

import threading
from collections import defaultdict

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

__all__ = ["set_history", "wrap"]

_CLASSES = {}
_LOCK = threading.Lock()


class _EncodedTargets(TransformerMixin, BaseEstimator):
    """Targets arrive encoded by the head and go to Keras unchanged; the
    network's raw output comes back unchanged (the head decodes it)."""

    def fit(self, y):
        self.n_outputs_expected_ = 1
        return self

    def transform(self, y):
        return y

    def inverse_transform(self, y, return_proba=False):
        if isinstance(y, dict):  # the network's {head name: output}
            (y,) = y.values()
        return np.asarray(y)

    def get_metadata(self):
        return {"n_outputs_expected_": 1}


def _classes():
    """``{"HeadRegressor": ..., "HeadClassifier": ...}``, made once, on first use
    (one class object per process: pickle checks the identity)."""
    with _LOCK:
        if not _CLASSES:
            from scikeras.wrappers import KerasClassifier, KerasRegressor

            from .engine import networks  # noqa: F401  (registers the custom losses)

            for name, base in (("HeadRegressor", KerasRegressor),
                               ("HeadClassifier", KerasClassifier)):
                _CLASSES[name] = type(name, (base,), {
                    "__module__": __name__, "__qualname__": name,
                    "target_encoder": property(lambda self: _EncodedTargets()),
                    "__doc__": f"scikeras's {base.__name__} around one head's trained "
                               "network: raw outputs in and out (SeparateNetworks)."})
    return _CLASSES


def __getattr__(name):
    # pickle finds the classes here without importing scikeras with the module
    if name in ("HeadRegressor", "HeadClassifier"):
        return _classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def wrap(head, network):
    """A fitted scikeras estimator around ``network``, the trained network of
    ``head`` (a KerasRegressor for a regression head, else a KerasClassifier)."""
    cls = _classes()["HeadRegressor" if head.kind == "regressor" else "HeadClassifier"]
    (output,) = network.outputs
    X = np.zeros((1, *network.inputs[0].shape[1:]), np.float32)
    y = np.zeros((1, *output.shape[1:]), np.float32)
    return cls(model=network).initialize(X, y)


def set_history(wrapper, history, name):
    """``wrapper.history_``: the ``loss`` (and ``val_loss``) of head ``name``'s
    network, from the estimator's ``history_``."""
    wrapper.history_ = defaultdict(list, {"loss": list(history[f"{name}_loss"])})
    if f"val_{name}_loss" in history:
        wrapper.history_["val_loss"] = list(history[f"val_{name}_loss"])
