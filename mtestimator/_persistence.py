"""Safe persistence: ``est.save(path)`` and ``mtestimator.load(path)``.

One file, a zip archive holding ``model.keras`` (the network in Keras's own
format, loaded with ``safe_mode=True``) and ``mtestimator.json`` (the
estimator's class, parameters and fitted state as plain JSON; heads and
trunks as class name + parameters). Loading executes no pickle and imports
nothing named by the file: every class it names must be registered here by
mtestimator itself (estimators, heads and trunks call :func:`register` when
their module is imported; this module imports none of them at import time,
so there is no import cycle).

Loading checks the whole of ``mtestimator.json`` before it builds anything:
its keys and their types, every array's dtype (numbers, booleans and
strings only), shape and values, how deep anything is nested, and that every
class it names is registered and of the kind expected where it stands (an
estimator, a head, a trunk) with parameters its ``__init__`` takes. The
network's outputs must be the heads of the file. Any damage is a
``ValueError`` naming where in the file it is (``params.heads[1]``), what
was found and what was expected.

Saving is atomic: the archive is written to a temporary file beside the
target, flushed to disk, then renamed over it; on any failure (a full disk,
Ctrl-C) the temporary file is removed and a previous file at ``path`` is
left as it was.

Pickling (``pickle``/``joblib``) also works, but unpickling runs code chosen
by whoever wrote the file: never unpickle a file you do not trust; ``load``
is the safe path.
"""

import inspect
import json
import math
import os
import re
import secrets
import shutil
import stat
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
_TOP_KEYS = ("format", "version", "class", "params", "fitted", "private", "heads", "trunk")

# -- limits of what load accepts ------------------------------------------------------
#: Containers nested deeper than this are damage (a saved estimator nests ~8 deep).
_MAX_DEPTH = 50
#: The most bytes mtestimator.json may hold once decompressed.
_MAX_JSON_BYTES = 64 * 2**20
#: The most bytes all the arrays of one file may take once decoded.
_MAX_ARRAY_BYTES = 2**30
#: Array dtypes a file may name, as ``dtype.str`` writes them: booleans, signed and
#: unsigned integers, floats, unicode strings. Never objects, void, bytes, dates.
_DTYPE = re.compile(r"[<>|=]?(?:b1|[iu][1248]|f[248]|U[0-9]{1,9})")
_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9_]*_")


def register(cls):
    """Class decorator: ``cls`` may be named by a saved file."""
    _REGISTRY[cls.__name__] = cls
    return cls


# -- encoding (save) --------------------------------------------------------------------

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


def _fitted(obj):
    return {k: v for k, v in vars(obj).items()
            if k.endswith("_") and not k.startswith("_") and k not in _SKIPPED}


# -- validation (load) --------------------------------------------------------------------

class _Damage(Exception):
    """A problem in mtestimator.json: ``load`` turns it into a ValueError."""


