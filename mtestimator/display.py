"""Visualisations of a fitted estimator, in scikit-learn's Display API.

matplotlib is imported only when something is drawn, so importing this
module (or ``mtestimator``) never imports it.
"""

import numbers
import warnings
from collections.abc import Mapping

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._compat import check_matplotlib_support, validate_style_kwargs
from ._pipeline import final_estimator

__all__ = ["HistoryDisplay"]

_VAL = "val_"
_LOSS = "loss"
_SUFFIX = "_loss"
_LOG_VARIANCE = "_log_variance"  # a head's learned log-variance (loss_weights="auto")


def _split_history_keys(history):
    """The loss curves of ``history``: ``(total, heads)``.

    ``total`` is ``"loss"`` when present, else None; ``heads`` lists, in the
    history's order, every head ``h`` with a training curve ``"h_loss"``.
    A key ``"val_<x>"`` is read as the validation curve of ``"<x>"`` when
    ``"<x>"`` is in the history, so a head may itself be called ``"val_..."``.
    Keys that are not losses (e.g. metrics) are ignored.
    """
    total = _LOSS if _LOSS in history else None
    heads = []
    for key in history:
        if key == _LOSS or not key.endswith(_SUFFIX):
            continue
        if key.startswith(_VAL) and (key[len(_VAL):] in history or key == _VAL + _LOSS):
            continue  # the validation curve of another key
        heads.append(key[:-len(_SUFFIX)])
    return total, heads


def _label(key, learned):
    """A curve's legend label: its key, and under learned loss weights what it is."""
    if not learned:
        return key
    if key in (_LOSS, _VAL + _LOSS):
        return f"{key} (minimised: sum of exp(-s) L + s)"
    return f"{key} (the head's own, unweighted)"


def _log_axis(ax, curves):
    """A log loss axis; a symmetric log one (``symlog``), with a warning
    naming the curves, when some drawn value is 0 or negative (the total
    under ``loss_weights="auto"``), which a log axis would drop."""
    values = np.concatenate([np.asarray(y, dtype=float) for y in curves.values()])
    values = values[np.isfinite(values)]
    bad = [k for k, y in curves.items() if np.any(np.asarray(y, dtype=float) <= 0)]
    if not bad:
        ax.set_yscale("log")
        return
    nonzero = np.abs(values[values != 0])
    linthresh = float(nonzero.min()) if nonzero.size else 1.0
    warnings.warn(
        f"log_scale=True: the curves {bad} have values <= 0 (down to {values.min():.4g}), "
        "which a log axis cannot show; drawn on a symmetric log axis instead "
        f"(matplotlib's 'symlog', linear within +-{linthresh:.3g} of 0). Pass "
        "log_scale=False, or heads=[...] with positive curves only, to avoid it.",
        UserWarning, stacklevel=3)
    ax.set_yscale("symlog", linthresh=linthresh)


