"""Reliability: bad input (tables, every estimator and trunk), training faults,
partial_fit's all-or-nothing, reproducibility, persistence, concurrency.

Most cases are rows of the tables (FIT_CASES, WEIGHT_CASES, PREDICT_CASES,
PARTIAL_FIT_CASES, DIVERGENCE_CASES): each row is one input and its exact
outcome. Rows that document a known bug carry a strict xfail (``XFAIL``).
"""

import copy
import functools
import itertools
import os
import pickle
import random
import subprocess
import sys
import textwrap
import threading
import time

import joblib
import keras
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

import mtestimator
from mtestimator import JointRegressorClassifier, MultiLabelMLPClassifier, MultiTaskEstimator
from mtestimator.heads import ClassificationHead, MultiLabelHead, RegressionHead
from mtestimator.trunks import Conv1DTrunk, KerasTrunk, MLPTrunk, RecurrentTrunk

# callbacks with per-batch hooks (Keras's own fit) are deliberate here
pytestmark = pytest.mark.filterwarnings("ignore:Callback .* per-batch:UserWarning")

rng = np.random.RandomState(0)
X = rng.normal(size=(60, 4))
YM = (X[:, :3] + rng.normal(scale=0.5, size=(60, 3)) > 0).astype(int)
YJ = np.empty((60, 2), dtype=object)
YJ[:, 0], YJ[:, 1] = X[:, 0] * 3, np.where(X[:, 1] > 0, "a", "b")
YT = pd.DataFrame({"v": X[:, 0] * 3, "c": np.where(X[:, 1] > 0, "a", "b")})
XS = np.random.RandomState(1).normal(size=(60, 5, 2))  # sequences: 5 timesteps, 2 channels
TEXTS = np.array(["good movie", "bad film", "great fun", "awful plot"] * 15)
FAST = {"hidden_layer_sizes": (4,), "epochs": 2, "random_state": 0}
BACKEND = keras.backend.backend()


def ml(**kw):
    return MultiLabelMLPClassifier(**{**FAST, **kw})


def joint(**kw):
    return JointRegressorClassifier(**{**FAST, **kw})


def mt(heads=None, trunk=None, **kw):
    """A MultiTaskEstimator: a regression head on "v", a classification head on "c"."""
    heads = [("v", RegressionHead("v")), ("c", ClassificationHead("c"))] if heads is None \
        else heads
    return MultiTaskEstimator(heads, trunk=MLPTrunk((4,)) if trunk is None else trunk,
                              **{"epochs": 2, "random_state": 0, **kw})


def _with(a, i, j, value):
    a = a.astype(object if isinstance(value, str) else float)
    a[i, j] = value
    return a


def _at(a, index, value):
    """A float copy of ``a`` with ``value`` at ``index``."""
    a = a.astype(float)
    a[index] = value
    return a


def _joint_y(value_col=None, label_col=None):
    y = YJ.copy()
    if value_col is not None:
        y[:, 0] = value_col
    if label_col is not None:
        y[:, 1] = label_col
    return y


def _seeded_dense(input_shape, seed=None):
    """A tiny KerasTrunk model, seeded by the estimator."""
    return keras.Sequential([
        keras.Input(input_shape), keras.layers.Flatten(),
        keras.layers.Dense(3, activation="relu",
                           kernel_initializer=keras.initializers.GlorotUniform(seed)),
        keras.layers.Dropout(0.1, seed=seed)])


def _not_flat(input_shape, seed=None):
    return keras.Sequential([keras.Input(input_shape), keras.layers.Reshape((2, 2))])


def _returns_none(input_shape, seed=None):
    return None


def _raises(input_shape, seed=None):
    raise ZeroDivisionError("build_fn failed")


def _text_trunk(input_shape, seed=None):
    inputs = keras.Input(input_shape, dtype="string")
    x = keras.layers.TextVectorization(
        vocabulary=["good", "movie", "bad", "film", "great", "fun", "awful", "plot"],
        output_sequence_length=2)(inputs)
    x = keras.layers.Embedding(10, 4, embeddings_initializer=keras.initializers
                               .RandomUniform(seed=seed))(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling1D()(x))


def _table(rows, arity):
    """pytest params from table rows ``(id, *values)``; strict xfail for the ids
    in XFAIL, skips (and the backend mark) for the ids in SKIP."""
    params = []
    for row in rows:
        assert len(row) == arity + 1, row[0]
        marks = []
        if row[0] in XFAIL:
            marks.append(pytest.mark.xfail(strict=True, reason=XFAIL[row[0]]))
        if row[0] in SKIP:  # a row of one backend: the JAX run runs it too
            marks += [SKIP[row[0]], pytest.mark.backend]
        params.append(pytest.param(*row[1:], id=row[0], marks=marks))
    return params


#: Rows that document a bug of the package: the row holds the correct outcome.
XFAIL = {
}

#: Rows that only apply on one backend.
SKIP = {
    "keras-trunk-text-on-jax": pytest.mark.skipif(
        BACKEND == "tensorflow", reason="string input trains on TensorFlow"),
}


# -- bad input at fit ------------------------------------------------------------

_SEQ_NAN = _at(XS, (3, 2, 1), np.nan)
_SEQ_INF = _at(XS, (3, 2, 1), np.inf)
_SEQ_BIG = _at(XS, (3, 2, 1), 1e39)

