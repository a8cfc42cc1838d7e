"""The fitted preprocessing of TabularTrunk: raw columns in, the network's float32 matrix out.

Plain NumPy and pandas, no Keras. :func:`fit_columns` learns, from the
training rows, what each column is and how to encode it; :func:`encode`
applies it to any rows. The result is one float32 matrix whose columns are,
in order:

1. numeric columns: robust scaling (median, interquartile range) and smooth
   clipping ``x / sqrt(1 + (x / 3) ** 2)`` (RealMLP, Holzmüller et al. 2024);
   a missing value becomes the median (0 after scaling);
2. with ``numeric_embedding="piecewise"``: each numeric column's
   piecewise-linear encoding on quantile bins of the training rows
   (Gorishniy et al. 2022);
3. one missing-indicator per numeric column that had missing values at fit;
4. one-hot columns of the categorical columns with at most ``max_onehot``
   levels (a missing value has its own column when the training rows had
   one; an unseen level is all zeros);
5. the integer codes of the other categorical columns, for the network's
   embeddings: 0 for a missing or unseen level, 1.. for the levels seen.
"""

import numbers

import numpy as np
import pandas as pd

__all__ = ["categorical_mask", "encode", "fit_columns", "layout", "smooth_clip"]

_CLIP = 3.0  # smooth clipping keeps scaled values within about +-3


def smooth_clip(x):
    """``x / sqrt(1 + (x / 3) ** 2)``: the identity near 0, bounded by +-3."""
    return x / np.sqrt(1.0 + (x / _CLIP) ** 2)


def _frame(X):
    """X as a DataFrame (an array's columns named by position)."""
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim == 1:
        raise ValueError(
            "TabularTrunk expects 2-D X (a DataFrame, or an array of shape "
            f"(n_samples, n_features)); got a 1-D array of shape {arr.shape}. Reshape it "
            "with X.reshape(-1, 1) for one feature."
        )
    if arr.ndim != 2:
        raise ValueError(
            f"TabularTrunk expects 2-D X (n_samples, n_features); got {arr.ndim} "
            f"dimensions (shape {arr.shape})."
        )
    return pd.DataFrame(arr)


def _is_categorical_dtype(series):
    dtype = series.dtype
    return (isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype)
            or pd.api.types.is_string_dtype(dtype) or dtype == object)


def _numeric_objects(series):
    """An object column holding numbers (and missing values) only."""
    values = series.dropna()
    return series.dtype == object and all(
        isinstance(v, numbers.Number) and not isinstance(v, bool) for v in values)


def categorical_mask(X, categorical_features, owner="TabularTrunk"):
    """Which columns of ``X`` are categorical: their dtype (category, bool,
    string, object), or ``categorical_features`` (names, indices or a
    boolean mask, as in scikit-learn's HistGradientBoosting)."""
    frame = _frame(X)
    n = frame.shape[1]
    mask = np.array([_is_categorical_dtype(frame.iloc[:, j])
                     and not _numeric_objects(frame.iloc[:, j]) for j in range(n)], bool)
    if categorical_features is None:
        return mask
    given = np.asarray(categorical_features)
    if given.dtype == bool:
        if given.shape != (n,):
            raise ValueError(
                f"The 'categorical_features' parameter of {owner}, as a boolean mask, must "
                f"have one value per column of X ({n}); got {given.shape[0] if given.ndim else 0}."
            )
        return mask | given
    names = [str(c) for c in frame.columns]
    for item in given.ravel().tolist():  # Python scalars (names in messages)
        if isinstance(item, (numbers.Integral, np.integer)) and not isinstance(item, bool):
            if not 0 <= int(item) < n:
                raise ValueError(
                    f"The 'categorical_features' parameter of {owner} names column index "
                    f"{int(item)}, but X has {n} columns."
                )
            mask[int(item)] = True
        elif isinstance(X, pd.DataFrame) and str(item) in names:
            mask[names.index(str(item))] = True
        else:
            raise ValueError(
                f"The 'categorical_features' parameter of {owner} names {item!r}, which is "
                f"not a column of X (columns: {names[:10]}{' ...' if n > 10 else ''}). Use "
                "column names of a DataFrame X, column indices, or a boolean mask."
            )
    return mask


