"""Safe persistence: ``est.save(path)`` and ``mtestimator.load(path)``.

One file, a zip archive holding ``mtestimator.json`` (the estimator's class,
parameters and fitted state as plain JSON; heads and trunks as class name +
parameters) and the networks in Keras's own format, loaded with
``safe_mode=True`` (see :mod:`.archive`). Loading executes no pickle and
imports nothing named by the file: every class it names must be registered
by mtestimator itself (:mod:`.spec`), and the whole of ``mtestimator.json``
is checked against the declarations of those classes (:mod:`.schema`)
before anything is built. The networks' outputs must be the heads of the
file. Any damage is a ``ValueError`` naming where in the file it is
(``params.heads[1]``), what was found and what was expected.

Saving is atomic (:mod:`.files`). Pickling (``pickle``/``joblib``) also
works, but unpickling runs code chosen by whoever wrote the file: never
unpickle a file you do not trust; ``load`` is the safe path.
"""

import os
import tempfile
import zipfile

import numpy as np

from . import archive
from .codec import decode, encode, fitted_state
from .files import check_target, write_atomically
from .schema import Checker, known, named_class, network_keys
from .spec import REGISTRY, Damage, bad, declared, is_int, register, short

__all__ = ["load", "register", "save"]

_FORMAT = "mtestimator"
_VERSION = 3
#: Earlier format versions this mtestimator still reads.
_READS = (2, 3)


def save(estimator, path):
    """Write a fitted estimator to ``path`` atomically (see the module docstring)."""
    import keras
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "model_")
    target, folder = check_target(path)
    params = estimator.get_params(deep=False)
    if params.get("callbacks"):
        params["callbacks"] = None  # Keras callbacks are code, not data
    if isinstance(params.get("random_state"), np.random.RandomState):
        params["random_state"] = estimator._seed
    trained = estimator._keras_networks()
    meta = {
        "format": _FORMAT, "version": _VERSION, "class": type(estimator).__name__,
        "params": encode(params), "fitted": encode(fitted_state(estimator)),
        "private": encode({k: getattr(estimator, k, None)
                           for k in declared(type(estimator), "_private_state")}),
        "heads": [[name, encode(head), encode(fitted_state(head))]
                  for name, head in estimator.heads_],
        "trunk": encode(estimator.trunk_),
        "networks": list(trained),
    }
    trunk_state = fitted_state(estimator.trunk_)
    if trunk_state:  # a trunk that learns from X (TabularTrunk's preprocessing)
        meta["trunk_fitted"] = encode(trunk_state)
    networks = {}
    for key, model in trained.items():
        # the network without its compiled losses (some are not serialisable)
        config = keras.saving.serialize_keras_object(model)
        config.pop("compile_config", None)
        networks[key] = keras.saving.deserialize_keras_object(config)
        networks[key].set_weights(model.get_weights())
    write_atomically(target, folder, lambda raw: archive.write(raw, meta, networks))


def _check_header(meta, where):
    """Format, version and class: what says whether this is a file to read at all."""
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError(f"{where!r} is not an mtestimator file.")
    version = meta.get("version")
    if "version" not in meta or not is_int(version):
        raise ValueError(f"{where!r} is damaged: "
                         + ("its key 'version' is missing" if "version" not in meta
                            else str(bad("version", version, "an integer")))
                         + f"; this mtestimator reads version {_VERSION}.")
    if version == 1:
        raise ValueError(
            f"{where!r} was written by mtestimator 0.1 (file format 1); this version "
            f"reads format {_VERSION}. To re-save it: in an environment with "
            "mtestimator==0.1.0, load it and refit or keep it with that version; or fit "
            "the same estimator again with this version and call save()."
        )
    if version not in _READS:
        raise ValueError(f"{where!r} has format version {version!r}; this "
                         f"mtestimator reads version {_VERSION} (and 2).")
    known_ = known("estimator")
    if "class" not in meta:
        raise ValueError(f"{where!r} is damaged: its key 'class' is missing; expected "
                         f"the name of an estimator class, one of {known_}.")
    name = meta["class"]
    if not isinstance(name, str):
        expected = f"the name of an estimator class, one of {known_}"
        raise ValueError(f"{where!r} is damaged: {bad('class', name, expected)}.")
    if name not in REGISTRY:
        raise ValueError(f"{where!r} names an unknown estimator {short(repr(name))}; "
                         f"expected one of {known_}.")
    try:
        named_class(name, "class", "estimator")
    except Damage as exc:
        raise ValueError(f"{where!r} is damaged: {str(exc).rstrip('.')}.") from None


