"""The checks of X's columns for trunks that take them as numbers, as they are.

MLPTrunk and the sequence trunks compute on X's values directly: a column
that is not numeric is an error naming it and the fix (instead of
scikit-learn's ``could not convert string to float``), and columns of very
different scales are a warning that says what to do. TabularTrunk encodes
and scales the columns itself; KerasTrunk takes what its model takes.
"""

import warnings

import numpy as np

__all__ = ["check_X_columns", "check_text_input", "validate_columns", "warn_on_scales"]


def validate_columns(trunk, estimator, X, reset):
    """``trunk.validate_X(estimator, X, reset)``, with the checks of this module
    for a trunk that takes the columns as they are (the scales: at fit)."""
    plain = _plain_columns(trunk)
    if plain:
        check_X_columns(X, type(trunk).__name__)
    X = trunk.validate_X(estimator, X, reset)
    if plain and reset:
        warn_on_scales(X, getattr(estimator, "feature_names_in_", None), type(trunk).__name__)
    return X


def _plain_columns(trunk):
    """Whether ``trunk`` takes X's columns as numbers, as they are (MLPTrunk and
    the sequence trunks; not TabularTrunk, which encodes them, nor KerasTrunk)."""
    from .trunks import _LayerStackTrunk

    return isinstance(trunk, _LayerStackTrunk)


def _first_non_number(values):
    """The first string of a 1-D array that is not a number, else None (other
    objects are left to scikit-learn's own check)."""
    for value in values:
        if isinstance(value, (str, bytes)):
            try:
                float(value)
            except ValueError:
                return value
    return None


def check_X_columns(X, trunk_name):
    """A column of X that is not numeric: an error naming it and the fix (instead
    of scikit-learn's ``could not convert string to float``)."""
    if hasattr(X, "dtypes") and hasattr(X, "columns"):  # a DataFrame
        columns = [(repr(name), X[name].to_numpy() if not X.columns.duplicated().any()
                    else X.iloc[:, j].to_numpy())
                   for j, name in enumerate(X.columns)
                   if X.dtypes.iloc[j].kind not in "biufc"]
    else:
        arr = X if isinstance(X, np.ndarray) else None
        if arr is None or arr.dtype.kind not in "OUS" or arr.ndim != 2:
            return
        columns = [(f"{j}", arr[:, j]) for j in range(arr.shape[1])]
    for name, values in columns:
        value = _first_non_number(np.asarray(values, dtype=object).ravel())
        if value is not None:
            raise ValueError(
                f"Column {name} of X holds strings such as {value!r}; "
                f"{trunk_name} takes numbers only. Use trunk=TabularTrunk() (from "
                "mtestimator.trunks), which encodes categorical and string columns itself, "
                "or encode the column first (e.g. OneHotEncoder in a ColumnTransformer)."
            )


#: Columns whose typical magnitudes differ by more than this factor are badly scaled;
#: and so is a column of typical magnitude above _SCALE_LIMIT.
_SCALE_RATIO = 100.0
_SCALE_LIMIT = 1000.0
_CHUNK_ROWS = 65536


def warn_on_scales(X, names, trunk_name):
    """Warn when a column's typical magnitude (root mean square) is far from the
    others' or from 1: networks train poorly on such input (a year near 2007
    next to standardised columns)."""
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.shape[1] == 0:
        return
    squares = np.zeros(X.shape[1])  # in chunks of rows: no float64 copy of X
    for start in range(0, len(X), _CHUNK_ROWS):
        squares += np.square(X[start:start + _CHUNK_ROWS], dtype=np.float64).sum(axis=0)
    rms = np.nan_to_num(np.sqrt(squares / max(len(X), 1)))
    big = int(np.argmax(rms))
    positive = np.flatnonzero(rms > 0)
    if not positive.size:
        return
    small = int(positive[np.argmin(rms[positive])])
    if rms[big] <= _SCALE_LIMIT and rms[big] <= _SCALE_RATIO * rms[small]:
        return

    def name(j):
        return repr(names[j]) if names is not None and len(names) > j else str(j)

    warnings.warn(
        f"Column {name(big)} of X has a typical magnitude of {rms[big]:.3g}, and column "
        f"{name(small)} of {rms[small]:.3g}: {trunk_name} takes the columns as they are, "
        "and a network trains poorly on features far from unit scale or of very "
        "different scales (e.g. a year column next to standardised ones). Scale the "
        "features (StandardScaler in a Pipeline), or use trunk=TabularTrunk() (from "
        "mtestimator.trunks), which scales each column itself.",
        UserWarning, stacklevel=5)


def check_text_input(x_dtype, joint):
    """Strings in X (a text KerasTrunk) train on TensorFlow, in one network:
    an error naming the fix otherwise."""
    if x_dtype != "string":
        return
    if not joint:
        raise ValueError(
            "SeparateNetworks trains each head through scikeras, which takes numeric "
            "X only; X holds strings (a text KerasTrunk). Vectorise the text before "
            "the estimator, or use MultiTaskEstimator."
        )
    from .engine import imports

    keras = imports.keras()
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "String input (a text KerasTrunk) trains on the TensorFlow backend "
            f"only; the Keras backend is {keras.backend.backend()!r}. Set "
            "KERAS_BACKEND=tensorflow, or vectorise the text before the estimator."
        )