def _levels(series):
    """Each value as a string (missing: None), the key of a level."""
    values = series.astype(object).to_numpy()
    missing = pd.isna(values)
    out = np.empty(len(values), object)
    out[~missing] = [str(v) for v in values[~missing]]
    out[missing] = None
    return out


def _numeric(series, name):
    """A numeric column as float64 (NaN for missing); inf, dates and durations
    are errors."""
    if series.dtype.kind in "mM" or isinstance(series.dtype, (pd.DatetimeTZDtype,
                                                              pd.PeriodDtype)):
        raise TypeError(
            f"Column {name!r} of X holds {series.dtype} values; TabularTrunk would take them "
            "as nanosecond counts. Turn them into numbers that mean something for the "
            f"task (X[{name!r}].dt.year, days since a date, ...), or name the column in "
            "'categorical_features'."
        )
    try:
        values = pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float64,
                                                                 na_value=np.nan)
    except (TypeError, ValueError):
        raise ValueError(
            f"Column {name!r} of X holds values that are not numbers, but TabularTrunk "
            "was told (or fitted to take) it as numeric. Name it in "
            "'categorical_features', or give it numbers."
        ) from None
    if np.isinf(values).any():
        row = int(np.flatnonzero(np.isinf(values))[0])
        raise ValueError(
            f"Column {name!r} of X holds {float(values[row])!r} (row {row}); TabularTrunk takes "
            "finite numbers or missing values (NaN). Replace the infinite values."
        )
    return values


def _scale(values):
    """Median and a robust scale (interquartile range; half the range if that
    is 0; 1 for a constant column) of the finite values."""
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return 0.0, 1.0
    q1, median, q3 = np.percentile(finite, [25, 50, 75])
    scale = q3 - q1
    if not scale > 0:
        scale = (finite.max() - finite.min()) / 2
    return float(median), float(scale) if scale > 0 else 1.0


def fit_columns(X, *, categorical_features=None, max_onehot=8, piecewise_bins=0):
    """The fitted state of the preprocessing (a dict of plain arrays and lists).

    ``piecewise_bins``: bins per numeric column of the piecewise-linear
    encoding (0: none).
    """
    frame = _frame(X)
    if frame.shape[0] == 0:
        raise ValueError("Found array with 0 sample(s) while a minimum of 1 is required "
                         "by TabularTrunk.")
    if frame.shape[1] == 0:
        raise ValueError("Found array with 0 feature(s) while a minimum of 1 is required "
                         "by TabularTrunk.")
    names = [str(c) for c in frame.columns]
    mask = categorical_mask(X, categorical_features)
    numeric = np.flatnonzero(~mask)
    center, scale, missing, edges = [], [], [], []
    for j in numeric:
        values = _numeric(frame.iloc[:, j], names[j])
        c, s = _scale(values)
        center.append(c)
        scale.append(s)
        if np.isnan(values).any():
            missing.append(j)
        if piecewise_bins:
            scaled = smooth_clip((values[~np.isnan(values)] - c) / s)
            quantiles = np.unique(np.quantile(scaled, np.linspace(0, 1, piecewise_bins + 1))
                                  if scaled.size else np.zeros(1))
            if quantiles.size < 2:  # a constant column: one bin around its value
                quantiles = np.array([quantiles[0] - 1.0, quantiles[0] + 1.0])
            edges.append(np.pad(quantiles, (0, piecewise_bins + 1 - quantiles.size),
                                constant_values=np.inf))
    onehot, onehot_levels, onehot_missing, embedded, embedded_levels = [], [], [], [], []
    for j in np.flatnonzero(mask):
        keys = _levels(frame.iloc[:, j])
        seen = keys[keys != None]  # noqa: E711  (elementwise)
        levels = np.array(sorted(set(seen.tolist())), dtype=str)
        if len(levels) <= max_onehot:
            onehot.append(j)
            onehot_levels.append(levels)
            # a last column "missing" when the training rows had missing values
            onehot_missing.append(any(k is None for k in keys))
        else:
            embedded.append(j)
            embedded_levels.append(levels)
    return {
        "feature_names": np.array(names, dtype=str),
        "numeric_columns": np.array(numeric, dtype=np.int64),
        "numeric_center": np.array(center, dtype=np.float64),
        "numeric_scale": np.array(scale, dtype=np.float64),
        "missing_columns": np.array(missing, dtype=np.int64),
        "piecewise_edges": (np.array(edges, dtype=np.float64) if edges
                            else np.zeros((0, 0), np.float64)),
        "onehot_columns": np.array(onehot, dtype=np.int64),
        "onehot_levels": onehot_levels,
        "onehot_missing": np.array(onehot_missing, dtype=bool),
        "embedded_columns": np.array(embedded, dtype=np.int64),
        "embedded_levels": embedded_levels,
    }


