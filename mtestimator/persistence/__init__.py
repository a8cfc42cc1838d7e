"""Safe persistence: ``est.save(path)`` and ``mtestimator.load(path)``.

One file, a zip archive holding ``mtestimator.json`` (the estimator's class,
parameters and fitted state as plain JSON; heads and trunks as class name +
parameters), the networks in Keras's own format, loaded with
``safe_mode=True``, and each network's optimizer state as NumPy arrays, read
without pickle (see :mod:`.archive`), so that ``partial_fit`` after
``load`` continues exactly as it would have on the saved estimator. Loading executes no pickle and
imports nothing named by the file: every class it names must be registered
by mtestimator itself (:mod:`.spec`), and the whole of ``mtestimator.json``
is checked against the declarations of those classes (:mod:`.schema`)
before anything is built: every fitted value against its declared type and
range, and against the rest of the file (classes and thresholds of the
estimator and its heads, y's layout, the heads and trunk its parameters
make). The networks must be those the heads and trunk build (layers,
sizes, outputs) and the optimizers' state that of their variables. Any
damage is a ``ValueError`` naming where in the file it is
(``params.heads[1]``), what was found and what was expected, and saying
that the file is damaged or hand-edited. A good file that cannot be read
because the temporary folder is full or not writable is an ``OSError``
saying so.

Saving is atomic (:mod:`.files`). A Pipeline or meta-estimator holding
estimators: ``mtestimator.save``/``mtestimator.load`` (:mod:`.objects`). Pickling (``pickle``/``joblib``) also
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
from .schema import CODE_PARAMETERS, Checker, known, named_class, network_keys
from .spec import REGISTRY, Damage, bad, declared, is_int, register, short
from ..engine import imports

__all__ = ["load", "register", "save", "writer"]

_FORMAT = "mtestimator"
_VERSION = 5
#: Earlier format versions this mtestimator still reads.
_READS = (2, 3, 4, 5)
#: How the file's damage is introduced in messages.
_DAMAGED = "is damaged or hand-edited"


def save(estimator, path):
    """Write a fitted estimator to ``path`` atomically (see the module docstring)."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "model_")
    target, folder = check_target(path)
    write_atomically(target, folder, writer(estimator))


def writer(estimator):
    """``write(binary file)``: writes the archive of a fitted ``estimator`` (the
    checks done, the networks copied, now)."""
    keras = imports.keras()
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "model_")
    changed = parts_changed(estimator)
    if changed:
        raise ValueError(f"Cannot save {type(estimator).__name__}: {changed} since it was "
                         "fitted (set_params), and a file must hold the parts its "
                         "networks were fitted with. Call fit, or set them back.")
    params = estimator.get_params(deep=False)
    for name in CODE_PARAMETERS:
        if params.get(name):
            params[name] = None  # Keras callbacks are code, not data
    if isinstance(params.get("random_state"), np.random.RandomState):
        params["random_state"] = estimator._seed
    trained = estimator._keras_networks()
    optimizers = {key: state for key, state in getattr(estimator, "_optimizer_state",
                                                       {}).items()
                  if state is not None and key in trained}
    meta = {
        "format": _FORMAT, "version": _VERSION, "class": type(estimator).__name__,
        "params": encode(params), "fitted": encode(fitted_state(estimator)),
        "private": encode({k: getattr(estimator, k, None)
                           for k in declared(type(estimator), "_private_state")}),
        "heads": [[name, encode(head), encode(fitted_state(head))]
                  for name, head in estimator.heads_],
        "trunk": encode(estimator.trunk_),
        "networks": list(trained),
        "optimizers": list(optimizers),
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
    return lambda raw: archive.write(raw, meta, networks, optimizers)


def parts_changed(estimator):
    """What of the heads and trunk the estimator's parameters make differs from
    the fitted ones (``heads_``, ``trunk_``), in words, or None: compared as a
    file writes them."""
    try:
        heads, trunk = estimator._make_heads(), estimator._make_trunk()
    except (ValueError, TypeError) as exc:
        return f"its parameters make no heads and trunk ({short(str(exc), 200)})"

    def written(part):  # as saved, then loaded (code placeholders: None)
        return encode(decode(encode(part)))

    def differ(what, a, b):  # only the parameters that differ, when both have params
        pa, pb = (x.get("params") if isinstance(x, dict) else None for x in (a, b))
        if isinstance(pa, dict) and isinstance(pb, dict) and a.keys() == b.keys() \
                and all(repr(a[k]) == repr(b[k]) for k in a if k != "params"):
            keys = sorted(k for k in pa.keys() | pb.keys()
                          if repr(pa.get(k)) != repr(pb.get(k)))  # repr: nan equals nan
            a, b = ({k: p.get(k) for k in keys} for p in (pa, pb))
        return (f"its parameters' {what}, {short(repr(a), 150)}, differs from the "
                f"fitted one, {short(repr(b), 150)}")

    made = [(name, written(head)) for name, head in heads]
    fitted = [(name, written(head)) for name, head in estimator.heads_]
    if [n for n, _ in made] != [n for n, _ in fitted]:
        return (f"the heads of its parameters, {[n for n, _ in made]}, differ from the "
                f"fitted heads {[n for n, _ in fitted]}")
    for (name, a), (_, b) in zip(made, fitted):
        if repr(a) != repr(b):
            return differ(f"head {name!r}", a, b)
    if repr(written(trunk)) != repr(written(estimator.trunk_)):
        return differ("trunk", written(trunk), written(estimator.trunk_))
    return None


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
                         f"mtestimator reads version {_VERSION} (and "
                         f"{', '.join(str(v) for v in _READS if v != _VERSION)}).")
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


