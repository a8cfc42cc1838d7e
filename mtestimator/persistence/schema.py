"""The check of a file's mtestimator.json before anything is built from it.

One pass over the decoded JSON: its keys and their types, every array's
dtype (numbers, booleans and strings only), shape and values, how deep
anything is nested, that every class it names is registered and of the
kind expected where it stands (an estimator, a head, a trunk) with
parameters its ``__init__`` takes, and each object's fitted state against
the declarations of its class (``_fitted_state``, ``_private_state``: see
:mod:`.spec`). The first problem raises :class:`~.spec.Damage`, naming
where in the file it is, what was found and what was expected.
"""

import inspect
import math
import re

import numpy as np

from .._compat import param_names
from .codec import decode, rebuilt
from .spec import REGISTRY, Damage, Rebuilt, bad, declared, is_int, is_scalar, is_tuple, \
    short

__all__ = ["CODE_PARAMETERS", "Checker", "MAX_ARRAY_BYTES", "MAX_DEPTH"]

#: Containers nested deeper than this are damage (a saved estimator nests ~8 deep).
MAX_DEPTH = 50
#: The most bytes all the arrays of one file may take once decoded.
MAX_ARRAY_BYTES = 2**30
#: Array dtypes a file may name, as ``dtype.str`` writes them: booleans, signed and
#: unsigned integers, floats, unicode strings. Never objects, void, bytes, dates.
_DTYPE = re.compile(r"[<>|=]?(?:b1|[iu][1248]|f[248]|U[0-9]{1,9})")
_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9_]*_")
_ARTICLE = {"estimator": "an", "head": "a", "trunk": "a"}
#: Estimator parameters that hold code: saved as null, never as values.
CODE_PARAMETERS = ("callbacks",)


def _key(path, key):
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{short(repr(key), 40)}]"


def top_keys(version):
    """The keys of a file of format ``version``."""
    keys = ["format", "version", "class", "params", "fitted", "private", "heads", "trunk"]
    return keys + ["networks"] * (version >= 3) + ["optimizers"] * (version >= 4)


def family(cls):
    """Where ``cls`` may stand in a file: "estimator", "head", "trunk" or "other"."""
    return getattr(cls, "_persisted_as", None) or "other"


def known(kind):
    return sorted(n for n, c in REGISTRY.items() if family(c) == kind)


def named_class(name, path, kind):
    """The registered class ``name`` of ``kind``, else Damage."""
    wanted = f"{_ARTICLE[kind]} {kind} class, one of {known(kind)}"
    if not isinstance(name, str):
        raise bad(path, name, f"the name of {wanted}")
    cls = REGISTRY.get(name)
    if cls is None:
        raise Damage(f"{path} names an unknown class {short(repr(name))}; expected {wanted}")
    found = family(cls)
    if found != kind:
        what = {"estimator": "an estimator", "head": "a head", "trunk": "a trunk"}.get(
            found, "a class that cannot be saved to a file")
        raise Damage(f"{path} names {name}, {what}; expected {wanted}")
    return cls


def network_keys(cls, heads):
    """The networks a fitted ``cls`` with ``heads`` (names) has, by key."""
    return ["model"] if getattr(cls, "_joint", True) else list(heads)