# (id, estimator factory, X, y, exception, message pattern)
FIT_CASES = [
    ("nan-X", ml, _with(X, 0, 0, np.nan), YM, ValueError, "Input X contains NaN"),
    ("inf-X", ml, _with(X, 0, 0, np.inf), YM, ValueError, "Input X contains infinity"),
    ("str-X", ml, _with(X, 0, 0, "a"), YM, ValueError,
     r"Column 0 of X holds strings such as 'a'; MLPTrunk takes numbers only\. Use "
     r"trunk=TabularTrunk\(\)"),
    ("obj-X", ml, np.array([[{}] * 4] * 60), YM, TypeError, "float"),
    ("empty-X", ml, X[:0], YM[:0], ValueError, r"0 sample\(s\)"),
    ("0-features", ml, X[:, :0], YM, ValueError, r"0 feature\(s\)"),
    ("3d-X", ml, X.reshape(60, 2, 2), YM, ValueError, "Found array with dim 3"),
    ("len-mismatch", ml, X[:50], YM, ValueError, "inconsistent numbers of samples"),
    ("y-1d", ml, X, YM[:, 0], ValueError, r"2-D binary indicator matrix.*\(60,\)"),
    ("y-3d", ml, X, YM[:, :, None], ValueError, r"2-D binary indicator matrix.*\(60, 3, 1\)"),
    ("y-one-column", ml, X, YM[:, :1], ValueError, "needs at least 2 labels"),
    ("y-not-binary", ml, X, YM * 2, ValueError, r"only 0 and 1.*\[2\]"),
    ("y-negative", ml, X, YM - 1, ValueError, r"only 0 and 1.*\[-1\]"),
    ("y-nan-row", ml, X, np.where(np.arange(60)[:, None] == 0, np.nan, YM), ValueError,
     r"have no target for any head.*rows \[0\]"),
    ("y-strings", ml, X, YM.astype(str), ValueError, "only 0 and 1"),
    ("y-none", ml, X, None, ValueError, "requires y to be passed"),
    ("epochs-negative", lambda: ml(epochs=-1), X, YM, InvalidParameterError, "'epochs' parameter"),
    ("epochs-float", lambda: ml(epochs=1.5), X, YM, InvalidParameterError, "'epochs' parameter"),
    ("batch-zero", lambda: ml(batch_size=0), X, YM, InvalidParameterError, "'batch_size'"),
    ("layers-empty", lambda: ml(hidden_layer_sizes=()), X, YM, ValueError,
     r"'hidden_layer_sizes'.*Got \(\) instead"),
    ("layers-zero", lambda: ml(hidden_layer_sizes=(3, 0)), X, YM, ValueError,
     "'hidden_layer_sizes'"),
    ("activation", lambda: ml(activation="wiggle"), X, YM, InvalidParameterError,
     "'activation' parameter.*Got 'wiggle'"),
    ("optimizer", lambda: ml(optimizer="adamm"), X, YM, InvalidParameterError,
     "'optimizer' parameter.*Got 'adamm'"),
    ("initializer", lambda: ml(kernel_initializer="nope"), X, YM, ValueError,
     "'kernel_initializer'.*Got 'nope'"),
    ("dropout", lambda: ml(dropout=1.0), X, YM, InvalidParameterError, "'dropout'"),
    ("lr-zero", lambda: ml(learning_rate=0.0), X, YM, InvalidParameterError, "'learning_rate'"),
    ("threshold-high", lambda: ml(threshold=1.2), X, YM, InvalidParameterError, "'threshold'"),
    ("threshold-per-label", lambda: ml(threshold=[0.5, 2.0, 0.5]), X, YM, ValueError,
     "'threshold' parameter"),
    ("threshold-length", lambda: ml(threshold=[0.5, 0.5]), X, YM, ValueError,
     "'threshold' parameter.*3 such floats"),
    ("class-weight", lambda: ml(class_weight=[1.0, -1.0, 1.0]), X, YM, ValueError,
     "'class_weight' parameter"),
    ("validation-fraction", lambda: ml(validation_fraction=1.0), X, YM,
     InvalidParameterError, "'validation_fraction'"),
    ("joint-nan-X", joint, _with(X, 0, 0, np.nan), YJ, ValueError, "Input X contains NaN"),
    ("joint-3d-X", joint, X.reshape(60, 2, 2), YJ, ValueError, "Found array with dim 3"),
    ("joint-y-1col", joint, X, YJ[:, :1], ValueError, "got 1 columns"),
    ("joint-y-3col", joint, X, np.column_stack([YJ, YJ[:, :1]]), ValueError, "got 3 columns"),
    ("joint-y-1d", joint, X, YJ[:, 0], ValueError, r"y must have 2 columns.*\(60,\)"),
    ("joint-value-str", joint, X, _joint_y(value_col=YJ[:, 1]), ValueError,
     r"regression target \(column 0 of y\) must be numeric; got 'a'"),
    ("joint-value-inf", joint, X, _joint_y(value_col=np.where(np.arange(60) == 5, np.inf,
                                                              X[:, 0])),
     ValueError, r"regression target \(column 0 of y\) contains infinity"),
    ("joint-row-missing", joint, X, _joint_y(
        value_col=np.where(np.arange(60) == 5, np.nan, X[:, 0]),
        label_col=np.where(np.arange(60) == 5, None, np.where(X[:, 1] > 0, "a", "b"))),
     ValueError, r"1 row\(s\) of y have no target for any head.*rows \[5\]"),
    ("joint-single-class", joint, X, _joint_y(label_col=np.full(60, "a")), ValueError,
     r"single class \(\['a'\]\)"),
    ("joint-len-mismatch", joint, X[:30], YJ, ValueError, "inconsistent numbers of samples"),
    ("sparse-X-lstm", lambda: joint(trunk="lstm"), sp.csr_matrix(X), YJ, TypeError,
     "Sparse data was passed.*dense data is required"),
    ("joint-loss-weights-neg", lambda: joint(loss_weights=(1.0, -0.5)), X, YJ, ValueError,
     r"'loss_weights'.*Got \(1.0, -0.5\)"),
    ("joint-loss-weights-str", lambda: joint(loss_weights="equal"), X, YJ,
     InvalidParameterError, "'loss_weights'"),
    # float32's range: X, targets (both presets and MultiTaskEstimator)
    ("X-1e39", ml, _with(X, 0, 2, 1e39), YM, ValueError,
     r"X holds 1e\+39 in column 2 \(row 0\), beyond float32's range"),
    ("X-minus-1e39", ml, _with(X, 7, 1, -1e39), YM, ValueError,
     r"X holds -1e\+39 in column 1 \(row 7\)"),
    ("joint-X-1e39", joint, _with(X, 0, 2, 1e39), YJ, ValueError,
     r"X holds 1e\+39 in column 2 \(row 0\)"),
    ("mt-X-1e39", mt, _with(X, 0, 2, 1e39), YT, ValueError,
     r"X holds 1e\+39 in column 2 \(row 0\)"),
    ("sparse-X-1e39", ml, sp.csr_matrix(_with(X, 0, 2, 1e39)), YM, ValueError,
     r"X holds 1e\+39 in column 2 \(row 0\)"),
    ("joint-sparse-X-1e39", joint, sp.csc_matrix(_with(X, 4, 3, 1e39)), YJ, ValueError,
     r"X holds 1e\+39 in column 3 \(row 4\)"),
    ("mt-sparse-X-1e39", mt, sp.csr_matrix(_with(X, 0, 2, 1e39)), YT, ValueError,
     r"X holds 1e\+39 in column 2 \(row 0\)"),
    ("joint-target-1e300", joint, X, _joint_y(value_col=np.where(np.arange(60) == 3, 1e300,
                                                                 X[:, 0])),
     ValueError, r"regression target holds .*1e\+300.*beyond float32's range.*larger units"),
    ("mt-target-1e300", mt, X, YT.assign(v=np.where(np.arange(60) == 3, 1e300, X[:, 0])),
     ValueError, r"RegressionHead 'v' \(column 'v' of y\): the regression target holds "
                 r".*1e\+300.*larger units"),
    ("joint-target-1e-300", joint, X, _joint_y(value_col=X[:, 0] * 1e-300), ValueError,
     r"standard deviation .* underflows float32.*smaller units"),
    ("mt-target-1e-300", mt, X, YT.assign(v=X[:, 0] * 1e-300), ValueError,
     r"RegressionHead 'v' \(column 'v' of y\): the regression target's standard "
     r"deviation .* underflows float32"),
    # y of the wrong length, empty y
    ("ml-y-short", ml, X, YM[:50], ValueError, r"inconsistent numbers of samples: \[60, 50\]"),
    ("joint-y-short", joint, X, YJ[:50], ValueError,
     r"inconsistent numbers of samples: \[60, 50\]"),
    ("mt-y-short", mt, X, YT[:50], ValueError, r"inconsistent numbers of samples: \[60, 50\]"),
    ("ml-y-empty", ml, X, YM[:0], ValueError, r"inconsistent numbers of samples: \[60, 0\]"),
    ("joint-y-empty", joint, X, YJ[:0], ValueError, r"inconsistent numbers of samples: \[60, 0\]"),
    ("mt-y-empty", mt, X, YT[:0], ValueError, r"inconsistent numbers of samples: \[60, 0\]"),
    ("joint-y-empty-list", joint, X, [], ValueError, r"y must have 2 columns.*shape \(0,\)"),
    # MultiTaskEstimator: heads
    ("mt-heads-tuple", lambda: mt(heads=("v", RegressionHead("v"))), X, YT,
     InvalidParameterError,
     "'heads' parameter of MultiTaskEstimator must be an instance of 'list'"),
    ("mt-heads-unnamed", lambda: mt(heads=[RegressionHead("v")]), X, YT, ValueError,
     r"'heads' parameter .* list of \(name, head\) tuples"),
    ("mt-heads-empty", lambda: mt(heads=[]), X, YT, ValueError, "needs at least one head"),
    ("mt-head-not-a-head", lambda: mt(heads=[("v", MLPTrunk())]), X, YT, ValueError,
     r"list of \(name, head\) tuples, heads from mtestimator.heads"),
    ("mt-head-names-equal", lambda: mt(heads=[("v", RegressionHead("v")),
                                              ("v", ClassificationHead("c"))]), X, YT,
     ValueError, "head names .* distinct non-empty strings.*got 'v'"),
    ("mt-head-name-dunder", lambda: mt(heads=[("a__b", RegressionHead("v"))]), X, YT[["v"]],
     ValueError, "without '__' or '/'; got 'a__b'"),
    ("mt-head-name-slash", lambda: mt(heads=[("a/b", RegressionHead("v"))]), X, YT[["v"]],
     ValueError, "without '__' or '/'; got 'a/b'"),
    ("mt-head-name-empty", lambda: mt(heads=[("", RegressionHead("v"))]), X, YT[["v"]],
     ValueError, "non-empty strings.*got ''"),
    ("mt-two-heads-whole-y", lambda: mt(heads=[("v", RegressionHead()),
                                               ("c", ClassificationHead("c"))]), X, YT,
     ValueError, "Head 'v' of MultiTaskEstimator has columns=None"),
    ("mt-column-missing", lambda: mt(heads=[("v", RegressionHead("w")),
                                            ("c", ClassificationHead("c"))]), X, YT,
     ValueError, r"Head 'v' takes column 'w', which y does not have; y's columns are "
                 r"\['v', 'c'\]"),
    ("mt-column-twice", lambda: mt(heads=[("v", RegressionHead("v")),
                                          ("c", ClassificationHead("v"))]), X, YT,
     ValueError, "Column 'v' of y is taken by heads 'v' and 'c'"),
    ("mt-column-unused", lambda: mt(heads=[("v", RegressionHead(0)),
                                           ("w", RegressionHead(1))]),
     X, X[:, :3], ValueError, r"Columns \[2\] of y are taken by no head"),
    ("mt-column-name-on-array", mt, X, YT.to_numpy(), ValueError,
     "Head 'v' names the column 'v', but y is not a DataFrame"),
    ("mt-column-position-out", lambda: mt(heads=[("v", RegressionHead(0)),
                                                 ("c", ClassificationHead(5))]),
     X, YT.to_numpy(), ValueError, r"Head 'c' takes column 5, which y does not have"),
    ("mt-y-1d-two-heads", lambda: mt(heads=[("v", RegressionHead(0)),
                                            ("c", ClassificationHead(1))]), X, X[:, 0],
     ValueError, r"y must be a 2-D array or a DataFrame .* shape \(60,\)"),
    ("mt-when-not-tuple", lambda: mt(heads=[("v", RegressionHead("v", when="a")),
                                            ("c", ClassificationHead("c"))]), X, YT,
     InvalidParameterError, "'when' parameter of RegressionHead"),
    ("mt-when-no-condition-head", lambda: mt(heads=[
        ("v", RegressionHead("v", when=("z", ["a"]))), ("c", ClassificationHead("c"))]), X, YT,
     ValueError, r"no unconditional ClassificationHead .* takes column 'z'"),
    ("mt-loss-weights-all-zero", lambda: mt(heads=[
        ("v", RegressionHead("v", loss_weight=0)), ("c", ClassificationHead("c", loss_weight=0))]),
     X, YT, ValueError, r"loss weights of the heads .* are all zero"),
    ("mt-head-loss-weight-negative", lambda: mt(heads=[
        ("v", RegressionHead("v", loss_weight=-1)), ("c", ClassificationHead("c"))]), X, YT,
     InvalidParameterError, "'loss_weight' parameter of RegressionHead"),
    ("mt-loss-weights-str", lambda: mt(loss_weights="equal"), X, YT, InvalidParameterError,
     "'loss_weights' parameter of MultiTaskEstimator"),
    ("mt-class-head-two-columns", lambda: mt(heads=[("c", ClassificationHead(["c", "v"]))]),
     X, YT, ValueError, "takes one label column; got y of shape \\(60, 2\\)"),
    ("mt-class-head-continuous", lambda: mt(heads=[("c", ClassificationHead("v"))]), X,
     YT[["v"]], ValueError, "class labels are continuous values"),
    ("mt-class-head-mixed", lambda: mt(heads=[("c", ClassificationHead("c"))]), X,
     pd.DataFrame({"c": [1, "a"] * 30}), ValueError, "class labels mix numbers and strings"),
    ("mt-class-head-all-missing", mt, X, YT.assign(c=None), ValueError,
     "every class label is missing"),
    ("mt-regression-head-str", lambda: mt(heads=[("v", RegressionHead("c"))]), X, YT[["c"]],
     ValueError, r"RegressionHead 'v' \(column 'c' of y\): the regression target must be "
                 "numeric; got 'a'"),
    ("mt-regression-head-all-missing", mt, X, YT.assign(v=np.nan), ValueError,
     r"output\(s\) \[0\] have no value on any training row"),
    ("mt-multilabel-head-not-binary", lambda: mt(heads=[("m", MultiLabelHead())]), X, YM * 3,
     ValueError, r"only 0 and 1 .*got values \[3\] \(MultiLabelHead 'm' \(y\)\)"),
    # MultiTaskEstimator: trunks
    ("mt-trunk-str", lambda: mt(trunk="mlp"), X, YT, InvalidParameterError,
     "'trunk' parameter of MultiTaskEstimator must be an object implementing 'validate_X'"),
    ("mt-trunk-is-a-head", lambda: mt(trunk=RegressionHead()), X, YT, InvalidParameterError,
     "'trunk' parameter"),
    ("mlp-trunk-layers-empty", lambda: mt(trunk=MLPTrunk(())), X, YT, ValueError,
     r"'hidden_layer_sizes' .* Got \(\) instead"),
    ("mlp-trunk-activation", lambda: mt(trunk=MLPTrunk((4,), activation="x")), X, YT,
     InvalidParameterError, "'activation' parameter of MLPTrunk"),
    ("recurrent-trunk-cell", lambda: mt(trunk=RecurrentTrunk((4,), cell="rnn")), XS, YT,
     InvalidParameterError, "'cell' parameter of RecurrentTrunk.*Got 'rnn'"),
    ("recurrent-trunk-layers-zero", lambda: mt(trunk=RecurrentTrunk((0,))), XS, YT,
     ValueError, r"'hidden_layer_sizes' .* Got \(0,\) instead"),
    ("conv1d-trunk-kernel-zero", lambda: mt(trunk=Conv1DTrunk((4,), kernel_size=0)), XS, YT,
     InvalidParameterError, "'kernel_size' parameter of Conv1DTrunk"),
    ("keras-trunk-not-callable", lambda: mt(trunk=KerasTrunk("f")), X, YT,
     InvalidParameterError, "'build_fn' parameter of KerasTrunk must be a callable"),
    ("keras-trunk-input-dtype", lambda: mt(trunk=KerasTrunk(_seeded_dense, input_dtype="int")),
     X, YT, InvalidParameterError, "'input_dtype' parameter of KerasTrunk"),
    ("keras-trunk-3d-output", lambda: mt(trunk=KerasTrunk(_not_flat)), X, YT, ValueError,
     r"output is 2-D .* shape \(None, 2, 2\)"),
    ("keras-trunk-returns-none", lambda: mt(trunk=KerasTrunk(_returns_none)), X, YT,
     (TypeError, ValueError), "build_fn must return"),
    ("keras-trunk-build-fn-raises", lambda: mt(trunk=KerasTrunk(_raises)), X, YT,
     ZeroDivisionError, "build_fn failed"),
    ("keras-trunk-sparse-X", lambda: mt(trunk=KerasTrunk(_seeded_dense)), sp.csr_matrix(X), YT,
     TypeError, "KerasTrunk takes dense X"),
    ("keras-trunk-nan-X", lambda: mt(trunk=KerasTrunk(_seeded_dense)), _at(XS, (3, 2, 1), np.nan),
     YT, ValueError, "Input X contains NaN"),
    ("keras-trunk-X-1e39", lambda: mt(trunk=KerasTrunk(_seeded_dense)), _with(X, 0, 2, 1e39),
     YT, ValueError, r"X holds 1e\+39 in column 2"),
    ("keras-trunk-text-on-jax", lambda: mt(trunk=KerasTrunk(_text_trunk)), TEXTS, YT,
     ValueError, r"String input \(a text KerasTrunk\) trains on the TensorFlow backend only"),
    # sequence trunks (presets)
    ("lstm-4d-X", lambda: joint(trunk="lstm"), XS[..., None], YJ, ValueError,
     r"RecurrentTrunk expects X of shape \(n_samples, timesteps, channels\).*got 4"),
    ("conv1d-4d-X", lambda: joint(trunk="conv1d"), XS[..., None], YJ, ValueError,
     r"Conv1DTrunk expects X of shape .*got 4 dimensions"),
    ("gru-1d-X", lambda: joint(trunk="gru"), X[:, 0], YJ, ValueError, "Expected 2D array"),
    ("gru-sparse-X", lambda: ml(trunk="gru"), sp.csr_matrix(X), YM, TypeError,
     "Sparse data was passed"),
    ("conv1d-sparse-X", lambda: joint(trunk="conv1d"), sp.csr_matrix(X), YJ, TypeError,
     "Sparse data was passed"),
    ("lstm-nan-X", lambda: joint(trunk="lstm"), _SEQ_NAN, YJ, ValueError,
     "Input X contains NaN"),
    ("gru-inf-X", lambda: ml(trunk="gru"), _SEQ_INF, YM, ValueError,
     "Input X contains infinity"),
    ("conv1d-nan-X", lambda: ml(trunk="conv1d"), _SEQ_NAN, YM, ValueError,
     "Input X contains NaN"),
    ("lstm-X-1e39", lambda: joint(trunk="lstm"), _SEQ_BIG, YJ, ValueError,
     r"X holds 1e\+39 .*\(row 3\), beyond float32's range"),
    ("seq-X-1e39-names-channel", lambda: joint(trunk="conv1d"), _SEQ_BIG, YJ, ValueError,
     r"X holds 1e\+39 in .*timestep 2.*channel 1"),
    ("lstm-0-timesteps", lambda: joint(trunk="lstm"), XS[:, :0], YJ, ValueError,
     r"0 timestep|0 feature"),
    ("conv1d-0-timesteps", lambda: joint(trunk="conv1d"), XS[:, :0], YJ, ValueError,
     r"0 timestep|0 feature"),
    ("conv1d-0-channels", lambda: joint(trunk="conv1d"), XS[:, :, :0], YJ, ValueError,
     r"0 channel|0 feature"),
    ("lstm-0-channels", lambda: ml(trunk="lstm"), XS[:, :, :0], YM, ValueError,
     r"0 channel|0 feature"),
    ("ml-mlp-trunk-on-sequences", ml, XS, YM, ValueError,
     r"Found array with dim 3, but MultiLabelMLPClassifier with trunk='mlp' expects 2-D X"),
]


