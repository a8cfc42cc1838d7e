"""Safe persistence: ``est.save(path)`` and ``mtestimator.load(path)``.

One file, a zip archive holding ``model.keras`` (the network in Keras's own
format, loaded with ``safe_mode=True``) and ``mtestimator.json`` (the
estimator's class, parameters and fitted state as plain JSON; heads and
trunks as class name + parameters). Loading executes no pickle and imports
nothing named by the file: every class it names must be registered here by
mtestimator itself (estimators, heads and trunks call :func:`register` when
their module is imported; this module imports none of them, so there is no
import cycle).

Saving is atomic: the archive is written to a temporary file beside the
target, flushed to disk, then renamed over it; on any failure (a full disk,
Ctrl-C) the temporary file is removed and a previous file at ``path`` is
left as it was.

Pickling (``pickle``/``joblib``) also works, but unpickling runs code chosen
by whoever wrote the file: never unpickle a file you do not trust; ``load``
is the safe path.
"""

import json
import os
import tempfile
import zipfile

import numpy as np

__all__ = ["load", "register", "save"]

_FORMAT = "mtestimator"
_VERSION = 2
_REGISTRY = {}
# fitted attributes held as objects, or rebuilt from the archive
_SKIPPED = {"model_", "heads_", "trunk_", "named_heads_"}
# private fitted state that predict needs
_PRIVATE = ("_seed", "_target_layout", "_target_frame_columns", "_X_dtype")


def register(cls):
    """Class decorator: ``cls`` may be named by a saved file."""
    _REGISTRY[cls.__name__] = cls
    return cls


def _encode(value):
    if hasattr(value, "get_params") and type(value).__name__ in _REGISTRY:
        return {"__estimator__": type(value).__name__,
                "params": _encode(value.get_params(deep=False))}
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
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{type(value).__name__} values cannot be saved")


def _decode(value):
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        if "__estimator__" in value:
            return _instance(value["__estimator__"], _decode(value["params"]))
        if "__callable__" in value:
            return None  # not saved: the loaded estimator predicts, refitting needs it
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _instance(name, params):
    if name not in _REGISTRY:
        raise ValueError(f"names an unknown class {name!r}; expected one of "
                         f"{sorted(_REGISTRY)}.")
    obj = _REGISTRY[name].__new__(_REGISTRY[name])
    vars(obj).update(params)  # as __init__ would: parameters only
    return obj


def _fitted(obj):
    return {k: v for k, v in vars(obj).items()
            if k.endswith("_") and not k.startswith("_") and k not in _SKIPPED}


def save(estimator, path):
    """Write a fitted estimator to ``path`` atomically (see the module docstring)."""
    import keras
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "model_")
    params = estimator.get_params(deep=False)
    if params.get("callbacks"):
        params["callbacks"] = None  # Keras callbacks are code, not data
    if isinstance(params.get("random_state"), np.random.RandomState):
        params["random_state"] = estimator._seed
    meta = {
        "format": _FORMAT, "version": _VERSION, "class": type(estimator).__name__,
        "params": _encode(params), "fitted": _encode(_fitted(estimator)),
        "private": _encode({k: getattr(estimator, k, None) for k in _PRIVATE}),
        "heads": [[name, _encode(head), _encode(_fitted(head))]
                  for name, head in estimator.heads_],
        "trunk": _encode(estimator.trunk_),
    }
    # the network without its compiled losses (some are not serialisable)
    config = keras.saving.serialize_keras_object(estimator.model_)
    config.pop("compile_config", None)
    network = keras.saving.deserialize_keras_object(config)
    network.set_weights(estimator.model_.get_weights())
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    fd, partial = tempfile.mkstemp(prefix=".mtestimator-", suffix=".tmp", dir=folder)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            model_path = os.path.join(tmp, "model.keras")
            network.save(model_path)
            with os.fdopen(fd, "wb") as raw, \
                    zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("mtestimator.json", json.dumps(meta))
                zf.write(model_path, "model.keras")
                zf.close()
                raw.flush()
                os.fsync(raw.fileno())
        os.replace(partial, target)
    except BaseException:
        try:
            os.unlink(partial)
        except OSError:
            pass
        raise


def load(path):
    """Read an estimator written by ``est.save(path)``, safely.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    estimator : MultiTaskEstimator, a preset or SeparateNetworks
        Fitted, predicting exactly as the saved one did.

    Raises
    ------
    ValueError
        If the file is not an mtestimator file, is damaged, or was written in
        another format version.

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn.datasets import make_multilabel_classification
    >>> from mtestimator import MultiLabelMLPClassifier, load
    >>> X, y = make_multilabel_classification(n_samples=50, random_state=0)
    >>> clf = MultiLabelMLPClassifier(epochs=2, random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "clf.mtest")
    >>> clf.save(path)
    >>> bool((load(path).predict_proba(X) == clf.predict_proba(X)).all())
    True
    """
    import keras

    from . import _networks  # noqa: F401  (registers the custom layers and losses)

    where = os.fspath(path)
    try:
        with zipfile.ZipFile(where) as zf:
            if not {"mtestimator.json", "model.keras"} <= set(zf.namelist()):
                raise ValueError(f"{where!r} is not an mtestimator file: it lacks "
                                 "mtestimator.json or model.keras.")
            meta = json.loads(zf.read("mtestimator.json"))
            model_bytes = zf.read("model.keras")
    except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where!r} is not an mtestimator file, or it is damaged: "
                         f"{exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError(f"{where!r} is not an mtestimator file.")
    if meta.get("version") == 1:
        raise ValueError(
            f"{where!r} was written by mtestimator 0.1 (file format 1); this version "
            f"reads format {_VERSION}. To re-save it: in an environment with "
            "mtestimator==0.1.0, load it and refit or keep it with that version; or fit "
            "the same estimator again with this version and call save()."
        )
    if meta.get("version") != _VERSION:
        raise ValueError(f"{where!r} has format version {meta.get('version')!r}; this "
                         f"mtestimator reads version {_VERSION}.")
    name = meta.get("class")
    if not isinstance(name, str) or not hasattr(_REGISTRY.get(name), "predict"):
        known = sorted(k for k, c in _REGISTRY.items() if hasattr(c, "predict"))
        raise ValueError(f"{where!r} names an unknown estimator {name!r}; "
                         f"expected one of {known}.")
    try:
        estimator = _REGISTRY[name](**_decode(meta["params"]))
        vars(estimator).update(_decode(meta["fitted"]))
        vars(estimator).update(_decode(meta["private"]))
        heads = []
        for head_name, spec, state in meta["heads"]:
            head = _decode(spec)
            vars(head).update(_decode(state))
            heads.append((head_name, head))
        estimator.heads_ = heads
        estimator.trunk_ = _decode(meta["trunk"])
    except (TypeError, KeyError, AttributeError, RecursionError, ValueError) as exc:
        raise ValueError(f"{where!r} is damaged: {exc}") from None
    with tempfile.TemporaryDirectory() as tmp:
        model_path = os.path.join(tmp, "model.keras")
        with open(model_path, "wb") as f:
            f.write(model_bytes)
        try:
            estimator.model_ = keras.saving.load_model(model_path, compile=False,
                                                       safe_mode=True)
        except Exception as exc:
            raise ValueError(f"{where!r}: its network could not be loaded: {exc}") from None
    return estimator
