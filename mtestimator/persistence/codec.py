"""Plain JSON for the values of a saved estimator: arrays, tuples, registered estimators.

``encode`` turns parameters and fitted state into JSON-able values
(``{"__ndarray__": ..., "dtype": ...}``, ``{"__tuple__": [...]}``,
``{"__estimator__": name, "params": {...}}``, ``{"__callable__": name}`` for
code, which is never saved); ``decode`` turns values that :mod:`.schema`
has checked back, building only classes of the registry.
"""

import numpy as np

from .spec import REGISTRY, Rebuilt, declared

__all__ = ["decode", "encode", "fitted_state"]


def encode(value):
    if hasattr(value, "get_params") and type(value).__name__ in REGISTRY:
        return {"__estimator__": type(value).__name__,
                "params": encode(value.get_params(deep=False))}
    if callable(value):  # e.g. a KerasTrunk's build_fn: code, not data
        return {"__callable__": getattr(value, "__qualname__", repr(value))}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            value = np.asarray(value.tolist())
            if value.dtype == object:
                raise TypeError("arrays of mixed Python objects cannot be saved")
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{type(value).__name__} values cannot be saved")


def rebuilt(cls):
    """The fitted attributes of ``cls`` that a file rebuilds instead of holding."""
    return {name for name, d in declared(cls, "_fitted_state").items()
            if isinstance(d, Rebuilt)}


def fitted_state(obj):
    """``obj``'s public fitted attributes (``name_``), less those a file rebuilds."""
    skipped = rebuilt(type(obj))
    return {k: v for k, v in vars(obj).items()
            if k.endswith("_") and not k.startswith("_") and k not in skipped}


def decode(value):
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
        if "__tuple__" in value:
            return tuple(decode(v) for v in value["__tuple__"])
        if "__estimator__" in value:
            return REGISTRY[value["__estimator__"]](**decode(value["params"]))
        if "__callable__" in value:
            return None  # not saved: the loaded estimator predicts, refitting needs it
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value
