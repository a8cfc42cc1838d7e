"""How y is split between the heads, and how their predictions are put back together.

A head takes its ``columns`` of y (labels of a DataFrame, by label only, ints
too; positions of an array; ``None`` is the whole y for a single head). :func:`split_targets`
gives each head its part and learns y's layout (which column goes to which
head, y's column names); :func:`conditions` finds the rows of each
conditional head; :func:`decode_all` decodes raw network outputs head by
head, conditional heads last; :func:`assemble` puts the predictions back in
y's layout; :func:`validation_split` carves the early-stopping set out. Plain functions of their arguments: the estimator keeps the
layout (``_target_layout``, ``_target_frame_columns``).
"""

import numbers

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.model_selection import train_test_split

from ._dtypes import restore
from .heads import _missing_mask

__all__ = ["assemble", "classes_of", "conditions", "decode_all", "split_targets", "validation_split"]


def _is_frame(y):
    return isinstance(y, pd.DataFrame)


def _is_position(col):
    return isinstance(col, numbers.Integral) and not isinstance(col, (bool, np.bool_))


def column_list(name, columns, labels=None):
    """``(single, [column, ...])`` of a head's ``columns`` (checked): a tuple
    that is itself one of y's ``labels`` (a MultiIndex column) is one column."""
    single = not isinstance(columns, (list, tuple)) or (
        isinstance(columns, tuple) and labels is not None and columns in labels)
    cols = [columns] if single else list(columns)
    if not cols:
        raise ValueError(
            f"Head {name!r} has columns={columns!r}, an empty list: a head needs at "
            "least one column of y. Give its columns, or drop the head."
        )
    for col in cols:
        if not (_is_position(col) or isinstance(col, str)
                or (isinstance(col, tuple) and labels is not None and col in labels)):
            raise ValueError(
                f"Head {name!r} has columns={columns!r}: {col!r} is not a column; a "
                "column is a name of a DataFrame y (a str or int label) or a position "
                "(an int) in an array y. Give columns as such, e.g. columns='price' "
                "or columns=[0, 1]."
            )
    return single, cols


def _key(name, col, available, frame):
    """The column of y a head's ``col`` names: by label in a DataFrame (ints
    too), by position in an array."""
    if frame:
        for c in available:
            if col == c and (_is_position(col) and _is_position(c) or isinstance(col, str)
                             and isinstance(c, str) or isinstance(c, tuple)):
                return c
        hint = (" Columns of a DataFrame y are taken by label only, never by "
                "position: name the column, or pass y as an array."
                if _is_position(col) else "")
        raise ValueError(
            f"Head {name!r} takes column {col!r}, which y does not have; y's "
            f"columns are {available!r}.{hint}"
        )
    if isinstance(col, str):
        raise ValueError(
            f"Head {name!r} names the column {col!r}, but y is not a "
            "DataFrame: pass y as a DataFrame, or give columns as positions."
        )
    if not -len(available) <= col < len(available):
        raise ValueError(
            f"Head {name!r} takes column {col!r}, which y does not have: y has "
            f"{len(available)} column(s), positions 0 to {len(available) - 1}."
        )
    return available[col]