def _short(text, limit=60):
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _describe(value):
    """What was found, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"the integer {_short(str(value))}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {_short(repr(value))}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' * (len(value) != 1)}"
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return "an array"
        if "__tuple__" in value:
            items = value["__tuple__"]
            return (f"a tuple of {len(items)} items" if isinstance(items, list)
                    else "a malformed tuple")
        if "__estimator__" in value:
            return f"an estimator spec naming {_short(repr(value['__estimator__']))}"
        if "__callable__" in value:
            return "a function placeholder"
        keys = sorted(value)
        shown = ", ".join(_short(repr(k), 30) for k in keys[:5])
        return f"an object with keys [{shown}{', ...' if len(keys) > 5 else ''}]"
    return type(value).__name__  # not reached: JSON has no other types


def _bad(path, value, expected):
    return _Damage(f"{path} is {_describe(value)}; expected {expected}")


def _key(path, key):
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{_short(repr(key), 40)}]"


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_tuple(value):
    return isinstance(value, dict) and set(value) == {"__tuple__"} and \
        isinstance(value["__tuple__"], list)


def _is_scalar(value):
    return value is None or isinstance(value, (bool, int, float, str))


def _array_info(value):
    """``(dtype, shape)`` of an array spec that passed the checks."""
    shape, level = [], value["__ndarray__"]
    while isinstance(level, list):
        shape.append(len(level))
        if not level:
            break
        level = level[0]
    return np.dtype(value["dtype"]), tuple(shape)


def _array_check(ndim, kinds, none=False):
    def check(value):
        if none and value is None:
            return True
        if not (isinstance(value, dict) and "__ndarray__" in value):
            return False
        dtype, shape = _array_info(value)
        return len(shape) == ndim and dtype.kind in kinds
    return check


def _non_negative(value):
    return _is_int(value) and value >= 0


def _positive(value):
    return _is_int(value) and value >= 1


def _history(value):
    return isinstance(value, dict) and all(
        isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                    for x in v)
        for v in value.values())


def _shape(value):
    return _is_tuple(value) and all(_non_negative(d) for d in value["__tuple__"])


#: Fitted attributes of the estimators and heads, by name: (expected, check).
_ATTRIBUTES = {
    "n_features_in_": ("a non-negative integer", _non_negative),
    "n_iter_": ("a non-negative integer", _non_negative),
    "input_shape_": ("a tuple of non-negative integers", _shape),
    "history_": ("an object of lists of numbers", _history),
    "feature_names_in_": ("a 1-D array of strings", _array_check(1, "U")),
    "classes_": ("a 1-D array", _array_check(1, "biufU")),
    "target_names_": ("a 1-D array", _array_check(1, "biufU")),
    "threshold_": ("a 1-D array of floats", _array_check(1, "f")),
    "pos_weight_": ("null or a 1-D array of floats", _array_check(1, "f", none=True)),
    "class_weight_": ("null or a 1-D array of floats", _array_check(1, "f", none=True)),
    "mean_": ("a 1-D array of floats", _array_check(1, "f")),
    "std_": ("a 1-D array of floats", _array_check(1, "f")),
    "name_": ("a string", lambda v: isinstance(v, str)),
    "one_d_": ("true or false", lambda v: isinstance(v, bool)),
    "n_outputs_": ("a positive integer", _positive),
    "output_units_": ("a positive integer", _positive),
    "output_activation_": ("a string", lambda v: isinstance(v, str)),
    "loss_": ("a string", lambda v: isinstance(v, str)),
}
#: What each head needs to predict, beyond output_units_ and output_activation_.
_HEAD_NEEDS = {
    "RegressionHead": ("one_d_", "mean_", "std_"),
    "ClassificationHead": ("classes_",),
    "MultiLabelHead": ("threshold_",),
}


class _Checker:
    """One pass over the decoded JSON of a file; raises _Damage at the first problem."""

    def __init__(self):
        from ._base import BaseMultiTask
        from .heads import BaseHead
        from .trunks import BaseTrunk

        self.bases = {"estimator": BaseMultiTask, "head": BaseHead, "trunk": BaseTrunk}
        self.array_bytes = 0

    # -- classes ---------------------------------------------------------------------

    def family(self, cls):
        if issubclass(cls, self.bases["estimator"]):
            # a class that cannot be saved (SeparateNetworks) cannot be in a file
            return "estimator" if cls.save is self.bases["estimator"].save else "other"
        for family in ("head", "trunk"):
            if issubclass(cls, self.bases[family]):
                return family
        return "other"

    def known(self, family):
        return sorted(n for n, c in _REGISTRY.items() if self.family(c) == family)

    def named_class(self, name, path, family):
        """The registered class ``name`` of ``family``, else _Damage."""
        if not isinstance(name, str):
            raise _bad(path, name, f"the name of {'an' if family == 'estimator' else 'a'} "
                                   f"{family} class, one of {self.known(family)}")
        cls = _REGISTRY.get(name)
        if cls is None:
            raise _Damage(f"{path} names an unknown class {_short(repr(name))}; expected "
                          f"{'an' if family == 'estimator' else 'a'} {family} class, "
                          f"one of {self.known(family)}")
        found = self.family(cls)
        if found != family:
            what = {"estimator": "an estimator", "head": "a head", "trunk": "a trunk"}.get(
                found, "a class that cannot be saved to a file")
            raise _Damage(f"{path} names {name}, {what}; expected "
                          f"{'an' if family == 'estimator' else 'a'} {family} class, "
                          f"one of {self.known(family)}")
        return cls

    def parameters(self, cls, params, path, depth, special=None):
        """``params`` (a JSON object) are parameters of ``cls`` with valid values;
        ``special``: ``{name: stand-in}`` for the parameters the caller checked
        itself (estimators), their stand-ins checked against the constraints."""
        special = special or {}
        from sklearn.utils._param_validation import InvalidParameterError, \
            validate_parameter_constraints

        if not isinstance(params, dict):
            raise _bad(path, params, f"an object of the parameters of {cls.__name__}")
        names = cls._get_param_names()
        for name in params:
            if name not in names:
                raise _Damage(f"{path} has the parameter {_short(repr(name))}, which "
                              f"{cls.__name__} does not take; expected parameters among "
                              f"{names}")
        required = [p.name for p in inspect.signature(cls.__init__).parameters.values()
                    if p.default is p.empty and p.name != "self"
                    and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        for name in required:
            if name not in params:
                raise _Damage(f"{path} lacks the parameter {name!r}, which {cls.__name__} "
                              "requires")
        constraints = getattr(cls, "_parameter_constraints", {})
        plain = dict(special)
        for name, value in params.items():
            if name in special:
                continue
            self.value(value, _key(path, name), depth + 1)
            # code is never saved: a placeholder, or null where a function is expected
            # (a loaded KerasTrunk saved again), stands for it unchecked
            if isinstance(value, dict) and "__callable__" in value or \
                    value is None and any(c is callable or c == "callable"
                                          for c in constraints.get(name, ())):
                continue
            plain[name] = _decode(value)  # pure data: no estimator in a plain value
        try:
            validate_parameter_constraints(constraints, plain, caller_name=cls.__name__)
        except (InvalidParameterError, TypeError, ValueError) as exc:
            raise _Damage(f"{path}: {exc}") from None

    def estimator(self, spec, path, depth, family):
        """An ``{"__estimator__": name, "params": {...}}`` spec of a head or trunk."""
        if not (isinstance(spec, dict) and "__estimator__" in spec):
            raise _bad(path, spec, f"a {family} spec {{'__estimator__': name, 'params': "
                                   "{...}}")
        if set(spec) != {"__estimator__", "params"}:
            raise _Damage(f"{path} has the keys {sorted(spec)}; expected a {family} spec "
                          "with the keys ['__estimator__', 'params']")
        cls = self.named_class(spec["__estimator__"], f"{path}.__estimator__", family)
        self.parameters(cls, spec["params"], f"{path}.params", depth + 1)
        return cls

    # -- values ----------------------------------------------------------------------------

    def value(self, value, path, depth):
        """Any plain value: JSON scalars, lists, objects, tuples, arrays, function
        placeholders; no estimator (those stand only where ``estimator`` checks them)."""
        if depth > _MAX_DEPTH:
            raise _Damage(f"{path} is nested more than {_MAX_DEPTH} levels deep")
        if _is_scalar(value):
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                self.value(item, f"{path}[{i}]", depth + 1)
            return
        if "__ndarray__" in value:
            self.array(value, path, depth)
        elif "__tuple__" in value:
            if not _is_tuple(value):
                raise _Damage(f"{path} is a malformed tuple; expected "
                              "{'__tuple__': [items]} and no other key")
            for i, item in enumerate(value["__tuple__"]):
                self.value(item, f"{path}[{i}]", depth + 1)
        elif "__estimator__" in value:
            raise _bad(path, value, "a plain value (no estimator stands here)")
        elif "__callable__" in value:
            if set(value) != {"__callable__"} or not isinstance(value["__callable__"], str):
                raise _Damage(f"{path} is a malformed function placeholder; expected "
                              "{'__callable__': name} and no other key")
        else:
            for key, item in value.items():
                self.value(item, _key(path, key), depth + 1)

    def array(self, spec, path, depth):
        if set(spec) != {"__ndarray__", "dtype"}:
            raise _Damage(f"{path} is an array with the keys {sorted(spec)}; expected "
                          "the keys ['__ndarray__', 'dtype']")
        code = spec["dtype"]
        dtype = None
        if isinstance(code, str) and _DTYPE.fullmatch(code):
            try:
                dtype = np.dtype(code)  # safe: the pattern admits only these kinds
            except TypeError:  # too wide a string
                pass
        if dtype is None:
            raise _bad(f"{path}.dtype", code, "the dtype of booleans, integers, floats or "
                                               "unicode strings, such as '<f8', '<i8', "
                                               "'|b1' or '<U5'")
        # the shape, level by level (no recursion), and every element
        data, shape, level = spec["__ndarray__"], [], [spec["__ndarray__"]]
        while level and isinstance(level[0], list):
            if not all(isinstance(item, list) for item in level):
                raise _Damage(f"{path}.__ndarray__ mixes lists and values at depth "
                              f"{len(shape) + 1}; expected a rectangular nested list")
            lengths = {len(item) for item in level}
            if len(lengths) > 1:
                raise _Damage(f"{path}.__ndarray__ is ragged: lists of lengths "
                              f"{sorted(lengths)[:5]} at depth {len(shape) + 1}; expected "
                              "a rectangular nested list")
            shape.append(lengths.pop())
            if len(shape) > 32 or depth + len(shape) > _MAX_DEPTH:
                raise _Damage(f"{path}.__ndarray__ is nested more than "
                              f"{min(32, _MAX_DEPTH - depth)} levels deep")
            level = [x for item in level for x in item]
        if not isinstance(data, list):
            level = [data]  # a 0-d array
        self.array_bytes += math.prod(shape) * dtype.itemsize
        if self.array_bytes > _MAX_ARRAY_BYTES:
            raise _Damage(f"{path} makes the arrays of the file larger than "
                          f"{_MAX_ARRAY_BYTES} bytes")
        ok, expected = _element_check(dtype)
        for i, item in enumerate(level):
            if not ok(item):
                where = "".join(f"[{j}]" for j in np.unravel_index(i, shape)) if shape else ""
                raise _bad(f"{path}.__ndarray__{where}", item,
                           f"{expected} for dtype {code!r}")

    # -- the file ------------------------------------------------------------------------

    def attributes(self, state, path, cls):
        """Fitted attributes (a JSON object) of an instance of ``cls``."""
        if not isinstance(state, dict):
            raise _bad(path, state, "an object of fitted attributes")
        for name, value in state.items():
            where = _key(path, name)
            if not _ATTRIBUTE.fullmatch(name) or name in _SKIPPED or hasattr(cls, name):
                raise _Damage(f"{where} is not a fitted attribute a file may set; expected "
                              "names such as 'classes_' (a letter first, '_' last), not "
                              f"{sorted(_SKIPPED)} nor an attribute of {cls.__name__}")
            self.value(value, where, 2)
            if name in _ATTRIBUTES:
                expected, check = _ATTRIBUTES[name]
                if not check(value):
                    raise _bad(where, value, expected)

    def head_state(self, state, path, name, cls):
        self.attributes(state, path, cls)
        for needed in ("output_units_", "output_activation_", *_HEAD_NEEDS.get(cls.__name__,
                                                                              ())):
            if needed not in state:
                raise _Damage(f"{path} lacks {needed!r}, which a fitted {cls.__name__} has")
        if state.get("name_", name) != name:
            raise _bad(f"{path}.name_", state["name_"], f"the head's name {name!r}")
        units = state["output_units_"]
        for attr in ("n_outputs_",):
            if attr in state and state[attr] != units:
                raise _bad(f"{path}.{attr}", state[attr],
                           f"output_units_ ({units})")
        for attr in ("mean_", "std_", "threshold_", "pos_weight_"):
            if state.get(attr) is not None:
                size = _array_info(state[attr])[1][0]
                if size != units:
                    raise _Damage(f"{path}.{attr} has {size} values; expected "
                                  f"output_units_ ({units})")
        if "classes_" in state:
            n_classes = _array_info(state["classes_"])[1][0]
            if n_classes != units and not (units == 1 and n_classes == 2):
                raise _Damage(f"{path}.classes_ has {n_classes} classes, which "
                              f"output_units_ ({units}) cannot predict; expected "
                              f"{units} classes{' (or 2)' if units == 1 else ''}")
            weights = state.get("class_weight_")
            if weights is not None and _array_info(weights)[1][0] != n_classes:
                raise _Damage(f"{path}.class_weight_ has {_array_info(weights)[1][0]} "
                              f"values; expected one per class ({n_classes})")

    def private(self, private, head_names):
        if not isinstance(private, dict):
            raise _bad("private", private, f"an object with the keys {list(_PRIVATE)}")
        if set(private) != set(_PRIVATE):
            raise _Damage(f"private has the keys {sorted(private)}; expected the keys "
                          f"{sorted(_PRIVATE)}")
        for name in _PRIVATE:
            self.value(private[name], f"private.{name}", 1)
        seed = private["_seed"]
        if seed is not None and not _is_int(seed):
            raise _bad("private._seed", seed, "null or an integer")
        if private["_X_dtype"] not in ("float32", "string"):
            raise _bad("private._X_dtype", private["_X_dtype"], "'float32' or 'string'")

        def column(value):
            return _is_scalar(value) or (_is_tuple(value) and all(
                _is_scalar(v) for v in value["__tuple__"]))

        columns = private["_target_frame_columns"]
        if columns is not None and not (isinstance(columns, list)
                                        and all(column(c) for c in columns)):
            raise _bad("private._target_frame_columns", columns,
                       "null or a list of column names")
        layout = private["_target_layout"]
        if layout is None:
            if len(head_names) != 1:
                raise _Damage(f"private._target_layout is null, which only one head may "
                              f"have; expected the columns of the heads {head_names}")
            return
        if not isinstance(layout, list):
            raise _bad("private._target_layout", layout,
                       "null or a list of (column, head name) pairs")
        owners = set()
        for i, pair in enumerate(layout):
            where = f"private._target_layout[{i}]"
            if not (_is_tuple(pair) and len(pair["__tuple__"]) == 2
                    and column(pair["__tuple__"][0])):
                raise _bad(where, pair, "a (column, head name) pair")
            owner = pair["__tuple__"][1]
            if owner not in head_names:
                raise _bad(f"{where}[1]", owner, f"the name of a head, one of {head_names}")
            owners.add(owner)
        missing = [h for h in head_names if h not in owners]
        if missing:
            raise _Damage(f"private._target_layout gives no column to the heads {missing}; "
                          "expected at least one column per head")

    def check(self, meta):
        """The whole file (format, version and class already checked)."""
        cls = _REGISTRY[meta["class"]]
        for key in _TOP_KEYS:
            if key not in meta:
                raise _Damage(f"its key {key!r} is missing; expected the keys "
                              f"{list(_TOP_KEYS)}")
        extra = sorted(set(meta) - set(_TOP_KEYS))
        if extra:
            raise _Damage(f"it has the unexpected key {_short(repr(extra[0]))}; expected "
                          f"the keys {list(_TOP_KEYS)}")
        # heads: [[name, head spec, fitted state], ...]
        heads = meta["heads"]
        if not isinstance(heads, list) or not heads:
            raise _bad("heads", heads, "a non-empty list of [name, head spec, fitted state]")
        names = []
        for i, entry in enumerate(heads):
            path = f"heads[{i}]"
            if not isinstance(entry, list) or len(entry) != 3:
                raise _bad(path, entry, "a list [name, head spec, fitted state]")
            name, spec, state = entry
            if not isinstance(name, str) or not name or "__" in name or "/" in name:
                raise _bad(f"{path}[0]", name, "a head name: a non-empty string without "
                                               "'__' or '/'")
            if name in names:
                raise _Damage(f"{path}[0] repeats the head name {name!r}; expected "
                              "distinct names")
            names.append(name)
            head_cls = self.estimator(spec, f"{path}[1]", 1, "head")
            self.head_state(state, f"{path}[2]", name, head_cls)
        self.estimator(meta["trunk"], "trunk", 0, "trunk")
        # the estimator's parameters: heads and trunk checked here (then built, to be
        # checked against the estimator's constraints), the rest as values
        params = meta["params"]
        special = {}
        if isinstance(params, dict) and "heads" in params and "heads" in \
                cls._get_param_names():
            given = params["heads"]
            if not isinstance(given, list):
                raise _bad("params.heads", given, "a list of (name, head) pairs")
            special["heads"] = []
            for i, pair in enumerate(given):
                path = f"params.heads[{i}]"
                if not (_is_tuple(pair) and len(pair["__tuple__"]) == 2):
                    raise _bad(path, pair, "a (name, head) pair")
                name, spec = pair["__tuple__"]
                if not isinstance(name, str):
                    raise _bad(f"{path}[0]", name, "a head name (a string)")
                self.estimator(spec, f"{path}[1]", 2, "head")
                special["heads"].append((name, _decode(spec)))
        if isinstance(params, dict) and isinstance(params.get("trunk"), dict) and \
                "__estimator__" in params["trunk"]:
            self.estimator(params["trunk"], "params.trunk", 1, "trunk")
            special["trunk"] = _decode(params["trunk"])
        self.parameters(cls, params, "params", 0, special=special)
        self.attributes(meta["fitted"], "fitted", cls)
        if "input_shape_" not in meta["fitted"]:
            raise _Damage("fitted lacks 'input_shape_', which a fitted estimator has")
        self.private(meta["private"], names)


def _element_check(dtype):
    """``(check, words)`` for the elements of an array of ``dtype``."""
    kind = dtype.kind
    if kind == "b":
        return (lambda v: isinstance(v, bool)), "true or false"
    if kind in "iu":
        info = np.iinfo(dtype)
        return ((lambda v: _is_int(v) and info.min <= v <= info.max),
                f"an integer in [{info.min}, {info.max}]")
    if kind == "f":
        limit = float(np.finfo(dtype).max)

        def ok(v):
            if isinstance(v, float):
                return not math.isfinite(v) or abs(v) <= limit
            return _is_int(v) and abs(v) <= limit
        return ok, f"a number within +-{limit:g}"
    width = dtype.itemsize // 4  # "U"
    return ((lambda v: isinstance(v, str) and len(v) <= width),
            f"a string of at most {width} character{'s' * (width != 1)}")


# -- decoding (after the checks) ------------------------------------------------------------

def _decode(value):
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        if "__estimator__" in value:
            return _REGISTRY[value["__estimator__"]](**_decode(value["params"]))
        if "__callable__" in value:
            return None  # not saved: the loaded estimator predicts, refitting needs it
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


# -- save -------------------------------------------------------------------------------

def _partial_file(folder, target):
    """A new file beside ``target``: ``(open binary file, path)``. Its mode is the one
    a new file gets (0o666 less the umask), or that of the file it will replace."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        path = os.path.join(folder, f".mtestimator-{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(path, flags, 0o666)
        except FileExistsError:
            continue
        try:
            raw = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            os.unlink(path)
            raise
        try:
            if os.path.exists(target):
                os.chmod(path, stat.S_IMODE(os.stat(target).st_mode))
        except OSError:
            pass  # the default mode, then
        except BaseException:
            raw.close()
            os.unlink(path)
            raise
        return raw, path
    raise FileExistsError(f"Could not create a temporary file in {folder!r}.")


def save(estimator, path):
    """Write a fitted estimator to ``path`` atomically (see the module docstring)."""
    import keras
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator, "model_")
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save to {target!r}: the folder {folder!r} does "
                                "not exist. Create it first (os.makedirs).")
    if os.path.isdir(target):
        raise IsADirectoryError(f"Cannot save to {target!r}: it is a folder; give the "
                                "path of a file.")
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
    raw, partial = _partial_file(folder, target)
    try:
        with raw, tempfile.TemporaryDirectory() as tmp:
            model_path = os.path.join(tmp, "model.keras")
            network.save(model_path)
            with zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("mtestimator.json", json.dumps(meta))
                zf.write(model_path, "model.keras")
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, target)
    except BaseException:
        try:
            os.unlink(partial)
        except OSError:
            pass
        raise
    try:  # the rename itself to disk too (POSIX), against a power cut
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


