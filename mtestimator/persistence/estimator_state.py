"""Declarations of an estimator's own fitted state: features, history, seeds, y's layout, copies of its heads' attributes.

The leaf types they build on (:class:`~.spec.Declaration`, :class:`~.spec.Array`,
...) and the registry are in :mod:`.spec`; see its docstring for how classes
declare their state and how ``relate`` sees the rest of a file.
"""

import json

from .spec import Array, Damage, Declaration, Integer, array_info, bad, is_int, is_scalar, \
    is_tuple, short

__all__ = ["ColumnNames", "FeatureNames", "Features", "FitSettings", "HeadCopy", "History",
           "Iterations", "Seed", "Shape", "TargetLayout"]


class Features(Integer):
    """``n_features_in_``: the first dimension of a sample (``input_shape_``),
    or, for a trunk with its own preprocessing (``trunk_fitted``), the number
    of columns it was fitted on."""

    def relate(self, value, path, state, context):
        trunk_fitted = context.get("trunk_fitted")
        if trunk_fitted:  # the network takes the trunk's encoding of X
            names = trunk_fitted.get("feature_names_")
            if isinstance(names, dict) and value != array_info(names)[1][0]:
                raise bad(path, value, f"the columns the trunk was fitted on "
                                       f"({array_info(names)[1][0]})")
            return
        shape = state.get("input_shape_")
        if is_tuple(shape) and shape["__tuple__"] and value != shape["__tuple__"][0]:
            raise bad(path, value, f"the features of input_shape_ "
                                   f"({shape['__tuple__'][0]}), what the network takes")


class Iterations(Integer):
    """``n_iter_``: the epochs of the longest training loss in ``history_``."""

    def relate(self, value, path, state, context):
        history = state.get("history_")
        if not isinstance(history, dict):
            return
        lengths = [len(v) for k, v in history.items() if not k.startswith("val_")]
        if lengths and value != max(lengths):
            raise bad(path, value, f"the epochs of history_ ({max(lengths)})")


class Seed(Declaration):
    expected = "null or an integer"

    def valid(self, value):
        return value is None or is_int(value)


class FitSettings(Declaration):
    """What partial_fit cannot change: ``{"optimizer": name, "uncertainty": flag}``."""

    expected = "null or an object {'optimizer': a string, 'uncertainty': true or false}"

    def valid(self, value):
        return value is None or (isinstance(value, dict)
                                 and set(value) == {"optimizer", "uncertainty"}
                                 and isinstance(value["optimizer"], str)
                                 and isinstance(value["uncertainty"], bool))


class Shape(Declaration):
    expected = "a tuple of non-negative integers"

    def valid(self, value):
        return is_tuple(value) and all(is_int(d) and d >= 0 for d in value["__tuple__"])


class History(Declaration):
    """Per-epoch losses (and metrics); ``per_head``: one network per head, whose
    losses are ``<head>_loss`` (and ``val_<head>_loss``) for every head of the
    file, and whose metrics (files written since they exist) are
    ``[val_]<head>_<its class's history_metric>``."""

    expected = "an object of lists of numbers"

    def __init__(self, *, per_head=False, required=False):
        super().__init__(required=required)
        self.per_head = per_head

    def valid(self, value):
        return isinstance(value, dict) and all(
            isinstance(v, list) and all(isinstance(x, (int, float))
                                        and not isinstance(x, bool) for x in v)
            for v in value.values())

    def relate(self, value, path, state, context):
        if not self.per_head:
            return
        heads = context["heads"]
        metrics = {h: getattr(cls, "history_metric", None) for h, (cls, _, _) in heads.items()}
        allowed = {f"{p}{h}_{what}" for h in heads for p in ("", "val_")
                   for what in ("loss", metrics[h]) if what is not None}
        wrong = sorted(set(value) - allowed)
        missing = [f"{h}_loss" for h in heads if f"{h}_loss" not in value]
        if wrong or missing:
            raise Damage(f"{path} has the keys {sorted(value)}; expected the losses of the "
                         f"heads' networks, {[f'{h}_loss' for h in heads]} (and "
                         "'val_<head>_loss' with early stopping, '[val_]<head>_<metric>' "
                         f"for the metrics {[f'{h}_{m}' for h, m in metrics.items() if m]})")


