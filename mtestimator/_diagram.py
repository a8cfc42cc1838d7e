"""Pictures of an estimator: ``plot_network`` and scikit-learn's HTML diagram.

- :func:`plot_network`: ``keras.utils.plot_model`` of the fitted network,
  with a clear ``ImportError`` when pydot or Graphviz is missing.
- :func:`visual_block`: the trunk and the heads as nested estimators in the
  notebook's HTML repr, like a ``Pipeline`` of a ``ColumnTransformer``.

Nothing in this module imports Keras, pydot or Graphviz at import time.
"""

import importlib.util
import os
import shutil

from sklearn.utils.validation import check_is_fitted

from ._pipeline import final_estimator
from .engine import imports

__all__ = ["plot_network", "visual_block"]


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
    est : fitted estimator with a ``model_``, or a Pipeline ending with one
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
    est = final_estimator(est, "plot_network")
    if getattr(est, "model_", None) is None and getattr(est, "estimators_", None):
        raise TypeError(
            f"{type(est).__name__} trains one network per head, so there is no single "
            "network to draw; draw one head's network with "
            "keras.utils.plot_model(est.estimators_[i][1].model_, to_file=...)."
        )
    check_is_fitted(est, "model_")
    _check_plotting()
    keras = imports.keras()

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