# -- load -------------------------------------------------------------------------------

class _Refused(ValueError):
    """A ValueError of load's own, raised while the archive is read."""


def _read(where, tmp):
    """``(meta, path of model.keras in tmp)`` from the archive, or ValueError."""
    with open(where, "rb") as raw:  # a missing file is an OSError, not damage
        try:
            with zipfile.ZipFile(raw) as zf:
                names = zf.namelist()
                if not {"mtestimator.json", "model.keras"} <= set(names):
                    raise _Refused(f"{where!r} is not an mtestimator file: it lacks "
                                   "mtestimator.json or model.keras.")
                for name in ("mtestimator.json", "model.keras"):
                    if names.count(name) > 1:
                        raise _Refused(f"{where!r} is damaged: it holds {name} "
                                       f"{names.count(name)} times; expected once.")
                size = zf.getinfo("mtestimator.json").file_size
                if size > _MAX_JSON_BYTES:
                    raise _Refused(f"{where!r} is damaged: its mtestimator.json is "
                                   f"{size} bytes; expected at most {_MAX_JSON_BYTES}.")
                text = zf.read("mtestimator.json")
                model_path = os.path.join(tmp, "model.keras")
                with zf.open("model.keras") as src, open(model_path, "wb") as dst:
                    shutil.copyfileobj(src, dst, 2**20)
        except (_Refused, MemoryError, RecursionError):
            raise
        except Exception as exc:  # BadZipFile, CRC errors, EOFError, zlib.error, ...
            raise ValueError(f"{where!r} is not an mtestimator file, or it is damaged: "
                             f"{exc}") from None
    try:
        meta = json.loads(text)
    except RecursionError:
        raise ValueError(f"{where!r} is damaged: its mtestimator.json is nested too "
                         "deeply to read.") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, digits limit
        raise ValueError(f"{where!r} is not an mtestimator file, or it is damaged: "
                         f"{exc}") from None
    return meta, model_path