def _same(given, copy_):
    if given is None:
        return copy_ is None
    if sp.issparse(given):
        return (given != copy_).nnz == 0
    if isinstance(given, pd.DataFrame):
        return given.equals(copy_)
    # NaN compares equal to NaN here
    return pd.Series(np.asarray(given, dtype=object).ravel()).equals(
        pd.Series(np.asarray(copy_, dtype=object).ravel()))


@pytest.mark.parametrize("make, X_, y_, exc, match", _table(FIT_CASES, 5))
def test_bad_input_at_fit(make, X_, y_, exc, match):
    X_copy, y_copy = copy.deepcopy(X_), copy.deepcopy(y_)
    est = make()
    with pytest.raises(exc, match=match):
        est.fit(X_, y_)
    assert not hasattr(est, "model_") and not hasattr(est, "n_features_in_")
    assert _same(X_, X_copy) and _same(y_, y_copy)  # the caller's data is untouched


# (id, estimator factory, y, sample_weight, exception, message pattern)
_ONES = np.ones(60)
WEIGHT_CASES = [
    (f"{name}-{case}", make, y, weight, exc, match)
    for name, make, y in (("ml", ml, YM), ("joint", joint, YJ), ("mt", mt, YT))
    for case, weight, exc, match in (
        ("weight-negative", _at(_ONES, 5, -1.0), ValueError,
         "Negative values in data passed to `sample_weight`"),
        ("weight-length", _ONES[:50], ValueError,
         r"sample_weight.shape == \(50,\), expected \(60,\)"),
        ("weight-nan", _at(_ONES, 5, np.nan), ValueError, "Input sample_weight contains NaN"),
        ("weight-1e39", _at(_ONES, 5, 1e39), ValueError,
         r"sample_weight holds .*1e\+39.*beyond float32's range .* rescale the weights"),
    )
] + [
    ("ml-weight-inf", ml, YM, _at(_ONES, 0, np.inf), ValueError,
     "Input sample_weight contains infinity"),
    ("joint-weight-all-zero", joint, YJ, np.zeros(60), ValueError,
     "Sample weights must contain at least one non-zero number"),
    ("mt-weight-2d", mt, YT, np.ones((60, 2)), ValueError,
     "Sample weights must be 1D array or scalar"),
    ("ml-weight-str", ml, YM, np.array(["a"] * 60), ValueError,
     "could not convert string to float"),
]


@pytest.mark.parametrize("make, y_, weight, exc, match", _table(WEIGHT_CASES, 5))
def test_bad_sample_weight_at_fit(make, y_, weight, exc, match):
    weight_copy = weight.copy()
    est = make()
    with pytest.raises(exc, match=match):
        est.fit(X, y_, sample_weight=weight)
    assert not hasattr(est, "model_")
    assert _same(weight, weight_copy)


# -- bad input at predict ----------------------------------------------------------

