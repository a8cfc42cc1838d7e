"""Reading a fitted network as text: the estimators' ``summary`` table.

:func:`summary` is a plain-text table of the trunk and the heads of a fitted
estimator (output units, activation, loss, loss weight, metric, parameter
counts, last-epoch losses). Pictures are in :mod:`mtestimator._diagram`.
Nothing in this module imports Keras at import time.
"""

import math

from sklearn.utils.validation import check_is_fitted

from ._pipeline import final_estimator

__all__ = ["summary"]

_ALL_OF_Y = "all of y"
_MISSING = "-"
_COLUMNS_WIDTH = 30
_REPR_WIDTH = 100


# -- summary ---------------------------------------------------------------------


def _columns_text(columns):
    """A head's ``columns`` in a few characters: ``a, b``, ``kind``, ``0``."""
    if columns is None:
        return _ALL_OF_Y
    items = [str(c) for c in columns] if isinstance(columns, (list, tuple)) else [str(columns)]
    text = ", ".join(items)
    if len(text) <= _COLUMNS_WIDTH:
        return text
    suffix = f", ... ({len(items)} columns)"
    shown = []
    for item in items:
        if len(", ".join([*shown, item])) + len(suffix) > _COLUMNS_WIDTH:
            break
        shown.append(item)
    return ", ".join(shown) + suffix if shown else f"{len(items)} columns"


def _loss_name(head):
    """The name of a head's loss: a Keras name string, or a loss object's name."""
    try:
        loss = head.build_loss()
    except Exception:  # a head that cannot say (unfitted, custom): leave it blank
        loss = getattr(head, "loss_", None)
    if loss is None:
        return _MISSING
    if isinstance(loss, str):
        return loss
    name = getattr(loss, "name", None) or getattr(loss, "__name__", None)
    return str(name) if name else type(loss).__name__


def _metric_name(head):
    metric = getattr(head, "metric", None)
    if metric is None:
        return _MISSING
    return getattr(metric, "__name__", None) or type(metric).__name__


def _number(value):
    """A loss value with 4 significant digits (or '-')."""
    if value is None:
        return _MISSING
    try:
        value = float(value)
    except (TypeError, ValueError):
        return _MISSING
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _last(history, key):
    values = history.get(key) if isinstance(history, dict) else None
    return values[-1] if values else None


def _uses_uncertainty(est):
    hook = getattr(est, "_uncertainty", None)
    if callable(hook):
        try:
            return bool(hook())
        except Exception:
            pass
    return isinstance(getattr(est, "loss_weights", None), str) and est.loss_weights == "auto"


def _layer(model, name):
    try:
        return model.get_layer(name)
    except (ValueError, KeyError, AttributeError):
        return None


def _learned_weight(model, name):
    """``exp(-log_var)`` of the head's ``<name>_uncertainty`` layer, or None."""
    layer = _layer(model, f"{name}_uncertainty")
    if layer is None:
        return None
    try:
        import numpy as np

        (log_var,) = layer.get_weights()
        return float(np.exp(-np.asarray(log_var, dtype=np.float64)))
    except (ValueError, TypeError):
        return None


def _loss_weight_text(head, learned, auto):
    if auto:
        return "auto" if learned is None else f"auto (learned: {learned:.2f})"
    weight = getattr(head, "loss_weight", None)
    if weight is None:
        return _MISSING
    try:
        return f"{float(weight):g}"
    except (TypeError, ValueError):
        return str(weight)


def _params(layer_or_model):
    try:
        return int(layer_or_model.count_params())
    except Exception:  # an unbuilt layer
        return 0