def _check_header(meta, where):
    """Format, version and class: what says whether this is a file to read at all."""
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError(f"{where!r} is not an mtestimator file.")
    version = meta.get("version")
    if "version" not in meta or not _is_int(version):
        raise ValueError(f"{where!r} is damaged: "
                         + ("its key 'version' is missing" if "version" not in meta
                            else str(_bad("version", version, "an integer")))
                         + f"; this mtestimator reads version {_VERSION}.")
    if version == 1:
        raise ValueError(
            f"{where!r} was written by mtestimator 0.1 (file format 1); this version "
            f"reads format {_VERSION}. To re-save it: in an environment with "
            "mtestimator==0.1.0, load it and refit or keep it with that version; or fit "
            "the same estimator again with this version and call save()."
        )
    if version != _VERSION:
        raise ValueError(f"{where!r} has format version {version!r}; this "
                         f"mtestimator reads version {_VERSION}.")
    checker = _Checker()
    known = checker.known("estimator")
    if "class" not in meta:
        raise ValueError(f"{where!r} is damaged: its key 'class' is missing; expected "
                         f"the name of an estimator class, one of {known}.")
    name = meta["class"]
    if not isinstance(name, str):
        expected = f"the name of an estimator class, one of {known}"
        raise ValueError(f"{where!r} is damaged: {_bad('class', name, expected)}.")
    if name not in _REGISTRY:
        raise ValueError(f"{where!r} names an unknown estimator {_short(repr(name))}; "
                         f"expected one of {known}.")
    try:
        checker.named_class(name, "class", "estimator")
    except _Damage as exc:
        raise ValueError(f"{where!r} is damaged: {str(exc).rstrip('.')}.") from None
    return checker