#: Fitted once per module, on first use: what each predict case and each
#: partial_fit case starts from.
_FITS = {
    "ml": lambda: ml().fit(X, YM),
    "joint": lambda: joint().fit(X, YJ),
    "mt": lambda: mt().fit(X, YT),
    "lstm": lambda: joint(trunk="lstm").fit(XS, YJ),
    "gru": lambda: ml(trunk="gru").fit(XS, YM),
    "conv1d": lambda: joint(trunk="conv1d").fit(XS, YJ),
    "keras-trunk": lambda: mt(trunk=KerasTrunk(_seeded_dense)).fit(XS, YT),
    "joint-auto": lambda: joint(loss_weights="auto").fit(X, YJ),
}


@functools.cache
def fitted(key):
    return _FITS[key]()


def _unfitted(make):
    return lambda: make()


# (id, estimator: a key of _FITS or a factory of an unfitted one, call, exception, pattern)
PREDICT_CASES = [
    ("ml-unfitted", _unfitted(ml), lambda e: e.predict(X), NotFittedError, "not fitted yet"),
    ("ml-features", "ml", lambda e: e.predict(X[:, :3]), ValueError,
     "X has 3 features, but MultiLabelMLPClassifier"),
    ("ml-nan", "ml", lambda e: e.predict(_with(X, 0, 0, np.nan)), ValueError,
     "Input X contains NaN"),
    ("joint-unfitted", _unfitted(joint), lambda e: e.predict(X), NotFittedError,
     "not fitted yet"),
    ("joint-features", "joint", lambda e: e.predict(X[:, :2]), ValueError, "X has 2 features"),
    ("mt-unfitted", _unfitted(mt), lambda e: e.predict(X), NotFittedError, "not fitted yet"),
    ("mt-unfitted-predict-head", _unfitted(mt), lambda e: e.predict_head(X, "v"),
     NotFittedError, "not fitted yet"),
    ("mt-features", "mt", lambda e: e.predict(X[:, :3]), ValueError,
     "X has 3 features, but MultiTaskEstimator is expecting 4"),
    ("mt-unknown-head", "mt", lambda e: e.predict_head(X, "z"), ValueError,
     r"has no head 'z'; its heads are \['v', 'c'\]"),
    ("mt-regression-only-no-proba", _unfitted(lambda: mt(heads=[("v", RegressionHead("v"))])),
     lambda e: e.predict_proba(X), AttributeError, "predict_proba"),
    # float32's range at predict
    ("ml-X-1e39", "ml", lambda e: e.predict(_with(X, 0, 2, 1e39)), ValueError,
     r"X holds 1e\+39 in column 2 \(row 0\)"),
    ("ml-proba-X-1e39", "ml", lambda e: e.predict_proba(_with(X, 0, 2, 1e39)), ValueError,
     r"X holds 1e\+39 in column 2 \(row 0\)"),
    ("ml-sparse-X-1e39", "ml", lambda e: e.predict(sp.csr_matrix(_with(X, 0, 2, 1e39))),
     ValueError, r"X holds 1e\+39 in column 2 \(row 0\)"),
    ("joint-X-1e39", "joint", lambda e: e.predict_regression(_with(X, 0, 2, 1e39)), ValueError,
     r"X holds 1e\+39 in column 2 \(row 0\)"),
    ("mt-X-1e39", "mt", lambda e: e.predict(_with(X, 0, 2, 1e39)), ValueError,
     r"X holds 1e\+39 in column 2 \(row 0\)"),
    ("lstm-X-1e39", "lstm", lambda e: e.predict(_SEQ_BIG), ValueError,
     r"X holds 1e\+39 .*\(row 3\)"),
    # NaN and infinity, every trunk
    ("joint-inf", "joint", lambda e: e.predict(_with(X, 0, 0, np.inf)), ValueError,
     "Input X contains infinity"),
    ("mt-nan", "mt", lambda e: e.predict(_with(X, 0, 0, np.nan)), ValueError,
     "Input X contains NaN"),
    ("lstm-nan", "lstm", lambda e: e.predict(_SEQ_NAN), ValueError, "Input X contains NaN"),
    ("gru-inf", "gru", lambda e: e.predict_proba(_SEQ_INF), ValueError,
     "Input X contains infinity"),
    ("conv1d-nan", "conv1d", lambda e: e.predict(_SEQ_NAN), ValueError, "Input X contains NaN"),
    ("conv1d-inf", "conv1d", lambda e: e.predict_proba(_SEQ_INF), ValueError,
     "Input X contains infinity"),
    ("keras-trunk-nan", "keras-trunk", lambda e: e.predict(_SEQ_NAN), ValueError,
     "Input X contains NaN"),
    ("keras-trunk-inf", "keras-trunk", lambda e: e.predict(_SEQ_INF), ValueError,
     "Input X contains infinity"),
    # the wrong number of features for sequence trunks (and other shapes)
    ("lstm-timesteps", "lstm", lambda e: e.predict(XS[:, :4]), ValueError,
     r"X has 4 timesteps, but JointRegressorClassifier was fitted on sequences of 5 "
     r"timesteps .* Pad or cut"),
    ("gru-timesteps", "gru", lambda e: e.predict(XS[:, :2]), ValueError,
     r"X has 2 timesteps, but MultiLabelMLPClassifier was fitted on sequences of 5 "),
    ("gru-channels", "gru", lambda e: e.predict(XS[:, :, :1]), ValueError,
     r"X has samples of shape \(5, 1\), but MultiLabelMLPClassifier was fitted on samples "
     r"of shape \(5, 2\)"),
    ("conv1d-2d-X", "conv1d", lambda e: e.predict(XS[:, :, 0]), ValueError,
     r"samples of shape \(5, 1\), but .* fitted on samples of shape \(5, 2\)"),
    ("conv1d-timesteps", "conv1d", lambda e: e.predict(XS[:, :3]), ValueError,
     "X has 3 timesteps, but JointRegressorClassifier was fitted on sequences of 5"),
    ("lstm-4d-X", "lstm", lambda e: e.predict(XS[..., None]), ValueError,
     "RecurrentTrunk expects X of shape"),
    ("gru-sparse-X", "gru", lambda e: e.predict(sp.csr_matrix(XS[:, :, 0])), TypeError,
     "Sparse data was passed"),
    ("keras-trunk-shape", "keras-trunk", lambda e: e.predict(XS[:, :4]), ValueError,
     r"X has samples of shape \(4, 2\), but MultiTaskEstimator was fitted on samples of "
     r"shape \(5, 2\)"),
    ("keras-trunk-text", "keras-trunk", lambda e: e.predict(TEXTS), ValueError,
     r"samples of shape \(\), but MultiTaskEstimator was fitted on samples of shape \(5, 2\)"),
    ("ml-empty-X", "ml", lambda e: e.predict(X[:0]), ValueError,
     r"Found array with 0 sample\(s\) \(shape=\(0, 4\)\)"),
    ("joint-1d-X", "joint", lambda e: e.predict(X[0]), ValueError, "Expected 2D array"),
    ("mt-3d-X", "mt", lambda e: e.predict(X.reshape(60, 2, 2)), ValueError,
     "Found array with dim 3, but MultiTaskEstimator with trunk='mlp'"),
    # score with y of another length
    ("ml-score-y-rows", "ml", lambda e: e.score(X, YM[:50]), ValueError,
     r"inconsistent numbers of samples: \[60, 50\]"),
    ("joint-score-y-rows", "joint", lambda e: e.score(X, YJ[:50]), ValueError,
     r"inconsistent numbers of samples: \[60, 50\]"),
    ("mt-score-y-rows", "mt", lambda e: e.score(X, YT[:50]), ValueError,
     r"inconsistent numbers of samples: \[60, 50\]"),
]


@pytest.mark.parametrize("source, call, exc, match", _table(PREDICT_CASES, 4))
def test_bad_input_at_predict(source, call, exc, match):
    est = source() if callable(source) else fitted(source)
    with pytest.raises(exc, match=match):
        call(est)


# -- partial_fit: bad input and changed parameters, all or nothing ----------------------

def _snapshot(est):
    """What a failed fit must leave as it was."""
    if not hasattr(est, "model_"):
        return None
    return ([w.copy() for w in est.model_.get_weights()], copy.deepcopy(est.history_),
            est.n_iter_, pickle.dumps(est.heads_), est.n_features_in_)


def _assert_unchanged(est, snap):
    if snap is None:
        assert not hasattr(est, "model_") and not hasattr(est, "n_features_in_")
        return
    weights, history, n_iter, heads, n_features = snap
    now = est.model_.get_weights()
    assert len(now) == len(weights)
    for a, b in zip(now, weights):
        np.testing.assert_array_equal(a, b)
    assert est.history_ == history and est.n_iter_ == n_iter
    assert pickle.dumps(est.heads_) == heads and est.n_features_in_ == n_features


def _copy_of(key):
    # a deep copy, not a pickle round trip: see test_partial_fit_continues_after_a_round_trip
    return copy.deepcopy(fitted(key))


_YD = _joint_y(label_col=np.where(np.arange(60) == 0, "d", YJ[:, 1]))