def _load_network(model_path, where, tmp, member):
    import keras

    damaged = f"The network inside {where!r} ({member}) is damaged"
    if os.path.getsize(model_path) == 0:
        raise ValueError(f"{damaged}: it is empty.")
    if not zipfile.is_zipfile(model_path):
        raise ValueError(f"{damaged}: it is not a Keras archive.")
    try:
        return keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as exc:
        detail = str(exc).replace(model_path, member).replace(tmp, "...")
        raise ValueError(f"{damaged} or unsafe: "
                         f"{short(f'{type(exc).__name__}: {detail}', 400)}") from None


def _output_names(model):
    outputs = model.output
    if isinstance(outputs, dict):
        return list(outputs)
    return list(model.output_names)


def _check_network(model, key, heads, input_shape, where):
    """The network ``key`` has the outputs of ``heads`` (all of them for the one
    network "model", else head ``key``'s) and takes samples of ``input_shape``."""
    names = [name for name, _ in heads]
    own = names if key == "model" else [key]
    network = "the network" if key == "model" else archive.member(key)
    try:
        outputs = _output_names(model)
    except Exception:  # not a model with outputs (a bare layer)
        outputs = None
    if outputs is None or sorted(outputs) != sorted(own):
        raise ValueError(f"{where!r} is damaged: {network}'s outputs "
                         f"{None if outputs is None else sorted(outputs)} do not "
                         f"match the heads in mtestimator.json; expected {own}.")
    if isinstance(model.output, dict):
        for name in own:
            head = dict(heads)[name]
            width = model.output[name].shape[-1]
            if width != head.output_units_:
                raise ValueError(f"{where!r} is damaged: {network}'s output {name!r} has "
                                 f"{width} units; expected heads[{names.index(name)}]'s "
                                 f"output_units_ ({head.output_units_}).")
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) == 1:
        shape = tuple(inputs[0].shape[1:])
        if len(shape) != len(input_shape) or any(
                a is not None and a != b for a, b in zip(shape, input_shape)):
            raise ValueError(f"{where!r} is damaged: {network} takes samples of shape "
                             f"{shape}; expected fitted.input_shape_ "
                             f"{tuple(input_shape)}.")


def load(path):
    """Read an estimator written by ``est.save(path)``, safely.

    Everything in the file is checked before it is used (see the module
    docstring); nothing in it is executed or imported, and the networks are
    loaded by Keras with ``safe_mode=True``.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    estimator : MultiTaskEstimator, SeparateNetworks or a preset
        Fitted, predicting exactly as the saved one did.

    Raises
    ------
    ValueError
        If the file is not an mtestimator file, is damaged (the message says
        where, what was found and what was expected), or was written in
        another format version.
    OSError
        If the file cannot be read (it does not exist, no permission).

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
    from ..engine import networks  # noqa: F401  (registers the custom layers and losses)

    where = os.fspath(path)
    meta = archive.read_json(where)
    _check_header(meta, where)
    try:
        Checker().check(meta)
    except Damage as exc:
        raise ValueError(f"{where!r} is damaged: {str(exc).rstrip('.')}.") from None
    # everything checked: build the estimator
    cls = REGISTRY[meta["class"]]
    estimator = cls(**decode(meta["params"]))
    vars(estimator).update(decode(meta["fitted"]))
    vars(estimator).update(decode(meta["private"]))
    heads = []
    for head_name, spec, state in meta["heads"]:
        head = decode(spec)
        vars(head).update(decode(state))
        heads.append((head_name, head))
    estimator.heads_ = heads
    estimator.trunk_ = decode(meta["trunk"])
    vars(estimator.trunk_).update(decode(meta.get("trunk_fitted", {})))
    keys = network_keys(cls, [name for name, _ in heads])
    with tempfile.TemporaryDirectory() as tmp:
        paths = archive.extract(where, keys, tmp)
        loaded = {key: _load_network(p, where, tmp, archive.member(key))
                  for key, p in paths.items()}
    for key, model in loaded.items():
        _check_network(model, key, heads, estimator.input_shape_, where)
    estimator._set_keras_networks(loaded)
    return estimator