def _output_names(model):
    outputs = model.output
    if isinstance(outputs, dict):
        return list(outputs)
    return list(model.output_names)


def _load_network(model_path, where, tmp):
    import keras

    damaged = f"The network inside {where!r} (model.keras) is damaged"
    if os.path.getsize(model_path) == 0:
        raise ValueError(f"{damaged}: it is empty.")
    if not zipfile.is_zipfile(model_path):
        raise ValueError(f"{damaged}: it is not a Keras archive.")
    try:
        return keras.saving.load_model(model_path, compile=False, safe_mode=True)
    except Exception as exc:
        detail = str(exc).replace(model_path, "model.keras").replace(tmp, "...")
        raise ValueError(f"{damaged} or unsafe: "
                         f"{_short(f'{type(exc).__name__}: {detail}', 400)}") from None


def _check_network(model, heads, input_shape, where):
    names = [name for name, _ in heads]
    try:
        outputs = _output_names(model)
    except Exception:  # not a model with outputs (a bare layer)
        outputs = None
    if outputs is None or sorted(outputs) != sorted(names):
        raise ValueError(f"{where!r} is damaged: the network's outputs "
                         f"{None if outputs is None else sorted(outputs)} do not "
                         f"match the heads in mtestimator.json; expected {names}.")
    if isinstance(model.output, dict):
        for name, head in heads:
            width = model.output[name].shape[-1]
            if width != head.output_units_:
                raise ValueError(f"{where!r} is damaged: the network's output {name!r} has "
                                 f"{width} units; expected heads[{names.index(name)}]'s "
                                 f"output_units_ ({head.output_units_}).")
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) == 1:
        shape = tuple(inputs[0].shape[1:])
        if len(shape) != len(input_shape) or any(
                a is not None and a != b for a, b in zip(shape, input_shape)):
            raise ValueError(f"{where!r} is damaged: the network takes samples of shape "
                             f"{shape}; expected fitted.input_shape_ "
                             f"{tuple(input_shape)}.")