# (id, estimator: key of _FITS (a copy of it) or a factory of an unfitted one,
#  set_params, X, y, partial_fit kwargs, exception, message pattern)
PARTIAL_FIT_CASES = [
    ("pf-classes-missing-a-label", _unfitted(joint), {}, X, YJ, {"classes": ["a"]},
     ValueError, r"y holds labels \['b'\] that are not in classes=\['a'\]"),
    ("pf-classes-other-labels", _unfitted(joint), {}, X, YJ, {"classes": ["a", "c"]},
     ValueError, r"y holds labels \['b'\] that are not in classes=\['a', 'c'\] "
                 r"\(ClassificationHead 'classification'"),
    ("pf-mt-classes-dict", _unfitted(mt), {}, X, YT, {"classes": {"c": ["a", "z"]}},
     ValueError, r"y holds labels \['b'\] that are not in classes=\['a', 'z'\] "
                 r"\(ClassificationHead 'c'"),
    ("pf-mt-classes-list", _unfitted(mt), {}, X, YT, {"classes": ["a", "z"]}, ValueError,
     r"labels \['b'\] that are not in classes=\['a', 'z'\]"),
    ("pf-unfitted-y-none", _unfitted(ml), {}, X, None, {}, ValueError,
     "requires y to be passed"),
    ("pf-unfitted-nan-X", _unfitted(ml), {}, _with(X, 0, 0, np.nan), YM, {}, ValueError,
     "Input X contains NaN"),
    ("pf-unseen-label", "joint", {}, X, _YD, {}, ValueError,
     r"y contains labels not seen in fit: \['d'\]; the classes seen in fit are \['a', 'b'\]"),
    ("pf-mt-unseen-label", "mt", {}, X, YT.assign(c="q"), {}, ValueError,
     r"labels not seen in fit: \['q'\]"),
    ("pf-features", "joint", {}, X[:, :3], YJ, {}, ValueError,
     "X has 3 features, but JointRegressorClassifier is expecting 4 features"),
    ("pf-sequence-timesteps", "lstm", {}, XS[:, :4], YJ, {}, ValueError,
     "X has 4 timesteps, but JointRegressorClassifier was fitted on sequences of 5"),
    ("pf-sequence-channels", "gru", {}, XS[:, :, :1], YM, {}, ValueError,
     r"samples of shape \(5, 1\), but MultiLabelMLPClassifier was fitted on samples of "
     r"shape \(5, 2\)"),
    ("pf-X-1e39", "ml", {}, _with(X, 0, 2, 1e39), YM, {}, ValueError,
     r"X holds 1e\+39 in column 2 \(row 0\)"),
    ("pf-y-columns", "joint", {}, X, YJ[:, :1], {}, ValueError,
     r"y must have 2 columns .* got 1 columns"),
    ("pf-label-columns", "ml", {}, X, np.column_stack([YM, YM[:, 0]]), {}, ValueError,
     r"y has 4 label columns, but MultiLabelHead 'labels' \(y\) was fitted with 3 labels"),
    ("pf-not-binary", "ml", {}, X, YM * 2, {}, ValueError, r"only 0 and 1.*\[2\]"),
    ("pf-y-short", "ml", {}, X, YM[:10], {}, ValueError,
     r"inconsistent numbers of samples: \[60, 10\]"),
    ("pf-mt-column-missing", "mt", {}, X, YT[["v"]], {}, ValueError,
     r"Head 'c' takes column 'c', which y does not have"),
    ("pf-target-1e300", "mt", {}, X, YT.assign(v=np.where(np.arange(60) == 3, 1e300, 0.0)), {},
     ValueError, r"regression target holds .*1e\+300.*larger units"),
    ("pf-weight-negative", "joint", {}, X, YJ, {"sample_weight": _at(_ONES, 5, -1.0)},
     ValueError, "Negative values in data passed to `sample_weight`"),
    ("pf-weight-1e39", "mt", {}, X, YT, {"sample_weight": _at(_ONES, 5, 1e39)}, ValueError,
     r"sample_weight holds .*1e\+39"),
    # parameters that change the network: "Call fit"
    ("pf-hidden-layer-sizes", "joint", {"hidden_layer_sizes": (5,)}, X, YJ, {}, ValueError,
     r"heads or the trunk of JointRegressorClassifier changed since it was fitted "
     r"\(set_params\); partial_fit cannot change the network. Call fit."),
    ("pf-trunk", "joint", {"trunk": "lstm"}, X, YJ, {}, ValueError, "Call fit"),
    ("pf-activation", "ml", {"activation": "tanh"}, X, YM, {}, ValueError, "Call fit"),
    ("pf-dropout", "ml", {"dropout": 0.5}, X, YM, {}, ValueError, "Call fit"),
    ("pf-kernel-initializer", "ml", {"kernel_initializer": "zeros"}, X, YM, {}, ValueError,
     "Call fit"),
    ("pf-threshold", "ml", {"threshold": 0.3}, X, YM, {}, ValueError, "Call fit"),
    ("pf-class-weight", "ml", {"class_weight": "balanced"}, X, YM, {}, ValueError, "Call fit"),
    ("pf-loss-weights", "joint", {"loss_weights": (1.0, 2.0)}, X, YJ, {}, ValueError,
     "Call fit"),
    ("pf-scale-regression-target", "joint", {"scale_regression_target": False}, X, YJ, {},
     ValueError, "Call fit"),
    ("pf-loss-weights-to-auto", "joint", {"loss_weights": "auto"}, X, YJ, {}, ValueError,
     "Call fit"),
    ("pf-loss-weights-from-auto", "joint-auto", {"loss_weights": (1.0, 1.0)}, X, YJ, {},
     ValueError, "Call fit"),
    ("pf-mt-head-param", "mt", {"heads__v__scale": False}, X, YT, {}, ValueError,
     "heads or the trunk of MultiTaskEstimator changed.*Call fit"),
    ("pf-mt-trunk-param", "mt", {"trunk__hidden_layer_sizes": (5,)}, X, YT, {}, ValueError,
     "Call fit"),
    ("pf-mt-head-replaced", "mt", {"heads__c": ClassificationHead("c", class_weight="balanced")},
     X, YT, {}, ValueError, "Call fit"),
    ("pf-mt-loss-weight", "mt", {"heads__c__loss_weight": 2.0}, X, YT, {}, ValueError,
     "Call fit"),
]


@pytest.mark.parametrize("source, params, X_, y_, kwargs, exc, match",
                         _table(PARTIAL_FIT_CASES, 7))
def test_bad_partial_fit_leaves_the_estimator_as_it_was(source, params, X_, y_, kwargs, exc,
                                                         match):
    est = source() if callable(source) else _copy_of(source)
    snap = _snapshot(est)
    with pytest.raises(exc, match=match):
        est.set_params(**params).partial_fit(X_, y_, **kwargs)
    _assert_unchanged(est, snap)


# -- divergence: the same FloatingPointError on every path ---------------------------

_BIG = _joint_y(value_col=X[:, 0] * 1e30)  # its squared error overflows float32
_DIVERGE = {"scale_regression_target": False, "optimizer": "sgd", "learning_rate": 1.0}


def _warm(make, y):
    """Fitted at normal settings (Adam, lr 0.001, the target unscaled), then set to
    diverge (partial_fit keeps the optimizer: only its rate changes)."""
    return lambda: make(scale_regression_target=False).fit(X, y).set_params(
        learning_rate=1.0)


def _mt_diverging(scale_regression_target=False, **kw):
    """The MultiTaskEstimator of ``mt()``, its regression target unscaled."""
    return mt(heads=[("v", RegressionHead("v", scale=scale_regression_target)),
                     ("c", ClassificationHead("c"))], **kw)


_YT_BIG = YT.assign(v=X[:, 0] * 1e30)
_CB = keras.callbacks.Callback

# (id, prepare: an estimator, unfitted or fitted, call)
DIVERGENCE_CASES = [
    ("fit-fast", lambda: joint(**_DIVERGE), lambda e: e.fit(X, _BIG)),
    ("fit-callbacks", lambda: joint(**_DIVERGE, callbacks=[_CB()]), lambda e: e.fit(X, _BIG)),
    ("fit-early-stopping", lambda: joint(**_DIVERGE, early_stopping=True),
     lambda e: e.fit(X, _BIG)),
    ("fit-early-stopping-callbacks",
     lambda: joint(**_DIVERGE, early_stopping=True, callbacks=[_CB()]),
     lambda e: e.fit(X, _BIG)),
    ("fit-loss-weights-auto", lambda: joint(**_DIVERGE, loss_weights="auto"),
     lambda e: e.fit(X, _BIG)),
    ("fit-lstm", lambda: joint(**_DIVERGE, trunk="lstm"), lambda e: e.fit(XS, _BIG)),
    ("fit-conv1d", lambda: joint(**_DIVERGE, trunk="conv1d"), lambda e: e.fit(XS, _BIG)),
    ("fit-mt", lambda: _mt_diverging(**_DIVERGE), lambda e: e.fit(X, _YT_BIG)),
    ("fit-mt-callbacks", lambda: _mt_diverging(**_DIVERGE, callbacks=[_CB()]),
     lambda e: e.fit(X, _YT_BIG)),
    ("refit-fast", _warm(joint, YJ), lambda e: e.fit(X, _BIG)),
    ("partial-fit-first", lambda: joint(**_DIVERGE), lambda e: e.partial_fit(X, _BIG)),
    ("partial-fit-first-callbacks", lambda: joint(**_DIVERGE, callbacks=[_CB()]),
     lambda e: e.partial_fit(X, _BIG)),
    ("partial-fit-warm", _warm(joint, YJ), lambda e: e.partial_fit(X, _BIG)),
    ("partial-fit-warm-callbacks", lambda: _warm(joint, YJ)().set_params(callbacks=[_CB()]),
     lambda e: e.partial_fit(X, _BIG)),
    ("partial-fit-warm-early-stopping",
     lambda: _warm(joint, YJ)().set_params(early_stopping=True),
     lambda e: e.partial_fit(X, _BIG)),
    ("partial-fit-warm-mt", _warm(_mt_diverging, YT), lambda e: e.partial_fit(X, _YT_BIG)),
]


@pytest.mark.parametrize("prepare, call", _table(DIVERGENCE_CASES, 2))
@pytest.mark.backend
def test_divergence_raises_the_same_error_on_every_path(prepare, call):
    est = prepare()
    snap = _snapshot(est)
    with pytest.raises(FloatingPointError,
                       match=rf"Training of {type(est).__name__} diverged: the loss became "
                             r"(nan|inf) at epoch 1\. The estimator was left as it was"):
        call(est)
    _assert_unchanged(est, snap)


