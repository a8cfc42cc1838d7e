"""Safe persistence: ``est.save(path)`` and ``mtestimator.load(path)``.

One file, a zip archive holding ``model.keras`` (the network in Keras's own
format, loaded with ``safe_mode=True``) and ``mtestimator.json`` (the
estimator's class, parameters and fitted attributes as plain JSON). Loading
executes no pickle and imports nothing named by the file: the class must be
one of mtestimator's estimators.

Pickling (``pickle``/``joblib``) also works, but unpickling runs code chosen
by whoever wrote the file: never unpickle a file you do not trust; ``load``
is the safe path.
"""

import json
import os
import tempfile
import zipfile

import keras
import numpy as np

__all__ = ["load", "save"]

_FORMAT = "mtestimator"
_VERSION = 1
_SKIPPED = {"model_", "target_encoder_", "feature_encoder_"}


def _encode(value):
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
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _estimator_classes():
    from ._joint import JointRegressorClassifier
    from ._multilabel import MultiLabelMLPClassifier

    return {c.__name__: c for c in (JointRegressorClassifier, MultiLabelMLPClassifier)}


def save(estimator, path):
    """Write a fitted estimator to ``path`` (see the module docstring)."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "model_")
    params = estimator.get_params(deep=False)
    if params.get("callbacks"):
        params["callbacks"] = None  # Keras callbacks are code, not data
    if isinstance(params.get("random_state"), np.random.RandomState):
        params["random_state"] = estimator._seed
    fitted = {k: v for k, v in vars(estimator).items()
              if k.endswith("_") and not k.startswith("_") and k not in _SKIPPED}
    heads = [{k: v for k, v in vars(h).items() if k.endswith("_")}
             for h in estimator.target_encoder_.heads]
    meta = {"format": _FORMAT, "version": _VERSION, "class": type(estimator).__name__,
            "params": _encode(params), "fitted": _encode(fitted), "heads": _encode(heads),
            "seed": estimator._seed}
    # the network without its compiled losses (some are not serialisable)
    config = keras.saving.serialize_keras_object(estimator.model_)
    config.pop("compile_config", None)
    network = keras.saving.deserialize_keras_object(config)
    network.set_weights(estimator.model_.get_weights())
    with tempfile.TemporaryDirectory() as tmp:
        model_path = os.path.join(tmp, "model.keras")
        network.save(model_path)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("mtestimator.json", json.dumps(meta))
            zf.write(model_path, "model.keras")


def load(path):
    """Read an estimator written by ``est.save(path)``, safely.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    estimator : JointRegressorClassifier or MultiLabelMLPClassifier
        Fitted, predicting exactly as the saved one did.

    Raises
    ------
    ValueError
        If the file is not an mtestimator file, or is damaged.

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
    if meta.get("version") != _VERSION:
        raise ValueError(f"{where!r} has format version {meta.get('version')!r}; this "
                         f"mtestimator reads version {_VERSION}.")
    classes = _estimator_classes()
    if meta.get("class") not in classes:
        raise ValueError(f"{where!r} names an unknown estimator {meta.get('class')!r}; "
                         f"expected one of {sorted(classes)}.")
    estimator = classes[meta["class"]](**_decode(meta["params"]))
    vars(estimator).update(_decode(meta["fitted"]))
    estimator._seed = meta.get("seed")
    encoder = estimator.target_encoder
    for head, state in zip(encoder.heads, _decode(meta["heads"])):
        vars(head).update(state)
    estimator.target_encoder_ = encoder
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
