"""``mtestimator.save``/``load``: one file for any object holding mtestimator's estimators.

A Pipeline, a ColumnTransformer, a search's ``best_estimator_``, a
StackingRegressor...: skops (``skops.io``, no pickle) writes the object
tree, and each of mtestimator's estimators in it stands as a placeholder
``{"mtestimator": member}`` whose member of the same zip archive is the
estimator's own file (``mtestimator/<i>.mtest``, the format of
:mod:`mtestimator.persistence`, checked as thoroughly when read) or, for an
unfitted estimator, its class and parameters (``mtestimator/<i>.json``).
``mtestimator/objects.json`` lists those members. The placeholder is what
the estimators' ``__getstate__`` returns while :func:`save` runs, and
``__setstate__`` takes the estimator read from the member while
:func:`load` runs (skops's documented way of persisting a custom type).

Loading builds only types skops trusts (scikit-learn's, NumPy's), the
estimator classes of mtestimator, and the types passed in ``trusted``:
any other type in the file is refused, the message listing them.
One of mtestimator's estimators alone is written as ``est.save(path)``
writes it, and files of every earlier format still load.
"""

import contextvars
import io
import json
import os
import shutil
import tempfile
import zipfile

from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from . import load as load_estimator
from . import save as save_estimator
from . import writer
from .archive import LOCAL_ERRNOS
from .codec import decode, encode
from .files import check_target, write_atomically
from .schema import CODE_PARAMETERS, Checker, named_class
from .spec import REGISTRY, Damage, short

__all__ = ["load", "placeholder", "restore", "save"]

_INDEX = "mtestimator/objects.json"
_FORMAT = "mtestimator-objects"
_VERSION = 1
_KEY = "mtestimator"
_DAMAGED = "is damaged or hand-edited"
#: The estimators being saved (while save runs): {id: (member, data, estimator)}.
_SAVING = contextvars.ContextVar("mtestimator_saving", default=None)
#: The estimators read from the file's members (while load runs): {member: estimator}.
_LOADING = contextvars.ContextVar("mtestimator_loading", default=None)


def _ours(obj):
    return type(obj).__name__ in REGISTRY and getattr(type(obj), "_persisted_as",
                                                      None) == "estimator"


#: Containers of fitted parts trusted too: skops sets their attributes from the file
#: (no code runs), and every object they hold is checked on its own. mtestimator's
#: conformal parts, and the node arrays of scikit-learn's HistGradientBoosting (the
#: spread models of ConformalMultiTask(scale="mad")), which skops does not list.
_CONTAINERS = ("mtestimator._conformal_folds._Fold", "mtestimator._conformal_folds._Spread",
               "mtestimator.conformal.ConformalMultiTask",
               "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor")


def _type_names():
    """The skops names of mtestimator's estimator classes (trusted: they load
    only from their placeholders) and of its containers."""
    return sorted([f"{c.__module__}.{c.__qualname__}" for c in REGISTRY.values()
                   if getattr(c, "_persisted_as", None) == "estimator"] + list(_CONTAINERS))


# -- the placeholders (called by the estimators' __getstate__ / __setstate__) -----------


def placeholder(estimator):
    """The state that stands for ``estimator`` while :func:`save` runs, else None."""
    members = _SAVING.get()
    if members is None:
        return None
    if id(estimator) not in members:  # skops asks twice (__reduce__, then __getstate__)
        try:
            members[id(estimator)] = _member(estimator, len(members))
        except Exception as exc:  # ours (not skops's): passed on as it is
            raise _Failed(exc) from exc
    return {_KEY: members[id(estimator)][0]}


class _Failed(Exception):
    """An estimator of the tree that cannot be saved (the error: ``args[0]``)."""


def _member(estimator, i):
    """``(member, content, estimator)``: a fitted estimator's archive (its writer),
    or an unfitted one's class and parameters (JSON bytes)."""
    try:
        check_is_fitted(estimator, "model_")
    except NotFittedError:
        params = estimator.get_params(deep=False)
        for name in CODE_PARAMETERS:
            params[name] = None if params.get(name) else params.get(name)
        text = json.dumps({"class": type(estimator).__name__, "params": encode(params)})
        return f"mtestimator/{i}.json", text.encode(), estimator
    return f"mtestimator/{i}.mtest", writer(estimator), estimator