def test_at_least_120_cases():
    tables = (FIT_CASES, WEIGHT_CASES, PREDICT_CASES, PARTIAL_FIT_CASES, DIVERGENCE_CASES)
    ids = [row[0] for table in tables for row in table]
    assert len(ids) >= 120
    for table in tables:  # ids are unique within a table
        assert len({row[0] for row in table}) == len(table)
    assert set(XFAIL) | set(SKIP) <= set(ids)


# -- partial_fit is all or nothing ------------------------------------------------------

def _fitted_twice(callbacks=None):
    """Fitted and continued once at normal settings, the regression target unscaled."""
    est = joint(scale_regression_target=False, callbacks=callbacks).fit(X, YJ)
    return est.partial_fit(X, YJ)


@pytest.mark.parametrize("path", ["fast", "callbacks"])
@pytest.mark.backend
def test_diverging_partial_fit_keeps_weights_history_heads_and_persists(path, tmp_path):
    est = _fitted_twice([_CB()] if path == "callbacks" else None)
    snap = _snapshot(est)
    proba = est.predict_proba(X)
    assert est.n_iter_ == 3 and np.isfinite(proba).all()
    est.set_params(learning_rate=1.0)
    with pytest.raises(FloatingPointError, match="diverged"):
        est.partial_fit(X, _BIG)
    _assert_unchanged(est, snap)
    np.testing.assert_array_equal(est.predict_proba(X), proba)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict_proba(X), proba)
    est.save(tmp_path / "after.mtest")
    loaded = mtestimator.load(tmp_path / "after.mtest")
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    assert loaded.n_iter_ == 3 and loaded.history_ == est.history_


@pytest.mark.parametrize("path", [
    "fast",
    "callbacks",
])
@pytest.mark.backend
def test_partial_fit_after_a_failed_one_is_the_one_without_it(path):
    callbacks = [_CB()] if path == "callbacks" else None
    clean = _fitted_twice(callbacks).partial_fit(X, YJ)
    failed = _fitted_twice(callbacks)
    with pytest.raises(FloatingPointError):
        failed.partial_fit(X, _BIG)
    failed.partial_fit(X, YJ)
    np.testing.assert_array_equal(failed.predict_proba(X), clean.predict_proba(X))
    assert failed.n_iter_ == clean.n_iter_ == 4


@pytest.mark.parametrize("path", [
    "fast",
    "callbacks",
])
@pytest.mark.backend
def test_partial_fit_uses_the_current_learning_rate(path):
    callbacks = [_CB()] if path == "callbacks" else None
    same = joint(callbacks=callbacks).fit(X, YJ).partial_fit(X, YJ)
    changed = joint(callbacks=callbacks).fit(X, YJ).set_params(learning_rate=0.05)
    changed.partial_fit(X, YJ)
    assert not np.array_equal(same.predict_proba(X), changed.predict_proba(X))


def _continued_with(optimizers, other_fit):
    """Fit with Adam, then one partial_fit per optimizer in turn; ``other_fit`` first
    runs an unrelated fit of the same architecture with that optimizer."""
    est = joint(scale_regression_target=False).fit(X, YJ)
    for name in optimizers:
        if other_fit:
            joint(scale_regression_target=False, optimizer=name, learning_rate=0.05,
                  random_state=3).fit(X * 2, YJ)
        est.set_params(optimizer=name)
        try:
            est.partial_fit(X, YJ)
        except ValueError as exc:  # refusing is a correct answer too, if it says so
            assert "optimizer" in str(exc) and "Call fit" in str(exc), exc
            return None
    return est.predict_proba(X)


@pytest.mark.parametrize("optimizers", [
    ["adam"], ["sgd"], ["adamw"],
    ["sgd", "adam"], ["nadam"], ["rmsprop"], ["adagrad"],
], ids="-".join)
@pytest.mark.backend
def test_partial_fit_with_another_optimizer_depends_only_on_this_estimator(optimizers):
    # Either a clear "Call fit" or a continuation that is a function of this
    # estimator's own calls, never of what other fits left in a cached trainer.
    alone = _continued_with(optimizers, other_fit=False)
    beside = _continued_with(optimizers, other_fit=True)
    if alone is None or beside is None:
        assert alone is None and beside is None
    else:
        np.testing.assert_array_equal(alone, beside)



def _round_trip(est, how, tmp_path):
    if how == "pickle":
        return pickle.loads(pickle.dumps(est))
    if how == "joblib":
        joblib.dump(est, tmp_path / "est.joblib")
        return joblib.load(tmp_path / "est.joblib")
    est.save(tmp_path / "est.mtest")
    return mtestimator.load(tmp_path / "est.mtest")


@pytest.mark.parametrize("how", ["pickle", "joblib", "load"])
@pytest.mark.parametrize("source", ["ml", "joint", "mt"])
@pytest.mark.backend
def test_partial_fit_continues_after_a_round_trip(source, how, tmp_path):
    est = _copy_of(source)
    y = {"ml": YM, "joint": YJ, "mt": YT}[source]
    again = _round_trip(est, how, tmp_path)
    again.partial_fit(X, y)
    assert again.n_iter_ == est.n_iter_ + 1
    assert len(again.history_["loss"]) == again.n_iter_
    est.partial_fit(X, y)
    if how != "load":  # pickle keeps the optimizer's state: the very same continuation
        np.testing.assert_array_equal(again.predict(X), est.predict(X))
    else:  # the file keeps no optimizer state
        assert np.isfinite(np.asarray(again.history_["loss"])).all()


class Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt


@pytest.mark.backend
def test_keyboard_interrupt_in_partial_fit_leaves_weights_history_and_n_iter():
    est = joint().fit(X, YJ)
    twin = joint().fit(X, YJ)
    snap = _snapshot(est)
    with pytest.raises(KeyboardInterrupt):
        est.set_params(callbacks=[Interrupt()]).partial_fit(X, YJ)
    _assert_unchanged(est, snap)
    assert est.n_iter_ == 2 and len(est.history_["loss"]) == 2
    # and the next call continues as if the interrupted one never ran
    est.set_params(callbacks=None).partial_fit(X, YJ)
    twin.partial_fit(X, YJ)
    np.testing.assert_array_equal(est.predict_proba(X), twin.predict_proba(X))
    assert est.history_ == twin.history_


class CountEpochs(keras.callbacks.Callback):
    """Counts on_epoch_end calls on the class: each fit runs a deep copy."""
    calls = 0

    def on_epoch_end(self, epoch, logs=None):
        type(self).calls += 1


@pytest.mark.backend
def test_callbacks_set_between_partial_fits_apply():
    est = joint().fit(X, YJ)  # the fast path: no callbacks
    CountEpochs.calls = 0
    counter = CountEpochs()
    est.set_params(callbacks=[counter]).partial_fit(X, YJ)
    assert CountEpochs.calls == 1
    est.partial_fit(X, YJ)
    assert CountEpochs.calls == 2 and est.n_iter_ == 4
    assert counter.model is None  # the parameter object itself never trained
    est.set_params(callbacks=None).partial_fit(X, YJ)
    assert CountEpochs.calls == 2 and est.n_iter_ == 5


class BatchHook(keras.callbacks.Callback):
    """A per-batch hook: the fit takes Keras's own ``model.fit`` (the general path)."""

    def on_train_batch_end(self, batch, logs=None):
        pass