def _temporary_folder(exc, where):
    """The OSError of a temporary folder that is full or not writable (``exc``)."""
    folder = tempfile.gettempdir()
    return OSError(exc.errno, f"Cannot load {where!r}: the temporary folder {folder!r}, where "
                              f"the networks are unpacked, is full or not writable "
                              f"({exc.strerror or exc}). The file itself is not at fault: "
                              "free space there, or set the environment variable TMPDIR "
                              "to a writable folder with free space.")


def _load_network(model_path, where, tmp, member):
    keras = imports.keras()

    damaged = f"The network inside {where!r} ({member}) is damaged"
    if os.path.getsize(model_path) == 0:
        raise ValueError(f"{damaged}: it is empty.")
    if not zipfile.is_zipfile(model_path):
        raise ValueError(f"{damaged}: it is not a Keras archive.")
    try:
        return keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as exc:
        if isinstance(exc, OSError) and exc.errno in archive.LOCAL_ERRNOS:
            raise  # the temporary folder's, not the file's
        detail = str(exc).replace(model_path, member).replace(tmp, "...")
        raise ValueError(f"{damaged} or unsafe: "
                         f"{short(f'{type(exc).__name__}: {detail}', 400)}") from None


def _output_names(model):
    outputs = model.output
    if isinstance(outputs, dict):
        return list(outputs)
    return list(model.output_names)


def _layers(model):
    """What a network's architecture is made of: each layer's class, activation
    and weight shapes, in order (names aside)."""
    found = []
    for layer in model.layers:
        activation = getattr(layer, "activation", None)
        found.append((type(layer).__name__,
                      getattr(activation, "__name__", None) if activation else None,
                      [tuple(w.shape) for w in layer.weights]))
    return found


def _reference(estimator, key):
    """The network ``key`` as the file's heads and trunk build it (its weights
    aside), or None where the trunk is code that is not saved (KerasTrunk)."""
    from ..engine.networks import add_uncertainty_weights, build_network

    if getattr(estimator.trunk_, "build_fn", False) is None:
        return None
    heads = estimator.heads_ if key == "model" else \
        [(n, h) for n, h in estimator.heads_ if n == key]
    outputs = [h.output_spec(estimator.trunk_) for _, h in heads]
    model = build_network(tuple(estimator.input_shape_), outputs, estimator.trunk_.build,
                          seed=0, input_dtype=estimator._X_dtype,
                          per_head=getattr(estimator.trunk_, "per_head", False))
    if key == "model" and estimator._uncertainty():
        model = add_uncertainty_weights(model)[0]
    return model


