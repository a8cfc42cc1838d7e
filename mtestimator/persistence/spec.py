"""The registry of classes a saved file may name, and the declarations of fitted state.

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

A subclass's declarations add to (and override) those of its bases.
Attributes a class does not declare may still be in a file, as plain
values, when their names look like fitted attributes.
"""

import numpy as np

__all__ = ["REGISTRY", "Array", "ClassWeights", "Classes", "ColumnNames", "Damage", "Flag",
           "HeadName", "History", "Integer", "OneOf", "Rebuilt", "Seed", "Shape",
           "TargetLayout", "Text", "declared", "register"]

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
    attributes of the same object once all are valid (raises :class:`Damage`).
    ``required``: a fitted object always has it."""

    expected = "a value"

    def __init__(self, *, required=False):
        self.required = required

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


class OneOf(Declaration):
    def __init__(self, *options, required=False):
        super().__init__(required=required)
        self.options = options
        self.expected = " or ".join(repr(o) for o in options)

    def valid(self, value):
        return isinstance(value, str) and value in self.options


class Seed(Declaration):
    expected = "null or an integer"

    def valid(self, value):
        return value is None or is_int(value)


class Shape(Declaration):
    expected = "a tuple of non-negative integers"

    def valid(self, value):
        return is_tuple(value) and all(is_int(d) and d >= 0 for d in value["__tuple__"])


class History(Declaration):
    expected = "an object of lists of numbers"

    def valid(self, value):
        return isinstance(value, dict) and all(
            isinstance(v, list) and all(isinstance(x, (int, float))
                                        and not isinstance(x, bool) for x in v)
            for v in value.values())


_KIND_WORDS = {"biufU": "", "f": " of floats", "U": " of strings"}


class Array(Declaration):
    """A 1-D array of the dtype kinds ``kinds``; ``none``: null allowed;
    ``per_unit``: one value per output unit (``output_units_``)."""

    def __init__(self, kinds="biufU", *, none=False, per_unit=False, required=False):
        super().__init__(required=required)
        self.kinds, self.none, self.per_unit = kinds, none, per_unit
        self.expected = f"{'null or ' if none else ''}a 1-D array{_KIND_WORDS[kinds]}"

    def valid(self, value):
        if self.none and value is None:
            return True
        if not (isinstance(value, dict) and "__ndarray__" in value):
            return False
        dtype, shape = array_info(value)
        return len(shape) == 1 and dtype.kind in self.kinds

    def relate(self, value, path, state, context):
        if self.per_unit and value is not None:
            size, units = array_info(value)[1][0], state["output_units_"]
            if size != units:
                raise Damage(f"{path} has {size} values; expected output_units_ ({units})")


class Classes(Array):
    """The classes of a head: as many as its output units (or 2 for one unit);
    ``units=False``: an estimator's copy, not checked against units."""

    def __init__(self, *, units=True, required=False):
        super().__init__(required=required)
        self.units = units

    def relate(self, value, path, state, context):
        if not self.units:
            return
        n_classes, units = array_info(value)[1][0], state["output_units_"]
        if n_classes != units and not (units == 1 and n_classes == 2):
            raise Damage(f"{path} has {n_classes} classes, which output_units_ ({units}) "
                         f"cannot predict; expected {units} classes"
                         f"{' (or 2)' if units == 1 else ''}")


class ClassWeights(Array):
    """Null, or one weight per class (``classes_``)."""

    def __init__(self):
        super().__init__("f", none=True)

    def relate(self, value, path, state, context):
        if value is not None and "classes_" in state:
            size, n_classes = array_info(value)[1][0], array_info(state["classes_"])[1][0]
            if size != n_classes:
                raise Damage(f"{path} has {size} values; expected one per class "
                             f"({n_classes})")


class ColumnNames(Declaration):
    """Null, or the column names of a DataFrame y (scalars or tuples of them)."""

    expected = "null or a list of column names"

    def valid(self, value):
        return value is None or (isinstance(value, list) and all(column(c) for c in value))


def column(value):
    """A column name: a scalar, or a tuple of scalars."""
    return is_scalar(value) or (is_tuple(value) and all(is_scalar(v)
                                                        for v in value["__tuple__"]))


class TargetLayout(Declaration):
    """y's columns by head: ``[(column, head name), ...]``, at least one column
    per head; null only for one head on the whole y."""

    expected = "null or a list of (column, head name) pairs"

    def valid(self, value):
        return value is None or isinstance(value, list)

    def relate(self, value, path, state, context):
        heads = context["heads"]
        if value is None:
            if len(heads) != 1:
                raise Damage(f"{path} is null, which only one head may have; expected "
                             f"the columns of the heads {heads}")
            return
        owners = set()
        for i, pair in enumerate(value):
            where = f"{path}[{i}]"
            if not (is_tuple(pair) and len(pair["__tuple__"]) == 2
                    and column(pair["__tuple__"][0])):
                raise bad(where, pair, "a (column, head name) pair")
            owner = pair["__tuple__"][1]
            if owner not in heads:
                raise bad(f"{where}[1]", owner, f"the name of a head, one of {heads}")
            owners.add(owner)
        missing = [h for h in heads if h not in owners]
        if missing:
            raise Damage(f"{path} gives no column to the heads {missing}; expected at "
                         "least one column per head")