@pytest.mark.backend
def test_partial_fit_carries_the_optimizer_across_paths_and_past_a_failed_call():
    # Both paths hand the optimizer's variables on (Adam's iteration count and
    # moments): fast -> Keras-fit -> fast is the all-fast continuation, up to
    # float rounding (measured bit-equal on TensorFlow). The diverged call on
    # the Keras-fit path compiled the network's own optimizer, whose variables
    # became NaN: the next calls on that path must not start from them.
    reference = joint(scale_regression_target=False).fit(X, YJ)
    est = joint(scale_regression_target=False).fit(X, YJ)
    est.set_params(callbacks=[BatchHook()], learning_rate=1.0)
    with pytest.raises(FloatingPointError, match="diverged"):
        est.partial_fit(X, _BIG)
    est.set_params(learning_rate=0.001)
    steps = -(-len(X) // 32)  # batches of 32
    for callbacks in ([BatchHook()], [BatchHook()], None):  # Keras-fit twice, then fast
        est.set_params(callbacks=callbacks).partial_fit(X, YJ)
        reference.partial_fit(X, YJ)
        assert int(est._optimizer_state["model"][0]) == est.n_iter_ * steps
        np.testing.assert_allclose(est.predict_proba(X), reference.predict_proba(X),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(est.history_["loss"], reference.history_["loss"],
                                   rtol=1e-5)


@pytest.mark.parametrize("schedule", ["cosine", "linear_warmup_cosine"])
def test_scheduled_keras_fit_then_partial_fit_and_save(schedule, tmp_path):
    # Keras's optimizer compiled with a schedule has no learning-rate variable:
    # its state still lines up with the compiled trainer's, in memory and on disk.
    est = mt(callbacks=[BatchHook()], learning_rate_schedule=schedule).fit(X, YT)
    assert len(est._optimizer_state["model"]) == len(mt().fit(X, YT)._optimizer_state["model"])
    est.partial_fit(X, YT)  # Keras-fit again, at a constant rate
    est.set_params(callbacks=None).partial_fit(X, YT)  # the compiled trainer
    est.save(tmp_path / "m.mtest")
    mtestimator.load(tmp_path / "m.mtest").partial_fit(X, YT)
    assert np.isfinite(est.predict_proba(X)).all()


def test_shape_changing_set_params_then_partial_fit_says_call_fit():
    est = joint().fit(X, YJ)
    snap = _snapshot(est)
    with pytest.raises(ValueError, match="partial_fit cannot change the network. Call fit"):
        est.set_params(hidden_layer_sizes=(6,)).partial_fit(X, YJ)
    _assert_unchanged(est, snap)
    est.fit(X, YJ)  # fit takes the new shape
    assert est.model_.get_layer("trunk_dense_0").units == 6


# -- training faults ---------------------------------------------------------

@pytest.mark.backend
def test_divergence_raises_and_keeps_the_previous_fit():
    y = _joint_y(value_col=X[:, 0] * 1e30)
    est = joint(scale_regression_target=False, learning_rate=1.0, optimizer="sgd", epochs=5)
    with pytest.raises(FloatingPointError, match="diverged.*Lower 'learning_rate'"):
        est.fit(X, y)
    assert not hasattr(est, "model_")  # unfitted before: unfitted after
    est.set_params(scale_regression_target=True, learning_rate=0.001, optimizer="adam")
    before = est.fit(X, y).predict_regression(X)
    est.set_params(scale_regression_target=False, learning_rate=1.0, optimizer="sgd")
    with pytest.raises(FloatingPointError):
        est.fit(X, y)
    np.testing.assert_array_equal(est.predict_regression(X), before)  # the previous fit


@pytest.mark.backend
def test_keyboard_interrupt_leaves_previous_state():
    est = ml(epochs=5)
    with pytest.raises(KeyboardInterrupt):
        est.set_params(callbacks=[Interrupt()]).fit(X, YM)
    assert not hasattr(est, "model_") and not hasattr(est, "n_features_in_")
    est.set_params(callbacks=None).fit(X, YM)
    proba = est.predict_proba(X)
    with pytest.raises(KeyboardInterrupt):
        est.set_params(callbacks=[Interrupt()]).fit(X[:, :3], YM)
    assert est.n_features_in_ == 4
    np.testing.assert_array_equal(est.predict_proba(X), proba)


# -- reproducibility -----------------------------------------------------------

_CHILD = textwrap.dedent("""
    import numpy as np, random, sys
    random.seed(11)
    np.random.seed(11)
    import mtestimator  # importing the package draws from neither generator
    from mtestimator import JointRegressorClassifier, MultiLabelMLPClassifier
    assert (random.random(), np.random.random()) == (random.seed(11) or random.random(),
        np.random.seed(11) or np.random.random()), "importing mtestimator changed them"
    if len(sys.argv) > 2:  # the first load imports Keras and its backend
        mtestimator.load(sys.argv[2])
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 4))
    YM = (X[:, :3] + rng.normal(scale=0.5, size=(60, 3)) > 0).astype(int)
    y = np.column_stack([X[:, 0] * 3, (X[:, 1] > 0).astype(int)])
    random.seed(11)
    np.random.seed(11)
    # else the first fit imports Keras and its backend
    a = MultiLabelMLPClassifier((4,), epochs=3, random_state=7).fit(X, YM).predict_proba(X)
    b = JointRegressorClassifier((4,), epochs=3, random_state=7).fit(X, y).predict_proba(X)
    after = (random.random(), np.random.random())
    random.seed(11)
    np.random.seed(11)
    assert after == (random.random(), np.random.random()), "global random state changed"
    np.save(sys.argv[1], np.concatenate([a.ravel(), b.ravel()]))
""")


@pytest.mark.backend
def test_same_seed_is_bit_identical_across_processes(tmp_path):
    # and the first fit in a process (importing the backend) leaves the user's
    # global random state (`random`, `np.random`) as it was; so do importing
    # mtestimator and a first load (the second process)
    saved = tmp_path / "ml.mtest"
    fitted("ml").save(saved)
    outs = []
    for i in range(2):
        path = tmp_path / f"out{i}.npy"
        subprocess.run([sys.executable, "-c", _CHILD, str(path)] + [str(saved)] * i, check=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        outs.append(np.load(path))
    np.testing.assert_array_equal(outs[0], outs[1])
    y = np.column_stack([X[:, 0] * 3, (X[:, 1] > 0).astype(int)])
    here = np.concatenate([
        MultiLabelMLPClassifier((4,), epochs=3, random_state=7).fit(X, YM).predict_proba(X).ravel(),
        JointRegressorClassifier((4,), epochs=3, random_state=7).fit(X, y).predict_proba(X).ravel()])
    np.testing.assert_array_equal(here, outs[0])


def _seeded_fits():
    """A seeded fit of every trunk (and both training paths); their probabilities."""
    out = []
    for trunk, X_ in (("mlp", X), ("lstm", XS), ("gru", XS), ("conv1d", XS)):
        est = joint(trunk=trunk, hidden_layer_sizes=(3,), dropout=0.1, epochs=1)
        out.append(est.fit(X_, YJ).predict_proba(X_))
    out.append(joint(early_stopping=True, callbacks=[_CB()], epochs=1).fit(X, YJ)
               .predict_proba(X))
    est = mt(heads=[("v", RegressionHead(0)), ("c", ClassificationHead(1))],
             trunk=KerasTrunk(_seeded_dense), epochs=1)
    out.append(est.fit(XS, YJ).predict_proba(XS)[0])
    return out


def _draw_while(work):
    """Seed Python's and NumPy's global generators, run ``work`` in one thread while
    another draws from both in a loop; the draws and what ``work`` returned."""
    random.seed(123)
    np.random.seed(123)
    py, npy, done, result = [], [], threading.Event(), []

    def draw():
        while not done.is_set():
            py.append(random.random())
            npy.append(np.random.random())
            time.sleep(0.0005)

    def run():
        try:
            result.append(work())
        finally:
            done.set()

    threads = [threading.Thread(target=draw), threading.Thread(target=run)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert result, "the fits failed"
    return py, npy, result[0]


def _fresh_draws(n_py, n_np):
    random.seed(123)
    np.random.seed(123)
    return [random.random() for _ in range(n_py)], [np.random.random() for _ in range(n_np)]


@pytest.mark.backend
def test_seeded_fits_neither_read_nor_change_the_global_generators():
    py, npy, first = _draw_while(_seeded_fits)
    assert len(py) > 10  # the draws ran alongside the fits
    assert (py, npy) == _fresh_draws(len(py), len(npy))
    py, npy, second = _draw_while(_seeded_fits)
    assert (py, npy) == _fresh_draws(len(py), len(npy))
    for a, b in zip(first, second):  # and seeded fits are reproducible
        np.testing.assert_array_equal(a, b)


@pytest.mark.backend
def test_unseeded_fit_does_not_touch_the_global_generators():
    random.seed(5)
    np.random.seed(5)
    joint(random_state=None, epochs=1).fit(X, YJ)
    after = (random.random(), np.random.random())
    random.seed(5)
    np.random.seed(5)
    assert after == (random.random(), np.random.random())


# Seeds: every random_state its own initial weights, over the whole range of
# scikit-learn's random_state (0 .. 2**32 - 1); small seeds keep the streams
# of earlier releases. (id, random_state a, random_state b, whether equal)
_P = 2**31 - 1
SEED_CASES = [
    ("0-vs-2**31-1", 0, _P, False),
    ("1-vs-2**31", 1, 2**31, False),
    ("0-vs-2**32-2", 0, 2**32 - 2, False),
    ("1-vs-2**32-1", 1, 2**32 - 1, False),
    ("2**31-2-vs-2**32-3", _P - 1, 2 * _P - 1, False),
    ("2**31-1-vs-2**32-2", _P, 2 * _P, False),
    ("np.int64-0-vs-2**31-1", np.int64(0), np.int64(_P), False),
    ("np.uint32-1-vs-2**31", np.uint32(1), np.uint32(2**31), False),
    ("np.int64-vs-int", np.int64(2**31), 2**31, True),
    ("np.uint64-vs-int", np.uint64(2**32 - 1), 2**32 - 1, True),
    ("RandomState-0-vs-1", np.random.RandomState(0), np.random.RandomState(1), False),
    ("RandomState-0-vs-2**31-1", np.random.RandomState(0), np.random.RandomState(_P), False),
    ("RandomState-same-state", np.random.RandomState(3), np.random.RandomState(3), True),
]


def _initial_weights(random_state):
    """The weights after one epoch of steps of 1e-30: the initial ones, to 1e-29."""
    est = joint(random_state=random_state, epochs=1, learning_rate=1e-30)
    return np.concatenate([w.ravel() for w in est.fit(X, YJ).model_.get_weights()])


@pytest.mark.parametrize("a, b, same", _table(SEED_CASES, 3))
def test_random_states_give_their_own_initial_weights(a, b, same):
    close = np.allclose(_initial_weights(a), _initial_weights(b), rtol=0, atol=1e-25)
    assert close == same


def test_seed_streams_are_distinct_and_keep_small_seeds():
    from mtestimator.engine.spec import seed_stream

    edges = [0, 1, 2, 999, 1000, _P - 2, _P - 1, _P, _P + 1, 2 * _P - 1, 2 * _P,
             2**32 - 1, 3 * _P, 2**40, _P * (_P - 2) - 1]  # the last one it promises
    firsts = [tuple(next(s) for _ in range(2)) for s in map(seed_stream, edges)]
    assert len(set(firsts)) == len(edges)
    for seed in (0, 1, 42, 2**21, _P - 1):  # the streams of earlier releases
        stream = seed_stream(seed)
        assert [next(stream) for _ in range(3)] == [(seed * 1000 + i) % _P for i in (1, 2, 3)]
    assert all(0 <= v < 2**31 for s in edges for v in itertools.islice(seed_stream(s), 50))


# -- callbacks are parameters: they clone, pickle and cross-validate ---------------------

@pytest.mark.backend
def test_used_callbacks_survive_clone_pickle_joblib_and_cross_validation(tmp_path):
    log = keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))
    stop = keras.callbacks.EarlyStopping(monitor="loss", patience=1)
    est = joint(callbacks=[log, stop]).fit(X, YJ)
    lines = (tmp_path / "log.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,") and len(lines) == est.n_iter_ + 1  # it was used
    for cb in (log, stop):  # the parameter objects hold no fit's state: no model, no file
        assert cb.model is None
        assert not any(isinstance(v, keras.Model) for v in vars(cb).values())
    assert log.csv_file is None
    proba = est.predict_proba(X)
    again = clone(est)
    assert [type(cb) for cb in again.callbacks] == [keras.callbacks.CSVLogger,
                                                    keras.callbacks.EarlyStopping]
    assert all(cb.model is None for cb in again.callbacks)
    assert again.callbacks[0].filename == log.filename and not hasattr(again, "model_")
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict_proba(X), proba)
    joblib.dump(est, tmp_path / "est.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "est.joblib").predict_proba(X), proba)
    scores = cross_val_score(est, X, YJ, cv=2)
    assert scores.shape == (2,) and np.isfinite(scores).all()
    assert log.model is None and stop.model is None


# -- persistence -------------------------------------------------------------

@pytest.mark.parametrize("make, y", [(ml, YM), (lambda: joint(loss_weights="auto"), YJ),
                                     (lambda: ml(threshold="auto", class_weight="balanced"), YM)])
@pytest.mark.backend
def test_save_load_round_trip(make, y, tmp_path):
    est = make().fit(X, y)
    path = tmp_path / "model.mtest"
    est.save(path)
    again = mtestimator.load(path)
    assert type(again) is type(est) and again.get_params() == est.get_params()
    np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    assert again.score(X, y) == est.score(X, y)


def test_load_rejects_foreign_and_corrupt_files(tmp_path):
    foreign = tmp_path / "foreign.txt"
    foreign.write_text("hello")
    with pytest.raises(ValueError, match="not an mtestimator file"):
        mtestimator.load(foreign)
    est = ml().fit(X, YM)
    good = tmp_path / "good.mtest"
    est.save(good)
    corrupt = tmp_path / "corrupt.mtest"
    corrupt.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="not an mtestimator file, or it is damaged"):
        mtestimator.load(corrupt)
    import zipfile

    odd = tmp_path / "odd.mtest"
    with zipfile.ZipFile(odd, "w") as zf:
        zf.writestr("mtestimator.json", '{"format": "mtestimator", "version": 2, '
                                        '"class": "os.system"}')
        zf.writestr("model.keras", b"")
    with pytest.raises(ValueError, match="unknown estimator 'os.system'"):
        mtestimator.load(odd)
    old = tmp_path / "old.mtest"  # written by mtestimator 0.1
    with zipfile.ZipFile(old, "w") as zf:
        zf.writestr("mtestimator.json", '{"format": "mtestimator", "version": 1, '
                                        '"class": "MultiLabelMLPClassifier"}')
        zf.writestr("model.keras", b"")
    with pytest.raises(ValueError, match=r"mtestimator 0.1 \(file format 1\).*re-save"):
        mtestimator.load(old)


@pytest.mark.parametrize("fitted", [False, True])
@pytest.mark.backend
def test_pickle_and_joblib_in_a_pipeline_and_a_fresh_process(fitted, tmp_path):
    pipe = make_pipeline(StandardScaler(), ml())
    if fitted:
        pipe.fit(X, YM)
    again = pickle.loads(pickle.dumps(pipe))
    path = tmp_path / "pipe.joblib"
    joblib.dump(pipe, path)
    loaded = joblib.load(path)
    assert again.get_params(deep=False).keys() == pipe.get_params(deep=False).keys()
    if not fitted:
        return
    expected = pipe.predict_proba(X)
    np.testing.assert_array_equal(again.predict_proba(X), expected)
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)
    np.save(tmp_path / "X.npy", X)
    code = ("import joblib, numpy as np, sys; p = joblib.load(sys.argv[1]); "
            "np.save(sys.argv[2], p.predict_proba(np.load(sys.argv[3])))")
    subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "p.npy"),
                    str(tmp_path / "X.npy")], check=True,
                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), expected)


