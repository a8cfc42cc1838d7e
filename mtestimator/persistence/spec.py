"""The registry of classes a saved file may name, and the leaf declarations of fitted state.

A leaf module: it imports nothing of mtestimator. Estimators, heads and
trunks call :func:`register` when their module is imported, and declare
their own fitted state as class attributes, which :mod:`.schema` reads to
check a file:

``_fitted_state``
    ``{attribute: declaration}``: the public fitted attributes (``classes_``)
    and what each must be. :class:`Rebuilt` ones are not written as values
    (the networks, the fitted heads and trunk): the file rebuilds them.
``_private_state``
    ``{attribute: declaration}``: the private fitted state prediction needs
    (estimators only); a file holds exactly these keys.
``_persisted_as``
    ``"estimator"``, ``"head"`` or ``"trunk"``: where in a file the class
    may stand.

A subclass's declarations add to (and override) those of its bases. A
file may set no attribute its class does not declare. ``relate`` checks an
attribute against the others of its object and, through ``context``,
against the rest of the file: ``context["heads"]`` maps each head's name to
``(class, parameters, fitted state)`` as the file gives them (JSON), and
``context["name"]`` is the name of the head being checked. The declarations
of an estimator's own state (features, history, y's layout) are in
:mod:`.estimator_state`.
"""

import math

import numpy as np

__all__ = ["REGISTRY", "Array", "ArrayList", "ClassWeights", "Classes", "ConditionHead",
           "Damage", "Declaration", "Edges", "Flag", "HeadName", "Integer", "NULLABLE", "OneOf",
           "PerUnits", "Rebuilt", "TargetDtypes", "Text", "declared", "register"]

#: Class name -> class, for every class a saved file may name.
REGISTRY = {}


def register(cls):
    """Class decorator: ``cls`` may be named by a saved file."""
    REGISTRY[cls.__name__] = cls
    return cls


def declared(cls, kind):
    """``cls``'s declarations of ``kind`` (``"_fitted_state"`` or
    ``"_private_state"``), its bases' first."""
    merged = {}
    for klass in reversed(cls.__mro__):
        merged.update(vars(klass).get(kind, {}))
    return merged


# -- how damage is described -------------------------------------------------------------

class Damage(Exception):
    """A problem in mtestimator.json: ``load`` turns it into a ValueError."""


def short(text, limit=60):
    return text if len(text) <= limit else text[:limit - 3] + "..."


def describe(value):
    """What was found, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"the integer {short(str(value))}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {short(repr(value))}"
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
            return f"an estimator spec naming {short(repr(value['__estimator__']))}"
        if "__callable__" in value:
            return "a function placeholder"
        keys = sorted(value)
        shown = ", ".join(short(repr(k), 30) for k in keys[:5])
        return f"an object with keys [{shown}{', ...' if len(keys) > 5 else ''}]"
    return type(value).__name__  # not reached: JSON has no other types


def bad(path, value, expected):
    return Damage(f"{path} is {describe(value)}; expected {expected}")


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_tuple(value):
    return isinstance(value, dict) and set(value) == {"__tuple__"} and \
        isinstance(value["__tuple__"], list)


def is_scalar(value):
    return value is None or isinstance(value, (bool, int, float, str))


def array_info(value):
    """``(dtype, shape)`` of an array spec that passed the checks."""
    shape, level = [], value["__ndarray__"]
    while isinstance(level, list):
        shape.append(len(level))
        if not level:
            break
        level = level[0]
    return np.dtype(value["dtype"]), tuple(shape)


# -- declarations ------------------------------------------------------------------------

class Declaration:
    """What one fitted attribute must be. ``valid(value)`` checks the JSON value
    alone (else the file is damaged: "expected ``self.expected``");
    ``relate(value, path, state, context)`` checks it against the other
    attributes of the same object and the rest of the file once all are
    valid (raises :class:`Damage`). ``required``: a fitted object always has
    it; ``since``: in files of this format version on (private state)."""

    expected = "a value"

    def __init__(self, *, required=False, since=2):
        self.required, self.since = required, since

    def valid(self, value):
        return True

    def relate(self, value, path, state, context):
        pass


class Rebuilt(Declaration):
    """Not written as a value: the file rebuilds it (networks, fitted heads, trunk)."""


class Integer(Declaration):
    """An integer of at least ``minimum``; ``equals``: the name of another
    attribute it must equal."""

    def __init__(self, minimum=0, *, equals=None, required=False):
        super().__init__(required=required)
        self.minimum, self.equals = minimum, equals
        self.expected = "a positive integer" if minimum == 1 else "a non-negative integer"

    def valid(self, value):
        return is_int(value) and value >= self.minimum

    def relate(self, value, path, state, context):
        if self.equals is not None and self.equals in state and value != state[self.equals]:
            raise bad(path, value, f"{self.equals} ({state[self.equals]})")


class Flag(Declaration):
    expected = "true or false"

    def valid(self, value):
        return isinstance(value, bool)


class Text(Declaration):
    expected = "a string"

    def valid(self, value):
        return isinstance(value, str)


class HeadName(Text):
    """A head's own name: that of its entry in the file."""

    def relate(self, value, path, state, context):
        if value != context["name"]:
            raise bad(path, value, f"the head's name {context['name']!r}")