def restore(estimator, state):
    """Whether ``state`` is a placeholder; if so, ``estimator`` becomes the one
    :func:`load` read from its member. While :func:`load` runs, any other state
    is damage: an estimator is never built from state the file gives directly."""
    loaded = _LOADING.get()
    if not (isinstance(state, dict) and set(state) == {_KEY}):
        if loaded is not None:
            raise Damage(f"a {type(estimator).__name__} stands with the state "
                         f"{short(repr(state), 100)}; expected a placeholder "
                         f"{{'{_KEY}': member}}")
        return False
    if loaded is None:
        raise ValueError("This estimator stands in a file written by mtestimator.save; "
                         "read the file with mtestimator.load(path, trusted=...).")
    member = state[_KEY]
    found = loaded.get(member) if isinstance(member, str) else None
    if found is None or type(found) is not type(estimator):
        raise Damage(f"the {type(estimator).__name__} placeholder names the member "
                     f"{short(repr(member))}; expected one of the members "
                     f"{sorted(loaded)} holding a {type(estimator).__name__}")
    vars(estimator).update(vars(found))
    return True


# -- save -------------------------------------------------------------------------------


def save(obj, path):
    """Write ``obj`` to one file at ``path``, atomically; no pickle.

    Parameters
    ----------
    obj : estimator or object holding estimators
        One of mtestimator's estimators (fitted), or any scikit-learn
        Pipeline, ColumnTransformer or meta-estimator (and what skops can
        write) holding them, fitted or not.
    path : str or path-like

    Raises
    ------
    TypeError
        When ``obj`` holds something skops cannot write, or a lambda or local
        function (in a FunctionTransformer) that no file can bring back:
        the message names it.
    """
    if _ours(obj):
        save_estimator(obj, path)
        return
    import skops.io

    target, folder = check_target(path)
    members = {}
    token = _SAVING.set(members)
    try:
        data = skops.io.dumps(obj, compression=zipfile.ZIP_DEFLATED)
    except _Failed as failed:
        raise failed.args[0] from None
    except Exception as exc:  # skops's UnsupportedTypeException, TypeError
        raise TypeError(f"Cannot save {type(obj).__name__} to {str(target)!r}: skops "
                        f"cannot write a part of it ({type(exc).__name__}: "
                        f"{short(str(exc), 300)}). Replace that part (a lambda, a "
                        "local function) with a named function of a module.") from None
    finally:
        _SAVING.reset(token)
    local = [t for t in skops.io.get_untrusted_types(data=data)
             if "<lambda>" in t or "<locals>" in t]
    if local:
        raise TypeError(f"Cannot save {type(obj).__name__} to {str(target)!r}: it holds "
                        f"{local}, which no file can bring back (a lambda or a function "
                        "defined inside another). Replace them with functions defined at "
                        "the top level of a module.")
    write_atomically(target, folder, lambda raw: _write(raw, data, members.values()))


def _write(raw, data, members):
    index = {"format": _FORMAT, "version": _VERSION, "members": [m for m, _, _ in members]}
    with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as out:
        with zipfile.ZipFile(io.BytesIO(data)) as skops_file:
            for info in skops_file.infolist():
                out.writestr(info, skops_file.read(info))
        out.writestr(_INDEX, json.dumps(index))
        for name, content, _ in members:
            if isinstance(content, bytes):
                out.writestr(name, content)
            else:  # an estimator's archive, written by its writer
                with tempfile.TemporaryFile() as tmp:
                    content(tmp)
                    tmp.seek(0)
                    with out.open(name, "w") as dst:
                        shutil.copyfileobj(tmp, dst, 2**20)


# -- load -------------------------------------------------------------------------------


def _index(where):
    """The file's objects.json (None: a file of one estimator), checked."""
    try:
        with zipfile.ZipFile(where) as zf:
            names = zf.namelist()
            if _INDEX not in names:
                return None
            raw = zf.read(_INDEX) if zf.getinfo(_INDEX).file_size < 2**20 else b"null"
    except Exception:  # not a zip file, or unreadable: load_estimator says which
        return None
    try:
        index = json.loads(raw)
    except ValueError:
        index = raw[:100]
    expected = "an object {'format': 'mtestimator-objects', 'version': 1, 'members': [...]}"
    if not (isinstance(index, dict) and index.get("format") == _FORMAT):
        raise ValueError(f"{where!r} {_DAMAGED}: its {_INDEX} is "
                         f"{short(repr(index), 100)}; expected {expected}.")
    if index.get("version") != _VERSION:
        raise ValueError(f"{where!r} has the objects format version "
                         f"{short(repr(index.get('version')))}; this mtestimator reads "
                         f"version {_VERSION}.")
    members = index.get("members")
    if not (isinstance(members, list) and all(
            isinstance(m, str) and m in names and m.startswith("mtestimator/")
            and m.endswith((".mtest", ".json")) for m in members)
            and len(set(members)) == len(members)):
        raise ValueError(f"{where!r} {_DAMAGED}: its {_INDEX} lists the members "
                         f"{short(repr(members), 200)}; expected distinct members of the "
                         "file named mtestimator/<i>.mtest or mtestimator/<i>.json.")
    return members