# -- concurrency ---------------------------------------------------------------

@pytest.mark.slow
def test_grid_search_n_jobs_2_against_n_jobs_1():
    # n_jobs=2 runs each fit in a joblib worker whose TensorFlow has fewer threads
    # (OMP_NUM_THREADS -> TF_NUM_INTRAOP_THREADS, see engine/threads.py), and the thread
    # count changes the order of TensorFlow's sums. Small layers: bit-equal scores.
    # Large layers and batches: equal to about 1e-8 (measured 1.8e-8 on 2 cores with
    # (128, 128) and batches of 200 on TensorFlow; bit-equal on JAX).
    data = np.random.RandomState(2)
    X_ = data.normal(size=(400, 20))
    y_joint = np.empty((400, 2), dtype=object)
    y_joint[:, 0], y_joint[:, 1] = X_[:, 0] * 3, np.where(X_[:, 1] > 0, "a", "b")
    y_labels = (X_[:, :3] + data.normal(scale=0.5, size=(400, 3)) > 0).astype(int)
    grid = {"learning_rate": [0.001, 0.01]}

    def scores(est, y, n_jobs):
        return GridSearchCV(est, grid, cv=2, n_jobs=n_jobs).fit(X_, y).cv_results_[
            "mean_test_score"]

    for est, y in ((ml(epochs=5), y_labels), (joint(epochs=5), y_joint)):  # (4,), batch 32
        np.testing.assert_array_equal(scores(est, y, 1), scores(est, y, 2))
    for batch_size in (32, 200):
        big = joint(hidden_layer_sizes=(128, 128), batch_size=batch_size, epochs=5)
        np.testing.assert_allclose(scores(big, y_joint, 2), scores(big, y_joint, 1),
                                   rtol=1e-6, atol=1e-6)


class Slow(keras.callbacks.Callback):
    """Sleeps at each epoch end (fits of two threads overlap) after setting
    ``Slow.started`` (on the class: each fit runs a deep copy)."""

    started = threading.Event()

    def __init__(self, seconds=0.05):
        super().__init__()
        self.seconds = seconds

    def on_epoch_end(self, epoch, logs=None):
        type(self).started.set()
        time.sleep(self.seconds)


def _in_threads(*calls):
    """Run each call in its own thread, started together; their outcomes."""
    outcomes, barrier = [None] * len(calls), threading.Barrier(len(calls))

    def run(i):
        barrier.wait()
        try:
            outcomes[i] = ("ok", calls[i]())
        except Exception as exc:  # noqa: BLE001 -- reported by the test
            outcomes[i] = ("error", exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


_X3 = X[:, :3]


@pytest.mark.parametrize("second", ["fit", "partial_fit"])
@pytest.mark.backend
def test_two_threads_fitting_one_estimator_run_one_after_the_other(second):
    # never a mix of both fits (before: a Keras shape error in one thread, and
    # the other returned with the previous fit's weights): the estimator ends
    # as one whole fit left it
    est = ml(callbacks=[Slow()]).fit(X, YM)
    if second == "fit":  # another number of features (X[:, :3]: compiled above)
        outcomes = _in_threads(lambda: est.fit(X, YM), lambda: est.fit(X[:, :3], YM))
        candidates = [ml().fit(X, YM), ml().fit(X[:, :3], YM)]
    else:
        outcomes = _in_threads(lambda: est.fit(X, YM), lambda: est.partial_fit(X, YM))
        candidates = [ml().fit(X, YM), ml().fit(X, YM).partial_fit(X, YM)]
    assert [o[0] for o in outcomes] == ["ok", "ok"], outcomes
    assert all(o[1] is est for o in outcomes)
    last = [c for c in candidates if c.history_ == est.history_]
    assert len(last) == 1, "the history is neither fit's"
    X_last = X[:, :last[0].n_features_in_]
    assert est.n_features_in_ == last[0].n_features_in_
    np.testing.assert_array_equal(est.predict_proba(X_last), last[0].predict_proba(X_last))


@pytest.mark.backend
def test_predict_during_a_fit_waits_for_it():
    est = joint().fit(X, YJ)
    before = est.predict_proba(X)
    Slow.started.clear()
    est.set_params(callbacks=[Slow(seconds=0.2)], learning_rate=0.05)
    fit = threading.Thread(target=est.fit, args=(X, YJ))
    fit.start()
    assert Slow.started.wait(60)
    during = est.predict_proba(X)  # called mid-fit: waits for the fit's end
    fit.join()
    np.testing.assert_array_equal(during, est.predict_proba(X))
    assert not np.array_equal(during, before)


def test_the_fit_lock_is_not_part_of_the_estimator():
    est = joint().fit(X, YJ)
    assert not any("lock" in k.lower() for k in vars(est))
    assert clone(est).get_params().keys() == est.get_params().keys()
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.fit(X, YJ).predict_proba(X), est.predict_proba(X))


def test_loaded_keras_trunk_refit_says_set_build_fn(tmp_path):
    # a file holds no code: the loaded KerasTrunk's build_fn is None until set again
    path = tmp_path / "keras-trunk.mtest"
    fitted("keras-trunk").save(path)
    est = mtestimator.load(path)
    with pytest.raises(ValueError, match=r"set_params\(trunk__build_fn=my_build_fn\)"):
        est.fit(XS, YT)
    est.set_params(trunk__build_fn=_seeded_dense).fit(XS, YT)
    np.testing.assert_allclose(est.predict_head(XS, "v"), fitted("keras-trunk").predict_head(
        XS, "v"), rtol=1e-6)
