"""The pandas dtypes of y's columns, and predictions put back in them.

A head that predicts labels (a :class:`~mtestimator.heads.ClassificationHead`,
a :class:`~mtestimator.heads.MultiLabelHead`) or a regression head on a
nullable float column returns its predictions in the dtype its columns of y
had: ``category`` (same categories, same order, ``ordered`` kept), the
nullable ``Int*``/``UInt*``/``Float*``, ``boolean`` and ``string``. The
fit sequence keeps them as the head's ``target_dtypes_`` (plain JSON, one
entry per column, ``None`` where nothing is to restore); :func:`restore`
applies one to a column of predictions, and leaves the column as it is
when the dtype cannot hold its values (e.g. a conditional head's
``otherwise`` outside the categories) rather than lose any.
"""

import numbers

import numpy as np
import pandas as pd

from .persistence.spec import NULLABLE

__all__ = ["describe", "restore"]

_FLOATS = ("Float32", "Float64")


def _category(dtype):
    categories = dtype.categories.tolist()
    if not all(isinstance(c, (str, numbers.Number)) and not isinstance(c, complex)
               for c in categories):
        return None  # e.g. dates: predictions keep their plain dtype
    return {"dtype": "category", "categories": categories, "ordered": bool(dtype.ordered)}


def _one(dtype, kind):
    if isinstance(dtype, pd.CategoricalDtype):
        return _category(dtype) if kind != "regressor" else None
    name = str(dtype)
    if name in NULLABLE and (kind != "regressor" or name in _FLOATS):
        return {"dtype": name}
    return None


def describe(part, kind):
    """The dtypes of a head's part of y (a Series or DataFrame), one entry per
    column; None when y is not pandas or no column has a dtype to restore."""
    if isinstance(part, pd.Series):
        dtypes = [part.dtype]
    elif isinstance(part, pd.DataFrame):
        dtypes = list(part.dtypes)
    else:
        return None
    specs = [_one(d, kind) for d in dtypes]
    return specs if any(s is not None for s in specs) else None


def _dtype(spec):
    if spec["dtype"] == "category":
        return pd.CategoricalDtype(spec["categories"], ordered=spec["ordered"])
    return pd.api.types.pandas_dtype(spec["dtype"])


def restore(values, spec):
    """``values`` (1-D NumPy predictions) in the dtype ``spec`` describes, or
    as they are when that dtype cannot hold them all."""
    if spec is None:
        return values
    series = pd.Series(values, copy=False)
    dtype = _dtype(spec)
    if isinstance(dtype, pd.CategoricalDtype) and not (
            series.isin(dtype.categories) | series.isna()).all():
        return values  # a value outside the categories (e.g. a conditional otherwise)
    try:
        out = series.astype(dtype)
    except (TypeError, ValueError):  # e.g. floats into Int64
        return values
    if not np.array_equal(out.isna().to_numpy(), series.isna().to_numpy()):
        return values  # a value the dtype would lose
    return out.array