def split_targets(y, heads, owner, reset):
    """Each head's part of y (a dict by head name), and on reset y's layout:
    ``(parts, layout, frame_columns)`` (the layout is None when not reset)."""
    layout = frame_columns = None
    if _is_frame(y):
        duplicated = sorted({repr(c) for c in y.columns[y.columns.duplicated()]})
        if duplicated:
            raise ValueError(
                f"y has duplicate column names {', '.join(duplicated)}: a head takes "
                "its columns by name, so each name must be unique. Rename the "
                "columns of y."
            )
    if len(heads) == 1 and heads[0][1].columns is None:
        if reset:
            frame_columns = list(y.columns) if _is_frame(y) else None
        return {heads[0][0]: y}, None, frame_columns
    for name, head in heads:
        if head.columns is None:
            raise ValueError(
                f"Head {name!r} of {owner} has columns=None (the whole y), which "
                "only a single head may have; give each head its columns."
            )
    frame = _is_frame(y)
    if not frame:
        y = y.toarray() if sp.issparse(y) else np.asarray(y)
        if y.ndim != 2:
            raise ValueError(
                f"y must be a 2-D array or a DataFrame with the columns of the heads "
                f"of {owner}; got an array of shape {y.shape}."
            )
    available = list(y.columns) if frame else list(range(y.shape[1]))
    parts, used = {}, {}
    for name, head in heads:
        single, cols = column_list(name, head.columns, available if frame else None)
        keys = []
        for col in cols:
            key = _key(name, col, available, frame)
            if key in used:
                raise ValueError(
                    f"Column {key!r} of y is taken by heads {used[key]!r} and {name!r}; "
                    "give each head its own column (copy the column to use it twice)."
                )
            used[key] = name
            keys.append(key)
        if frame:
            parts[name] = y[keys[0]] if single else y[keys]
        else:
            parts[name] = y[:, keys[0]] if single else y[:, keys]
    if reset:
        if not frame and len(used) < len(available):
            unused = [c for c in available if c not in used]
            raise ValueError(
                f"Columns {unused!r} of y are taken by no head of {owner}; drop them "
                "or add a head for them."
            )
        layout = [(c, used[c]) for c in available if c in used]
        frame_columns = list(y.columns) if frame else None
    return parts, layout, frame_columns


def conditions(parts, heads, owner, reset):
    """For each conditional head, the rows whose true condition class holds."""
    named = dict(heads)
    active = {}
    for name, head in heads:
        if head.when is None:
            continue
        when = head.when
        if not (len(when) == 2 and np.ndim(when[1]) == 1 and not isinstance(when[1], str)):
            raise ValueError(
                f"The 'when' parameter of head {name!r} must be (column, list of "
                f"values), e.g. ('status', ['paid']); got {when!r}."
            )
        cond = next((n for n, h in heads if h.kind == "classifier" and h is not head
                     and h.columns == when[0] and h.when is None), None)
        if cond is None:
            raise ValueError(
                f"Head {name!r} has when={when!r}, but no unconditional "
                f"ClassificationHead of {owner} takes column {when[0]!r}: "
                "the condition is predicted by such a head. Add one."
            )
        labels = named[cond].transform_targets(parts[cond])
        present = ~_missing_mask(np.asarray(labels))
        if reset:
            given = labels[present]  # matched as the rows are below (1 matches 1.0)
            seen = np.unique(given.astype(str)).tolist()
            never = [v for v in when[1] if not np.isin(given, [v]).any()]
            if never:
                raise ValueError(
                    f"Head {name!r} has when={when!r}, but {never!r} never occur in "
                    f"column {when[0]!r} of y; its classes are {seen!r}. Fix the values."
                )
            head.condition_head_ = cond
        active[name] = np.isin(labels, list(when[1])) & present
    return active


def classes_of(classes, heads, name, owner):
    """What ``partial_fit(classes=...)`` gives head ``name`` (a dict names heads)."""
    if not isinstance(classes, dict):
        return classes
    names = [n for n, _ in heads]
    unknown = [k for k in classes if k not in names]
    if unknown:
        raise ValueError(
            f"classes={classes!r} names {unknown!r}, which are not heads of {owner}; "
            f"its heads are {names!r}. Key the dict by head name."
        )
    return classes.get(name)


def decode_all(fitted_heads, raw, names=None):
    """Decoded predictions by head name; conditional heads get ``otherwise``
    where their predicted condition class does not hold."""
    heads = dict(fitted_heads)
    names = list(heads) if names is None else names
    wanted = set(names) | {heads[n].condition_head_ for n in names
                           if heads[n].when is not None}
    out = {n: heads[n].decode(raw[n]) for n in heads if n in wanted}
    for n in names:
        if heads[n].when is not None:
            out[n] = heads[n].apply_condition(out[n], out[heads[n].condition_head_])
    return {n: out[n] for n in names}