def _check_network(model, key, estimator, where):
    """The network ``key`` has the outputs of the heads (all of them for the one
    network "model", else head ``key``'s), takes samples of ``input_shape_``
    and has the layers the heads and trunk build."""
    heads, input_shape = estimator.heads_, estimator.input_shape_
    names = [name for name, _ in heads]
    own = names if key == "model" else [key]
    network = "the network" if key == "model" else archive.member(key)
    try:
        outputs = _output_names(model)
    except Exception:  # not a model with outputs (a bare layer)
        outputs = None
    if outputs is None or sorted(outputs) != sorted(own):
        raise ValueError(f"{where!r} {_DAMAGED}: {network}'s outputs "
                         f"{None if outputs is None else sorted(outputs)} do not "
                         f"match the heads in mtestimator.json; expected {own}.")
    if isinstance(model.output, dict):
        for name in own:
            head = dict(heads)[name]
            width = model.output[name].shape[-1]
            if width != head.output_units_:
                raise ValueError(f"{where!r} {_DAMAGED}: {network}'s output {name!r} has "
                                 f"{width} units; expected heads[{names.index(name)}]'s "
                                 f"output_units_ ({head.output_units_}).")
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) == 1:
        shape = tuple(inputs[0].shape[1:])
        if len(shape) != len(input_shape) or any(
                a is not None and a != b for a, b in zip(shape, input_shape)):
            raise ValueError(f"{where!r} {_DAMAGED}: {network} takes samples of shape "
                             f"{shape}; expected fitted.input_shape_ "
                             f"{tuple(input_shape)}.")
        dtype = str(getattr(inputs[0], "dtype", estimator._X_dtype))
        if dtype != estimator._X_dtype:
            raise ValueError(f"{where!r} {_DAMAGED}: {network} takes {dtype} samples; "
                             f"expected private._X_dtype ({estimator._X_dtype!r}).")
    reference = _reference(estimator, key)
    if reference is None:
        return
    got, wanted = _layers(model), _layers(reference)
    if got != wanted:
        i = next((i for i, (a, b) in enumerate(zip(got, wanted)) if a != b),
                 min(len(got), len(wanted)))
        found = got[i] if i < len(got) else "no layer"
        expected = wanted[i] if i < len(wanted) else "no layer"
        raise ValueError(f"{where!r} {_DAMAGED}: {network}'s layer {i} is "
                         f"{short(str(found), 200)}; expected {short(str(expected), 200)} "
                         "(class, activation, weight shapes), as the heads and trunk in "
                         "mtestimator.json build it.")


def _check_optimizer(state, model, estimator, key, where):
    """The saved optimizer state of network ``key``: the values of the
    variables of the optimizer it was fitted with, built on its weights."""
    from ..engine.optimizers import make_optimizer

    name = (getattr(estimator, "_fitted_with", None) or {}).get("optimizer",
                                                              estimator.optimizer)
    optimizer = make_optimizer(name, 0.001)
    optimizer.build(model.trainable_variables)
    wanted = [(tuple(v.shape), np.dtype(v.dtype).str) for v in optimizer.variables]
    got = [(tuple(a.shape), a.dtype.str) for a in state]
    if got != wanted:
        raise ValueError(f"{where!r} {_DAMAGED}: {archive.optimizer_member(key)} holds "
                         f"arrays of shapes and dtypes {short(str(got), 200)}; expected "
                         f"those of the {name} optimizer of {archive.member(key)}, "
                         f"{short(str(wanted), 200)}.")
    for i, array in enumerate(state):
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise ValueError(f"{where!r} {_DAMAGED}: {archive.optimizer_member(key)}'s "
                             f"array {i} holds non-finite values; expected finite ones.")


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
        Fitted, predicting exactly as the saved one did, and continuing
        ``partial_fit`` exactly as it would have (files of format 4).

    Raises
    ------
    ValueError
        If the file is not an mtestimator file, is damaged or hand-edited (the
        message says where, what was found and what was expected), or was
        written in another format version.
    OSError
        If the file cannot be read (it does not exist, no permission), or the
        temporary folder is full or not writable (the message names it, and
        TMPDIR).

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
        raise ValueError(f"{where!r} {_DAMAGED}: {str(exc).rstrip('.')}.") from None
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
    changed = parts_changed(estimator)
    if changed:
        raise ValueError(f"{where!r} {_DAMAGED}: {changed}; expected params to make the "
                         "heads and trunk of the file.")
    keys = network_keys(cls, [name for name, _ in heads])
    optimizer_keys = meta.get("optimizers", [])
    try:
        folder = tempfile.TemporaryDirectory()
    except OSError as exc:  # missing, not writable, full
        raise _temporary_folder(exc, where) from exc
    try:
        with folder as tmp:
            paths = archive.extract(where, keys, tmp, optimizer_keys)
            loaded = {key: _load_network(p, where, tmp, archive.member(key))
                      for key, p in paths.items()}
    except OSError as exc:
        if exc.errno in archive.LOCAL_ERRNOS:
            raise _temporary_folder(exc, where) from exc
        raise
    states = archive.read_optimizers(where, optimizer_keys)
    for key, model in loaded.items():
        _check_network(model, key, estimator, where)
        if key in states:
            _check_optimizer(states[key], model, estimator, key, where)
    estimator._set_keras_networks(loaded)
    estimator._optimizer_state = {key: states.get(key) for key in keys}
    return estimator