def _table(header, rows, right):
    """Columns padded to their widest cell; ``right`` names right-aligned columns."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "  ".join(
            (str(c).rjust(w) if header[i] in right else str(c).ljust(w))
            for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *[line(r) for r in rows]]


def _indented_repr(obj, prefix):
    """``prefix + repr(obj)``, continuation lines indented under the first."""
    text = repr(obj)
    lines = text.splitlines() or [""]
    if len(lines) == 1 and len(prefix) + len(text) > _REPR_WIDTH:
        lines = [text[:_REPR_WIDTH - len(prefix) - 3] + "..."]
    pad = " " * len(prefix)
    return "\n".join([prefix + lines[0], *(pad + line for line in lines[1:])])


def _units_text(head):
    """The output's units, after the tower's sizes when the head has one ("[16, 8] 3")."""
    units = getattr(head, "output_units_", None)
    if units is None:
        return _MISSING
    sizes = getattr(head, "hidden_layer_sizes", ())
    sizes = [sizes] if isinstance(sizes, int) else list(sizes or ())
    return f"{sizes} {units}" if sizes else str(units)


def _head_params(model, name):
    """Parameters of the head's output layer and its tower's layers."""
    return sum(_params(layer) for layer in getattr(model, "layers", [])
               if layer.name == name or layer.name.startswith(f"{name}_tower_"))


def _head_row(name, head, parameters, history, weight_text):
    return [
        name,
        _columns_text(getattr(head, "columns", None)) if head is not None else _MISSING,
        _units_text(head),
        getattr(head, "output_activation_", None) or _MISSING,
        _loss_name(head) if head is not None else _MISSING,
        weight_text,
        _metric_name(head) if head is not None else _MISSING,
        f"{parameters:,}",
        _number(_last(history, f"{name}_loss")),
        _number(_last(history, f"val_{name}_loss")),
    ]


_HEADER = ["head", "columns", "units", "activation", "loss", "loss weight", "metric",
           "parameters", "train loss", "val loss"]
_RIGHT = {"units", "parameters", "train loss", "val loss"}


def _finish(rows, history, with_val):
    header = list(_HEADER)
    if not with_val:
        header, rows = header[:-1], [r[:-1] for r in rows]
    return _table(header, rows, _RIGHT)


def _epochs_text(est, history):
    n = getattr(est, "n_iter_", None)
    if n is None and isinstance(history, dict):
        n = max((len(v) for v in history.values() if isinstance(v, list)), default=None)
    return "" if n is None else f", {n} epoch{'s' if n != 1 else ''}"


def _has_val(history):
    return isinstance(history, dict) and any(k.startswith("val_") for k in history)


def _preprocessing(trunk):
    """The lines of a trunk's fitted preprocessing (TabularTrunk), indented."""
    describe = getattr(trunk, "preprocessing", None)
    if describe is None or not hasattr(trunk, "numeric_center_"):
        return []
    return [f"       preprocessing: {line}" for line in describe()]


def _summary_joint(est):
    """One network: the trunk, one Dense output per head (and learned weights)."""
    model = est.model_
    heads = list(getattr(est, "heads_", []))
    history = getattr(est, "history_", {}) or {}
    auto = _uses_uncertainty(est)
    total = _params(model)
    head_params = {name: _head_params(model, name) for name, _ in heads}
    uncertainty = sum(_params(layer) for name, _ in heads
                      if (layer := _layer(model, f"{name}_uncertainty")) is not None)
    # the trunk is everything else: the trunk_* layers of the built-in trunks, and
    # whatever layers a KerasTrunk's model has
    trunk_params = total - sum(head_params.values()) - uncertainty
    rows = [_head_row(name, head, head_params[name], history,
                      _loss_weight_text(head, _learned_weight(model, name), auto))
            for name, head in heads]
    noun = "head" if len(heads) == 1 else "heads"
    lines = [f"{type(est).__name__}: one network, {len(heads)} {noun} (fitted"
             f"{_epochs_text(est, history)})",
             _indented_repr(getattr(est, "trunk_", None), "Trunk: "),
             *_preprocessing(getattr(est, "trunk_", None)),
             f"       {trunk_params:,} parameters"
             + (" (shared by the heads)" if len(heads) > 1 else ""),
             "",
             *_finish(rows, history, _has_val(history)),
             ""]
    parts = [f"trunk {trunk_params:,}", f"heads {sum(head_params.values()):,}"]
    if uncertainty:
        parts.append(f"learned loss weights {uncertainty:,}")
    lines.append(f"Total parameters: {total:,} ({' + '.join(parts)})")
    lines.extend(_notes(est, history, auto))
    return "\n".join(lines)


