"""Reliability: bad input (one table, both estimators), training faults,
reproducibility, persistence, concurrency."""

import os
import pickle
import subprocess
import sys
import textwrap

import joblib
import keras
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

import mtestimator
from mtestimator import JointRegressorClassifier, MultiLabelMLPClassifier

rng = np.random.RandomState(0)
X = rng.normal(size=(60, 4))
YM = (X[:, :3] + rng.normal(scale=0.5, size=(60, 3)) > 0).astype(int)
YJ = np.empty((60, 2), dtype=object)
YJ[:, 0], YJ[:, 1] = X[:, 0] * 3, np.where(X[:, 1] > 0, "a", "b")
FAST = {"hidden_layer_sizes": (4,), "epochs": 2, "random_state": 0}


def ml(**kw):
    return MultiLabelMLPClassifier(**{**FAST, **kw})


def joint(**kw):
    return JointRegressorClassifier(**{**FAST, **kw})


def _with(a, i, j, value):
    a = a.astype(object if isinstance(value, str) else float)
    a[i, j] = value
    return a


def _joint_y(value_col=None, label_col=None):
    y = YJ.copy()
    if value_col is not None:
        y[:, 0] = value_col
    if label_col is not None:
        y[:, 1] = label_col
    return y


# (id, estimator factory, X, y, exception, message pattern)
FIT_CASES = [
    ("nan-X", ml, _with(X, 0, 0, np.nan), YM, ValueError, "Input X contains NaN"),
    ("inf-X", ml, _with(X, 0, 0, np.inf), YM, ValueError, "Input X contains infinity"),
    ("str-X", ml, _with(X, 0, 0, "a"), YM, ValueError, "could not convert string to float"),
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
]


@pytest.mark.parametrize("make, X_, y_, exc, match",
                         [c[1:] for c in FIT_CASES], ids=[c[0] for c in FIT_CASES])
def test_bad_input_at_fit(make, X_, y_, exc, match):
    X_copy = X_.copy()
    y_copy = None if y_ is None else y_.copy()
    with pytest.raises(exc, match=match):
        make().fit(X_, y_)
    # the caller's data is untouched (NaN compares equal to NaN here)
    for given, copy in ((X_, X_copy), (y_, y_copy)):
        if sp.issparse(given):
            assert (given != copy).nnz == 0
        elif given is not None:
            assert pd.Series(given.ravel()).equals(pd.Series(copy.ravel()))


def test_at_least_forty_bad_input_cases():
    assert len(FIT_CASES) + len(PREDICT_CASES) >= 40


PREDICT_CASES = [
    ("ml-unfitted", ml, None, NotFittedError, "not fitted yet"),
    ("ml-features", ml, X[:, :3], ValueError, "X has 3 features, but MultiLabelMLPClassifier"),
    ("ml-nan", ml, _with(X, 0, 0, np.nan), ValueError, "Input X contains NaN"),
    ("joint-unfitted", joint, None, NotFittedError, "not fitted yet"),
    ("joint-features", joint, X[:, :2], ValueError, "X has 2 features"),
]


@pytest.mark.parametrize("make, X_, exc, match", [c[1:] for c in PREDICT_CASES],
                         ids=[c[0] for c in PREDICT_CASES])
def test_bad_input_at_predict(make, X_, exc, match):
    est = make()
    if X_ is not None:
        est.fit(X, YM if isinstance(est, MultiLabelMLPClassifier) else YJ)
    with pytest.raises(exc, match=match):
        est.predict(X if X_ is None else X_)


def test_column_names_must_match_at_predict():
    Xf = pd.DataFrame(X, columns=list("abcd"))
    est = ml().fit(Xf, YM)
    with pytest.raises(ValueError, match="The feature names should match"):
        est.predict(Xf.rename(columns={"a": "z"}))
    Xf_copy = Xf.copy()
    est.predict(Xf)
    pd.testing.assert_frame_equal(Xf, Xf_copy)


def test_constant_label_column_works_with_warning_like_sklearn():
    y = YM.copy()
    y[:, 2] = 1
    with pytest.warns(UserWarning, match=r"Label columns \[2\] are all 0 or all 1"):
        est = ml().fit(X, y)
    assert est.predict(X).shape == (60, 3)


def test_sparse_x_is_supported():
    a = ml().fit(sp.csr_matrix(X), YM).predict_proba(sp.csr_matrix(X))
    np.testing.assert_allclose(a, ml().fit(X, YM).predict_proba(X), rtol=1e-6)


def test_one_sample_fits_multilabel_and_is_a_clear_error_for_joint():
    with pytest.warns(UserWarning, match="all 0 or all 1"):
        assert ml().fit(X[:1], YM[:1]).predict(X).shape == (60, 3)
    with pytest.raises(ValueError, match="single class"):
        joint().fit(X[:1], YJ[:1])


# -- training faults ---------------------------------------------------------

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


class Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt


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
    import numpy as np, sys
    from mtestimator import JointRegressorClassifier, MultiLabelMLPClassifier
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 4))
    YM = (X[:, :3] + rng.normal(scale=0.5, size=(60, 3)) > 0).astype(int)
    y = np.column_stack([X[:, 0] * 3, (X[:, 1] > 0).astype(int)])
    a = MultiLabelMLPClassifier((4,), epochs=3, random_state=7).fit(X, YM).predict_proba(X)
    b = JointRegressorClassifier((4,), epochs=3, random_state=7).fit(X, y).predict_proba(X)
    np.save(sys.argv[1], np.concatenate([a.ravel(), b.ravel()]))
""")


def test_same_seed_is_bit_identical_across_processes(tmp_path):
    outs = []
    for i in range(2):
        path = tmp_path / f"out{i}.npy"
        subprocess.run([sys.executable, "-c", _CHILD, str(path)], check=True,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        outs.append(np.load(path))
    np.testing.assert_array_equal(outs[0], outs[1])
    y = np.column_stack([X[:, 0] * 3, (X[:, 1] > 0).astype(int)])
    here = np.concatenate([
        MultiLabelMLPClassifier((4,), epochs=3, random_state=7).fit(X, YM).predict_proba(X).ravel(),
        JointRegressorClassifier((4,), epochs=3, random_state=7).fit(X, y).predict_proba(X).ravel()])
    np.testing.assert_array_equal(here, outs[0])


# -- persistence -------------------------------------------------------------

@pytest.mark.parametrize("make, y", [(ml, YM), (lambda: joint(loss_weights="auto"), YJ),
                                     (lambda: ml(threshold="auto", class_weight="balanced"), YM)])
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
def test_grid_search_n_jobs_2_equals_n_jobs_1():
    grid = {"hidden_layer_sizes": [(4,), (8,)], "learning_rate": [0.001, 0.01]}
    results = []
    for est, y in ((ml(epochs=5), YM), (joint(epochs=5), YJ)):
        scores = [GridSearchCV(est, grid, cv=2, n_jobs=n_jobs).fit(X, y)
                  .cv_results_["mean_test_score"] for n_jobs in (1, 2)]
        results.append(scores)
        np.testing.assert_array_equal(scores[0], scores[1])
