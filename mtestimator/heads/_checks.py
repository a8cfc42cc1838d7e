"""Checks of a head's parameters and targets at fit that its parameter constraints cannot express."""

import datetime
import re

import numpy as np
import pandas as pd

__all__ = ["check_head", "check_head_name", "check_loss_weights", "check_storable",
           "dict_class_weight"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)
_UNSTORABLE = (datetime.date, datetime.time, datetime.timedelta, np.datetime64, np.timedelta64,
               bytes, pd.Timestamp, pd.Timedelta, pd.Period, pd.Interval)


def check_head(head):
    """``otherwise`` is one value; ``loss_weight`` is finite in float32."""
    if np.ndim(head.otherwise) != 0:
        raise ValueError(
            f"{head._where()}: otherwise={head.otherwise!r} must be one value (the "
            "prediction outside the condition, e.g. otherwise=np.nan); it is not "
            "broadcast. Give a scalar."
        )
    weight = float(head.loss_weight)
    if not np.isfinite(weight) or weight > _FLOAT32_MAX:
        raise ValueError(
            f"{head._where()}: loss_weight={head.loss_weight!r} is beyond float32's range "
            f"({_FLOAT32_MAX:.3g}) in which the network trains; give a finite loss_weight "
            "of a few units (the weights' ratios matter, e.g. 1.0 and 2.0)."
        )


def check_loss_weights(estimator):
    """A fixed weight per head is the head's ``loss_weight``: say so where
    ``loss_weights`` (None or "auto") is given one weight per head."""
    given = getattr(estimator, "loss_weights", None)
    if "heads" not in estimator.get_params(deep=False):  # the presets: weights by position
        return
    if isinstance(given, dict) or (np.ndim(given) == 1 and not isinstance(given, str)):
        names = [pair[0] for pair in getattr(estimator, "heads", None) or ()]
        pairs = given.items() if isinstance(given, dict) else zip(
            names if len(names) == len(given) else range(len(given)), given)
        hint = ", ".join(f"heads__{name}__loss_weight={weight!r}" for name, weight in pairs)
        raise ValueError(
            f"The 'loss_weights' parameter of {type(estimator).__name__} must be 'auto' or "
            f"None; got {given!r}. A fixed weight per head is that head's loss_weight: "
            f"set_params({hint}), or pass loss_weight=... to the head."
        )


def check_head_name(name, seen, owner):
    """A head name is distinct, and a name Keras takes for a layer on every backend."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.>-]+", name) \
            or "__" in name or name in seen:
        hint = re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9_.>-]", "_", name)) \
            if isinstance(name, str) else ""
        raise ValueError(
            f"The head names of {owner} must be distinct non-empty strings of ASCII "
            "letters, digits, '_', '.', '-' (Keras names the layers after them), "
            f"without '__' or '/'; got {name!r}."
            + (f" Rename it, e.g. {hint!r}." if hint and hint != name else "")
        )


def check_storable(head, y):
    """Refuse dates, durations and bytes as targets: no head models them and a
    saved estimator cannot store them."""
    frame = y.to_frame() if isinstance(y, pd.Series) else y
    if isinstance(frame, pd.DataFrame):
        values = [frame.iloc[:, i].to_numpy() for i in range(frame.shape[1])]
    else:
        values = [np.asarray(y)]
    for v in values:
        bad = None
        if v.dtype.kind in "MmS":
            bad = v.ravel()[0] if v.size else v.dtype
        elif v.dtype == object:
            bad = next((x for x in v.ravel() if isinstance(x, _UNSTORABLE)), None)
        if bad is not None:
            raise TypeError(
                f"{head._where()}: the target holds {bad!r} ({type(bad).__name__}); "
                "dates, durations and bytes are not targets (no head models them and "
                "save cannot store them). Convert them first: numbers (e.g. days since "
                "a date, or .dt.total_seconds()) for a RegressionHead, strings for a "
                "ClassificationHead."
            )


def dict_class_weight(head, classes):
    """Per class (in ``classes`` order) the weight of a dict ``class_weight``:
    keys match labels by value (``'1'`` the label ``'1'`` or ``1``)."""
    given = head.class_weight
    shown = classes.tolist()
    for key, weight in given.items():
        try:
            ok = np.isfinite(float(weight)) and float(weight) >= 0
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(
                f"{head._where()}: class_weight={given!r} gives class {key!r} the weight "
                f"{weight!r}; a class weight must be a finite number >= 0. Fix it."
            )

    def same(key, label):
        return key == label or str(key) == str(label)

    unknown = [k for k in given if not any(same(k, c) for c in shown)]
    if unknown:
        raise ValueError(
            f"{head._where()}: class_weight names {unknown!r}, which are not classes of "
            f"y; the classes are {shown!r}. Fix the keys (labels missing from the dict "
            "weigh 1)."
        )
    out = np.ones(len(shown))
    for i, label in enumerate(shown):
        for key, weight in given.items():
            if same(key, label):
                out[i] = float(weight)
    return out