def _kept_epoch(est, history):
    """The 1-based epoch whose weights were kept, when not the last one."""
    n = len(history.get("loss") or [])
    best = getattr(est, "best_epoch_", None)
    if best is None and history.get("val_loss"):
        values = history["val_loss"]
        best = min(range(len(values)), key=values.__getitem__)
    if best is None or not n or best + 1 == n:
        return None
    return best + 1


def _notes(est, history, auto):
    if not history:
        return []
    notes = ["Losses: the last epoch's, from history_."]
    kept = _kept_epoch(est, history)
    if kept is not None:
        notes.append(f"Early stopping kept the weights of epoch {kept} (lowest val_loss).")
    if auto:
        notes.append("With loss_weights='auto' the train and val losses above are each "
                     "head's own loss L, unweighted; the network minimised the sum of "
                     "exp(-s) * L + s, s the head's learned log-variance "
                     "(history_['<head>_log_variance']), its weight exp(-s).")
    return notes


def _summary_separate(est):
    """One network per head (``estimators_``): one row per head and network."""
    networks = list(getattr(est, "estimators_", None) or [])
    heads = dict(getattr(est, "heads_", None) or [])
    if not heads and isinstance(getattr(est, "heads", None), list):
        heads = {h[0]: h[1] for h in est.heads if isinstance(h, tuple) and len(h) == 2}
    history = getattr(est, "history_", None) or {}
    rows, total = [], 0
    any_val = _has_val(history)
    for name, sub in networks:
        model = getattr(sub, "model_", None)
        count = _params(model) if model is not None else 0
        total += count
        own = history if f"{name}_loss" in history else {}
        if not own:  # the network's own history, keyed "loss", "val_loss"
            sub_history = getattr(sub, "history_", None) or {}
            own = {f"{name}_loss": sub_history.get("loss"),
                   f"val_{name}_loss": sub_history.get("val_loss")}
            any_val = any_val or bool(sub_history.get("val_loss"))
        head = heads.get(name)
        rows.append(_head_row(name, head, count, own, _MISSING))
    trunk = getattr(est, "trunk_", getattr(est, "trunk", None))
    noun = "network" if len(networks) == 1 else "networks"
    lines = [f"{type(est).__name__}: {len(networks)} {noun}, one per head (fitted"
             f"{_epochs_text(est, history)})",
             _indented_repr(trunk, "Trunk: "),
             *_preprocessing(trunk),
             "       one copy per head; each head's parameters below include its trunk",
             "",
             *_finish(rows, history, any_val),
             "",
             f"Total parameters: {total:,} (" + " + ".join(
                 f"{name} {row[7]}" for (name, _), row in zip(networks, rows)) + ")"]
    if any(row[8] != _MISSING for row in rows):
        lines.append("Losses: the last epoch's of each head's network.")
    return "\n".join(lines)


def summary(est, print_fn=print):
    """A plain-text table of a fitted estimator's trunk and heads.

    The trunk (its repr and parameter count), then one row per head: name,
    the columns of y it takes, output units, activation, loss, loss weight
    (learned with ``loss_weights="auto"``), default metric, the parameters
    of its output layer, and the last epoch's training (and validation)
    loss; then the total parameter count, equal to
    ``est.model_.count_params()``. An estimator with one network per head
    (``estimators_``) gets one row per network.

    Parameters
    ----------
    est : fitted estimator or Pipeline
        A :class:`~mtestimator.MultiTaskEstimator`, a preset, an
        estimator with ``estimators_`` (one network per head), or a
        Pipeline ending with one of them.
    print_fn : callable or None, default=print
        Called once with the table's text; ``None`` returns the text.

    Returns
    -------
    text : str or None
        The table when ``print_fn`` is None.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        When ``est`` is not fitted.
    TypeError
        When ``est`` is neither one of mtestimator's estimators nor a
        Pipeline ending with one.
    """
    est = final_estimator(est, "summary")
    if getattr(est, "model_", None) is None and getattr(est, "estimators_", None):
        text = _summary_separate(est)
    else:
        check_is_fitted(est, "model_")
        text = _summary_joint(est)
    if print_fn is None:
        return text
    print_fn(text)
    return None