class Checker:
    """One pass over the decoded JSON of a file; raises Damage at the first problem."""

    def __init__(self):
        self.array_bytes = 0

    def parameters(self, cls, params, path, depth, special=None):
        """``params`` (a JSON object) are parameters of ``cls`` with valid values;
        ``special``: ``{name: stand-in}`` for the parameters the caller checked
        itself (estimators), their stand-ins checked against the constraints."""
        special = special or {}
        from .._compat import InvalidParameterError, validate_parameter_constraints

        if not isinstance(params, dict):
            raise bad(path, params, f"an object of the parameters of {cls.__name__}")
        names = param_names(cls)
        for name in params:
            if name not in names:
                raise Damage(f"{path} has the parameter {short(repr(name))}, which "
                             f"{cls.__name__} does not take; expected parameters among "
                             f"{names}")
        required = [p.name for p in inspect.signature(cls.__init__).parameters.values()
                    if p.default is p.empty and p.name != "self"
                    and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        for name in required:
            if name not in params:
                raise Damage(f"{path} lacks the parameter {name!r}, which {cls.__name__} "
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
            plain[name] = decode(value)  # pure data: no estimator in a plain value
        try:
            validate_parameter_constraints(constraints, plain, caller_name=cls.__name__)
        except (InvalidParameterError, TypeError, ValueError) as exc:
            raise Damage(f"{path}: {exc}") from None

    def estimator(self, spec, path, depth, kind):
        """An ``{"__estimator__": name, "params": {...}}`` spec of a head or trunk."""
        if not (isinstance(spec, dict) and "__estimator__" in spec):
            raise bad(path, spec, f"a {kind} spec {{'__estimator__': name, 'params': "
                                  "{...}}")
        if set(spec) != {"__estimator__", "params"}:
            raise Damage(f"{path} has the keys {sorted(spec)}; expected a {kind} spec "
                         "with the keys ['__estimator__', 'params']")
        cls = named_class(spec["__estimator__"], f"{path}.__estimator__", kind)
        self.parameters(cls, spec["params"], f"{path}.params", depth + 1)
        return cls

    # -- values ----------------------------------------------------------------------------

    def value(self, value, path, depth):
        """Any plain value: JSON scalars, lists, objects, tuples, arrays, function
        placeholders; no estimator (those stand only where ``estimator`` checks them)."""
        if depth > MAX_DEPTH:
            raise Damage(f"{path} is nested more than {MAX_DEPTH} levels deep")
        if is_scalar(value):
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                self.value(item, f"{path}[{i}]", depth + 1)
            return
        if "__ndarray__" in value:
            self.array(value, path, depth)
        elif "__tuple__" in value:
            if not is_tuple(value):
                raise Damage(f"{path} is a malformed tuple; expected "
                             "{'__tuple__': [items]} and no other key")
            for i, item in enumerate(value["__tuple__"]):
                self.value(item, f"{path}[{i}]", depth + 1)
        elif "__estimator__" in value:
            raise bad(path, value, "a plain value (no estimator stands here)")
        elif "__callable__" in value:
            if set(value) != {"__callable__"} or not isinstance(value["__callable__"], str):
                raise Damage(f"{path} is a malformed function placeholder; expected "
                             "{'__callable__': name} and no other key")
        else:
            for key, item in value.items():
                self.value(item, _key(path, key), depth + 1)

    def array(self, spec, path, depth):
        if set(spec) != {"__ndarray__", "dtype"}:
            raise Damage(f"{path} is an array with the keys {sorted(spec)}; expected "
                         "the keys ['__ndarray__', 'dtype']")
        code = spec["dtype"]
        dtype = None
        if isinstance(code, str) and _DTYPE.fullmatch(code):
            try:
                dtype = np.dtype(code)  # safe: the pattern admits only these kinds
            except TypeError:  # too wide a string
                pass
        if dtype is None:
            raise bad(f"{path}.dtype", code, "the dtype of booleans, integers, floats or "
                                             "unicode strings, such as '<f8', '<i8', "
                                             "'|b1' or '<U5'")
        # the shape, level by level (no recursion), and every element
        data, shape, level = spec["__ndarray__"], [], [spec["__ndarray__"]]
        while level and isinstance(level[0], list):
            if not all(isinstance(item, list) for item in level):
                raise Damage(f"{path}.__ndarray__ mixes lists and values at depth "
                             f"{len(shape) + 1}; expected a rectangular nested list")
            lengths = {len(item) for item in level}
            if len(lengths) > 1:
                raise Damage(f"{path}.__ndarray__ is ragged: lists of lengths "
                             f"{sorted(lengths)[:5]} at depth {len(shape) + 1}; expected "
                             "a rectangular nested list")
            shape.append(lengths.pop())
            if len(shape) > 32 or depth + len(shape) > MAX_DEPTH:
                raise Damage(f"{path}.__ndarray__ is nested more than "
                             f"{min(32, MAX_DEPTH - depth)} levels deep")
            level = [x for item in level for x in item]
        if not isinstance(data, list):
            level = [data]  # a 0-d array
        self.array_bytes += math.prod(shape) * dtype.itemsize
        if self.array_bytes > MAX_ARRAY_BYTES:
            raise Damage(f"{path} makes the arrays of the file larger than "
                         f"{MAX_ARRAY_BYTES} bytes")
        ok, expected = _element_check(dtype)
        for i, item in enumerate(level):
            if not ok(item):
                where = "".join(f"[{j}]" for j in np.unravel_index(i, shape)) if shape else ""
                raise bad(f"{path}.__ndarray__{where}", item,
                          f"{expected} for dtype {code!r}")

    # -- fitted state, from the declarations of its class -------------------------------

    def state(self, state, path, cls, what, context):
        """The fitted attributes (a JSON object) of a fitted ``cls``: each one's
        value (only those ``cls`` declares), then those ``cls`` requires, then
        how they relate to each other and to the rest of the file."""
        if not isinstance(state, dict):
            raise bad(path, state, "an object of fitted attributes")
        declarations = declared(cls, "_fitted_state")
        skipped = sorted(set().union(*(rebuilt(c) for c in REGISTRY.values())))
        for name, value in state.items():
            where = _key(path, name)
            if not _ATTRIBUTE.fullmatch(name) or name in skipped or hasattr(cls, name) \
                    or isinstance(declarations.get(name), Rebuilt):
                raise Damage(f"{where} is not a fitted attribute a file may set; expected "
                             "names such as 'classes_' (a letter first, '_' last), not "
                             f"{skipped} nor an attribute of {cls.__name__}")
            if name not in declarations:
                known_ = sorted(n for n, d in declarations.items()
                                if not isinstance(d, Rebuilt))
                raise Damage(f"{where} is not a fitted attribute of {cls.__name__}; "
                             f"expected attributes among {known_}")
            self.value(value, where, 2)
            declaration = declarations[name]
            if not declaration.valid(value):
                raise bad(where, value, declaration.expected)
        for name, declaration in declarations.items():
            if declaration.required and name not in state:
                raise Damage(f"{path} lacks {name!r}, which a fitted {what} has")
        for name, declaration in declarations.items():
            if name in state:
                declaration.relate(state[name], _key(path, name), state, context)

    def private(self, private, cls, heads, version):
        """The private state of a fitted estimator ``cls``: exactly the keys it
        declares (less those of later format versions than ``version``)."""
        declarations = {name: d for name, d in declared(cls, "_private_state").items()
                        if d.since <= version}
        if not isinstance(private, dict):
            raise bad("private", private, f"an object with the keys {list(declarations)}")
        if set(private) != set(declarations):
            raise Damage(f"private has the keys {sorted(private)}; expected the keys "
                         f"{sorted(declarations)}")
        for name, declaration in declarations.items():
            self.value(private[name], f"private.{name}", 1)
            if not declaration.valid(private[name]):
                raise bad(f"private.{name}", private[name], declaration.expected)
        for name, declaration in declarations.items():
            declaration.relate(private[name], f"private.{name}", private, {"heads": heads})

    # -- the file ------------------------------------------------------------------------

    def check(self, meta):
        """The whole file (format, version and class already checked)."""
        cls = REGISTRY[meta["class"]]
        version = meta["version"]
        keys = top_keys(version)
        for key in keys:
            if key not in meta:
                raise Damage(f"its key {key!r} is missing; expected the keys {keys}")
        extra = sorted(set(meta) - set(keys) - {"trunk_fitted"})  # optional
        if extra:
            raise Damage(f"it has the unexpected key {short(repr(extra[0]))}; expected "
                         f"the keys {keys}")
        heads = self.heads(meta["heads"])
        names = list(heads)
        expected = network_keys(cls, names)
        networks = meta.get("networks", ["model"])  # format 2: one network
        if networks != expected:
            raise bad("networks", networks, f"{expected}, the networks of {cls.__name__}")
        optimizers = meta.get("optimizers", [])  # formats 2 and 3: none saved
        if not (isinstance(optimizers, list) and len(set(map(repr, optimizers)))
                == len(optimizers) and all(key in expected for key in optimizers)):
            raise bad("optimizers", optimizers, f"a list of distinct network keys among "
                                                f"{expected} (the optimizers saved)")
        trunk = self.estimator(meta["trunk"], "trunk", 0, "trunk")
        self.state(meta.get("trunk_fitted", {}), "trunk_fitted", trunk, "trunk", {})
        self.estimator_parameters(cls, meta["params"])
        self.state(meta["fitted"], "fitted", cls, "estimator",
                   {"heads": heads, "trunk_fitted": meta.get("trunk_fitted")})
        self.private(meta["private"], cls, heads, version)

    def heads(self, heads):
        """``[[name, head spec, fitted state], ...]``: ``{name: (class, parameters,
        fitted state)}``, each state checked once all heads are known."""
        if not isinstance(heads, list) or not heads:
            raise bad("heads", heads, "a non-empty list of [name, head spec, fitted state]")
        found = {}
        for i, entry in enumerate(heads):
            path = f"heads[{i}]"
            if not isinstance(entry, list) or len(entry) != 3:
                raise bad(path, entry, "a list [name, head spec, fitted state]")
            name, spec, state = entry
            if not isinstance(name, str) or not name or "__" in name or "/" in name:
                raise bad(f"{path}[0]", name, "a head name: a non-empty string without "
                                              "'__' or '/'")
            if name in found:
                raise Damage(f"{path}[0] repeats the head name {name!r}; expected "
                             "distinct names")
            found[name] = (self.estimator(spec, f"{path}[1]", 1, "head"), spec["params"],
                           state)
        for i, (name, (head_cls, _, state)) in enumerate(found.items()):
            self.state(state, f"heads[{i}][2]", head_cls, head_cls.__name__,
                       {"name": name, "heads": found})
        return found

    def estimator_parameters(self, cls, params):
        """The estimator's parameters: heads and trunk checked here (then built, to
        be checked against the estimator's constraints), the rest as values."""
        special = {}
        for name in CODE_PARAMETERS:
            if isinstance(params, dict) and params.get(name) not in (None, []):
                raise bad(f"params.{name}", params[name],
                          f"null: {name} are code, which a file never holds")
        if isinstance(params, dict) and "heads" in params and "heads" in \
                param_names(cls):
            given = params["heads"]
            if not isinstance(given, list):
                raise bad("params.heads", given, "a list of (name, head) pairs")
            special["heads"] = []
            for i, pair in enumerate(given):
                path = f"params.heads[{i}]"
                if not (is_tuple(pair) and len(pair["__tuple__"]) == 2):
                    raise bad(path, pair, "a (name, head) pair")
                name, spec = pair["__tuple__"]
                if not isinstance(name, str):
                    raise bad(f"{path}[0]", name, "a head name (a string)")
                self.estimator(spec, f"{path}[1]", 2, "head")
                special["heads"].append((name, decode(spec)))
        if isinstance(params, dict) and isinstance(params.get("trunk"), dict) and \
                "__estimator__" in params["trunk"]:
            self.estimator(params["trunk"], "params.trunk", 1, "trunk")
            special["trunk"] = decode(params["trunk"])
        self.parameters(cls, params, "params", 0, special=special)


def _element_check(dtype):
    """``(check, words)`` for the elements of an array of ``dtype``."""
    kind = dtype.kind
    if kind == "b":
        return (lambda v: isinstance(v, bool)), "true or false"
    if kind in "iu":
        info = np.iinfo(dtype)
        return ((lambda v: is_int(v) and info.min <= v <= info.max),
                f"an integer in [{info.min}, {info.max}]")
    if kind == "f":
        limit = float(np.finfo(dtype).max)

        def ok(v):
            if isinstance(v, float):
                return not math.isfinite(v) or abs(v) <= limit
            return is_int(v) and abs(v) <= limit
        return ok, f"a number within +-{limit:g}"
    width = dtype.itemsize // 4  # "U"
    return ((lambda v: isinstance(v, str) and len(v) <= width),
            f"a string of at most {width} character{'s' * (width != 1)}")