class ConditionHead(Text):
    """The head that predicts a conditional head's condition: another head of
    the file, a ClassificationHead."""

    def relate(self, value, path, state, context):
        heads = context["heads"]
        others = [n for n, (cls, _, _) in heads.items()
                  if n != context["name"] and cls.__name__ == "ClassificationHead"]
        if value not in others:
            raise bad(path, value, f"the name of another ClassificationHead of the file, "
                                   f"one of {others}")


class OneOf(Declaration):
    def __init__(self, *options, required=False, since=2):
        super().__init__(required=required, since=since)
        self.options = options
        self.expected = " or ".join(repr(o) for o in options)

    def valid(self, value):
        return isinstance(value, str) and value in self.options


class PerUnits(OneOf):
    """``one`` for a head of one output unit, else ``many`` (sigmoid or softmax)."""

    def __init__(self, one, many, *, required=False):
        super().__init__(one, many, required=required)

    def relate(self, value, path, state, context):
        units = state.get("output_units_")
        wanted = self.options[0] if units == 1 else self.options[1]
        if value != wanted:
            raise bad(path, value, f"{wanted!r} for output_units_ ({units})")


_KIND_WORDS = {"biufU": "", "f": " of floats", "U": " of strings"}


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Array(Declaration):
    """A 1-D array of the dtype kinds ``kinds``; ``none``: null allowed;
    ``per_unit``: one value per output unit (``output_units_``); ``finite``:
    every value a finite number, at least ``low`` (above it with
    ``open_low``) and at most ``high``; ``meaning``: what the values are, for
    messages."""

    def __init__(self, kinds="biufU", *, none=False, per_unit=False, required=False,
                 finite=False, low=None, high=None, open_low=False, meaning=None):
        super().__init__(required=required)
        self.kinds, self.none, self.per_unit = kinds, none, per_unit
        self.finite, self.low, self.high, self.open_low = finite, low, high, open_low
        self.expected = f"{'null or ' if none else ''}a 1-D array{_KIND_WORDS[kinds]}"
        words = "a finite number"
        if low is not None and high is not None:
            words += f" in {'(' if open_low else '['}{low:g}, {high:g}]"
        elif low is not None:
            words += f" {'>' if open_low else '>='} {low:g}"
        self.element = words + (f" ({meaning})" if meaning else "")

    def valid(self, value):
        if self.none and value is None:
            return True
        if not (isinstance(value, dict) and "__ndarray__" in value):
            return False
        dtype, shape = array_info(value)
        return len(shape) == 1 and dtype.kind in self.kinds

    def _in_range(self, v):
        if not (_number(v) and math.isfinite(v)):
            return False
        if self.low is not None and (v <= self.low if self.open_low else v < self.low):
            return False
        return self.high is None or v <= self.high

    def relate(self, value, path, state, context):
        if value is None:
            return
        if self.finite:
            for i, item in enumerate(value["__ndarray__"]):
                if not self._in_range(item):
                    raise bad(f"{path}[{i}]", item, self.element)
        if self.per_unit:
            size, units = array_info(value)[1][0], state["output_units_"]
            if size != units:
                raise Damage(f"{path} has {size} values; expected output_units_ ({units})")


