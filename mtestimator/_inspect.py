"""Looking at a network: a text summary, a picture, and scikit-learn's HTML repr.

The estimators' ``summary``, ``plot_network`` and ``_sk_visual_block_``
methods delegate here. Nothing in this module imports Keras, pydot or
Graphviz at import time.

- :func:`summary`: a plain-text table of the trunk and the heads of a fitted
  estimator (output units, activation, loss, loss weight, metric, parameter
  counts, last-epoch losses).
- :func:`plot_network`: ``keras.utils.plot_model`` of the fitted network,
  with a clear ``ImportError`` when pydot or Graphviz is missing.
- :func:`visual_block`: the trunk and the heads as nested estimators in the
  notebook's HTML repr, like a ``Pipeline`` of a ``ColumnTransformer``.
"""

import importlib.util
import math
import os
import shutil

from sklearn.utils.validation import check_is_fitted

__all__ = ["plot_network", "summary", "visual_block"]

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


def _head_row(name, head, parameters, history, weight_text):
    units = getattr(head, "output_units_", None)
    return [
        name,
        _columns_text(getattr(head, "columns", None)) if head is not None else _MISSING,
        _MISSING if units is None else str(units),
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


def _summary_joint(est):
    """One network: the trunk, one Dense output per head (and learned weights)."""
    model = est.model_
    heads = list(getattr(est, "heads_", []))
    history = getattr(est, "history_", {}) or {}
    auto = _uses_uncertainty(est)
    total = _params(model)
    head_params = {name: _params(layer) if (layer := _layer(model, name)) is not None
                   else 0 for name, _ in heads}
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
        notes.append("With loss_weights='auto' a head's loss is exp(-s) * L + s, s its "
                     "learned log-variance; its weight is exp(-s).")
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
    est : fitted estimator
        A :class:`~mtestimator.MultiTaskEstimator`, a preset, or an
        estimator with ``estimators_`` (one network per head).
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
    """
    if getattr(est, "model_", None) is None and getattr(est, "estimators_", None):
        text = _summary_separate(est)
    else:
        check_is_fitted(est, "model_")
        text = _summary_joint(est)
    if print_fn is None:
        return text
    print_fn(text)
    return None


# -- plot_network ----------------------------------------------------------------

_PYDOT_MODULES = ("pydot", "pydot_ng", "pydotplus")  # what Keras imports, in its order

_INSTALL = (
    "Install pydot with `pip install pydot`, and Graphviz, a system package that "
    "provides the `dot` program: `apt-get install graphviz` (Debian, Ubuntu), "
    "`dnf install graphviz` (Fedora), `brew install graphviz` (macOS), "
    "`conda install graphviz` (conda), or see https://graphviz.org/download/. "
    "Then start a new Python session."
)


def _has_pydot():
    return any(importlib.util.find_spec(m) is not None for m in _PYDOT_MODULES)


def _has_dot():
    return shutil.which("dot") is not None


def _check_plotting():
    """Raise an ImportError naming what is missing (pydot, Graphviz's ``dot``)."""
    missing = []
    if not _has_pydot():
        missing.append("the Python package pydot")
    if not _has_dot():
        missing.append("Graphviz (its `dot` program is not on the PATH)")
    if missing:
        raise ImportError(f"plot_network needs pydot and Graphviz; {' and '.join(missing)} "
                          f"{'is' if len(missing) == 1 else 'are'} missing. {_INSTALL}")


def plot_network(est, to_file="network.png", **kwargs):
    """Draw the fitted network with ``keras.utils.plot_model``.

    Each layer is a box with its name, class, activation and shapes; the
    output layers are named as the heads (``<head>_uncertainty`` layers
    follow them with ``loss_weights="auto"``), the trunk's layers
    ``trunk_*``.

    Parameters
    ----------
    est : fitted estimator with a ``model_``
    to_file : str or path-like, default="network.png"
        The file's extension is the format (``.png``, ``.svg``, ``.pdf``, ...).
    **kwargs
        Passed to ``keras.utils.plot_model``, overriding the defaults
        ``show_shapes=True``, ``show_layer_names=True`` and
        ``show_layer_activations=True`` (e.g. ``rankdir="LR"``, ``dpi=96``).

    Returns
    -------
    path : str
        The file written.

    Raises
    ------
    ImportError
        When pydot or Graphviz is missing; the message says how to install
        them.
    sklearn.exceptions.NotFittedError
        When ``est`` is not fitted.
    """
    if getattr(est, "model_", None) is None and getattr(est, "estimators_", None):
        raise TypeError(
            f"{type(est).__name__} trains one network per head, so there is no single "
            "network to draw; draw one head's network with "
            "keras.utils.plot_model(est.estimators_[i][1].model_, to_file=...)."
        )
    check_is_fitted(est, "model_")
    _check_plotting()
    import keras

    path = os.fspath(to_file)
    options = {"show_shapes": True, "show_layer_names": True,
               "show_layer_activations": True, **kwargs}
    before = os.stat(path).st_mtime_ns if os.path.exists(path) else None
    keras.utils.plot_model(est.model_, to_file=path, **options)
    # In a notebook some Keras versions print a message and return instead of
    # raising when they find no pydot or Graphviz: never return a stale path.
    if not os.path.exists(path) or (before is not None
                                    and os.stat(path).st_mtime_ns == before):
        raise ImportError(f"keras.utils.plot_model wrote no file to {path!r}: Keras finds no "
                          f"pydot or Graphviz. {_INSTALL}")
    return str(path)


# -- the HTML repr -----------------------------------------------------------------


def _visual_block_class():
    from ._compat import VisualBlock

    return VisualBlock


def _parts_for_display(est):
    """(heads, trunk) to draw: the fitted ones, else the parameters."""
    if hasattr(est, "heads_") and hasattr(est, "trunk_"):
        return list(est.heads_), est.trunk_
    given = getattr(est, "heads", None)
    if isinstance(given, list) and given and all(
            isinstance(h, tuple) and len(h) == 2 for h in given):
        heads = list(given)
    else:
        heads = est._make_heads()
    trunk = getattr(est, "trunk", None)
    if not hasattr(trunk, "get_params"):  # None, or a preset's trunk name
        trunk = est._make_trunk()
    return heads, trunk


def visual_block(est):
    """scikit-learn's HTML diagram: the trunk, then the heads side by side.

    A serial block ``[trunk, heads]`` whose ``heads`` is a parallel block
    with one column per head, labelled by the head's name (as the columns of
    a ``ColumnTransformer``). The fitted trunk and heads when fitted, else
    the parameters.
    """
    _VisualBlock = _visual_block_class()
    heads, trunk = _parts_for_display(est)
    heads_block = _VisualBlock(
        "parallel", [head for _, head in heads], names=[str(name) for name, _ in heads],
        name_details=[str(head) for _, head in heads])
    return _VisualBlock(
        "serial", [trunk, heads_block],
        names=[f"trunk: {type(trunk).__name__}", "heads"],
        name_details=[str(trunk), ", ".join(str(name) for name, _ in heads)],
        dash_wrapped=False)