def layout(state):
    """``(n_numeric, n_dense, cardinalities)``: the numeric columns (first in
    the matrix), the columns a network takes as they are, and the number of
    codes of each embedded column (levels + 1 for missing or unseen)."""
    n_numeric = len(state["numeric_columns"])
    edges = state["piecewise_edges"]
    n_pieces = n_numeric * (edges.shape[1] - 1) if edges.size else 0
    n_dense = (n_numeric + n_pieces + len(state["missing_columns"])
               + sum(len(lv) for lv in state["onehot_levels"])
               + int(np.sum(state["onehot_missing"])))
    return n_numeric, n_dense, tuple(len(lv) + 1 for lv in state["embedded_levels"])


def _piecewise(scaled, edges):
    """Piecewise-linear encoding of one column on the bin ``edges`` (padded
    with inf): per bin, 0 left of it, 1 right of it, linear inside; the first
    and last bins extend linearly beyond the training range."""
    n_bins = edges.size - 1
    with np.errstate(invalid="ignore"):  # padding bins (inf edges): zeroed below
        return _pieces(scaled, edges, n_bins)


def _pieces(scaled, edges, n_bins):
    lo, hi = edges[:-1], edges[1:]
    width = np.where(np.isfinite(hi), hi - lo, 1.0)
    width = np.where(width > 0, width, 1.0)
    t = (scaled[:, None] - lo) / width
    real = np.isfinite(hi)
    last = int(real.sum()) - 1
    out = np.clip(t, 0.0, 1.0)
    out[:, 0] = np.minimum(t[:, 0], 1.0) if last > 0 else t[:, 0]
    if last > 0:
        out[:, last] = np.maximum(t[:, last], 0.0)
    out[:, ~real] = 0.0
    return out[:, :n_bins]


def encode(state, X):
    """The float32 matrix the network takes (see the module docstring)."""
    frame = _frame(X)
    names = state["feature_names"]
    if frame.shape[1] != len(names):
        raise ValueError(f"X has {frame.shape[1]} features, but TabularTrunk was fitted "
                         f"on {len(names)} features.")
    n = frame.shape[0]
    blocks = []
    numeric = state["numeric_columns"]
    raw = np.empty((n, len(numeric)))
    for i, j in enumerate(numeric):
        raw[:, i] = _numeric(frame.iloc[:, j], str(names[j]))
    missing = np.isnan(raw)
    scaled = smooth_clip((np.where(missing, state["numeric_center"], raw)
                          - state["numeric_center"]) / state["numeric_scale"])
    blocks.append(scaled)
    edges = state["piecewise_edges"]
    if edges.size:
        blocks.extend(_piecewise(scaled[:, i], edges[i]) for i in range(len(numeric)))
    position = {int(j): i for i, j in enumerate(numeric)}
    blocks.append(missing[:, [position[int(j)] for j in state["missing_columns"]]]
                  .astype(np.float64).reshape(n, -1))
    for j, levels, has_missing in zip(state["onehot_columns"], state["onehot_levels"],
                                      state["onehot_missing"]):
        keys = _levels(frame.iloc[:, j])
        hot = (keys[:, None] == levels[None, :]).astype(np.float64).reshape(n, len(levels))
        if has_missing:
            hot = np.column_stack([hot, np.array([k is None for k in keys], np.float64)])
        blocks.append(hot)
    for j, levels in zip(state["embedded_columns"], state["embedded_levels"]):
        keys = _levels(frame.iloc[:, j])
        codes = np.zeros(n, np.float64)
        present = np.array([k is not None for k in keys], bool)
        if present.any():
            where = np.searchsorted(levels, keys[present].astype(str))
            where = np.minimum(where, len(levels) - 1)
            hit = levels[where] == keys[present].astype(str)
            codes[present] = np.where(hit, where + 1, 0)
        blocks.append(codes[:, None])
    return np.concatenate([b.reshape(n, -1) for b in blocks], axis=1).astype(np.float32)