def _dtypes_of(head, n):
    """A head's ``target_dtypes_`` (one per column; None each before it had them)."""
    specs = getattr(head, "target_dtypes_", None)
    return specs if specs is not None and len(specs) == n else [None] * n


def assemble(predictions, fitted_heads, layout, frame_columns, *, frame_output, index):
    """Head predictions in the layout of y (a DataFrame with ``index`` when y
    was one and ``frame_output``, each column in y's dtype: :mod:`._dtypes`).
    A layout holding only some heads' columns gives those columns."""
    frame = frame_output and frame_columns is not None
    if layout is None:  # one head on the whole y
        (out,) = predictions.values()
        if frame:
            specs = _dtypes_of(fitted_heads[0][1], len(frame_columns))
            if out.ndim == 1:
                return pd.Series(restore(out, specs[0]), index=index,
                                 name=frame_columns[0]
                                 if len(frame_columns) == 1 else None)
            table = pd.DataFrame(out, columns=frame_columns, index=index)
            for i, spec in enumerate(specs):
                if spec is not None:
                    table.isetitem(i, restore(out[:, i], spec))
            return table
        return out
    columns = {}
    available = frame_columns if frame_columns is not None else [k for k, _ in layout]
    for name, head in fitted_heads:
        if name not in predictions:
            continue
        pred = predictions[name]
        # the head's own column order: the order of its outputs
        keys = [_key(name, col, available, frame_columns is not None)
                for col in column_list(name, head.columns, frame_columns)[1]]
        specs = _dtypes_of(head, len(keys)) if frame else [None] * len(keys)
        for i, key in enumerate(keys):
            columns[key] = restore(pred if pred.ndim == 1 else pred[:, i], specs[i])
    if frame:
        return pd.DataFrame({key: columns[key] for key, _ in layout},
                            index=index)
    ordered = [columns[key] for key, _ in layout]
    if all(c.dtype.kind in "biuf" for c in ordered):
        return np.column_stack(ordered).astype(np.result_type(*ordered))
    out = np.empty((len(ordered[0]), len(ordered)), dtype=object)
    for j, col in enumerate(ordered):
        out[:, j] = col
    return out


def validation_split(X, Y, W, natural, heads, fraction, seed, why="early_stopping=True"):
    """The held-out validation set carved out of the training data (for early
    stopping, and for the heads' calibration and tuning): ``(X, Y, W, natural)``
    of the training rows, then of the validation rows (stratified on the
    first head that stratifies, when it can be), then ``(train, val)``, their
    positions. ``why`` names what asked for it in the error."""
    n = len(X)
    stratify = next((s for s in (h.stratify(natural[name]) for name, h in heads)
                     if s is not None), None)
    if stratify is not None and np.min(np.unique(stratify, return_counts=True)[1]) < 2:
        stratify = None  # a class with one member cannot be split
    try:
        train, val = train_test_split(np.arange(n), test_size=fraction,
                                      random_state=seed, stratify=stratify)
    except ValueError:
        train, val = [], []
    if len(train) == 0 or len(val) == 0:
        raise ValueError(
            f"{why} needs a validation set, but "
            f"validation_fraction={fraction} of {n} samples "
            "leaves an empty training or validation set. Use more samples, "
            f"another validation_fraction, or {_without(why)}."
        )

    def take(idx):
        return (X[idx], {k: v[idx] for k, v in Y.items()},
                {k: v[idx] for k, v in W.items()},
                {k: v[idx] for k, v in natural.items()})

    return take(train), take(val), (train, val)


def _without(why):
    """The way out of a held-out split that ``why`` asked for."""
    return "early_stopping=False" if why == "early_stopping=True" else "calibration=None"