def _is_epoch_index(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


class HistoryDisplay:
    """Training history visualization: the loss of each epoch.

    Draws, per epoch, the total training loss (``history["loss"]``) and each
    head's training loss (``history["<head>_loss"]``: the head's own loss,
    unweighted also under ``loss_weights="auto"``, whose total is
    ``sum(exp(-s) L + s)``: the legend then says which is which); the validation curves
    (``val_loss``, ``val_<head>_loss``), when present, are dashed and share
    the colour of the matching training curve. A vertical line and a point
    mark the epoch whose weights the estimator kept.

    It is recommended to use :meth:`HistoryDisplay.from_estimator` to create
    a display. All parameters are stored as attributes.

    Parameters
    ----------
    history : dict of str to list of float
        Per-epoch losses, as an estimator's ``history_`` (or Keras's
        ``History.history``): ``loss`` and ``<head>_loss``, and
        ``val_loss`` and ``val_<head>_loss`` when a validation set was
        used. ``loss`` may be absent (e.g. one network per head). Other keys
        are ignored.
    best_epoch : int, default=None
        The epoch (0-based) whose weights were kept. None: the epoch of the
        lowest ``val_loss`` when there is one, else the last epoch.
    estimator_name : str, default=None
        Name of the estimator, the title of the legend. None: no title.

    Attributes
    ----------
    lines_ : dict of str to matplotlib Line2D
        The curve of each history key drawn (``"loss"``,
        ``"regression_loss"``, ``"val_loss"``, ...).
    best_epoch_line_ : matplotlib Line2D
        The vertical line at the kept epoch.
    best_epoch_marker_ : matplotlib Line2D
        The point on the curve that chose the kept epoch (``val_loss``,
        else ``loss``, else the first head's validation or training curve
        drawn), at the kept epoch.
    kept_epoch_ : int
        The kept epoch, 0-based (it is drawn at ``kept_epoch_ + 1``).
    ax_ : matplotlib Axes
        Axes with the curves.
    figure_ : matplotlib Figure
        Figure containing the curves.

    See Also
    --------
    HistoryDisplay.from_estimator : Plot the history of a fitted estimator.
    sklearn.model_selection.LearningCurveDisplay : Scores against the
        number of training samples.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")  # draw into memory, open no window
    >>> import matplotlib.pyplot as plt
    >>> from mtestimator.display import HistoryDisplay
    >>> history = {"loss": [0.9, 0.5, 0.4], "val_loss": [1.0, 0.6, 0.7]}
    >>> disp = HistoryDisplay(history, estimator_name="my network").plot()
    >>> sorted(disp.lines_), disp.kept_epoch_
    (['loss', 'val_loss'], 1)
    >>> plt.close(disp.figure_)
    """

    def __init__(self, history, *, best_epoch=None, estimator_name=None):
        self.history = history
        self.best_epoch = best_epoch
        self.estimator_name = estimator_name

    def _curves(self, heads):
        """The keys to draw, as ``[(training_key or None, validation_key or None)]``."""
        history = self.history
        if not isinstance(history, Mapping):
            raise TypeError(
                "history must be a dict of per-epoch losses ('loss', '<head>_loss', "
                f"'val_loss', 'val_<head>_loss'); got {type(history).__name__}."
            )
        total, all_heads = _split_history_keys(history)
        if heads is None:
            heads = all_heads
        else:
            heads = [heads] if isinstance(heads, str) else list(heads)
            unknown = [h for h in heads if h not in all_heads]
            if unknown:
                raise ValueError(
                    f"heads {unknown} have no curve in the history; the heads are "
                    f"{all_heads} (the history has the keys {list(history)})."
                )
        pairs = []
        if total is not None or _VAL + _LOSS in history:
            pairs.append((total, _VAL + _LOSS if _VAL + _LOSS in history else None))
        for head in heads:
            key = head + _SUFFIX
            pairs.append((key, _VAL + key if _VAL + key in history else None))
        if not pairs:
            raise ValueError(
                "The history has no loss curve to draw: expected 'loss' or "
                f"'<head>_loss' keys, got {list(history)}."
            )
        return pairs

    def _kept_epoch(self, n_epochs):
        if self.best_epoch is not None:
            if not _is_epoch_index(self.best_epoch) or not 0 <= self.best_epoch < n_epochs:
                raise ValueError(
                    f"best_epoch must be an int in [0, {n_epochs - 1}] (0-based, "
                    f"the history has {n_epochs} epochs); got {self.best_epoch!r}."
                )
            return int(self.best_epoch)
        val = self.history.get(_VAL + _LOSS)
        if val is not None and len(val):
            return int(np.nanargmin(np.asarray(val, dtype=float)))
        return n_epochs - 1

    def plot(self, *, ax=None, heads=None, log_scale=False, name=None, line_kw=None):
        """Plot visualization.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes object to plot on. If `None`, a new figure and axes is
            created.
        heads : str or list of str, default=None
            The heads whose curves are drawn, by name (``"regression"`` for
            ``history["regression_loss"]``); None: every head. The total
            loss is always drawn when the history has it.
        log_scale : bool, default=False
            Whether the loss axis is logarithmic. When a drawn value is 0 or
            negative (the total loss under ``loss_weights="auto"``,
            ``exp(-s) L + s``, may be), a UserWarning names the curves and the
            axis is a symmetric log one (matplotlib's ``"symlog"``), so that no
            value is dropped.
        name : str, default=None
            Title of the legend; None: `estimator_name`.
        line_kw : dict, default=None
            Keyword arguments passed to matplotlib's `plot` for every curve
            (validation curves are dashed unless `line_kw` sets a style).

        Returns
        -------
        display : :class:`~mtestimator.display.HistoryDisplay`
            Object that stores computed values.
        """
        check_matplotlib_support(f"{self.__class__.__name__}.plot")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        pairs = self._curves(heads)
        curves = {key: np.asarray(self.history[key], dtype=float).ravel()
                  for pair in pairs for key in pair if key is not None}
        n_epochs = max(len(y) for y in curves.values())
        if n_epochs == 0:
            raise ValueError("The history is empty: no epoch to draw.")
        kept = self._kept_epoch(n_epochs)

        if ax is None:
            _, ax = plt.subplots()
        line_kw = {} if line_kw is None else line_kw

        self.lines_ = {}
        learned = any(str(k).endswith(_LOG_VARIANCE) for k in self.history)
        for train_key, val_key in pairs:
            color = None
            if train_key is not None:
                y = curves[train_key]
                style = validate_style_kwargs({"label": _label(train_key, learned)}, line_kw)
                (line,) = ax.plot(np.arange(1, len(y) + 1), y, **style)
                self.lines_[train_key] = line
                color = line.get_color()
            if val_key is not None:
                y = curves[val_key]
                default = {"label": _label(val_key, learned), "linestyle": "--"}
                if color is not None:
                    default["color"] = color
                style = validate_style_kwargs(default, line_kw)
                (line,) = ax.plot(np.arange(1, len(y) + 1), y, **style)
                self.lines_[val_key] = line

        # the point sits on the curve that chose the epoch, when it is drawn
        reference = next(
            (k for k in (_VAL + _LOSS, _LOSS, *(k for p in pairs for k in p[::-1]))
             if k in self.lines_ and kept < len(curves[k])),
            None,
        )
        self.kept_epoch_ = kept
        self.best_epoch_line_ = ax.axvline(kept + 1, color="0.5", linestyle=":",
                                           linewidth=1)
        if reference is not None:
            (self.best_epoch_marker_,) = ax.plot(
                [kept + 1], [curves[reference][kept]], linestyle="none", marker="o",
                color=self.lines_[reference].get_color(),
                label=f"kept weights (epoch {kept + 1})",
            )
        else:  # no drawn curve reaches that epoch
            self.best_epoch_marker_ = None

        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if log_scale:
            _log_axis(ax, {k: curves[k] for k in self.lines_})
        name = self.estimator_name if name is None else name
        ax.legend(title=name)

        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, heads=None, log_scale=False, name=None,
                       line_kw=None):
        """Plot the training history of a fitted estimator.

        Parameters
        ----------
        estimator : estimator instance
            A fitted estimator with a ``history_`` attribute (a dict of
            per-epoch losses, as :class:`~mtestimator.JointRegressorClassifier`
            and :class:`~mtestimator.MultiLabelMLPClassifier` have), or a
            :class:`~sklearn.pipeline.Pipeline` ending with one. When it has
            an int ``best_epoch_`` (0-based), that epoch is marked as kept.
        ax : matplotlib Axes, default=None
            Axes object to plot on. If `None`, a new figure and axes is
            created.
        heads : str or list of str, default=None
            The heads whose curves are drawn; None: every head.
        log_scale : bool, default=False
            Whether the loss axis is logarithmic.
        name : str, default=None
            Title of the legend; None: the estimator's class name.
        line_kw : dict, default=None
            Keyword arguments passed to matplotlib's `plot` for every curve.

        Returns
        -------
        display : :class:`~mtestimator.display.HistoryDisplay`
            Object that stores computed values.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If the estimator is not fitted.
        TypeError
            If the estimator has no ``history_`` dict.

        Examples
        --------
        >>> from sklearn.datasets import make_multilabel_classification
        >>> from mtestimator import MultiLabelMLPClassifier
        >>> from mtestimator.display import HistoryDisplay
        >>> import matplotlib
        >>> matplotlib.use("Agg")  # draw into memory, open no window
        >>> import matplotlib.pyplot as plt
        >>> X, y = make_multilabel_classification(n_samples=200, n_features=10,
        ...                                       n_classes=3, random_state=0)
        >>> clf = MultiLabelMLPClassifier(epochs=10, early_stopping=True, random_state=0)
        >>> clf = clf.fit(X, y)
        >>> disp = HistoryDisplay.from_estimator(clf)
        >>> sorted(disp.lines_)
        ['labels_loss', 'loss', 'val_labels_loss', 'val_loss']
        >>> disp.ax_.get_xlabel(), disp.ax_.get_ylabel()
        ('epoch', 'loss')
        >>> plt.close(disp.figure_)
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        estimator = final_estimator(estimator)
        check_is_fitted(estimator)
        history = getattr(estimator, "history_", None)
        if not isinstance(history, Mapping):
            raise TypeError(
                f"{cls.__name__} needs a fitted estimator with a 'history_' attribute: a "
                "dict of per-epoch losses ('loss', '<head>_loss', 'val_loss', "
                "'val_<head>_loss'), as mtestimator's estimators have. "
                f"{type(estimator).__name__} has "
                + ("no 'history_'." if history is None
                   else f"a 'history_' of type {type(history).__name__}.")
            )
        best_epoch = getattr(estimator, "best_epoch_", None)
        if not _is_epoch_index(best_epoch):
            best_epoch = None  # absent, or not one epoch (e.g. one per head)
        disp = cls(history, best_epoch=best_epoch,
                   estimator_name=type(estimator).__name__ if name is None else name)
        return disp.plot(ax=ax, heads=heads, log_scale=log_scale, line_kw=line_kw)