class HeadCopy(Array):
    """An estimator's copy of the attribute ``name`` of its one head that has it
    (``classes_`` of a single-head or joint estimator, ``threshold_``), a 1-D
    array of the dtype kinds ``kinds`` or null."""

    def __init__(self, name, kinds="biufU"):
        super().__init__(kinds, none=True)
        self.name = name

    def relate(self, value, path, state, context):
        owners = [(n, s[self.name]) for n, (_, _, s) in context["heads"].items()
                  if isinstance(s, dict) and self.name in s]
        if len(owners) != 1:
            raise Damage(f"{path} is set, but {len(owners)} heads of the file have "
                         f"{self.name}; expected the copy of the one head's")
        name, theirs = owners[0]
        if _json_text(value) != _json_text(theirs):
            raise Damage(f"{path} is {short(_json_text(value), 80)}; expected the head "
                         f"{name!r}'s {self.name} {short(_json_text(theirs), 80)}")


def _json_text(value):
    """A JSON value as text: equal values give equal texts (NaN too)."""
    if isinstance(value, dict) and "__ndarray__" in value:
        value = value["__ndarray__"]
    return json.dumps(value, sort_keys=True)


class FeatureNames(Array):
    """``feature_names_in_``: distinct strings, one per feature: ``n_features_in_``
    of them, or (a KerasTrunk keeps no ``n_features_in_``) the first dimension of
    ``input_shape_``."""

    def __init__(self):
        super().__init__("U")

    def relate(self, value, path, state, context):
        names = value["__ndarray__"]
        if len(set(names)) != len(names):
            raise bad(path, value, f"distinct column names; it holds {short(repr(names))}")
        shape = state.get("input_shape_")
        if "n_features_in_" in state:
            count, source = state["n_features_in_"], "n_features_in_"
        elif is_tuple(shape) and shape["__tuple__"]:
            count, source = shape["__tuple__"][0], "the features of input_shape_"
        else:
            return
        if count != len(names):
            raise Damage(f"{path} has {len(names)} names; expected {source} ({count}), "
                         "one per feature")


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
    """y's columns by head: ``[(column, head name), ...]`` in y's order, each
    head's columns those its ``columns`` parameter names (a DataFrame's
    labels, or positions), as many as it predicts; null only for one head
    on the whole y."""

    expected = "null or a list of (column, head name) pairs"

    def valid(self, value):
        return value is None or isinstance(value, list)

    def relate(self, value, path, state, context):
        heads = context["heads"]
        names = list(heads)
        if value is None:
            if len(heads) != 1:
                raise Damage(f"{path} is null, which only one head may have; expected "
                             f"the columns of the heads {names}")
            return
        owned = {name: [] for name in names}
        for i, pair in enumerate(value):
            where = f"{path}[{i}]"
            if not (is_tuple(pair) and len(pair["__tuple__"]) == 2
                    and column(pair["__tuple__"][0])):
                raise bad(where, pair, "a (column, head name) pair")
            key, owner = pair["__tuple__"]
            if owner not in heads:
                raise bad(f"{where}[1]", owner, f"the name of a head, one of {names}")
            owned[owner].append(key)
        missing = [h for h in names if not owned[h]]
        if missing:
            raise Damage(f"{path} gives no column to the heads {missing}; expected at "
                         "least one column per head")
        keys = [_json_text(pair["__tuple__"][0]) for pair in value]
        frame = state.get("_target_frame_columns")
        order = [_json_text(c) for c in frame] if isinstance(frame, list) else \
            [_json_text(i) for i in range(len(value))]
        positions = [order.index(k) if k in order else None for k in keys]
        if None in positions or positions != sorted(set(positions)):
            raise Damage(f"{path} lists the columns {_shown(keys)}; expected distinct "
                         f"columns of y in y's order, {_shown(order)}")
        for name, (cls, params, _) in heads.items():
            wanted = _head_columns(params.get("columns") if isinstance(params, dict)
                                   else None, order)
            if wanted is not None and sorted(wanted) != sorted(
                    order.index(_json_text(k)) for k in owned[name]):
                got = [order[p] for p in sorted(order.index(_json_text(k))
                                                for k in owned[name])]
                raise Damage(f"{path} gives head {name!r} the columns {_shown(got)}; "
                             f"expected those of its columns parameter, "
                             f"{_shown([order[p] for p in wanted])}")


def _shown(texts):
    """Columns given as JSON texts, shown as the values they are."""
    return short(repr([json.loads(t) for t in texts]), 120)


def _head_columns(columns, order):
    """The positions in y (``order``: the columns as JSON texts) of a head's
    ``columns`` parameter (JSON), or None when they cannot be told."""
    if columns is None:
        return None
    items = columns if isinstance(columns, list) else \
        columns["__tuple__"] if is_tuple(columns) else [columns]
    found = []
    for item in items:
        text = _json_text(item)
        if text in order:
            found.append(order.index(text))
        elif is_int(item) and -len(order) <= item < len(order):
            found.append(item % len(order))
        else:
            return None
    return found