def _load_params(data, where, member):
    """An unfitted estimator from its class and parameters (checked first)."""
    try:
        meta = json.loads(data) if len(data) < 2**24 else None
        if not (isinstance(meta, dict) and set(meta) == {"class", "params"}):
            raise Damage(f"it is {short(repr(meta), 100)}; expected an object with "
                         "the keys ['class', 'params']")
        cls = named_class(meta["class"], "class", "estimator")
        Checker().estimator_parameters(cls, meta["params"])
    except (Damage, ValueError) as exc:
        raise ValueError(f"{where!r} {_DAMAGED}: {member}: {str(exc).rstrip('.')}.") \
            from None
    return cls(**decode(meta["params"]))


def _read_members(where, members):
    """{member: estimator} for every member the index lists."""
    loaded = {}
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(where) as zf:
        for i, member in enumerate(members):
            if member.endswith(".json"):
                loaded[member] = _load_params(zf.read(member), where, member)
                continue
            path = os.path.join(tmp, f"{i}.mtest")
            try:
                with zf.open(member) as src, open(path, "wb") as dst:
                    shutil.copyfileobj(src, dst, 2**20)
            except OSError as exc:
                if exc.errno in LOCAL_ERRNOS:  # the temporary folder's, not the file's
                    raise
                raise ValueError(f"{where!r} {_DAMAGED}: its member {member} cannot be "
                                 f"read ({exc}).") from None
            except Exception as exc:  # BadZipFile (CRC), EOFError, zlib.error
                raise ValueError(f"{where!r} {_DAMAGED}: its member {member} cannot be "
                                 f"read ({type(exc).__name__}: {exc}).") from None
            try:
                loaded[member] = load_estimator(path)
            except ValueError as exc:
                text = str(exc).replace(repr(path), f"{where!r} (its member {member})")
                raise ValueError(text) from None
            finally:
                os.unlink(path)
    return loaded


def _trusted(where, found, trusted):
    """The type names skops may build: those ``trusted`` names and ours; a
    TypeError listing the ``found`` ones that are neither."""
    given = {t if isinstance(t, str) else f"{t.__module__}.{t.__qualname__}"
             for t in trusted}
    refused = [t for t in found if t not in given and t not in _type_names()]
    if refused:
        raise TypeError(
            f"Cannot load {where!r}: it holds types that are not trusted by default: "
            f"{refused}. Loading builds each of them with the state the file gives it; "
            "if you trust whoever wrote the file, pass them: "
            f"mtestimator.load(path, trusted={refused!r}).")
    return sorted(given) + _type_names()


def load(path, trusted=None):
    """Read a file written by :func:`save` or ``est.save``, safely.

    Parameters
    ----------
    path : str or path-like
    trusted : list of str or type, default=None
        Types beyond those trusted by default (scikit-learn's and NumPy's,
        as skops trusts them, and mtestimator's estimators) that the file
        may build, such as ``"mymodule.MyTransformer"``.

    Returns
    -------
    obj : estimator or object holding estimators
        As saved, predicting exactly as it did.

    Raises
    ------
    TypeError
        When the file holds types neither trusted by default nor in
        ``trusted``: the message lists them and how to trust them.
    ValueError
        When the file is not an mtestimator file, or is damaged or hand-edited.
    OSError
        When the file cannot be read.
    """
    where = os.fspath(path)
    if trusted is not None and not (isinstance(trusted, (list, tuple, set)) and all(
            isinstance(t, (str, type)) for t in trusted)):
        raise TypeError(f"trusted must be a list of type names (str) or types; got "
                        f"{short(repr(trusted), 100)}. The names are those a refused "
                        "load lists, e.g. trusted=['mymodule.MyTransformer'].")
    members = _index(where)
    if members is None:
        return load_estimator(where)
    import skops.io

    try:
        found = skops.io.get_untrusted_types(file=where)
    except Exception as exc:
        raise ValueError(f"{where!r} {_DAMAGED}: {short(f'{type(exc).__name__}: {exc}', 300)}"
                         ) from None
    names = _trusted(where, found, trusted or [])
    token = _LOADING.set(_read_members(where, members))
    try:
        return skops.io.load(where, trusted=names)
    except Damage as exc:
        raise ValueError(f"{where!r} {_DAMAGED}: {str(exc).rstrip('.')}.") from None
    except Exception as exc:
        if isinstance(exc, ValueError) and str(exc).startswith(repr(where)):
            raise
        raise ValueError(f"{where!r} {_DAMAGED}: {short(f'{type(exc).__name__}: {exc}', 300)}"
                         ) from None
    finally:
        _LOADING.reset(token)