def load(path):
    """Read an estimator written by ``est.save(path)``, safely.

    Everything in the file is checked before it is used (see the module
    docstring); nothing in it is executed or imported, and the network is
    loaded by Keras with ``safe_mode=True``.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    estimator : MultiTaskEstimator or a preset
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
    from .engine import networks  # noqa: F401  (registers the custom layers and losses)

    where = os.fspath(path)
    with tempfile.TemporaryDirectory() as tmp:
        meta, model_path = _read(where, tmp)
        checker = _check_header(meta, where)
        try:
            checker.check(meta)
        except _Damage as exc:
            raise ValueError(f"{where!r} is damaged: {str(exc).rstrip('.')}.") from None
        # everything checked: build the estimator
        estimator = _REGISTRY[meta["class"]](**_decode(meta["params"]))
        vars(estimator).update(_decode(meta["fitted"]))
        vars(estimator).update(_decode(meta["private"]))
        heads = []
        for head_name, spec, state in meta["heads"]:
            head = _decode(spec)
            vars(head).update(_decode(state))
            heads.append((head_name, head))
        estimator.heads_ = heads
        estimator.trunk_ = _decode(meta["trunk"])
        model = _load_network(model_path, where, tmp)
    _check_network(model, heads, estimator.input_shape_, where)
    estimator.model_ = model
    return estimator