class ArrayList(Declaration):
    """A list of 1-D arrays of the dtype kinds ``kinds`` (one per column: its levels)."""

    expected = "a list of 1-D arrays"

    def __init__(self, kinds="biufU", **kwargs):
        super().__init__(**kwargs)
        self.item = Array(kinds)

    def valid(self, value):
        return isinstance(value, list) and all(self.item.valid(v) for v in value)


class Edges(Declaration):
    """Bin edges: a 2-D float array, each row non-decreasing and without NaN
    (infinite padding allowed), or an empty array."""

    expected = "a 2-D float array of non-decreasing rows (bin edges)"

    def valid(self, value):
        if not (isinstance(value, dict) and "__ndarray__" in value):
            return False
        dtype, shape = array_info(value)
        if dtype.kind != "f" or len(shape) != 2 and shape != (0,):
            return False
        rows = np.asarray(value["__ndarray__"], dtype=np.float64).reshape(
            shape if len(shape) == 2 else (0, 0))
        return not np.isnan(rows).any() and bool((np.diff(rows, axis=1) >= 0).all())


class Classes(Array):
    """The classes of a head: distinct (``ordered``: sorted as ``np.unique``
    gives them, the order of the output units), as many as its output units
    (or 2 for one unit)."""

    def __init__(self, *, ordered=True, required=False):
        super().__init__(required=required)
        self.ordered = ordered

    def relate(self, value, path, state, context):
        classes = value["__ndarray__"]
        unique = np.unique(np.asarray(classes, dtype=np.dtype(value["dtype"]))).tolist()
        if len(unique) != len(classes):
            raise bad(path, value, f"distinct classes; it holds {short(repr(classes))}")
        if self.ordered and unique != classes:
            raise Damage(f"{path} holds the classes {short(repr(classes))}; expected them "
                         f"sorted as np.unique gives them, {short(repr(unique))} (the order "
                         "of the network's outputs)")
        n_classes, units = len(classes), state["output_units_"]
        if n_classes != units and not (units == 1 and n_classes == 2):
            raise Damage(f"{path} has {n_classes} classes, which output_units_ ({units}) "
                         f"cannot predict; expected {units} classes"
                         f"{' (or 2)' if units == 1 else ''}")


class ClassWeights(Array):
    """Null, or one finite non-negative weight per class (``classes_``)."""

    def __init__(self):
        super().__init__("f", none=True, finite=True, low=0, meaning="a class weight")

    def relate(self, value, path, state, context):
        super().relate(value, path, state, context)
        if value is not None and "classes_" in state:
            size, n_classes = array_info(value)[1][0], array_info(state["classes_"])[1][0]
            if size != n_classes:
                raise Damage(f"{path} has {size} values; expected one per class "
                             f"({n_classes})")



#: The nullable (extension) dtypes of y a head's predictions are put back in, by name.
NULLABLE = ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
            "Float32", "Float64", "boolean", "string")


def _dtype_entry(entry):
    if entry is None:
        return True
    if not isinstance(entry, dict):
        return False
    if set(entry) == {"dtype"}:
        return entry["dtype"] in NULLABLE
    categories = entry.get("categories")
    return (set(entry) == {"dtype", "categories", "ordered"} and entry["dtype"] == "category"
            and isinstance(entry["ordered"], bool) and isinstance(categories, list)
            and all(is_scalar(c) and c is not None for c in categories)
            and len({repr(c) for c in categories}) == len(categories))


class TargetDtypes(Declaration):
    """Null, or one entry per column of a head's y: null, ``{"dtype": name}``
    (a nullable dtype) or ``{"dtype": "category", "categories": [...],
    "ordered": bool}`` (distinct categories)."""

    expected = ('null or a list of null, {"dtype": <nullable dtype>} or {"dtype": '
                '"category", "categories": [distinct values], "ordered": bool}')

    def valid(self, value):
        return value is None or isinstance(value, list) and all(map(_dtype_entry, value))

    def relate(self, value, path, state, context):
        columns = context["heads"][context["name"]][1].get("columns")
        # a list: one entry per column; a str or int: one; None or a tuple (several
        # columns, or one MultiIndex column): as y had them
        n = len(columns) if isinstance(columns, list) else \
            1 if isinstance(columns, (str, int)) else None
        if value is not None and n is not None and len(value) != n:
            raise Damage(f"{path} has {len(value)} entries; expected one per column of the "
                         f"head ({n})")
